"""The Inventory SCU: request, follow and retrieve inventories; Inventory FIND; Repository Query.

Built on pynetdicom with the workarounds its 3.0 release needs (see
:mod:`dicom_inventory.scp.wire` for the SCP side):

* Attribute Identifier List (0000,1005) of a 0xB010 N-ACTION response is dropped by
  pynetdicom's primitive; it is read here from the raw command set (``EVT_DIMSE_RECV``).
* pynetdicom's C-FIND SCU keeps waiting after a Repository Query 0xB001, which PS3.4 C.6.4 makes
  the *final* response: iteration stops at 0xB001 and the next page is asked for with Prior
  Record Key.
* ``send_n_action`` with an empty Dataset never reaches the peer: actions without
  information would pass None (all Inventory Creation actions carry a Transaction UID anyway).

Events (PS3.4 KK.2.3) arrive on a new association from the SCP: :class:`EventListener` accepts
Inventory Creation in the SCU role of the association acceptor with the SCP role for the peer.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_inventory.errors import InventoryError
from dicom_inventory.read import read_header, resolve_tree
from dicom_inventory.scu.peer import Peer
from dicom_inventory.status import Status, is_pending
from dicom_inventory.uid import (
    INVENTORY_CREATION,
    INVENTORY_FIND,
    INVENTORY_GET,
    INVENTORY_MOVE,
    INVENTORY_STORAGE,
    REPOSITORY_QUERY,
    STORAGE_MANAGEMENT_SOP_INSTANCE,
    generate_uid,
    is_valid_uid,
)
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

__all__ = [
    "ActionResult",
    "EventListener",
    "EventTimeout",
    "InventoryEvent",
    "PeerAborted",
    "SCUError",
    "STATUS_TEXT",
    "RepositoryPage",
    "inventory_find",
    "move_inventory",
    "new_transaction_uid",
    "repository_query",
    "retrieve_inventory",
    "send_action",
    "status_text",
]

#: What each N-ACTION status means (PS3.4 KK.2.2.3, PS3.7 C), for messages.
#: The codes are :class:`~dicom_inventory.status.Status`; these are the SCU's words for them
#: in answer to an Initiate or a control action.
STATUS_TEXT: dict[int, str] = {
    Status.SUCCESS: "accepted",
    Status.ATTRIBUTE_LIST_WARNING: "accepted, but some scope keys are not supported for "
    "matching and were dropped",
    Status.PROCESSING_FAILURE: "processing failure",
    Status.NO_SUCH_SOP_INSTANCE: "no such SOP Instance (not the well-known Storage Management "
    "instance)",
    Status.INVALID_ARGUMENT_VALUE: "invalid argument value",
    Status.NO_SUCH_ACTION: "no such action",
    Status.NOT_AUTHORIZED: "refused: not authorized",
    Status.DUPLICATE_INVOCATION: "duplicate invocation",
    Status.UNRECOGNIZED_OPERATION: "unrecognized operation",
    Status.MISTYPED_ARGUMENT: "mistyped argument: level, character set or matching mechanism "
    "not supported",
    Status.RESOURCE_LIMITATION: "resource limitation: the SCP has too many jobs",
}


class SCUError(InventoryError):
    """The peer refused or could not be reached; the message says which and why."""


class PeerAborted(SCUError):
    """The peer aborted the association instead of answering a request it had negotiated."""


class EventTimeout(SCUError):
    """No final event of a transaction arrived within the time given."""


def status_text(code: int | None) -> str:
    """A DIMSE status as ``0xHHHH`` with its meaning (PS3.7 C), for messages.

    None (no final response at all) and codes :class:`~dicom_inventory.status.Status` does
    not name are said to be so.
    """
    if code is None:
        return "no final response"
    member = next((s for s in Status if s == code), None)
    meaning = (
        member.meaning if member is not None else "a status this client does not know (PS3.7 C)"
    )
    return f"0x{code:04X} ({meaning.rstrip('.')})"


@dataclass
class ActionResult:
    """The response to an N-ACTION."""

    status: int
    comment: str | None = None
    unsupported_keys: list[int] = field(default_factory=list)
    """Tags from Attribute Identifier List (0000,1005), with 0xB010."""

    @property
    def accepted(self) -> bool:
        """Whether the SCP accepted the request (0x0000, or 0xB010 with keys dropped)."""
        return self.status in (Status.SUCCESS, Status.ATTRIBUTE_LIST_WARNING)

    def describe(self) -> str:
        """The status in words, with its comment and any unsupported keys."""
        text = STATUS_TEXT.get(self.status, "failure")
        extra = f": {self.comment}" if self.comment else ""
        keys = (
            " ("
            + ", ".join(f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in self.unsupported_keys)
            + ")"
            if self.unsupported_keys
            else ""
        )
        return f"0x{self.status:04X} {text}{extra}{keys}"


@dataclass
class InventoryEvent:
    """One N-EVENT-REPORT received."""

    event_type: int
    info: Dataset
    received: float

    @property
    def transaction_uid(self) -> str:
        """Transaction UID (0008,1195) of the event ('' if absent)."""
        return str(self.info.get("TransactionUID", ""))

    @property
    def final(self) -> bool:
        """Whether this is a final event: 11 (complete) or 13 (canceled), PS3.4 KK.2.3."""
        return self.event_type in (11, 13)


def _ae(calling_ae: str, timeout: float) -> AE:
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    return ae


def send_action(
    peer: Peer,
    action_type: int,
    info: Dataset,
    *,
    calling_ae: str = "DICOM_INV_SCU",
    timeout: float = 30.0,
) -> ActionResult:
    """Send one Inventory Creation N-ACTION to the well-known instance (PS3.4 KK.2.2)."""
    ae = _ae(calling_ae, timeout)
    ae.add_requested_context(INVENTORY_CREATION)
    commands: list[Dataset] = []
    assoc = peer.associate(
        ae,
        error=SCUError,
        what="Inventory Creation",
        evt_handlers=[(evt.EVT_DIMSE_RECV, lambda e: commands.append(e.message.command_set))],
    )
    sent = time.monotonic()
    try:
        status, _ = assoc.send_n_action(
            info, action_type, INVENTORY_CREATION, STORAGE_MANAGEMENT_SOP_INSTANCE
        )
    finally:
        if assoc.is_established:
            assoc.release()
    if not status or "Status" not in status:
        # pynetdicom aborts the association itself when its DIMSE timeout expires: an abort
        # after the whole timeout is ours, not the peer's
        timed_out = time.monotonic() - sent >= 0.95 * timeout
        if assoc.is_aborted and not timed_out:
            raise PeerAborted(
                f"{peer}: aborted the association instead of answering the N-ACTION "
                "(Inventory Creation was accepted in negotiation)"
            )
        raise SCUError(f"{peer}: no response to the N-ACTION within {timeout:g} s")
    result = ActionResult(int(status.Status), status.get("ErrorComment"))
    for cs in commands:  # (0000,1005) is only in the raw command set
        if 0x00001005 in cs:
            value = cs[0x00001005].value
            # AT with VM > 1 comes as a pydicom MultiValue, with VM 1 as one value
            many = isinstance(value, Sequence) and not isinstance(value, (str, bytes))
            result.unsupported_keys = [int(t) for t in (value if many else [value])]
    return result


class EventListener:
    """Receives Inventory Creation N-EVENT-REPORTs on `port` (new associations from the SCP).

    With `store_into`, it is also the Inventory Storage SCP that C-MOVE sends to: the SCP
    knows one address per AE title, so events and moved inventories come to the same AE.
    """

    def __init__(
        self,
        ae_title: str,
        port: int,
        *,
        bind: str = "0.0.0.0",
        timeout: float = 30.0,
        store_into: str | Path | None = None,
    ) -> None:
        self.events: queue.Queue[InventoryEvent] = queue.Queue()
        self.unmatched: list[InventoryEvent] = []
        """Events :meth:`wait` passed over: of other transactions, or without Transaction UID."""
        self.received: list[Path] = []
        """Inventory instances received by C-STORE (with `store_into`)."""
        ae = _ae(ae_title, timeout)
        ae.add_supported_context(INVENTORY_CREATION, scu_role=False, scp_role=True)
        handlers: list[Any] = []
        if store_into is not None:
            folder = Path(store_into)
            folder.mkdir(parents=True, exist_ok=True)
            ae.add_supported_context(INVENTORY_STORAGE)

            handlers.append((evt.EVT_C_STORE, _store_into(folder, self.received)))
        self._known: Callable[[str], bool] = lambda uid: True

        def on_report(event: Any) -> tuple[int, Dataset | None]:
            info = event.event_information
            uid = str(info.get("TransactionUID", ""))
            if not self._known(uid):
                return Status.PROCESSING_FAILURE, None  # not one of ours
            self.events.put(InventoryEvent(int(event.request.EventTypeID), info, time.time()))
            return Status.SUCCESS, None

        try:
            server = ae.start_server(
                (bind, port),
                block=False,
                evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report), *handlers],
            )
        except OSError as exc:
            raise SCUError(f"cannot listen for events on {bind}:{port}: {exc}") from exc
        if server is None:  # pynetdicom returns None only for block=True
            raise SCUError(f"cannot listen for events on {bind}:{port}")
        self.server = server

    @property
    def port(self) -> int:
        """The port the events are received on."""
        return int(self.server.server_address[1])

    def accept_only(self, known: Callable[[str], bool]) -> None:
        """Answer events of unknown transactions with a failure (0x0110)."""
        self._known = known

    def wait(
        self,
        transaction_uid: str,
        timeout: float | None,
        on_event: Callable[[InventoryEvent], None] | None = None,
        *,
        quiet_after: float | None = None,
        on_quiet: Callable[[], None] | None = None,
    ) -> InventoryEvent:
        """Events of one transaction until the final one (11 or 13).

        If no event of it came within `quiet_after` seconds, `on_quiet` is called once (the
        caller says where the events may have gone); the wait goes on.

        Raises
        ------
        EventTimeout
            No final event within `timeout` seconds.
        """
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        quiet = None if quiet_after is None or on_quiet is None else start + quiet_after
        while True:
            now = time.monotonic()
            left = None if deadline is None else max(0.0, deadline - now)
            if quiet is not None:
                left = max(0.0, quiet - now) if left is None else min(left, max(0.0, quiet - now))
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty as exc:
                if quiet is not None and time.monotonic() >= quiet:
                    quiet = None
                    assert on_quiet is not None
                    on_quiet()
                    continue
                raise EventTimeout(
                    f"no final event for {transaction_uid} within {timeout:g} s"
                ) from exc
            if ev.transaction_uid == transaction_uid:
                quiet = None  # the events arrive: nothing to say
            if ev.transaction_uid != transaction_uid:
                self.unmatched.append(ev)  # another transaction's, or none: kept for diagnosis
                continue
            if on_event is not None:
                on_event(ev)
            if ev.final:
                return ev

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()


def inventory_find(
    peer: Peer, keys: dict[str, Any], *, calling_ae: str = "DICOM_INV_SCU", timeout: float = 30.0
) -> list[Dataset]:
    """Inventory FIND (PS3.4 JJ): the matching inventories' return keys."""
    ae = _ae(calling_ae, timeout)
    ae.add_requested_context(INVENTORY_FIND)
    assoc = peer.associate(ae, error=SCUError, what="Inventory FIND")
    q = Dataset()
    for k, v in keys.items():
        setattr(q, k, v)
    found: list[Dataset] = []
    final = None
    try:
        for status, ident in assoc.send_c_find(q, INVENTORY_FIND):
            if not status:
                break
            if is_pending(status.Status):
                if ident is not None:
                    found.append(ident)
            else:
                final = int(status.Status)
    finally:
        if assoc.is_established:
            assoc.release()
    if final != Status.SUCCESS:
        raise SCUError(f"{peer}: Inventory FIND ended with {status_text(final)}")
    return found


