"""The real handler, moto and the strict emulator: batches from mParticle's Python SDK, TikTok's
event rules (currency list, /pixel/track/ for test codes, 40001 for an unreachable pixel, child
scopes), undeliverable messages moved to the events DLQ with their reason, and connection settings
that change under a running forwarder."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests import mparticle_sdk as sdk
from tests.integration.events.support import PIXEL, PREFIX, World
from tiktok_connector.events.connections import ConnectionStore, ConnectionUnavailable

ADV2 = "7100000000000000002"
REPORT_CONVERSION_EVENT = 7224195155857866754
REPORT_PIXEL_EVENT = 51


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def failures(response: dict[str, Any]) -> set[str]:
    return {f["itemIdentifier"] for f in response["batchItemFailures"]}


@pytest.fixture
def dlq(world: World, monkeypatch: pytest.MonkeyPatch) -> str:
    from tiktok_connector.settings import reset_settings

    url = world.sqs.create_queue(QueueName="tiktok-connector-events-dlq")["QueueUrl"]
    monkeypatch.setenv("EVENTS_DLQ_URL", url)
    reset_settings()
    return url


def dead_letters(world: World, url: str) -> list[dict[str, Any]]:
    got = world.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return [
        {
            "body": m["Body"],
            **{k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()},
        }
        for m in got.get("Messages", [])
    ]


# ---------------------------------------------------------------- mParticle's SDK end to end
def test_an_sdk_batch_reaches_tiktok_with_its_customer_id(world: World) -> None:
    world.connect()
    body = sdk.batch([sdk.session_start(), sdk.purchase(1), sdk.screen("Home")])
    assert failures(world.invoke([world.record(body)])) == set()
    [received] = world.emu.state.events
    assert received["event"]["user"]["external_id"] == sha("cust-42")
    assert received["event"]["event_id"] == "6004677780660780001"


# ---------------------------------------------------------------- currency (EV-13)
def test_an_unsupported_currency_no_longer_sinks_the_request(world: World) -> None:
    world.connect()
    events = [sdk.purchase(1, currency="XYZ"), sdk.purchase(2, currency="USD")]
    assert failures(world.invoke([world.record(sdk.batch(events))])) == set()
    received = {r["event"]["event_id"]: r["event"]["properties"] for r in world.emu.state.events}
    first, second = received["6004677780660780001"], received["6004677780660780002"]
    assert "currency" not in first
    assert "value" not in first
    assert second["currency"] == "USD"


# ---------------------------------------------------------------- test event codes (EV-20/21)
def test_test_coded_legacy_events_arrive_through_pixel_track(world: World) -> None:
    world.connect(event_source_type="legacy_pixel_batch_web", test_event_code="TEST42")
    body = sdk.batch([sdk.purchase(i) for i in range(3)])
    assert failures(world.invoke([world.record(body)])) == set()
    received = world.emu.state.events
    assert [(r["endpoint"], r["test_event_code"]) for r in received] == [
        ("pixel/track", "TEST42")
    ] * 3


# ---------------------------------------------------------------- scopes (OA-07)
@pytest.mark.parametrize(
    ("source_type", "scope"),
    [("web", REPORT_CONVERSION_EVENT), ("legacy_pixel_batch_web", REPORT_PIXEL_EVENT)],
)
def test_a_token_with_only_the_child_scope_sends(
    world: World, source_type: str, scope: int
) -> None:
    token = world.emu.state.issue_token(scope=[scope])
    world.connect(event_source_type=source_type, access_token=token)
    assert failures(world.invoke([world.record(sdk.batch([sdk.purchase()]))])) == set()
    assert len(world.emu.state.events) == 1


# ---------------------------------------------------------------- undeliverable messages
def test_a_pixel_the_token_cannot_reach_is_dead_lettered_with_40001(world: World, dlq: str) -> None:
    # contract: EV-03 — the token reaches advertiser two; the pixel belongs to advertiser one.
    world.connect(access_token=world.emu.state.issue_token(advertiser_ids=[ADV2]))
    record = world.record(sdk.batch([sdk.purchase()]), message_id="m-40001")
    assert failures(world.invoke([record])) == set()  # processed: not retried forever
    assert world.emu.state.events == []
    [dead] = dead_letters(world, dlq)
    assert dead["failure_reason"] == "tiktok_permission_denied"
    assert dead["tiktok_code"] == "40001"
    assert dead["tiktok_request_id"]
    assert dead["failure_detail"].startswith(f"No permission to operate pixel code: {PIXEL}")
    assert dead["original_message_id"] == "m-40001"
    assert dead["connection"] == "default"
    assert json.loads(dead["body"])["user_identities"]["customerid"] == "cust-42"


def test_unknown_invalid_and_malformed_messages_are_dead_lettered_with_reasons(
    world: World, dlq: str
) -> None:
    world.connect()
    world.connect("broken", event_source_type="tv")
    good = sdk.batch([sdk.purchase(1)])
    records = [
        world.record(good, message_id="good"),
        world.record(good, "nobody", message_id="unknown"),
        world.record(good, "broken", message_id="invalid"),
        world.record("{{{", message_id="poison"),
    ]
    assert failures(world.invoke(records)) == set()
    assert len(world.emu.state.events) == 1
    dead = {d["original_message_id"]: d for d in dead_letters(world, dlq)}
    assert {k: d["failure_reason"] for k, d in dead.items()} == {
        "unknown": "unknown_connection",
        "invalid": "invalid_connection",
        "poison": "malformed_message",
    }
    assert "event_source_type" in dead["invalid"]["failure_detail"]
    assert world.token not in json.dumps(dead)
    assert dead["unknown"]["connection"] == "nobody"


# ---------------------------------------------------------------- settings changes (item 12)
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_changed_connection_is_used_within_max_age(world: World) -> None:
    world.connect(test_event_code="OLD")
    clock = Clock()
    store = ConnectionStore(prefix=PREFIX, secrets_client=world.secrets, max_age=60, clock=clock)
    first = store.get("default")
    assert first.test_event_code == "OLD"
    world.connect(test_event_code="NEW")
    clock.now += 59
    assert store.get("default") is first  # still cached
    clock.now += 2
    assert store.get("default").test_event_code == "NEW"


def test_an_unchanged_connection_keeps_its_settings_object(world: World) -> None:
    world.connect()
    clock = Clock()
    store = ConnectionStore(prefix=PREFIX, secrets_client=world.secrets, max_age=60, clock=clock)
    first = store.get("default")
    clock.now += 600
    assert store.get("default") is first  # mappers built from it stay valid


def test_a_missing_secret_is_an_unknown_connection_other_errors_are_transient(
    world: World,
) -> None:
    store = ConnectionStore(prefix=PREFIX, secrets_client=world.secrets)
    with pytest.raises(ConnectionUnavailable) as missing:
        store.get("nobody")
    assert (missing.value.reason, missing.value.permanent) == ("unknown_connection", True)
    world.secrets.create_secret(Name=PREFIX + "text", SecretString="not json")
    with pytest.raises(ConnectionUnavailable) as text:
        store.get("text")
    assert text.value.reason == "invalid_connection"

    class Failing:
        def get_secret_value(self, **_: Any) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "GetSecretValue")

    flaky = ConnectionStore(prefix=PREFIX, secrets_client=Failing())
    with pytest.raises(ConnectionUnavailable) as throttled:
        flaky.get("default")
    assert (throttled.value.reason, throttled.value.permanent) == (
        "connection_unreadable",
        False,
    )


def test_the_forwarder_rereads_connections_within_a_minute_by_default() -> None:
    from tiktok_connector.events.settings import ForwarderSettings

    assert ForwarderSettings().connections_max_age <= 60
    with pytest.raises(ValueError, match="less than or equal to 60"):
        ForwarderSettings(connections_max_age=300)
