"""The archive side and Repository Query over real associations: a raw pynetdicom client
(Repository Query paging, relational-queries negotiation, following File Access links), DCMTK's
findscu, movescu (to storescp), getscu and dcmsend."""

from __future__ import annotations

import gzip
import io
import signal
import sqlite3
import subprocess
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pydicom
import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import RepositoryQuery

from tests.conftest import require_tool
from tests.scp.raw_peer import (
    StudyRootQueryRetrieveInformationModelFind,
    free_port,
    relational_negotiation,
    start_storescp,
)

STUDY_FIND = StudyRootQueryRetrieveInformationModelFind


@pytest.fixture(scope="module")
def big_node(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A 10,000-instance archive: 50 studies x 4 series x 50 instances."""
    archive = tmp_path_factory.mktemp("big") / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=50, series_per_study=4, instances_per_series=50)
        a.remove("STUDY", a.conn.execute("SELECT MIN(study_uid) FROM studies").fetchone()[0])
    config = load_config(archive=archive, port=0, ae_title="INV_SCP")
    node = InventoryNode(config)
    node.start()
    yield node
    node.stop()


def _all_instances(node: InventoryNode) -> list[str]:
    with sqlite3.connect(node.config.archive / "index.sqlite") as c:
        return [r[0] for r in c.execute("SELECT sop_instance_uid FROM instances")]


def _find(
    assoc: Any, keys: dict[str, Any], sop_class: str = RepositoryQuery
) -> tuple[list[Dataset], int]:
    """One C-FIND of `keys` (attribute by attribute, as a raw SCU writes them): the matches and
    the final status."""
    q = Dataset()
    for k, v in keys.items():
        setattr(q, k, v)
    found = []
    for status, ident in assoc.send_c_find(q, sop_class):
        if status.Status in (0xFF00, 0xFF01):
            found.append(ident)
            continue
        # 0xB001 is final (PS3.4 C.6.4); stock pynetdicom would wait for another response
        # after it, so the loop stops here: no further response is on its way
        return found, int(status.Status)
    raise AssertionError("no final response")


def _repository_query(
    assoc: Any, prior: bytes | None, level: str = "IMAGE"
) -> tuple[list[Dataset], int]:
    keys: dict[str, Any] = {
        "QueryRetrieveLevel": level,
        "StudyInstanceUID": "",
        "SOPInstanceUID": "",
        "RecordKey": b"",
        "RemovedFromOperationalUse": "",
        "MaximumNumberOfRecords": 100,
    }
    if prior is not None:
        keys["PriorRecordKey"] = prior
    return _find(assoc, keys)


def _page_all(assoc: Any, keys: dict[str, Any]) -> tuple[list[Dataset], list[int]]:
    """A Repository Query chain (Prior Record Key) to its end: every record, every final."""
    records: list[Dataset] = []
    finals: list[int] = []
    prior: bytes | None = None
    while True:
        found, status = _find(assoc, {**keys, **({"PriorRecordKey": prior} if prior else {})})
        records += found
        finals.append(status)
        if status != 0xB001:
            return records, finals
        prior = bytes(found[-1].RecordKey)


def _associate(port: int, *ext_neg: Any, sop_classes: tuple[str, ...] = (RepositoryQuery,)) -> Any:
    ae = AE(ae_title="RAW_SCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for uid in sop_classes:
        ae.add_requested_context(uid)
    assoc = ae.associate("127.0.0.1", port, ae_title="INV_SCP", ext_neg=list(ext_neg) or None)
    assert assoc.is_established
    return assoc


def test_repository_query_pages_10000_instances_exactly_once(big_node: InventoryNode) -> None:
    finals: list[tuple[int, int]] = []

    def on_recv(event: Any) -> None:
        cs = event.message.command_set
        if type(event.message).__name__ == "C_FIND_RSP" and cs.Status not in (0xFF00, 0xFF01):
            finals.append((int(cs.MessageIDBeingRespondedTo), int(cs.Status)))

    ae = AE(ae_title="RAW_SCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(RepositoryQuery)
    # an IMAGE-level query without a Series Instance UID is relational (PS3.4 C.4.1.3.2)
    assoc = ae.associate(
        "127.0.0.1",
        big_node.port,
        ae_title="INV_SCP",
        ext_neg=[relational_negotiation(RepositoryQuery)],
        evt_handlers=[(evt.EVT_DIMSE_RECV, on_recv)],
    )
    assert assoc.is_established
    assert assoc.acceptor.sop_class_extended == {RepositoryQuery: b"\x01"}
    seen: list[str] = []
    prior = None
    pages = 0
    while True:
        found, status = _repository_query(assoc, prior)
        pages += 1
        assert len(found) <= 100
        seen += [d.SOPInstanceUID for d in found]
        keys = [bytes(d.RecordKey) for d in found]
        assert keys == sorted(keys)  # ordered by Record Key (C.6.4.5.1)
        if status == 0x0000:
            break
        assert status == 0xB001 and len(found) == 100
        prior = keys[-1]
    # an invalid Prior Record Key: 0xA710 (C.6.4.5.3)
    _, bad = _repository_query(assoc, b"no such key\0")
    assoc.release()
    assert bad == 0xA710
    assert pages == 100
    counts = Counter(seen)
    assert len(seen) == len(counts) == 10_000  # every record exactly once
    assert set(seen) == set(_all_instances(big_node))  # removed study included (C.6.4.5.4)
    # on the wire: exactly one final response per request (101 requests), so never a
    # 0x0000 after a 0xB001 (pynetdicom's own SCP would add one)
    assert Counter(s for _, s in finals) == {0xB001: 99, 0x0000: 1, 0xA710: 1}


def test_repository_query_removed_flag_and_file_access(big_node: InventoryNode) -> None:
    assoc = _associate(big_node.port, relational_negotiation(RepositoryQuery))
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = ""
    q.RemovedFromOperationalUse = ""
    q.RecordKey = b""
    studies = [i for s, i in assoc.send_c_find(q, RepositoryQuery) if s.Status == 0xFF00]
    q = Dataset()
    q.QueryRetrieveLevel = "IMAGE"
    q.SOPInstanceUID = ""
    q.FileAccessURI = ""
    q.MaximumNumberOfRecords = 1
    first = []
    for s, i in assoc.send_c_find(q, RepositoryQuery):
        if s.Status == 0xFF00:
            first.append(i)
        else:
            break
    assoc.release()
    assert len(studies) == 50
    assert [s.RemovedFromOperationalUse for s in studies].count("Y") == 1
    assert len(first) == 1 and first[0].FileAccessURI.startswith("file://")


def _findscu(node: InventoryNode, *keys: str) -> list[str]:
    findscu = require_tool("findscu")
    out = subprocess.run(
        [
            findscu,
            "-S",
            "-aec",
            "INV_SCP",
            "127.0.0.1",
            str(node.port),
            *[a for k in keys for a in ("-k", k)],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [
        line
        for line in out.stderr.splitlines() + out.stdout.splitlines()
        if "Find Response:" in line
    ]


@pytest.mark.peer
def test_dcmtk_findscu_study_root(big_node: InventoryNode) -> None:
    studies = _findscu(big_node, "QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientID")
    assert len(studies) == 49  # the removed study is hidden from Study Root C-FIND (policy)
    with sqlite3.connect(big_node.config.archive / "index.sqlite") as c:
        study = c.execute("SELECT MAX(study_uid) FROM studies").fetchone()[0]
    series = _findscu(
        big_node,
        "QueryRetrieveLevel=SERIES",
        f"StudyInstanceUID={study}",
        "SeriesInstanceUID",
        "Modality=CT",
    )
    with Archive(big_node.config.archive) as a:  # current values, after the synthetic fixes
        ct = [s for s in a.iter_series(study) if s.attributes.get("Modality") == "CT"]
    assert 0 < len(series) == len(ct)


@pytest.fixture
def small_node(tmp_path: Path):  # type: ignore[no-untyped-def]
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=3, series_per_study=2, instances_per_series=2)
    dest = free_port()
    config = load_config(
        archive=archive,
        port=0,
        ae_title="INV_SCP",
        peers={"STORE": {"ae_title": "STORESCP", "host": "127.0.0.1", "port": dest}},
    )
    node = InventoryNode(config)
    node.start()
    yield node
    node.stop()


def _a_study(node: InventoryNode) -> str:
    with sqlite3.connect(node.config.archive / "index.sqlite") as c:
        return str(c.execute("SELECT MIN(study_uid) FROM studies").fetchone()[0])


@pytest.mark.peer
def test_dcmtk_movescu_to_storescp_and_getscu(small_node: InventoryNode, tmp_path: Path) -> None:
    movescu, getscu = require_tool("movescu"), require_tool("getscu")
    storescp = require_tool("storescp")
    study = _a_study(small_node)
    peer = small_node.config.peers["STORE"]
    proc = start_storescp(storescp, peer.port, tmp_path / "moved")
    try:
        subprocess.run(
            [
                movescu,
                "-S",
                "-aec",
                "INV_SCP",
                "-aem",
                "STORESCP",
                "127.0.0.1",
                str(small_node.port),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={study}",
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    moved = list((tmp_path / "moved").iterdir())
    assert len(moved) == 4
    assert {pydicom.dcmread(f).StudyInstanceUID for f in moved} == {study}
    got = tmp_path / "got"
    got.mkdir()
    subprocess.run(
        [
            getscu,
            "-S",
            "-aec",
            "INV_SCP",
            "-od",
            str(got),
            "127.0.0.1",
            str(small_node.port),
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            f"StudyInstanceUID={study}",
            "-k",
            f"SeriesInstanceUID={study}.1",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert len(list(got.iterdir())) == 2


@pytest.mark.peer
def test_dcmsend_stores_a_patient_object_into_the_archive(
    small_node: InventoryNode, tmp_path: Path
) -> None:
    dcmsend = require_tool("dcmsend")
    ds = make_image(
        study_uid="2.25.777", series_uid="2.25.777.1", sop_uid="2.25.777.1.1", patient_id="NEW1"
    )
    f = tmp_path / "new.dcm"
    f.write_bytes(to_part10(ds))
    subprocess.run(
        [dcmsend, "-aec", "INV_SCP", "127.0.0.1", str(small_node.port), str(f)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    with Archive(small_node.config.archive) as a:
        assert a.counts()["instances"] == 13
        (st,) = [s for s in a.iter_studies() if s.study_instance_uid == "2.25.777"]
        assert st.attributes["PatientID"] == "NEW1"
    found = _findscu(small_node, "QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientID=NEW1")
    assert len(found) == 1


def test_study_root_get_without_the_unique_key_fails(big_node: InventoryNode) -> None:
    """PS3.4 C.4.3.1.3: a C-GET names what it retrieves by the unique key of its level. Without
    it the archive answers 0xA900 and sends nothing (pynetdicom alone would answer Success
    with zero sub-operations: scp.wire.retrieve_failure)."""
    from pynetdicom import build_role
    from pynetdicom.sop_class import CTImageStorage
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET

    stored: list[int] = []
    ae = AE(ae_title="RAW_SCU")
    ae.acse_timeout = ae.dimse_timeout = 10
    ae.add_requested_context(GET)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate(
        "127.0.0.1",
        big_node.port,
        ae_title="INV_SCP",
        ext_neg=[build_role(CTImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, lambda e: stored.append(1) or 0x0000)],
    )
    assert assoc.is_established
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.Modality = "CT"  # a matching key, but not the unique key of the level
    statuses = [s.Status for s, _ in assoc.send_c_get(q, GET) if s]
    assoc.release()
    assert statuses[-1] == 0xA900 and stored == []


# -- File Access links and relational-queries negotiation on a small archive ----------------------
@pytest.fixture(scope="module")
def containers_node(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """36 instances: 2 studies x 6 series x 3, the series in every storage form of synth (plain
    files, ZIP, TAR, TARGZIP, GZIP, BLOB), each form twice."""
    archive = tmp_path_factory.mktemp("containers") / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=2, series_per_study=6, instances_per_series=3)
    node = InventoryNode(load_config(archive=archive, port=0, ae_title="INV_SCP"))
    node.start()
    yield node
    node.stop()


_FILE_ACCESS_KEYS = (
    "FileAccessURI",
    "ContainerFileType",
    "FilenameInContainer",
    "FileOffsetInContainer",
    "FileLengthInContainer",
    "StoredInstanceTransferSyntaxUID",
)


def _follow(record: Dataset) -> Dataset:
    """Open the stored file a Repository Query record links to, as a consumer must, with the
    record's attributes only (PS3.3 C.38.2.2.1.2): the named member of a ZIP, TAR or TARGZIP,
    the byte range of a BLOB (for TAR and TARGZIP the byte range, in the decompressed TAR
    stream, must hold the same member), the whole file of a GZIP."""
    path = Path(unquote(urlsplit(str(record.FileAccessURI)).path))
    kind = str(record.ContainerFileType)
    member = str(record.get("FilenameInContainer") or "")
    offset, length = record.get("FileOffsetInContainer"), record.get("FileLengthInContainer")
    if kind in ("ZIP", "TAR", "TARGZIP"):
        assert member, f"{kind} without Filename in Container (PS3.3 Table C.38.2-2)"
    if kind == "ZIP":
        with zipfile.ZipFile(path) as z:
            data = z.read(member)
    elif kind in ("TAR", "TARGZIP"):
        with tarfile.open(path, "r:gz" if kind == "TARGZIP" else "r:") as t:
            f = t.extractfile(member)
            assert f is not None, member
            data = f.read()
        stream = gzip.decompress(path.read_bytes()) if kind == "TARGZIP" else path.read_bytes()
        assert offset is not None and length is not None, kind  # synth's TARs have them
        assert stream[int(offset) : int(offset) + int(length)] == data
    elif kind == "GZIP":
        data = gzip.decompress(path.read_bytes())
    else:
        assert kind == "BLOB", kind
        assert offset is not None and length is not None, "BLOB without its byte range (1C)"
        data = path.read_bytes()[int(offset) : int(offset) + int(length)]
    return pydicom.dcmread(io.BytesIO(data))


def test_repository_query_file_access_links_can_be_followed(containers_node: InventoryNode) -> None:
    """Every IMAGE-level record carries a complete Stored File Access Macro (PS3.3 Table
    C.38.2-2) and its link opens the very instance, whatever the container."""
    assoc = _associate(containers_node.port, relational_negotiation(RepositoryQuery))
    records, finals = _page_all(
        assoc,
        {
            "QueryRetrieveLevel": "IMAGE",
            "SOPInstanceUID": "",
            "RecordKey": b"",
            **dict.fromkeys(_FILE_ACCESS_KEYS),  # zero length: return keys
            "MaximumNumberOfRecords": 7,
        },
    )
    assoc.release()
    assert finals == [0xB001] * 5 + [0x0000]
    assert len(records) == 36
    kinds: Counter[str] = Counter()
    for rec in records:
        kinds[str(rec.ContainerFileType)] += 1
        ds = _follow(rec)
        assert ds.SOPInstanceUID == rec.SOPInstanceUID
        assert ds.file_meta.TransferSyntaxUID == rec.StoredInstanceTransferSyntaxUID
    # plain files are BLOBs [0, size) of themselves (docs/standard-notes.md Q7)
    assert kinds == {"BLOB": 12, "ZIP": 6, "TAR": 6, "TARGZIP": 6, "GZIP": 6}


def _image_query(**keys: Any) -> dict[str, Any]:
    return {"QueryRetrieveLevel": "IMAGE", **keys, "SOPInstanceUID": "", "RecordKey": b""}


def test_relational_repository_query_with_the_negotiation(containers_node: InventoryNode) -> None:
    """Relational-queries accepted for both C-FIND SOP classes (PS3.4 C.5.1.1.2, C.6.4.6.2): an
    IMAGE-level query without Study or Series Instance UID pages over every instance."""
    assoc = _associate(
        containers_node.port,
        relational_negotiation(RepositoryQuery),
        relational_negotiation(STUDY_FIND),
        sop_classes=(RepositoryQuery, STUDY_FIND),
    )
    # what the requester's pynetdicom recorded of the A-ASSOCIATE-AC
    assert assoc.acceptor.sop_class_extended == {RepositoryQuery: b"\x01", STUDY_FIND: b"\x01"}
    records, finals = _page_all(assoc, _image_query(MaximumNumberOfRecords=10))
    found, study_root = _find(assoc, _image_query(), STUDY_FIND)
    assoc.release()
    assert finals == [0xB001] * 3 + [0x0000]
    uids = [str(r.SOPInstanceUID) for r in records]
    assert len(uids) == len(set(uids)) == 36
    assert set(uids) == set(_all_instances(containers_node))
    assert study_root == 0x0000 and {str(d.SOPInstanceUID) for d in found} == set(uids)


def test_without_the_negotiation_queries_are_hierarchical(containers_node: InventoryNode) -> None:
    """No relational-queries negotiated: below STUDY level a single UID of each level above is
    needed (PS3.4 C.4.1.3.1.1), otherwise 0xA900 and no match; hierarchical queries work."""
    with sqlite3.connect(containers_node.config.archive / "index.sqlite") as c:
        studies = [r[0] for r in c.execute("SELECT study_uid FROM studies ORDER BY study_uid")]
    study, series = studies[0], f"{studies[0]}.2"  # synth: series <study>.<n>
    assoc = _associate(containers_node.port, sop_classes=(RepositoryQuery, STUDY_FIND))
    assert assoc.acceptor.sop_class_extended == {}
    refused = [
        _image_query(),
        _image_query(StudyInstanceUID=study),
        _image_query(SeriesInstanceUID=series),
        _image_query(StudyInstanceUID="", SeriesInstanceUID=""),
        _image_query(StudyInstanceUID=studies, SeriesInstanceUID=series),  # a UID list
        {"QueryRetrieveLevel": "SERIES", "SeriesInstanceUID": "", "RecordKey": b""},
    ]
    answers = [_find(assoc, q, uid) for q in refused for uid in (RepositoryQuery, STUDY_FIND)]
    image, image_status = _find(
        assoc, _image_query(StudyInstanceUID=study, SeriesInstanceUID=series)
    )
    in_study, series_status = _find(
        assoc,
        {"QueryRetrieveLevel": "SERIES", "StudyInstanceUID": study, "SeriesInstanceUID": ""},
        STUDY_FIND,
    )
    top, top_status = _find(assoc, {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": ""})
    assoc.release()
    assert answers == [([], 0xA900)] * len(answers)
    assert image_status == 0x0000
    assert sorted(str(d.SOPInstanceUID) for d in image) == [f"{series}.{k}" for k in (1, 2, 3)]
    assert series_status == 0x0000 and len(in_study) == 6
    assert top_status == 0x0000 and sorted(str(d.StudyInstanceUID) for d in top) == studies


@pytest.mark.parametrize(
    ("asked", "answered", "relational"),
    [
        (b"\x00", b"\x00", False),  # asked for no relational queries: refused in the AC too
        # combined date-time, fuzzy PN, timezone asked as well: a one-byte answer, the missing
        # sub-fields count as 0 (PS3.4 C.5.1.1.2)
        (b"\x01\x01\x01\x01", b"\x01", True),
    ],
)
def test_relational_queries_negotiation_answer(
    containers_node: InventoryNode, asked: bytes, answered: bytes, relational: bool
) -> None:
    assoc = _associate(containers_node.port, relational_negotiation(RepositoryQuery, asked))
    ac = assoc.acceptor.sop_class_extended
    found, status = _find(assoc, _image_query(MaximumNumberOfRecords=5))
    assoc.release()
    assert ac == {RepositoryQuery: answered}
    assert (status, len(found)) == ((0xB001, 5) if relational else (0xA900, 0))