@dataclass
class RepositoryPage:
    """One response set of a Repository Query."""

    records: list[Dataset]
    status: int

    @property
    def partial(self) -> bool:
        """Whether the page ended with 0xB001: more records remain (PS3.4 C.6.4)."""
        return self.status == Status.PARTIAL_RESULTS


def repository_query(
    peer: Peer,
    level: str,
    keys: dict[str, Any],
    *,
    max_records: int | None = None,
    follow: bool = True,
    calling_ae: str = "DICOM_INV_SCU",
    timeout: float = 60.0,
) -> Iterator[RepositoryPage]:
    """Repository Query (PS3.4 C.6.4), page after page through Prior Record Key.

    With `follow`, pages continue until a response set ends with 0x0000; otherwise one page.
    A page ending with 0xB001 is partial. Failures raise :class:`SCUError`.
    """
    ae = _ae(calling_ae, timeout)
    ae.add_requested_context(REPOSITORY_QUERY)
    # relational-queries (PS3.4 C.5.1.1.2, C.6.4.6.2): SERIES and IMAGE queries without the
    # parent UIDs, which is how the whole repository is paged through
    relational = SOPClassExtendedNegotiation()
    relational.sop_class_uid = REPOSITORY_QUERY
    relational.service_class_application_information = b"\x01"

    def associate() -> Any:
        return peer.associate(ae, error=SCUError, what="Repository Query", ext_neg=[relational])

    assoc = associate()
    prior: bytes | None = None
    try:
        while True:
            if prior is not None:
                # A new association per page: an SCP built on stock pynetdicom sends a 0x0000
                # after its 0xB001, which must not be read as the answer to the next page.
                # A chain of requests with Prior Record Key need not share an association
                # (PS3.4 C.6.4.5.3).
                assoc.release()
                assoc = associate()
            q = Dataset()
            q.QueryRetrieveLevel = level
            for k, v in keys.items():
                setattr(q, k, v)
            q.RecordKey = b""
            if max_records:
                q.MaximumNumberOfRecords = max_records
            if prior is not None:
                q.PriorRecordKey = prior
            records: list[Dataset] = []
            final = None
            for status, ident in assoc.send_c_find(q, REPOSITORY_QUERY):
                if not status:
                    break
                code = int(status.Status)
                if is_pending(code):
                    if ident is not None:
                        records.append(ident)
                    continue
                final = code
                break  # 0xB001 is final: do not wait for more (pynetdicom would)
            if final not in (Status.SUCCESS, Status.PARTIAL_RESULTS):
                known = final in (Status.INVALID_PRIOR_RECORD_KEY, Status.OUT_OF_RESOURCES)
                raise SCUError(
                    f"{peer}: Repository Query ended with {status_text(final)}"
                    + (
                        ""
                        if known
                        else ": a node without Repository Query (PS3.4 C.6.4), e.g. a PACS "
                        "that answers only Study Root C-FIND, is inventoried by "
                        "dicom-inventory crawl"
                    )
                )
            yield RepositoryPage(records, final)
            if final == Status.SUCCESS or not follow:
                return
            if not records or "RecordKey" not in records[-1]:
                raise SCUError(f"{peer}: partial page without a Record Key to continue from")
            prior = bytes(records[-1].RecordKey)
    finally:
        if assoc.is_established:
            assoc.release()


