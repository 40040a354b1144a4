"""diff of two inventory files compares the studies both scopes cover, nothing else.

An inventory of Study Date 2020-2021 and one of 2021-2022 overlap in 2021: a 2020 study is not
"missing" from the second (its scope excludes it), nor a 2022 study "extra"; both are counted
as outside the other side's scope. Before the fix only a live side was crawled within the
other's scope, and two files were compared whole: 1 missing, 1 extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory, synthetic_studies
from dicom_inventory.model import StudyRecord
from dicom_inventory.rows import ROW_COLUMNS
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scu.diff import SCOPE_COLUMNS, diff_inventories


def _studies(dates: list[str]) -> list[StudyRecord]:
    studies = synthetic_studies(len(dates), series_per_study=1, instances_per_series=2)
    return [  # the synthetic series and instances are generators: lists, to encode twice
        replace(
            st,
            study_date=d,
            series=[replace(se, instances=list(se.instances)) for se in st.series],
        )
        for st, d in zip(studies, dates, strict=True)
    ]


def _write(path: Path, studies: list[StudyRecord], uid: str, scope: dict[str, str]) -> Path:
    header = InventoryHeader(
        uid,
        InventoryLevel.INSTANCE,
        content_date="20261207",
        content_time="100000",
        scope=ScopeOfInventory.from_keys(scope),
    )
    path.write_bytes(encode_inventory(header, studies))
    return path


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    # the same synthetic studies (same UIDs) with the dates each archive's scope holds
    all_four = _studies(["20200601", "20210301", "20210901", "20220601"])
    a = _write(tmp_path / "a.dcm", all_four[:3], "2.25.31", {"StudyDate": "20200101-20211231"})
    b = _write(tmp_path / "b.dcm", all_four[1:], "2.25.32", {"StudyDate": "20210101-20221231"})
    return a, b


def test_two_files_are_compared_within_the_overlap_of_their_scopes(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    report = diff_inventories([a], [b], workdir=tmp_path, parallel=False)
    assert (report.missing, report.extra) == (0, 0), report.to_text()
    assert report.identical
    assert (report.source_outside, report.destination_outside) == (2, 2)  # 2 instances each
    assert "outside" in report.to_text()


def test_a_study_inside_both_scopes_is_still_missing(tmp_path: Path) -> None:
    a, _ = _pair(tmp_path)
    only_2022 = _studies(["20200601", "20210301", "20210901", "20220601"])[3:]
    b = _write(tmp_path / "b.dcm", only_2022, "2.25.33", {"StudyDate": "20210101-20221231"})
    report = diff_inventories([a], [b], workdir=tmp_path, parallel=False)
    assert report.missing == 4 and report.extra == 0  # the two 2021 studies, 2 instances each
    assert report.source_outside == 2


def test_the_command_reports_the_overlap(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    cmd = [sys.executable, "-m", "dicom_inventory", "diff", str(a), str(b), "--format", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["identical"] and report["outside_other_scope"] == {
        "source": 2,
        "destination": 2,
    }


def test_every_scope_column_is_a_row_column() -> None:
    assert set(SCOPE_COLUMNS.values()) <= set(ROW_COLUMNS)
