"""Inventory Creation (PS3.4 KK.2) end to end over real associations on 127.0.0.1.

The requester is written with raw pynetdicom in :mod:`tests.scp.raw_peer` (not our SCU): it
sends the N-ACTIONs, receives the N-EVENT-REPORTs on its own port, retrieves the inventory by
Inventory GET, and by Inventory MOVE to DCMTK's storescp; the retrieved files are validated.
"""

from __future__ import annotations

import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from dicom_inventory import iter_inventory, read_header, validate_file
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scp.services.creation import EVENT_ATTRIBUTES
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset

from tests.conftest import require_tool
from tests.scp.finder import study_root_find
from tests.scp.raw_peer import Requester, free_port, raw_item, start_storescp


def _archive(path: Path, studies: int) -> Path:
    with Archive(path, create=True) as a:
        synthesize(a, studies=studies, series_per_study=2, instances_per_series=3)
    return path


@pytest.fixture(scope="module")
def archive_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _archive(tmp_path_factory.mktemp("a") / "archive", 24)


def _node(tmp_path: Path, template: Path, requester: Requester, **limits: Any) -> InventoryNode:
    import shutil

    archive = tmp_path / "archive"
    shutil.copytree(template, archive)
    config = load_config(
        archive=archive,
        port=0,
        ae_title="INV_SCP",
        peers={
            "REQ": {"ae_title": requester.ae_title, "host": "127.0.0.1", "port": requester.port},
            "STORE": {"ae_title": "STORESCP", "host": "127.0.0.1", "port": free_port()},
        },
        limits={"acse_timeout": 5, "dimse_timeout": 5, "event_backoff": 0.2, **limits},
    )
    node = InventoryNode(config)
    node.start()
    return node


@pytest.fixture
def requester():  # type: ignore[no-untyped-def]
    r = Requester().listen()
    yield r
    r.close()


@pytest.fixture
def node(tmp_path: Path, archive_template: Path, requester: Requester):  # type: ignore[no-untyped-def]
    n = _node(tmp_path, archive_template, requester)
    yield n
    n.stop()


@pytest.fixture
def slow_node(tmp_path: Path, archive_template: Path, requester: Requester):  # type: ignore[no-untyped-def]
    # 24 studies at 0.1 s each: about 2.4 s of production, time to pause and cancel
    n = _node(tmp_path, archive_template, requester, production_pace=0.1, partitions=4)
    yield n
    n.stop()


def _get_all(requester: Requester, node: InventoryNode, txn: str, out: Path) -> list[Path]:
    query = Dataset()
    query.TransactionUID = txn
    return requester.c_get(node.port, query, out)


def test_initiate_events_and_retrieval_by_get(
    node: InventoryNode, requester: Requester, tmp_path: Path
) -> None:
    txn = generate_uid()
    status = requester.initiate(node.port, txn, "INSTANCE")
    assert status.Status == 0x0000
    _, (etype, ev, instance) = requester.until_final()
    assert etype == 11 and instance == "1.2.840.10008.5.1.4.1.1.201.1.1"  # KK.2.3.2
    assert ev.TransactionUID == txn and ev.TransactionStatus == "COMPLETE"
    assert ev.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.201.1"
    assert ev.RetrieveAETitle == "INV_SCP"  # KK.2.3.1.1: Retrieve AE Title and/or URL
    assert ev.TotalNumberOfStudyRecords == 24
    assert ev.FileAccessURI.startswith("file://") and ev.ExpirationDateTime
    # what the conformance statement says event 11 carries is what arrives
    assert {e.keyword for e in ev} <= set(EVENT_ATTRIBUTES[11])
    # no Retrieve URL: this node runs no DICOMweb server (tests/scp/web checks it with one)
    missing = set(EVENT_ATTRIBUTES[11]) - {e.keyword for e in ev}
    assert missing <= {"TransactionStatusComment", "RetrieveURL"}
    # the File Access URI names the root file itself
    root_file = Path(ev.FileAccessURI.removeprefix("file://"))
    assert read_header(root_file).sop_instance_uid == ev.ReferencedSOPInstanceUID

    files = _get_all(requester, node, txn, tmp_path / "got")
    assert len(files) == 5  # root + 4 partitions
    for f in files:
        assert [x for x in validate_file(f) if x.severity.name == "ERROR"] == []
    root = tmp_path / "got" / f"{ev.ReferencedSOPInstanceUID}.dcm"
    assert read_header(root).completion_status.value == "COMPLETE"
    studies = list(iter_inventory(root))
    assert len(studies) == 24
    n_instances = sum(len(se.instances) for st in studies for se in st.series)
    assert n_instances == 24 * 2 * 3
    # after a successful delivery nothing is left in the outbox
    assert all(e["delivered"] for e in node.creation.store.events(txn))  # type: ignore[union-attr]


