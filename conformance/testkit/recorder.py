"""The kit's own recording peer: C-FIND exchanges judged as they were on the wire.

Our SCU (:mod:`dicom_inventory.scu.client`) is built to get an answer from imperfect peers:
it opens a new association per Repository Query page so that a stray response cannot be read
as the next page's. A judge must not be that forgiving. :class:`RecordingAssociation` keeps one
association, records every DIMSE message it receives (``evt.EVT_DIMSE_RECV``, with the Message
ID Being Responded To and the status), and after each final response waits a moment for any
further response to the same request: PS3.7 9.1.2 makes a non-Pending status the last response
of a C-FIND, and PS3.4 C.6.4.1.1 makes 0xB001 such a final status of Repository Query.
Anything after it is on the record as evidence, and is drained before the next request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from dicom_inventory.scu.client import SCUError
from dicom_inventory.scu.peer import Peer, nodelay
from dicom_inventory.status import is_pending
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

__all__ = ["Exchange", "RecordingAssociation"]


@dataclass
class Exchange:
    """One C-FIND request and every response seen for it."""

    message_id: int
    records: list[Dataset] = field(default_factory=list)
    final: int | None = None
    """The first non-Pending status (``None``: none arrived)."""
    after_final: list[int] = field(default_factory=list)
    """Statuses of responses to the same request that arrived after its final one."""
    stray: list[tuple[int, int]] = field(default_factory=list)
    """(Message ID Being Responded To, status) of responses to no open request."""


class RecordingAssociation:
    """One association to `peer` for `sop_class`, every received message on the record.

    Parameters
    ----------
    grace : float
        Seconds to wait after a final response for further responses to the same request.
    watch : int
        Wait `grace` after each of the first `watch` requests, and after every later one once
        anything was seen after a final response; otherwise drain without waiting, so that
        paging through a large archive costs no sleep per page. A peer that sends a second
        final response does so from its first page on.
    ext_neg : list
        Extended negotiation items (e.g. relational-queries for Repository Query).
    """

    def __init__(
        self,
        peer: Peer,
        sop_class: str,
        *,
        calling_ae: str,
        timeout: float,
        grace: float = 0.5,
        watch: int = 3,
        ext_neg: list[Any] | None = None,
    ) -> None:
        self.sop_class = sop_class
        self.grace = grace
        self._watch = watch
        self._extra_seen = False
        self.received: list[tuple[int, int]] = []  # (message id responded to, status)
        self._lock = threading.Lock()
        ae = AE(ae_title=calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        ae.add_requested_context(sop_class)
        self.assoc = ae.associate(
            peer.host,
            peer.port,
            ae_title=peer.ae_title,
            ext_neg=ext_neg or [],
            evt_handlers=[(evt.EVT_DIMSE_RECV, self._on_recv)],
        )
        if not self.assoc.is_established:
            raise SCUError(f"{peer}: association refused or {sop_class} not accepted")
        nodelay(self.assoc)
        self._next_id = 1

    def _on_recv(self, event: Any) -> None:
        cs = event.message.command_set
        if "MessageIDBeingRespondedTo" in cs and "Status" in cs:
            with self._lock:
                self.received.append((int(cs.MessageIDBeingRespondedTo), int(cs.Status)))

    def find(self, query: Dataset) -> Exchange:
        """Send one C-FIND; collect its responses up to the final one.

        Then (see `watch`) wait `grace` seconds, and record and drain whatever else arrives.
        """
        msg_id = self._next_id
        self._next_id += 1
        with self._lock:
            before = len(self.received)
        ex = Exchange(msg_id)
        for status, ident in self.assoc.send_c_find(query, self.sop_class, msg_id=msg_id):
            if not status:  # no response within the DIMSE timeout, or the peer went away
                break
            code = int(status.Status)
            if is_pending(code):
                if ident is not None:
                    ex.records.append(ident)
                continue
            ex.final = code
            break  # a non-Pending status is the last response (PS3.7 9.1.2)
        if self._watch > 0 or self._extra_seen:
            self._watch -= 1
            time.sleep(self.grace)
        while True:  # drain: nothing here may be read as the next request's answer
            _, msg = self.assoc.dimse.get_msg(block=False)
            if msg is None:
                break
        with self._lock:
            seen = self.received[before:]
        finals = 0
        for responded_to, code in seen:
            if responded_to != msg_id:
                ex.stray.append((responded_to, code))
            elif not is_pending(code):
                finals += 1
                if finals > 1:
                    ex.after_final.append(code)
        self._extra_seen = self._extra_seen or bool(ex.after_final or ex.stray)
        return ex

    def close(self) -> None:
        """Release the association."""
        if self.assoc.is_established:
            self.assoc.release()

    def __enter__(self) -> RecordingAssociation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
