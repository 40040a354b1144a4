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

Completion: a side proves an absence only when it is complete. Each side's Inventory Completion
Status (0008,0426), "degree of completion of Inventory with respect to the defined Scope of
Inventory" (PS3.3 Table C.38.1-1, C.38.1.1.3), is read from its roots (only a root speaks for
its tree: a PARTIAL leaf under a COMPLETE root is normal serial production, PS3.17
YYYY.3.3.2.1), or given by the caller for a side crawled now (:class:`SideStatus`). An entity in
one side only, where the other side is PARTIAL (a truncated C-FIND listing, a canceled
production), is **not listed by** that side: its presence there is not known, so it is neither
missing nor extra. The verdict (:attr:`DiffReport.verdict`) is then INCOMPLETE rather than
IDENTICAL, and DIFFERENT only for real differences (changed values or flags, or an entity absent
from a COMPLETE side).

Removed from operational use: an entity flagged removed (0008,0405) at its level or a coarser
one on one side and absent from the other is counted apart (**removed, absent from the other
side**), not missing or extra. A live archive's Study Root C-FIND does not list such entities
(PS3.4 C.6.4.5.4 lets it hide them; ours does), so comparing an archive's inventory with the
archive itself gives exactly these; and between two inventories an entity the source no longer
offers for use that the destination does not hold is no lost data (PS3.17 YYYY.2.3.1). Both are
listed, so a migration that must carry removed entities over still sees each one.
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

from dicom_inventory import (
    InventoryLevel,
    InventoryReader,
    iter_raw_rows,
    read_header,
    resolve_tree,
    tree_paths,
)
from dicom_inventory.enum import InventoryCompletionStatus
from dicom_inventory.scope import Matcher, ScopeError, scope_matchers

__all__ = [
    "COMPARED",
    "NOT_COMPARED_KINDS",
    "REMOVED",
    "SCOPE_COLUMNS",
    "DiffReport",
    "EntityDiff",
    "SideStatus",
    "diff_inventories",
    "show_value",
    "side_status",
]

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


#: The kinds of entry that are not differences: an entity in one side only whose absence from
#: the other proves nothing (that side is PARTIAL), or is expected (the entity is removed from
#: operational use). Kind -> what it says.
NOT_COMPARED_KINDS = {
    "not_listed_by_destination": "in the source only; the destination's listing is PARTIAL",
    "not_listed_by_source": "in the destination only; the source's listing is PARTIAL",
    "removed_not_in_destination": "removed from operational use in the source, absent from the "
    "destination",
    "removed_not_in_source": "removed from operational use in the destination, absent from the "
    "source",
}
#: Text for values that have none (a row column with no value, an empty one).
_ABSENT, _EMPTY = "(no value)", "(empty)"


def show_value(v: Any) -> str:
    """A value of a report as DICOM text: ``20210702``, ``Y``/``N`` for a removal flag.

    Never a Python repr: strings as they are, integers in decimal, a flag (a boolean in the
    report) as the Removed from Operational Use value it stands for (CS ``Y`` or ``N``),
    ``(no value)`` for none and ``(empty)`` for an empty string.
    """
    if v is None:
        return _ABSENT
    if isinstance(v, bool):
        return _FLAGGED if v else "N"
    text = str(v)
    return text if text else _EMPTY


@dataclass
class EntityDiff:
    """One difference, or one entity that could not be compared (:data:`NOT_COMPARED_KINDS`)."""

    kind: str
    """``missing``, ``extra``, ``different``, ``count`` or ``removed``; or one of
    :data:`NOT_COMPARED_KINDS`."""
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
class SideStatus:
    """What one side of a comparison can prove: its completion, and where it comes from."""

    completion_status: str = InventoryCompletionStatus.COMPLETE.value
    """Inventory Completion Status (0008,0426) of the side (PS3.3 C.38.1.1.3): ``COMPLETE``,
    or ``PARTIAL`` (or any other value read), when an absence from this side proves nothing."""
    problems: list[str] = field(default_factory=list)
    """Why the side is not complete: the crawl's problems (truncated listings), or the
    Inventory Instance Description of a PARTIAL root."""
    origin: str = "inventory"
    """Where the side comes from: ``inventory`` (files or URLs), or the live archive crawled."""

    @property
    def complete(self) -> bool:
        """True when the side lists everything in its scope (its absences are proven)."""
        return self.completion_status == InventoryCompletionStatus.COMPLETE.value


