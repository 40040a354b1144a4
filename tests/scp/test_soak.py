"""Soak: SIGKILL ``dicom-inventory serve`` again and again during production and during event
delivery, restart it on the same folders each time, and use it at its association limit
(issue 20).

``tests/scp/test_crash.py`` kills once in the middle of one job; this extends it to several
rounds, two concurrent jobs with periodic status events (Requested Status Interval, PS3.4
KK.2.2.2) and a requester that is slow to answer, so that some kills land while an
N-EVENT-REPORT is on the wire. After every restart each inventory Inventory FIND lists is
retrieved by Inventory GET and must be complete and valid (no partial inventory served). At the
end: every job is COMPLETE exactly once, its inventory has every study once, and each job's
final event (Event Type ID 11 or 13, PS3.4 KK.2.3.1, Table KK.2.3-1) was queued once and
acknowledged once.

A final event the requester received on an association that was then aborted by the kill was
never acknowledged (the node never saw the N-EVENT-REPORT-RSP): the node sends it again after
the restart, as it must (at-least-once delivery). Only *acknowledged* deliveries, those whose
association the node released, are counted for "no duplicated final event".

``DICOM_INVENTORY_FUZZ=long`` runs more kill rounds and a larger archive.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory import InventoryReader, iter_inventory, read_header, validate_file
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.jobs import SQLiteJobStore
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.status import Status
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import InventoryCreation, InventoryFind

from tests.scp.raw_peer import Requester, free_port, wait_listening, write_node_toml

LONG = os.environ.get("DICOM_INVENTORY_FUZZ") == "long"
#: Kills while inventories are produced, then kills while events are delivered.
PRODUCTION_KILLS = 6 if LONG else 2
DELIVERY_KILLS = 4 if LONG else 1
STUDIES = 96 if LONG else 24
PARTITIONS = 12 if LONG else 6
JOBS = 2
MAX_ASSOCIATIONS = 4
FINAL_EVENTS = (11, 13)  # terminated with / without instances (PS3.4 Table KK.2.3-1)
#: The requester takes this long to answer each N-EVENT-REPORT: a window for the kill.
ANSWER_DELAY = 0.3


@dataclass
class Received:
    """One N-EVENT-REPORT as the requester saw it."""

    event_type: int
    transaction_uid: str
    status: str
    acknowledged: bool = False
    """The node released the association afterwards: it had the response and recorded it."""


@dataclass
class Listener:
    """The requester's event side: raw pynetdicom, slow to answer, counts what it got."""

    ae_title: str = "SOAKREQ"
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    in_handler: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: dict[int, list[Received]] = field(default_factory=dict)
    server: Any = None

    def start(self) -> Listener:
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        ae.add_supported_context(InventoryCreation, scu_role=False, scp_role=True)

        def on_report(event: Any) -> tuple[int, None]:
            ds = event.event_information
            r = Received(
                int(event.request.EventTypeID),
                str(ds.get("TransactionUID", "")),
                str(ds.get("TransactionStatus", "")),
            )
            with self.lock:
                self.received.append(r)
                self._pending.setdefault(id(event.assoc), []).append(r)
            self.in_handler.set()
            time.sleep(ANSWER_DELAY)
            self.in_handler.clear()
            return Status.SUCCESS, None

        def on_released(event: Any) -> None:
            with self.lock:
                for r in self._pending.pop(id(event.assoc), []):
                    r.acknowledged = True

        def on_aborted(event: Any) -> None:
            with self.lock:
                self._pending.pop(id(event.assoc), None)

        self.server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_N_EVENT_REPORT, on_report),
                (evt.EVT_RELEASED, on_released),
                (evt.EVT_ABORTED, on_aborted),
                (evt.EVT_CONN_CLOSE, on_aborted),
            ],
        )
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()

    def finals(self, txn: str, *, acknowledged: bool) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.received
                if r.transaction_uid == txn
                and r.event_type in FINAL_EVENTS
                and (r.acknowledged or not acknowledged)
            ]


