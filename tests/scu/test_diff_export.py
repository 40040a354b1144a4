"""diff and export: property tests (hypothesis) over real inventory files.

diff: a destination made from the source by known removals, additions and attribute changes
must report exactly those. export: every format reads back (pyarrow, csv, json) to the rows
:func:`iter_rows` gives.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dicom_inventory import (
    ROW_COLUMNS,
    InventoryHeader,
    InventoryLevel,
    encode_inventory,
    iter_inventory,
    iter_rows,
    synthetic_studies,
    write_inventory,
)
from dicom_inventory.model import FileAccess, StudyRecord
from dicom_inventory.read import InventoryReader
from dicom_inventory.rows import iter_raw_rows
from dicom_inventory.scu.diff import diff_inventories
from dicom_inventory.scu.export import INTEGER_COLUMNS, UNSIGNED_COLUMNS, export_inventory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _write(path: Path, studies: list[StudyRecord], uid: str) -> Path:
    h = InventoryHeader(
        uid, InventoryLevel.INSTANCE, content_date="20261124", content_time="100000"
    )
    path.write_bytes(encode_inventory(h, studies))
    return path


def _materialize(n: int) -> list[StudyRecord]:
    out = []
    for st_ in synthetic_studies(n, series_per_study=2, instances_per_series=3):
        series = [replace(se, instances=list(se.instances)) for se in st_.series]
        out.append(replace(st_, series=series))
    return out


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=6),
)
def test_diff_reports_exactly_the_mutations(tmp_path: Path, data: st.DataObject, n: int) -> None:
    source = _materialize(n)
    dest = _materialize(n)
    all_instances = [
        (i, j, k)
        for i, s in enumerate(dest)
        for j, se in enumerate(s.series)
        for k in range(len(se.instances))
    ]
    removed = set(data.draw(st.lists(st.sampled_from(all_instances), unique=True, max_size=4)))
    changed = set(
        data.draw(
            st.lists(
                st.sampled_from([x for x in all_instances if x not in removed] or [None]),
                unique=True,
                max_size=3,
            )
        )
    ) - {None}
    extra = data.draw(st.integers(min_value=0, max_value=2))
    expect_missing, expect_different, expect_extra = set(), set(), set()
    for i, s in enumerate(dest):
        for j, se in enumerate(s.series):
            kept = []
            for k, inst in enumerate(se.instances):  # type: ignore[arg-type]
                if (i, j, k) in removed:
                    expect_missing.add(inst.sop_instance_uid)
                    continue
                if (i, j, k) in changed:
                    inst = replace(inst, instance_number=(inst.instance_number or 0) + 1000)
                    expect_different.add(inst.sop_instance_uid)
                kept.append(inst)
            se.instances = kept
    first = dest[0].series[0]  # type: ignore[index]
    template = source[0].series[0].instances[0]  # type: ignore[index]
    for e in range(extra):
        uid = f"2.25.999{e}"
        first.instances = [*first.instances, replace(template, sop_instance_uid=uid)]  # type: ignore[misc]
        expect_extra.add(uid)
    for s in dest:  # drop series emptied by the removals
        s.series = [se for se in s.series if se.instances]  # type: ignore[union-attr]
    dest = [s for s in dest if s.series]
    a = _write(tmp_path / "a.dcm", source, "2.25.1")
    b = _write(tmp_path / "b.dcm", dest, "2.25.2")
    report = diff_inventories([a], [b], parallel=False)
    got = {
        k: {d.sop_instance_uid for d in report.differences if d.kind == k}
        for k in ("missing", "extra", "different")
    }
    assert got == {"missing": expect_missing, "extra": expect_extra, "different": expect_different}
    assert report.identical == (not (expect_missing or expect_extra or expect_different))
    for d in report.differences:
        if d.kind == "different":
            assert set(d.attributes) == {"instance_number"}
    parsed = json.loads(report.to_json())
    assert parsed["missing"] == len(expect_missing) and parsed["identical"] == report.identical


def test_diff_in_two_processes_and_at_the_coarser_level(tmp_path: Path) -> None:
    studies = _materialize(4)
    a = _write(tmp_path / "a.dcm", studies, "2.25.1")
    h = InventoryHeader(
        "2.25.3", InventoryLevel.STUDY, content_date="20261124", content_time="100000"
    )
    coarse = [
        replace(s, series=[], patient_name="Other^Name" if i == 1 else s.patient_name)
        for i, s in enumerate(studies)
    ]
    b = tmp_path / "b.dcm"
    b.write_bytes(encode_inventory(h, coarse))
    report = diff_inventories([a], [b])  # parallel readers
    assert report.level == "STUDY"
    assert [(d.kind, d.study_instance_uid) for d in report.differences] == [
        ("different", studies[1].study_instance_uid)
    ]
    assert report.differences[0].attributes["patient_name"][1] == "Other^Name"


FLAG_OF_RECORD = {
    "study_removed": "study_instance_uid",
    "series_removed": "series_instance_uid",
    "instance_removed": "sop_instance_uid",
}


def _as_written(v: object) -> object:
    """A typed export value back in the DICOM text of the row (dates, times, flags, lists)."""
    if isinstance(v, bool):
        return "Y" if v else "N"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y%m%d%H%M%S")
    if isinstance(v, dt.date):
        return v.strftime("%Y%m%d")
    if isinstance(v, dt.time):
        return v.strftime("%H%M%S")
    if isinstance(v, list):
        return "\\".join(v) if v else None  # no stale attribute: an empty list
    return v


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_round_trip(tmp_path: Path, fmt: str) -> None:
    """The exported rows hold iter_rows' values (typed in Parquet and JSON Lines, issue 21)."""
    src = _write(tmp_path / "a.dcm", _materialize(5), "2.25.1")
    out = tmp_path / f"rows.{fmt}"
    n = export_inventory([src], out, fmt)
    expected = list(iter_rows(iter_inventory(src)))
    assert n == len(expected) == 30
    if fmt == "parquet":
        table = pq.read_table(out)
        assert table.column_names[: len(ROW_COLUMNS)] == list(ROW_COLUMNS)
        got = [{k: _as_written(v) for k, v in r.items()} for r in table.to_pylist()]
    elif fmt == "csv":
        with open(out, newline="", encoding="utf-8") as f:
            got = [
                {
                    k: (None if v == "" else int(v) if k in INTEGER_COLUMNS else v)
                    for k, v in r.items()
                }
                for r in csv.DictReader(f)
            ]
    else:
        got = []
        for line in out.read_text().splitlines():
            r = json.loads(line)
            for k in ("patient_birth_date", "study_date"):
                r[k] = r[k] and dt.date.fromisoformat(r[k])
            r["study_time"] = r["study_time"] and dt.time.fromisoformat(r["study_time"])
            for k in ("item_inventory_datetime", "study_update_datetime"):
                r[k] = r[k] and dt.datetime.fromisoformat(r[k])
            got.append({k: _as_written(v) for k, v in r.items()})
    assert all(r["source_inventory"] == "2.25.1" for r in got)
    norm = [
        {
            k: (None if v is None else int(v) if k in INTEGER_COLUMNS else str(v))
            for k, v in r.items()
        }
        for r in expected
    ]
    if fmt != "csv":  # typed: an absent flag on a record that is there is N (PS3.4 C.6.4.5.4)
        for r in norm:
            for flag, uid in FLAG_OF_RECORD.items():
                if r[flag] is None and r[uid]:
                    r[flag] = "N"
    assert [{k: r[k] for k in ROW_COLUMNS} for r in got] == norm
    assert not (tmp_path / f"rows.{fmt}.part").exists()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    n=st.integers(min_value=0, max_value=5),
    level=st.sampled_from(list(InventoryLevel)),
)
def test_byte_level_rows_equal_the_typed_rows(seed: int, n: int, level: InventoryLevel) -> None:
    """iter_raw_rows (the export's fast path) gives exactly iter_rows of the typed records."""
    studies = synthetic_studies(
        n, series_per_study=2, instances_per_series=2, seed=seed, level=level
    )
    h = InventoryHeader("2.25.3", level, content_date="20261124", content_time="100000")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inv.dcm"
        path.write_bytes(encode_inventory(h, list(studies)))
        typed = [tuple(r[c] for c in ROW_COLUMNS) for r in iter_rows(iter_inventory(path))]
        with InventoryReader(path) as reader:
            raw = list(iter_raw_rows(reader))
    assert raw == typed


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_by_worker_processes_equals_one_process(tmp_path: Path, fmt: str) -> None:
    header = InventoryHeader(
        "2.25.4", InventoryLevel.INSTANCE, content_date="20261124", content_time="100000"
    )
    written = write_inventory(
        tmp_path / "inv",
        header,
        synthetic_studies(9, series_per_study=2, instances_per_series=2, seed=5),
        max_records=2,  # a tree of 5 leaves and index nodes: parts must join in tree order
    )
    root = written[0].path
    assert root is not None
    one, many = tmp_path / f"one.{fmt}", tmp_path / f"many.{fmt}"
    assert export_inventory([root], one, fmt, workers=1) == 36
    assert export_inventory([root], many, fmt, workers=2) == 36
    if fmt == "parquet":
        a, b = pq.read_table(one), pq.read_table(many)
        assert a.equals(b) and a.num_rows == 36
    else:
        assert one.read_bytes() == many.read_bytes()
    assert not list(tmp_path.glob(".export-*"))  # part files removed


