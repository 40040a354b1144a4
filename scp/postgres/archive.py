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
* a scope's Patient ID, Accession Number, Study Date and Study Instance UID keys become
  conditions of the study query on indexed columns (the ``"C"`` collation for date ranges);
* the bulk load of :meth:`~dicom_inventory.scp.archive.archive.SQLArchive.load` (an existing
  archive copied in, or synthetic records for the benchmarks) writes with ``COPY``.

psycopg 3 is the driver; the connection string is libpq's (``postgresql://...`` or
``host=... dbname=...``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from dicom_inventory.scp.archive.archive import SQLArchive
from dicom_inventory.scp.postgres.schema import connect, redacted

__all__ = ["PostgresArchive"]


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """The archive's ``?`` placeholders as psycopg's ``%s``."""
    return sql.replace("?", "%s")


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
    _BYTES = ' COLLATE "C"'
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
    def _bulk(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        """Write `rows` with ``COPY`` (the bulk load of :meth:`SQLArchive.load_entries`)."""
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
