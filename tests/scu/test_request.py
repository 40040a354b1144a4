"""The SCU (request, follow, retrieve, query, repository-query) over real associations.

Two SCPs: our own node (:class:`InventoryNode`, driven through the library and through the
``dicom-inventory`` CLI in a subprocess), and :class:`RawSCP`, a minimal independent Inventory
SCP written here with raw pynetdicom, which behaves as stock pynetdicom does (a 0x0000 after a
Repository Query 0xB001), so that our SCU is not only right against itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory import iter_inventory, read_header, validate_file, write_inventory
from dicom_inventory.enum import InventoryLevel
from dicom_inventory.model import InventoryHeader
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scu.client import (
    EventListener,
    SCUError,
    inventory_find,
    repository_query,
    send_action,
)
from dicom_inventory.scu.peer import Peer
from dicom_inventory.scu.request import (
    TransactionStore,
    UnknownTransaction,
    control,
    follow_remembered,
    request_inventory,
)
from dicom_inventory.synthetic import synthetic_studies
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryFind,
    InventoryGet,
    InventoryStorage,
    RepositoryQuery,
)

from tests.scp.raw_peer import WELL_KNOWN, free_port, get_files, study_page

N_STUDIES = 12
SCU_AE = "MIG_SCU"


# ------------------------------------------------------------------------------ our own SCP
@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("node")
    with Archive(root / "archive", create=True) as a:
        synthesize(a, studies=N_STUDIES, series_per_study=2, instances_per_series=3)
    listen = free_port()
    config = load_config(
        archive=root / "archive",
        port=0,
        ae_title="INV_SCP",
        peers={SCU_AE: {"ae_title": SCU_AE, "host": "127.0.0.1", "port": listen}},
        limits={
            "acse_timeout": 5,
            "dimse_timeout": 5,
            "event_backoff": 0.2,
            "max_records": 5,  # split: the SCU must follow the chain (PS3.3 C.38.2.3)
            "repository_query_limit": 7,
        },
    )
    n = InventoryNode(config)
    n.start()
    n.listen_port = listen  # type: ignore[attr-defined]
    yield n
    n.stop()


def _errors(path: Path) -> list[Any]:
    return [f for f in validate_file(path) if f.severity.name == "ERROR"]


def test_request_follows_the_events_and_retrieves_the_split_inventory(
    node: InventoryNode, tmp_path: Path
) -> None:
    peer = Peer("INV_SCP", "127.0.0.1", node.port)
    store = TransactionStore(tmp_path / "state")
    listener = EventListener(SCU_AE, node.listen_port)  # type: ignore[attr-defined]
    listener.accept_only(store.known)
    seen: list[int] = []
    try:
        outcome = request_inventory(
            peer,
            "INSTANCE",
            store=store,
            listener=listener,
            out=tmp_path / "inv",
            calling_ae=SCU_AE,
            status_interval=1,
            timeout=60,
            on_event=lambda ev: seen.append(ev.event_type),
        )
    finally:
        listener.close()
    assert outcome.action.status == 0x0000
    assert outcome.final is not None and outcome.final.event_type == 11
    assert outcome.files is not None and len(outcome.files) >= 4  # root + >= 3 of 5 records
    for f in outcome.files:
        assert _errors(f) == []
    root = tmp_path / "inv" / f"{outcome.final.info.ReferencedSOPInstanceUID}.dcm"
    studies = list(iter_inventory(root))
    assert len(studies) == N_STUDIES
    assert sum(len(i) for st in studies for se in st.series for i in [se.instances]) == 72
    row = store.get(outcome.transaction_uid)
    assert row is not None and row["final_event"] == 11 and row["state"] == "COMPLETE"
    assert row["study_records"] == N_STUDIES

    # after a "restart": a new store on the same folder still knows the transaction; the
    # final event is remembered, so the inventory is retrieved again without waiting
    store.close()
    again = TransactionStore(tmp_path / "state")
    redo = follow_remembered(
        outcome.transaction_uid,
        store=again,
        listener=None,
        out=tmp_path / "again",
        calling_ae=SCU_AE,
    )
    assert redo.files is not None
    assert sorted(p.name for p in redo.files) == sorted(p.name for p in outcome.files)
    status = control(outcome.transaction_uid, "status", store=again, calling_ae=SCU_AE)
    assert status.status == 0x0000  # PS3.4 KK.2.2: Request Status of a finished job
    again.close()


def test_unknown_transaction_and_failure_statuses_are_explained(
    node: InventoryNode, tmp_path: Path
) -> None:
    store = TransactionStore(tmp_path / "state")
    with pytest.raises(UnknownTransaction, match="not one this client started"):
        control("2.25.1", "cancel", store=store)
    store.close()
    peer = Peer("INV_SCP", "127.0.0.1", node.port)
    info = Dataset()
    info.TransactionUID = generate_uid()
    info.InventoryLevel = "PATIENT"  # not a level of PS3.3 C.38.1.1.3
    info.ScopeOfInventorySequence = []
    result = send_action(peer, 11, info, calling_ae=SCU_AE)
    assert not result.accepted
    assert result.status in (0x0212, 0x0115) and result.describe()
    assert "0x" in result.describe() or "invalid" in result.describe()
    with pytest.raises(SCUError, match="connection refused, or no answer within"):
        send_action(Peer("INV_SCP", "127.0.0.1", free_port()), 11, info, timeout=2)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_request_query_and_repository_query(node: InventoryNode, tmp_path: Path) -> None:
    peer = f"INV_SCP@127.0.0.1:{node.port}"
    common = [
        "--calling-ae",
        SCU_AE,
        "--listen-port",
        str(node.listen_port),  # type: ignore[attr-defined]
        "--state",
        str(tmp_path / "state"),
    ]
    done = _cli(
        "request",
        "--peer",
        peer,
        "--level",
        "STUDY",
        "--out",
        str(tmp_path / "inv"),
        "--timeout",
        "60",
        *common,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "final event 11: COMPLETE" in done.stdout
    txn = done.stdout.split("transaction ", 1)[1].split(":", 1)[0]
    # the Transaction UID is shown before anything can block (Ctrl-C never loses it)
    assert f"transaction {txn}: requested from" in " ".join(done.stderr.split())
    files = list((tmp_path / "inv").glob("*.dcm"))
    referenced = {r.sop_instance_uid for p in files for r in read_header(p).incorporated}
    roots = [p for p in files if p.stem not in referenced]
    assert len(roots) == 1 and read_header(roots[0]).inventory_level.value == "STUDY"
    assert f"root of the tree: {roots[0]}" in done.stdout

    listed = _cli("request", "--state", str(tmp_path / "state"), "list")
    assert listed.returncode == 0 and txn[:20] in listed.stdout, listed.stdout + listed.stderr
    # status without the first call's --calling-ae and --listen-port: they are remembered
    status = _cli("request", "--state", str(tmp_path / "state"), "status", txn)
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout[: status.stdout.rindex("}") + 1])["final_event"] == 11

    # a restarted client picks the transaction up and retrieves it again
    follow = _cli("request", *common, "--out", str(tmp_path / "again"), "follow", txn)
    assert follow.returncode == 0, follow.stdout + follow.stderr
    assert {p.name for p in (tmp_path / "again").glob("*.dcm")} == {
        p.name for p in (tmp_path / "inv").glob("*.dcm")
    }

    found = _cli("query", "--peer", peer, "InventoryLevel=STUDY", "--calling-ae", SCU_AE)
    assert found.returncode == 0, found.stderr
    listed = [json.loads(line) for line in found.stdout.splitlines() if line.startswith("{")]
    assert roots[0].stem in {d["SOPInstanceUID"] for d in listed}

    # Repository Query: the node's own limit is 7 records per response set; 12 studies
    rq = _cli(
        "repository-query",
        *("--peer", peer, "--calling-ae", SCU_AE, "--max-records", "5", "ModalitiesInStudy"),
    )
    assert rq.returncode == 0, rq.stderr
    # values as DICOM text (several joined with a backslash), never Python reprs
    assert "['" not in rq.stdout and "MultiValue" not in rq.stdout, rq.stdout[:500]
    assert any("\\" in line for line in rq.stdout.splitlines()), rq.stdout[:500]
    uids = [json.loads(line)["StudyInstanceUID"] for line in rq.stdout.splitlines()]
    assert len(uids) == N_STUDIES == len(set(uids))  # every record exactly once
    assert "3 page(s)" in rq.stderr, rq.stderr

    bad = _cli("request", "--peer", peer, "--scope", "NoSuchKeyword=1", *common)
    assert bad.returncode == 2 and "DICOM keyword" in bad.stderr


# ------------------------------------------------------------------- an independent raw SCP
class RawSCP:
    """A minimal Inventory SCP in raw pynetdicom: Creation, FIND, GET, Repository Query.

    Every N-ACTION Initiate at INSTANCE level is accepted and answered, from a thread, by an
    Inventory Status event and an Inventory Terminated with Instances event sent to the
    requester on a new association (SCP role, PS3.4 KK.2.3). SERIES level gets 0x0213.
    """

    def __init__(self, inventory: list[Path], records: int, requester_port: int) -> None:
        self.files = {read_header(p).sop_instance_uid: p for p in inventory}
        self.root = read_header(inventory[0]).sop_instance_uid  # the encoder writes it first
        self.records = [f"2.25.{7000 + i}" for i in range(records)]
        self.requester_port = requester_port
        self.actions: list[Dataset] = []
        self.pages = 0
        ae = AE(ae_title="RAW_SCP")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        for sop in (InventoryCreation, InventoryFind, InventoryGet, RepositoryQuery):
            ae.add_supported_context(sop)
        ae.add_supported_context(InventoryStorage, scu_role=True, scp_role=True)
        self.port = free_port()
        self.server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_N_ACTION, self.on_action),
                (evt.EVT_C_FIND, self.on_find),
                (evt.EVT_C_GET, self.on_get),
            ],
        )

    def __len__(self) -> int:
        return len(self.files)

    def on_action(self, event: Any) -> tuple[int, Dataset | None]:
        info = event.action_information
        self.actions.append(info)
        if info.InventoryLevel == "SERIES":
            return 0x0213, None
        threading.Thread(target=self.send_events, args=(str(info.TransactionUID),)).start()
        return 0x0000, None

    def send_events(self, txn: str) -> None:
        time.sleep(0.2)
        ae = AE(ae_title="RAW_SCP")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.add_requested_context(InventoryCreation)
        assoc = ae.associate(
            "127.0.0.1",
            self.requester_port,
            ae_title=SCU_AE,
            ext_neg=[build_role(InventoryCreation, scu_role=False, scp_role=True)],
        )
        assert assoc.is_established
        status = Dataset()
        status.TransactionUID = txn
        status.TransactionStatus = "IN PROGRESS"
        status.TotalNumberOfStudyRecords = 1
        done = Dataset()
        done.TransactionUID = txn
        done.TransactionStatus = "COMPLETE"
        done.ReferencedSOPClassUID = InventoryStorage
        done.ReferencedSOPInstanceUID = self.root
        done.RetrieveAETitle = "RAW_SCP"
        done.TotalNumberOfStudyRecords = 4
        for etype, ds in ((12, status), (11, done)):
            assoc.send_n_event_report(ds, etype, InventoryCreation, WELL_KNOWN)
        assoc.release()

    def on_find(self, event: Any) -> Any:
        if event.request.AffectedSOPClassUID == RepositoryQuery:
            yield from self.repository_page(event.identifier)
            return
        for uid in self.files:
            ident = Dataset()
            ident.SOPInstanceUID = uid
            yield 0xFF00, ident

    def repository_page(self, q: Dataset) -> Any:
        """Stock pynetdicom: after the handler's 0xB001 pynetdicom adds its own 0x0000."""
        self.pages += 1
        yield from study_page(self.records, q)

    def on_get(self, event: Any) -> Any:
        yield from get_files(self.files, event.identifier)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def raw(tmp_path: Path):  # type: ignore[no-untyped-def]
    header = InventoryHeader(
        sop_instance_uid=generate_uid(),
        inventory_level=InventoryLevel.INSTANCE,
        content_date="20261201",
        content_time="120000",
    )
    written = write_inventory(
        tmp_path / "served",
        header,
        synthetic_studies(4, series_per_study=1, instances_per_series=2),
        max_records=2,
    )
    scp = RawSCP([w.path for w in written if w.path is not None], 23, free_port())
    yield scp
    scp.close()


