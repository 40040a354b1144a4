"""``create --out DIR`` into a folder that already holds a tree (issue 21).

Before the fix the partitions were rewritten under new UIDs and the old root stayed beside
them, pointing at deleted leaves (and ``validate`` still exited 0). Now such a folder is
refused with the usage exit code unless ``--replace`` is given; with it the new tree is
produced beside the folder and swapped in when complete.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.read import resolve_tree


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arch = tmp_path_factory.mktemp("create") / "arch"
    r = run("archive", "synth", "--archive", str(arch), "--studies", "6")
    assert r.returncode == 0, r.stderr
    return arch


def _create(arch: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("create", "--archive", str(arch), "--level", "INSTANCE", "--out", str(out), *extra)


def _roots(out: Path) -> list[Path]:
    return sorted(out.glob("*.dcm"))


def test_create_into_a_tree_is_refused_without_replace(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "inv"
    assert _create(archive, out, "--partitions", "3").returncode == 0
    before = sorted(p for p in out.rglob("*") if p.is_file())
    r = _create(archive, out, "--partitions", "3")
    assert r.returncode == ExitCode.USAGE, r.stdout + r.stderr
    assert "--replace" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p for p in out.rglob("*") if p.is_file()) == before  # untouched
    [root] = _roots(out)
    resolve_tree(root)  # still whole


def test_replace_swaps_in_a_complete_tree(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "inv"
    assert _create(archive, out, "--partitions", "3").returncode == 0
    [old_root] = _roots(out)
    r = _create(archive, out, "--partitions", "2", "--replace")
    assert r.returncode == 0, r.stderr
    [new_root] = _roots(out)
    assert new_root != old_root
    assert r.stdout.split()[0] == str(new_root)  # the paths printed are where the files are
    files = {p for p in out.rglob("*.dcm")}
    tree = resolve_tree(new_root)
    stack, reached = [tree], set()
    while stack:
        node = stack.pop()
        reached.add(node.path)
        stack.extend(node.children)
    assert reached == files  # no stale file of the old tree is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv"]  # no staging left
    assert run("validate", *map(str, sorted(files))).returncode == ExitCode.OK


def test_validate_fails_a_root_whose_leaves_are_gone(archive: Path, tmp_path: Path) -> None:
    """What the unguarded re-run left behind: a root beside a deleted partition (exit 0 before)."""
    out = tmp_path / "inv"
    assert _create(archive, out, "--partitions", "3").returncode == 0
    gone = sorted(out.glob("part-*"))[0]
    for f in gone.rglob("*.dcm"):
        f.unlink()
    r = run("validate", *map(str, sorted(out.rglob("*.dcm"))))
    assert r.returncode == ExitCode.FINDINGS, r.stdout + r.stderr
    assert "chain-dangling" in r.stdout and "PS3.3 C.38.1.1.5" in r.stdout
