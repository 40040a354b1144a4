"""A tree is read from its root once (issue 21): a root and its leaves named together count once.

``dicom-inventory export inv/*.dcm`` names a root and every leaf it incorporates; before the
fix each leaf was read twice (through the root and on its own: 480 rows for 240 instances).
Export, diff and :func:`iter_inventory` share one resolution of files into trees
(:func:`dicom_inventory.read.tree_paths`); a file named again is skipped with a warning that
names it and the root that already covers it.
"""

from __future__ import annotations

import csv
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    iter_inventory,
    synthetic_studies,
    write_inventory,
)
from dicom_inventory.read import tree_paths
from dicom_inventory.scu.diff import diff_inventories
from dicom_inventory.scu.export import export_inventory

STUDIES, SERIES, INSTANCES = 8, 2, 3
N_INSTANCES = STUDIES * SERIES * INSTANCES


def _tree(folder: Path) -> tuple[Path, list[Path]]:
    """A root and its leaves (each leaf a few studies), as ``write_inventory`` splits them."""
    header = InventoryHeader(
        "1.2.826.0.1.3680043.8.498.21.1",
        InventoryLevel.INSTANCE,
        content_date="20261207",
        content_time="120000",
    )
    written = write_inventory(
        folder,
        header,
        synthetic_studies(STUDIES, series_per_study=SERIES, instances_per_series=INSTANCES),
        max_records=25,
    )
    paths = [w.path for w in written if w.path is not None]
    assert len(paths) > 2  # a root and several leaves
    return paths[0], paths[1:]


def _csv_rows(path: Path) -> int:
    with path.open(newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


@pytest.mark.parametrize("order", ["root-first", "leaves-first"])
def test_export_counts_each_instance_once(
    tmp_path: Path, order: str, caplog: pytest.LogCaptureFixture
) -> None:
    root, leaves = _tree(tmp_path / "inv")
    named = [root, *leaves] if order == "root-first" else [*leaves, root]
    with caplog.at_level(logging.WARNING, logger="dicom_inventory.read"):
        n = export_inventory(named, tmp_path / "out.csv", "csv", workers=1)
    assert n == N_INSTANCES
    assert _csv_rows(tmp_path / "out.csv") == N_INSTANCES
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == len(leaves)
    for leaf in leaves:
        assert any(str(leaf) in m and str(root) in m for m in skipped)


def test_same_file_twice_is_read_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root, leaves = _tree(tmp_path / "inv")
    with caplog.at_level(logging.WARNING, logger="dicom_inventory.read"):
        files = tree_paths([root, root])
    assert files == tree_paths(root)
    assert [r.getMessage() for r in caplog.records] == [f"{root}: named twice; read once"]
    studies = list(iter_inventory([root, *leaves, root]))
    assert len(studies) == STUDIES


def test_diff_counts_each_instance_once(tmp_path: Path) -> None:
    root, leaves = _tree(tmp_path / "inv")
    report = diff_inventories([*leaves, root], [root], workdir=tmp_path, parallel=False)
    assert report.identical
    assert report.source_records == report.destination_records


def test_cli_export_root_and_leaves(tmp_path: Path) -> None:
    """The reproducer as a user runs it: ``export inv/*.dcm`` in a real subprocess."""
    root, leaves = _tree(tmp_path / "inv")
    out = tmp_path / "rows.csv"
    named = sorted(str(p) for p in (tmp_path / "inv").rglob("*.dcm"))
    done = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "export", *named]
        + ["--format", "csv", "--out", str(out), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _csv_rows(out) == N_INSTANCES
    warned = [line for line in done.stderr.splitlines() if "already read through" in line]
    assert len(warned) == len(leaves)
    assert all(str(root) in line for line in warned)


def test_fetch_counts_each_instance_once(tmp_path: Path) -> None:
    from dicom_inventory.scu.fetch import fetch_inventory

    root, leaves = _tree(tmp_path / "inv")
    s = fetch_inventory([*leaves, root], tmp_path / "out", workers=1)
    assert s.fetched + s.skipped + s.no_link + s.failed == N_INSTANCES
