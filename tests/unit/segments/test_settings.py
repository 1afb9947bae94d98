"""IngestSettings: a bad environment fails on first use with a message naming the variable."""

from __future__ import annotations

import pytest

from tiktok_connector.segments.settings import ingest_settings
from tiktok_connector.settings import SettingsError, reset_settings


@pytest.fixture(autouse=True)
def _fresh() -> object:
    reset_settings()
    yield None
    reset_settings()


def _base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENTS_BUCKET", "b")
    monkeypatch.setenv("CHUNK_QUEUE_URL", "https://sqs/q")
    monkeypatch.setenv("JOBS_TABLE", "t")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _base(monkeypatch)
    monkeypatch.setenv("INGEST_RANGE_BYTES", "1048576")
    settings = ingest_settings()
    assert settings.segments_bucket == "b"
    assert settings.ingest_range_bytes == 1048576
    assert settings.default_phone_region == "US"
    assert settings.chunk_rows == 500_000


def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _base(monkeypatch)
    monkeypatch.delenv("JOBS_TABLE")
    with pytest.raises(SettingsError, match="JOBS_TABLE"):
        ingest_settings()


def test_malformed_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _base(monkeypatch)
    monkeypatch.setenv("INGEST_RANGE_BYTES", "lots")
    with pytest.raises(SettingsError, match="INGEST_RANGE_BYTES"):
        ingest_settings()