@pytest.mark.peer
def test_retrieval_by_move_to_dcmtk_storescp(
    node: InventoryNode, requester: Requester, tmp_path: Path
) -> None:
    storescp = require_tool("storescp")
    txn = generate_uid()
    assert requester.initiate(node.port, txn, "SERIES").Status == 0x0000
    _, (etype, ev, _) = requester.until_final()
    assert etype == 11
    peer = node.config.peers["STORE"]
    proc = start_storescp(storescp, peer.port, tmp_path / "moved")
    try:
        query = Dataset()
        query.TransactionUID = txn
        statuses = requester.c_move(node.port, query, "STORESCP")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert statuses[-1] == 0x0000
    received = list((tmp_path / "moved").iterdir())
    assert len(received) == 5
    uids = set()
    for f in received:
        assert [x for x in validate_file(f) if x.severity.name == "ERROR"] == []
        uids.add(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)
    assert ev.ReferencedSOPInstanceUID in uids


def test_unsupported_scope_key_warns_b010_and_lists_it_on_the_wire(
    node: InventoryNode, requester: Requester
) -> None:
    txn = generate_uid()
    status = requester.initiate(
        node.port,
        txn,
        "STUDY",
        scope={
            "GeneralMatchingSequence": [
                {"PatientID": "*", "ReferringPhysicianName": "DOE", "InstitutionName": "X"}
            ]
        },
    )
    assert status.Status == 0xB010  # KK.2.2.3
    # (0000,1005) Attribute Identifier List, seen in the raw command set received
    rsp = requester.commands[-1]
    assert rsp.Status == 0xB010
    assert sorted(int(t) for t in rsp[0x00001005].value) == [0x00080080, 0x00080090]
    _, (etype, ev, _) = requester.until_final()
    assert etype == 11 and ev.TotalNumberOfStudyRecords == 24  # the key was not applied
    root = node.config.inventories / txn / f"{ev.ReferencedSOPInstanceUID}.dcm"
    recorded = read_header(root).scope  # recorded scope: what was applied (PS3.17 YYYY.7.1)
    assert recorded is not None and recorded.keys == {"PatientID": "*"}


_GENERAL = {"GeneralMatchingSequence": [{"PatientID": "1"}]}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"InventoryLevel": "PATIENT"}, 0x0212),
        ({"scope": {"SpecificCharacterSet": "ISO_IR 13", **_GENERAL}}, 0x0212),
        ({"scope": {"ExtendedMatchingMechanisms": "FUZZY", **_GENERAL}}, 0x0212),
        ({"scope": {"ExtendedMatchingMechanisms": "RELATIONAL", **_GENERAL}}, 0x0212),
        # PS3.3 C.38.2.1: a key directly in the Scope item is refused, not widened or narrowed
        ({"scope": {"PatientID": "1"}}, 0x0115),
        ({"scope": {"StudyDate": "20200101-20201231"}}, 0x0115),
        # a range is two Items of Range Matching, not "A-B" in a General Matching DA
        ({"scope": {"GeneralMatchingSequence": [{"StudyDate": "20200101-20201231"}]}}, 0x0115),
        ({"scope": {"RangeMatchingSequence": [{"StudyDate": "20200101"}]}}, 0x0115),
        ({"scope": {"GeneralMatchingSequence": [{"StudyDate": "2020-01-01"}]}}, 0x0115),
        ({"TransactionUID": "not.a.uid"}, 0x0115),
        ({"TransactionUID": "../../outside"}, 0x0115),  # names a folder: never a path
    ],
)
def test_initiate_failures(
    node: InventoryNode, requester: Requester, change: dict[str, Any], expected: int
) -> None:
    ds = Dataset()
    with warnings.catch_warnings():  # pydicom warns about the invalid values we mean to send
        warnings.simplefilter("ignore")
        ds.TransactionUID = change.get("TransactionUID", generate_uid())
        ds.InventoryLevel = change.get("InventoryLevel", "STUDY")
        ds.ScopeOfInventorySequence = [raw_item(change.get("scope", {}))]
        status = requester.action(node.port, 11, ds)
    assert status.Status == expected
    assert status.ErrorComment  # says what was wrong
    assert node.creation is not None and node.creation.store.jobs() == []  # nothing started


