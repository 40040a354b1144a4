"""Request an inventory and follow it to the end; remember transactions across restarts.

:func:`request_inventory` sends the Initiate N-ACTION (PS3.4 KK.2.2), listens for the
N-EVENT-REPORTs on its own AE, and when the final event announces instances, retrieves the whole
tree by Inventory GET from the Retrieve AE Title's node. Every transaction is recorded in a
small SQLite file (``transactions.sqlite`` in the state folder) with its peer and last state, so
``request status|resume|cancel TRANSACTION_UID`` work after the client was restarted.
"""

from __future__ import annotations

import dataclasses
import datetime
import sqlite3
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_inventory.errors import InventoryEncodeError, InventoryError
from dicom_inventory.scope import ScopeOfInventory, check_scope_item
from dicom_inventory.scu.client import (
    ActionResult,
    EventListener,
    InventoryEvent,
    SCUError,
    new_transaction_uid,
    retrieve_inventory,
    send_action,
)
from dicom_inventory.scu.peer import Peer, parse_peer
from pydicom.dataset import Dataset

__all__ = [
    "RequestOutcome",
    "TransactionStore",
    "UnknownTransaction",
    "control",
    "follow",
    "follow_remembered",
    "request_inventory",
]


class UnknownTransaction(InventoryError, LookupError):
    """A Transaction UID that is not in the state folder: a usage error, not the peer's."""


#: Columns later versions added to the state file, created on open when missing.
_ADDED_COLUMNS = {"calling_ae": "TEXT", "listen_port": "INTEGER"}


#: States the state file records before any event: the N-ACTION accepted (0x0000, 0xB010), refused
#: with a failure status, or failed without an answer (association refused or aborted).
ACCEPTED, REFUSED, FAILED = "ACCEPTED", "REFUSED", "FAILED"


