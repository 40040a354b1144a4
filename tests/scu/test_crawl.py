"""crawl and diff against a real Orthanc server (Debian package ``orthanc``), started here as a
plain process with a result limit that the crawl must detect and work around."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory import iter_inventory, read_header, validate_file
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
