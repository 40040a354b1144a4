"""The job store of the embedded archive: transactions and their event outbox in SQLite (PS3.4 KK.2).

A transaction's state, parameters and the N-EVENT-REPORTs still to deliver live in the
database, never only in memory, so a node killed in the middle of a job resumes it after a
restart and the requester still receives its events. A state change and the event announcing
it are written in one SQLite transaction: an event is never lost and never announces a state
that was not recorded.

The tables live in the archive's own index (``index.sqlite``) when the node serves the
embedded archive (another repository gets a ``jobs.sqlite`` next to its inventories).
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from dicom_inventory.scp.archive.schema import transaction
from dicom_inventory.scp.stores.jobs import TERMINAL_STATES, Job, OutgoingEvent

__all__ = ["SQLJobStore", "SQLiteJobStore"]

#: Columns added after the first release of the tables: (table, column, type).
_ADDED_COLUMNS = (
    ("inventory_jobs", "owner", "TEXT"),
    ("inventory_jobs", "lease_until", "REAL"),
    ("inventory_events", "sender", "TEXT"),
    ("inventory_events", "sending_until", "REAL"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inventory_jobs (
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
    owner TEXT,
    lease_until REAL
);
CREATE TABLE IF NOT EXISTS inventory_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_uid TEXT NOT NULL REFERENCES inventory_jobs(transaction_uid),
    requester TEXT NOT NULL,
    event_type INTEGER NOT NULL,
    info TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    delivered TEXT,
    given_up TEXT,
    last_error TEXT,
    sender TEXT,
    sending_until REAL
);
CREATE INDEX IF NOT EXISTS inventory_events_due ON inventory_events (delivered, given_up, id);
"""


#: The columns of a Job, in its field order.
_JOB_COLUMNS = (
    "transaction_uid, requester, level, scope, purpose, status_interval, state, comment,"
    " root_uid, study_records, retain, wanted, created, updated, expires, owner, lease_until"
)


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


