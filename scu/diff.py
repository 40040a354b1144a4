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
the numbers of related instances are compared as well (**count mismatch**). An entity in both
whose Removed from Operational Use (0008,0405) flag differs, at its own level or a coarser one
(a study flagged in one and not the other), is a **removed** change: an entity removed from
operational use is kept by the archive but no longer offered for use (PS3.17 YYYY.2.3.1,
PS3.4 C.6.4), so the change matters to a migration as much as a missing entity does.

Scopes: each inventory covers the studies of its Scope of Inventory (PS3.3 C.38.2.1; that of
the first file of each side is taken). The comparison is restricted to the overlap of the two
scopes: an entity one side lists whose study does not match the other side's scope (matched on
the study's attributes as recorded, PS3.4 C.2.2.2, :func:`dicom_inventory.scope.scope_matchers`)
is neither missing nor extra but counted as **outside the other side's scope**. A scope key the
rows do not carry (not in :data:`SCOPE_COLUMNS`), a RELATIONAL scope below the study level, or
keys found directly in the Scope item (not the standard's form) cannot be judged here: the
report names them in ``scope_notes`` and compares without them.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dicom_inventory import InventoryLevel, InventoryReader, iter_raw_rows, read_header, tree_paths
from dicom_inventory.scope import Matcher, ScopeError, scope_matchers

__all__ = ["COMPARED", "REMOVED", "SCOPE_COLUMNS", "DiffReport", "EntityDiff", "diff_inventories"]

#: Attributes compared between the two sides, by level.
COMPARED = {
    "STUDY": ("patient_id", "patient_name", "patient_birth_date", "study_date", "accession_number"),
    "SERIES": ("modality", "series_number"),
    "INSTANCE": ("sop_class_uid", "instance_number"),
}
#: The row column of Removed from Operational Use (0008,0405), by level (PS3.3 C.38.1).
REMOVED = {"STUDY": "study_removed", "SERIES": "series_removed", "INSTANCE": "instance_removed"}
#: The value of Removed from Operational Use that flags an entity (CS ``Y``); no value or ``N``
#: is not flagged.
_FLAGGED = "Y"
#: The Study-level scope keys whose values the rows carry: keyword -> row column
#: (:data:`dicom_inventory.rows.ROW_COLUMNS`).
SCOPE_COLUMNS = {
    "PatientID": "patient_id",
    "PatientName": "patient_name",
    "PatientBirthDate": "patient_birth_date",
    "PatientSex": "patient_sex",
    "StudyInstanceUID": "study_instance_uid",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "AccessionNumber": "accession_number",
    "StudyID": "study_id",
    "StudyDescription": "study_description",
    "ModalitiesInStudy": "modalities_in_study",
    "StudyUpdateDateTime": "study_update_datetime",
}
_LEVELS = ("STUDY", "SERIES", "INSTANCE")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_COLUMNS = (
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    *COMPARED["STUDY"],
    *COMPARED["SERIES"],
    *COMPARED["INSTANCE"],
    "number_of_study_related_instances",
    *REMOVED.values(),
)


@dataclass
class EntityDiff:
    """One difference."""

    kind: str
    """``missing``, ``extra``, ``different``, ``count`` or ``removed``."""
    level: str
    patient_id: str | None
    study_instance_uid: str
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    attributes: dict[str, list[Any]] = field(default_factory=dict)
    """For ``different``, ``count`` and ``removed``: attribute -> [source value, destination
    value]; for ``removed``, the columns of :data:`REMOVED` that differ, as booleans (flagged
    removed from operational use or not)."""


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
    removed_changes: int = 0
    """Entities in both whose Removed from Operational Use flag differs."""
    source_outside: int = 0
    """Entities in the source only whose study is outside the destination's scope: not missing."""
    destination_outside: int = 0
    """Entities in the destination only whose study is outside the source's scope: not extra."""
    scope_notes: list[str] = field(default_factory=list)
    """Scope keys that could not be judged, and why (the comparison went on without them)."""
    differences: list[EntityDiff] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """True when nothing is missing, extra, different or changed in removal."""
        return not (
            self.missing
            or self.extra
            or self.different
            or self.count_mismatches
            or self.removed_changes
        )

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
            "removed_changes": self.removed_changes,
            "outside_other_scope": {
                "source": self.source_outside,
                "destination": self.destination_outside,
            },
            "scope_notes": self.scope_notes,
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
            f"count mismatches {self.count_mismatches}, "
            f"removed from operational use changed {self.removed_changes}"
            + ("  -> IDENTICAL" if self.identical else "  -> DIFFERENT"),
        ]
        if self.source_outside or self.destination_outside:
            lines.append(
                f"not compared, outside the other side's scope: {self.source_outside} in the "
                f"source only, {self.destination_outside} in the destination only"
            )
        lines += [f"scope: {note}" for note in self.scope_notes]
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
    "removed": "removed_changes",
}


def _level(paths: list[str]) -> str:
    return str(InventoryLevel(read_header(paths[0]).inventory_level).value)


