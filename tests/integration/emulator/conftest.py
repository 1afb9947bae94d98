"""Fixtures: one emulator per module (reset before every test) and a small HTTP client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tiktok_local.emulator import EmulatorConfig, EmulatorServer

from .support import Api, no_qps_config


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(no_qps_config()).start() as emu:
        yield emu


@pytest.fixture
def emu(shared_emulator: EmulatorServer) -> EmulatorServer:
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def api(emu: EmulatorServer) -> Api:
    return Api(emu, emu.state.issue_token())


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start an emulator with a custom config; stopped after the test."""
    started: list[EmulatorServer] = []

    def make(config: EmulatorConfig) -> EmulatorServer:
        emu = EmulatorServer(config).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()
