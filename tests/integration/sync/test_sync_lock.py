"""The sync lock's conditional writes (moto DynamoDB): supersede while diffing, wait while
sending, a lock of an ended job is free, commit against the base, uncertain generations."""

from __future__ import annotations

import pytest

from tests.conftest import TemplateAws
from tiktok_connector.sync.lock import DIFFING, SENDING, SyncLock, SyncState, Taken, Wait, lock_key

TABLE = "tiktok-connector-audiences"
ADV = "7001"
KEY = lock_key("file", "Cafe\u0301 fans")  # decomposed: the key is NFC


@pytest.fixture
def lock(template_aws: TemplateAws) -> SyncLock:
    """The lock over the template's own audiences table (moto)."""
    assert template_aws.table("AudiencesTable") == TABLE
    return SyncLock(table=TABLE, dynamodb=template_aws.client("dynamodb"), clock=lambda: 1_000.0)


def running(_job: str) -> bool:
    return True


def state_of(lock: SyncLock) -> SyncState:
    state = lock.get(ADV, KEY)
    assert state is not None
    return state


def test_the_key_is_nfc_and_apart_from_the_audience_entry() -> None:
    assert KEY == "sync#file#Caf\u00e9 fans"


def test_a_later_sync_supersedes_one_still_diffing_and_the_loser_cannot_send(
    lock: SyncLock,
) -> None:
    first = lock.take(ADV, KEY, "j1", running=running)
    assert first == Taken(state_of(lock), superseded=None)
    assert state_of(lock).phase == DIFFING
    second = lock.take(ADV, KEY, "j2", running=running)
    assert isinstance(second, Taken)
    assert second.superseded == "j1"
    assert not lock.start_sending(ADV, KEY, "j1")
    assert lock.start_sending(ADV, KEY, "j2")
    assert lock.start_sending(ADV, KEY, "j2")  # redelivery: still ours
    assert (state_of(lock).holder, state_of(lock).phase) == ("j2", SENDING)


def test_a_later_sync_waits_while_one_is_sending_unless_that_job_ended(lock: SyncLock) -> None:
    lock.take(ADV, KEY, "j1", running=running)
    assert lock.start_sending(ADV, KEY, "j1")
    waiting = lock.take(ADV, KEY, "j2", running=running)
    assert isinstance(waiting, Wait)
    assert waiting.holder == "j1"
    freed = lock.take(ADV, KEY, "j2", running=lambda job: job != "j1")
    assert isinstance(freed, Taken)
    assert freed.superseded == "j1"


def test_a_redelivered_take_keeps_the_lock(lock: SyncLock) -> None:
    lock.take(ADV, KEY, "j1", running=running)
    again = lock.take(ADV, KEY, "j1", running=running)
    assert again == Taken(state_of(lock), superseded=None)


def test_commit_moves_the_generation_once_and_only_from_the_base(lock: SyncLock) -> None:
    lock.take(ADV, KEY, "j1", running=running)
    lock.start_sending(ADV, KEY, "j1")
    assert lock.commit(ADV, KEY, "j1", base=None, source_modified="m1")
    assert lock.commit(ADV, KEY, "j1", base=None, source_modified="m1")  # done already
    state = state_of(lock)
    assert (state.generation, state.holder, state.source_modified) == ("j1", None, "m1")
    lock.take(ADV, KEY, "j2", running=running)
    assert not lock.commit(ADV, KEY, "j2", base="other", source_modified="m2")
    assert lock.commit(ADV, KEY, "j2", base="j1", source_modified="m2")
    assert state_of(lock).generation == "j2"


def test_a_failure_while_sending_leaves_an_uncertain_generation_and_the_commit_clears_it(
    lock: SyncLock,
) -> None:
    lock.take(ADV, KEY, "j1", running=running)
    lock.start_sending(ADV, KEY, "j1")
    lock.release(ADV, KEY, "j1", uncertain=True)
    lock.release(ADV, KEY, "j1", uncertain=True)  # twice: once in the list
    assert (state_of(lock).uncertain, state_of(lock).holder) == (("j1",), None)
    lock.take(ADV, KEY, "j2", running=running)
    lock.release(ADV, KEY, "j2", uncertain=False)
    assert (state_of(lock).uncertain, state_of(lock).generation) == (("j1",), None)
    lock.take(ADV, KEY, "j3", running=running)
    assert lock.commit(ADV, KEY, "j3", base=None, source_modified="m3")
    assert (state_of(lock).uncertain, state_of(lock).generation) == ((), "j3")


def test_a_sending_holder_that_ended_without_releasing_leaves_its_generation_uncertain(
    lock: SyncLock,
) -> None:
    lock.take(ADV, KEY, "j1", running=lambda job: False)
    lock.start_sending(ADV, KEY, "j1")  # then its job failed and the process died
    taken = lock.take(ADV, KEY, "j2", running=lambda job: False)
    assert isinstance(taken, Taken)
    assert (taken.superseded, taken.state.uncertain, taken.state.holder) == ("j1", ("j1",), "j2")
    lock.take(ADV, KEY, "j3", running=lambda job: False)  # j2 was still diffing: not uncertain
    assert state_of(lock).uncertain == ("j1",)