_KEYS = {
    "STUDY": ("study_instance_uid",),
    "SERIES": ("study_instance_uid", "series_instance_uid"),
    "INSTANCE": ("study_instance_uid", "series_instance_uid", "sop_instance_uid"),
}


def _raw_rows(paths: list[str], extra: tuple[str, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Rows of :data:`_COLUMNS`, then of the `extra` columns, of the inventories and their trees.

    They come from the byte-level rows of the IOD library
    (:func:`~dicom_inventory.rows.iter_raw_rows`, which decodes only the columns asked for):
    the same values as :func:`~dicom_inventory.iter_rows`, read about 1.5x as fast as typed
    records (``bench/bench_scu.py``).
    """
    for path in tree_paths(paths):  # each instance once, however often named or reached
        with InventoryReader(path) as reader:
            yield from iter_raw_rows(reader, (*_COLUMNS, *extra))


def _sqlite_value(v: Any) -> Any:
    """`v`, or its decimal text where it is an integer beyond SQLite's 64-bit range.

    The same value on both sides still compares equal (as text), and differs from any other.
    """
    if isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX:
        return str(v)
    return v


def _outside(rows: Iterator[tuple[Any, ...]], keys: dict[str, str]) -> Iterator[tuple[Any, ...]]:
    """`rows` cut to :data:`_COLUMNS`, each with a last cell saying if its study is outside.

    The rows hold the columns of `keys` (the other side's scope) after :data:`_COLUMNS`; the
    last cell is 1 if the study does not match `keys`, else 0. Rows come study by study: a
    study is judged once.
    """
    matchers: dict[str, Matcher] = scope_matchers(keys)
    width = len(_COLUMNS)
    last: tuple[Any, ...] | None = None
    verdict = 0
    for row in rows:
        values = row[width:]
        if values != last:
            last = values
            verdict = int(not all(m(v) for m, v in zip(matchers.values(), values, strict=True)))
        yield (*row[:width], verdict)


def _load(paths: list[str], db: str, level: str, other_scope: dict[str, str]) -> int:
    """Worker: rows of the inventories into table ``r`` of SQLite file `db`.

    Each row's column ``outside`` says whether its study is outside `other_scope` (the other
    side's scope keys, :data:`SCOPE_COLUMNS` keywords). The table is indexed by the keys of the
    comparison `level` (built here, so both sides index in parallel).
    """
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-32768")  # 32 MB for the index build
    conn.execute(f"CREATE TABLE r ({', '.join(_COLUMNS)}, outside INTEGER DEFAULT 0)")
    n = 0
    if other_scope:  # judged row by row; without a scope, no step per row (the default 0)
        columns = (*_COLUMNS, "outside")
        scope_columns = tuple(SCOPE_COLUMNS[k] for k in other_scope)
        rows = _outside(_raw_rows(paths, scope_columns), other_scope)
    else:
        columns, rows = _COLUMNS, _raw_rows(paths)
    sql = f"INSERT INTO r ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    while True:
        batch = list(itertools.islice(rows, 20_000))
        if not batch:
            break
        try:
            conn.executemany(sql, batch)
        except OverflowError:  # an integer beyond SQLite's int64 (a malformed IS value)
            conn.executemany(sql, [tuple(map(_sqlite_value, row)) for row in batch])
        n += len(batch)
    conn.execute(f"CREATE INDEX r_k ON r ({', '.join(_KEYS[level])})")
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
    notes: list[str] = []
    scope_a = _judged_scope(src, "source", notes)
    scope_b = _judged_scope(dst, "destination", notes)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="diff-") as tmp:
        a, b = str(Path(tmp) / "a.sqlite"), str(Path(tmp) / "b.sqlite")
        if parallel:
            with ProcessPoolExecutor(2) as pool:
                fa = pool.submit(_load, src, a, level, scope_b)
                fb = pool.submit(_load, dst, b, level, scope_a)
                na, nb = fa.result(), fb.result()
        else:
            na, nb = _load(src, a, level, scope_b), _load(dst, b, level, scope_a)
        conn = sqlite3.connect(a)
        try:
            conn.execute("ATTACH DATABASE ? AS d", (b,))
            report = DiffReport(level, na, nb, scope_notes=notes)
            for d in _compare(conn, level, report):
                report.differences.append(d)
                counter = _COUNTERS[d.kind]
                setattr(report, counter, getattr(report, counter) + 1)
        finally:
            conn.close()
    return report


def _judged_scope(paths: list[str], side: str, notes: list[str]) -> dict[str, str]:
    """The Scope of Inventory of the first of `paths` as flat keys this comparison can judge.

    Keys it cannot judge are left out, each with a line in `notes`: a key the rows do not
    carry, a RELATIONAL scope below the study level, keys directly in the item, a value that is
    not valid for its matching type.
    """
    scope = read_header(paths[0]).scope if paths else None
    if scope is None or scope.is_universal:
        return {}
    if scope.query_retrieve_level not in (None, "STUDY"):
        notes.append(
            f"the {side}'s scope is at {scope.query_retrieve_level} level (RELATIONAL): "
            "compared whole"
        )
        return {}
    if scope.direct:
        notes.append(
            f"the {side}'s scope holds {', '.join(scope.direct)} directly in its item (not in a "
            "matching sequence, PS3.3 C.38.2.1): those keys are not judged"
        )
    keys = {}
    for key, text in scope.keys.items():
        if key not in SCOPE_COLUMNS:
            notes.append(f"the {side}'s scope key {key} is not in the rows: not judged")
            continue
        try:
            scope_matchers({key: text})
        except ScopeError as exc:
            notes.append(f"the {side}'s scope key {exc}: not judged")
            continue
        keys[key] = text
    return keys


def _compare(conn: sqlite3.Connection, level: str, report: DiffReport) -> Iterator[EntityDiff]:
    keys = _KEYS[level]
    levels = _LEVELS[: _LEVELS.index(level) + 1]
    compared = [c for lv in levels for c in COMPARED[lv]]
    cols = ", ".join([*keys, *compared, *(REMOVED[lv] for lv in levels)])
    group = ", ".join(keys)
    sides = []
    for schema, name in (("main", "sa"), ("d", "sb")):
        fine = conn.execute(
            f"SELECT EXISTS (SELECT 1 FROM {schema}.r GROUP BY {group} HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        if fine:  # rows finer than the level (or repeated): one row per entity, folded
            conn.execute(
                f"CREATE TEMP TABLE {name} AS SELECT {cols}, COUNT(*) AS n, "
                f"MAX(number_of_study_related_instances) AS number_of_study_related_instances, "
                f"MAX(outside) AS outside FROM {schema}.r GROUP BY {group}"
            )
            conn.execute(f"CREATE INDEX temp.{name}_k ON {name} ({group})")
            sides.append(name)
        else:  # one row per entity already, indexed by the loader: join the table itself
            sides.append(f"{schema}.r")
    sa, sb = sides
    on = " AND ".join(f"x.{k} = y.{k}" for k in keys)
    sel = ", ".join(f"x.{k}" for k in keys)
    for side, other, kind, outside in (
        (sa, sb, "missing", "source_outside"),
        (sb, sa, "extra", "destination_outside"),
    ):
        only = f"FROM {side} x WHERE NOT EXISTS (SELECT 1 FROM {other} y WHERE {on})"
        (n,) = conn.execute(f"SELECT COUNT(*) {only} AND x.outside").fetchone()
        setattr(report, outside, int(n))
        rows = conn.execute(
            f"SELECT {sel}, x.patient_id {only} AND NOT x.outside ORDER BY x.patient_id, {sel}"
        )
        for r in rows:
            yield _entity(kind, level, r[-1], r[:-1], {})
    # only the entities that differ come back from SQLite, not the million that match
    differs = " OR ".join(f"x.{c} IS NOT y.{c}" for c in compared)
    ni = "x.number_of_study_related_instances", "y.number_of_study_related_instances"
    if level != "INSTANCE":
        differs += f" OR ({ni[0]} IS NOT NULL AND {ni[1]} IS NOT NULL AND {ni[0]} != {ni[1]})"
    diff_cols = ", ".join(f"x.{c}, y.{c}" for c in compared)
    rows = conn.execute(
        f"SELECT {sel}, x.patient_id, {diff_cols}, {ni[0]}, {ni[1]} "
        f"FROM {sa} x JOIN {sb} y ON {on} WHERE {differs} ORDER BY x.patient_id, {sel}"
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
    for lv in levels:
        yield from _removed_changes(conn, sa, sb, lv)


def _removed_changes(
    conn: sqlite3.Connection, sa: str, sb: str, level: str
) -> Iterator[EntityDiff]:
    """Entities of `level` in both sides whose Removed from Operational Use flag differs.

    One change per entity at its own level (a study flagged on one side is one change, not one
    per instance row); an entity is flagged if any of its rows says ``Y``.
    """
    keys = _KEYS[level]
    group = ", ".join(keys)
    flag = f"MAX(IFNULL({REMOVED[level]}, '') = '{_FLAGGED}')"
    side = f"SELECT {group}, MAX(patient_id) AS patient_id, {flag} AS f FROM {{}} GROUP BY {group}"
    on = " AND ".join(f"a.{k} = b.{k}" for k in keys)
    rows = conn.execute(
        f"WITH a AS ({side.format(sa)}), b AS ({side.format(sb)}) "
        f"SELECT {', '.join(f'a.{k}' for k in keys)}, a.patient_id, a.f, b.f FROM a JOIN b ON {on} "
        f"WHERE a.f != b.f ORDER BY a.patient_id, {', '.join(f'a.{k}' for k in keys)}"
    )
    for r in rows:
        flags = [bool(r[-2]), bool(r[-1])]
        yield _entity("removed", level, r[len(keys)], r[: len(keys)], {REMOVED[level]: flags})
