"""Compare two inventories: what is missing, extra or different, per patient, study, series.

This is how a migration is proven complete: the source archive's inventory against the
destination's (or against what a live archive answers, via :mod:`dicom_inventory.scu.crawl`).

Both sides are read at the same time in two worker processes, each into its own SQLite file of
flat rows (:func:`dicom_inventory.iter_rows`), and compared there with SQL: memory stays flat
whatever the size (one study at a time in the readers, SQLite pages on disk), and two cores read
in parallel.

Comparison level: the finer level both inventories have (INSTANCE, SERIES or STUDY). At that
level an entity is **missing** (in the source only), **extra** (in the destination only) or
**different** (in both, with differing values of :data:`COMPARED`); at STUDY and SERIES level
the numbers of related instances are compared as well (**count mismatch**).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dicom_inventory.enum import InventoryLevel
from dicom_inventory.read import iter_inventory, read_header
from dicom_inventory.rows import iter_rows

__all__ = ["COMPARED", "DiffReport", "EntityDiff", "diff_inventories"]

#: Attributes compared between the two sides, by level.
COMPARED = {
    "STUDY": ("patient_id", "patient_name", "patient_birth_date", "study_date", "accession_number"),
    "SERIES": ("modality", "series_number"),
    "INSTANCE": ("sop_class_uid", "instance_number"),
}
_LEVELS = ("STUDY", "SERIES", "INSTANCE")
_COLUMNS = (
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    *COMPARED["STUDY"],
    *COMPARED["SERIES"],
    *COMPARED["INSTANCE"],
    "number_of_study_related_instances",
)


@dataclass
class EntityDiff:
    """One difference."""

    kind: str
    """``missing``, ``extra``, ``different`` or ``count``."""
    level: str
    patient_id: str | None
    study_instance_uid: str
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    attributes: dict[str, list[Any]] = field(default_factory=dict)
    """For ``different`` and ``count``: attribute -> [source value, destination value]."""


def _entity(
    kind: str,
    level: str,
    patient_id: str | None,
    uids: Sequence[Any],
    attributes: dict[str, list[Any]],
) -> EntityDiff:
    """An `EntityDiff` from the study/series/instance UIDs of its level (1 to 3 of them)."""
    padded = list(uids) + [None] * (3 - len(uids))
    return EntityDiff(kind, level, patient_id, padded[0], padded[1], padded[2], attributes)


@dataclass
class DiffReport:
    """The outcome of a comparison."""

    level: str
    source_records: int
    destination_records: int
    missing: int = 0
    extra: int = 0
    different: int = 0
    count_mismatches: int = 0
    differences: list[EntityDiff] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """True when nothing is missing, extra or different."""
        return not (self.missing or self.extra or self.different or self.count_mismatches)

    def to_json(self) -> str:
        """The machine-readable report (stable keys; differences grouped by patient, study)."""
        out: dict[str, Any] = {
            "identical": self.identical,
            "level": self.level,
            "source_records": self.source_records,
            "destination_records": self.destination_records,
            "missing": self.missing,
            "extra": self.extra,
            "different": self.different,
            "count_mismatches": self.count_mismatches,
            "patients": {},
        }
        for d in self.differences:
            patient = out["patients"].setdefault(d.patient_id or "", {})
            study = patient.setdefault(d.study_instance_uid, [])
            entry = {k: v for k, v in asdict(d).items() if v not in (None, {}, "")}
            entry.pop("patient_id", None)
            entry.pop("study_instance_uid", None)
            study.append(entry)
        return json.dumps(out, indent=1, sort_keys=False)

    def to_text(self, limit: int = 200) -> str:
        """A readable summary, then one line per difference (at most `limit`)."""
        lines = [
            f"compared at {self.level} level: {self.source_records} source record(s), "
            f"{self.destination_records} destination record(s)",
            f"missing {self.missing}, extra {self.extra}, different {self.different}, "
            f"count mismatches {self.count_mismatches}"
            + ("  -> IDENTICAL" if self.identical else "  -> DIFFERENT"),
        ]
        for d in self.differences[:limit]:
            where = " / ".join(
                x for x in (d.study_instance_uid, d.series_instance_uid, d.sop_instance_uid) if x
            )
            what = (
                "; ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in d.attributes.items())
                if d.attributes
                else ""
            )
            lines.append(f"{d.kind:9s} {d.level:8s} patient {d.patient_id or '-'}  {where}  {what}")
        if len(self.differences) > limit:
            lines.append(f"... and {len(self.differences) - limit} more (see --format json)")
        return "\n".join(lines)


_COUNTERS = {
    "missing": "missing",
    "extra": "extra",
    "different": "different",
    "count": "count_mismatches",
}


def _level(paths: list[str]) -> str:
    return str(InventoryLevel(read_header(paths[0]).inventory_level).value)


def _load(paths: list[str], db: str) -> int:
    """Worker: rows of the inventories into table ``r`` of SQLite file `db`."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(f"CREATE TABLE r ({', '.join(_COLUMNS)})")
    n = 0
    batch: list[tuple[Any, ...]] = []
    sql = f"INSERT INTO r VALUES ({', '.join('?' * len(_COLUMNS))})"
    for row in iter_rows(iter_inventory(paths)):
        batch.append(tuple(row[c] for c in _COLUMNS))
        if len(batch) >= 50_000:
            conn.executemany(sql, batch)
            n += len(batch)
            batch = []
    conn.executemany(sql, batch)
    n += len(batch)
    conn.commit()
    conn.close()
    return n