#: SOP Instance UIDs per Inventory GET or MOVE request: 200 x 65 bytes stays far below the
#: 64 KB an Explicit VR element can hold (a longer list becomes UN and matches nothing).
_GET_SLICE = 200


def _store_into(folder: Path, received: list[Path]) -> Callable[[Any], int]:
    """``evt.EVT_C_STORE`` handler writing ``<SOP Instance UID>.dcm`` atomically into `folder`."""

    def on_store(event: Any) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        if not is_valid_uid(uid):  # the file name comes from the peer: never a path
            return Status.CANNOT_UNDERSTAND
        target = folder / f"{uid}.dcm"
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(event.encoded_dataset(include_meta=True))
        tmp.replace(target)
        received.append(target)
        return Status.SUCCESS

    return on_store


def _fetch_tree(
    peer: Peer, root_uid: str, out_dir: Path, service: str, request: Callable[[Dataset], int | None]
) -> list[Path]:
    """Ask for the tree of `root_uid` level by level (PS3.3 C.38.2.3), in slices.

    What `out_dir` already holds is skipped; `request` sends one C-GET or C-MOVE and returns
    its final status. Returns the files of the whole tree.
    """
    files: list[Path] = []
    wanted = [root_uid]
    while wanted:
        missing = [u for u in wanted if not (out_dir / f"{u}.dcm").exists()]
        for start in range(0, len(missing), _GET_SLICE):
            part = missing[start : start + _GET_SLICE]
            q = Dataset()
            q.SOPInstanceUID = part if len(part) > 1 else part[0]
            final = request(q)
            if final == Status.MOVE_DESTINATION_UNKNOWN:
                raise SCUError(f"{peer}: move destination unknown (0xA801)")
            if final is not None and final not in (
                Status.SUCCESS,
                Status.COERCION_OF_DATA_ELEMENTS,
            ):
                raise SCUError(f"{peer}: Inventory {service} ended with {status_text(final)}")
            # no final status (e.g. an abort): what did not arrive is named just below
        still = [u for u in missing if not (out_dir / f"{u}.dcm").exists()]
        if still:
            raise SCUError(
                f"{peer}: Inventory {service} did not deliver {len(still)} instance(s): "
                + ", ".join(still[:5])
                + (" ..." if len(still) > 5 else "")
            )
        files += [out_dir / f"{u}.dcm" for u in wanted]
        wanted = [
            ref.sop_instance_uid
            for u in wanted
            for ref in read_header(out_dir / f"{u}.dcm").incorporated
        ]
    resolve_tree(out_dir / f"{root_uid}.dcm")  # the whole tree is here and acyclic
    return files


