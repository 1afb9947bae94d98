"""The unit tier's rule, enforced: pure code, no sockets (STYLE.md habit 6).

Every unit test runs with connecting and binding refused, so a test that reaches for the network
(an HTTP client without its fake session, an emulator, a moto server) fails at once with a
sentence that says where it belongs. moto's in-process ``mock_aws`` needs no socket.
"""

from __future__ import annotations

import socket

import pytest


class SocketBlockedError(RuntimeError):
    """A unit test tried to open a network connection or listen."""


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise SocketBlockedError(
        "unit tests open no sockets: use a fake (tests/conftest.py) or move the test to "
        "tests/integration"
    )


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse ``connect``, ``connect_ex`` and ``bind`` on every socket for the test's duration."""
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse)
