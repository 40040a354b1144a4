"""Delivery of Inventory Creation N-EVENT-REPORTs to the requester (PS3.4 KK.2.3).

The events wait in the durable outbox (:class:`~dicom_inventory.scp.stores.jobs.JobStore`). A sender
thread opens a **new association** to the requester (its AE title looked up in the configured
peers), proposing Inventory Creation with SCP/SCU Role Selection in which the node takes the SCP
role, as Storage Commitment does for its reports (PS3.4 J.3.3, the model of KK per PS3.17
YYYY.4.2), and sends the N-EVENT-REPORT with Affected SOP Instance UID = the well-known Storage
Management SOP Instance. Each event is claimed before it is sent, so of several nodes sharing
one outbox exactly one sends it. Events of one transaction go out in order, one after the other; an
unreachable requester is retried with doubling back-off (``limits.event_backoff`` up to
``limits.event_max_backoff``), ``limits.event_attempts`` times. A requester that answers with a
failure status has refused the event: it is not repeated.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dicom_inventory.dimse import keep_responses_for_caller
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.stores.jobs import JobStore, OutgoingEvent
from dicom_inventory.uid import INVENTORY_CREATION, STORAGE_MANAGEMENT_SOP_INSTANCE
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role
from pynetdicom.dul import DULServiceProvider

__all__ = ["EventSender", "event_dataset"]

LOG = logging.getLogger("dicom_inventory.scp")


def event_dataset(info: dict[str, Any]) -> Dataset:
    """Return the Event Information data set from the stored ``{keyword: value}``.

    A sequence is stored as a list of such mappings (JSON keeps items as objects) and comes
    back as a sequence of data sets.
    """
    ds = Dataset()
    for keyword, value in info.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            value = [event_dataset(item) for item in value]
        setattr(ds, keyword, value)
    return ds


class EventSender:
    """A thread that delivers due events from the outbox."""

    def __init__(self, config: NodeConfig, store: JobStore, poll: float = 0.2) -> None:
        self.config = config
        self.store = store
        self.poll = poll
        self.owner = config.owner
        lim = config.limits
        # long enough for one delivery attempt, so no other node sends it meanwhile
        self._lease = 2 * (lim.acse_timeout + lim.dimse_timeout + lim.network_timeout)
        ae = AE(ae_title=config.ae_title)
        ae.acse_timeout = config.limits.acse_timeout
        ae.dimse_timeout = config.limits.dimse_timeout
        ae.network_timeout = config.limits.network_timeout
        ae.add_requested_context(
            INVENTORY_CREATION, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        )
        self.ae = ae
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="inventory-events", daemon=True)

    def start(self) -> None:
        """Start delivering."""
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now (an event was queued)."""
        self._wake.set()

    def is_alive(self) -> bool:
        """Whether the sender thread still runs (a delivery outlived :meth:`stop`)."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the delivery in progress; undelivered events stay in the outbox.

        An association still being negotiated is aborted (nothing was sent on it: the event
        stays due and is retried at the next start); one that carries an event is given
        `timeout` seconds (default: the DIMSE timeout plus the release) to finish, so that its
        outcome is recorded before the caller closes the job store.
        """
        self._stop.set()
        self._wake.set()
        # pynetdicom negotiates in the calling thread (AE.associate) for up to the ACSE
        # timeout; closing the connection ends the wait at once (PS3.8 state Sta5 + Evt17:
        # A-P-ABORT indication)
        for thread in threading.enumerate():
            if (
                isinstance(thread, DULServiceProvider)
                and thread.assoc.ae is self.ae
                and not thread.assoc.is_established
                and thread.socket is not None
            ):
                thread.socket.close()
        lim = self.config.limits
        self._thread.join(lim.dimse_timeout + lim.acse_timeout if timeout is None else timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for ev in list(self.store.due_events(time.time())):
                    if self._stop.is_set():
                        return
                    if not self.store.claim_event(ev.id, self.owner, self._lease, time.time()):
                        continue  # another node sharing the outbox is sending it
                    try:
                        self._deliver(ev)
                    except Exception as exc:  # recorded, so it backs off and ends
                        LOG.exception("event %d for %s", ev.event_type, ev.transaction_uid)
                        self._retry_later(ev, f"cannot send: {type(exc).__name__}: {exc}")
            except Exception:  # the sender must outlive any single failure
                LOG.exception("event delivery loop")
            self._wake.wait(self.poll)
            self._wake.clear()

    def _deliver(self, ev: OutgoingEvent) -> None:
        peer = self.config.peer(ev.requester)
        if peer is None:
            self.store.failed(ev.id, f"{ev.requester} is not a configured peer", None)
            LOG.error(
                "event %d for %s: no address for %s",
                ev.event_type,
                ev.transaction_uid,
                ev.requester,
            )
            return
        role = build_role(INVENTORY_CREATION, scu_role=False, scp_role=True)
        assoc = self.ae.associate(peer.host, peer.port, ae_title=peer.ae_title, ext_neg=[role])
        error = None
        if assoc.is_established:
            # the N-EVENT-REPORT-RSP is this thread's: a lost one would redeliver the event
            keep_responses_for_caller(assoc)
            try:
                status, _ = assoc.send_n_event_report(
                    event_dataset(ev.info),
                    ev.event_type,
                    INVENTORY_CREATION,
                    STORAGE_MANAGEMENT_SOP_INSTANCE,
                )
                code = int(status.Status) if "Status" in status else None
                if code == 0x0000:
                    self.store.delivered(ev.id)
                    LOG.info(
                        "event %d (%s) for %s delivered to %s",
                        ev.event_type,
                        ev.info.get("TransactionStatus"),
                        ev.transaction_uid,
                        ev.requester,
                    )
                elif code is not None:
                    self.store.failed(ev.id, f"refused with 0x{code:04X}", None)
                    LOG.warning(
                        "event for %s refused by %s: 0x%04X", ev.transaction_uid, ev.requester, code
                    )
                else:
                    error = "no response"
            finally:
                assoc.release()
        else:
            # pynetdicom flags a refused connection as aborted too
            error = "association rejected" if assoc.is_rejected else "unreachable or aborted"
        if error is not None:
            self._retry_later(ev, error)

    def _retry_later(self, ev: OutgoingEvent, error: str) -> None:
        """Record a failed attempt: retry with doubling back-off, or give up at the limit."""
        lim = self.config.limits
        if ev.attempts + 1 >= lim.event_attempts:
            self.store.failed(ev.id, error, None)
            LOG.error(
                "event for %s given up after %d attempts: %s",
                ev.transaction_uid,
                ev.attempts + 1,
                error,
            )
        else:
            delay = min(lim.event_backoff * 2**ev.attempts, lim.event_max_backoff)
            self.store.failed(ev.id, error, time.time() + delay)
            LOG.warning(
                "event for %s to %s: %s; retry in %.1f s",
                ev.transaction_uid,
                ev.requester,
                error,
                delay,
            )