def test_duplicate_transaction_unknown_action_wrong_instance_and_unknown_peer(
    node: InventoryNode, requester: Requester
) -> None:
    txn = generate_uid()
    assert requester.initiate(node.port, txn, "STUDY").Status == 0x0000
    assert requester.initiate(node.port, txn, "STUDY").Status == 0x0115
    requester.until_final()
    ds = Dataset()
    ds.TransactionUID = txn
    assert requester.action(node.port, 16, ds).Status == 0x0123
    assert requester.action(node.port, 12, ds, instance="1.2.3.4").Status == 0x0112
    stranger = Requester("STRANGER")
    assert stranger.initiate(node.port, generate_uid(), "STUDY").Status == 0x0124
    # and a stranger cannot act on someone else's transaction
    assert stranger.control(node.port, 14, txn).Status == 0x0124
    assert requester.control(node.port, 13, generate_uid(), RetainInstances="NO").Status == 0x0115


def test_request_status_answers_with_event_12(node: InventoryNode, requester: Requester) -> None:
    txn = generate_uid()
    assert requester.initiate(node.port, txn, "STUDY").Status == 0x0000
    requester.until_final()
    assert requester.control(node.port, 12, txn).Status == 0x0000
    etype, ev, _ = requester.next_event()
    assert etype == 12 and ev.TransactionStatus == "COMPLETE"
    assert ev.TotalNumberOfStudyRecords == 24
    # a finished transaction cannot be paused, resumed or cancelled
    assert requester.control(node.port, 14, txn).Status == 0x0110


def test_pause_resume_and_periodic_status(slow_node: InventoryNode, requester: Requester) -> None:
    txn = generate_uid()
    assert requester.initiate(slow_node.port, txn, "SERIES", interval=1).Status == 0x0000
    time.sleep(0.6)
    assert requester.control(slow_node.port, 14, txn).Status == 0x0000
    etype, ev = 0, Dataset()
    while etype != 12 or ev.TransactionStatus != "PAUSED":
        etype, ev, _ = requester.next_event()
    paused_at = ev.TotalNumberOfStudyRecords
    assert 0 <= paused_at < 24
    assert requester.control(slow_node.port, 15, txn).Status == 0x0000
    statuses, (etype, final, _) = requester.until_final()
    assert statuses[0][1].TransactionStatus == "PROCESSING"  # state change: event 12
    assert etype == 11 and final.TransactionStatus == "COMPLETE"
    assert final.TotalNumberOfStudyRecords == 24  # nothing lost or repeated by the pause


def test_cancel_without_and_with_retained_instances(
    slow_node: InventoryNode, requester: Requester
) -> None:
    txn = generate_uid()
    assert requester.initiate(slow_node.port, txn, "STUDY").Status == 0x0000
    time.sleep(0.3)
    assert requester.control(slow_node.port, 13, txn, RetainInstances="NO").Status == 0x0000
    _, (etype, ev, _) = requester.until_final()
    assert etype == 13 and ev.TransactionStatus == "CANCELED"
    assert not (slow_node.config.inventories / txn).exists()

    txn = generate_uid()
    assert requester.initiate(slow_node.port, txn, "STUDY").Status == 0x0000
    time.sleep(1.6)  # at least one of the 4 partitions (6 studies each, 0.6 s) is done
    assert requester.control(slow_node.port, 13, txn, RetainInstances="YES").Status == 0x0000
    _, (etype, ev, _) = requester.until_final()
    assert etype == 11 and ev.TransactionStatus == "CANCELED"
    root = slow_node.config.inventories / txn / f"{ev.ReferencedSOPInstanceUID}.dcm"
    header = read_header(root)
    assert header.completion_status.value == "PARTIAL"
    assert 0 < ev.TotalNumberOfStudyRecords < 24
    assert len(list(iter_inventory(root))) == ev.TotalNumberOfStudyRecords


def test_too_many_jobs_is_a_resource_limitation(
    tmp_path: Path, archive_template: Path, requester: Requester
) -> None:
    node = _node(tmp_path, archive_template, requester, production_pace=0.05, max_pending_jobs=1)
    try:
        first = generate_uid()
        assert requester.initiate(node.port, first, "STUDY").Status == 0x0000
        assert requester.initiate(node.port, generate_uid(), "STUDY").Status == 0x0213
        requester.until_final()
        assert requester.initiate(node.port, generate_uid(), "STUDY").Status == 0x0000
        requester.until_final()
    finally:
        node.stop()


