from __future__ import annotations

from collections.abc import Iterator

import pytest

from tiktok_local.stack import LocalStack

from .support import RecordingHandler

# 0.001: every scaled visibility timeout is 1 s, async retry waits 60 ms / 120 ms.
TIME_SCALE = 0.001


@pytest.fixture(scope="module")
def s3_handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture(scope="module")
def http_handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    s3_handler: RecordingHandler,
    http_handler: RecordingHandler,
) -> Iterator[LocalStack]:
    """A local stack from the real template; the ingest and OAuth handlers are recorders."""
    with LocalStack.start(
        workdir=tmp_path_factory.mktemp("stack"),
        time_scale=TIME_SCALE,
        handler_overrides={"SegmentIngestFunction": s3_handler, "OAuthFunction": http_handler},
    ) as running:
        yield running
