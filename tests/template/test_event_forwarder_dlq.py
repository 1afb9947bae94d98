"""The event forwarder moves undeliverable messages to the events DLQ itself (issue 12 item 11):
it needs the queue's URL and permission to send to it, and nothing more."""

from __future__ import annotations

from tests.template.cfn import load_template


def test_the_forwarder_may_send_to_the_dlq_in_the_template() -> None:
    template = load_template()
    function = template["Resources"]["EventForwarderFunction"]["Properties"]
    env = function["Environment"]["Variables"]
    assert env["EVENTS_DLQ_URL"] == {"Ref": "EventsDeadLetterQueue"}
    assert {
        "SQSSendMessagePolicy": {
            "QueueName": {"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]}
        }
    } in function["Policies"]


def test_the_forwarder_rereads_connection_settings_within_a_minute() -> None:
    template = load_template()
    env = template["Resources"]["EventForwarderFunction"]["Properties"]["Environment"]["Variables"]
    assert int(env.get("CONNECTIONS_MAX_AGE", 60)) <= 60
