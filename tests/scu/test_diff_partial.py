"""diff never calls "missing" what a side could not prove absent (issue 21, round 2).

* A side whose listing is PARTIAL (Inventory Completion Status (0008,0426), PS3.3 C.38.1.1.3;
  a crawl whose C-FIND answers were truncated) proves no absence: what only the other side
  lists is "not listed by" it, the verdict is INCOMPLETE and the exit code 3 (done in part),
  with the status shown in text, JSON and the HTML page. Before the fix: ``missing 3 ...
  -> DIFFERENT``, exit 1, and a page saying "DIFFERENT: 3 missing" in red.
* Entities removed from operational use are hidden by a live archive's Study Root C-FIND
  (PS3.4 C.6.4.5.4): an archive's inventory compared with the archive itself is not
  "missing" them. Before the fix: ``missing 2 ... -> DIFFERENT``, exit 1.
* Values print as DICOM text (``20210702 -> 20211301``, ``N -> Y``), never Python reprs.

Real sockets (a raw pynetdicom Study Root SCP that caps its answers, as Orthanc's
LimitFindInstances does; a real ``serve`` child), real files, the command in child processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    encode_inventory,
    iter_inventory,
    synthetic_studies,
)
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.enum import InventoryCompletionStatus
from dicom_inventory.model import StudyRecord
from dicom_inventory.scu.diff import diff_inventories
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from tests.scp.raw_peer import free_port
from tests.scu.find_peers import ARCHIVE, CT_IMAGE, listing_scp

#: A guard against a hang only.
HANG = 120
#: The image-level cap of the capped peer: each series of :data:`ARCHIVE` holds 2 instances.
CAP = 1
#: Orthanc ends a capped answer with Cancel (0xFE00) after its pending responses.
CANCEL, PENDING, SUCCESS = 0xFE00, 0xFF00, 0x0000


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`dicom-inventory ARGS` in a child process, as a user runs it."""
    cmd = [sys.executable, "-m", "dicom_inventory", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HANG)


def _ds(level: str, **values: Any) -> Dataset:
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    ds.QueryRetrieveLevel = level
    return ds


