"""The node over a real Orthanc: Inventory Creation answers for exactly Orthanc's content.

Orthanc runs as its own process (temp-dir config, free ports, stopped by PID), fed by DCMTK
``storescu`` and by REST upload; the node reads it only through REST. The requester is raw
pynetdicom; every file link of the retrieved inventory is opened with the one container
reader and must hold the instance the record names.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pydicom
import pytest
from dicom_inventory import iter_inventory, validate_file
from dicom_inventory.containers import read_object
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.orthanc import OrthancRepository
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scp.stores.suites import RepositorySuite
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset

from tests.conftest import require_tool
from tests.scp.raw_peer import Requester
from tests.scu.orthanc import Orthanc

STUDY = "1.2.826.0.1.3680043.10.543.77"


def _objects() -> list[bytes]:
    out = []
    for st in range(3):
        for se in range(2):
            for k in range(3):
                out.append(
                    to_part10(
                        make_image(
                            study_uid=f"{STUDY}.{st}",
                            series_uid=f"{STUDY}.{st}.{se}",
                            sop_uid=f"{STUDY}.{st}.{se}.{k}",
                            patient_id=f"ORTH{st}",
                            modality="CT" if se == 0 else "MR",
                            instance_number=k + 1,
                        )
                    )
                )
    return out


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    binary = require_tool("Orthanc")
    storescu = require_tool("storescu")
    folder = tmp_path_factory.mktemp("orthanc")
    server = Orthanc(binary, folder, StorageCompression=False)
    try:
        objects = _objects()
        for data in objects[:9]:  # the first study and a half by REST
            server.upload(data)
        files = folder / "send"
        files.mkdir()
        for i, data in enumerate(objects[9:]):
            (files / f"{i}.dcm").write_bytes(data)
        sent = subprocess.run(
            [storescu, "-aec", "ORTHANC", "+sd", "127.0.0.1", str(server.dicom_port), str(files)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        yield server
    finally:
        server.stop()


def _url(server: Orthanc) -> str:
    return f"orthanc+http://127.0.0.1:{server.http_port}"


class TestOrthancRepository(RepositorySuite):
    @pytest.fixture
    def repository(self, orthanc: Orthanc) -> Iterator[OrthancRepository]:
        with OrthancRepository(_url(orthanc), storage=orthanc.folder / "storage") as repo:
            yield repo


def _inventory(orthanc: Orthanc, tmp_path: Path, storage: Path | None) -> Path:
    requester = Requester().listen()
    config = load_config(
        archive=tmp_path / "node",
        repository=_url(orthanc),
        orthanc_storage=storage,
        port=0,
        ae_title="INV_SCP",
        peers={"R": {"ae_title": requester.ae_title, "host": "127.0.0.1", "port": requester.port}},
        limits={"acse_timeout": 5, "dimse_timeout": 5, "event_backoff": 0.2, "partitions": 2},
    )
    node = InventoryNode(config)
    node.start()
    try:
        txn = generate_uid()
        assert requester.initiate(node.port, txn, "INSTANCE").Status == 0x0000
        _, (etype, ev, _) = requester.until_final(timeout=60)
        assert etype == 11 and ev.TransactionStatus == "COMPLETE"
        query = Dataset()
        query.TransactionUID = txn
        got = requester.c_get(node.port, query, tmp_path / "got")
    finally:
        node.stop()
        requester.close()
    for f in got:
        assert [x for x in validate_file(f) if x.severity.name == "ERROR"] == [], f
    return tmp_path / "got" / f"{ev.ReferencedSOPInstanceUID}.dcm"


def test_an_inventory_of_orthanc_lists_exactly_its_instances_and_links_their_files(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    root = _inventory(orthanc, tmp_path, orthanc.folder / "storage")
    seen: dict[str, str] = {}
    for study in iter_inventory(root):
        assert study.retrieve_ae_title == ("ORTHANC",)
        for series in study.series:
            for inst in series.instances:
                (link,) = inst.file_access
                path = unquote(urlsplit(link.uri).path)
                data = read_object(path, link.container_type, link.filename_in_container,
                                   link.offset, link.length)  # fmt: skip
                ds = pydicom.dcmread(io.BytesIO(data))
                assert ds.SOPInstanceUID == inst.sop_instance_uid
                assert ds.file_meta.TransferSyntaxUID == link.transfer_syntax_uid
                seen[inst.sop_instance_uid] = ds.Modality
    assert set(seen) == orthanc.sop_instance_uids() and len(seen) == 18


def test_without_its_storage_records_say_where_to_retrieve(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    root = _inventory(orthanc, tmp_path, None)
    studies = list(iter_inventory(root))
    assert len(studies) == 3
    for study in studies:
        assert study.retrieve_ae_title == ("ORTHANC",)
        assert all(not i.file_access for se in study.series for i in se.instances)
        assert sorted(study.modalities_in_study or ()) == ["CT", "MR"]


def test_a_wrong_url_or_a_dead_orthanc_is_a_clear_error() -> None:
    from dicom_inventory.scp.archive import ArchiveError

    with pytest.raises(ArchiveError, match="expected orthanc"):
        OrthancRepository("http://127.0.0.1:1")
    with pytest.raises(ArchiveError, match="Orthanc at http://127.0.0.1:9: GET /system: .*refused"):
        OrthancRepository("orthanc+http://127.0.0.1:9", timeout=2)


def test_a_compressed_attachment_is_not_linked(tmp_path: Path) -> None:
    """With StorageCompression Orthanc's files are zlib streams, not Part 10: no link."""
    server = Orthanc(require_tool("Orthanc"), tmp_path / "o", StorageCompression=True)
    try:
        server.upload(_objects()[0])
        with OrthancRepository(_url(server), storage=tmp_path / "o" / "storage") as repo:
            (study,) = repo.iter_studies()
            (series,) = repo.iter_series(study.study_instance_uid)
            (inst,) = repo.iter_instances(series.series_instance_uid)
        assert inst.sop_instance_uid == f"{STUDY}.0.0.0" and inst.files == ()
        assert study.retrieve_ae_titles == ("ORTHANC",)
    finally:
        server.stop()


def test_a_study_deleted_while_production_runs_is_skipped(tmp_path: Path) -> None:
    """Orthanc recycles studies on its own (storage limits): gone is gone, not an error."""
    server = Orthanc(require_tool("Orthanc"), tmp_path / "o")
    try:
        objects = _objects()
        server.upload(objects[0])  # study .0
        server.upload(objects[6])  # study .1
        with OrthancRepository(_url(server)) as repo:
            assert len(repo._study_list()) == 2  # the list is read once, at the start
            server.delete_instance(f"{STUDY}.0.0.0")  # its study's only instance
            assert [s.study_instance_uid for s in repo.iter_studies()] == [f"{STUDY}.1"]
    finally:
        server.stop()
