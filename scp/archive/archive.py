"""The embedded archive: a folder with a SQLite index and (optionally) the stored files.

It implements :class:`~dicom_inventory.scp.stores.repository.Repository`, so production and the SCP
use it exactly as they would a vendor's database adapter.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from dicom_inventory.containers import MAX_HEADER_BYTES
from dicom_inventory.encode import StudyEncoder
from dicom_inventory.enum import (
    ContainerFileType,
    InstanceAvailability,
    InventoryLevel,
    ReasonForAttributeModification,
)
from dicom_inventory.errors import InventoryError
from dicom_inventory.model import Code
from dicom_inventory.scp.archive.ingest import FoundObject, IngestError, find_objects
from dicom_inventory.scp.archive.schema import create_schema, transaction
from dicom_inventory.scp.archive.values import stored_value, update_problem
from dicom_inventory.scp.production.produce import study_records
from dicom_inventory.scp.production.scope import parse_scope
from dicom_inventory.scp.stores.repository import (
    INSTANCE_KEYWORDS,
    SERIES_KEYWORDS,
    STUDY_KEYWORDS,
    InstanceEntry,
    MetadataChange,
    Repository,
    SeriesEntry,
    StoredFile,
    StudyEntry,
    StudyFilter,
    entry_value,
)
from dicom_inventory.uid import is_valid_uid
from pydicom.datadict import tag_for_keyword

__all__ = [
    "INSTANCE_KEYWORDS",
    "SERIES_KEYWORDS",
    "STUDY_KEYWORDS",
    "Archive",
    "ArchiveError",
    "IngestReport",
    "REJECTION_REASONS",
    "SQLArchive",
    "fold_changes",
]

_LEVELS = {"STUDY": STUDY_KEYWORDS, "SERIES": SERIES_KEYWORDS, "INSTANCE": INSTANCE_KEYWORDS}
_KEY_COLUMNS = {
    "PatientID": "patient_id",
    "PatientName": "patient_name",
    "StudyDate": "study_date",
    "AccessionNumber": "accession_number",
    "Modality": "modality",
}
#: The study columns a :class:`StudyFilter` condition is put on (indexed, kept current).
_STUDY_COLUMNS = {k: _KEY_COLUMNS[k] for k in ("PatientID", "StudyDate", "AccessionNumber")}


#: Reasons for removal from operational use: the IOCM rejection titles (DCM, CID 7011 style).
REJECTION_REASONS = {
    "113001": "Rejected for Quality Reasons",
    "113037": "Rejected for Patient Safety Reasons",
    "113038": "Incorrect Modality Worklist Entry",
    "113039": "Data Retention Policy Expired",
}


_TABLES = {
    "STUDY": ("studies", "study_uid"),
    "SERIES": ("series", "series_uid"),
    "INSTANCE": ("instances", "sop_instance_uid"),
}


def _table(level: str) -> tuple[str, str, str]:
    """(LEVEL, table, key column) of a level name; ArchiveError for anything else."""
    level = level.upper()
    if level not in _TABLES:
        raise ArchiveError(f"level {level!r}: expected STUDY, SERIES or INSTANCE")
    return (level, *_TABLES[level])


def _reason(removed: str | None) -> Code | None:
    if not removed:
        return None
    return Code(removed, "DCM", REJECTION_REASONS.get(removed, "Removed from operational use"))


def fold_changes(rows: Iterable[Sequence[Any]]) -> tuple[MetadataChange, ...]:
    """Fold an entity's recorded changes, oldest first, into one change per attribute.

    Each row is (keyword, stored value, new value, when, by whom, reason), values as JSON
    text. The stored value is the first change's (what the file holds); the current value,
    time, author and reason are the last change's. An attribute changed back to the stored
    value is no change: the file is right again (PS3.17 YYYY.7.9).
    """
    first: dict[str, Any] = {}
    last: dict[str, tuple[Any, str, str, str]] = {}
    for kw, stored, new, at, by, reason in rows:
        first.setdefault(kw, json.loads(stored))
        last[kw] = (json.loads(new), at, by, reason)
    return tuple(
        MetadataChange(kw, first[kw], cur, at, by, reason)
        for kw, (cur, at, by, reason) in last.items()
        if cur != first[kw]
    )


class ArchiveError(InventoryError):
    """The archive folder or its index cannot be used, or a request to it is invalid."""


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: int = 0
    """Stored objects (locations) newly indexed."""
    known: int = 0
    """Objects already indexed at the same location (ingest is idempotent)."""
    errors: list[IngestError] = field(default_factory=list)
    """Files or members that were skipped, with the reason."""


def _now() -> str:
    return datetime.datetime.now().strftime("%Y%m%d%H%M%S")


def _json_value(ds: Any, keyword: str) -> Any:
    elem = ds.data_element(keyword) if keyword in ds else None
    if elem is None or elem.value is None:
        return None
    return entry_value(elem.VR, list(elem.value) if elem.VM > 1 else [elem.value])


def _attrs(ds: Any, keywords: Iterable[str]) -> dict[str, Any]:
    return {kw: v for kw in keywords if (v := _json_value(ds, kw)) is not None}


def _dataset_values(ds: Any) -> tuple[Any, ...]:
    """The data set's part of an index row (see :meth:`SQLArchive._index_row`)."""
    study = _attrs(ds, STUDY_KEYWORDS)
    series = _attrs(ds, SERIES_KEYWORDS)
    return (
        str(ds.StudyInstanceUID),
        study.get("PatientID"),
        study.get("PatientName"),
        study.get("StudyDate"),
        study.get("AccessionNumber"),
        json.dumps(study),
        str(ds.SeriesInstanceUID),
        series.get("Modality"),
        json.dumps(series),
        str(ds.SOPInstanceUID),
        str(ds.SOPClassUID),
        json.dumps(_attrs(ds, INSTANCE_KEYWORDS)),
    )