@contextmanager
def capped_scp() -> Iterator[int]:
    """A Study Root FIND SCP over :data:`ARCHIVE` answering at most :data:`CAP` instances per
    series, then Cancel: the image-level listing is truncated, as with Orthanc's
    LimitFindInstances. Yields its port."""

    def handle(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        q = event.identifier
        level = q.QueryRetrieveLevel
        for n, (study, series) in enumerate(ARCHIVE.items()):
            if level == "STUDY":
                yield (
                    PENDING,
                    _ds(
                        level,
                        StudyInstanceUID=study,
                        PatientID=f"P{n:03d}",
                        PatientName=f"Doe^{n}",
                        StudyDate=f"2020010{n + 1}",
                        StudyTime="120000",
                    ),
                )
                continue
            if q.StudyInstanceUID != study:
                continue
            for se, sops in series.items():
                if level == "SERIES":
                    yield (
                        PENDING,
                        _ds(level, StudyInstanceUID=study, SeriesInstanceUID=se, Modality="CT"),
                    )
                elif level == "IMAGE" and q.SeriesInstanceUID == se:
                    for k, sop in enumerate(sops[:CAP]):
                        yield (
                            PENDING,
                            _ds(
                                level,
                                SOPInstanceUID=sop,
                                SOPClassUID=CT_IMAGE,
                                InstanceNumber=k + 1,
                            ),
                        )
                    if len(sops) > CAP:
                        yield CANCEL, None
                        return
        yield SUCCESS, None

    ae = AE(ae_title="PACS")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, handle)]
    )
    try:
        yield port
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COMPLETE inventory of :data:`ARCHIVE`, crawled by the command from an uncapped peer."""
    out = tmp_path_factory.mktemp("whole")
    with listing_scp() as port:
        done = run_cli("crawl", "--peer", f"PACS@127.0.0.1:{port}", "--out", str(out))
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    (root,) = out.glob("*.dcm")
    return root


N_INSTANCES = sum(len(sops) for series in ARCHIVE.values() for sops in series.values())
N_UNLISTED = N_INSTANCES - CAP * sum(len(series) for series in ARCHIVE.values())


def _assert_incomplete(done: subprocess.CompletedProcess[str], unlisted: int) -> None:
    assert done.returncode == ExitCode.PARTIAL, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert "missing 0, extra 0" in out, out
    assert "INCOMPLETE" in out and "DIFFERENT" not in out, out
    assert "Inventory Completion Status PARTIAL" in out, out
    assert (
        f"not compared: {unlisted} in the source only; the destination's listing is PARTIAL" in out
    )


def test_a_truncated_crawl_lists_entities_as_not_listed_not_missing(
    whole: Path, tmp_path: Path
) -> None:
    crawled = tmp_path / "CR"
    with capped_scp() as port:
        done = run_cli("crawl", "--peer", f"PACS@127.0.0.1:{port}", "--out", str(crawled))
        assert done.returncode != ExitCode.OK and "PARTIAL" in done.stderr, done.stderr
        # the live archive, compared now: the crawl's problems are shown
        page = tmp_path / "live.html"
        live = run_cli("diff", str(whole), f"dicom:PACS@127.0.0.1:{port}", "--html", str(page))
    files = sorted(map(str, crawled.glob("*.dcm")))

    offline = run_cli("diff", str(whole), *files)
    _assert_incomplete(offline, N_UNLISTED)
    assert "not listed by destination" in offline.stdout  # each entity, by its own kind
    _assert_incomplete(live, N_UNLISTED)
    assert "response set truncated" in live.stdout  # the crawl's problems, in the report
    html = page.read_text(encoding="utf-8")
    assert "INCOMPLETE" in html and "PARTIAL" in html and "response set truncated" in html
    assert "DIFFERENT" not in html and "not listed by the destination (partial listing)" in html
    assert "None proven: the destination&#39;s listing is PARTIAL" in html  # not "Missing: None."

    as_json = run_cli("diff", str(whole), *files, "--format", "json")
    assert as_json.returncode == ExitCode.PARTIAL, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["verdict"] == "INCOMPLETE" and not data["identical"] and data["missing"] == 0
    assert data["not_compared"]["not_listed_by_destination"] == N_UNLISTED
    assert data["completion"]["destination"]["completion_status"] == "PARTIAL"
    assert data["completion"]["source"]["completion_status"] == "COMPLETE"
    # and the other way round: what only a PARTIAL source lists is not extra
    back = run_cli("diff", *files, str(whole), "--format", "json")
    assert back.returncode == ExitCode.PARTIAL, back.stdout + back.stderr
    data = json.loads(back.stdout)
    assert data["extra"] == 0 and data["not_compared"]["not_listed_by_source"] == N_UNLISTED


# ------------------------------------------------------------------- encoder-made inventories
def _studies() -> list[StudyRecord]:
    out = []
    for st in synthetic_studies(2, series_per_study=1, instances_per_series=3):
        out.append(
            replace(st, series=[replace(se, instances=list(se.instances)) for se in st.series])
        )
    return out


def _write(
    path: Path, studies: list[StudyRecord], uid: str, status: InventoryCompletionStatus
) -> Path:
    header = InventoryHeader(
        uid,
        InventoryLevel.INSTANCE,
        content_date="20261207",
        content_time="100000",
        completion_status=status,
        inventory_instance_description=(
            "instances of series 2.25.9: response set truncated"
            if status == InventoryCompletionStatus.PARTIAL
            else None
        ),
    )
    path.write_bytes(encode_inventory(header, studies))
    return path


def test_a_real_difference_beside_a_partial_side_is_different(tmp_path: Path) -> None:
    old, new = _studies(), _studies()
    new[0] = replace(new[0], study_date="20211301")
    del new[1].series[0].instances[0]  # not listed by the PARTIAL side: not known to be lost
    a = _write(tmp_path / "a.dcm", old, "2.25.11", InventoryCompletionStatus.COMPLETE)
    b = _write(tmp_path / "b.dcm", new, "2.25.12", InventoryCompletionStatus.PARTIAL)
    report = diff_inventories([a], [b], workdir=tmp_path, parallel=False)
    # one per instance row of the study (compared at INSTANCE level)
    assert report.verdict == "DIFFERENT" and report.different == 3 and report.missing == 0
    assert report.not_listed_by_destination == 1
    assert report.destination_status.problems == [
        "b.dcm: Inventory Completion Status PARTIAL (instances of series 2.25.9: response set "
        "truncated)"
    ]
    text = report.to_text()
    assert f"study_date: {old[0].study_date} -> 20211301" in text, text  # no quotes: no repr
    assert "'2" not in text and "None" not in text, text
    done = run_cli("diff", str(a), str(b))
    assert done.returncode == ExitCode.FINDINGS, done.stdout + done.stderr


def test_a_partial_leaf_under_a_complete_root_is_complete(tmp_path: Path) -> None:
    """Only a root speaks for its tree (PS3.17 YYYY.3.3.2.1): serial production's PARTIAL leaves."""
    from dicom_inventory import write_inventory

    studies = _studies()
    header = InventoryHeader(
        "2.25.21", InventoryLevel.INSTANCE, content_date="20261207", content_time="100000"
    )
    written = write_inventory(tmp_path / "tree", header, studies, max_records=1)
    files = [str(w.path) for w in written]
    assert len(files) > 1
    a = _write(tmp_path / "a.dcm", studies, "2.25.22", InventoryCompletionStatus.COMPLETE)
    report = diff_inventories([a], files, workdir=tmp_path, parallel=False)
    assert report.verdict == "IDENTICAL", report.to_text()


