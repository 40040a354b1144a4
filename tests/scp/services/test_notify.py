"""scp/services/notify.py on its own: the event sender over real associations on 127.0.0.1.

The requester (the event receiver) is a raw pynetdicom AE written here, not our SCU. It accepts
Inventory Creation with SCP/SCU Role Selection so that the node, which opens the association,
takes the SCP role (PS3.4 KK.2.3, as Storage Commitment does in J.3.3). The outbox is a real
:class:`~dicom_inventory.scp.archive.jobs.SQLiteJobStore`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory.scp.archive.jobs import SQLiteJobStore
from dicom_inventory.scp.config import NodeConfig, load_config
from dicom_inventory.scp.services.notify import EventSender, event_dataset
from dicom_inventory.scp.stores.jobs import JobStore
from dicom_inventory.uid import INVENTORY_CREATION, STORAGE_MANAGEMENT_SOP_INSTANCE
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from tests.scp.raw_peer import free_port

NODE_AE = "INV_SCP"
RECEIVER_AE = "EV_RECEIVER"
POLL = 0.05


# ------------------------------------------------------------------------------ helpers
def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll `predicate` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.01)


@dataclass
class Received:
    event_type: int
    info: Dataset
    sop_class: str
    sop_instance: str
    calling_ae: str
    acceptor_roles: tuple[bool, bool]
    """(as SCU, as SCP) of the receiver on the Inventory Creation context."""


class Receiver:
    """The requester's event listener: a raw pynetdicom AE answering `status`."""

    def __init__(self, status: int = 0x0000, **ae_settings: Any) -> None:
        self.status = status
        self.port = free_port()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        ae = AE(ae_title=RECEIVER_AE)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        for key, value in ae_settings.items():
            setattr(ae, key, value)
        # accept the role the node proposes (it is SCP: it sends the N-EVENT-REPORT)
        ae.add_supported_context(INVENTORY_CREATION, scu_role=True, scp_role=True)
        self.server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._on_report)],
        )

    def _on_report(self, event: Any) -> tuple[int, None]:
        cx = next(
            c for c in event.assoc.accepted_contexts if c.abstract_syntax == INVENTORY_CREATION
        )
        rq = event.request
        with self._lock:
            self.received.append(
                Received(
                    int(rq.EventTypeID),
                    event.event_information,
                    str(rq.AffectedSOPClassUID),
                    str(rq.AffectedSOPInstanceUID),
                    str(event.assoc.requestor.ae_title),
                    (bool(cx.as_scu), bool(cx.as_scp)),
                )
            )
        return self.status, None

    def events(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()


class RecordingStore(SQLiteJobStore):
    """The SQLite job store, recording each :meth:`failed` call with the time it was made."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failures: list[tuple[float, int, str, float | None]] = []

    def failed(self, event_id: int, error: str, next_attempt: float | None) -> None:
        self.failures.append((time.time(), event_id, error, next_attempt))
        super().failed(event_id, error, next_attempt)


def config(tmp_path: Path, peers: dict[str, tuple[str, int]], **limits: Any) -> NodeConfig:
    """A node configuration with short timeouts and a fast back-off."""
    return load_config(
        archive=tmp_path / "archive",
        port=0,
        ae_title=NODE_AE,
        peers={k: {"ae_title": ae, "host": "127.0.0.1", "port": p} for k, (ae, p) in peers.items()},
        limits={
            "acse_timeout": 2,
            "dimse_timeout": 2,
            "network_timeout": 2,
            "event_backoff": 0.05,
            "event_max_backoff": 0.2,
            **limits,
        },
    )


def new_job(store: JobStore, uid: str, requester: str = RECEIVER_AE) -> str:
    assert store.create(uid, requester, "STUDY", {}, "test", None, f"{uid}.1")
    return uid


def status_info(uid: str, records: int, state: str = "IN PROGRESS") -> dict[str, Any]:
    return {"TransactionUID": uid, "TransactionStatus": state, "TotalNumberOfStudyRecords": records}


def settled(store: JobStore, uid: str) -> bool:
    """Whether every event of `uid` is delivered or given up."""
    evs = store.events(uid)
    return bool(evs) and all(e["delivered"] or e["given_up"] for e in evs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RecordingStore]:
    s = RecordingStore(tmp_path / "jobs.sqlite")
    yield s
    s.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def run_sender() -> Iterator[Callable[[NodeConfig, JobStore], EventSender]]:
    started: list[EventSender] = []

    def start(cfg: NodeConfig, store: JobStore) -> EventSender:
        sender = EventSender(cfg, store, poll=POLL)
        sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        sender.stop(timeout=10)


# ------------------------------------------------------------------------------ event_dataset
def test_event_dataset_sets_each_keyword_with_its_dictionary_vr() -> None:
    ds = event_dataset(
        {
            "TransactionUID": "1.2.3.4",
            "TransactionStatus": "COMPLETE",
            "TotalNumberOfStudyRecords": 24,
            "RetrieveAETitle": "INV_SCP",
            "ExpirationDateTime": "20300101120000",
        }
    )
    assert {e.keyword for e in ds} == {
        "TransactionUID",
        "TransactionStatus",
        "TotalNumberOfStudyRecords",
        "RetrieveAETitle",
        "ExpirationDateTime",
    }
    tags = [e.tag for e in ds]
    assert tags == sorted(tags)  # a data set is in tag order, whatever the order of the dict
    assert ds["TransactionUID"].VR == "UI" and ds.TransactionUID == "1.2.3.4"
    assert ds["TotalNumberOfStudyRecords"].VR == "UV" and ds.TotalNumberOfStudyRecords == 24
    assert ds["RetrieveAETitle"].VR == "AE" and ds["ExpirationDateTime"].VR == "DT"
    assert len(event_dataset({})) == 0


def test_event_dataset_round_trips_the_json_the_store_keeps(tmp_path: Path) -> None:
    """The info goes through the store's JSON and comes back as the same data set."""
    s = SQLiteJobStore(tmp_path / "jobs.sqlite")
    try:
        new_job(s, "1.2.3")
        info = {**status_info("1.2.3", 7), "TransactionStatusComment": "half way"}
        s.queue_event("1.2.3", 12, info)
        (ev,) = list(s.due_events(time.time()))
    finally:
        s.close()
    assert ev.event_type == 12 and ev.info == info
    ds = event_dataset(ev.info)
    assert ds.TotalNumberOfStudyRecords == 7 and ds.TransactionStatusComment == "half way"


# ------------------------------------------------------------------------------ delivery
def test_a_queued_event_is_delivered_to_the_requester_with_the_well_known_instance(
    tmp_path: Path, store: RecordingStore, receiver: Receiver, run_sender: Any
) -> None:
    # the peer is found by its AE title, not by the name of its [peers.*] table
    cfg = config(tmp_path, {"MIGRATION_HOST": (RECEIVER_AE, receiver.port)})
    uid = new_job(store, "2.25.1001")
    info = {
        "TransactionUID": uid,
        "TransactionStatus": "COMPLETE",
        "ReferencedSOPClassUID": "1.2.840.10008.5.1.4.1.1.201.1",
        "ReferencedSOPInstanceUID": f"{uid}.1",
        "RetrieveAETitle": NODE_AE,
        "TotalNumberOfStudyRecords": 3,
    }
    store.queue_event(uid, 11, info)
    run_sender(cfg, store).wake()
    wait_for(lambda: settled(store, uid), what="event delivered")

    (got,) = receiver.events()
    assert got.event_type == 11
    assert got.sop_class == INVENTORY_CREATION
    assert got.sop_instance == STORAGE_MANAGEMENT_SOP_INSTANCE
    assert got.calling_ae == NODE_AE
    assert got.acceptor_roles == (True, False)  # the node took the SCP role, the requester SCU
    assert {e.keyword: e.value for e in got.info} == info
    (ev,) = store.events(uid)
    assert ev["delivered"] and not ev["given_up"]
    assert ev["attempts"] == 0 and ev["last_error"] is None
    assert store.failures == []


def test_events_of_one_transaction_arrive_in_the_order_they_were_queued(
    tmp_path: Path, store: RecordingStore, receiver: Receiver, run_sender: Any
) -> None:
    cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)})
    first, second = new_job(store, "2.25.2001"), new_job(store, "2.25.2002")
    # queued before the sender starts, interleaved between the two transactions
    for n in range(1, 5):
        store.queue_event(first, 12, status_info(first, n))
        store.queue_event(second, 12, status_info(second, 10 * n))
    store.queue_event(first, 11, status_info(first, 5, "COMPLETE"))
    store.queue_event(second, 13, status_info(second, 50, "CANCELED"))
    run_sender(cfg, store)
    wait_for(lambda: settled(store, first) and settled(store, second), what="all delivered")

    def seen(uid: str) -> list[tuple[int, int]]:
        return [
            (r.event_type, int(r.info.TotalNumberOfStudyRecords))
            for r in receiver.events()
            if r.info.TransactionUID == uid
        ]

    assert seen(first) == [(12, 1), (12, 2), (12, 3), (12, 4), (11, 5)]
    assert seen(second) == [(12, 10), (12, 20), (12, 30), (12, 40), (13, 50)]
    assert all(e["delivered"] and e["attempts"] == 0 for e in store.events(first))
    assert all(e["delivered"] for e in store.events(second))


