r"""Export inventories as flat rows: CSV, JSON Lines, Parquet (issues 7, 21).

Rows are :func:`dicom_inventory.iter_rows` rows (study, series and instance attributes, the
first file location, ``stale_attributes``) and the derived columns of
:data:`~dicom_inventory.rows.EXPORT_COLUMNS`: ``stale_changes`` (each stale attribute with its
stored and current value and when, by whom and why it changed, from Original Attributes
Sequence, PS3.3 C.12.1.1.9) and ``source_inventory`` (the SOP Instance UID of the Inventory
instance the row was read from), read by the byte-level
:func:`~dicom_inventory.rows.iter_raw_rows`. Everything streams: records are read one study
at a time and written in batches, so memory does not grow with the inventory (Parquet: one
row group per batch).

Split inventories are exported by worker processes, each writing the rows of a run of
consecutive instances of the tree into a part file; the parts are then joined in tree order
(Parquet row groups copied, text parts appended), so the output is the same as with one
worker. The output is written as ``OUT.part`` and renamed when complete: an export that fails
or is interrupted (Ctrl-C; the workers ignore SIGINT and are terminated) leaves no file that
looks finished.

**Column types** come from the kind of each column (:data:`~dicom_inventory.rows.COLUMN_KINDS`,
derived from the attribute table: VR, VM, defined terms), never from a list kept here:

=============  ===========================  ===========  ======================  ============
kind           Parquet                      DuckDB       pandas                  JSON Lines
=============  ===========================  ===========  ======================  ============
text           ``string``                   VARCHAR      str / object            string
int (IS)       ``int64``                    BIGINT       Int64                   number
uint (UV)      ``uint64``                   UBIGINT      UInt64                  number
multi          ``list<string>``             VARCHAR[]    object (arrays)         array
date (DA)      ``date32``                   DATE         object (date)           "YYYY-MM-DD"
time (TM)      ``time64[us]``               TIME         object (time)           "HH:MM:SS.f"
datetime (DT)  ``timestamp[us, tz=UTC]``    TIMESTAMPTZ  datetime64[us, UTC]     ISO, +00:00
flag (Y/N)     ``bool``                     BOOLEAN      boolean                 true/false
changes        ``list<struct<...>>``        STRUCT[]     object (dicts)          objects
=============  ===========================  ===========  ======================  ============

The Parquet file carries ``pandas`` schema metadata naming pandas' nullable dtypes (Int64,
UInt64, boolean) for the integer and flag columns, so ``pandas.read_parquet`` keeps UV values
exact and missing values ``<NA>`` (numpy would turn them into float64);
``dtype_backend="pyarrow"`` gives the Arrow types themselves (``date32[day][pyarrow]`` ...).

A missing value is null (Parquet, JSON), with two exceptions that make the natural queries
count right (``WHERE NOT study_removed``, ``NOT list_contains(stale_attributes, 'Modality')``):
a Removed from Operational Use flag absent from a record that is there is ``false`` (the
attribute flags removed entities with ``Y``, PS3.4 C.6.4.5.4; PS3.17 YYYY.2.3.1), and a row
without stale attributes has empty lists in ``stale_attributes`` and ``stale_changes``.
A flag whose text does not parse stays null. Multi-values are split at ``\`` (PS3.5 6.4);
``stale_attributes`` is the list of keywords. A ``stale_changes`` entry holds the fields of
:data:`~dicom_inventory.rows.CHANGE_FIELDS`; its ``modified_at`` is a timestamp like the
other DT columns, its values are text (multi-values joined by ``\``, a sequence as null).

**Date-times** (DT, PS3.5 Table 6.2-1) are instants in UTC: a value's own offset suffix
(``&ZZXX``) is applied; a value without one is in the offset of Timezone Offset From UTC
(0008,0201) of its Inventory instance (SOP Common Module, PS3.3 Table C.12-1) when the
instance has it, and is taken as UTC otherwise (the creator's local zone is then unknown:
the digits are kept as written). Missing trailing components read as their start (``2026`` is 2026-01-01T00:00Z);
a leap second (``60``) reads as ``59.999999``. DA and TM also accept the pre-3.0 forms
``YYYY.MM.DD`` and ``HH:MM:SS.frac`` (PS3.5 6.2, tolerant reading).

**Values that do not parse** as their VR (an invalid date ``20211301``, a flag ``MAYBE``)
do not stop the export: the typed column holds null and the text as written goes to the
``unparsed_values`` column (Parquet ``map<string, string>``, DuckDB ``MAP(VARCHAR,
VARCHAR)``; JSON an object), keyed by column name (``stale_changes[i].modified_at`` for an
entry's date-time); it is null when everything parsed. An IS value beyond the int64 range
(not valid IS) is null in Parquet.

**CSV** holds the values as the inventory writes them, text throughout, so nothing is lost
and nothing needs parsing: leading zeros stay (``083000``, ``00123``), dates stay
``YYYYMMDD``, flags ``Y``/``N``. One header line of column names; RFC 4180 quoting
(:data:`csv.QUOTE_MINIMAL`: a field is quoted only when it holds a comma, a double quote
(doubled) or a line break); lines end in CRLF; UTF-8 without BOM. Multi-values are joined by
``\`` as in DICOM; a missing (or empty) value is an empty field; ``stale_changes`` is a
JSON array in one field; there is no ``unparsed_values`` column. Read it as text:
``pandas.read_csv(f, dtype=str, keep_default_na=False)`` or DuckDB
``read_csv(f, header=true, all_varchar=true)``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from dicom_inventory import (
    INTEGER_COLUMNS,
    UNSIGNED_COLUMNS,
    InventoryReader,
    iter_raw_rows,
    read_header,
    tree_paths,
)
from dicom_inventory.rows import CHANGE_FIELDS, COLUMN_KINDS, EXPORT_COLUMNS, FLAG_VALUES
from dicom_inventory.scu.workers import default_workers, runs, worker_pool

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "INTEGER_COLUMNS",
    "TYPED_COLUMNS",
    "UNSIGNED_COLUMNS",
    "count_study_records",
    "export_inventory",
    "export_rows",
]

FORMATS = ("csv", "jsonl", "parquet")
_BATCH = 65_536

#: The columns of a CSV export: the row's values as written.
CSV_COLUMNS: tuple[str, ...] = EXPORT_COLUMNS
#: The columns of a Parquet or JSON Lines export: typed, plus the text of unparsable values.
TYPED_COLUMNS: tuple[str, ...] = (*EXPORT_COLUMNS, "unparsed_values")

_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64 = (0, (1 << 64) - 1)

#: Progress callback: rows written and study records read so far.
Progress = Callable[[int, int], None]


# ------------------------------------------------------------------ values typed by VR
class _Bad:
    """The result of parsing a value that is not valid for its VR."""


_BAD = _Bad()
_UTC = dt.timezone.utc
_DA = re.compile(r"(\d{4})\.?(\d{2})\.?(\d{2})")
_TM = re.compile(r"(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?")
_DT = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    r"([+-]\d{4})?"
)
_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})")
_MAX_OFFSET = (dt.timedelta(hours=-12), dt.timedelta(hours=14))  # PS3.5 Table 6.2-1 DT note


def _clock(hh: str, mm: str | None, ss: str | None, frac: str | None) -> tuple[int, int, int, int]:
    """Hour, minute, second, microsecond of TM/DT components; a leap second as 59.999999."""
    second = int(ss or 0)
    micro = int((frac or "").ljust(6, "0"))
    if second == 60:  # PS3.5 Table 6.2-1 allows "60" (leap second); Python has no such second
        second, micro = 59, 999_999
    return int(hh), int(mm or 0), second, micro


@lru_cache(maxsize=1 << 14)
def _date(text: str) -> dt.date | _Bad:
    """A DA value (``YYYYMMDD``; ``YYYY.MM.DD`` tolerated) as a date."""
    m = _DA.fullmatch(text)
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])) if m else _BAD
    except ValueError:
        return _BAD


@lru_cache(maxsize=1 << 14)
def _time(text: str) -> dt.time | _Bad:
    """A TM value (``HH[MM[SS[.F{1,6}]]]``; colons tolerated) as a time."""
    m = _TM.fullmatch(text)
    try:
        return dt.time(*_clock(m[1], m[2], m[3], m[4])) if m else _BAD
    except ValueError:
        return _BAD


def _offset(text: str | None) -> dt.timezone | None:
    """``&ZZXX`` (DT suffix, Timezone Offset From UTC) as a timezone, None if not valid."""
    m = _OFFSET.fullmatch(text or "")
    if not m or int(m[3]) > 59:
        return None
    delta = dt.timedelta(hours=int(m[2]), minutes=int(m[3])) * (-1 if m[1] == "-" else 1)
    return dt.timezone(delta) if _MAX_OFFSET[0] <= delta <= _MAX_OFFSET[1] else None


@lru_cache(maxsize=1 << 14)
def _datetime(text: str, default: str | None) -> dt.datetime | _Bad:
    """A DT value as an instant in UTC (see the module docstring for the offset rule)."""
    m = _DT.fullmatch(text)
    if not m:
        return _BAD
    zone = _offset(m[8]) if m[8] else _offset(default) or _UTC
    if zone is None:
        return _BAD
    try:
        local = dt.datetime(
            int(m[1]), int(m[2] or 1), int(m[3] or 1), *_clock(m[4] or "0", m[5], m[6], m[7])
        )
        return local.replace(tzinfo=zone).astimezone(_UTC)
    except (ValueError, OverflowError):
        return _BAD


#: The Removed from Operational Use flag of each record level, and the column of its UID.
_FLAG_OF_RECORD = {
    "study_removed": "study_instance_uid",
    "series_removed": "series_instance_uid",
    "instance_removed": "sop_instance_uid",
}


def _flag(text: str) -> bool | _Bad:
    return FLAG_VALUES.get(text, _BAD)


@lru_cache(maxsize=1 << 12)
def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split("\\"))


def _multi(value: Any) -> tuple[str, ...]:
    r"""A multi-value: text split at ``\`` (PS3.5 6.4), or a sequence of values."""
    return _split(value) if isinstance(value, str) else tuple(str(v) for v in value)


class _Typer:
    """Converts rows of :data:`EXPORT_COLUMNS` into rows of :data:`TYPED_COLUMNS`.

    `default_offset` is the Timezone Offset From UTC (0008,0201) of the rows' Inventory
    instance, for date-times written without an offset.
    """

    def __init__(self, default_offset: str | None) -> None:
        self.default = default_offset
        date_time = self._datetime
        by_kind: dict[str, Callable[[Any], Any]] = {
            "date": _date,
            "time": _time,
            "datetime": date_time,
            "flag": _flag,
            "multi": _multi,
        }
        self.steps = [
            (i, c, by_kind[COLUMN_KINDS[c]])
            for i, c in enumerate(EXPORT_COLUMNS)
            if COLUMN_KINDS[c] in by_kind
        ]
        self.changes = EXPORT_COLUMNS.index("stale_changes")
        self.lists = [EXPORT_COLUMNS.index(c) for c in ("stale_attributes", "stale_changes")]
        #: each flag with the UID column of its record: absent on a record that is there = N
        self.flags = [
            (EXPORT_COLUMNS.index(flag), EXPORT_COLUMNS.index(uid))
            for flag, uid in _FLAG_OF_RECORD.items()
        ]
        self.last: tuple[Any, list[dict[str, Any]], dict[str, str] | None] = (None, [], None)

    def _datetime(self, text: str) -> dt.datetime | _Bad:
        return _datetime(text, self.default)

    def row(self, row: tuple[Any, ...]) -> list[Any]:
        out = list(row)
        bad: dict[str, str] | None = None
        for i, column, parse in self.steps:
            v = out[i]
            if not v:  # missing, or empty text: null
                if v is not None:
                    out[i] = None
                continue
            try:
                t = parse(v)
            except TypeError:  # not text (rows from elsewhere)
                t = _BAD
            if t is _BAD:
                out[i] = None
                bad = bad or {}
                bad[column] = str(v)
            else:
                out[i] = t
        changes = out[self.changes]
        if changes:
            # the rows of a record share its list: convert it once
            if changes is not self.last[0]:
                self.last = (changes, *self._changes(changes))
            out[self.changes] = self.last[1]
            if self.last[2]:
                bad = {**(bad or {}), **self.last[2]}
        for i in self.lists:
            if out[i] is None:
                out[i] = []
        for flag, uid in self.flags:
            if out[flag] is None and out[uid] and not (bad and EXPORT_COLUMNS[flag] in bad):
                out[flag] = False
        out.append(bad)
        return out

    def _changes(
        self, changes: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """The entries with ``modified_at`` typed, and the text of those that do not parse."""
        bad: dict[str, str] | None = None
        typed = []
        for n, change in enumerate(changes):
            entry = {f: change.get(f) for f in CHANGE_FIELDS}
            when = entry["modified_at"]
            if when:
                t = self._datetime(when)
                entry["modified_at"] = None if t is _BAD else t
                if t is _BAD:
                    bad = bad or {}
                    bad[f"stale_changes[{n}].modified_at"] = when
            typed.append(entry)
        return typed, bad


# ------------------------------------------------------------------ the writers
def _int(v: Any, bounds: tuple[int, int] = _INT64) -> int | None:
    """`v` as an integer within `bounds`, else None (missing, not a number, or out of range)."""
    if v is None or v == "":
        return None
    try:
        n = int(v)
    except (TypeError, ValueError):
        return None
    return n if bounds[0] <= n <= bounds[1] else None


def _arrow_type(pa: Any, column: str) -> Any:
    """The Arrow type of an export column, from its kind (:data:`COLUMN_KINDS`)."""
    if column == "unparsed_values":
        return pa.map_(pa.string(), pa.string())
    kind = COLUMN_KINDS[column]
    if kind == "changes":
        fields = [(f, pa.string()) for f in CHANGE_FIELDS]
        at = CHANGE_FIELDS.index("modified_at")
        fields[at] = ("modified_at", pa.timestamp("us", tz="UTC"))
        return pa.list_(pa.struct(fields))
    return {
        "int": pa.int64(),
        "uint": pa.uint64(),
        "multi": pa.list_(pa.string()),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "datetime": pa.timestamp("us", tz="UTC"),
        "flag": pa.bool_(),
    }.get(kind, pa.string())


#: pandas' nullable dtypes for the kinds numpy cannot hold with nulls (numpy would make them
#: float64, inexact for UV values beyond 2^53, or object).
_PANDAS_DTYPES = {"int": "Int64", "uint": "UInt64", "flag": "boolean"}


def _pandas_metadata() -> bytes:
    """The ``pandas`` schema metadata naming nullable dtypes (read by ``pandas.read_parquet``).

    pyarrow's conversion to pandas takes a column's ``numpy_type`` from this metadata when it
    names a pandas extension dtype; other columns convert as usual.
    """
    columns = [
        {
            "name": c,
            "field_name": c,
            "pandas_type": _PANDAS_DTYPES[COLUMN_KINDS[c]].lower(),
            "numpy_type": _PANDAS_DTYPES[COLUMN_KINDS[c]],
            "metadata": None,
        }
        for c in EXPORT_COLUMNS
        if COLUMN_KINDS[c] in _PANDAS_DTYPES
    ]
    meta = {"index_columns": [], "column_indexes": [], "columns": columns}
    return json.dumps(meta).encode()


def _json_default(value: Any) -> str:
    """JSON form of the typed values JSON lacks: dates, times, date-times in ISO 8601."""
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _Writer:
    """Writes batches of row tuples in one format.

    Parquet and JSON Lines rows are :data:`TYPED_COLUMNS` (typed by :class:`_Typer`); CSV
    rows are :data:`CSV_COLUMNS` as written.
    """

    def __init__(self, path: Path, fmt: str, header: bool) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
        self.fmt, self.path = fmt, path
        self.typed = fmt != "csv"
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            self.pa = pa
            self.types = [_arrow_type(pa, c) for c in TYPED_COLUMNS]
            self.schema = pa.schema(
                list(zip(TYPED_COLUMNS, self.types, strict=True)),
                metadata={b"pandas": _pandas_metadata()},
            )
            self.pq = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self.f = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self.csv = csv.writer(self.f, quoting=csv.QUOTE_MINIMAL)
            if fmt == "csv" and header:
                self.csv.writerow(CSV_COLUMNS)
            self.dumps = json.JSONEncoder(
                ensure_ascii=False, separators=(",", ":"), default=_json_default
            ).encode
            self.changes = CSV_COLUMNS.index("stale_changes")
            self.last: tuple[Any, str] = (None, "")

    def write(self, batch: list[Any]) -> None:
        if self.fmt == "parquet":
            pa = self.pa
            columns = list(zip(*batch, strict=True))
            arrays = []
            for column, col, t in zip(TYPED_COLUMNS, columns, self.types, strict=True):
                try:
                    arrays.append(pa.array(col, t))
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                    # an integer out of its column's range (or rows from elsewhere)
                    kind = COLUMN_KINDS.get(column)
                    if kind not in ("int", "uint"):
                        raise
                    bounds = _UINT64 if kind == "uint" else _INT64
                    arrays.append(pa.array([_int(v, bounds) for v in col], t))
            self.pq.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        elif self.fmt == "csv":
            i = self.changes
            self.csv.writerows(
                r if r[i] is None else (*r[:i], self._json(r[i]), *r[i + 1 :]) for r in batch
            )  # None is written as an empty field
        else:
            dumps, cols = self.dumps, TYPED_COLUMNS
            self.f.write("".join(dumps(dict(zip(cols, r, strict=True))) + "\n" for r in batch))

    def _json(self, changes: list[dict[str, Any]]) -> str:
        """``stale_changes`` as JSON text; the rows of a record share the list: dumped once."""
        if changes is not self.last[0]:
            self.last = (changes, self.dumps(changes))
        return self.last[1]

    def append(self, part: Path) -> None:
        """Append a part file written (without header) by another writer of this format."""
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(part)
            for i in range(pf.num_row_groups):
                self.pq.write_table(pf.read_row_group(i))
        else:
            self.f.flush()
            with open(part, encoding="utf-8", newline="") as src:
                shutil.copyfileobj(src, self.f, 1 << 20)

    def close(self) -> None:
        if self.fmt == "parquet":
            self.pq.close()
        else:
            self.f.close()


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while batch := list(itertools.islice(it, size)):
        yield batch


_STUDY_AT = EXPORT_COLUMNS.index("study_instance_uid")


def _studies_in(batch: list[Any], last: Any) -> int:
    """How many study records begin in `batch` (rows of a study are consecutive)."""
    n = 0
    for r in batch:
        if r[_STUDY_AT] != last:
            n, last = n + 1, r[_STUDY_AT]
    return n


def _write_files(
    files: list[str],
    writer: _Writer,
    batch_size: int,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Write the rows of `files`; the numbers of rows and study records written."""
    n = studies = 0
    last = None
    for batch in _batches(_file_rows(files, writer.typed), batch_size):
        writer.write(batch)
        n += len(batch)
        studies += _studies_in(batch, last)
        last = batch[-1][_STUDY_AT]
        if progress:
            progress(n, studies)
    return n, studies