def side_status(paths: Sequence[str | os.PathLike[str]], origin: str = "inventory") -> SideStatus:
    """The completion of the inventories `paths` (roots and leaves, in any order).

    Only a root speaks for its tree (PS3.17 YYYY.3.3.2.1: the instances a serial production
    incorporates are PARTIAL under a COMPLETE root), so the roots among `paths` (the files no
    other one given incorporates) are read; the side is PARTIAL if any root is not COMPLETE
    (an unknown value included: it cannot prove an absence either).
    """
    trees = [resolve_tree(p) for p in paths]
    below: set[str] = set()
    for tree in trees:
        stack = list(tree.children)
        while stack:
            node = stack.pop()
            below.add(node.header.sop_instance_uid)
            stack.extend(node.children)
    statuses, problems, seen = [], [], set()
    for tree in trees:
        uid = tree.header.sop_instance_uid
        if uid in below or uid in seen:
            continue
        seen.add(uid)
        value = getattr(tree.header.completion_status, "value", tree.header.completion_status)
        statuses.append(str(value))
        if str(value) != InventoryCompletionStatus.COMPLETE.value:
            why = tree.header.inventory_instance_description
            problems.append(
                f"{Path(tree.path).name}: Inventory Completion Status {value}"
                + (f" ({why})" if why else "")
            )
    worst = next(
        (v for v in statuses if v != InventoryCompletionStatus.COMPLETE.value),
        InventoryCompletionStatus.COMPLETE.value,
    )
    return SideStatus(worst, problems, origin)


