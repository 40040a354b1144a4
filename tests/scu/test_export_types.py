"""Typed export (issue 21): what DuckDB and pandas read, with no cast, from each format.

Parquet columns are typed from the row table's column kinds (DA date32, TM time64, DT
timestamp in UTC, multi-values list<string>, Y/N flags bool, UV uint64); invalid values are
null with their text in ``unparsed_values``; stale attributes come with their stored and
current values and who changed them when; ``source_inventory`` names the instance each row
came from. CSV keeps the text as written (leading zeros) with documented quoting.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    OriginalAttributes,
    encode_inventory,
    synthetic_studies,
    tree_paths,
    write_inventory,
)
from dicom_inventory.rows import COLUMN_KINDS, EXPORT_COLUMNS
from dicom_inventory.scu.export import (
    CSV_COLUMNS,
    TYPED_COLUMNS,
    _date,
    _datetime,
    _time,
    count_study_records,
    export_inventory,
    export_rows,
)
from hypothesis import given, settings
from hypothesis import strategies as st

UTC = dt.timezone.utc
SOURCE = "2.25.900"


def _inventory(path: Path) -> Path:
    """Two studies: one with odd values (invalid date, offsets, stale changes), one plain."""
    header = InventoryHeader(
        SOURCE,
        InventoryLevel.INSTANCE,
        content_date="20261124",
        content_time="100000",
        timezone_offset_from_utc="-0500",  # applies to DT values without an offset
    )
    a, b = synthetic_studies(2, series_per_study=1, instances_per_series=2, seed=3)
    series = list(a.series)[0]
    first, second = list(series.instances)
    first = dataclasses.replace(
        first,
        removed_from_operational_use="Y",
        original_attributes=(
            OriginalAttributes(
                modified={"SOPInstanceUID": "1.2.3", "PatientID": "0042"},
                modification_datetime="20250102030405.5+0200",
                modifying_system='MIGRATION, "QA" desk',
                reason="CORRECT",
            ),
        ),
    )
    a = dataclasses.replace(
        a,
        patient_id="00123",
        study_date="20211301",  # month 13: not a date
        study_time="083000",
        study_description='Chest, "PA" view\nsecond line',
        modalities_in_study=("CT", "MR"),
        item_inventory_datetime="20261124120000+0100",  # its own offset: 11:00 UTC
        study_update_datetime="20261124120000",  # none: the header's -0500, 17:00 UTC
        removed_from_operational_use="MAYBE",  # not Y or N
        original_attributes=(
            OriginalAttributes(
                modified={"PatientName": "OLD^NAME"},
                modification_datetime="20251301120000",  # invalid
                modifying_system="RIS",
                reason="COERCE",
            ),
        ),
        series=[
            dataclasses.replace(series, removed_from_operational_use="N", instances=[first, second])
        ],
    )
    b = dataclasses.replace(
        b, series=[dataclasses.replace(s, instances=list(s.instances)) for s in b.series]
    )
    path.write_bytes(encode_inventory(header, [a, b]))
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("typed")
    src = _inventory(d / "inv.dcm")
    for fmt in ("parquet", "csv", "jsonl"):
        assert export_inventory([src], d / f"rows.{fmt}", fmt, workers=1) == 4
    return d


def _sql(query: str) -> list[tuple[Any, ...]]:
    return duckdb.sql(query).fetchall()  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- Parquet
def test_duckdb_reads_parquet_types_with_no_cast(exported: Path) -> None:
    f = exported / "rows.parquet"
    types = dict(_sql(f"select column_name, column_type from (describe select * from '{f}')"))
    assert list(types) == list(TYPED_COLUMNS)
    assert types["study_date"] == types["patient_birth_date"] == "DATE"
    assert types["study_time"] == "TIME"
    assert types["item_inventory_datetime"] == "TIMESTAMP WITH TIME ZONE"
    assert types["study_removed"] == types["instance_removed"] == "BOOLEAN"
    assert types["file_offset_in_container"] == "UBIGINT"
    assert types["instance_number"] == "BIGINT"
    assert types["modalities_in_study"] == types["stale_attributes"] == "VARCHAR[]"
    assert types["retrieve_ae_title"] == "VARCHAR[]"
    assert types["patient_id"] == types["source_inventory"] == "VARCHAR"
    assert types["unparsed_values"] == "MAP(VARCHAR, VARCHAR)"
    assert (
        types["stale_changes"].startswith("STRUCT(keyword VARCHAR")
        and "[]" in types["stale_changes"]
    )
    # typed comparisons work as they are
    rows = _sql(
        f"select study_date, study_time, patient_id, modalities_in_study, instance_removed,"
        f" source_inventory from '{f}' where study_time = TIME '08:30:00'"
        f" and 'MR' = any(modalities_in_study) order by instance_number"
    )
    assert rows == [
        (None, dt.time(8, 30), "00123", ["CT", "MR"], True, SOURCE),
        (None, dt.time(8, 30), "00123", ["CT", "MR"], False, SOURCE),
    ]
    # an absent flag is N and no stale attribute an empty list (PS3.4 C.6.4.5.4): the natural
    # queries count every row, not none
    (kept,) = _sql(f"select count(*) from '{f}' where not instance_removed")[0]
    (total,) = _sql(f"select count(*) from '{f}'")[0]
    (fresh,) = _sql(f"select count(*) from '{f}' where not list_contains(stale_attributes, 'X')")[0]
    assert kept == total - 1 and fresh == total
    (n,) = _sql(f"select count(*) from '{f}' where study_date >= DATE '2010-01-01'")[0]
    assert n == 2  # the plain study; the invalid date is null


def test_date_times_are_utc_instants(exported: Path) -> None:
    """Own offset applied; none: the instance's Timezone Offset From UTC (PS3.5 6.2 DT)."""
    table = pq.read_table(exported / "rows.parquet").to_pylist()
    first = table[0]
    assert first["item_inventory_datetime"] == dt.datetime(2026, 11, 24, 11, tzinfo=UTC)
    assert first["study_update_datetime"] == dt.datetime(2026, 11, 24, 17, tzinfo=UTC)


