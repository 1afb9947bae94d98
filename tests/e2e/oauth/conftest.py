from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.oauth.support import LogCapture
from tiktok_local.stack import LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack with the real OAuth handler and the TikTok emulator."""
    with LocalStack.start(workdir=tmp_path_factory.mktemp("oauth-stack")) as running:
        yield running


@pytest.fixture(autouse=True)
def no_secrets_in_logs(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LogCapture]:
    """Capture every log record of the scenario; afterwards no token or app secret may appear."""
    stack.emulator.faults.clear()
    capture = LogCapture().install(monkeypatch)
    yield capture
    logged = capture.text()
    state_key = stack.client("secretsmanager").get_secret_value(
        SecretId=stack.names["state_key_secret_name"]
    )["SecretString"]
    secrets = [stack.emulator.config.app_secret, state_key, *stack.emulator.state.tokens]
    leaked = [s for s in secrets if s in logged]
    assert not leaked, "a token, the app secret or the state key reached the logs"
