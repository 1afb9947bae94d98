"""The service factory idiom (docs/architecture.md, "Service factories"): one service per process,
kept while settings and clients stay, rebuilt after a reset, one even when first calls overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tiktok_connector import aws
from tiktok_connector.audiences import upload
from tiktok_connector.events import forwarder
from tiktok_connector.oauth import flow
from tiktok_connector.segments import ingest
from tiktok_connector.settings import reset_settings

ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "SEGMENTS_BUCKET": "bucket",
    "CHUNK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/c",
    "JOBS_TABLE": "t",
    "AUDIENCES_TABLE": "a",
    "OAUTH_TABLE": "o",
    "APP_SECRET_NAME": "s/app",
    "STATE_KEY_SECRET_NAME": "s/key",
    "AUTHORIZATIONS_SECRET_PREFIX": "s/authorizations/",
}
FACTORIES: list[tuple[Callable[[], Any], Any, str]] = [
    (ingest.default_ingest, ingest, "_build_ingest"),
    (forwarder.default_forwarder, forwarder, "_build_forwarder"),
    (flow.default_flow, flow, "_build_flow"),
    (upload.default_uploader, upload, "_build_uploader"),
]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    aws.reset_clients()
    for _, module, build in FACTORIES:
        getattr(module, build).cache_clear()
    yield
    reset_settings()
    aws.reset_clients()


@pytest.mark.parametrize(("factory", "module", "build"), FACTORIES)
def test_one_service_per_process_until_settings_or_clients_change(
    factory: Callable[[], Any], module: Any, build: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = factory()
    assert factory() is first
    reset_settings()  # the same environment: equal settings, the same service
    assert factory() is first
    monkeypatch.setenv("TIKTOK_API_BASE_URL", "https://tiktok.test/open_api/v1.3")
    reset_settings()
    second = factory()
    assert second is not first
    assert factory() is second
    aws.reset_clients()
    assert factory() is not second


@pytest.mark.parametrize(("factory", "module", "build"), FACTORIES)
def test_overlapping_first_calls_build_one_service(
    factory: Callable[[], Any], module: Any, build: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = getattr(module, build).__wrapped__
    built = []

    def slow(*args: Any) -> Any:
        time.sleep(0.05)  # wide open for a second caller
        service = original(*args)
        built.append(service)
        return service

    from functools import lru_cache

    monkeypatch.setattr(module, build, lru_cache(maxsize=1)(slow))
    barrier = threading.Barrier(6)

    def call(_: int) -> Any:
        barrier.wait()
        return factory()

    with ThreadPoolExecutor(6) as pool:
        services = list(pool.map(call, range(6)))
    assert len(built) == 1
    assert all(s is services[0] for s in services)
