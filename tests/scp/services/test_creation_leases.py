"""Two Inventory Creation workers on one job store (scp/services/creation.py): the lease is
kept by a heartbeat while production scans without finding anything in scope, so the other
node never takes a live node's job; a Pause relayed by another node leaves no stale wish."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dicom_inventory.scp.archive import Archive, FolderInventoryStore, SQLiteJobStore
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.services.creation import InventoryCreation
from dicom_inventory.scp.stores.repository import StudyEntry
from dicom_inventory.scp.wire import WireFixes


class SlowArchive(Archive):
    """The real archive, read slowly: 0.15 s a study (a large archive, a narrow scope)."""

    def iter_studies(self, **kw: Any) -> Iterator[StudyEntry]:
        for study in super().iter_studies(**kw):
            time.sleep(0.15)
            yield study


def _creation(tmp_path: Path, name: str, archive: Path) -> InventoryCreation:
    config = load_config(
        archive=archive,
        inventories=tmp_path / "inventories",
        node_id=name,
        limits={"job_lease": 0.6, "partitions": 1},
    )
    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    return InventoryCreation(
        config,
        lambda: SlowArchive(archive),
        WireFixes(),
        store,
        FolderInventoryStore(config.inventories),
    )


def _wait_final(store: SQLiteJobStore, uid: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        job = store.get(uid)
        assert job is not None
        if job.state in ("COMPLETE", "FAILURE", "CANCELED"):
            return job.state
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_a_long_scan_without_matches_keeps_its_lease(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="dicom_inventory.scp")
    with Archive(tmp_path / "archive", create=True) as a:
        synthesize(a, studies=12, series_per_study=1, instances_per_series=1)
    a_node = _creation(tmp_path, "node-a", tmp_path / "archive")
    b_node = _creation(tmp_path, "node-b", tmp_path / "archive")
    try:
        # 12 studies at 0.15 s: 1.8 s of scanning, three times the lease, nothing in scope
        assert a_node.store.create(
            "2.25.1", "REQ", "STUDY", {"PatientID": "NOBODY"}, None, None, "2.25.2"
        )
        a_node.start()
        a_node._submit("2.25.1")
        time.sleep(0.2)
        b_node.start()  # watches for orphans while node-a scans
        assert _wait_final(a_node.store, "2.25.1") == "COMPLETE"
        finals = [e for e in a_node.store.events("2.25.1") if e["event_type"] in (11, 13)]
        assert len(finals) == 1
        assert "taking over" not in caplog.text and "lease lost" not in caplog.text
    finally:
        a_node.stop()
        b_node.stop()
        a_node.store.close()
        b_node.store.close()
