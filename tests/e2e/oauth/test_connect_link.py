"""``python -m tiktok_local connect-link`` against the local stack's stack.json."""

from __future__ import annotations

import pytest

from tests.e2e.oauth.support import start_consent
from tiktok_local.__main__ import main as tiktok_local_main
from tiktok_local.stack import LocalStack


def test_connect_link_command_prints_a_working_single_use_link(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    status = tiktok_local_main(
        ["connect-link", "--stack-json", str(stack.stack_json_path), "--label", "cli"]
    )
    out = capsys.readouterr().out.strip()
    assert status == 0
    assert out.startswith(f"{stack.names['connect_url']}?ticket=v1.")
    key = stack.client("secretsmanager").get_secret_value(
        SecretId=stack.names["state_key_secret_name"]
    )["SecretString"]
    assert key not in out
    assert start_consent(out).status_code == 302
    assert start_consent(out).status_code == 403


def test_connect_link_command_refuses_a_bad_label(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    status = tiktok_local_main(
        ["connect-link", "--stack-json", str(stack.stack_json_path), "--label", "../other"]
    )
    assert status == 2
    assert "label" in capsys.readouterr().err


def test_connect_link_command_without_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    status = tiktok_local_main(["connect-link", "--stack-json", "/nonexistent/stack.json"])
    assert status == 2
    assert "cannot read" in capsys.readouterr().err