def test_events_are_retried_until_the_requester_listens(
    tmp_path: Path, archive_template: Path
) -> None:
    requester = Requester()  # not listening yet
    node = _node(tmp_path, archive_template, requester)
    try:
        txn = generate_uid()
        assert requester.initiate(node.port, txn, "STUDY").Status == 0x0000
        assert node.creation is not None
        deadline = time.monotonic() + 20
        while not any(e["attempts"] >= 2 for e in node.creation.store.events(txn)):
            assert time.monotonic() < deadline, node.creation.store.events(txn)
            time.sleep(0.1)
        requester.listen()
        _, (etype, ev, _) = requester.until_final()
        assert etype == 11 and ev.TransactionUID == txn
        while not node.creation.store.events(txn)[0]["delivered"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (record,) = node.creation.store.events(txn)
        assert record["attempts"] >= 2
    finally:
        node.stop()
        requester.close()


def test_expired_inventories_are_removed(
    tmp_path: Path, archive_template: Path, requester: Requester
) -> None:
    # retention of about 2.6 s (long enough for the first job to be seen on a loaded machine):
    # the first inventory has expired when the second one finishes
    node = _node(tmp_path, archive_template, requester, retention_days=0.00003)
    try:
        first = generate_uid()
        assert requester.initiate(node.port, first, "STUDY").Status == 0x0000
        _, (_, ev, _) = requester.until_final()
        assert ev.ExpirationDateTime  # announced in event 11 (C.38.3.1.3)
        assert (node.config.inventories / first).is_dir()
        time.sleep(3.0)
        second = generate_uid()
        assert requester.initiate(node.port, second, "STUDY").Status == 0x0000
        # the final event of *this* job (under load a late repeat of the first job's may come)
        while requester.until_final(timeout=60)[1][1].TransactionUID != second:
            pass
        assert not (node.config.inventories / first).exists()
        assert (node.config.inventories / second).is_dir()
    finally:
        node.stop()


@pytest.mark.peer
def test_a_standard_form_scope_from_a_raw_scu_selects_what_study_root_find_selects(
    node: InventoryNode, requester: Requester, tmp_path: Path
) -> None:
    """PS3.3 C.38.2.1 / PS3.4 KK.2.2.1.1: keys inside the matching sequences, spelled out with
    plain pydicom (not our SCU), select the studies a Study Root C-FIND with the same keys
    finds (PS3.4 C.2.2.2); the stored inventory records the scope in the same form, and
    DCMTK's dcmdump shows its nested sequences."""
    dcmdump = require_tool("dcmdump")
    every = study_root_find(node.port, {})
    assert len(every) == 24
    dates = sorted(s["StudyDate"] for s in every.values())
    lo, hi = dates[4], dates[18]
    some_uids = sorted(every)[:16]
    keys = {"StudyDate": f"{lo}-{hi}", "StudyInstanceUID": "\\".join(some_uids), "PatientID": "P*"}
    expected = set(study_root_find(node.port, keys))
    assert 0 < len(expected) < 16  # each key narrows the selection
    txn = generate_uid()
    scope = {
        "RangeMatchingSequence": [{"StudyDate": lo}, {"StudyDate": hi}],
        "ListOfUIDMatchingSequence": [{"StudyInstanceUID": some_uids}],
        "GeneralMatchingSequence": [{"PatientID": "P*"}],
    }
    assert requester.initiate(node.port, txn, "STUDY", scope=scope).Status == 0x0000
    _, (etype, ev, _) = requester.until_final()
    assert etype == 11
    files = _get_all(requester, node, txn, tmp_path / "got")
    root = tmp_path / "got" / f"{ev.ReferencedSOPInstanceUID}.dcm"
    got = {s.study_instance_uid for f in files for s in iter_inventory(f)}
    assert got == expected
    recorded = read_header(root).scope
    assert recorded is not None and recorded.keys == keys
    assert list(validate_file(root)) == []
    dump = subprocess.run([dcmdump, str(root)], capture_output=True, text=True, check=True).stdout
    # DCMTK 3.6.7 does not name these tags yet ("Unknown Tag"): the structure is what counts
    for tag in ("(0008,0400) SQ", "(0008,0410) SQ", "(0008,0411) SQ", "(0008,0413) SQ"):
        assert tag in dump, dump[:3000]
    assert f"(0008,0020) DA [{lo}]" in dump and f"(0008,0020) DA [{hi}]" in dump
