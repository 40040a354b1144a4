"""``validate`` and ``show`` take the folder ``create`` wrote (issue 21, round 2).

A folder stands for every ``.dcm`` under it; a root given alone brings the leaves it
incorporates (in ``part-NNNNN/``, found as export finds them), so create's output validates
with no chain-missing warning; a bad value is quoted as text, not as Python bytes; ``show`` of
a folder shows its root, UIDs whole when stdout is not a terminal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydicom
import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("folders")
    made = run("archive", "synth", "--archive", str(work / "arch"), "--studies", "4")
    assert made.returncode == 0, made.stderr
    out = work / "INVC"
    made = run(
        "create",
        "--archive",
        str(work / "arch"),
        "--level",
        "INSTANCE",
        "--out",
        str(out),
        "--partitions",
        "2",
    )
    assert made.returncode == 0, made.stderr
    assert list(out.glob("part-*/*.dcm")), "create wrote no leaves in part-NNNNN/"
    return out


def test_validate_takes_a_folder(tree: Path) -> None:
    done = run("validate", str(tree))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 error(s), 0 warning(s), 0 unreadable" in done.stdout


def test_a_root_alone_is_validated_with_its_leaves(tree: Path) -> None:
    [root] = tree.glob("*.dcm")
    done = run("validate", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chain-missing" not in done.stdout
    assert "0 error(s), 0 warning(s)" in done.stdout


def test_show_takes_a_folder_and_keeps_uids_whole(tree: Path) -> None:
    [root] = tree.glob("*.dcm")
    done = run("show", str(tree))
    assert done.returncode == 0, done.stderr
    uid = root.stem
    assert any(line.endswith(uid) for line in done.stdout.splitlines()), done.stdout


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")  # pydicom, on writing it
def test_a_bad_value_is_quoted_as_text(tree: Path, tmp_path: Path) -> None:
    [root] = tree.glob("*.dcm")
    ds = pydicom.dcmread(root)
    ds.ContentDate = "20211301"
    bad = tmp_path / "bad.dcm"
    ds.save_as(bad)
    done = run("validate", str(bad))
    assert "value '20211301'" in done.stdout, done.stdout
    assert "b'20211301'" not in done.stdout