def _file_rows(files: list[str], typed: bool) -> Iterator[Any]:
    """The rows of `files`, one file after the other, typed for Parquet and JSON Lines.

    Batches span files, so the many small instances of a deep or wide tree make a few Parquet
    row groups, not one each (5,000 one-record instances: 136 MB instead of 439 MB).
    """
    for f in files:
        with InventoryReader(f) as reader:
            rows = iter_raw_rows(reader, EXPORT_COLUMNS)
            if not typed:
                yield from rows
                continue
            # Timezone Offset From UTC (0008,0201) precedes the records in the file
            convert = _Typer(reader.header.timezone_offset_from_utc).row
            yield from map(convert, rows)


def _part(files: list[str], part: str, fmt: str, batch_size: int) -> tuple[int, int]:
    """Worker: the rows of `files` into the part file `part` (no header)."""
    writer = _Writer(Path(part), fmt, header=False)
    try:
        return _write_files(files, writer, batch_size)
    finally:
        writer.close()


@contextlib.contextmanager
def _atomic(target: Path, fmt: str) -> Iterator[_Writer]:
    """A writer on ``TARGET.part``, renamed to `target` only when the block ends normally.

    This way a failed or interrupted export never leaves a truncated file that looks finished.
    """
    tmp = target.with_name(target.name + ".part")
    writer = _Writer(tmp, fmt, header=True)
    try:
        try:
            yield writer
        finally:
            writer.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def export_rows(
    rows: Iterable[dict[str, Any]],
    out: str | os.PathLike[str],
    fmt: str,
    *,
    batch_size: int = _BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write `rows` (dicts of :data:`EXPORT_COLUMNS`, e.g. from ``iter_rows``) to `out` in `fmt`.

    A column a row lacks is missing (``stale_changes``, ``source_inventory`` with
    ``iter_rows``). Values are typed as in :func:`export_inventory`, date-times without an
    offset taken as UTC. The file is written under a temporary name and renamed when
    complete, so a failed export never leaves a truncated file that looks finished.

    Returns
    -------
    int
        The number of rows.
    """
    n = 0
    typer = _Typer(None)
    with _atomic(Path(out), fmt) as writer:
        for batch in _batches(rows, batch_size):
            values = [tuple(r.get(c) for c in EXPORT_COLUMNS) for r in batch]
            writer.write([typer.row(v) for v in values] if writer.typed else values)
            n += len(batch)
            if progress:
                progress(n)
    return n


def count_study_records(files: Iterable[str | os.PathLike[str]]) -> int | None:
    """The study records in `files`, from each one's Number of Study Records in Instance.

    (0008,0427), PS3.3 C.38.1.1: the total a progress display needs before the records are
    read. ``None`` if a file does not say.
    """
    total = 0
    for f in files:
        n = read_header(f).number_of_study_records_in_instance
        if n is None:
            return None
        total += n
    return total


def export_inventory(
    paths: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    fmt: str,
    *,
    follow: bool = True,
    workers: int | None = None,
    batch_size: int = _BATCH,
    progress: Progress | None = None,
) -> int:
    """Export the records of inventories (roots followed through their trees) to `out`.

    Parameters
    ----------
    paths : iterable of path
        Inventory files; with `follow`, each tree is read from its root once (a leaf also
        named is skipped, with a warning); without, exactly these files in this order.
    workers : int, optional
        Processes reading the instances of split inventories in parallel (default: the CPU
        count, at most 8). With 1, or a single instance, everything runs in this process.
    progress : callable, optional
        Called as ``progress(rows, study_records)`` after each batch (one process) or each
        part (workers), with the numbers written so far.

    Returns
    -------
    int
        The number of rows written. The output appears only when complete (written as
        ``OUT.part``, then renamed); on an error or Ctrl-C nothing is left behind.
    """
    # each instance once, however often named or reached (a root and its leaves, inv/*.dcm)
    files = [str(path) for path in tree_paths(paths)] if follow else [str(p) for p in paths]
    workers = default_workers(workers)
    target = Path(out)
    n = studies = 0
    with _atomic(target, fmt) as writer:
        if workers == 1 or len(files) < 2:
            return _write_files(files, writer, batch_size, progress)[0]
        # contiguous runs of the tree, a few per worker: the parts join in tree order
        parts_of = runs(files, workers)
        with (
            tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as parts,
            # leaving the block terminates the workers, also on Ctrl-C in this process
            worker_pool(min(workers, len(parts_of))) as pool,
        ):
            results = [
                pool.apply_async(_part, (run, str(Path(parts) / f"{i}"), fmt, batch_size))
                for i, run in enumerate(parts_of)
            ]
            for i, result in enumerate(results):
                rows, in_part = result.get()
                n, studies = n + rows, studies + in_part
                writer.append(Path(parts) / f"{i}")
                if progress:
                    progress(n, studies)
    return n
