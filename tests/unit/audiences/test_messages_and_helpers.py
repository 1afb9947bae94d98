"""Pure pieces of the audience upload: grouping, names, error explanations (the messages:
tests/unit/contract)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.audiences import customer_file
from tiktok_connector.audiences.chunk_upload import chunk_file_name
from tiktok_connector.audiences.failures import explain
from tiktok_connector.audiences.settings import UploadSettings, upload_settings
from tiktok_connector.contract.job import JobItem
from tiktok_connector.settings import SettingsError, reset_settings
from tiktok_connector.tiktok import PermanentTikTokError, TokenRejectedError

JOB = "0db80f5796069b705933465126059467"


@given(st.lists(st.text(min_size=1, max_size=5), max_size=230), st.integers(1, 60))
def test_groups_keep_order_and_size(paths: list[str], size: int) -> None:
    groups = list(customer_file.groups(paths, size))
    assert [p for g in groups for p in g] == paths
    assert all(1 <= len(g) <= size for g in groups)


def test_file_signature_is_md5_hex() -> None:
    assert customer_file.file_signature(b"abc") == "900150983cd24fb0d6963f7d28e17f72"


def test_chunk_file_name_ends_in_csv_and_is_unique_per_chunk() -> None:
    a = chunk_file_name(f"chunks/{JOB}/0000-00001.csv")
    b = chunk_file_name(f"chunks/{JOB}/0001-00001.csv")
    assert a.endswith(".csv")
    assert a != b
    assert "/" not in a


def test_file_paths_are_ordered_by_chunk_key_and_blank_ones_skipped() -> None:
    item = JobItem(
        job_id=JOB,
        status="running",
        source={"bucket": "b", "key": "k"},
        file_paths={"chunks/j/0001-00000.csv": "b", "chunks/j/0000-00001.csv": "a", "x": ""},
    )
    assert item.uploaded_file_paths == ["a", "b"]


def test_update_below_1000_gets_the_rule_explained() -> None:
    exc = PermanentTikTokError(
        40002, "would leave 10 members", request_id="r", path="dmp/custom_audience/update"
    )
    assert "1,000 members" in explain(exc)
    assert explain(exc).startswith("would leave 10 members")


@pytest.mark.parametrize("path", ["dmp/custom_audience/create", "segment/audience"])
def test_create_refusals_mention_the_400_audience_cap(path: str) -> None:
    exc = PermanentTikTokError(40002, "too many", path=path)
    assert "400 custom audiences" in explain(exc)


def test_token_refusals_say_to_reconnect() -> None:
    assert "reconnect" in explain(
        TokenRejectedError(40105, "invalid", path="dmp/custom_audience/create")
    )


def test_other_errors_keep_tiktoks_message() -> None:
    exc = PermanentTikTokError(40900, "signature mismatch", path="dmp/custom_audience/file/upload")
    assert explain(exc) == "signature mismatch"


def test_bad_environment_fails_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEGMENTS_BUCKET", "JOBS_TABLE", "AUDIENCES_TABLE", "OAUTH_TABLE"):
        monkeypatch.setenv(name, "x-table")
    monkeypatch.setenv("SEGMENT_BATCH_SIZE", "0")
    reset_settings()
    try:
        with pytest.raises(SettingsError, match="SEGMENT_BATCH_SIZE"):
            upload_settings()
        monkeypatch.setenv("SEGMENT_BATCH_SIZE", "500")
        monkeypatch.setenv("ALLOW_CREATE_ON_APPEND", "true")
        reset_settings()
        settings = upload_settings()
        assert isinstance(settings, UploadSettings)
        assert settings.segment_batch_size == 500
        assert settings.allow_create_on_append is True
    finally:
        reset_settings()