def test_an_event_queued_while_the_sender_runs_goes_out_on_wake(
    tmp_path: Path, store: RecordingStore, receiver: Receiver
) -> None:
    cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)})
    sender = EventSender(cfg, store, poll=30.0)  # only wake() can make it look again
    sender.start()
    try:
        uid = new_job(store, "2.25.2501")
        time.sleep(0.1)  # the sender is now waiting out its (long) poll
        store.queue_event(uid, 12, status_info(uid, 1))
        sender.wake()
        wait_for(lambda: settled(store, uid), timeout=5, what="delivered after wake()")
    finally:
        sender.stop(timeout=10)
    assert [r.event_type for r in receiver.events()] == [12]


def test_undelivered_events_stay_in_the_outbox_for_the_next_sender(
    tmp_path: Path, store: RecordingStore, receiver: Receiver, run_sender: Any
) -> None:
    cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)})
    stopped = EventSender(cfg, store, poll=POLL)
    stopped.start()
    stopped.stop(timeout=10)
    uid = new_job(store, "2.25.2601")
    store.queue_event(uid, 11, status_info(uid, 1, "COMPLETE"))
    time.sleep(3 * POLL)
    assert receiver.events() == [] and not store.events(uid)[0]["delivered"]
    run_sender(cfg, store)  # e.g. the node after a restart
    wait_for(lambda: settled(store, uid), what="delivered by the next sender")
    assert [r.event_type for r in receiver.events()] == [11]


