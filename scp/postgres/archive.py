"""The archive on PostgreSQL: the embedded archive's logic over a database server.

:class:`PostgresArchive` runs the archive logic written once in
:class:`~dicom_inventory.scp.archive.archive.SQLArchive` (ingest, database-only updates,
removal) and answers the :class:`~dicom_inventory.scp.stores.repository.Repository` protocol
with queries made for a large database:

* studies stream through a **server-side cursor** (rows arrive in batches, memory stays flat
  whatever the archive size) in the ``"C"``-collated key order, each with its counts,
  modalities and change history in the same row (the ``_HISTORY`` template);
* a series' instances come in **one** query with their files and changes aggregated as JSON
  (``_FILES``, ``_HISTORY``), not one query per instance;
* partition bounds come from one ``ntile`` pass over the study key index;
* :meth:`PostgresArchive.load` bulk-loads entries with ``COPY`` (an existing archive copied
  in, or synthetic records for the benchmarks).

psycopg 3 is the driver; the connection string is libpq's (``postgresql://...`` or
``host=... dbname=...``).
"""

from __future__ import annotations

import datetime
import functools
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from dicom_inventory.enum import InstanceAvailability
from dicom_inventory.scp.archive.archive import SQLArchive
from dicom_inventory.scp.postgres.schema import connect, redacted
from dicom_inventory.scp.stores.repository import (
    InstanceEntry,
    MetadataChange,
    Repository,
    SeriesEntry,
    StudyEntry,
)

__all__ = ["PostgresArchive"]


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """The archive's ``?`` placeholders as psycopg's ``%s``."""
    return sql.replace("?", "%s")


def _json(value: Any) -> str:
    return json.dumps(value)


class PostgresArchive(SQLArchive):
    """An archive index in PostgreSQL (with, optionally, a folder for received files).

    Parameters
    ----------
    dsn : str
        libpq connection string of the database; its schema is created or migrated on open.
    directory : str or Path, optional
        Where objects received by C-STORE and copied-in files are kept.

    Raises
    ------
    ArchiveError
        If the database cannot be reached or its schema is newer than this code.
    """

    _MODALITIES = "string_agg(DISTINCT modality, ',' ORDER BY modality)"
    _HISTORY = (
        "SELECT json_agg(json_build_array(c.keyword, c.stored_value, c.new_value, c.changed_at,"
        " c.changed_by, c.reason) ORDER BY c.id) FROM changes c"
        " WHERE c.level = '{level}' AND c.uid = {uid}"
    )
    _FILES = (
        'SELECT json_agg(json_build_array(f.path, f.container, f.member, f."offset", f.length,'
        " f.transfer_syntax_uid) ORDER BY f.id) FROM files f WHERE f.sop_instance_uid = {uid}"
    )

    def __init__(self, dsn: str, *, directory: str | Path | None = None) -> None:
        self.dsn = dsn
        self.directory = Path(directory) if directory is not None else None
        self.conn = connect(dsn)
        self._cursors = itertools.count()

    def __repr__(self) -> str:
        return f"PostgresArchive({redacted(self.dsn)!r})"

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_pg(sql), params)

    def _tx(self) -> AbstractContextManager[Any]:
        return self.conn.transaction()

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        # a named (server-side) cursor lives in a transaction; the reads the consumer makes
        # meanwhile on this connection run inside it
        with self.conn.transaction(), self.conn.cursor(name=f"s{next(self._cursors)}") as cur:
            cur.itersize = 1000
            cur.execute(_pg(sql), params)
            yield from cur

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # -- Repository protocol, with the queries of a large database --------------------------
    def study_key_bounds(self, parts: int) -> list[str]:
        """Keys cutting the studies into `parts` similar ranges (one pass over the index)."""
        if parts <= 1:
            return []
        rows = self._x(
            "SELECT max(study_uid) FROM (SELECT study_uid, ntile(?) OVER (ORDER BY study_uid)"
            " AS part FROM studies) t GROUP BY part ORDER BY part",
            (parts,),
        ).fetchall()
        return [str(r[0]) for r in rows[:-1]]

    # -- bulk load ----------------------------------------------------------------------------
    def load(self, source: Repository, *, batch: int = 50_000) -> dict[str, int]:
        """Copy every study, series, instance, file and change of `source` in, with ``COPY``.

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
        """Bulk-load studies with their series and instances (``COPY``, one transaction).

        `studies` yields ``(study, [(series, [instance, ...]), ...])``; everything streams,
        so the source may be as large as the database.
        """
        counts = dict.fromkeys(("studies", "series", "instances", "files", "changes"), 0)
        now = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
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
                    with (
                        self.conn.cursor() as cur,
                        cur.copy(f"COPY {table} ({columns[table]}) FROM STDIN") as copy,
                    ):
                        for row in rows[table]:
                            copy.write_row(row)
                    counts[table] += len(rows[table])
                    rows[table].clear()

        def change_rows(level: str, uid: str, changes: Iterable[MetadataChange]) -> None:
            for c in changes:
                rows["changes"].append(
                    (
                        level,
                        uid,
                        c.keyword,
                        _json(c.stored_value),
                        _json(c.current_value),
                        c.changed_at,
                        c.changed_by,
                        c.reason,
                    )  # fmt: skip
                )

        with self.conn.transaction():
            for study, series_list in studies:
                a = dict(study.attributes)
                a.pop("ModalitiesInStudy", None)  # computed from the series
                rows["studies"].append(
                    (study.study_instance_uid, a.get("PatientID"), a.get("PatientName"),
                     a.get("StudyDate"), a.get("AccessionNumber"), _json(a),
                     _removed(study.removed, study.removal_reason), study.update_datetime or now)
                )  # fmt: skip
                change_rows("STUDY", study.study_instance_uid, study.changes)
                for series, instances in series_list:
                    sa = dict(series.attributes)
                    rows["series"].append(
                        (series.series_instance_uid, study.study_instance_uid, sa.get("Modality"),
                         _json(sa), _removed(series.removed, series.removal_reason))
                    )  # fmt: skip
                    change_rows("SERIES", series.series_instance_uid, series.changes)
                    for inst in instances:
                        rows["instances"].append(
                            (inst.sop_instance_uid, series.series_instance_uid, inst.sop_class_uid,
                             _json(dict(inst.attributes)), InstanceAvailability(inst.availability).value,
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