def _final(responses: Iterator[tuple[Any, Any]]) -> int | None:
    final = None
    for status, _ in responses:
        if status and not is_pending(status.Status):
            final = int(status.Status)
    return final


def retrieve_inventory(
    peer: Peer,
    root_uid: str,
    out: str | Path,
    *,
    calling_ae: str = "DICOM_INV_SCU",
    timeout: float = 120.0,
) -> list[Path]:
    """Inventory GET the root and, following its references, every instance of the tree.

    Instances already in `out` (named ``<SOP Instance UID>.dcm``) are not asked for again.
    Returns the files received by this call.
    """
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not is_valid_uid(root_uid):
        raise SCUError(f"{root_uid!r} is not a valid SOP Instance UID (PS3.5 9.1)")
    got: list[Path] = []
    ae = _ae(calling_ae, timeout)
    ae.add_requested_context(INVENTORY_GET)
    ae.add_requested_context(INVENTORY_STORAGE)
    assoc = peer.associate(
        ae,
        error=SCUError,
        what="Inventory GET",
        ext_neg=[build_role(INVENTORY_STORAGE, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, _store_into(out_dir, got))],
    )
    try:
        _fetch_tree(
            peer, root_uid, out_dir, "GET", lambda q: _final(assoc.send_c_get(q, INVENTORY_GET))
        )
    finally:
        if assoc.is_established:
            assoc.release()
    return got


def move_inventory(
    peer: Peer,
    root_uid: str,
    destination: str,
    out: str | Path,
    *,
    calling_ae: str = "DICOM_INV_SCU",
    timeout: float = 120.0,
) -> list[Path]:
    """Inventory MOVE the tree of `root_uid` to `destination`, whose storage lands in `out`.

    Usually `destination` is this client's own AE, an :class:`EventListener` started with
    ``store_into=out``. Level by level, like :func:`retrieve_inventory`; returns the files of
    the whole tree.
    """
    out_dir = Path(out)
    if not is_valid_uid(root_uid):
        raise SCUError(f"{root_uid!r} is not a valid SOP Instance UID (PS3.5 9.1)")
    ae = _ae(calling_ae, timeout)
    ae.add_requested_context(INVENTORY_MOVE)
    assoc = peer.associate(ae, error=SCUError, what="Inventory MOVE")
    try:
        return _fetch_tree(
            peer,
            root_uid,
            out_dir,
            "MOVE",
            lambda q: _final(assoc.send_c_move(q, destination, INVENTORY_MOVE)),
        )
    finally:
        if assoc.is_established:
            assoc.release()


def new_transaction_uid() -> str:
    """A fresh Transaction UID for an Initiate."""
    return str(generate_uid())
