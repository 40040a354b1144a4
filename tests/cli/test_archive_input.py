"""Bad input to the archive commands is refused before anything is written (issue 21, round 2).

Each case runs the real command in a subprocess on a real archive: ``archive update`` with a
value its VR does not allow (PS3.5 Table 6.2-1), ``archive synth`` and ``create`` with counts
below one, ``create --dask`` naming a scheduler nothing answers at, and ``archive ingest`` of
files that are not DICOM files (PS3.10 7.1).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scp.archive import Archive, ArchiveError
from dicom_inventory.scp.archive.synth import synthesize

CLI = (sys.executable, "-m", "dicom_inventory")
STUDY = "1.2.826.0.1.3680043.10.543.0.1"
INSTANCE = f"{STUDY}.1.1"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, check=False)


def _error(done: subprocess.CompletedProcess[str], code: ExitCode = ExitCode.USAGE) -> str:
    """The one error line of a command that must fail with `code`, its wrapping undone."""
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr, done.stderr
    return " ".join(done.stderr.split())


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive") / "A"
    with Archive(folder, create=True) as a:
        synthesize(a, studies=2, series_per_study=1, instances_per_series=2)
    return folder


def _changes(folder: Path) -> int:
    with sqlite3.connect(folder / "index.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM changes").fetchone()[0])


# -- archive update ----------------------------------------------------------------------------
def test_update_refuses_a_value_its_vr_does_not_allow(archive: Path) -> None:
    """Before: exit 0, and every inventory made afterwards failed validation (value-format)."""
    before = _changes(archive)
    done = _run(
        "archive", "update", "--archive", str(archive), "--study", STUDY,
        "--set", "StudyDate=20211301",
    )  # fmt: skip
    message = _error(done)
    assert message == (
        "error: StudyDate: value '20211301' is not a valid date: month 13 is not in 01-12 "
        "(PS3.5 Table 6.2-1); nothing updated"
    )
    assert _changes(archive) == before  # nothing recorded


@pytest.mark.parametrize(
    ("level", "assignment", "problem"),
    [
        ("STUDY", "StudyDate=20211301-", "is longer than 8 characters (VR DA"),
        ("STUDY", "StudyDate=20230229", "day 29 is not in 01-28 for month 02 of 2023"),
        ("STUDY", "StudyTime=250000", "hour 25 is not in 00-23"),
        ("STUDY", "PatientSex=male", "is not valid for VR CS"),
        ("STUDY", "StudyID=12345678901234567", "is longer than 16 characters (VR SH"),
        ("STUDY", "PatientID=A\tB", "holds a control character (VR LO"),
        ("STUDY", "PatientName=A=B=C=D", "more than 3 component groups (VR PN"),
        ("STUDY", "StudyDate=20210101\\20210102", "StudyDate holds at most 1 (VM 1"),
        ("INSTANCE", "Rows=70000", "is not in 0..65535 (VR US"),
        ("INSTANCE", "Columns=-1", "is not in 0..65535 (VR US"),
        ("INSTANCE", "InstanceNumber=one", "is not valid for VR IS"),
        ("INSTANCE", "InstanceNumber=9999999999", "is not in -2^31..2^31-1"),
    ],
)
def test_the_archive_refuses_each_value_its_vr_does_not_allow(
    archive: Path, level: str, assignment: str, problem: str
) -> None:
    """The one check is the archive's (SQLArchive.update): PostgreSQL's archive inherits it."""
    keyword, _, value = assignment.partition("=")
    before = _changes(archive)
    with Archive(archive) as a, pytest.raises(ArchiveError) as caught:
        a.update(level, STUDY if level == "STUDY" else INSTANCE, {keyword: value})
    message = str(caught.value)
    assert message.startswith(f"{keyword}: ") and problem in message, message
    assert "PS3." in message and message.endswith("nothing updated")
    assert _changes(archive) == before


def test_update_refuses_an_attribute_the_archive_does_not_record(archive: Path) -> None:
    done = _run(
        "archive", "update", "--archive", str(archive), "--study", STUDY, "--set", "Modality=CT"
    )
    message = _error(done)
    assert "Modality is not a STUDY-level attribute" in message and "StudyDate" in message


def test_a_valid_update_makes_a_valid_inventory(archive: Path, tmp_path: Path) -> None:
    """The values given are kept as ingest keeps them (an IS or US as a number)."""
    work = tmp_path / "A"
    with Archive(work, create=True) as a:
        synthesize(a, studies=1, series_per_study=1, instances_per_series=1)
    with Archive(work) as a:
        a.update("STUDY", STUDY, {"StudyDate": "20240229"})  # a leap day
    done = _run(
        "archive", "update", "--archive", str(work), "--instance", INSTANCE,
        "--set", "Rows=512", "--set", "InstanceNumber=7",
    )  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    with sqlite3.connect(work / "index.sqlite") as db:
        attrs = json.loads(db.execute("SELECT attrs FROM instances").fetchone()[0])
    assert attrs["Rows"] == 512 and attrs["InstanceNumber"] == 7
    out = tmp_path / "inv"
    done = _run("create", "--archive", str(work), "--level", "INSTANCE", "--out", str(out))
    assert done.returncode == ExitCode.OK, done.stderr
    done = _run("validate", *map(str, sorted(out.rglob("*.dcm"))))
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "0 error(s)" in done.stdout


# -- counts --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--studies", "-1"),
        ("--instances-per-series", "0"),
        ("--seed", "100000000"),  # 9 digits: the Accession Numbers would not fit VR SH
    ],
)
def test_synth_refuses_a_count_it_cannot_make(tmp_path: Path, option: str, value: str) -> None:
    """Before: ``--studies -1`` printed 'made -1 studies', made an empty archive, exit 0."""
    folder = tmp_path / "NEG"
    message = _error(_run("archive", "synth", "--archive", str(folder), option, value))
    assert (option in message or option.removeprefix("--") in message) and value in message
    assert not folder.exists()


def test_create_refuses_max_records_below_one(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "inv"
    done = _run(
        "create", "--archive", str(archive), "--level", "STUDY", "--out", str(out),
        "--max-records", "0",
    )  # fmt: skip
    assert "--max-records" in _error(done) and not out.exists()


# -- create --dask -------------------------------------------------------------------------------
def _closed_port() -> int:
    """A port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("existing", [False, True])