# ------------------------------------------------------------------------------ failures
@pytest.mark.parametrize("status", [0x0110, 0x0112, 0x0213])
def test_a_requester_answering_a_failure_gets_the_event_once_and_it_is_given_up(
    tmp_path: Path, store: RecordingStore, run_sender: Any, status: int
) -> None:
    receiver = Receiver(status=status)
    try:
        cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)}, event_attempts=5)
        uid = new_job(store, "2.25.3001")
        store.queue_event(uid, 12, status_info(uid, 1))
        run_sender(cfg, store)
        wait_for(lambda: settled(store, uid), what="event given up")
        time.sleep(8 * POLL)  # several more rounds of the sender: nothing is repeated
        assert len(receiver.events()) == 1
    finally:
        receiver.close()
    (ev,) = store.events(uid)
    assert ev["given_up"] and not ev["delivered"]
    assert ev["attempts"] == 1
    assert ev["last_error"] == f"refused with 0x{status:04X}"
    assert [(f[2], f[3]) for f in store.failures] == [(f"refused with 0x{status:04X}", None)]


def test_after_a_refused_event_the_next_one_of_the_transaction_still_goes_out(
    tmp_path: Path, store: RecordingStore, run_sender: Any
) -> None:
    receiver = Receiver(status=0x0110)
    try:
        cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)})
        uid = new_job(store, "2.25.3101")
        store.queue_event(uid, 12, status_info(uid, 1))
        run_sender(cfg, store)
        wait_for(lambda: bool(store.events(uid)[0]["given_up"]), what="first given up")
        receiver.status = 0x0000
        store.queue_event(uid, 11, status_info(uid, 2, "COMPLETE"))
        wait_for(lambda: settled(store, uid), what="second delivered")
    finally:
        receiver.close()
    assert [r.event_type for r in receiver.events()] == [12, 11]
    refused, done = store.events(uid)
    assert refused["given_up"] and done["delivered"]


def test_an_unreachable_requester_is_retried_with_doubling_back_off_then_given_up(
    tmp_path: Path, store: RecordingStore, run_sender: Any
) -> None:
    nobody = free_port()  # nothing listens there
    cfg = config(
        tmp_path,
        {"REQ": (RECEIVER_AE, nobody)},
        event_attempts=4,
        event_backoff=0.05,
        event_max_backoff=0.08,
    )
    uid = new_job(store, "2.25.4001")
    store.queue_event(uid, 12, status_info(uid, 1))
    run_sender(cfg, store)
    wait_for(lambda: settled(store, uid), timeout=10, what="event given up")
    time.sleep(4 * POLL)  # and not tried again afterwards

    (ev,) = store.events(uid)
    assert ev["given_up"] and not ev["delivered"]
    assert ev["attempts"] == cfg.limits.event_attempts == 4
    # pynetdicom reports a refused connection as an abort, so the sender says so (see report)
    assert ev["last_error"] == "unreachable or aborted"
    assert len(store.failures) == 4
    delays = [None if nxt is None else nxt - at for at, _, _, nxt in store.failures]
    assert delays[-1] is None  # the last attempt gives up
    # 0.05, then doubled to 0.1 but capped at 0.08, then 0.2 capped at 0.08
    for got, expected in zip(delays[:-1], [0.05, 0.08, 0.08], strict=True):
        assert got is not None and got == pytest.approx(expected, abs=0.02)
    # no retry before the time the previous attempt asked for
    for (_, _, _, asked), (at, _, _, _) in zip(store.failures, store.failures[1:], strict=False):
        assert asked is not None and at >= asked - 0.01


