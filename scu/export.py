"""Export inventories as flat rows: CSV, JSON Lines, Parquet (issue 7).

Rows are :func:`dicom_inventory.iter_rows` rows (study, series and instance attributes, the
first file location, and ``stale_attributes``: the attributes in which the stored file still
differs from the archive's current values, from Original Attributes Sequence), read by the
byte-level :func:`~dicom_inventory.rows.iter_raw_rows`. Everything streams: records are read
one study at a time and written in batches, so memory does not grow with the inventory
(Parquet: one row group per batch).

Split inventories are exported by worker processes, each writing the rows of a run of
consecutive instances of the tree into a part file; the parts are then joined in tree order
(Parquet row groups copied, text parts appended), so the output is the same as with one worker.

Column types: counts, numbers, offsets and lengths are integers; everything else is text;
missing values are empty (CSV), ``null`` (JSON) or null (Parquet). The files load as they are
in pandas, DuckDB and polars. In Parquet, File Offset and File Length in Container (VR UV,
0 to 2^64-1, PS3.5 6.2) are ``uint64`` and the IS columns ``int64``; CSV and JSON Lines write
every integer exactly, whatever its size. An integer that does not fit its Parquet column (an
IS value beyond the int64 range, which is not valid IS) is written as null there.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from dicom_inventory import (
    INTEGER_COLUMNS,
    ROW_COLUMNS,
    UNSIGNED_COLUMNS,
    InventoryReader,
    iter_raw_rows,
    tree_paths,
)

__all__ = ["FORMATS", "INTEGER_COLUMNS", "UNSIGNED_COLUMNS", "export_inventory", "export_rows"]

FORMATS = ("csv", "jsonl", "parquet")
_BATCH = 65_536

_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64 = (0, (1 << 64) - 1)


def _int(v: Any, bounds: tuple[int, int] = _INT64) -> int | None:
    """`v` as an integer within `bounds`, else None (missing, not a number, or out of range)."""
    if v is None or v == "":
        return None
    try:
        n = int(v)
    except (TypeError, ValueError):
        return None
    return n if bounds[0] <= n <= bounds[1] else None


def _text(v: Any) -> str | None:
    if v is None:
        return None
    return str(v)


_INT_INDEX = frozenset(i for i, c in enumerate(ROW_COLUMNS) if c in INTEGER_COLUMNS)
_UINT_INDEX = frozenset(i for i, c in enumerate(ROW_COLUMNS) if c in UNSIGNED_COLUMNS)


def _arrow_type(pa: Any, column: str) -> Any:
    """The Arrow type of a row column: ``uint64`` (UV), ``int64`` (IS) or ``string``."""
    if column in UNSIGNED_COLUMNS:
        return pa.uint64()
    return pa.int64() if column in INTEGER_COLUMNS else pa.string()


class _Writer:
    """Writes batches of row tuples (:data:`ROW_COLUMNS` order) in one format."""

    def __init__(self, path: Path, fmt: str, header: bool) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
        self.fmt, self.path = fmt, path
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            self.pa = pa
            self.schema = pa.schema([(c, _arrow_type(pa, c)) for c in ROW_COLUMNS])
            self.types = [_arrow_type(pa, c) for c in ROW_COLUMNS]
            self.pq = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self.f = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self.csv = csv.writer(self.f)
            if fmt == "csv" and header:
                self.csv.writerow(ROW_COLUMNS)
            self.dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def write(self, batch: list[tuple[Any, ...]]) -> None:
        if self.fmt == "parquet":
            pa = self.pa
            columns = list(zip(*batch, strict=True))
            try:
                arrays = [pa.array(col, t) for col, t in zip(columns, self.types, strict=True)]
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                # rows from elsewhere, or an integer out of its column's range: convert each
                arrays = [
                    pa.array([_int(v, _UINT64 if i in _UINT_INDEX else _INT64) for v in col], t)
                    if i in _INT_INDEX
                    else pa.array([_text(v) for v in col], t)
                    for i, (col, t) in enumerate(zip(columns, self.types, strict=True))
                ]
            self.pq.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        elif self.fmt == "csv":
            self.csv.writerows(batch)  # None is written as an empty field
        else:
            dumps, cols = self.dumps, ROW_COLUMNS
            self.f.write("".join(dumps(dict(zip(cols, r, strict=True))) + "\n" for r in batch))

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


def _write_files(
    files: list[str],
    writer: _Writer,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
    done: int = 0,
) -> int:
    n = 0
    for batch in _batches(_file_rows(files), batch_size):
        writer.write(batch)
        n += len(batch)
        if progress:
            progress(done + n)
    return n


def _file_rows(files: list[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of `files`, one file after the other.

    Batches span files, so the many small instances of a deep or wide tree make a few Parquet
    row groups, not one each (5,000 one-record instances: 136 MB instead of 439 MB).
    """
    for f in files:
        with InventoryReader(f) as reader:
            yield from iter_raw_rows(reader)


def _part(files: list[str], part: str, fmt: str, batch_size: int) -> int:
    """Worker: the rows of `files` into the part file `part` (no header)."""
    writer = _Writer(Path(part), fmt, header=False)
    try:
        return _write_files(files, writer, batch_size)
    finally:
        writer.close()


@contextlib.contextmanager
def _atomic(target: Path, fmt: str) -> Iterator[_Writer]:
    """A writer on ``TARGET.part``, renamed to `target` only when the block ends normally.

    This way a failed export never leaves a truncated file that looks finished.
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
    """Write `rows` (dicts of :data:`ROW_COLUMNS`, e.g. from ``iter_rows``) to `out` in `fmt`.

    The file is written under a temporary name and renamed when complete, so a failed export
    never leaves a truncated file that looks finished. Returns the number of rows.
    """
    n = 0
    with _atomic(Path(out), fmt) as writer:
        for batch in _batches(rows, batch_size):
            writer.write([tuple(r.get(c) for c in ROW_COLUMNS) for r in batch])
            n += len(batch)
            if progress:
                progress(n)
    return n


def export_inventory(
    paths: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    fmt: str,
    *,
    follow: bool = True,
    workers: int | None = None,
    batch_size: int = _BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Export the records of inventories (roots followed through their trees) to `out`.

    Parameters
    ----------
    workers : int, optional
        Processes reading the instances of split inventories in parallel (default: the CPU
        count, at most 8). With 1, or a single instance, everything runs in this process.

    Returns
    -------
    int
        The number of rows written. The output appears only when complete (written as
        ``OUT.part``, then renamed).
    """
    # each instance once, however often named or reached (a root and its leaves, inv/*.dcm)
    files = [str(path) for path in tree_paths(paths)] if follow else [str(p) for p in paths]
    workers = min(8, os.cpu_count() or 1) if workers is None else max(1, workers)
    target = Path(out)
    n = 0
    with _atomic(target, fmt) as writer:
        if workers == 1 or len(files) < 2:
            return _write_files(files, writer, batch_size, progress)
        # contiguous runs of the tree, a few per worker: the parts join in tree order
        k = max(1, -(-len(files) // (workers * 4)))
        runs = [files[i : i + k] for i in range(0, len(files), k)]
        with (
            tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as parts,
            ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool,
        ):
            futures = [
                pool.submit(_part, run, str(Path(parts) / f"{i}"), fmt, batch_size)
                for i, run in enumerate(runs)
            ]
            for i, fut in enumerate(futures):
                n += fut.result()
                writer.append(Path(parts) / f"{i}")
                if progress:
                    progress(n)
    return n
