"""Fixtures for the event forwarder's unit tests."""

from __future__ import annotations

import pytest

from tests.unit.events.support import FakeTikTok


@pytest.fixture
def fake() -> FakeTikTok:
    return FakeTikTok()
