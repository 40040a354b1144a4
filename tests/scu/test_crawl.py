"""crawl and diff against a real Orthanc server (Debian package ``orthanc``), started here as a
plain process with a result limit that the crawl must detect and work around."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    iter_inventory,
    read_header,
    validate_file,
    write_inventory,
)
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scu.crawl import crawl
from dicom_inventory.scu.peer import Peer

from tests.conftest import require_tool
from tests.scu.orthanc import Orthanc

pytestmark = pytest.mark.peer

N_DATED, N_UNDATED = 10, 2


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    binary = require_tool("Orthanc")
    server = Orthanc(
        binary, tmp_path_factory.mktemp("orthanc"), LimitFindResults=4, LimitFindInstances=0
    )
    try:
        for s in range(N_DATED + N_UNDATED):
            study = f"2.25.5000.{s}"
            for j in range(2):
                for k in range(2):
                    ds = make_image(
                        study_uid=study,
                        series_uid=f"{study}.{j}",
                        sop_uid=f"{study}.{j}.{k}",
                        patient_id=f"{'CDEFGHJKLMNP'[s]}{s:03d}",
                        study_date=f"20{10 + s % 12:02d}{1 + s % 12:02d}{1 + s % 27:02d}",
                        modality="CT" if j == 0 else "MR",
                        instance_number=k + 1,
                    )
                    if s >= N_DATED:
                        del ds.StudyDate  # studies without a Study Date
                    server.upload(to_part10(ds))
        yield server
    finally:
        server.stop()


def test_crawl_works_around_the_result_limit(orthanc: Orthanc, tmp_path: Path) -> None:
    report = crawl(Peer("ORTHANC", "127.0.0.1", orthanc.dicom_port), tmp_path / "inv")
    assert report.truncated > 0  # the limit of 4 was hit, detected (0xFE00) and split
    assert report.complete, report.problems
    assert len(report.undated_studies) == N_UNDATED
    (root,) = report.written
    assert root.path is not None
    assert [f for f in validate_file(root.path) if f.severity.name == "ERROR"] == []
    assert read_header(root.path).completion_status.value == "COMPLETE"
    listed = {
        i.sop_instance_uid
        for st in iter_inventory(root.path)
        for se in st.series
        for i in se.instances
    }
    assert listed == orthanc.sop_instance_uids()  # exactly what Orthanc holds
    assert len(listed) == (N_DATED + N_UNDATED) * 4


def test_crawl_says_partial_when_a_series_is_over_the_instance_limit(tmp_path: Path) -> None:
    binary = require_tool("Orthanc")
    server = Orthanc(binary, tmp_path / "o", LimitFindInstances=2)
    try:
        for k in range(3):
            server.upload(
                to_part10(
                    make_image(study_uid="2.25.6", series_uid="2.25.6.1", sop_uid=f"2.25.6.1.{k}")
                )
            )
        report = crawl(Peer("ORTHANC", "127.0.0.1", server.dicom_port), tmp_path / "inv")
    finally:
        server.stop()
    assert not report.complete and "2.25.6.1" in report.problems[0]
    (root,) = report.written
    assert root.path is not None
    assert read_header(root.path).completion_status.value == "PARTIAL"


def test_diff_against_the_live_archive(orthanc: Orthanc, tmp_path: Path) -> None:
    inv = (
        crawl(Peer("ORTHANC", "127.0.0.1", orthanc.dicom_port), tmp_path / "before").written[0].path
    )
    assert inv is not None
    cmd = [
        sys.executable,
        "-m",
        "dicom_inventory",
        "diff",
        str(inv),
        f"dicom:ORTHANC@127.0.0.1:{orthanc.dicom_port}",
        "--format",
        "json",
    ]
    same = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert same.returncode == 0, same.stderr
    orthanc.delete_instance("2.25.5000.3.1.0")
    try:
        changed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        orthanc.upload(
            to_part10(
                make_image(
                    study_uid="2.25.5000.3",
                    series_uid="2.25.5000.3.1",
                    sop_uid="2.25.5000.3.1.0",
                    patient_id="F003",
                    study_date="20130404",
                    modality="MR",
                    instance_number=1,
                )
            )
        )
    assert changed.returncode == 1
    report = json.loads(changed.stdout)
    assert report["missing"] == 1 and report["extra"] == 0
    assert "2.25.5000.3" in report["patients"]["F003"]


SCOPE = {"StudyDate": "20100101-20151231"}  # studies 0 to 5 of the fixture (2010 to 2015)


def _in_scope(study_date: str | None) -> bool:
    return bool(study_date) and "20100101" <= str(study_date) <= "20151231"


def test_crawl_within_a_scope(orthanc: Orthanc, tmp_path: Path) -> None:
    """The listing stays inside the scope, splits included (the limit of 4 is hit)."""
    report = crawl(Peer("ORTHANC", "127.0.0.1", orthanc.dicom_port), tmp_path / "inv", scope=SCOPE)
    assert report.complete, report.problems
    assert report.truncated > 0 and report.undated_studies == []
    (root,) = report.written
    assert root.path is not None
    header = read_header(root.path)
    assert header.scope is not None and header.scope.keys == SCOPE
    studies = {st.study_instance_uid: st.study_date for st in iter_inventory(root.path)}
    assert len(studies) == 6 and all(_in_scope(d) for d in studies.values())


def test_diff_against_the_live_archive_keeps_to_the_old_inventorys_scope(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    """The node's studies outside the old inventory's Scope of Inventory are neither extra nor
    missing: the live side is listed within that scope (PS3.3 C.38.2.1)."""
    full = crawl(Peer("ORTHANC", "127.0.0.1", orthanc.dicom_port), tmp_path / "all").written[0]
    assert full.path is not None
    kept = [
        replace(st, series=[replace(se, instances=list(se.instances)) for se in st.series])
        for st in iter_inventory(full.path)
        if _in_scope(st.study_date)
    ]
    assert 0 < len(kept) < N_DATED + N_UNDATED
    header = InventoryHeader(
        "2.25.5000999",
        InventoryLevel.INSTANCE,
        content_date="20261207",
        content_time="100000",
        scope=ScopeOfInventory.from_keys(SCOPE),
    )
    (old,) = write_inventory(tmp_path / "old", header, kept)
    assert old.path is not None
    cmd = [
        sys.executable,
        "-m",
        "dicom_inventory",
        "diff",
        str(old.path),
        f"dicom:ORTHANC@127.0.0.1:{orthanc.dicom_port}",
        "--format",
        "json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    report = json.loads(done.stdout)
    assert report["identical"] and report["source_records"] == len(kept) * 4
