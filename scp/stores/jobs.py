"""The job store protocol: Inventory Creation transactions and their event outbox (PS3.4 KK.2).

Inventory Creation is asynchronous (PS3.4 KK.2.2.3): the N-ACTION is answered at once, the
inventory is produced later, and the outcome reaches the requester as N-EVENT-REPORTs on a new
association (KK.2.3). A node that dies in between must resume the job after a restart and still
deliver every event. So the node keeps its transactions and the events still to send in a
**job store**, never only in memory.

The contract, checked by :class:`~dicom_inventory.scp.stores.suites.JobStoreSuite`:

* a Transaction UID is taken once (:meth:`JobStore.create` answers ``False`` the second time);
* :meth:`JobStore.transition` changes the state **and** queues the event announcing it in one
  database transaction: an event is never lost and never announces a state that was not
  recorded;
* events of one transaction leave in the order they were queued, one at a time
  (:meth:`JobStore.due_events` offers only the oldest undelivered event of each transaction);
* a failed delivery is retried at the time the sender asks, or given up; either way it is
  recorded (:meth:`JobStore.failed`);
* several nodes may share one store: a transaction is worked on by the one node holding its
  **lease** (:meth:`JobStore.claim`, renewed while it works), and an event is sent by the one
  node that claimed it (:meth:`JobStore.claim_event`). A node that dies stops renewing; when
  its lease lapses another node takes the transaction over (:meth:`JobStore.orphans`) and
  continues it, so the requester still gets exactly one final event. Leases are conditional
  updates, not row locks: no transaction stays open for the hours a production may take.

The embedded archive keeps its job store in its own SQLite index
(:class:`~dicom_inventory.scp.archive.jobs.SQLiteJobStore`); a vendor keeps it in its own
database beside its other tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Job", "JobStore", "OutgoingEvent", "TERMINAL_STATES"]

#: Transaction Status values after which nothing changes (PS3.4 KK.2.3.2).
TERMINAL_STATES = ("COMPLETE", "FAILURE", "CANCELED")


@dataclass(frozen=True)
class Job:
    """One Inventory Creation transaction."""

    transaction_uid: str
    requester: str
    """Calling AE title of the Initiate request: where the events go."""
    level: str
    scope: dict[str, str]
    purpose: str | None
    status_interval: int | None
    """Requested Status Interval (0008,0414), in seconds (assumed unit, see standard-notes)."""
    state: str
    comment: str | None
    root_uid: str
    study_records: int
    retain: bool
    wanted: str | None
    """An action waiting to be applied by the worker: ``PAUSE`` or ``CANCEL``."""
    created: str
    updated: str
    expires: str | None
    owner: str | None = None
    """The node working on the transaction (:meth:`JobStore.claim`), if any."""
    lease_until: float | None = None
    """POSIX time at which the owner's claim lapses unless renewed."""


@dataclass(frozen=True)
class OutgoingEvent:
    """An N-EVENT-REPORT waiting for delivery."""

    id: int
    transaction_uid: str
    requester: str
    event_type: int
    info: dict[str, Any]
    attempts: int


@runtime_checkable
class JobStore(Protocol):
    """Where a node keeps its Inventory Creation transactions and their outbox.

    Every method may be called from several threads at once (the N-ACTION handler, the job
    workers and the event sender).
    """

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
        """Record a new ``PROCESSING`` transaction.

        Parameters
        ----------
        transaction_uid : str
            Transaction UID (0008,1195) of the Initiate request.
        requester : str
            Calling AE title of the request: where the events go.
        level : str
            Inventory Level (0008,0403).
        scope : Mapping[str, str]
            The Scope of Inventory keys applied, ``{keyword: matching value}``.
        purpose : str or None
            Inventory Purpose (0008,0402).
        status_interval : int or None
            Requested Status Interval (0008,0414), in seconds.
        root_uid : str
            SOP Instance UID the root inventory will have.

        Returns
        -------
        bool
            ``False`` if the Transaction UID is already known (nothing is changed).
        """
        ...

    def get(self, transaction_uid: str) -> Job | None:
        """Return the transaction, or ``None`` if it is unknown."""
        ...

    def jobs(self, *states: str) -> list[Job]:
        """Return the transactions in any of `states` (all if none given), oldest first."""
        ...

    def active_count(self) -> int:
        """Return how many transactions are not in a terminal state."""
        ...

    def want(self, transaction_uid: str, action: str | None, retain: bool = True) -> None:
        """Record that the worker should ``PAUSE`` or ``CANCEL`` (``None`` clears the wish).

        `retain` is Retain Instances (0008,0415) of a Cancel: keep the finished part.
        """
        ...

    def set_interval(self, transaction_uid: str, seconds: int) -> None:
        """Change the Requested Status Interval (Request Status, PS3.4 KK.2.2.2)."""
        ...

    def progress(self, transaction_uid: str, study_records: int) -> None:
        """Record how many study records are produced so far."""
        ...

    def transition(
        self,
        transaction_uid: str,
        state: str,
        *,
        comment: str | None = None,
        event: tuple[int, dict[str, Any]] | None = None,
        **fields: Any,
    ) -> None:
        """Change the state, and queue `event` in the same database transaction.

        Parameters
        ----------
        transaction_uid : str
            The transaction.
        state : str
            The new Transaction Status (``PROCESSING``, ``PAUSED`` or a terminal state).
        comment : str, optional
            Transaction Status Comment (0008,0416).
        event : tuple of (int, dict), optional
            Event Type ID and Event Information (``{keyword: value}``) to queue.
        **fields
            Further :class:`Job` fields to set (``study_records``, ``expires``). The wish
            (:attr:`Job.wanted`) is cleared.
        """
        ...

    def queue_event(self, transaction_uid: str, event_type: int, info: dict[str, Any]) -> None:
        """Queue an N-EVENT-REPORT for the transaction's requester."""
        ...

    def due_events(self, now: float) -> Iterator[OutgoingEvent]:
        """Yield, for each transaction, its oldest undelivered event if it is due at `now`.

        `now` is a POSIX time; an event is due when its next attempt is not later.
        """
        ...

    def delivered(self, event_id: int) -> None:
        """Mark an event delivered."""
        ...

    def failed(self, event_id: int, error: str, next_attempt: float | None) -> None:
        """Record a failed attempt: retry at `next_attempt`, or give up if it is ``None``."""
        ...

    def events(self, transaction_uid: str) -> list[dict[str, Any]]:
        """Return all events of a transaction with their delivery state (logs and tests).

        Each is a dict with keys ``id``, ``event_type``, ``info``, ``attempts``,
        ``delivered``, ``given_up`` and ``last_error``.
        """
        ...

    def claim(self, transaction_uid: str, owner: str, lease: float, now: float) -> bool:
        """Take or renew the right to work on a transaction until ``now + lease``.

        Succeeds (``True``) when nobody holds it, `owner` already does, or the holder's lease
        lapsed before `now`; atomically, so of several nodes claiming at once exactly one wins.
        """
        ...

    def release(self, transaction_uid: str, owner: str) -> None:
        """Give up `owner`'s claim (the transaction ended or the node stops)."""
        ...

    def orphans(self, now: float) -> list[Job]:
        """Return the ``PROCESSING`` transactions nobody holds at `now`, oldest first."""
        ...

    def claim_event(self, event_id: int, owner: str, lease: float, now: float) -> bool:
        """Take the sending of an undelivered event until ``now + lease`` (one sender)."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...