def test_an_association_rejected_by_the_requester_is_retried_then_given_up(
    tmp_path: Path, store: RecordingStore, run_sender: Any
) -> None:
    receiver = Receiver(require_calling_aet=["SOMEONE_ELSE"])  # rejects INV_SCP
    try:
        cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)}, event_attempts=3)
        uid = new_job(store, "2.25.4101")
        store.queue_event(uid, 12, status_info(uid, 1))
        run_sender(cfg, store)
        wait_for(lambda: settled(store, uid), timeout=10, what="event given up")
    finally:
        receiver.close()
    assert receiver.events() == []
    (ev,) = store.events(uid)
    assert ev["given_up"] and ev["attempts"] == 3
    assert ev["last_error"] == "association rejected"
    assert [f[3] is None for f in store.failures] == [False, False, True]


def test_a_requester_that_is_not_a_configured_peer_is_given_up_at_once(
    tmp_path: Path, store: RecordingStore, receiver: Receiver, run_sender: Any
) -> None:
    cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)}, event_attempts=5)
    stranger = new_job(store, "2.25.5001", requester="STRANGER")
    known = new_job(store, "2.25.5002")
    store.queue_event(stranger, 12, status_info(stranger, 1))
    store.queue_event(known, 12, status_info(known, 1))
    run_sender(cfg, store)
    wait_for(lambda: settled(store, stranger) and settled(store, known), what="both settled")

    (ev,) = store.events(stranger)
    assert ev["given_up"] and not ev["delivered"] and ev["attempts"] == 1
    assert "STRANGER" in ev["last_error"] and "not a configured peer" in ev["last_error"]
    assert [(f[1], f[3]) for f in store.failures] == [(ev["id"], None)]  # no retry asked
    # the other transaction's requester is not held up by it
    assert store.events(known)[0]["delivered"]
    assert [str(r.info.TransactionUID) for r in receiver.events()] == [known]


def test_a_peer_known_only_by_its_table_name_is_not_a_configured_requester(
    tmp_path: Path, store: RecordingStore, receiver: Receiver, run_sender: Any
) -> None:
    """Events go to the Calling AE title of the request: the lookup is by AE title."""
    cfg = config(tmp_path, {"STRANGER": (RECEIVER_AE, receiver.port)})
    uid = new_job(store, "2.25.5101", requester="STRANGER")
    store.queue_event(uid, 12, status_info(uid, 1))
    run_sender(cfg, store)
    wait_for(lambda: settled(store, uid), what="given up")
    assert receiver.events() == []
    assert store.events(uid)[0]["given_up"]


def test_an_event_that_cannot_be_sent_does_not_hold_up_other_transactions(
    tmp_path: Path, store: RecordingStore, receiver: Receiver, run_sender: Any
) -> None:
    cfg = config(tmp_path, {"REQ": (RECEIVER_AE, receiver.port)}, event_attempts=3)
    broken, fine = new_job(store, "2.25.6001"), new_job(store, "2.25.6002")
    # a sequence of numbers: pydicom cannot build the data set, so _deliver raises
    store.queue_event(broken, 12, {"TransactionUID": broken, "ReferencedSOPSequence": [1, 2]})
    store.queue_event(fine, 12, status_info(fine, 1))
    run_sender(cfg, store)
    wait_for(lambda: settled(store, fine), timeout=2, what="the other transaction delivered")
    wait_for(lambda: settled(store, broken), timeout=2, what="the broken event given up")


def test_a_stored_sequence_goes_out_as_a_sequence() -> None:
    """JSON keeps an item as an object: event_dataset turns it back into a data set."""
    ds = event_dataset({"ReferencedSOPSequence": [{"ReferencedSOPClassUID": "1.2"}]})
    assert ds.ReferencedSOPSequence[0].ReferencedSOPClassUID == "1.2"