def test_request_and_retrieval_against_an_independent_scp(raw: RawSCP, tmp_path: Path) -> None:
    peer = Peer("RAW_SCP", "127.0.0.1", raw.port)
    store = TransactionStore(tmp_path / "state")
    listener = EventListener(SCU_AE, raw.requester_port)
    listener.accept_only(store.known)
    seen: list[int] = []
    try:
        outcome = request_inventory(
            peer,
            "INSTANCE",
            scope={"PatientID": "P*"},
            store=store,
            listener=listener,
            out=tmp_path / "inv",
            calling_ae=SCU_AE,
            timeout=30,
            on_event=lambda ev: seen.append(ev.event_type),
        )
        refused = request_inventory(peer, "SERIES", store=store, listener=listener)
    finally:
        listener.close()
        store.close()
    assert seen == [12, 11]
    # what went on the wire is what PS3.4 KK.2.2.1 asks of an Initiate
    sent = raw.actions[0]
    assert sent.TransactionUID == outcome.transaction_uid and sent.InventoryLevel == "INSTANCE"
    item = sent.ScopeOfInventorySequence[0]  # the standard form (PS3.3 C.38.2.1)
    assert "PatientID" not in item and item.GeneralMatchingSequence[0].PatientID == "P*"
    assert outcome.files is not None and len(outcome.files) == len(raw) >= 3  # the whole tree
    assert {p.stem for p in outcome.files} == set(raw.files)
    studies = list(iter_inventory(tmp_path / "inv" / f"{raw.root}.dcm"))
    assert len(studies) == 4
    assert refused.action.status == 0x0213 and "too many jobs" in refused.action.describe()
    found = inventory_find(peer, {"SOPInstanceUID": ""}, calling_ae=SCU_AE)
    assert {str(d.SOPInstanceUID) for d in found} == set(raw.files)