def diff_inventories(
    source: Sequence[str | os.PathLike[str]],
    destination: Sequence[str | os.PathLike[str]],
    *,
    workdir: str | os.PathLike[str] | None = None,
    parallel: bool = True,
) -> DiffReport:
    """Compare the inventories in `source` with those in `destination` (roots are followed)."""
    src = [str(p) for p in source]
    dst = [str(p) for p in destination]
    level = min(_level(src), _level(dst), key=_LEVELS.index)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="diff-") as tmp:
        a, b = str(Path(tmp) / "a.sqlite"), str(Path(tmp) / "b.sqlite")
        if parallel:
            with ProcessPoolExecutor(2) as pool:
                fa, fb = pool.submit(_load, src, a), pool.submit(_load, dst, b)
                na, nb = fa.result(), fb.result()
        else:
            na, nb = _load(src, a), _load(dst, b)
        conn = sqlite3.connect(a)
        try:
            conn.execute("ATTACH DATABASE ? AS d", (b,))
            report = DiffReport(level, na, nb)
            for d in _compare(conn, level):
                report.differences.append(d)
                counter = _COUNTERS[d.kind]
                setattr(report, counter, getattr(report, counter) + 1)
        finally:
            conn.close()
    return report


def _compare(conn: sqlite3.Connection, level: str) -> Iterator[EntityDiff]:
    keys = {
        "STUDY": ("study_instance_uid",),
        "SERIES": ("study_instance_uid", "series_instance_uid"),
        "INSTANCE": ("study_instance_uid", "series_instance_uid", "sop_instance_uid"),
    }[level]
    compared = [c for lv in _LEVELS[: _LEVELS.index(level) + 1] for c in COMPARED[lv]]
    cols = ", ".join([*keys, *compared])
    group = ", ".join(keys)
    # one row per entity at the comparison level (rows of finer inventories are folded)
    conn.execute(
        f"CREATE TEMP TABLE sa AS SELECT {cols}, COUNT(*) AS n, "
        f"MAX(number_of_study_related_instances) AS ni FROM main.r GROUP BY {group}"
    )
    conn.execute(
        f"CREATE TEMP TABLE sb AS SELECT {cols}, COUNT(*) AS n, "
        f"MAX(number_of_study_related_instances) AS ni FROM d.r GROUP BY {group}"
    )
    for t in ("sa", "sb"):
        conn.execute(f"CREATE INDEX temp.{t}_k ON {t} ({group})")
    on = " AND ".join(f"x.{k} = y.{k}" for k in keys)
    sel = ", ".join(f"x.{k}" for k in keys)
    for side, other, kind in (("sa", "sb", "missing"), ("sb", "sa", "extra")):
        rows = conn.execute(
            f"SELECT {sel}, x.patient_id FROM {side} x LEFT JOIN {other} y ON {on} "
            f"WHERE y.{keys[0]} IS NULL ORDER BY x.patient_id, {sel}"
        )
        for r in rows:
            yield EntityDiff(kind, level, r[-1], *r[: len(keys)])
    diff_cols = ", ".join(f"x.{c}, y.{c}" for c in compared)
    rows = conn.execute(
        f"SELECT {sel}, x.patient_id, {diff_cols}, x.n, y.n, x.ni, y.ni "
        f"FROM sa x JOIN sb y ON {on} ORDER BY x.patient_id, {sel}"
    )
    for r in rows:
        k = r[: len(keys)]
        values = r[len(keys) + 1 :]
        changed = {
            c: [values[2 * i], values[2 * i + 1]]
            for i, c in enumerate(compared)
            if values[2 * i] != values[2 * i + 1]
        }
        if changed:
            yield _entity("different", level, r[len(keys)], k, changed)
        ni_a, ni_b = values[-2:]
        if level != "INSTANCE" and ni_a is not None and ni_b is not None and ni_a != ni_b:
            yield _entity(
                "count",
                level,
                r[len(keys)],
                k,
                {"number_of_study_related_instances": [ni_a, ni_b]},
            )
