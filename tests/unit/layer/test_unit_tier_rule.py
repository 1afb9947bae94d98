"""The unit tier refuses sockets (tests/unit/conftest.py): a test that opens one fails."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.unit.conftest import SocketBlockedError


def test_connecting_is_refused() -> None:
    with pytest.raises(SocketBlockedError, match="tests/integration"):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)


def test_listening_is_refused() -> None:
    with socket.socket() as server, pytest.raises(SocketBlockedError):
        server.bind(("127.0.0.1", 0))


def test_http_clients_are_refused_too() -> None:
    with pytest.raises(SocketBlockedError):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=0.1)
