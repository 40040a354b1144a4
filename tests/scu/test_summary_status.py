"""summary says whether the inventory is complete by its own account, and never claims more.

Before: a PARTIAL inventory (a crawl whose listings were truncated) showed "Incomplete
studies: 0" and no Completion Status, because the check it relied on compares Number of Study
Related Series/Instances, which that inventory leaves empty (Type 2). Records Removed from
Operational Use were not counted; the file count did not say that files named with their root
are read once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    encode_inventory,
    synthetic_studies,
)
from dicom_inventory.enum import InventoryCompletionStatus
from dicom_inventory.model import StudyRecord
from dicom_inventory.scu.summary import summarize

WHY = "series of study 2.25.1: response set truncated"


def _studies(counts: bool = True) -> list[StudyRecord]:
    out = []
    for st in synthetic_studies(3, series_per_study=2, instances_per_series=2, seed=3):
        series = [replace(se, instances=list(se.instances)) for se in st.series]
        st = replace(st, series=series)
        if not counts:
            st = replace(
                st, number_of_study_related_series=None, number_of_study_related_instances=None
            )
        out.append(st)
    return out


def _write(path: Path, studies: list[StudyRecord], partial: bool) -> Path:
    header = InventoryHeader(
        "2.25.8801",
        InventoryLevel.INSTANCE,
        content_date="20261207",
        content_time="100000",
        completion_status=(
            InventoryCompletionStatus.PARTIAL if partial else InventoryCompletionStatus.COMPLETE
        ),
        inventory_instance_description=WHY if partial else None,
    )
    path.write_bytes(encode_inventory(header, studies))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dicom_inventory", "summary", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_wide())


def _wide() -> dict[str, str]:
    import os

    return {**os.environ, "COLUMNS": "400"}


def test_a_partial_inventory_without_counts_is_not_called_complete(tmp_path: Path) -> None:
    path = _write(tmp_path / "inv.dcm", _studies(counts=False), partial=True)
    s = summarize([path])
    assert s.completion == {"PARTIAL": 1} and not s.complete
    assert s.not_complete[0].description == WHY
    assert not s.counts_checked and s.incomplete_studies == 0
    done = _cli(str(path))
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "Inventory Completion Status: PARTIAL (1)" in text and WHY in text
    assert "Incomplete studies: 0" not in text  # before: the only verdict shown
    assert "Incomplete studies: not checked: the inventory records no Number of Study" in text
    assert "does not say COMPLETE" in text
    data = json.loads(_cli(str(path), "--format", "json").stdout)
    assert data["completion"] == {"PARTIAL": 1} and data["counted_studies"] == 0
    assert data["not_complete"][0]["description"] == WHY


def test_a_complete_inventory_with_counts_is_checked(tmp_path: Path) -> None:
    path = _write(tmp_path / "inv.dcm", _studies(), partial=False)
    s = summarize([path])
    assert s.complete and s.counts_checked and s.counted_studies == 3
    text = " ".join(_cli(str(path)).stdout.split())
    assert "Inventory Completion Status: COMPLETE (1)" in text
    assert "Incomplete studies: 0" in text and "does not say COMPLETE" not in text


def test_removed_from_operational_use_is_counted_per_level(tmp_path: Path) -> None:
    studies = _studies()
    st0 = studies[0]
    se0 = replace(st0.series[0], removed_from_operational_use="Y")  # a series withdrawn
    inst = list(st0.series[1].instances)
    inst[0] = replace(inst[0], removed_from_operational_use="Y")  # one instance withdrawn
    se1 = replace(st0.series[1], instances=inst, removed_from_operational_use="N")
    studies[0] = replace(st0, series=[se0, se1])
    studies[1] = replace(studies[1], removed_from_operational_use="Y")  # a study withdrawn
    s = summarize([_write(tmp_path / "inv.dcm", studies, partial=False)])
    assert (s.removed_studies, s.removed_series, s.removed_instances) == (1, 1, 1)
    text = " ".join(_cli(str(tmp_path / "inv.dcm")).stdout.split())
    assert "Removed from Operational Use: 1 studies, 1 series, 1 instance records" in text


def test_the_file_count_says_leaves_named_with_their_root_are_read_once(tmp_path: Path) -> None:
    out = tmp_path / "split"
    done = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "sample", "--out", str(out), "--studies", "6"]
        + ["--series-per-study", "1", "--instances-per-series", "2", "--max-records", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    files = sorted(out.glob("*.dcm"))
    root = Path(done.stdout.split()[0])
    s = summarize(files)
    assert s.named == len(files) and s.files == len(files)  # each read once
    assert s.completion == {"COMPLETE": 1}  # the tree's status is its root's
    first = _cli(str(root)).stdout.splitlines()[0]
    assert first.startswith(f"{len(files)} inventory file(s) read from the 1 named")