@dataclass
class DiffReport:
    """The outcome of a comparison."""

    level: str
    source_records: int
    destination_records: int
    missing: int = 0
    """Entities in the source only, the destination being COMPLETE."""
    extra: int = 0
    """Entities in the destination only, the source being COMPLETE."""
    different: int = 0
    count_mismatches: int = 0
    removed_changes: int = 0
    """Entities in both whose Removed from Operational Use flag differs."""
    source_outside: int = 0
    """Entities in the source only whose study is outside the destination's scope: not missing."""
    destination_outside: int = 0
    """Entities in the destination only whose study is outside the source's scope: not extra."""
    not_listed_by_destination: int = 0
    """Entities in the source only, the destination being PARTIAL: not known to be missing."""
    not_listed_by_source: int = 0
    """Entities in the destination only, the source being PARTIAL: not known to be extra."""
    removed_not_in_destination: int = 0
    """Entities removed from operational use in the source and absent from the destination."""
    removed_not_in_source: int = 0
    """Entities removed from operational use in the destination and absent from the source."""
    scope_notes: list[str] = field(default_factory=list)
    """Scope keys that could not be judged, and why (the comparison went on without them)."""
    source_status: SideStatus = field(default_factory=SideStatus)
    destination_status: SideStatus = field(default_factory=SideStatus)
    differences: list[EntityDiff] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        """True when something is proven missing, extra, different or changed in removal."""
        return bool(
            self.missing
            or self.extra
            or self.different
            or self.count_mismatches
            or self.removed_changes
        )

    @property
    def comparable(self) -> bool:
        """True when both sides are COMPLETE, so that every absence is proven."""
        return self.source_status.complete and self.destination_status.complete

    @property
    def identical(self) -> bool:
        """True when nothing differs and both sides are COMPLETE (nothing is left unknown)."""
        return not self.differs and self.comparable

    @property
    def verdict(self) -> str:
        """The verdict: ``DIFFERENT``, ``INCOMPLETE`` or ``IDENTICAL``.

        ``DIFFERENT``: real differences; ``INCOMPLETE``: none found, but a side is PARTIAL (what
        it does not list cannot be compared); ``IDENTICAL``: neither.
        """
        if self.differs:
            return "DIFFERENT"
        return "IDENTICAL" if self.comparable else "INCOMPLETE"

    def not_compared(self) -> dict[str, int]:
        """The counts of :data:`NOT_COMPARED_KINDS`, by kind."""
        return {kind: int(getattr(self, kind)) for kind in NOT_COMPARED_KINDS}

    def to_json(self) -> str:
        """The machine-readable report (stable keys; differences grouped by patient, study)."""
        out: dict[str, Any] = {
            "identical": self.identical,
            "verdict": self.verdict,
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
            "not_compared": self.not_compared(),
            "completion": {
                "source": asdict(self.source_status),
                "destination": asdict(self.destination_status),
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

    def verdict_line(self) -> str:
        """The verdict in one sentence: what differs, or why nothing can be said."""
        if self.differs:
            return "DIFFERENT"
        if self.comparable:
            return "IDENTICAL"
        partial = [
            name
            for name, st in (
                ("source", self.source_status),
                ("destination", self.destination_status),
            )
            if not st.complete
        ]
        unknown = self.not_listed_by_destination + self.not_listed_by_source
        whose = " and ".join(f"the {name}'s" for name in partial)
        are = "listings are" if len(partial) > 1 else "listing is"
        return f"INCOMPLETE: {whose} {are} PARTIAL: " + (
            f"{unknown} {'entity' if unknown == 1 else 'entities'} listed by one side only "
            "cannot be compared"
            if unknown
            else "nothing differs among the entities listed, but what it does not list "
            "cannot be compared"
        )

    def to_text(self, limit: int = 200) -> str:
        """A readable summary, then one line per difference (at most `limit`)."""
        lines = [
            f"compared at {self.level} level: {self.source_records} source record(s), "
            f"{self.destination_records} destination record(s)",
        ]
        for name, st in (("source", self.source_status), ("destination", self.destination_status)):
            lines.append(f"{name}: {st.origin}, Inventory Completion Status {st.completion_status}")
            shown = st.problems[:10]
            lines += [f"  {name} problem: {p}" for p in shown]
            if len(st.problems) > len(shown):
                lines.append(f"  ... and {len(st.problems) - len(shown)} more problem(s)")
        lines.append(
            f"missing {self.missing}, extra {self.extra}, different {self.different}, "
            f"count mismatches {self.count_mismatches}, "
            f"removed from operational use changed {self.removed_changes}"
            f"  -> {self.verdict_line()}"
        )
        for kind, n in self.not_compared().items():
            if n:
                lines.append(f"not compared: {n} {NOT_COMPARED_KINDS[kind]}")
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
            what = "; ".join(
                f"{k}: {show_value(v[0])} -> {show_value(v[1])}" for k, v in d.attributes.items()
            )
            kind = d.kind.replace("_", " ")
            lines.append(f"{kind:9s} {d.level:8s} patient {d.patient_id or '-'}  {where}  {what}")
        if len(self.differences) > limit:
            lines.append(f"... and {len(self.differences) - limit} more (see --format json)")
        return "\n".join(lines)


_COUNTERS = {
    "missing": "missing",
    "extra": "extra",
    "different": "different",
    "count": "count_mismatches",
    "removed": "removed_changes",
    **{kind: kind for kind in NOT_COMPARED_KINDS},
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
    source_status: SideStatus | None = None,
    destination_status: SideStatus | None = None,
) -> DiffReport:
    """Compare the inventories in `source` with those in `destination` (roots are followed).

    Parameters
    ----------
    source, destination : sequence of paths
        Inventory files of each side (roots, leaves, in any order).
    workdir : path, optional
        Where the comparison's SQLite files go (a temporary folder inside it).
    parallel : bool
        Read the two sides in two worker processes.
    source_status, destination_status : SideStatus, optional
        What each side can prove; by default read from its roots (:func:`side_status`). Give it
        for a side crawled now, with the crawl's problems.
    """
    src = [str(p) for p in source]
    dst = [str(p) for p in destination]
    status_a = source_status if source_status is not None else side_status(src)
    status_b = destination_status if destination_status is not None else side_status(dst)
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
            report = DiffReport(
                level,
                na,
                nb,
                scope_notes=notes,
                source_status=status_a,
                destination_status=status_b,
            )
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
    # an entity is removed from operational use if it or a parent is flagged (PS3.4 C.6.4.5.4)
    removed = " OR ".join(f"IFNULL(x.{REMOVED[lv]}, '') = '{_FLAGGED}'" for lv in levels)
    for side, other, kind, outside, partner in (
        (sa, sb, "missing", "source_outside", report.destination_status),
        (sb, sa, "extra", "destination_outside", report.source_status),
    ):
        other_name = "destination" if kind == "missing" else "source"
        only = f"FROM {side} x WHERE NOT EXISTS (SELECT 1 FROM {other} y WHERE {on})"
        (n,) = conn.execute(f"SELECT COUNT(*) {only} AND x.outside").fetchone()
        setattr(report, outside, int(n))
        rows = conn.execute(
            f"SELECT {sel}, x.patient_id, ({removed}) {only} AND NOT x.outside "
            f"ORDER BY x.patient_id, {sel}"
        )
        for r in rows:
            if r[-1]:  # expected absent: the other side need not hold or list it
                found = f"removed_not_in_{other_name}"
            elif not partner.complete:  # the other side's listing proves no absence
                found = f"not_listed_by_{other_name}"
            else:
                found = kind
            yield _entity(found, level, r[-2], r[:-2], {})
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