def test_invalid_values_are_null_with_their_text_kept(exported: Path) -> None:
    rows = pq.read_table(exported / "rows.parquet").to_pylist()
    assert rows[0]["study_date"] is None and rows[0]["study_removed"] is None
    assert dict(rows[0]["unparsed_values"]) == {
        "study_date": "20211301",
        "study_removed": "MAYBE",
        "stale_changes[0].modified_at": "20251301120000",
    }
    assert rows[2]["unparsed_values"] is None and rows[2]["study_date"] is not None
    f = exported / "rows.parquet"
    assert _sql(f"select unparsed_values['study_date'] from '{f}' limit 1")[0][0] in (
        "20211301",
        ["20211301"],  # DuckDB < 1.1 answers a list
    )


def test_stale_changes_name_stored_current_value_when_and_who(exported: Path) -> None:
    """Original Attributes Sequence items (PS3.3 C.12.1.1.9) at the study and the instance."""
    rows = pq.read_table(exported / "rows.parquet").to_pylist()
    assert rows[0]["stale_attributes"] == ["PatientName", "SOPInstanceUID", "PatientID"]
    changes = rows[0]["stale_changes"]
    assert [(c["keyword"], c["level"]) for c in changes] == [
        ("PatientName", "STUDY"),
        ("SOPInstanceUID", "INSTANCE"),
        ("PatientID", "INSTANCE"),
    ]
    name, sop, pid = changes
    assert name["stored_value"] == "OLD^NAME" and name["current_value"] == rows[0]["patient_name"]
    assert name["modified_at"] is None and name["modifying_system"] == "RIS"
    assert name["reason"] == "COERCE"
    assert sop["stored_value"] == "1.2.3" and sop["current_value"] == rows[0]["sop_instance_uid"]
    # found in the enclosing study record; the offset applied: 03:04:05.5 +0200 = 01:04:05.5Z
    assert pid["stored_value"] == "0042" and pid["current_value"] == "00123"
    assert pid["modified_at"] == dt.datetime(2025, 1, 2, 1, 4, 5, 500000, tzinfo=UTC)
    assert pid["modifying_system"] == 'MIGRATION, "QA" desk'
    assert rows[1]["stale_changes"] == [name]  # the second instance: the study's change only
    assert rows[2]["stale_changes"] == [] and rows[2]["stale_attributes"] == []
    f = exported / "rows.parquet"
    got = _sql(
        f"select c.keyword, c.stored_value from (select unnest(stale_changes) as c from '{f}')"
        f" where c.reason = 'CORRECT'"
    )
    assert ("PatientID", "0042") in got


