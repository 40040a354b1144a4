"""The test kit against our own SCP (every applicable test passes) and against SCPs that are
each wrong in one way (each fails exactly the tests that cover its fault, with evidence)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.conformance.testkit import Outcome, ScpKit, check_files, run_scp_battery
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.production import produce
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scu.peer import Peer
from lxml import etree

from tests.conformance.browser import dump_dom, screenshot
from tests.conformance.fake_scp import FakeSCP
from tests.conftest import require_tool
from tests.scp.raw_peer import free_port

KIT_AE = "INV_TESTKIT"


def _outcomes(report: object) -> dict[str, Outcome]:
    return {r.id: r.outcome for r in report.results}  # type: ignore[attr-defined]


def test_every_applicable_test_passes_against_our_scp(tmp_path: Path) -> None:
    with Archive(tmp_path / "archive", create=True) as a:
        synthesize(a, studies=20, series_per_study=2, instances_per_series=2)
    listen = free_port()
    config = load_config(
        archive=tmp_path / "archive",
        port=0,
        ae_title="INV_SCP",
        peers={"KIT": {"ae_title": KIT_AE, "host": "127.0.0.1", "port": listen}},
        limits={
            "event_backoff": 0.2,
            "max_records": 7,
            "production_pace": 0.03,
            "dimse_timeout": 10,
        },
    )
    node = InventoryNode(config)
    node.start()
    try:
        report = run_scp_battery(
            ScpKit(Peer("INV_SCP", "127.0.0.1", node.port), KIT_AE, listen, timeout=60)
        )
    finally:
        node.stop()
    outcomes = _outcomes(report)
    assert report.passed, [
        (r.id, r.evidence) for r in report.results if r.outcome is not Outcome.PASS
    ]
    assert all(o is Outcome.PASS for o in outcomes.values()), outcomes  # cancel too (paced)
    assert len(outcomes) == 21
    paths = report.write(tmp_path / "report")
    junit = etree.parse(str(paths[0])).getroot()
    assert junit.tag == "testsuite" and junit.get("tests") == "21" and junit.get("failures") == "0"
    assert json.loads(paths[1].read_text())["passed"] is True
    assert "PASSED" in paths[2].read_text()


@pytest.mark.parametrize(
    ("fault", "failing", "evidence"),
    [
        ("no-b010", {"C-UNSUPPORTED-KEY"}, "silently ignored"),
        ("key-failure", {"C-UNSUPPORTED-KEY"}, "expected 0xB010"),
        (
            "scope-ignored",
            {"C-SCOPE-SINGLE", "C-SCOPE-WILDCARD", "C-SCOPE-RANGE", "C-SCOPE-UID-LIST"},
            "do not match",
        ),
        ("rq-stops-early", {"Q-RQ-PAGING", "R-COUNTS"}, "must end with 0xB001"),
        ("rq-trailing-success", {"Q-RQ-FINAL"}, "another C-FIND-RSP with 0x0000"),
        (
            "no-txn-uid",
            {
                "C-INITIATE-STUDY",
                "C-INITIATE-SERIES",
                "C-INITIATE-INSTANCE",
                "C-DUPLICATE",
                "C-CANCEL",
            },
            "without Transaction UID",
        ),
        ("wrong-counts", {"R-GET", "R-COUNTS"}, "total"),
        ("rq-repeat", {"Q-RQ-PAGING", "R-COUNTS"}, "returned twice"),
        (
            "no-events",
            {
                "C-INITIATE-STUDY",
                "C-INITIATE-SERIES",
                "C-INITIATE-INSTANCE",
                "C-DUPLICATE",
                "C-CANCEL",
            },
            "no final N-EVENT-REPORT",
        ),
    ],
)
def test_a_faulty_scp_fails_exactly_the_tests_of_its_fault(
    tmp_path: Path, fault: str, failing: set[str], evidence: str
) -> None:
    listen = free_port()
    fake = FakeSCP(tmp_path / "served", KIT_AE, listen, {fault})
    try:
        report = run_scp_battery(
            ScpKit(
                Peer("FAKE_SCP", "127.0.0.1", fake.port), KIT_AE, listen, timeout=4, dimse_timeout=5
            )
        )
    finally:
        fake.close()
    outcomes = _outcomes(report)
    failed = {t for t, o in outcomes.items() if o in (Outcome.FAIL, Outcome.ERROR)}
    assert failed - {"C-DUPLICATE", "C-CANCEL", "R-COUNTS"} == failing - {
        "C-DUPLICATE",
        "C-CANCEL",
        "R-COUNTS",
    }, outcomes
    assert failed <= failing, outcomes
    named = [e for t in failing & failed for e in report.result(t).evidence]
    assert any(evidence in e for e in named), named


def test_the_fault_free_fake_passes(tmp_path: Path) -> None:
    listen = free_port()
    fake = FakeSCP(tmp_path / "served", KIT_AE, listen, set())
    try:
        report = run_scp_battery(
            ScpKit(
                Peer("FAKE_SCP", "127.0.0.1", fake.port),
                KIT_AE,
                listen,
                timeout=10,
                dimse_timeout=5,
            )
        )
    finally:
        fake.close()
    assert report.passed, [
        (r.id, r.evidence) for r in report.results if r.outcome is not Outcome.PASS
    ]


def test_files_kit_passes_a_good_tree_and_names_a_missing_part(tmp_path: Path) -> None:
    with Archive(tmp_path / "archive", create=True) as a:
        synthesize(a, studies=8, series_per_study=2, instances_per_series=2)
        written = produce(a, tmp_path / "inv", level="INSTANCE", max_records=3)
    good = check_files([tmp_path / "inv"])
    assert good.passed and _outcomes(good)["S-URIS"] is Outcome.PASS, [
        (r.id, r.evidence) for r in good.results
    ]
    from dicom_inventory import read_header

    files = sorted((tmp_path / "inv").rglob("*.dcm"))
    referenced = {r.sop_instance_uid for f in files for r in read_header(f).incorporated}
    leaf = next(f for f in files if read_header(f).sop_instance_uid in referenced)  # a child
    leaf.unlink()
    broken = check_files([tmp_path / "inv"])
    assert _outcomes(broken)["S-TREE"] is Outcome.FAIL
    assert any("chain-dangling" in e for e in broken.result("S-TREE").evidence)
    assert written


def _one_file(folder: Path, studies: int = 2) -> Path:
    """A valid single-file inventory of a small synthetic archive, with real file links."""
    with Archive(folder / "archive", create=True) as a:
        synthesize(a, studies=studies, series_per_study=1, instances_per_series=2)
        (written,) = produce(a, folder / "inv", level="INSTANCE")
    assert written.path is not None
    return written.path


def test_files_kit_judges_each_file_apart_and_does_not_fail_foreign_links(
    tmp_path: Path,
) -> None:
    """One non-Inventory file, one valid file whose links name another site's storage and one
    broken file: three verdicts of their own, and the report is written."""
    import pydicom
    from pydicom.uid import generate_uid

    good = _one_file(tmp_path / "a")
    ds = pydicom.dcmread(good)
    for item in ds.InventoriedStudiesSequence:  # the same records, at a site we cannot reach
        for se in item.InventoriedSeriesSequence:
            for inst in se.InventoriedInstancesSequence:
                for fa in inst.FileAccessSequence:
                    fa.FileAccessURI = "file:///site-b/pacs/store/" + inst.SOPInstanceUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    foreign = tmp_path / "foreign.dcm"
    ds.save_as(foreign)
    broken = tmp_path / "broken.dcm"
    ds = pydicom.dcmread(good)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    del ds.ContentDate  # Type 1 (PS3.3 C.38.1)
    for item in ds.InventoriedStudiesSequence:
        item.StudyInstanceUID = generate_uid()  # not duplicates of `foreign`
    ds.save_as(broken)
    ct = pydicom.Dataset()
    ct.SOPClassUID, ct.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
    ct.PatientName = "Not^Inventory"
    not_inventory = tmp_path / "ct.dcm"
    ct.file_meta = pydicom.dataset.FileMetaDataset()
    ct.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ct.file_meta.MediaStorageSOPClassUID = ct.SOPClassUID
    ct.file_meta.MediaStorageSOPInstanceUID = ct.SOPInstanceUID
    ct.save_as(not_inventory, enforce_file_format=True)  # a Part 10 CT image, not an Inventory

    report = check_files([not_inventory, foreign, broken])
    outcomes = _outcomes(report)
    assert outcomes["F-IOD ct.dcm"] is Outcome.FAIL
    assert "expected Inventory Storage" in report.result("F-IOD ct.dcm").evidence[0]
    assert outcomes["F-IOD foreign.dcm"] is Outcome.PASS, report.result(
        "F-IOD foreign.dcm"
    ).evidence
    assert outcomes["F-IOD broken.dcm"] is Outcome.FAIL
    assert any("ContentDate" in e for e in report.result("F-IOD broken.dcm").evidence)
    uris = report.result("S-URIS")
    # the broken file's links are reachable and right; the foreign ones only counted
    assert uris.outcome is Outcome.PASS, uris.evidence
    assert any("4 not verifiable here" in e and "site-b" in e for e in uris.evidence)
    alone = check_files([foreign]).result("S-URIS")
    assert alone.outcome is Outcome.NOT_APPLICABLE, alone.evidence  # nothing reachable
    assert {p.name for p in report.write(tmp_path / "report")} == {
        "report.xml",
        "report.json",
        "report.html",
    }


def test_files_kit_fails_reachable_links_that_are_wrong(tmp_path: Path) -> None:
    """A link into storage this machine has, to a file that is missing or (opened) is another
    instance, fails S-URIS naming it; the same links unopened only check presence."""
    import pydicom

    good = _one_file(tmp_path / "a", studies=1)
    assert _outcomes(check_files([good], open_links=True))["S-URIS"] is Outcome.PASS
    ds = pydicom.dcmread(good)
    insts = [
        i
        for se in ds.InventoriedStudiesSequence[0].InventoriedSeriesSequence
        for i in se.InventoriedInstancesSequence
    ]
    first, second = insts[0].FileAccessSequence[0], insts[1].FileAccessSequence[0]
    first.FileAccessURI, second.FileAccessURI = second.FileAccessURI, first.FileAccessURI
    first.FileLengthInContainer, second.FileLengthInContainer = (
        second.FileLengthInContainer,
        first.FileLengthInContainer,
    )
    swapped = tmp_path / "swapped.dcm"
    ds.save_as(swapped)
    opened = check_files([swapped], open_links=True).result("S-URIS")
    assert opened.outcome is Outcome.FAIL
    assert any("SOP Instance UID" in e for e in opened.evidence), opened.evidence
    assert check_files([swapped]).result("S-URIS").outcome is Outcome.PASS  # present, unopened
    target = Path(
        pydicom.dcmread(swapped)
        .InventoriedStudiesSequence[0]
        .InventoriedSeriesSequence[0]
        .InventoriedInstancesSequence[0]
        .FileAccessSequence[0]
        .FileAccessURI.removeprefix("file://")
    )
    target.unlink()
    gone = check_files([swapped]).result("S-URIS")
    assert gone.outcome is Outcome.FAIL
    assert any("does not exist, though its folder does" in e for e in gone.evidence)


def test_cli_and_html_report_in_a_real_browser(tmp_path: Path) -> None:
    with Archive(tmp_path / "archive", create=True) as a:
        synthesize(a, studies=3, series_per_study=1, instances_per_series=2)
        produce(a, tmp_path / "inv", level="INSTANCE")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dicom_inventory",
            "testkit",
            "files",
            str(tmp_path / "inv"),
            "--report",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS S-TREE" in done.stdout
    chromium = require_tool("chromium")
    page = tmp_path / "r" / "report.html"
    dom = dump_dom(chromium, page)
    assert "PASSED" in dom and dom.count("<tr") >= 4
    drawn, size = screenshot(chromium, page, tmp_path / "shot.png", (1200, 800))
    assert drawn > 0.1 and size > 10_000, (drawn, size)


@pytest.mark.parametrize("claims_everything", [False, True])
def test_battery_against_orthanc_a_real_archive_without_inventory_services(
    tmp_path: Path, claims_everything: bool
) -> None:
    """Orthanc 1.10 has no Inventory services. As configured by default it rejects their
    contexts: A-NEGOTIATE fails and the rest is not applicable. With UnknownSopClassAccepted it
    accepts every context, then aborts on the N-ACTION and answers Repository Query like a
    Study Root C-FIND (no Record Key, no page limit): the kit names all of it, with no error."""
    from dicom_inventory.scp.archive.objects import make_image, to_part10

    from tests.scu.orthanc import Orthanc

    server = Orthanc(
        require_tool("Orthanc"), tmp_path / "orthanc", UnknownSopClassAccepted=claims_everything
    )
    try:
        for s in range(14):
            server.upload(
                to_part10(
                    make_image(
                        study_uid=f"2.25.6000.{s}",
                        series_uid=f"2.25.6000.{s}.1",
                        sop_uid=f"2.25.6000.{s}.1.1",
                        patient_id=f"P{s:03d}",
                        study_date="20200101",
                        modality="CT",
                        instance_number=1,
                    )
                )
            )
        report = run_scp_battery(
            ScpKit(
                Peer("ORTHANC", "127.0.0.1", server.dicom_port),
                KIT_AE,
                free_port(),
                timeout=10,
                dimse_timeout=10,
            )
        )
    finally:
        server.stop()
    outcomes = _outcomes(report)
    assert Outcome.ERROR not in outcomes.values(), [(r.id, r.evidence) for r in report.results]
    assert outcomes["E-ECHO"] is Outcome.PASS and not report.passed
    failed = {t for t, o in outcomes.items() if o is Outcome.FAIL}
    creation = {"C-INITIATE-STUDY", "C-INITIATE-SERIES", "C-INITIATE-INSTANCE"}
    if not claims_everything:
        assert failed == {"A-NEGOTIATE"}, outcomes
        assert "Inventory Creation: rejected" in report.result("A-NEGOTIATE").evidence
        return
    assert outcomes["A-NEGOTIATE"] is Outcome.PASS
    assert creation | {"Q-RQ-PAGING"} <= failed, outcomes
    assert "aborted the association" in report.result("C-INITIATE-STUDY").evidence[0]
    paging = " ".join(report.result("Q-RQ-PAGING").evidence)
    assert "14 record(s) without the Record Key" in paging, paging
    assert "page 1: 14 records; Maximum Number of Records was 10" in paging, paging


@pytest.mark.parametrize(("studies", "expected"), [(1, Outcome.NOT_APPLICABLE), (6, Outcome.PASS)])
def test_repository_query_paging_is_judged_only_where_it_pages(
    tmp_path: Path, studies: int, expected: Outcome
) -> None:
    """An archive too small to page gets NOT APPLICABLE, never PASS; one that fits in a
    single response set of 10 is paged again with a smaller limit, so paging is exercised."""
    with Archive(tmp_path / "archive", create=True) as a:
        synthesize(a, studies=studies, series_per_study=1, instances_per_series=1)
    config = load_config(
        archive=tmp_path / "archive", port=0, ae_title="INV_SCP", limits={"dimse_timeout": 10}
    )
    node = InventoryNode(config)
    node.start()
    try:
        from dicom_inventory.conformance.testkit.scp import _Run, rq_paging

        kit = ScpKit(Peer("INV_SCP", "127.0.0.1", node.port), KIT_AE, free_port())
        verdict = rq_paging(_Run(kit), {})
    finally:
        node.stop()
    assert verdict.outcome is expected, verdict.evidence
    if studies == 6:
        assert any("Maximum Number of Records 3: 2 page(s)" in e for e in verdict.evidence)
    else:
        assert any("too few to page" in e for e in verdict.evidence)


def test_the_kits_documentation_is_its_registry() -> None:
    """docs/testkit-checks.md is the output of ``testkit checks``: every check of both kits,
    with the section it judges, as the kits run them."""
    from dicom_inventory.cli.testkit import checks_markdown
    from dicom_inventory.conformance.testkit.scp import CHECKS as SCP
    from dicom_inventory.conformance.testkit.scu import CHECKS as SCU

    page = (Path(__file__).resolve().parents[2] / "docs" / "testkit-checks.md").read_text()
    assert page == checks_markdown(), (
        "regenerate: dicom-inventory testkit checks > docs/testkit-checks.md"
    )
    for c in [*SCP.checks, *SCU.checks]:
        assert f"`{c.id}`" in page and c.section in page