class SQLArchive:
    """The archive's logic over any SQL database holding the archive schema.

    Ingest, database-only updates, removal and the Repository protocol are written once, in
    SQL that SQLite and PostgreSQL both run (``?`` placeholders, ``ON CONFLICT DO NOTHING``,
    quoted ``"offset"``). A subclass connects and supplies :meth:`_x` (execute) and
    :meth:`_tx` (one transaction), and may override a reader with a faster query of its
    database (:class:`Archive` for SQLite, the PostgreSQL archive in
    :mod:`dicom_inventory.scp.postgres`).

    Attributes
    ----------
    directory : Path or None
        Where received (C-STORE) and copied-in files are kept; ``None`` if the archive keeps
        no files of its own.
    """

    directory: Path | None = None
    #: Objects indexed in one transaction by :meth:`ingest` (a re-run redoes at most these).
    _INGEST_BATCH = 500
    #: Select-list templates that fetch an entity's change history and an instance's files
    #: as JSON arrays in the entity's own row (``{level}``, ``{uid}``: its level and key
    #: column); ``None``: one query per entity instead (SQLite, where those are cheap).
    _HISTORY: str | None = None
    _FILES: str | None = None
    #: The SQL aggregate of a study's distinct modalities, comma-separated.
    _MODALITIES = "GROUP_CONCAT(DISTINCT modality)"
    #: The collation that compares text as bytes (SQLite's default, BINARY).
    _BYTES = ""
    #: Most UIDs of a Study Instance UID list put into one ``IN (...)`` (the rest: a walk).
    _MAX_LISTED_UIDS = 500

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Any]:
        """Execute a query whose rows may be many; by default a lazy cursor."""
        rows: Iterable[Any] = self._x(sql, params)
        return rows

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Execute one statement (``?`` placeholders) and return its cursor."""
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[Any]:
        """Return a context manager that runs its block as one transaction."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest ---------------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[str | Path],
        *,
        copy: bool = False,
        progress: Callable[[FoundObject | IngestError], None] | None = None,
        header_budget: int = MAX_HEADER_BYTES,
        on_file: Callable[[], None] | None = None,
    ) -> IngestReport:
        """Index the DICOM objects in `sources` (folders, files, containers).

        Idempotent: an object already indexed at the same location is counted as known.
        One bad item never ends the run: each file or member that cannot be read (see
        :mod:`~dicom_inventory.scp.archive.ingest`), or that production could not write into
        an inventory (:meth:`production_refusal`), is reported in
        :attr:`IngestReport.errors` (and the ``ingest_errors`` table) and skipped; the rest
        is indexed. With `copy`, each file or container is copied into ``store/`` first and
        indexed there. `header_budget`: most bytes read for one object's header.

        `progress` is called with each object or error as found, `on_file` once each file or
        container is read (see :func:`~dicom_inventory.scp.archive.ingest.count_files` for
        the total): plain callables, for a display the caller owns.

        Interrupted (``KeyboardInterrupt`` or any error), the index keeps every batch
        committed before, and nothing of the batch in progress: a re-run indexes the rest
        (what is indexed already is counted as known). A copy into ``store/`` is made under
        a temporary name and renamed once complete, so a copy cut short is never indexed.
        """
        report = IngestReport()
        copies: dict[str, str] = {}
        batch: list[FoundObject | IngestError] = []

        def flush() -> None:
            # one transaction per batch, not per object: a commit per file cost SQLite
            # (fsync) and PostgreSQL (round trips) more than reading the header
            with self._tx():
                objects = [f for f in batch if isinstance(f, FoundObject)]
                batched = self._index_batch(objects) if objects else None
                if batched is not None:
                    report.added += sum(batched)
                    report.known += len(batched) - sum(batched)
                for found in batch:
                    if batched is None and not isinstance(found, IngestError):
                        # a savepoint per object: one that cannot be indexed is reported
                        # and the rest of the batch is kept
                        self._x("SAVEPOINT ingest_object")
                        try:
                            added = self._index(found)
                        except Exception as exc:
                            self._x("ROLLBACK TO SAVEPOINT ingest_object")
                            loc = found.location
                            found = IngestError(loc.path, loc.member, f"cannot be indexed: {exc}")
                            report.errors.append(found)
                        else:
                            report.added += int(added)
                            report.known += int(not added)
                        self._x("RELEASE SAVEPOINT ingest_object")
                    if isinstance(found, IngestError):
                        self._x(
                            "INSERT INTO ingest_errors (source, member, message, at)"
                            " VALUES (?,?,?,?)",
                            (found.source, found.member, found.message, _now()),
                        )
            batch.clear()

        for source in sources:
            found_in = find_objects(Path(source), header_budget=header_budget, on_file=on_file)
            for found in found_in:
                if isinstance(found, FoundObject):
                    why = self.production_refusal(found)
                    if why is not None:
                        loc = found.location
                        found = IngestError(loc.path, loc.member or _at(loc), why)
                if progress is not None:
                    progress(found)
                if isinstance(found, IngestError):
                    report.errors.append(found)
                elif copy:
                    found.location = replace(
                        found.location, path=self._copy_in(found.location.path, copies)
                    )
                batch.append(found)
                if len(batch) >= self._INGEST_BATCH:
                    flush()
        flush()
        return report

    def production_refusal(self, found: FoundObject) -> str | None:
        """Why production could not write `found` into an inventory, or ``None``.

        The object's record is made as production makes it from the index (study, series and
        instance entries from the values :meth:`_index_row` stores, through
        :func:`~dicom_inventory.scp.production.produce.study_records`) and encoded by the
        encoder production uses (Inventory Level INSTANCE, UTF-8): every check the encoder
        makes on the values the archive copies -- UID syntax (PS3.5 9.1), VR lengths and
        character repertoires, Type 1 values (PS3.3 C.38.1) -- is made once, at ingest, so one
        such object never blocks ``archive create`` for the whole archive.
        """
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's on odd values: the encoder judges
                row = self._index_row(found)
            study = StudyEntry(row[0], json.loads(row[5]), _now(), 1, 1)
            series = SeriesEntry(row[6], json.loads(row[8]))
            instance = InstanceEntry(row[9], row[10], json.loads(row[11]), (found.location,))
            level = InventoryLevel.INSTANCE
            one = _One(study, series, instance)
            records = study_records(one, parse_scope(None), level, as_of=_now())
            if self._encoder is None:
                self._encoder = StudyEncoder(level)
            for record in records:
                self._encoder.study(record)
        except Exception as exc:  # whatever production would meet, met now, for this object
            return f"production could not write it into an inventory: {exc}"
        return None

    #: The encoder :meth:`production_refusal` tries each object with (made once).
    _encoder: StudyEncoder | None = None

    def receive(self, data: bytes, sop_instance_uid: str) -> IngestReport:
        """Keep a received Part 10 object (C-STORE) under ``store/received/`` and index it.

        Raises
        ------
        ArchiveError
            If the SOP Instance UID is not a valid UID (it names the file).
        """
        if not is_valid_uid(sop_instance_uid):
            raise ArchiveError(f"SOP Instance UID {sop_instance_uid!r} is not a valid UID")
        folder = self.store_folder() / "received"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{sop_instance_uid}.dcm"
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return self.ingest([target])

    def store_folder(self) -> Path:
        """Return the folder of the files the archive keeps itself (received, copied in).

        Raises
        ------
        ArchiveError
            If the archive has no folder (a database-only archive).
        """
        if self.directory is None:
            raise ArchiveError("this archive has no folder for stored files (give it one)")
        return self.directory / "store"

    def _copy_in(self, path: str, copies: dict[str, str]) -> str:
        if path not in copies:
            store = self.store_folder()
            store.mkdir(exist_ok=True)
            digest = hashlib.sha1(path.encode()).hexdigest()[:12]
            target = store / f"{digest}-{Path(path).name}"
            if not target.exists() or target.stat().st_size != os.stat(path).st_size:
                # a partial copy is never under the final name (an earlier version of this
                # copy, cut short, left one there: the size check replaces it)
                partial = target.with_name(f".{target.name}.partial")
                try:
                    shutil.copy2(path, partial)
                    os.replace(partial, target)
                except BaseException:
                    partial.unlink(missing_ok=True)
                    raise
            copies[path] = str(target.resolve())
        return copies[path]

    def _index_batch(self, objects: Sequence[FoundObject]) -> list[bool] | None:
        """Index a batch of found objects at once; for each, whether it was new.

        ``None``: the database has no batch path, or the batch failed and was undone (then
        :meth:`ingest` indexes object by object, so the one at fault is reported alone).
        """
        return None

    #: The columns :meth:`_index_row` gives values for, in order (one row per object).
    _INDEX_COLUMNS = (
        "study_uid, patient_id, patient_name, study_date, accession_number, study_attrs,"
        " series_uid, modality, series_attrs, sop_instance_uid, sop_class_uid, instance_attrs,"
        ' path, container, member, "offset", length, transfer_syntax_uid'
    )

    @staticmethod
    def _index_row(found: FoundObject) -> tuple[Any, ...]:
        """The values one found object puts into studies, series, instances and files.

        The data set's part is computed once per object (:attr:`FoundObject.values`): ingest
        uses it twice, for :meth:`production_refusal` and to index.
        """
        if found.values is None:
            found.values = _dataset_values(found.dataset)
        loc = found.location
        return (
            *found.values,
            loc.path,
            loc.container.value if loc.container else None,
            loc.member or "",
            -1 if loc.offset is None else loc.offset,
            loc.length,
            loc.transfer_syntax_uid,
        )

    def _index(self, found: FoundObject) -> bool:
        """Index one found object (inside the caller's transaction); ``False`` if known."""
        row = self._index_row(found)
        study_uid, series_uid, sop_uid = row[0], row[6], row[9]
        now = _now()
        self._x(
            "INSERT INTO studies (study_uid, patient_id, patient_name, study_date,"
            " accession_number, attrs, updated_at) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            (*row[0:6], now),
        )
        self._x(
            "INSERT INTO series (series_uid, study_uid, modality, attrs)"
            " VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
            (series_uid, study_uid, *row[7:9]),
        )
        new = self._x(
            "INSERT INTO instances (sop_instance_uid, series_uid, sop_class_uid,"
            " attrs, received_at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            (sop_uid, series_uid, *row[10:12], now),
        ).rowcount
        if new:
            self._x("UPDATE studies SET updated_at = ? WHERE study_uid = ?", (now, study_uid))
        added = self._x(
            'INSERT INTO files (sop_instance_uid, path, container, member, "offset",'
            " length, transfer_syntax_uid) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (sop_uid, *row[12:]),
        ).rowcount
        return bool(added)

    # -- database-only updates --------------------------------------------------------------
    def update(
        self,
        level: str,
        uid: str,
        values: Mapping[str, str],
        *,
        changed_by: str = "dicom-inventory",
        reason: ReasonForAttributeModification | str = ReasonForAttributeModification.CORRECT,
    ) -> None:
        """Change metadata in the database only, as archives do (patient merge, ID fix).

        The stored files stay untouched; each change is recorded with the value the stored
        file holds, when and by whom (PS3.17 YYYY.7.9).

        Raises
        ------
        ArchiveError
            Unknown level, entity or keyword, a keyword that does not belong to the level, or
            a value its VR does not allow (PS3.5 Table 6.2-1, checked by
            :func:`~dicom_inventory.scp.archive.values.update_problem`): then nothing is
            changed.
        """
        level, table, key = _table(level)
        allowed = _LEVELS[level]
        for keyword in values:
            if tag_for_keyword(keyword) is None:
                raise ArchiveError(f"{keyword!r} is not a DICOM keyword")
            if keyword not in allowed:
                raise ArchiveError(
                    f"{keyword} is not a {level}-level attribute of the archive; "
                    f"{level} attributes: {', '.join(allowed)}"
                )
            problem = update_problem(keyword, values[keyword])
            if problem is not None:  # an invalid value would make every inventory invalid
                raise ArchiveError(f"{keyword}: {problem}; nothing updated")
        reason_value = ReasonForAttributeModification(reason).value
        now = _now()
        with self._tx():
            row = self._x(f"SELECT attrs FROM {table} WHERE {key} = ?", (uid,)).fetchone()
            if row is None:
                raise ArchiveError(f"no {level.lower()} {uid} in the archive")
            attrs = json.loads(row[0])
            for keyword, value in values.items():
                new_value = stored_value(keyword, value)
                self._x(
                    "INSERT INTO changes (level, uid, keyword, stored_value, new_value, changed_at,"
                    " changed_by, reason) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        level,
                        uid,
                        keyword,
                        json.dumps(attrs.get(keyword)),
                        json.dumps(new_value),
                        now,
                        changed_by,
                        reason_value,
                    ),
                )
                if new_value is None:
                    attrs.pop(keyword, None)
                else:
                    attrs[keyword] = new_value
                column = _KEY_COLUMNS.get(keyword)
                if column is not None and (level == "STUDY" or column == "modality"):
                    self._x(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (new_value, uid))
            self._x(f"UPDATE {table} SET attrs = ? WHERE {key} = ?", (json.dumps(attrs), uid))
            study_uid = self._study_of(level, uid)
            self._x("UPDATE studies SET updated_at = ? WHERE study_uid = ?", (now, study_uid))

    def remove(self, level: str, uid: str, reason: str = "113001") -> None:
        """Flag an entity as removed from operational use (soft delete, IOCM rejection).

        The record stays in the archive and in inventories, flagged ``Y`` with the reason
        (PS3.17 YYYY.2.3.1); `reason` is a code of :data:`REJECTION_REASONS`.
        """
        level, table, key = _table(level)
        if reason not in REJECTION_REASONS:
            raise ArchiveError(f"reason {reason!r}: expected one of {', '.join(REJECTION_REASONS)}")
        with self._tx():
            if not self._x(
                f"UPDATE {table} SET removed = ? WHERE {key} = ?", (reason, uid)
            ).rowcount:
                raise ArchiveError(f"no {level.lower()} {uid} in the archive")
            self._x(
                "UPDATE studies SET updated_at = ? WHERE study_uid = ?",
                (_now(), self._study_of(level, uid)),
            )

    def _study_of(self, level: str, uid: str) -> str:
        if level == "STUDY":
            return uid
        if level == "SERIES":
            sql = "SELECT study_uid FROM series WHERE series_uid = ?"
        else:
            sql = (
                "SELECT s.study_uid FROM instances i JOIN series s USING (series_uid)"
                " WHERE i.sop_instance_uid = ?"
            )
        return str(self._x(sql, (uid,)).fetchone()[0])

    def _changes(self, level: str, uid: str) -> tuple[MetadataChange, ...]:
        return fold_changes(
            self._x(
                "SELECT keyword, stored_value, new_value, changed_at, changed_by, reason"
                " FROM changes WHERE level = ? AND uid = ? ORDER BY id",
                (level, uid),
            ).fetchall()
        )

    # -- Repository protocol ----------------------------------------------------------------
    def study_key_bounds(self, parts: int) -> list[str]:
        """Keys cutting the studies into `parts` similar ranges (Repository protocol)."""
        n = int(self._x("SELECT COUNT(*) FROM studies").fetchone()[0])
        bounds: list[str] = []
        for k in range(1, max(parts, 1)):
            row = self._x(
                "SELECT study_uid FROM studies ORDER BY study_uid LIMIT 1 OFFSET ?",
                (k * n // parts - 1,),
            ).fetchone()
            if row is not None and k * n // parts > 0 and (not bounds or row[0] > bounds[-1]):
                bounds.append(str(row[0]))
        return bounds

    def _extra(self, template: str | None, **names: str) -> str:
        """A select-list column from `template`, or NULL where the database has none."""
        return f"({template.format(**names)})" if template else "NULL"

    def _history(self, level: str, uid: str, column: Any) -> tuple[MetadataChange, ...]:
        if self._HISTORY is None:
            return self._changes(level, uid)
        return fold_changes(column) if column else ()

    def _files_of(self, uid: str, column: Any) -> tuple[StoredFile, ...]:
        rows = (
            column
            if self._FILES is not None
            else self._x(
                'SELECT path, container, member, "offset", length, transfer_syntax_uid'
                " FROM files WHERE sop_instance_uid = ? ORDER BY id",
                (uid,),
            )
        )
        return tuple(
            StoredFile(
                path,
                ts,
                ContainerFileType(container) if container else None,
                member or None,
                None if offset < 0 else offset,
                length,
            )
            for path, container, member, offset, length, ts in rows or ()
        )

    def iter_studies(
        self, *, after: str | None = None, upto: str | None = None
    ) -> Iterator[StudyEntry]:
        """Studies with `after` < key <= `upto` in ascending order (Repository protocol)."""
        return self.iter_filtered_studies(StudyFilter(), after=after, upto=upto)

    def iter_filtered_studies(
        self, study_filter: StudyFilter, *, after: str | None = None, upto: str | None = None
    ) -> Iterator[StudyEntry]:
        """Studies in the key range that meet `study_filter`, in the database's query.

        The conditions go into the ``WHERE`` clause where an indexed column holds the value:
        Study Instance UID lists, PatientID and AccessionNumber values, StudyDate values and
        ranges (:class:`~dicom_inventory.scp.stores.repository.StudyFilteringRepository`).
        Ranges compare bytes (``_BYTES``): a prefix bound ``v[:len(hi)] <= hi`` is the same
        as ``v < hi'`` with the last character of `hi` raised by one.
        """
        where, params = "study_uid > ?", [after or ""]
        if upto is not None:
            where, params = where + " AND study_uid <= ?", [*params, upto]
        uids = study_filter.study_uids
        if uids is not None and len(uids) <= self._MAX_LISTED_UIDS:
            where += f" AND study_uid IN ({','.join('?' * len(uids))})"
            params += sorted(uids)
        for keyword, value in study_filter.equal.items():
            column = _STUDY_COLUMNS.get(keyword)
            if column is not None:
                where, params = where + f" AND {column} = ?", [*params, value]
        for keyword, (lo, hi) in study_filter.ranges.items():
            column = _STUDY_COLUMNS.get(keyword)
            if column is not None:
                where += f" AND {column} IS NOT NULL"
                if lo:
                    where, params = where + f" AND {column}{self._BYTES} >= ?", [*params, lo]
                if hi:
                    bound = hi[:-1] + chr(ord(hi[-1]) + 1)
                    where, params = where + f" AND {column}{self._BYTES} < ?", [*params, bound]
        history = self._extra(self._HISTORY, level="STUDY", uid="st.study_uid")
        rows = self._stream(
            "SELECT study_uid, attrs, removed, updated_at,"
            " (SELECT COUNT(*) FROM series s WHERE s.study_uid = st.study_uid),"
            " (SELECT COUNT(*) FROM instances i JOIN series s USING (series_uid)"
            "   WHERE s.study_uid = st.study_uid),"
            f" (SELECT {self._MODALITIES} FROM series s WHERE s.study_uid = st.study_uid),"
            f" {history} FROM studies st WHERE {where} ORDER BY study_uid",
            params,
        )  # a lazy cursor: studies stream, whatever the archive size
        for uid, attrs, removed, updated, n_series, n_inst, modalities, changes in rows:
            values = json.loads(attrs)
            values["ModalitiesInStudy"] = sorted(modalities.split(",")) if modalities else []
            yield StudyEntry(
                uid,
                values,
                updated,
                n_series,
                n_inst,
                bool(removed),
                self._history("STUDY", uid, changes),
                _reason(removed),
            )

    def iter_series(self, study_instance_uid: str) -> Iterator[SeriesEntry]:
        """Series of a study in ascending Series Instance UID (Repository protocol)."""
        history = self._extra(self._HISTORY, level="SERIES", uid="s.series_uid")
        rows = self._x(
            f"SELECT series_uid, attrs, removed, {history} FROM series s"
            " WHERE study_uid = ? ORDER BY series_uid",
            (study_instance_uid,),
        ).fetchall()
        for uid, attrs, removed, changes in rows:
            yield SeriesEntry(
                uid,
                json.loads(attrs),
                bool(removed),
                self._history("SERIES", uid, changes),
                _reason(removed),
            )

    def iter_instances(self, series_instance_uid: str) -> Iterator[InstanceEntry]:
        """Instances of a series in ascending SOP Instance UID (Repository protocol)."""
        files = self._extra(self._FILES, uid="i.sop_instance_uid")
        history = self._extra(self._HISTORY, level="INSTANCE", uid="i.sop_instance_uid")
        rows = self._x(
            "SELECT sop_instance_uid, sop_class_uid, attrs, availability, removed,"
            f" {files}, {history} FROM instances i"
            " WHERE series_uid = ? ORDER BY sop_instance_uid",
            (series_instance_uid,),
        ).fetchall()
        for uid, cls, attrs, availability, removed, stored, changes in rows:
            yield InstanceEntry(
                uid,
                cls,
                json.loads(attrs),
                self._files_of(uid, stored),
                InstanceAvailability(availability),
                bool(removed),
                self._history("INSTANCE", uid, changes),
                _reason(removed),
            )

    # -- bulk load --------------------------------------------------------------------------
    def load(self, source: Repository, *, batch: int = 50_000) -> dict[str, int]:
        """Copy every study, series, instance, file and change of `source` in, in bulk.

        Entities already present are an error (the load is for an empty archive or new
        keys). Each change is kept as one row with the stored and current value.

        Returns
        -------
        dict
            How many rows went into each table.
        """
        return self.load_entries(_walk(source), batch=batch)

    def load_entries(
        self,
        studies: Iterable[tuple[StudyEntry, Iterable[tuple[SeriesEntry, Iterable[InstanceEntry]]]]],
        *,
        batch: int = 50_000,
    ) -> dict[str, int]:
        """Bulk-load studies with their series and instances, in one transaction.

        `studies` yields ``(study, [(series, [instance, ...]), ...])``; everything streams,
        so the source may be as large as the database. The rows go in through :meth:`_bulk`
        (batched inserts here, ``COPY`` in PostgreSQL).
        """
        counts = dict.fromkeys(("studies", "series", "instances", "files", "changes"), 0)
        now = _now()
        columns = {
            "studies": "study_uid, patient_id, patient_name, study_date, accession_number,"
            " attrs, removed, updated_at",
            "series": "series_uid, study_uid, modality, attrs, removed",
            "instances": "sop_instance_uid, series_uid, sop_class_uid, attrs, availability,"
            " removed, received_at",
            "files": 'sop_instance_uid, path, container, member, "offset", length,'
            " transfer_syntax_uid",
            "changes": "level, uid, keyword, stored_value, new_value, changed_at, changed_by,"
            " reason",
        }
        rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in columns}

        def flush(force: bool = False) -> None:
            # parents before children: the foreign keys hold at every flush
            for table in columns:
                if rows[table] and (force or sum(map(len, rows.values())) >= batch):
                    self._bulk(table, columns[table], rows[table])
                    counts[table] += len(rows[table])
                    rows[table].clear()

        def change_rows(level: str, uid: str, changes: Iterable[MetadataChange]) -> None:
            for c in changes:
                rows["changes"].append(
                    (
                        level,
                        uid,
                        c.keyword,
                        json.dumps(c.stored_value),
                        json.dumps(c.current_value),
                        c.changed_at,
                        c.changed_by,
                        c.reason,
                    )  # fmt: skip
                )

        with self._tx():
            for study, series_list in studies:
                a = dict(study.attributes)
                a.pop("ModalitiesInStudy", None)  # computed from the series
                rows["studies"].append(
                    (study.study_instance_uid, a.get("PatientID"), a.get("PatientName"),
                     a.get("StudyDate"), a.get("AccessionNumber"), json.dumps(a),
                     _removed(study.removed, study.removal_reason), study.update_datetime or now)
                )  # fmt: skip
                change_rows("STUDY", study.study_instance_uid, study.changes)
                for series, instances in series_list:
                    sa = dict(series.attributes)
                    rows["series"].append(
                        (series.series_instance_uid, study.study_instance_uid, sa.get("Modality"),
                         json.dumps(sa), _removed(series.removed, series.removal_reason))
                    )  # fmt: skip
                    change_rows("SERIES", series.series_instance_uid, series.changes)
                    for inst in instances:
                        rows["instances"].append(
                            (inst.sop_instance_uid, series.series_instance_uid, inst.sop_class_uid,
                             json.dumps(dict(inst.attributes)), InstanceAvailability(inst.availability).value,
                             _removed(inst.removed, inst.removal_reason), now)
                        )  # fmt: skip
                        for f in inst.files:
                            rows["files"].append(
                                (inst.sop_instance_uid, f.path,
                                 f.container.value if f.container else None, f.member or "",
                                 -1 if f.offset is None else f.offset, f.length,
                                 f.transfer_syntax_uid)
                            )  # fmt: skip
                        change_rows("INSTANCE", inst.sop_instance_uid, inst.changes)
                    flush()
            flush(force=True)
        self._x("ANALYZE")
        return counts

    def _bulk(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        """Write `rows` into `table` (the database's fastest way)."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        """Numbers of studies, series, instances, stored locations and recorded changes."""
        return {
            name: int(self._x(f"SELECT COUNT(*) FROM {name}").fetchone()[0])
            for name in ("studies", "series", "instances", "files", "changes")
        }


def _at(loc: StoredFile) -> str | None:
    """A BLOB member's name in a report: its offset."""
    return None if loc.offset is None or loc.container is None else f"@{loc.offset}"


@dataclass(frozen=True, slots=True)
class _One:
    """A repository of one object, as the index would give it back to production."""

    study: StudyEntry
    series: SeriesEntry
    instance: InstanceEntry

    def iter_studies(
        self, *, after: str | None = None, upto: str | None = None
    ) -> Iterator[StudyEntry]:
        return iter((self.study,))

    def iter_series(self, study_instance_uid: str) -> Iterator[SeriesEntry]:
        return iter((self.series,))

    def iter_instances(self, series_instance_uid: str) -> Iterator[InstanceEntry]:
        return iter((self.instance,))

    def study_key_bounds(self, parts: int) -> list[str]:
        return []


def _removed(removed: bool, reason: Any) -> str | None:
    if not removed:
        return None
    return str(getattr(reason, "value", None) or "113001")


def _walk(
    source: Repository,
) -> Iterator[tuple[StudyEntry, Iterator[tuple[SeriesEntry, Iterator[InstanceEntry]]]]]:
    for study in source.iter_studies():
        yield (
            study,
            (
                (series, source.iter_instances(series.series_instance_uid))
                for series in source.iter_series(study.study_instance_uid)
            ),
        )


class Archive(SQLArchive):
    """An archive folder: ``index.sqlite`` (WAL) and ``store/`` for copied-in files.

    Parameters
    ----------
    directory : path
        The archive folder.
    create : bool
        Create the folder and index if missing; otherwise a missing archive is an error.
    """

    def __init__(self, directory: str | Path, *, create: bool = False) -> None:
        self.directory = Path(directory)
        index = self.directory / "index.sqlite"
        if not index.exists():
            if not create:
                raise ArchiveError(
                    f"no archive at {self.directory} (expected {index}); create one with "
                    "'dicom-inventory archive ingest' or 'archive synth'"
                )
            self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(index, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            create_schema(self.conn)
        except sqlite3.DatabaseError as exc:
            raise ArchiveError(f"the archive index {index} is not usable: {exc}") from exc
        except RuntimeError as exc:
            raise ArchiveError(str(exc)) from exc

    def _x(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _tx(self) -> AbstractContextManager[None]:
        return transaction(self.conn)

    def _bulk(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        marks = ",".join("?" * (columns.count(",") + 1))
        self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def close(self) -> None:
        """Close the index."""
        self.conn.close()

    def __enter__(self) -> Archive:
        return self