def test_pandas_reads_parquet_dtypes_with_no_cast(exported: Path) -> None:
    df = pd.read_parquet(exported / "rows.parquet")
    assert list(df.columns) == list(TYPED_COLUMNS)
    dtypes = df.dtypes.astype(str).to_dict()
    assert dtypes["item_inventory_datetime"] == "datetime64[us, UTC]"
    # nullable dtypes from the file's pandas metadata: exact UV values, <NA> for missing
    assert dtypes["file_offset_in_container"] == "UInt64"
    assert dtypes["instance_number"] == "Int64"
    assert dtypes["instance_removed"] == "boolean"
    assert df["instance_removed"].iloc[0] is True or bool(df["instance_removed"].iloc[0])
    assert df["instance_removed"].iloc[1] is False or not df["instance_removed"].iloc[1]
    assert df["study_time"].iloc[0] == dt.time(8, 30)
    assert df["study_date"].iloc[2] == dt.date.fromisoformat(str(df["study_date"].iloc[2]))
    assert pd.isna(df["study_date"].iloc[0])
    assert list(df["modalities_in_study"].iloc[0]) == ["CT", "MR"]
    assert df["patient_id"].iloc[0] == "00123"
    arrow = pd.read_parquet(exported / "rows.parquet", dtype_backend="pyarrow")
    types = arrow.dtypes.astype(str).to_dict()
    assert types["study_date"] == "date32[day][pyarrow]"
    assert types["study_time"] == "time64[us][pyarrow]"
    assert types["file_offset_in_container"] == "uint64[pyarrow]"
    assert types["study_removed"] == "bool[pyarrow]"


def test_column_types_come_from_the_row_table() -> None:
    """Every column has a kind from the one table (rows.py); the temporal ones by VR."""
    assert set(COLUMN_KINDS) == set(EXPORT_COLUMNS)
    kinds = {k: [c for c, v in COLUMN_KINDS.items() if v == k] for k in set(COLUMN_KINDS.values())}
    assert kinds["date"] == ["patient_birth_date", "study_date"]
    assert kinds["time"] == ["study_time"]
    assert kinds["datetime"] == ["item_inventory_datetime", "study_update_datetime"]
    assert kinds["flag"] == ["study_removed", "series_removed", "instance_removed"]
    assert kinds["multi"] == ["modalities_in_study", "retrieve_ae_title", "stale_attributes"]


# ----------------------------------------------------------------------------- CSV
def test_csv_keeps_leading_zeros_and_quotes_minimally(exported: Path) -> None:
    f = exported / "rows.csv"
    df = pd.read_csv(f, dtype=str, keep_default_na=False)
    assert list(df.columns) == list(CSV_COLUMNS)
    assert df["patient_id"].iloc[0] == "00123" and df["study_time"].iloc[0] == "083000"
    assert df["study_date"].iloc[0] == "20211301"  # as written, whatever it is
    assert df["modalities_in_study"].iloc[0] == "CT\\MR"
    assert df["study_description"].iloc[0] == 'Chest, "PA" view\nsecond line'
    assert df["retrieve_url"].iloc[0] == ""  # missing: an empty field
    changes = json.loads(df["stale_changes"].iloc[0])
    assert changes[2]["stored_value"] == "0042" and changes[2]["modified_at"].startswith("2025")
    got = _sql(
        f"select patient_id, study_time, study_removed from read_csv('{f}', header=true,"
        f" all_varchar=true) limit 1"
    )
    assert got == [("00123", "083000", "MAYBE")]
    raw = f.read_text(encoding="utf-8")
    assert '"Chest, ""PA"" view\nsecond line"' in raw  # RFC 4180: quoted, quotes doubled
    assert "\n00123," in raw and ",083000," in raw  # not quoted: minimal quoting
    assert f.read_bytes().count(b"\r\n") == 5  # CRLF line ends; the embedded LF stays
    with open(f, newline="", encoding="utf-8") as fh:
        assert len(list(csv.reader(fh))) == 5  # header + 4 rows, embedded newline kept


