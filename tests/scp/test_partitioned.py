"""Partitioned, resumable production, in process and on a Dask LocalCluster of two workers."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from dicom_inventory import (
    InventoryCompletionStatus,
    InventoryError,
    iter_inventory,
    read_header,
    validate_files,
)
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.production import produce
from dicom_inventory.scp.production.partitioned import STATE_FILE, produce_partitioned
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("archive")
    with Archive(d, create=True) as a:
        synthesize(a, studies=10, series_per_study=2, instances_per_series=2)
    return d


def _keys(root: Path) -> list[tuple[str, list[str]]]:
    return [
        (s.study_instance_uid, [i.sop_instance_uid for se in s.series for i in se.instances])  # type: ignore[union-attr]
        for s in iter_inventory(root)
    ]


def _all_files(out: Path) -> list[Path]:
    return sorted(out.rglob("*.dcm"))


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(partitions=st.integers(1, 14), max_records=st.none() | st.integers(5, 60))
def test_same_records_as_one_pass(
    archive_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    partitions: int,
    max_records: int | None,
) -> None:
    tmp_path = tmp_path_factory.mktemp("p")
    with Archive(archive_dir) as a:
        (single,) = produce(a, tmp_path / "one", level="INSTANCE")
    root, parts = produce_partitioned(
        functools.partial(Archive, archive_dir),
        tmp_path / "parts",
        level="INSTANCE",
        partitions=partitions,
        max_records=max_records,
    )
    assert _keys(root) == _keys(single.path)  # same records, same order, none twice
    assert list(validate_files(_all_files(tmp_path / "parts"))) == []
    h = read_header(root)
    assert h.completion_status == InventoryCompletionStatus.COMPLETE
    assert h.total_number_of_study_records == 10 and h.number_of_study_records_in_instance == 0
    assert len(h.incorporated) == len(parts) <= partitions
    assert all(
        read_header(Path(p.paths[0])).completion_status == InventoryCompletionStatus.PARTIAL
        for p in parts
    )
    assert not (tmp_path / "parts" / STATE_FILE).exists()


def test_resume_after_interruption(archive_dir: Path, tmp_path: Path) -> None:
    factory = functools.partial(Archive, archive_dir)
    out = tmp_path / "out"
    with pytest.raises(InventoryError, match="stopped after 2"):
        produce_partitioned(factory, out, level="SERIES", partitions=4, fail_after=2)
    state = (out / STATE_FILE).read_text()
    assert '"0"' in state and '"1"' in state and '"2"' not in state
    first = sorted(p.name for p in out.rglob("*.dcm"))
    root, parts = produce_partitioned(factory, out, level="SERIES", partitions=4)
    assert len(parts) == 4
    # the two finished partitions were kept, not redone
    assert set(first) <= {p.name for p in out.rglob("*.dcm")}
    with Archive(archive_dir) as a:
        (single,) = produce(a, tmp_path / "one", level="SERIES")
    assert [s.study_instance_uid for s in iter_inventory(root)] == [
        s.study_instance_uid for s in iter_inventory(single.path)
    ]
    assert list(validate_files(_all_files(out))) == []
    # an unfinished run is not resumed with other parameters
    other = tmp_path / "other"
    with pytest.raises(InventoryError, match="stopped after 1"):
        produce_partitioned(factory, other, level="SERIES", partitions=4, fail_after=1)
    with pytest.raises(InventoryError, match="other parameters"):
        produce_partitioned(factory, other, level="STUDY", partitions=4)


def test_dask_local_cluster_two_workers(archive_dir: Path, tmp_path: Path) -> None:
    root, parts = produce_partitioned(
        functools.partial(Archive, archive_dir),
        tmp_path / "dask",
        level="INSTANCE",
        partitions=3,
        dask="local",
    )
    with Archive(archive_dir) as a:
        (single,) = produce(a, tmp_path / "one", level="INSTANCE")
    assert _keys(root) == _keys(single.path)
    assert list(validate_files(_all_files(tmp_path / "dask"))) == []
