"""diff: Removed from Operational Use changes, between encoder-made inventories.

An entity flagged removed from operational use (0008,0405) in one inventory and not in the
other is a change of its own kind (PS3.17 YYYY.2.3.1), reported once at the entity's level.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory, synthetic_studies
from dicom_inventory.model import StudyRecord
from dicom_inventory.scu.diff import diff_inventories


def _studies() -> list[StudyRecord]:
    out = []
    for st in synthetic_studies(3, series_per_study=2, instances_per_series=2):
        series = [replace(se, instances=list(se.instances)) for se in st.series]
        out.append(replace(st, series=series))
    return out


def _write(path: Path, studies: list[StudyRecord], uid: str) -> Path:
    header = InventoryHeader(
        uid, InventoryLevel.INSTANCE, content_date="20261207", content_time="100000"
    )
    path.write_bytes(encode_inventory(header, studies))
    return path


def test_removed_from_operational_use_is_its_own_change(tmp_path: Path) -> None:
    old = _studies()
    new = _studies()
    # study 0 flagged, one series of study 1 flagged, one instance of study 2 flagged; and the
    # reverse: a series flagged in the old inventory only ("N" on the other side is unflagged)
    new[0] = replace(new[0], removed_from_operational_use="Y")
    se = new[1].series[0]
    new[1].series[0] = replace(se, removed_from_operational_use="Y")
    se2 = new[2].series[1]
    se2.instances[0] = replace(se2.instances[0], removed_from_operational_use="Y")
    old[2].series[0] = replace(old[2].series[0], removed_from_operational_use="Y")
    new[2].series[0] = replace(new[2].series[0], removed_from_operational_use="N")
    a = _write(tmp_path / "old.dcm", old, "2.25.1")
    b = _write(tmp_path / "new.dcm", new, "2.25.2")

    report = diff_inventories([a], [b], workdir=tmp_path, parallel=False)

    assert not report.identical
    assert (report.missing, report.extra, report.different, report.count_mismatches) == (0,) * 4
    assert report.removed_changes == 4
    got = {
        (
            d.level,
            d.series_instance_uid or d.study_instance_uid,
            tuple(next(iter(d.attributes.values()))),
        )
        for d in report.differences
    }
    assert got == {
        ("STUDY", old[0].study_instance_uid, (False, True)),
        ("SERIES", old[1].series[0].series_instance_uid, (False, True)),
        ("SERIES", old[2].series[0].series_instance_uid, (True, False)),
        ("INSTANCE", se2.series_instance_uid, (False, True)),
    }
    text = report.to_text()
    assert "removed from operational use changed 4" in text
    assert "study_removed: N -> Y" in text  # DICOM text, not a Python repr
    data = json.loads(report.to_json())
    assert data["removed_changes"] == 4 and not data["identical"]
    kinds = [e["kind"] for study in data["patients"].values() for es in study.values() for e in es]
    assert kinds.count("removed") == 4


def test_same_flags_are_identical(tmp_path: Path) -> None:
    studies = _studies()
    studies[0] = replace(studies[0], removed_from_operational_use="Y")
    a = _write(tmp_path / "a.dcm", studies, "2.25.3")
    b = _write(tmp_path / "b.dcm", studies, "2.25.4")
    assert diff_inventories([a], [b], workdir=tmp_path, parallel=False).identical
