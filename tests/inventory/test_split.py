"""Splitting one inventory into a root and leaves (PS3.3 C.38.1.1.5, C.38.2.3; PS3.17 YYYY.3.3)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import (
    InventoryCompletionStatus,
    InventoryEncodeError,
    InventoryHeader,
    InventoryLevel,
    InventoryReader,
    iter_inventory,
    read_header,
    resolve_tree,
    synthetic_studies,
    write_inventory,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from tests.inventory.strategies import record_settings, studies


def _header(
    level: InventoryLevel, status: InventoryCompletionStatus = InventoryCompletionStatus.COMPLETE
) -> InventoryHeader:
    return InventoryHeader(
        sop_instance_uid="2.25.77",
        inventory_level=level,
        content_date="20261124",
        content_time="090000",
        completion_status=status,
    )


def _count(study: object) -> int:
    n = 1
    for se in study.series:  # type: ignore[attr-defined]
        n += 1 + len(list(se.instances))
    return n


def _materialize(s):  # type: ignore[no-untyped-def]
    return dataclasses.replace(
        s, series=[dataclasses.replace(x, instances=list(x.instances)) for x in s.series]
    )


@settings(
    record_settings,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    max_records=st.integers(1, 40),
    syntax=st.sampled_from([ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]),
)
def test_same_records_whatever_the_split(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, max_records: int, syntax: str
) -> None:
    level = data.draw(st.sampled_from(list(InventoryLevel)))
    recs = [
        _materialize(s)
        for s in data.draw(st.lists(studies(level, max_series=2, max_instances=3), max_size=8))
    ]
    out = tmp_path_factory.mktemp("split")
    written = write_inventory(
        out, _header(level), recs, max_records=max_records, transfer_syntax=syntax
    )
    root, leaves = written[0], written[1:]
    # every leaf respects the limit unless it holds a single larger study
    for leaf in leaves:
        assert leaf.number_of_records <= max_records or leaf.number_of_study_records == 1
        assert leaf.total_number_of_study_records == leaf.number_of_study_records
    # the root holds no records and incorporates every leaf, with the total of the tree
    assert root.number_of_study_records == 0
    assert root.total_number_of_study_records == len(recs)
    h = read_header(root.path)
    assert [r.sop_instance_uid for r in h.incorporated] == [
        leaf.sop_instance_uid for leaf in leaves
    ]
    assert h.completion_status == InventoryCompletionStatus.COMPLETE
    # records read back through the tree are exactly the records written, in order
    assert list(iter_inventory(root.path)) == recs
    # completion status: a leaf is PARTIAL unless it alone holds everything (YYYY.3.3.2.1)
    for leaf in leaves:
        expected = (
            InventoryCompletionStatus.COMPLETE
            if len(leaves) == 1
            else InventoryCompletionStatus.PARTIAL
        )
        assert read_header(leaf.path).completion_status == expected
        assert read_header(leaf.path).inventory_level == level  # same level in the whole tree


def test_split_counts_and_links_with_pydicom(tmp_path: Path) -> None:
    studies_ = [
        _materialize(s) for s in synthetic_studies(10, series_per_study=2, instances_per_series=3)
    ]
    per_study = _count(studies_[0])  # 1 + 2 * (1 + 3) = 9
    written = write_inventory(
        tmp_path, _header(InventoryLevel.INSTANCE), studies_, max_records=3 * per_study
    )
    assert [w.number_of_study_records for w in written] == [0, 3, 3, 3, 1]
    root = pydicom.dcmread(written[0].path)
    assert root.NumberOfStudyRecordsInInstance == 0
    assert root.TotalNumberOfStudyRecords == 10
    assert len(root.InventoriedStudiesSequence) == 0  # Type 2: present, empty
    refs = root.IncorporatedInventoryInstanceSequence
    assert [r.ReferencedSOPInstanceUID for r in refs] == [w.sop_instance_uid for w in written[1:]]
    assert all(r.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.201.1" for r in refs)
    leaf = pydicom.dcmread(written[1].path)
    assert leaf.InventoryCompletionStatus == "PARTIAL"
    assert written[0].sop_instance_uid in leaf.InventoryInstanceDescription
    assert len(leaf.IncorporatedInventoryInstanceSequence) == 0


def test_interrupted_production_leaves_a_partial_root(tmp_path: Path) -> None:
    written = write_inventory(
        tmp_path,
        _header(InventoryLevel.STUDY, InventoryCompletionStatus.PARTIAL),
        synthetic_studies(5, level=InventoryLevel.STUDY),
        max_records=10,
    )
    assert read_header(written[0].path).completion_status == InventoryCompletionStatus.PARTIAL
    assert read_header(written[1].path).completion_status == InventoryCompletionStatus.PARTIAL


def test_empty_inventory_is_complete(tmp_path: Path) -> None:
    """An empty inventory asserts there were no matching studies (PS3.17 YYYY.3.3.2.5)."""
    (single,) = write_inventory(tmp_path, _header(InventoryLevel.SERIES), [])
    h = read_header(single.path)
    assert h.completion_status == InventoryCompletionStatus.COMPLETE
    assert h.number_of_study_records_in_instance == 0 == h.total_number_of_study_records
    with InventoryReader(single.path) as r:
        assert list(r.studies()) == []


def test_tree_is_found_by_header_when_files_are_renamed(tmp_path: Path) -> None:
    written = write_inventory(
        tmp_path, _header(InventoryLevel.STUDY), synthetic_studies(6, level="STUDY"), max_records=2
    )
    for i, w in enumerate(written[1:]):
        w.path.rename(tmp_path / f"part{i}.bin")
    tree = resolve_tree(written[0].path)
    assert [c.path.name for c in tree.children] == ["part0.bin", "part1.bin", "part2.bin"]
    assert len(list(iter_inventory(written[0].path))) == 6


def test_missing_leaf_is_a_clear_error(tmp_path: Path) -> None:
    written = write_inventory(
        tmp_path, _header(InventoryLevel.STUDY), synthetic_studies(4, level="STUDY"), max_records=2
    )
    written[2].path.unlink()
    with pytest.raises(Exception) as info:
        list(iter_inventory(written[0].path))
    assert written[2].sop_instance_uid in str(info.value)
    assert "not found" in str(info.value)


def test_bad_max_records_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryEncodeError, match="max_records"):
        write_inventory(tmp_path, _header(InventoryLevel.STUDY), [], max_records=0)
