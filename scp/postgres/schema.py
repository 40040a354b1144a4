"""The PostgreSQL schema: versioned migrations, applied in order, once, under a lock.

The tables mirror the embedded archive's (:mod:`dicom_inventory.scp.archive.schema`), so the
archive logic is written once (:class:`~dicom_inventory.scp.archive.archive.SQLArchive`), plus
the job store and inventory store tables. PostgreSQL-specific choices:

* UID columns use the ``"C"`` collation: studies come in ascending Study Instance UID as a
  byte string, whatever the database's locale (the Repository protocol's key order, and
  the order Python's ``sorted`` gives);
* ``(study_uid, series_uid)`` and ``(series_uid, sop_instance_uid)`` indexes serve the
  keyset walk of production (``WHERE key > last ORDER BY key``, never ``OFFSET``) and
  the per-study and per-series reads;
* attribute values stay JSON text (as in SQLite): production reads them whole; the study
  columns a scope narrows on (Patient ID, Accession Number, Study Date) are indexed, Study
  Date under ``"C"`` so that a date range is one index range scan.

Each migration runs in one transaction holding an advisory lock, so several nodes starting
on one database apply it once; a database made by a newer version is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "connect", "migrate", "redacted"]

#: Advisory lock key taken while migrating (any constant unique to this project).
_LOCK = 0x44494E56  # "DINV"

#: (version, what it adds, DDL), in order. Never edit a released migration: add one.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "archive, job store and inventory store tables",
        """
CREATE TABLE studies (
    study_uid TEXT COLLATE "C" PRIMARY KEY,
    patient_id TEXT, patient_name TEXT, study_date TEXT, accession_number TEXT,
    attrs TEXT NOT NULL,
    removed TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX studies_patient ON studies (patient_id);
CREATE INDEX studies_date ON studies (study_date);
CREATE TABLE series (
    series_uid TEXT COLLATE "C" PRIMARY KEY,
    study_uid TEXT COLLATE "C" NOT NULL REFERENCES studies (study_uid),
    modality TEXT,
    attrs TEXT NOT NULL,
    removed TEXT
);
CREATE INDEX series_study ON series (study_uid, series_uid);
CREATE TABLE instances (
    sop_instance_uid TEXT COLLATE "C" PRIMARY KEY,
    series_uid TEXT COLLATE "C" NOT NULL REFERENCES series (series_uid),
    sop_class_uid TEXT NOT NULL,
    attrs TEXT NOT NULL,
    availability TEXT NOT NULL DEFAULT 'ONLINE',
    removed TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX instances_series ON instances (series_uid, sop_instance_uid);
CREATE TABLE files (
    id BIGSERIAL PRIMARY KEY,
    sop_instance_uid TEXT COLLATE "C" NOT NULL REFERENCES instances (sop_instance_uid),
    path TEXT NOT NULL,
    container TEXT,
    member TEXT NOT NULL DEFAULT '',
    "offset" BIGINT NOT NULL DEFAULT -1,
    length BIGINT,
    transfer_syntax_uid TEXT NOT NULL,
    UNIQUE (path, member, "offset")
);
CREATE INDEX files_instance ON files (sop_instance_uid);
CREATE TABLE changes (
    id BIGSERIAL PRIMARY KEY,
    level TEXT NOT NULL CHECK (level IN ('STUDY', 'SERIES', 'INSTANCE')),
    uid TEXT COLLATE "C" NOT NULL,
    keyword TEXT NOT NULL,
    stored_value TEXT,
    new_value TEXT,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX changes_entity ON changes (level, uid);
CREATE TABLE ingest_errors (
    id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, member TEXT, message TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE inventory_jobs (
    transaction_uid TEXT PRIMARY KEY,
    requester TEXT NOT NULL,
    level TEXT NOT NULL,
    scope TEXT NOT NULL,
    purpose TEXT,
    status_interval INTEGER,
    state TEXT NOT NULL,
    comment TEXT,
    root_uid TEXT NOT NULL,
    study_records INTEGER NOT NULL DEFAULT 0,
    retain INTEGER NOT NULL DEFAULT 1,
    wanted TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    expires TEXT,
    seq BIGSERIAL
);
CREATE TABLE inventory_events (
    id BIGSERIAL PRIMARY KEY,
    transaction_uid TEXT NOT NULL REFERENCES inventory_jobs (transaction_uid),
    requester TEXT NOT NULL,
    event_type INTEGER NOT NULL,
    info TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt DOUBLE PRECISION NOT NULL DEFAULT 0,
    delivered TEXT,
    given_up TEXT,
    last_error TEXT
);
CREATE INDEX inventory_events_due ON inventory_events (delivered, given_up, id);
""",
    ),
    (
        2,
        "leases: one node works on a transaction, one node sends an event",
        """
ALTER TABLE inventory_jobs ADD COLUMN owner TEXT, ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE inventory_events ADD COLUMN sender TEXT, ADD COLUMN sending_until DOUBLE PRECISION;
CREATE INDEX inventory_jobs_state ON inventory_jobs (state, lease_until);
""",
    ),
    (
        3,
        "inventory store index: the kept and published inventory instances",
        """
CREATE TABLE inventories (
    sop_instance_uid TEXT PRIMARY KEY,
    transaction_uid TEXT,
    path TEXT NOT NULL,
    kept_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX inventories_transaction ON inventories (transaction_uid);
""",
    ),
    (
        4,
        "scope indexes: StudyDate ranges compared as bytes, AccessionNumber values",
        """
DROP INDEX studies_date;
CREATE INDEX studies_date ON studies ((study_date COLLATE "C"));
CREATE INDEX studies_accession ON studies (accession_number);
""",
    ),
)

#: The version this code writes and reads.
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(conn: Any) -> int:
    """Bring the database at `conn` (psycopg, autocommit) to :data:`SCHEMA_VERSION`.

    Returns
    -------
    int
        How many migrations were applied (0 when the schema is current).

    Raises
    ------
    RuntimeError
        If the database was made by a newer schema version than this code knows.
    """
    applied = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS dicom_inventory_schema ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT max(version) FROM dicom_inventory_schema").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema version {current} is newer than this dicom-inventory "
                f"({SCHEMA_VERSION}); upgrade dicom-inventory"
            )
        for version, description, ddl in MIGRATIONS:
            if version > current:
                conn.execute(ddl)
                conn.execute(
                    "INSERT INTO dicom_inventory_schema (version, description) VALUES (%s, %s)",
                    (version, description),
                )
                applied += 1
    return applied


def redacted(dsn: str) -> str:
    """Return `dsn` with any password replaced by ``***`` (for messages and logs)."""
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        parts = conninfo_to_dict(dsn)
    except Exception:  # not parseable: say nothing of it
        return "<connection string>"
    if "password" in parts:
        parts["password"] = "***"
    return make_conninfo(**parts)  # type: ignore[arg-type]


def connect(dsn: str) -> psycopg.Connection[Any]:
    """Open an autocommit psycopg connection to `dsn` with the schema brought up to date.

    Raises
    ------
    ArchiveError
        If the server cannot be reached (the message names it without its password) or the
        database's schema is newer than this code.
    """
    import psycopg
    from dicom_inventory.scp.archive.archive import ArchiveError

    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise ArchiveError(f"cannot connect to PostgreSQL at {redacted(dsn)}: {exc}") from exc
    try:
        migrate(conn)
    except RuntimeError as exc:
        conn.close()
        raise ArchiveError(str(exc)) from exc
    return conn