# ----------------------------------------------------------------------------- UV beyond int64
#: File Offset/Length in Container are UV (PS3.5 6.2: 0 to 2^64-1); these need the top bit.
_BIG = ((1 << 63, (1 << 64) - 1), ((1 << 64) - 1, 1 << 63))


def _uv_inventory(path: Path, uid: str) -> Path:
    """An INSTANCE inventory whose two instances sit in a BLOB at offsets/lengths >= 2^63."""
    (study,) = _materialize(1)
    series = list(study.series)[0]
    instances = [
        replace(
            inst,
            file_access=(
                FileAccess(
                    uri="file:///archive/blob.bin",
                    container_type="BLOB",
                    offset=offset,
                    length=length,
                    transfer_syntax_uid="1.2.840.10008.1.2.1",
                ),
            ),
        )
        for inst, (offset, length) in zip(series.instances, _BIG, strict=False)
    ]
    study = replace(study, series=[replace(series, instances=instances)])
    return _write(path, [study], uid)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_keeps_uv_values_of_2_63_and_beyond_exactly(tmp_path: Path, fmt: str) -> None:
    src = _uv_inventory(tmp_path / "uv.dcm", "2.25.7")
    out = tmp_path / f"rows.{fmt}"
    assert export_inventory([src], out, fmt, workers=1) == 2
    if fmt == "parquet":
        table = pq.read_table(out)
        assert str(table.schema.field("file_offset_in_container").type) == "uint64"
        assert str(table.schema.field("instance_number").type) == "int64"
        rows = table.to_pylist()
    elif fmt == "csv":
        with open(out, newline="", encoding="utf-8") as f:
            rows = [
                {k: int(v) for k, v in r.items() if k in UNSIGNED_COLUMNS}
                for r in csv.DictReader(f)
            ]
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = [(r["file_offset_in_container"], r["file_length_in_container"]) for r in rows]
    assert got == list(_BIG)


def test_unsigned_columns_are_the_uv_columns() -> None:
    """File Offset/Length in Container are the row's UV attributes (PS3.3 C.38.2.2, PS3.5 6.2)."""
    assert UNSIGNED_COLUMNS == {"file_offset_in_container", "file_length_in_container"}


def test_diff_reads_uv_values_beyond_int64(tmp_path: Path) -> None:
    """diff compares no File Access attributes, but must read such records and match them."""
    a = _uv_inventory(tmp_path / "a.dcm", "2.25.8")
    b = _uv_inventory(tmp_path / "b.dcm", "2.25.9")
    report = diff_inventories([a], [b], parallel=False)
    assert report.identical and report.source_records == 2
