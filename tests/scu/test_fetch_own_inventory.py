"""fetch of an inventory our own producer wrote, with no --allow-root: the producer names the
storage its links are in (Stored Instance Base URI (0008,0407), PS3.17 YYYY.7.2), at Inventory
level (Study Access End Points Sequence (0008,0421), PS3.3 C.38.1) for the archive's store/ and
at Series level for files indexed in place. Before, every record failed "outside the allowed
roots" unless the archive was named with --allow-root."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory import iter_inventory
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.orthanc import OrthancRepository
from dicom_inventory.scp.production import produce
from dicom_inventory.scu.fetch import fetch_inventory

from tests.conftest import require_tool
from tests.scu.orthanc import Orthanc


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dicom_inventory", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _root(inv: Path) -> Path:
    (root,) = inv.glob("*.dcm")
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("own")
    _ok(_cli("archive", "synth", "--archive", base / "A", "--studies", "3"))
    # the same files indexed in place by a second archive: they lie outside its store/
    shutil.copytree(base / "A" / "store", base / "src")
    _ok(_cli("archive", "ingest", base / "src", "--archive", base / "B"))
    return base


@pytest.mark.parametrize("partitions", ["1", "3"])
def test_fetch_of_our_own_inventory_needs_no_allow_option(work: Path, partitions: str) -> None:
    inv = work / f"inv-{partitions}"
    _ok(_cli("create", "--archive", work / "A", "--level", "INSTANCE", "--out", inv,
             "--partitions", partitions))  # fmt: skip
    out = _ok(_cli("fetch", _root(inv), "--out", work / f"x-{partitions}"))
    assert "failed 0" in out and "fetched 0 " not in out, out
    files = [*inv.rglob("*.dcm")]
    _ok(_cli("validate", *files))  # the base URIs keep the inventory valid (Type 3, UR)


def test_fetch_of_files_indexed_in_place_needs_no_allow_option(work: Path) -> None:
    inv = work / "inv-b"
    _ok(_cli("create", "--archive", work / "B", "--level", "INSTANCE", "--out", inv))
    out = _ok(_cli("fetch", _root(inv), "--out", work / "xb"))
    assert "failed 0" in out and "fetched 0 " not in out, out
    _ok(_cli("validate", *inv.rglob("*.dcm")))


def test_the_base_uris_are_what_allows_the_links(work: Path) -> None:
    """With --ignore-base-uris the same inventory needs --allow-root again, as before."""
    inv = work / "inv-1"
    if not inv.exists():
        _ok(_cli("create", "--archive", work / "A", "--level", "INSTANCE", "--out", inv))
    refused = _cli("fetch", _root(inv), "--out", work / "y", "--ignore-base-uris")
    assert refused.returncode == ExitCode.FINDINGS, refused.stdout + refused.stderr
    assert "outside the allowed roots" in refused.stderr
    allowed = _cli("fetch", _root(inv), "--out", work / "z", "--ignore-base-uris",
                   "--allow-root", work / "A")  # fmt: skip
    assert "failed 0" in _ok(allowed)


def test_fetch_of_an_inventory_of_orthanc_needs_no_allow_option(tmp_path: Path) -> None:
    """Orthanc keeps its files in its storage folder: each series names its own folder there."""
    server = Orthanc(require_tool("Orthanc"), tmp_path / "o", StorageCompression=False)
    try:
        for k in range(4):
            uid = f"2.25.4711.{k // 2}"
            image = make_image(study_uid="2.25.4711", series_uid=uid, sop_uid=f"{uid}.{k}")
            server.upload(to_part10(image))
        url = f"orthanc+http://127.0.0.1:{server.http_port}"
        with OrthancRepository(url, storage=tmp_path / "o" / "storage") as repo:
            (root,) = produce(repo, tmp_path / "inv", level="INSTANCE")
    finally:
        server.stop()
    assert root.path is not None
    storage = (tmp_path / "o" / "storage").as_uri()
    bases = [se.stored_instance_base_uri for st in iter_inventory(root.path) for se in st.series]
    assert len(bases) == 2 and all(b and b.startswith(storage) for b in bases), bases
    got = fetch_inventory([root.path], tmp_path / "x")
    assert (got.fetched, got.failed) == (4, 0), got.failures