# ----------------------------------------------------------------------------- JSON Lines
def test_jsonl_values_are_typed_as_json_allows(exported: Path) -> None:
    rows = [json.loads(line) for line in (exported / "rows.jsonl").read_text().splitlines()]
    first = rows[0]
    assert list(first) == list(TYPED_COLUMNS)
    assert first["study_date"] is None and first["study_time"] == "08:30:00"
    assert first["item_inventory_datetime"] == "2026-11-24T11:00:00+00:00"
    assert first["instance_removed"] is True and first["modalities_in_study"] == ["CT", "MR"]
    assert first["unparsed_values"]["study_date"] == "20211301"
    assert first["stale_changes"][2]["modified_at"] == "2025-01-02T01:04:05.500000+00:00"
    assert first["instance_number"] == 1 and first["file_offset_in_container"] is None
    assert rows[2]["patient_birth_date"] == "1970-01-01"
    got = _sql(f"select study_time, instance_removed from '{exported / 'rows.jsonl'}' limit 1")
    assert got[0][1] is True


# ----------------------------------------------------------------------------- round trip
_DATES = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
_TIMES = st.times()


@settings(max_examples=60, deadline=None)
@given(d=_DATES, t=_TIMES, minutes=st.integers(-12 * 60, 14 * 60))
def test_da_tm_dt_parse_back_to_what_was_written(d: dt.date, t: dt.time, minutes: int) -> None:
    """DICOM text of a date, time and date-time (PS3.5 Table 6.2-1) reads back exactly."""
    da = d.strftime("%Y%m%d").rjust(8, "0")
    tm = f"{t:%H%M%S}.{t.microsecond:06d}"
    sign, off = ("-" if minutes < 0 else "+"), abs(minutes)
    zone = f"{sign}{off // 60:02d}{off % 60:02d}"
    assert _date(da) == d and _time(tm) == t
    local = dt.datetime.combine(d, t, dt.timezone(dt.timedelta(minutes=minutes)))
    try:
        expected: Any = local.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range
        return
    assert _datetime(da + tm + zone, None) == expected
    assert _datetime(da + tm, zone) == expected  # the instance's offset when the value has none