class SQLJobStore:
    """The job store (:class:`~dicom_inventory.scp.stores.jobs.JobStore`) over any SQL database.

    The statements are written once, in SQL that SQLite and PostgreSQL both run; a subclass
    connects and supplies :meth:`_x` (execute, ``?`` placeholders), :meth:`_tx` (one
    transaction) and the exception a duplicate key raises. One connection is shared by the
    node's threads under one lock, so a transaction never takes in another thread's
    statements.
    """

    #: The column that orders transactions created in the same second.
    _INSERTION_ORDER = "rowid"
    #: What the driver raises for a duplicate Transaction UID.
    _DUPLICATE: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Execute one statement and return its cursor."""
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[Any]:
        """Return a context manager that runs its block as one transaction."""
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._close()

    # -- transactions -----------------------------------------------------------------------
    def create(
        self,
        transaction_uid: str,
        requester: str,
        level: str,
        scope: Mapping[str, str],
        purpose: str | None,
        status_interval: int | None,
        root_uid: str,
    ) -> bool:
        """Record a new PROCESSING transaction; False if the Transaction UID is known."""
        now = _now()
        with self._lock:
            try:
                self._x(
                    "INSERT INTO inventory_jobs (transaction_uid, requester, level, scope, purpose,"
                    " status_interval, state, root_uid, created, updated)"
                    " VALUES (?,?,?,?,?,?,'PROCESSING',?,?,?)",
                    (
                        transaction_uid,
                        requester,
                        level,
                        json.dumps(dict(scope)),
                        purpose,
                        status_interval,
                        root_uid,
                        now,
                        now,
                    ),
                )
            except self._DUPLICATE:
                return False
        return True

    def get(self, transaction_uid: str) -> Job | None:
        """The transaction, or None."""
        with self._lock:
            row = self._x(
                f"SELECT {_JOB_COLUMNS} FROM inventory_jobs WHERE transaction_uid = ?",
                (transaction_uid,),
            ).fetchone()
        return None if row is None else _job(row)

    def jobs(self, *states: str) -> list[Job]:
        """The transactions in any of `states` (all if none given), oldest first."""
        with self._lock:
            rows = self._x(
                f"SELECT {_JOB_COLUMNS} FROM inventory_jobs ORDER BY created, {self._INSERTION_ORDER}"
            ).fetchall()
        jobs = [_job(r) for r in rows]
        return [j for j in jobs if not states or j.state in states]

    def active_count(self) -> int:
        """Transactions not yet in a terminal state."""
        with self._lock:
            return int(
                self._x(
                    "SELECT COUNT(*) FROM inventory_jobs WHERE state NOT IN (?,?,?)",
                    TERMINAL_STATES,
                ).fetchone()[0]
            )

    def want(self, transaction_uid: str, action: str | None, retain: bool = True) -> None:
        """Ask the worker to PAUSE or CANCEL at its next checkpoint (or clear the wish)."""
        with self._lock:
            self._x(
                "UPDATE inventory_jobs SET wanted = ?, retain = ?, updated = ?"
                " WHERE transaction_uid = ?",
                (action, int(retain), _now(), transaction_uid),
            )

    def set_interval(self, transaction_uid: str, seconds: int) -> None:
        """Change the Requested Status Interval (Request Status, PS3.4 KK.2.2.2)."""
        with self._lock:
            self._x(
                "UPDATE inventory_jobs SET status_interval = ? WHERE transaction_uid = ?",
                (seconds, transaction_uid),
            )

    def progress(self, transaction_uid: str, study_records: int) -> None:
        """Record the number of study records produced so far."""
        with self._lock:
            self._x(
                "UPDATE inventory_jobs SET study_records = ? WHERE transaction_uid = ?",
                (study_records, transaction_uid),
            )

    def transition(
        self,
        transaction_uid: str,
        state: str,
        *,
        comment: str | None = None,
        event: tuple[int, dict[str, Any]] | None = None,
        **fields: Any,
    ) -> None:
        """Change state (and other columns), and queue `event` in the same SQL transaction."""
        sets = {"state": state, "comment": comment, "updated": _now(), "wanted": None, **fields}
        with self._lock:
            with self._tx():
                self._x(
                    f"UPDATE inventory_jobs SET {', '.join(f'{k} = ?' for k in sets)}"
                    " WHERE transaction_uid = ?",
                    (*sets.values(), transaction_uid),
                )
                if event is not None:
                    self._queue(transaction_uid, *event)

    # -- outbox -----------------------------------------------------------------------------
    def queue_event(self, transaction_uid: str, event_type: int, info: dict[str, Any]) -> None:
        """Queue an N-EVENT-REPORT for the transaction's requester."""
        with self._lock:
            self._queue(transaction_uid, event_type, info)

    def _queue(self, transaction_uid: str, event_type: int, info: dict[str, Any]) -> None:
        self._x(
            "INSERT INTO inventory_events (transaction_uid, requester, event_type, info)"
            " SELECT transaction_uid, requester, ?, ? FROM inventory_jobs"
            " WHERE transaction_uid = ?",
            (event_type, json.dumps(info), transaction_uid),
        )

    def due_events(self, now: float) -> Iterator[OutgoingEvent]:
        """For each transaction, its oldest undelivered event, if it is due (order is kept)."""
        with self._lock:
            rows = self._x(
                "SELECT id, transaction_uid, requester, event_type, info, attempts, next_attempt"
                " FROM inventory_events WHERE id IN (SELECT MIN(id) FROM inventory_events"
                " WHERE delivered IS NULL AND given_up IS NULL GROUP BY transaction_uid)"
                " ORDER BY id"
            ).fetchall()
        for id_, uid, requester, etype, info, attempts, next_attempt in rows:
            if next_attempt <= now:
                yield OutgoingEvent(id_, uid, requester, etype, json.loads(info), attempts)

    def delivered(self, event_id: int) -> None:
        """Mark an event delivered."""
        with self._lock:
            self._x("UPDATE inventory_events SET delivered = ? WHERE id = ?", (_now(), event_id))

    def failed(self, event_id: int, error: str, next_attempt: float | None) -> None:
        """Record a failed attempt; with `next_attempt` None, give the event up."""
        with self._lock:
            self._x(
                "UPDATE inventory_events SET attempts = attempts + 1, last_error = ?,"
                " next_attempt = COALESCE(?, next_attempt), given_up = ? WHERE id = ?",
                (error, next_attempt, None if next_attempt is not None else _now(), event_id),
            )

    def events(self, transaction_uid: str) -> list[dict[str, Any]]:
        """All events of a transaction with their delivery state (for logs and tests)."""
        with self._lock:
            rows = self._x(
                "SELECT id, event_type, info, attempts, delivered, given_up, last_error"
                " FROM inventory_events WHERE transaction_uid = ? ORDER BY id",
                (transaction_uid,),
            ).fetchall()
        keys = ("id", "event_type", "info", "attempts", "delivered", "given_up", "last_error")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- leases (several nodes on one store) --------------------------------------------------
    def claim(self, transaction_uid: str, owner: str, lease: float, now: float) -> bool:
        """Take or renew the transaction's lease: one conditional UPDATE, atomic."""
        with self._lock:
            return bool(
                self._x(
                    "UPDATE inventory_jobs SET owner = ?, lease_until = ?"
                    " WHERE transaction_uid = ?"
                    " AND (owner IS NULL OR owner = ? OR lease_until IS NULL OR lease_until < ?)",
                    (owner, now + lease, transaction_uid, owner, now),
                ).rowcount
            )

    def release(self, transaction_uid: str, owner: str) -> None:
        """Give up `owner`'s lease."""
        with self._lock:
            self._x(
                "UPDATE inventory_jobs SET owner = NULL, lease_until = NULL"
                " WHERE transaction_uid = ? AND owner = ?",
                (transaction_uid, owner),
            )

    def orphans(self, now: float) -> list[Job]:
        """PROCESSING transactions without a live lease, oldest first."""
        with self._lock:
            rows = self._x(
                f"SELECT {_JOB_COLUMNS} FROM inventory_jobs WHERE state = 'PROCESSING'"
                " AND (owner IS NULL OR lease_until IS NULL OR lease_until < ?)"
                f" ORDER BY created, {self._INSERTION_ORDER}",
                (now,),
            ).fetchall()
        return [_job(r) for r in rows]

    def claim_event(self, event_id: int, owner: str, lease: float, now: float) -> bool:
        """Take the sending of an undelivered event (one sender at a time)."""
        with self._lock:
            return bool(
                self._x(
                    "UPDATE inventory_events SET sender = ?, sending_until = ?"
                    " WHERE id = ? AND delivered IS NULL AND given_up IS NULL"
                    " AND (sender IS NULL OR sender = ? OR sending_until IS NULL"
                    " OR sending_until < ?)",
                    (owner, now + lease, event_id, owner, now),
                ).rowcount
            )


def _job(row: tuple[Any, ...]) -> Job:
    (uid, requester, level, scope, purpose, interval, state, comment, root, n, retain, wanted,
     created, updated, expires, owner, lease_until) = row  # fmt: skip
    return Job(
        uid,
        requester,
        level,
        json.loads(scope),
        purpose,
        interval,
        state,
        comment,
        root,
        n,
        bool(retain),
        wanted,
        created,
        updated,
        expires,
        owner,
        lease_until,
    )


class SQLiteJobStore(SQLJobStore):
    """The job store in one SQLite file (WAL; ``BEGIN IMMEDIATE`` for a state change).

    Parameters
    ----------
    path : str or Path
        The database file; created with its tables if missing (the embedded archive's own
        ``index.sqlite``, or a ``jobs.sqlite`` beside the inventories).
    """

    _DUPLICATE = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.executescript(_SCHEMA)
        for table, column, kind in _ADDED_COLUMNS:  # tables made by an earlier version
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _x(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _tx(self) -> AbstractContextManager[None]:
        return transaction(self.conn, "BEGIN IMMEDIATE")

    def _close(self) -> None:
        self.conn.close()
