"""Ctrl-C during ``create``: exit 130, one line, no worker tracebacks, outputs whole (issue 21).

Each test runs the real command on a pseudo-terminal in its own process group and sends SIGINT
to the group (what Ctrl-C does) once production has started, then checks the terminal, the
exit code and the folders. ``--max-records 1`` makes production write one file per study, so
that it lasts long enough to be interrupted on a small archive.

Before the fix: ``--replace`` left its staging folder ``.NAME.replacing`` behind; on Dask,
every worker process printed a ``KeyboardInterrupt`` traceback (and the scheduler its
warnings); ``create`` showed no progress at all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.read import resolve_tree, tree_paths
from dicom_inventory.scp.production.partitioned import STATE_FILE

from tests.cli.terminal import Terminal


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arch = tmp_path_factory.mktemp("interrupt") / "arch"
    r = run("archive", "synth", "--archive", arch, "--studies", "60", "--series-per-study", "2")
    assert r.returncode == 0, r.stderr
    return arch


def _create(arch: Path, out: Path, *extra: str) -> Terminal:
    return Terminal(
        "create", "--archive", arch, "--level", "INSTANCE", "--out", out, "--max-records", "1",
        *extra,
    )  # fmt: skip


def _interrupted(t: Terminal) -> None:
    """The command ended as Ctrl-C must end it."""
    code = t.finish()
    assert "Traceback" not in t.text, t.text
    assert code == ExitCode.INTERRUPTED, t.text
    lines = [line for line in t.text.splitlines() if line.strip()]
    assert lines[-1] == "error: interrupted", t.text
    assert sum("error" in line.lower() for line in lines) == 1, t.text  # one line


def _files(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((str(p.relative_to(folder)), p.read_bytes()) for p in folder.rglob("*.dcm"))


def test_interrupted_create_is_marked_and_resumes(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "inv"
    t = _create(archive, out)
    t.wait_for(lambda: any(out.glob("part-*/*.dcm")), "a partition file")
    t.ctrl_c()
    _interrupted(t)
    assert (out / STATE_FILE).exists()  # marked unfinished: not taken for an inventory
    assert not list(out.glob("*.dcm"))  # no root over missing partitions
    again = run("create", "--archive", archive, "--level", "INSTANCE", "--out", out,
                "--max-records", "1")  # fmt: skip
    assert again.returncode == 0, again.stderr
    [root] = out.glob("*.dcm")
    assert len(tree_paths(root)) > 60  # whole: the root and every study's file


def test_interrupted_replace_keeps_the_old_tree_and_no_staging(
    archive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "inv"
    first = run("create", "--archive", archive, "--level", "SERIES", "--out", out)
    assert first.returncode == 0, first.stderr
    before = _files(out)
    staging = tmp_path / ".inv.replacing"
    t = _create(archive, out, "--replace")
    t.wait_for(lambda: any(staging.glob("part-*/*.dcm")), "a partition file in the staging folder")
    t.ctrl_c()
    _interrupted(t)
    assert _files(out) == before  # the previous tree, untouched
    [root] = out.glob("*.dcm")
    resolve_tree(root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv"]  # no staging folder behind


def test_interrupted_create_on_dask_prints_no_worker_traceback(
    archive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "inv"
    t = _create(archive, out, "--dask", "local", "--partitions", "8")
    # the workers have started once a partition folder appears
    t.wait_for(lambda: any(out.glob("part-*")), "a partition folder")
    t.ctrl_c()
    _interrupted(t)
    assert "distributed" not in t.text, t.text  # no scheduler/nanny warnings either
    assert not list(out.glob("*.dcm"))  # no root: the folder stays marked unfinished