class Node:
    """The ``serve`` process, started again and again on the same configuration."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        exe = shutil.which("dicom-inventory")
        cmd = [exe] if exe else [sys.executable, "-m", "dicom_inventory"]
        with self.log.open("ab") as f:
            self.proc = subprocess.Popen(
                [*cmd, "serve", "--config", str(self.config)], stdout=f, stderr=f
            )
        wait_listening(self.port, timeout=30)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait(predicate: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def _done(archive: Path, txn: str) -> int:
    state = archive / "inventories" / ".jobs" / txn / "production.json"
    try:
        return len(json.loads(state.read_text())["done"])
    except (OSError, ValueError, KeyError):
        return 0


def _find_all(port: int) -> list[Dataset]:
    ae = AE(ae_title="SOAKFIND")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(InventoryFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="INV_SCP")
    assert assoc.is_established
    query = Dataset()
    query.SOPInstanceUID = ""
    query.TransactionUID = ""
    query.InventoryCompletionStatus = ""
    query.TotalNumberOfStudyRecords = None
    out = []
    try:
        for status, ident in assoc.send_c_find(query, InventoryFind):
            assert status.Status in (Status.PENDING, Status.SUCCESS), hex(status.Status)
            if status.Status == Status.PENDING and ident is not None:
                out.append(ident)
    finally:
        assoc.release()
    return out


def _check_served(port: int, requester: Requester, out: Path) -> int:
    """Every inventory Inventory FIND lists is retrieved whole by Inventory GET, reads to its
    end and validates without errors: no partial inventory is ever served."""
    found = _find_all(port)
    for ident in found:
        uid = str(ident.SOPInstanceUID)
        query = Dataset()
        query.SOPInstanceUID = uid
        files = requester.c_get(port, query, out / uid)
        root = out / uid / f"{uid}.dcm"
        assert root in files, (uid, files)
        for f in files:
            with InventoryReader(f) as r:
                n = sum(1 for _ in r.studies())
                assert r.header.completion_status.value == str(ident.InventoryCompletionStatus)
            assert n >= 0
            errors = [x for x in validate_file(f) if x.severity.name == "ERROR"]
            assert errors == [], (f, errors[:3])
    return len(found)


@pytest.fixture
def soak(tmp_path: Path) -> Iterator[tuple[Node, Listener, Path]]:
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=STUDIES, series_per_study=1, instances_per_series=1)
    listener = Listener().start()
    port = free_port()
    config = write_node_toml(
        tmp_path,
        archive,
        port,
        (listener.ae_title, listener.port),
        {
            "production_pace": 0.1,
            "partitions": PARTITIONS,
            "max_jobs": JOBS,
            "max_associations": MAX_ASSOCIATIONS,
            "event_backoff": 0.2,
            "event_max_backoff": 1.0,
            "acse_timeout": 3,
            "dimse_timeout": 3,
            "network_timeout": 5,
        },
    )
    node = Node(config, port, tmp_path / "serve.log")
    try:
        yield node, listener, archive
    finally:
        node.stop()
        listener.stop()


def test_repeated_sigkill_during_production_and_event_delivery(
    soak: tuple[Node, Listener, Path], tmp_path: Path
) -> None:
    node, listener, archive = soak
    requester = Requester(ae_title=listener.ae_title, port=listener.port)
    node.start()
    txns = [generate_uid() for _ in range(JOBS)]
    for txn in txns:
        status = requester.initiate(node.port, txn, "SERIES", interval=1)
        assert status.Status == Status.SUCCESS

    served = 0

    def producing() -> bool:
        return any((archive / "inventories" / ".jobs" / t).exists() for t in txns)

    def progress_or_end(before: int) -> bool:
        return sum(_done(archive, t) for t in txns) > before or not producing()

    _wait(producing, 30, "production to start", node.log)
    # kills while the partitions are being produced (a partition done since the last one)
    for round_ in range(PRODUCTION_KILLS):
        before = sum(_done(archive, t) for t in txns)
        _wait(
            lambda b=before: progress_or_end(b), 60, f"progress before kill {round_ + 1}", node.log
        )
        if not producing():
            break  # production is over: the rest of the kills land in event delivery
        node.kill()
        node.start()
        served += _check_served(node.port, requester, tmp_path / f"got-p{round_}")
    # kills while an N-EVENT-REPORT is on the wire (the requester is in its handler)
    for round_ in range(DELIVERY_KILLS):
        _wait(listener.in_handler.is_set, 60, "an event being delivered", node.log)
        node.kill()
        node.start()
        served += _check_served(node.port, requester, tmp_path / f"got-e{round_}")

    # every job ends, its final event acknowledged exactly once
    _wait(
        lambda: all(listener.finals(t, acknowledged=True) for t in txns),
        120,
        "the final events",
        node.log,
    )
    time.sleep(1.0)  # a duplicate would come now: the outbox is polled every 0.2 s
    node.stop()
    log = node.log.read_text()
    assert node.kills > DELIVERY_KILLS  # at least one kill in the middle of production
    assert "resuming inventory job" in log
    # no traceback in any run of the node, the SIGTERM stop included (issue 20, shutdown)
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:4000]

    store = SQLiteJobStore(archive / "index.sqlite")
    try:
        jobs = {t: store.get(t) for t in txns}
        events = {t: store.events(t) for t in txns}
    finally:
        store.close()
    for txn in txns:
        job = jobs[txn]
        assert job is not None and job.state == "COMPLETE", (txn, job)  # not lost
        finals_queued = [e for e in events[txn] if e["event_type"] in FINAL_EVENTS]
        assert len(finals_queued) == 1 and finals_queued[0]["delivered"], finals_queued
        acked = listener.finals(txn, acknowledged=True)
        assert len(acked) == 1, acked  # no duplicated final event
        assert acked[0].event_type == 11 and acked[0].status == "COMPLETE"
        # every unacknowledged copy is the same event, sent again after a kill
        for r in listener.finals(txn, acknowledged=False):
            assert (r.event_type, r.status) == (11, "COMPLETE")

        folder = archive / "inventories" / txn
        roots = [f for f in folder.rglob("*.dcm") if read_header(f).incorporated]
        assert len(roots) == 1, roots  # one root per job: not duplicated
        uids = [s.study_instance_uid for s in iter_inventory(roots[0])]
        assert len(uids) == len(set(uids)) == STUDIES  # nothing lost, nothing twice
        assert not (archive / "inventories" / ".jobs" / txn).exists()
    # a kill really landed in the middle of a delivery: that event was never acknowledged
    assert any(not r.acknowledged for r in listener.received), listener.received
    assert served >= 0  # inventories listed after the restarts (all checked whole above)


def test_concurrent_associations_at_the_configured_limit(
    soak: tuple[Node, Listener, Path], tmp_path: Path
) -> None:
    """MAX_ASSOCIATIONS peers at once each query and retrieve; one more is refused while they
    hold their slots, and is accepted once one is released."""
    node, listener, _ = soak
    requester = Requester(ae_title=listener.ae_title, port=listener.port)
    node.start()
    txn = generate_uid()
    assert requester.initiate(node.port, txn, "STUDY").Status == Status.SUCCESS
    _wait(lambda: bool(listener.finals(txn, acknowledged=True)), 60, "the inventory", node.log)

    def associate() -> Any:
        ae = AE(ae_title="SOAKPEER")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
        ae.add_requested_context(InventoryFind)
        return ae.associate("127.0.0.1", node.port, ae_title="INV_SCP")

    held = [associate() for _ in range(MAX_ASSOCIATIONS)]
    try:
        assert all(a.is_established for a in held)

        def query(assoc: Any) -> list[int]:
            q = Dataset()
            q.SOPInstanceUID = ""
            return [int(s.Status) for s, _ in assoc.send_c_find(q, InventoryFind)]

        with ThreadPoolExecutor(MAX_ASSOCIATIONS) as pool:
            results = list(pool.map(query, held))
        # each peer gets the same complete answer (the root and its partitions)
        assert all(r[-1] == Status.SUCCESS for r in results), results
        assert len({len(r) for r in results}) == 1 and len(results[0]) > 1, results
        extra = associate()
        assert not extra.is_established  # the limit holds
        if extra.is_established:
            extra.release()
    finally:
        for a in held:
            a.release()
    _wait(lambda: associate_ok(associate), 10, "a slot after release", node.log)
    # the node itself stayed sound: the inventory is served whole
    assert _check_served(node.port, requester, tmp_path / "got") == len(results[0]) - 1
    node.stop()
    log = node.log.read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:4000]


def associate_ok(associate: Any) -> bool:
    assoc = associate()
    ok = bool(assoc.is_established)
    if ok:
        assoc.release()
    return ok
