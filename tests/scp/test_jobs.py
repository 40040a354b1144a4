"""The job store (scp/jobs.py): what any implementation must do, run on the SQLite one.

Written as a suite over a `store` fixture so that another implementation (a vendor's database)
can run the same checks: transactions are unique, a state change and its event are one
transaction, events leave in order per transaction, failures back off and give up, and
everything survives a reopen (PS3.4 KK.2: the requester gets its events after a restart).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dicom_inventory.scp.jobs import JobStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    s = JobStore(tmp_path / "jobs.sqlite")
    yield s
    s.close()


def _create(store: JobStore, uid: str = "2.25.1") -> bool:
    return store.create(uid, "MIGRATOR", "STUDY", {"PatientID": "P*"}, "test", None, "2.25.99")


def test_a_transaction_uid_is_taken_once(store: JobStore) -> None:
    assert _create(store) and not _create(store)
    job = store.get("2.25.1")
    assert job is not None and job.state == "PROCESSING" and store.active_count() == 1


def test_a_state_change_and_its_event_are_one_transaction(store: JobStore) -> None:
    _create(store)
    with pytest.raises(TypeError):  # the event cannot be stored: nothing of the change is kept
        store.transition("2.25.1", "COMPLETE", event=(11, {"bad": object()}))
    job = store.get("2.25.1")
    assert job is not None and job.state == "PROCESSING" and store.events("2.25.1") == []
    store.transition("2.25.1", "COMPLETE", event=(11, {"TransactionStatus": "COMPLETE"}))
    job = store.get("2.25.1")
    assert job is not None and job.state == "COMPLETE" and store.active_count() == 0
    assert [e["event_type"] for e in store.events("2.25.1")] == [11]


def test_events_leave_in_order_one_transaction_at_a_time(store: JobStore) -> None:
    _create(store, "2.25.1")
    _create(store, "2.25.2")
    store.queue_event("2.25.1", 12, {"n": 1})
    store.queue_event("2.25.1", 11, {"n": 2})
    store.queue_event("2.25.2", 12, {"n": 3})
    due = list(store.due_events(now=1e12))
    assert [(e.transaction_uid, e.event_type) for e in due] == [("2.25.1", 12), ("2.25.2", 12)]
    store.delivered(due[0].id)
    assert [e.event_type for e in store.due_events(now=1e12) if e.transaction_uid == "2.25.1"] == [
        11
    ]


def test_a_failed_event_backs_off_then_is_given_up(store: JobStore) -> None:
    _create(store)
    store.queue_event("2.25.1", 11, {})
    (event,) = store.due_events(now=1e12)
    store.failed(event.id, "refused", next_attempt=100.0)
    assert list(store.due_events(now=50.0)) == []  # not due yet
    (again,) = store.due_events(now=100.0)
    assert again.attempts == 1
    store.failed(again.id, "refused", next_attempt=None)
    assert list(store.due_events(now=1e12)) == []
    (record,) = store.events("2.25.1")
    assert record["given_up"] and record["last_error"] == "refused" and record["attempts"] == 2


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    s = JobStore(tmp_path / "jobs.sqlite")
    _create(s)
    s.transition("2.25.1", "PAUSED", event=(12, {"TransactionStatus": "PAUSED"}))
    s.close()
    s = JobStore(tmp_path / "jobs.sqlite")
    try:
        job = s.get("2.25.1")
        assert job is not None and job.state == "PAUSED"
        assert [e.event_type for e in s.due_events(now=1e12)] == [12]
    finally:
        s.close()
