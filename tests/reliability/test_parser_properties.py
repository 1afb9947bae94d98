"""Properties of every parser that meets outside input: any input gives a result or a clear,
typed error — never an unexpected exception that would crash a batch — and neighbours survive.

No sockets: the segment reader, row processor and key parser run on plain values; the event
forwarder runs against a fake TikTok session (``tests/unit/events/support.py``).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.events.support import FakeTikTok, connection, make_forwarder, message
from tiktok_connector.segments.columns import plan_columns
from tiktok_connector.segments.keys import InvalidSegmentFile, parse_segment_key
from tiktok_connector.segments.options import FileOptions
from tiktok_connector.segments.planning import sniff_head
from tiktok_connector.segments.processing import RangeProcessor
from tiktok_connector.segments.reader import MAX_LINE_BYTES, open_text
from tiktok_connector.segments.rejects import RejectWriter, safe_cell

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
deep = st.integers(min_value=900, max_value=50_000).map(lambda n: "[" * n + "]" * n)


class Rejects:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(self, *row: Any) -> None:
        self.rows.append(row)


def run_jsonl(lines: list[str]) -> tuple[Any, Rejects, list[str]]:
    plan = plan_columns(
        {"email": "a@b.co"}, fmt="jsonl", delimiter="", compressed=False, options=FileOptions()
    )
    rejects, out = Rejects(), list[str]()
    processor = RangeProcessor(
        plan, api="file", phone_region="US", sink=out.extend, rejects=rejects
    )
    stats = processor.run([line + "\n" for line in lines], skip_header=False)
    return stats, rejects, out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_values.map(json.dumps) | deep | st.text(max_size=60), max_size=8))
def test_any_jsonl_row_is_counted_and_its_neighbours_kept(hostile: list[str]) -> None:
    good = [json.dumps({"email": f"n{i}@example.com"}) for i in range(3)]
    lines = [good[0], *hostile, good[1], good[2]]
    stats, _rejects, out = run_jsonl(lines)
    blank = sum(1 for line in lines if not line.strip())
    assert stats.read + stats.blank == len(lines)
    assert stats.blank == blank
    assert stats.read == stats.accepted + stats.rejected
    assert stats.accepted >= 3  # the neighbours
    assert all(len(row[0]) == 64 for row in (line.split(",") for line in out))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096), st.booleans())
def test_any_bytes_read_as_text_or_fail_clearly(data: bytes, compressed: bool) -> None:
    try:
        with open_text([data], compressed=compressed) as text:
            for line in text:
                assert len(line) <= MAX_LINE_BYTES + 64 * 1024
    except (InvalidSegmentFile, UnicodeDecodeError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["a.csv", "a.csv.gz", "a.jsonl", "a.txt"]))
def test_any_file_head_is_sniffed_or_refused_clearly(data: bytes, filename: str) -> None:
    error: InvalidSegmentFile | None = None
    try:
        head = sniff_head(data, filename=filename, size=len(data))
    except InvalidSegmentFile as exc:
        error = exc
    if error is not None:
        assert error.code
        assert error.message
    else:
        assert head.first_line is None or head.first_line.strip()


key_parts = st.text(st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(key_parts, min_size=0, max_size=7).map("/".join))
def test_any_key_parses_or_is_refused_and_names_stay_inside_one_folder(key: str) -> None:
    for candidate in (key, "segments/" + key, f"segments/123/{key}/create/f.csv"):
        try:
            parsed = parse_segment_key(candidate)
        except InvalidSegmentFile as exc:
            refused = exc.code
        else:
            refused = ""
        if refused:
            assert refused.startswith("invalid_"), refused
            continue
        assert "/" not in parsed.audience_name
        assert parsed.audience_name == parsed.audience_name.strip()
        assert 1 <= len(parsed.audience_name) <= 128
        assert not any(ord(c) < 32 or ord(c) == 127 for c in parsed.audience_name)
        assert parsed.advertiser_id.isdigit()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.integers(min_value=1, max_value=10**9), st.text(max_size=20))
def test_reject_rows_are_formula_safe_and_parse_back(column: str, line: int, reason: str) -> None:
    assert not safe_cell(column).startswith(FORMULA_START)
    writer = RejectWriter()
    try:
        writer.add(line, reason, column)
        writer._file.seek(0)  # the spooled rows, as they will be uploaded
        rows = list(csv.reader(io.StringIO(writer._file.read())))
    finally:
        writer.close()
    assert len(rows) == 1
    assert rows[0][0] == str(line)
    assert not any(cell.startswith(FORMULA_START) for cell in rows[0][2:])


def _batch(ids: list[str], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "events": [
            {
                "event_type": "commerce_event",
                "data": {
                    "source_message_id": event_id,
                    "timestamp_unixtime_ms": 1_763_633_700_000,
                    "custom_flags": {"TikTok.URL": "https://shop.example.com/p"},
                    "product_action": {"action": "add_to_cart", "products": [{"id": 1}]},
                },
            }
            for event_id in ids
        ],
        "user_identities": {"email": "prop@example.com"},
    }
    body.update(fields)
    return body


hostile_bodies = st.one_of(
    json_values.map(json.dumps),
    deep,
    st.text(max_size=80),
    json_values.map(lambda v: json.dumps({"events": v})),
    json_values.map(lambda v: json.dumps({"data": v})),
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            (
                "user_identities",
                "user_attributes",
                "device_info",
                "application_info",
                "consent_state",
                "partner_identities",
                "ip",
            ),
            json_values,
        ),
    ).map(lambda extra: json.dumps(_batch(["x-1"], **extra))),
    json_values.map(
        lambda v: json.dumps(
            {
                "events": [
                    {
                        "event_type": "commerce_event",
                        "data": {
                            "source_message_id": "x-2",
                            "timestamp_unixtime_ms": v,
                            "product_action": {"action": "purchase", "products": [v]},
                        },
                    }
                ]
            }
        )
    ),
    json_values.map(
        lambda v: json.dumps(
            {
                "data": [
                    {
                        "event": "ViewContent",
                        "event_time": v,
                        "event_id": v,
                        "page": {"url": v},
                        "user": v,
                        "properties": v,
                    }
                ]
            }
        )
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_bodies, min_size=1, max_size=4))
def test_any_event_message_fails_alone_and_neighbours_are_sent(hostile: list[str]) -> None:
    fake = FakeTikTok()
    forwarder = make_forwarder(fake, {"default": connection()})
    good_ids = [f"good-{i}" for i in range(5)]
    messages = [message(json.dumps(_batch(good_ids[:3])), "good-a")]
    messages += [message(body, f"bad-{i}") for i, body in enumerate(hostile)]
    messages.append(message(json.dumps(_batch(good_ids[3:])), "good-b"))

    result = forwarder.forward(messages, deadline=float("inf"))

    assert not {"good-a", "good-b"} & set(result.failed)
    sent = [e.get("event_id") for body in fake.bodies for e in body.get("data", [])]
    assert set(good_ids) <= set(sent)
    for request in fake.requests:
        json.dumps(request.body)  # every request is valid JSON TikTok can read
        assert len(request.body.get("data", [])) <= 1000
