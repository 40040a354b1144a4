"""crawl against a real Orthanc: the peer's counts are recorded, and the search for studies
without a Study Date says what it costs, can be skipped, and words the peer's quirks right.

Orthanc (``LimitFindResults=2``) ends a capped answer with 0xFE00 and picks its candidates by
SQL LIKE, which ignores case: a lower-case Patient ID prefix comes back truncated and empty.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory import iter_inventory, read_header
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scu.crawl import crawl
from dicom_inventory.scu.peer import Peer

from tests.conftest import require_tool
from tests.scu.orthanc import Orthanc

pytestmark = pytest.mark.peer

#: Study -> (Patient ID, Study Date); three studies over a limit of two.
STUDIES = {"2.25.8100.1": ("A1", "20200101"), "2.25.8100.2": ("A1", "20200202")}
STUDIES["2.25.8100.3"] = ("A2", "20200303")
SERIES, INSTANCES = 2, 3  # per study


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = Orthanc(
        require_tool("Orthanc"), tmp_path_factory.mktemp("orthanc"), LimitFindResults=2
    )
    try:
        for study, (pid, date) in STUDIES.items():
            for j in range(SERIES):
                for k in range(INSTANCES):
                    ds = make_image(
                        study_uid=study,
                        series_uid=f"{study}.{j}",
                        sop_uid=f"{study}.{j}.{k}",
                        patient_id=pid,
                        study_date=date,
                        instance_number=k + 1,
                    )
                    server.upload(to_part10(ds))
        yield server
    finally:
        server.stop()


def _peer(orthanc: Orthanc) -> Peer:
    return Peer("ORTHANC", "127.0.0.1", orthanc.dicom_port)


def test_study_records_carry_the_peers_counts(orthanc: Orthanc, tmp_path: Path) -> None:
    """Number of Study Related Series/Instances are asked for and written (PS3.3 Table
    C.38.1-1, Type 2): before, they were never asked for and stayed empty."""
    report = crawl(_peer(orthanc), tmp_path / "inv", undated=False)
    (root,) = report.written
    assert root.path is not None
    studies = list(iter_inventory(root.path))
    assert len(studies) == len(STUDIES)
    for st in studies:
        assert st.number_of_study_related_series == SERIES
        assert st.number_of_study_related_instances == SERIES * INSTANCES


def test_no_undated_skips_the_prefix_search_and_says_partial(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    report = crawl(_peer(orthanc), tmp_path / "inv", undated=False)
    assert report.undated_queries == 0
    assert report.queries < 60  # the Study Date splits and the studies' listings only
    assert report.studies == len(STUDIES)
    assert any("--no-undated" in p for p in report.problems)  # such studies may be missing
    assert report.written[0].path is not None
    assert read_header(report.written[0].path).completion_status.value == "PARTIAL"


def test_the_prefix_search_states_its_cost_and_words_the_peers_quirk(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    report = crawl(_peer(orthanc), tmp_path / "inv")
    assert report.complete, report.problems
    assert 0 < report.undated_queries < report.queries
    text = " ".join(report.warnings)
    assert "wildcard pattern" not in text  # before: Orthanc's case-blind LIKE called that
    assert "' '" not in text  # a leading space is never asked: it is not significant in LO
    assert "'a'" in text and "ignores case" in text


def test_the_command_has_the_option_and_states_the_cost(orthanc: Orthanc, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "dicom_inventory", "crawl", "--help"]
    helptext = " ".join(
        subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.split()
    )
    assert "--no-undated" in helptext and "92 queries" in helptext
    cmd = [sys.executable, "-m", "dicom_inventory", "crawl", "--no-undated"]
    cmd += ["--peer", f"ORTHANC@127.0.0.1:{orthanc.dicom_port}", "--out", str(tmp_path / "inv")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # PARTIAL: studies without a date not looked for
    assert "--no-undated" in " ".join(done.stderr.split())