def test_create_on_an_unreachable_scheduler_says_so_and_leaves_nothing(
    archive: Path, tmp_path: Path, existing: bool
) -> None:
    """Before: 30 s of silence, 'Timed out trying to connect', and production.json left behind."""
    address = f"tcp://127.0.0.1:{_closed_port()}"
    out = tmp_path / "DASK2"
    if existing:
        out.mkdir()
    done = _run(
        "create", "--archive", str(archive), "--level", "STUDY", "--out", str(out),
        "--dask", address,
    )  # fmt: skip
    message = _error(done, ExitCode.PEER)
    assert f"cannot reach the Dask scheduler at {address}" in message, message
    assert out.exists() == existing
    assert not (out / "production.json").exists()


# -- archive ingest -------------------------------------------------------------------------------
def test_ingest_skip_lines_say_what_was_expected(tmp_path: Path) -> None:
    """Before: each line ended with pydicom's 'Use force=True to force reading.'."""
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not DICOM\n" * 20)
    (junk / "short.dcm").write_bytes(b"\0" * 100)
    done = _run("archive", "ingest", "--archive", str(tmp_path / "J"), str(junk))
    assert done.returncode == ExitCode.PARTIAL, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("skipped")]
    assert len(lines) == 2, done.stderr
    for line in lines:
        assert "expected a 128-byte preamble and the prefix 'DICM'" in line and "PS3.10" in line
        assert "force" not in line