def test_repository_query_pages_through_a_stock_pynetdicom_scp(raw: RawSCP) -> None:
    """0xB001 ends a page (PS3.4 C.6.4); the trailing 0x0000 of stock pynetdicom must neither
    hang the SCU nor be taken for the end of the next page."""
    peer = Peer("RAW_SCP", "127.0.0.1", raw.port)
    t0 = time.monotonic()
    pages = list(repository_query(peer, "STUDY", {}, max_records=5, timeout=5))
    took = time.monotonic() - t0
    uids = [str(r.StudyInstanceUID) for p in pages for r in p.records]
    assert uids == raw.records  # every record once, in Record Key order
    assert [p.partial for p in pages] == [True] * 4 + [False]
    assert raw.pages == 5
    assert took < 5, f"{took:.1f} s: the SCU waited for a response after 0xB001"
    (first,) = list(repository_query(peer, "STUDY", {}, max_records=5, follow=False, timeout=5))
    assert first.partial and len(first.records) == 5


def test_retrieval_asks_for_a_wide_tree_in_slices(tmp_path: Path) -> None:
    """A level of more than about 1,000 instances cannot be named in one C-GET: a UID list over
    64 KB does not fit an Explicit VR element (found by the test kit on a 10,000-instance
    archive). Every request stays at 200 UIDs or fewer, and the whole tree arrives."""
    header = InventoryHeader(
        generate_uid(), InventoryLevel.STUDY, content_date="20261201", content_time="120000"
    )
    written = write_inventory(
        tmp_path / "served",
        header,
        synthetic_studies(250, level=InventoryLevel.STUDY),
        max_records=1,
    )
    scp = RawSCP([w.path for w in written if w.path is not None], 1, free_port())
    sizes: list[int] = []
    original = scp.on_get

    def counting(event: Any) -> Any:
        uids = event.identifier.SOPInstanceUID
        sizes.append(1 if isinstance(uids, str) else len(uids))
        yield from original(event)

    scp.server.unbind(evt.EVT_C_GET, original)
    scp.server.bind(evt.EVT_C_GET, counting)
    try:
        from dicom_inventory.scu.client import retrieve_inventory

        got = retrieve_inventory(Peer("RAW_SCP", "127.0.0.1", scp.port), scp.root, tmp_path / "inv")
    finally:
        scp.close()
    assert len(got) == 251 and max(sizes) <= 200 and len(sizes) >= 3


def test_repository_query_pages_over_every_instance_relationally(node: InventoryNode) -> None:
    """Our SCU negotiates relational-queries (PS3.4 C.5.1.1.2, C.6.4.6.2), so an IMAGE-level
    Repository Query without parent UIDs pages over the whole archive; the File Access URI it
    asks for comes with what Table C.38.2-2 requires beside it."""
    peer = Peer("INV_SCP", "127.0.0.1", node.port)
    pages = list(repository_query(peer, "IMAGE", {"FileAccessURI": ""}, max_records=20, timeout=10))
    records = [r for p in pages for r in p.records]
    assert len(records) == N_STUDIES * 2 * 3 and len({r.SOPInstanceUID for r in records}) == 72
    for r in records:
        assert r.FileAccessURI and r.ContainerFileType and r.StoredInstanceTransferSyntaxUID
        if r.ContainerFileType in ("ZIP", "TAR", "TARGZIP"):
            assert r.FilenameInContainer
        if r.ContainerFileType == "BLOB":
            assert r.FileLengthInContainer
