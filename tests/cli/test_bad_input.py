"""Bad input gets a clear error and the usage exit code (issue 21).

Each case runs the real command in a subprocess, on real folders: a ``serve`` on a folder that
holds no archive, an ``archive ingest`` of a source that does not exist, a scope key whose date
is not a date of the calendar (PS3.5 Table 6.2-1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.archive.synth import synthesize

CLI = (sys.executable, "-m", "dicom_inventory")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def _usage_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error message of a command that must end as a usage error, on one logical line."""
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr, done.stderr
    return " ".join(done.stderr.split())  # the terminal may wrap it; the words are what count


# -- serve ------------------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["flag", "config"])
def test_serve_refuses_a_folder_without_an_archive(tmp_path: Path, given: str) -> None:
    """Today's surprise: an empty archive made and served silently, every query answered empty."""
    missing = tmp_path / "nosuch"
    if given == "flag":
        done = _run("serve", "--archive", str(missing), "--port", "0")
    else:
        (tmp_path / "node.toml").write_text('archive = "nosuch"\nport = 0\n')
        done = _run("serve", "--config", str(tmp_path / "node.toml"))
    message = _usage_error(done)
    assert f"no archive at {missing}" in message and "serve --create" in message
    assert not missing.exists()


def test_serve_create_starts_with_an_empty_archive(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    proc = subprocess.Popen(
        [*CLI, "serve", "--archive", str(folder), "--port", "0", "--create"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "" if the node ended: then the assertion shows why
        assert line.startswith("listening as"), line + proc.stderr.read() if proc.stderr else ""
        assert (folder / "index.sqlite").is_file()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == ExitCode.OK and "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with Archive(folder) as a:  # an archive, opened without create
        assert a.counts()["instances"] == 0


# -- archive ingest ---------------------------------------------------------------------------
def test_ingest_of_a_missing_source_is_refused_before_anything_is_indexed(tmp_path: Path) -> None:
    """Today: exit 0 with 'added 0'. Every missing source is named; nothing is ingested."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "1.dcm").write_bytes(to_part10(make_image(study_uid="1.2.3", series_uid="1.2.3.1")))
    archive = tmp_path / "arch"
    done = _run(
        "archive", "ingest", "--archive", str(archive), "nosuchdir", str(real), "gone.zip",
        cwd=tmp_path,
    )  # fmt: skip
    message = _usage_error(done)
    assert "no such file or folder: nosuchdir, gone.zip" in message, message
    assert "nothing ingested" in message and not archive.exists()
    done = _run("archive", "ingest", "--archive", str(archive), str(real))
    assert done.returncode == ExitCode.OK and "added 1" in done.stdout, done.stdout + done.stderr


# -- scope keys -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad-input") / "archive"
    with Archive(folder, create=True) as a:
        synthesize(a, studies=1, series_per_study=1, instances_per_series=1)
    return folder


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("StudyDate=20211301-", "'20211301' is not a valid date: month 13 is not in 01-12"),
        ("StudyDate=-20210230", "day 30 is not in 01-28 for month 02 of 2021"),
        ("StudyTime=1260", "minute 60 is not in 00-59"),
    ],
)
def test_a_scope_date_off_the_calendar_is_refused(
    small_archive: Path, tmp_path: Path, key: str, reason: str
) -> None:
    """PS3.5 Table 6.2-1 (DA: a Gregorian date; TM: HH 00-23, MM 00-59, SS 00-60), ranges
    PS3.4 C.2.2.2.5. Today StudyDate=20211301- passed the pattern check."""
    out = tmp_path / "inv"
    done = _run(
        "create", "--archive", str(small_archive), "--level", "STUDY", "--scope", key,
        "--out", str(out),
    )  # fmt: skip
    message = _usage_error(done)
    assert reason in message and "PS3.5 Table 6.2-1" in message, message
    assert not out.exists() or not any(out.rglob("*.dcm"))
