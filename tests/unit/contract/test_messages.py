"""The work queues' messages: parsed by each queue's record model, a reason for every bad body."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.conftest import sqs_record
from tiktok_connector.contract.messages import (
    ChunkMessage,
    FinalizeMessage,
    RangeMessage,
    SyncGroupMessage,
    SyncPlanMessage,
)
from tiktok_connector.contract.queues import ChunkQueueRecord, RangesQueueRecord, poison_reason

JOB = "0db80f5796069b705933465126059467"
KEY = f"chunks/{JOB}/0000-00001.csv"


def chunk_queue(body: str) -> ChunkMessage | FinalizeMessage:
    return ChunkQueueRecord.model_validate(sqs_record(body)).body


def reason(body: str, record: type[ChunkQueueRecord | RangesQueueRecord] = ChunkQueueRecord) -> str:
    with pytest.raises(ValidationError) as caught:
        record.model_validate(sqs_record(body))
    return poison_reason(caught.value, record.queue)


def test_parses_chunk_and_finalize_messages() -> None:
    body = json.dumps({"type": "chunk", "job_id": JOB, "chunk_key": KEY, "rows": 7, "md5": "ab"})
    assert chunk_queue(body) == ChunkMessage(job_id=JOB, chunk_key=KEY, rows=7, md5="ab")
    finalize = json.dumps({"type": "finalize", "job_id": JOB})
    assert chunk_queue(finalize) == FinalizeMessage(job_id=JOB)


def test_the_sample_chunk_event_parses() -> None:
    from tests.conftest import EVENTS

    event = json.loads((EVENTS / "sqs_chunk_jobs.json").read_text(encoding="utf-8"))
    messages = [ChunkQueueRecord.model_validate(r).body for r in event["Records"]]
    assert [m.type for m in messages] == ["chunk", "chunk"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not json", "chunk message body is not JSON"),
        ("[1, 2]", "chunk message body is not a JSON object"),
        (json.dumps({"job_id": JOB}), "chunk message body has no type"),
        (json.dumps({"type": "chunk"}), "chunk message has no job_id"),
        (json.dumps({"type": "mystery", "job_id": JOB}), "unknown chunk message type 'mystery'"),
        (json.dumps({"type": "chunk", "job_id": JOB}), "chunk message has no chunk_key"),
        # A chunk key outside the job's prefix is never read.
        (
            json.dumps({"type": "chunk", "job_id": JOB, "chunk_key": "segments/other/file.csv"}),
            "chunk message: chunk_key is not under chunks/<job_id>/",
        ),
        (
            json.dumps({"type": "chunk", "job_id": JOB, "chunk_key": KEY, "rows": "many"}),
            "chunk message field rows: Input should be a valid integer",
        ),
        (json.dumps({"type": "finalize", "job_id": "nope"}), "finalize message field job_id"),
    ],
)
def test_malformed_bodies_fail_with_a_reason(body: str, expected: str) -> None:
    assert expected in reason(body)


def test_a_reason_never_quotes_the_body() -> None:
    secret = "alice@example.com"
    for body in (
        f"not json {secret}",
        json.dumps({"type": "chunk", "job_id": JOB, "chunk_key": secret}),
        json.dumps({"type": "chunk", "job_id": secret, "chunk_key": KEY}),
        json.dumps({"type": "chunk", "job_id": JOB, "chunk_key": KEY, "rows": secret}),
    ):
        assert secret not in reason(body)
    # an unknown type is named, cut to 40 characters
    assert reason(json.dumps({"type": "x" * 100, "job_id": JOB})).count("x") == 40


def test_range_messages_parse_and_bad_ones_fail_with_a_reason() -> None:
    body = json.dumps({"type": "range", "job_id": JOB, "range": 2, "start": 10, "end": 20})
    record = RangesQueueRecord.model_validate(sqs_record(body, queue="ranges"))
    assert record.body == RangeMessage(job_id=JOB, range=2, start=10, end=20)
    assert reason("{", RangesQueueRecord) == "range message body is not JSON"
    assert "end lies before start" in reason(
        json.dumps({"type": "range", "job_id": JOB, "range": 0, "start": 5, "end": 1}),
        RangesQueueRecord,
    )
    # a chunk message on the ranges queue is not one of its messages
    assert "unknown range message type 'finalize'" in reason(
        json.dumps({"type": "finalize", "job_id": JOB}), RangesQueueRecord
    )


def test_sync_messages_ride_the_ranges_queue() -> None:
    plan = RangesQueueRecord.model_validate(
        sqs_record(json.dumps({"type": "sync_plan", "job_id": JOB}), queue="ranges")
    )
    assert plan.body == SyncPlanMessage(job_id=JOB)
    body = SyncGroupMessage(job_id=JOB, group=3).body()
    assert RangesQueueRecord.model_validate(sqs_record(body, queue="ranges")).body == (
        SyncGroupMessage(job_id=JOB, group=3)
    )
    assert "group" in reason(
        json.dumps({"type": "sync_group", "job_id": JOB, "group": -1}), RangesQueueRecord
    )
    # not a chunk-queue message
    assert "unknown" in reason(json.dumps({"type": "sync_plan", "job_id": JOB}), ChunkQueueRecord)


def test_a_record_lambda_would_not_send_is_named_as_such() -> None:
    record = sqs_record(json.dumps({"type": "finalize", "job_id": JOB}))
    del record["attributes"]["SenderId"]
    with pytest.raises(ValidationError) as caught:
        ChunkQueueRecord.model_validate(record)
    assert "not an SQS record (attributes.SenderId: missing)" in poison_reason(
        caught.value, "chunk"
    )


@given(
    st.one_of(
        st.text(max_size=200),
        st.dictionaries(
            st.sampled_from(["type", "job_id", "chunk_key", "rows", "md5"]),
            st.one_of(
                st.none(),
                st.integers(),
                st.text(max_size=40),
                st.sampled_from(["chunk", "finalize", JOB, KEY]),
            ),
        ).map(json.dumps),
    )
)
def test_a_body_is_a_message_or_a_validation_error_with_a_reason(body: str) -> None:
    why = ""
    try:
        message = chunk_queue(body)
    except ValidationError as exc:
        why = poison_reason(exc, "chunk")
    else:
        assert isinstance(message, ChunkMessage | FinalizeMessage)
        assert message.job_id == JOB
        return
    assert why


def test_messages_serialise_back_to_what_they_were_parsed_from() -> None:
    chunk = ChunkMessage(job_id=JOB, chunk_key=KEY, rows=12, md5="ab" * 16)
    assert chunk_queue(chunk.body()) == chunk
    assert json.loads(chunk.body()) == {
        "type": "chunk", "job_id": JOB, "chunk_key": KEY, "rows": 12, "md5": "ab" * 16,
    }  # fmt: skip
    assert chunk_queue(FinalizeMessage(job_id=JOB).body()) == FinalizeMessage(job_id=JOB)
    without_md5 = ChunkMessage(job_id=JOB, chunk_key=KEY)
    assert "md5" not in json.loads(without_md5.body())


def test_unknown_fields_are_ignored() -> None:
    body = json.dumps({"type": "finalize", "job_id": JOB, "added_later": 1})
    assert chunk_queue(body) == FinalizeMessage(job_id=JOB)
