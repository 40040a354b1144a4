"""Load: 20 requesters create inventories at the same time while Study Root and Inventory
C-FIND traffic goes on; every request is accepted, every requester gets its final event and
its inventory, and no C-FIND fails or times out (issue 6)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dicom_inventory import iter_inventory, validate_file
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import InventoryFind, StudyRootQueryRetrieveInformationModelFind

from tests.scp.raw_peer import Requester

N = 20


def test_twenty_requesters_while_cfind_traffic_continues(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=30, series_per_study=2, instances_per_series=3)
    requesters = [Requester(f"REQ{i:02d}").listen() for i in range(N)]
    config = load_config(
        archive=archive,
        port=0,
        ae_title="INV_SCP",
        peers={
            r.ae_title: {"ae_title": r.ae_title, "host": "127.0.0.1", "port": r.port}
            for r in requesters
        },
        limits={"max_associations": 64, "max_jobs": 2, "partitions": 2, "dimse_timeout": 30},
    )
    node = InventoryNode(config)
    node.start()
    stop = threading.Event()
    finds: list[int] = []
    errors: list[str] = []

    def find_traffic() -> None:
        ae = AE(ae_title="FINDER")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_requested_context(InventoryFind)
        while not stop.is_set():
            assoc = ae.associate("127.0.0.1", node.port, ae_title="INV_SCP")
            if not assoc.is_established:
                errors.append("find association failed")
                continue
            q = Dataset()
            q.QueryRetrieveLevel = "STUDY"
            q.StudyInstanceUID = ""
            statuses = [
                s.Status if s else None
                for s, _ in assoc.send_c_find(q, StudyRootQueryRetrieveInformationModelFind)
            ]
            inv = Dataset()
            inv.SOPInstanceUID = ""
            statuses += [s.Status if s else None for s, _ in assoc.send_c_find(inv, InventoryFind)]
            assoc.release()
            if None in statuses or statuses.count(0x0000) != 2:
                errors.append(f"C-FIND statuses {statuses[-3:]}")
            finds.append(statuses.count(0xFF00))

    def one(r: Requester) -> int:
        txn = generate_uid()
        status = r.initiate(node.port, txn, "INSTANCE")
        assert status.Status == 0x0000, hex(status.Status)
        _, (etype, ev, _) = r.until_final(timeout=120)
        assert etype == 11 and ev.TransactionStatus == "COMPLETE"
        q = Dataset()
        q.TransactionUID = txn
        files = r.c_get(node.port, q, tmp_path / r.ae_title)
        for f in files:
            assert [x for x in validate_file(f) if x.severity.name == "ERROR"] == []
        root = tmp_path / r.ae_title / f"{ev.ReferencedSOPInstanceUID}.dcm"
        return len(list(iter_inventory(root)))

    finder = threading.Thread(target=find_traffic)
    finder.start()
    start = time.monotonic()
    try:
        with ThreadPoolExecutor(N) as pool:
            counts = list(pool.map(one, requesters))
    finally:
        stop.set()
        finder.join(60)
        node.stop()
        for r in requesters:
            r.close()
    elapsed = time.monotonic() - start
    assert counts == [30] * N
    assert errors == []
    assert len(finds) >= 3, f"only {len(finds)} C-FIND rounds in {elapsed:.1f} s"
    assert all(n >= 30 for n in finds)  # study level: all 30 studies every time