@settings(max_examples=15, deadline=None)
@given(
    pid=st.text("0123456789", min_size=1, max_size=8),
    d=st.dates(min_value=dt.date(1900, 1, 1)),
    t=st.times().map(lambda t: t.replace(microsecond=0)),
    desc=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
)
def test_values_round_trip_through_every_format(
    tmp_path_factory: pytest.TempPathFactory, pid: str, d: dt.date, t: dt.time, desc: str
) -> None:
    row = {
        "patient_id": pid,
        "study_date": d.strftime("%Y%m%d").rjust(8, "0"),
        "study_time": t.strftime("%H%M%S"),
        "study_description": desc or None,
    }
    out = tmp_path_factory.mktemp("rt")
    for fmt in ("parquet", "csv", "jsonl"):
        assert export_rows([row], out / f"r.{fmt}", fmt) == 1
    (p,) = pq.read_table(out / "r.parquet").to_pylist()
    assert (p["patient_id"], p["study_date"], p["study_time"]) == (pid, d, t)
    assert p["study_description"] == (desc or None)
    (c,) = pd.read_csv(out / "r.csv", dtype=str, keep_default_na=False).to_dict("records")
    assert (c["patient_id"], c["study_date"], c["study_time"]) == (
        pid,
        row["study_date"],
        row["study_time"],
    )
    assert c["study_description"] == desc
    (j,) = [json.loads(x) for x in (out / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (j["patient_id"], j["study_date"], j["study_time"]) == (
        pid,
        d.isoformat(),
        t.isoformat(),
    )


# ----------------------------------------------------------------------------- progress
def test_progress_counts_study_records_up_to_the_trees_total(tmp_path: Path) -> None:
    header = InventoryHeader(
        "2.25.901", InventoryLevel.INSTANCE, content_date="20261124", content_time="100000"
    )
    written = write_inventory(
        tmp_path / "inv",
        header,
        synthetic_studies(7, series_per_study=1, instances_per_series=3),
        max_records=2,
    )
    root = written[0].path
    assert root is not None
    files = tree_paths([root])
    assert count_study_records(files) == 7
    for workers in (1, 2):
        seen: list[tuple[int, int]] = []

        def note(rows: int, studies: int, seen: list[tuple[int, int]] = seen) -> None:
            seen.append((rows, studies))

        n = export_inventory(
            [root],
            tmp_path / f"o{workers}.parquet",
            "parquet",
            workers=workers,
            batch_size=4,
            progress=note,
        )
        assert n == 21 and seen[-1] == (21, 7)
        assert seen == sorted(seen)
        got = {r for (r,) in _sql(f"select source_inventory from '{tmp_path}/o{workers}.parquet'")}
        holding = {w.sop_instance_uid for w in written if w.number_of_study_records}
        assert got == holding and len(got) > 1  # each row names the instance holding it


# ----------------------------------------------------------------------------- Ctrl-C
def _tree(tmp: Path) -> Path:
    header = InventoryHeader(
        "2.25.902", InventoryLevel.INSTANCE, content_date="20261124", content_time="100000"
    )
    written = write_inventory(
        tmp / "inv",
        header,
        synthetic_studies(200, series_per_study=2, instances_per_series=50),
        max_records=10,
    )
    assert written[0].path is not None
    return Path(written[0].path)


def _pool_workers(parent: int) -> list[int]:
    """The multiprocessing workers started by process `parent` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"--multiprocessing-fork" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds workers in /proc")
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_ends_export_cleanly(tmp_path: Path, workers: int) -> None:
    """SIGINT to the process group (as a terminal sends it): exit 130, one line, no files."""
    root = _tree(tmp_path)
    out = tmp_path / "out" / "rows.parquet"
    out.parent.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dicom_inventory",
            "export",
            str(root),
            "--format",
            "parquet",
            "--out",
            str(out),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    part = out.with_name(out.name + ".part")
    # the moment that went wrong: workers just started (still importing), or rows being read
    while time.monotonic() < deadline and proc.poll() is None:
        if workers > 1 and _pool_workers(proc.pid):
            time.sleep(0.25)  # their interpreters are up, importing
            break
        if workers == 1 and part.exists():
            time.sleep(0.3)
            break
        time.sleep(0.005)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert list(out.parent.iterdir()) == []  # no output, no .part, no worker parts


# ----------------------------------------------------------------------------- VR forms
@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (_date, "2026.11.24", dt.date(2026, 11, 24)),  # ACR-NEMA form, tolerated (PS3.5 6.2)
        (_date, "20260230", None),
        (_date, "2026112", None),
        (_time, "08", dt.time(8)),  # trailing null components
        (_time, "0830", dt.time(8, 30)),
        (_time, "08:30:00.5", dt.time(8, 30, 0, 500000)),  # pre-3.0 form, tolerated
        (_time, "235960", dt.time(23, 59, 59, 999999)),  # a leap second
        (_time, "2400", None),
        (lambda t: _datetime(t, None), "2026", dt.datetime(2026, 1, 1, tzinfo=UTC)),
        (
            lambda t: _datetime(t, None),
            "202611241230",
            dt.datetime(2026, 11, 24, 12, 30, tzinfo=UTC),
        ),
        (lambda t: _datetime(t, "+0100"), "2026-0500", dt.datetime(2026, 1, 1, 5, tzinfo=UTC)),
        (lambda t: _datetime(t, None), "20261124+2500", None),  # offset out of range
        (lambda t: _datetime(t, None), "20261124 1200", None),
    ],
)
def test_vr_forms(parse: Any, text: str, expected: Any) -> None:
    """Partial values, legacy forms and invalid ones (PS3.5 Table 6.2-1)."""
    got = parse(text)
    assert (got if isinstance(got, dt.date | dt.time) else None) == expected


def test_raw_rows_give_derived_columns_in_any_order(exported: Path) -> None:
    from dicom_inventory import InventoryReader
    from dicom_inventory.rows import iter_raw_rows

    with InventoryReader(exported / "inv.dcm") as reader:
        rows = list(iter_raw_rows(reader, ["source_inventory", "study_date", "stale_changes"]))
    assert [r[:2] for r in rows] == [(SOURCE, "20211301")] * 2 + [(SOURCE, rows[2][1])] * 2
    assert rows[0][2][0]["modified_at"] == "20251301120000"  # as written; typed by export
    assert rows[3][2] is None
    with pytest.raises(ValueError, match="unknown row column"):
        next(iter_raw_rows(reader, ["unparsed_values"]))
