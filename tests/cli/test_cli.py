"""The dicom-inventory command, run as a real console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from tests.conftest import require_tool


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dicom-inventory", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture
def sample(tmp_path: Path) -> list[Path]:
    r = run(
        "sample",
        "--out",
        str(tmp_path / "inv"),
        "--studies",
        "6",
        "--series-per-study",
        "2",
        "--instances-per-series",
        "3",
        "--max-records",
        "20",
    )
    assert r.returncode == 0, r.stderr
    paths = [Path(line.split()[0]) for line in r.stdout.splitlines() if line.strip()]
    assert len(paths) == 4 and all(p.is_file() for p in paths)  # root + 3 leaves
    return paths


def test_sample_validate_show(sample: list[Path]) -> None:
    r = run("validate", *map(str, sample))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 error(s), 0 warning(s), 0 unreadable" in r.stdout
    r = run("show", str(sample[1]), "--records", "2")
    assert r.returncode == 0, r.stderr
    assert "INSTANCE" in r.stdout and "PARTIAL" in r.stdout and "Study records" in r.stdout


def test_validate_json(sample: list[Path]) -> None:
    r = run("validate", "--format", "json", *map(str, sample))
    doc = json.loads(r.stdout)
    assert doc["errors"] == 0 and doc["findings"] == [] and doc["unreadable"] == []
    assert doc["files"] == [str(p) for p in sample]


def test_validate_reports_errors_with_exit_1(sample: list[Path], tmp_path: Path) -> None:
    ds = pydicom.dcmread(sample[1])
    del ds.NumberOfStudyRecordsInInstance
    bad = tmp_path / "bad.dcm"
    ds.save_as(bad, enforce_file_format=True)
    r = run("validate", "--format", "json", str(bad))
    assert r.returncode == 1
    findings = json.loads(r.stdout)["findings"]
    assert {f["rule"] for f in findings} == {"type1-missing"}
    finding = findings[0]
    assert (
        finding["rule"] == "type1-missing" and finding["path"] == "NumberOfStudyRecordsInInstance"
    )
    assert finding["section"].startswith("PS3.3")
    r = run("validate", str(bad))
    assert r.returncode == 1 and "type1-missing" in r.stdout


def test_unreadable_files_exit_2_without_traceback(tmp_path: Path, sample: list[Path]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM\n" * 50)
    r = run("validate", str(text))
    assert r.returncode == 2
    assert "notes.txt" in r.stderr and "DICM" in r.stderr and "Traceback" not in r.stderr + r.stdout
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(sample[1].read_bytes()[:3000])
    r = run("validate", str(cut), str(sample[2]))
    assert r.returncode == 2 and "truncated" in r.stderr and "Traceback" not in r.stderr
    r = run("show", str(text))
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    r = run("show", str(tmp_path / "missing.dcm"))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_demo_and_python_m(tmp_path: Path) -> None:
    r = run("demo", "--dir", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "demo ok" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and "dicom-inventory" in r.stdout


@pytest.mark.peer
@pytest.mark.parametrize("deflate", [False, True])
def test_dcmdump_parses_what_we_write(tmp_path: Path, deflate: bool) -> None:
    """DCMTK's dcmdump (a real, independent parser) reads every file without encoding errors.

    Its 3.6.7 dictionary lacks the Inventory tags ("Unknown Tag & Data"): expected.
    """
    dcmdump = require_tool("dcmdump")
    args = [
        "sample",
        "--out",
        str(tmp_path),
        "--studies",
        "3",
        "--series-per-study",
        "2",
        "--instances-per-series",
        "2",
        "--max-records",
        "12",
    ]
    r = run(*args, *(["--deflate"] if deflate else []))
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        path = line.split()[0]
        d = subprocess.run([dcmdump, "-M", "+L", path], capture_output=True, text=True, timeout=60)
        assert d.returncode == 0, d.stderr
        output = (d.stdout + d.stderr).lower()
        for bad in ("error", "warning", "illegal", "corrupt", "parse"):
            assert bad not in output, (bad, d.stdout[-2000:], d.stderr)
        assert "(fffe,e0dd)" in output  # the undefined-length sequences were walked to their ends
        if "PARTIAL" in line:
            assert "(0020,000d)" in output and "(0008,0018)" in output  # records parsed


def test_archive_commands_end_to_end(tmp_path: Path) -> None:
    arch = tmp_path / "arch"
    r = run("archive", "synth", "--archive", str(arch), "--studies", "6")
    assert r.returncode == 0 and "72 instances" in r.stdout, r.stdout + r.stderr
    r = run("archive", "ingest", str(arch / "store"), "--archive", str(arch))
    assert r.returncode == 0 and "added 0, already indexed 72" in r.stdout
    study = "1.2.826.0.1.3680043.10.543.0.1"
    r = run(
        "archive",
        "update",
        "--archive",
        str(arch),
        "--study",
        study,
        "--set",
        "PatientName=New^Name",
    )
    assert r.returncode == 0, r.stderr
    r = run(
        "archive",
        "update",
        "--archive",
        str(arch),
        "--study",
        study,
        "--series",
        f"{study}.1",
        "--set",
        "Modality=MR",
    )
    assert r.returncode == 2 and "exactly one of" in r.stderr
    r = run("archive", "update", "--archive", str(arch), "--study", study, "--set", "Modality=MR")
    assert (
        r.returncode == 2
        and "not a STUDY-level attribute" in r.stderr
        and "Traceback" not in r.stderr
    )
    r = run(
        "create",
        "--archive",
        str(arch),
        "--level",
        "STUDY",
        "--out",
        str(tmp_path / "x"),
        "--scope",
        "StudyDate=2020-01-01",
    )
    assert r.returncode == 2 and "StudyDate" in r.stderr and not (tmp_path / "x").exists()
    r = run(
        "create",
        "--archive",
        str(tmp_path / "missing"),
        "--level",
        "STUDY",
        "--out",
        str(tmp_path / "y"),
    )
    assert r.returncode == 2 and "no archive at" in r.stderr
    r = run(
        "create",
        "--archive",
        str(arch),
        "--level",
        "INSTANCE",
        "--out",
        str(tmp_path / "inv"),
        "--partitions",
        "3",
    )
    assert r.returncode == 0, r.stderr
    files = [line.split()[0] for line in r.stdout.splitlines()]
    assert run("validate", *files).returncode == 0
    r = run("show", files[0])
    assert (
        "COMPLETE" in r.stdout and "Total study records\t6" in r.stdout
    )  # tab-separated off a terminal
