"""SQLite schema of the embedded archive (stdlib ``sqlite3``, WAL mode).

Study-root model: patient attributes live with the study. Each entity keeps its current
attributes as JSON (``attrs``) plus the few columns that matching and ordering need. ``files``
says where each stored object lives (several locations allowed); ``changes`` records every
database-only metadata change with the stored file's value, so inventories can say which files
are stale (PS3.17 YYYY.7.9). ``jobs`` is reserved for the SCP's durable jobs (issue 6).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SCHEMA_VERSION", "create_schema", "transaction"]

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    patient_id TEXT, patient_name TEXT, study_date TEXT, accession_number TEXT,
    attrs TEXT NOT NULL,
    removed TEXT,  -- rejection reason code (CID 7011) when removed from operational use
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS studies_patient ON studies (patient_id);
CREATE INDEX IF NOT EXISTS studies_date ON studies (study_date);
CREATE INDEX IF NOT EXISTS studies_accession ON studies (accession_number);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES studies (study_uid),
    modality TEXT,
    attrs TEXT NOT NULL,
    removed TEXT
);
CREATE INDEX IF NOT EXISTS series_study ON series (study_uid, series_uid);
CREATE TABLE IF NOT EXISTS instances (
    sop_instance_uid TEXT PRIMARY KEY,
    series_uid TEXT NOT NULL REFERENCES series (series_uid),
    sop_class_uid TEXT NOT NULL,
    attrs TEXT NOT NULL,
    availability TEXT NOT NULL DEFAULT 'ONLINE',
    removed TEXT,  -- rejection reason code (CID 7011) when removed from operational use
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_uid, sop_instance_uid);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    sop_instance_uid TEXT NOT NULL REFERENCES instances (sop_instance_uid),
    path TEXT NOT NULL,
    container TEXT,
    member TEXT NOT NULL DEFAULT '',
    offset INTEGER NOT NULL DEFAULT -1,
    length INTEGER,
    transfer_syntax_uid TEXT NOT NULL,
    UNIQUE (path, member, offset)
);
CREATE INDEX IF NOT EXISTS files_instance ON files (sop_instance_uid);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY,
    level TEXT NOT NULL CHECK (level IN ('STUDY', 'SERIES', 'INSTANCE')),
    uid TEXT NOT NULL,
    keyword TEXT NOT NULL,
    stored_value TEXT,
    new_value TEXT,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_entity ON changes (level, uid);
CREATE TABLE IF NOT EXISTS ingest_errors (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, member TEXT, message TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables if missing and check the schema version.

    Raises
    ------
    RuntimeError
        If the database was made by a newer schema version than this code knows.
    """
    conn.executescript(_DDL)
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    elif int(row[0]) > SCHEMA_VERSION:
        raise RuntimeError(
            f"archive schema version {row[0]} is newer than this dicom-inventory "
            f"({SCHEMA_VERSION}); upgrade dicom-inventory"
        )


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[None]:
    """Run the block as one SQLite transaction on an autocommit connection.

    `begin` may be ``BEGIN IMMEDIATE`` to take the write lock at once (a state change and
    its event, which must not wait half-way for another writer).
    """
    conn.execute(begin)
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
