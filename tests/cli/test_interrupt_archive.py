"""Ctrl-C during ``archive synth`` and ``archive ingest``: exit 130, one line, whole outputs.

Each command runs for real on a pseudo-terminal in its own process group; SIGINT goes to the
group (what Ctrl-C does) once its progress display shows work done. Then: no traceback, exit
130 with the one line ``error: interrupted``, an index SQLite finds intact, no truncated or
temporary file left, and the same command run again finishes the job.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scp.archive import Archive, IngestError, find_objects
from dicom_inventory.scp.archive.synth import synthesize

from tests.cli.terminal import Terminal

#: Enough objects for the commands to last a few seconds on a loaded machine.
STUDIES, SERIES, INSTANCES = 40, 2, 4
TOTAL = STUDIES * SERIES * INSTANCES


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _interrupted(t: Terminal) -> None:
    code = t.finish()
    assert "Traceback" not in t.text, t.text
    assert code == ExitCode.INTERRUPTED, t.text
    lines = [line for line in t.text.splitlines() if line.strip()]
    assert lines[-1] == "error: interrupted", t.text


def _intact(index: Path) -> None:
    with sqlite3.connect(index) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _counts(arch: Path) -> dict[str, int]:
    with Archive(arch) as a:
        return a.counts()


def _synth(arch: Path) -> Terminal:
    return Terminal(
        "archive", "synth", "--archive", arch, "--studies", STUDIES,
        "--series-per-study", SERIES, "--instances-per-series", INSTANCES,
    )  # fmt: skip


@pytest.mark.parametrize("step", ["writing images", "indexing"])
def test_interrupted_synth_leaves_whole_files_and_finishes_when_run_again(
    tmp_path: Path, step: str
) -> None:
    arch = tmp_path / "arch"
    t = _synth(arch)
    t.wait_for(t.shows(rf"{step} .* [1-9]\d*/\d+ "), f"{step} under way")
    t.ctrl_c()
    _interrupted(t)
    _intact(arch / "index.sqlite")
    store = arch / "store"
    assert not [p for p in store.rglob("*") if p.name.endswith(".partial")]
    # every file left is whole: each object in it is read without an error
    assert not [f for f in find_objects(store) if isinstance(f, IngestError)]
    again = run("archive", "synth", "--archive", arch, "--studies", STUDIES,
                "--series-per-study", SERIES, "--instances-per-series", INSTANCES)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert _counts(arch)["instances"] == TOTAL


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stored objects to ingest: the files of a synthesized archive."""
    arch = tmp_path_factory.mktemp("source") / "arch"
    with Archive(arch, create=True) as a:
        synthesize(a, studies=STUDIES, series_per_study=SERIES, instances_per_series=INSTANCES)
    return arch / "store"


def test_interrupted_ingest_keeps_a_consistent_index_and_a_rerun_continues(
    source: Path, tmp_path: Path
) -> None:
    arch = tmp_path / "arch"
    t = Terminal("archive", "ingest", "--archive", arch, source)
    t.wait_for(t.shows(r"indexing: [1-9][\d,]* objects"), "indexing under way")
    t.ctrl_c()
    _interrupted(t)
    _intact(arch / "index.sqlite")
    indexed = _counts(arch)["instances"]
    assert indexed < TOTAL  # stopped part-way
    again = run("archive", "ingest", "--archive", arch, source)
    assert again.returncode == 0, again.stderr
    assert f"added {TOTAL - indexed}, already indexed {indexed}, skipped 0" in again.stdout
    assert _counts(arch)["instances"] == TOTAL


def test_a_copy_cut_short_is_copied_again(source: Path, tmp_path: Path) -> None:
    """``ingest --copy`` stopped while it copies a container: the next run copies it again.

    The state an interrupted copy left before the fix (a truncated file under the copy's own
    name, which the next run took as done and indexed) is made by truncating a copy.
    """
    container = sorted(source.rglob("*.zip"))[0]
    arch = tmp_path / "arch"
    first = run("archive", "ingest", "--archive", arch, "--copy", container)
    assert first.returncode == 0, first.stderr
    [copy] = (arch / "store").glob("*.zip")
    whole = copy.read_bytes()
    copy.write_bytes(whole[: len(whole) // 2])  # what Ctrl-C during the copy left
    again = run("archive", "ingest", "--archive", arch, "--copy", container)
    assert again.returncode == 0, again.stderr
    assert copy.read_bytes() == whole
    assert not [p for p in (arch / "store").iterdir() if p.name.endswith(".partial")]