# ------------------------------------------------------------- removed from operational use
@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """An archive with one study removed from operational use, its inventory, and a ``serve``
    of it: (inventory root, the node's AE@HOST:PORT, the removed study)."""
    archive = tmp_path / "A"
    done = run_cli(
        "archive", "synth", "--archive", str(archive), "--studies", "2",
        "--series-per-study", "1", "--instances-per-series", "2", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = run_cli(
        "create", "--archive", str(archive), "--level", "INSTANCE", "--out", str(tmp_path / "first")
    )
    assert done.returncode == 0, done.stderr
    first = sorted((tmp_path / "first").glob("*.dcm"))
    study = min(st.study_instance_uid for st in iter_inventory(first))
    done = run_cli("archive", "remove", "--archive", str(archive), "--study", study)
    assert done.returncode == 0, done.stderr
    inv = tmp_path / "INV"
    done = run_cli("create", "--archive", str(archive), "--level", "INSTANCE", "--out", str(inv))
    assert done.returncode == 0, done.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "dicom_inventory", "serve", "--archive", str(archive)]
        + ["--port", "0", "--ae-title", "INV_SCP"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "listening as AE@HOST:PORT"
        assert line.startswith("listening as "), line
        yield inv, line.split()[-1], study
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_removed_entities_hidden_by_a_live_archive_are_not_missing(
    served: tuple[Path, str, str],
) -> None:
    inv, peer, study = served
    files = sorted(map(str, inv.glob("*.dcm")))
    done = run_cli("diff", *files, f"dicom:{peer}", "--format", "json")
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["verdict"] == "IDENTICAL" and data["missing"] == 0
    assert data["not_compared"]["removed_not_in_destination"] == 2  # the study's 2 instances
    entries = [e for p in data["patients"].values() for es in p.values() for e in es]
    assert {e["kind"] for e in entries} == {"removed_not_in_destination"}
    assert len(data["patients"]) == 1 and study in next(iter(data["patients"].values()))
    text = run_cli("diff", *files, f"dicom:{peer}").stdout
    assert (
        "not compared: 2 removed from operational use in the source, absent from the destination"
        in text
    ), text