class TransactionStore:
    """The transactions this client started, in ``<state>/transactions.sqlite``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        """The state folder, named in messages."""
        Path(folder).mkdir(parents=True, exist_ok=True)
        # The event listener asks known() from pynetdicom's server threads: one connection
        # shared under a lock (sqlite3 refuses cross-thread use otherwise).
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(
            Path(folder) / "transactions.sqlite", isolation_level=None, check_same_thread=False
        )
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS transactions (uid TEXT PRIMARY KEY, peer TEXT NOT NULL,"
            " level TEXT, started TEXT, state TEXT, final_event INTEGER, root_uid TEXT,"
            " retrieve_ae TEXT, study_records INTEGER, updated TEXT, calling_ae TEXT,"
            " listen_port INTEGER)"
        )
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(transactions)")}
        for column, kind in _ADDED_COLUMNS.items():  # state files of earlier versions
            if column not in have:
                self.conn.execute(f"ALTER TABLE transactions ADD COLUMN {column} {kind}")

    def add(
        self,
        uid: str,
        peer: Peer,
        level: str,
        *,
        calling_ae: str | None = None,
        listen_port: int | None = None,
    ) -> None:
        """Remember a transaction started with `peer` at `level`.

        With the `calling_ae` it was started as and the `listen_port` its events are expected
        on, so that later commands need not be told them again.
        """
        now = datetime.datetime.now().isoformat(timespec="seconds")
        with self.lock:
            self.conn.execute(
                "INSERT INTO transactions (uid, peer, level, started, state, updated,"
                " calling_ae, listen_port) VALUES (?,?,?,?,'REQUESTED',?,?,?)",
                (uid, str(peer), level, now, now, calling_ae, listen_port),
            )

    def list(self) -> list[dict[str, Any]]:
        """Every transaction remembered here, oldest first."""
        with self.lock:
            cur = self.conn.execute("SELECT * FROM transactions ORDER BY started, uid")
            rows = cur.fetchall()
            names = [c[0] for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def update(self, uid: str, ev: InventoryEvent) -> None:
        """Record what an event says (PS3.4 KK.2.3.1: status, counts, the root instance)."""
        info = ev.info
        root = info.get("ReferencedSOPInstanceUID")
        ae = info.get("RetrieveAETitle")
        with self.lock:
            self.conn.execute(
                "UPDATE transactions SET state = ?, study_records = COALESCE(?, study_records),"
                " root_uid = COALESCE(?, root_uid), retrieve_ae = COALESCE(?, retrieve_ae),"
                " final_event = ?, updated = ? WHERE uid = ?",
                (
                    str(info.get("TransactionStatus", "")),
                    info.get("TotalNumberOfStudyRecords"),
                    None if root is None else str(root),
                    None if not ae else str(ae),
                    ev.event_type if ev.final else None,
                    datetime.datetime.now().isoformat(timespec="seconds"),
                    uid,
                ),
            )

    def set_state(self, uid: str, state: str) -> None:
        """Record the state of a transaction that no event told (ACCEPTED, REFUSED, FAILED)."""
        with self.lock:
            self.conn.execute(
                "UPDATE transactions SET state = ?, updated = ? WHERE uid = ?",
                (state, datetime.datetime.now().isoformat(timespec="seconds"), uid),
            )

    def require(self, uid: str) -> dict[str, Any]:
        """What is remembered of transaction `uid`.

        Raises
        ------
        UnknownTransaction
            If it is not remembered here, naming the folder searched.
        """
        row = self.get(uid)
        if row is None:
            raise UnknownTransaction(
                f"transaction {uid} is not one this client started: it is not in "
                f"{self.folder / 'transactions.sqlite'} (give the --state folder of the request)"
            )
        return row

    def get(self, uid: str) -> dict[str, Any] | None:
        """What is remembered of transaction `uid`, or None."""
        with self.lock:
            cur = self.conn.execute("SELECT * FROM transactions WHERE uid = ?", (uid,))
            row = cur.fetchone()
            names = [c[0] for c in cur.description]
        return None if row is None else dict(zip(names, row, strict=True))

    def known(self, uid: str) -> bool:
        """Whether transaction `uid` was started here."""
        return self.get(uid) is not None

    def close(self) -> None:
        """Close the state database."""
        with self.lock:
            self.conn.close()


@dataclass
class RequestOutcome:
    """How a request ended."""

    transaction_uid: str
    action: ActionResult
    final: InventoryEvent | None = None
    files: list[Path] | None = None


def scope_sequence(scope: Mapping[str, str] | ScopeOfInventory | None) -> list[Dataset]:
    """Scope of Inventory Sequence for an Initiate: flat keys placed in their matching sequences.

    The placing follows PS3.3 C.38.2.1 and PS3.4 Table KK.2-1; no key gives an empty sequence
    (every study).
    """
    if not isinstance(scope, ScopeOfInventory):
        scope = ScopeOfInventory.from_keys(scope)
    if scope.is_universal:
        return []
    problems = check_scope_item(scope.to_item(), values=True)  # refused before it is sent
    if problems:
        raise InventoryEncodeError(f"scope: {problems[0].message}")
    return [scope.to_dataset()]


def request_inventory(
    peer: Peer,
    level: str,
    *,
    scope: dict[str, str] | None = None,
    store: TransactionStore,
    listener: EventListener | None,
    out: str | Path | None = None,
    purpose: str | None = None,
    status_interval: int | None = None,
    calling_ae: str = "DICOM_INV_SCU",
    timeout: float | None = None,
    on_event: Callable[[InventoryEvent], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    on_action: Callable[[ActionResult], None] | None = None,
    quiet_after: float | None = None,
    on_quiet: Callable[[], None] | None = None,
) -> RequestOutcome:
    """Initiate an inventory; with a `listener`, follow it; with `out`, retrieve it.

    `on_start` is called with the Transaction UID once it is remembered in `store` and before
    anything is sent, so a caller can show it before anything can block; `on_action` with the
    N-ACTION response as soon as it is known, before any event is awaited. The state file
    records the answer: ACCEPTED, REFUSED (a failure status), or FAILED (no answer: the
    association was refused or aborted). `on_quiet` is called once if no event came within
    `quiet_after` seconds (:meth:`EventListener.wait`).
    """
    uid = new_transaction_uid()
    info = Dataset()
    info.TransactionUID = uid
    info.InventoryLevel = level
    items = scope_sequence(scope)
    info.ScopeOfInventorySequence = items
    if items and "SpecificCharacterSet" in items[0]:
        info.SpecificCharacterSet = items[0].SpecificCharacterSet
    if purpose:
        info.InventoryPurpose = purpose
    if status_interval:
        info.RequestedStatusInterval = status_interval
    store.add(
        uid,
        peer,
        level,
        calling_ae=calling_ae,
        listen_port=None if listener is None else listener.port,
    )
    if on_start is not None:
        on_start(uid)
    try:
        result = send_action(peer, 11, info, calling_ae=calling_ae)
    except SCUError:
        store.set_state(uid, FAILED)  # never accepted: no REQUESTED left behind
        raise
    store.set_state(uid, ACCEPTED if result.accepted else REFUSED)
    outcome = RequestOutcome(uid, result)
    if on_action is not None:
        on_action(result)
    if not result.accepted or listener is None:
        return outcome
    return follow(
        peer,
        uid,
        store=store,
        listener=listener,
        out=out,
        calling_ae=calling_ae,
        timeout=timeout,
        on_event=on_event,
        outcome=outcome,
        quiet_after=quiet_after,
        on_quiet=on_quiet,
    )


def follow(
    peer: Peer,
    uid: str,
    *,
    store: TransactionStore,
    listener: EventListener,
    out: str | Path | None,
    calling_ae: str,
    timeout: float | None,
    on_event: Callable[[InventoryEvent], None] | None = None,
    outcome: RequestOutcome | None = None,
    quiet_after: float | None = None,
    on_quiet: Callable[[], None] | None = None,
) -> RequestOutcome:
    """Wait for the final event of `uid`, then retrieve the inventory into `out`.

    `on_quiet` is called once if no event came within `quiet_after` seconds.
    """
    outcome = outcome or RequestOutcome(uid, ActionResult(0))

    def seen(ev: InventoryEvent) -> None:
        store.update(uid, ev)
        if on_event is not None:
            on_event(ev)

    final = listener.wait(uid, timeout, seen, quiet_after=quiet_after, on_quiet=on_quiet)
    outcome.final = final
    if final.event_type == 11 and out is not None:
        root = str(final.info.ReferencedSOPInstanceUID)
        ae_title = str(final.info.get("RetrieveAETitle") or peer.ae_title)
        source = dataclasses.replace(peer, ae_title=ae_title)  # the Retrieve AE, same node
        outcome.files = retrieve_inventory(source, root, out, calling_ae=calling_ae)
    return outcome


def follow_remembered(
    uid: str,
    *,
    store: TransactionStore,
    listener: EventListener | None,
    out: str | Path | None,
    calling_ae: str = "DICOM_INV_SCU",
    timeout: float | None = None,
    on_event: Callable[[InventoryEvent], None] | None = None,
    tls: ssl.SSLContext | None = None,
) -> RequestOutcome:
    """Go on with a transaction started earlier, perhaps by a client that was restarted since.

    If its final event was already received, the inventory is retrieved at once (instances
    already in `out` are kept); otherwise the events are awaited on `listener` (the SCP retries
    the ones it could not deliver while this client was down, PS3.4 KK.2.3). With `tls`, the
    retrieval is over TLS (the remembered peer is only its address).
    """
    row = store.require(uid)
    peer = parse_peer(row["peer"], tls=tls)
    if row["final_event"] == 11 and row["root_uid"]:
        info = Dataset()
        info.TransactionUID = uid
        info.TransactionStatus = row["state"]
        info.ReferencedSOPInstanceUID = row["root_uid"]
        if row["retrieve_ae"]:
            info.RetrieveAETitle = row["retrieve_ae"]
        final = InventoryEvent(11, info, 0.0)
        outcome = RequestOutcome(uid, ActionResult(0), final)
        if out is not None:
            source = dataclasses.replace(peer, ae_title=row["retrieve_ae"] or peer.ae_title)
            outcome.files = retrieve_inventory(source, row["root_uid"], out, calling_ae=calling_ae)
        return outcome
    if row["final_event"] is not None or listener is None:
        return RequestOutcome(uid, ActionResult(0))
    return follow(
        peer,
        uid,
        store=store,
        listener=listener,
        out=out,
        calling_ae=calling_ae,
        timeout=timeout,
        on_event=on_event,
    )


def control(
    uid: str,
    action: str,
    *,
    store: TransactionStore,
    calling_ae: str = "DICOM_INV_SCU",
    retain: bool = False,
    status_interval: int | None = None,
    tls: ssl.SSLContext | None = None,
) -> ActionResult:
    """Request Status (12), Cancel (13), Pause (14) or Resume (15) of a remembered transaction.

    With `tls`, the N-ACTION goes over TLS (the remembered peer is only its address).
    """
    row = store.require(uid)
    peer = parse_peer(row["peer"], tls=tls)
    types = {"status": 12, "cancel": 13, "pause": 14, "resume": 15}
    info = Dataset()
    info.TransactionUID = uid
    if action == "cancel":
        info.RetainInstances = "YES" if retain else "NO"
    if action == "status" and status_interval:
        info.RequestedStatusInterval = status_interval
    return send_action(peer, types[action], info, calling_ae=calling_ae)
