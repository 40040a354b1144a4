"""The association-request guard: what a peer sends first, checked before pynetdicom sees it.

pynetdicom 3.0.4 turns some malformed A-ASSOCIATE-RQs into an exception inside its state
machine: a Presentation Context ID that is even (PS3.8 9.3.2.2: "odd integers between 1 and
255") raises in action AE-6, the reactor thread dies without answering, and the association
slot stays taken until the ACSE timeout (``docs/upstream/pynetdicom-even-context-id.md``). A
dozen such one-packet requests refuse every good requester for that long. So each connection
first passes this guard, in its own thread, before an
:class:`~pynetdicom.association.Association` exists:

* the TLS handshake (deferred here from pynetdicom's accept loop, where one silent client would
  block every other connection) and the first PDU must arrive within the ACSE timeout, the
  ARTIM timer of a connection awaiting its A-ASSOCIATE-RQ (PS3.8 9.1.5, state Sta2);
* the first PDU must be an A-ASSOCIATE-RQ of at most :data:`MAX_ASSOCIATE_RQ` bytes, else
  A-ABORT (PS3.8 9.3.8; state table: Sta2 + an unexpected or invalid PDU, Evt19, is AA-1);
* the A-ASSOCIATE-RQ must be well formed (PS3.8 9.3.2) and acceptable to pynetdicom's own
  decoder, else A-ASSOCIATE-RJ rejected-permanent (PS3.8 9.3.4; action AE-6: "otherwise issue
  A-ASSOCIATE-RJ-PDU");
* at most as many connections wait in the guard as the node accepts associations; beyond,
  A-ASSOCIATE-RJ rejected-transient, local-limit-exceeded.

A request that passes is handed to pynetdicom unchanged (replayed from the bytes read), which
then negotiates as usual (calling/called AE title, presentation contexts, association limit).
Every refusal is one warning line in the node's log with the peer's address; the same holds for
what pynetdicom itself logs about a peer's malformed PDUs later on (:class:`PeerLogFilter`).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import struct
import threading
import time
from enum import IntEnum
from typing import Any

from pynetdicom.association import Association
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

__all__ = [
    "MAX_ASSOCIATE_RQ",
    "AbortReason",
    "AssociationGuard",
    "GuardedAssociationServer",
    "PeerLogFilter",
    "Refusal",
    "RejectReason",
    "check_associate_rq",
    "install_peer_log_filter",
]

LOG = logging.getLogger("dicom_inventory.scp")

#: Set in a guard thread while pynetdicom's decoder tries a request: what pynetdicom logs then
#: (with tracebacks) is dropped by :class:`PeerLogFilter`; the guard logs one line itself.
_TRYING = threading.local()

#: Largest first PDU read (bytes). The standard sets no bound on an A-ASSOCIATE-RQ; 128
#: presentation contexts of 64-character UIDs with 30 transfer syntaxes each take about
#: 270 KB, so 1 MiB leaves room for User Identity items and stays a small, fixed cost.
MAX_ASSOCIATE_RQ = 1 << 20

_HEADER = struct.Struct(">BBL")  # PDU-type, reserved, PDU-length (PS3.8 9.3.1)
_ITEM = struct.Struct(">BBH")  # item-type, reserved, item-length (PS3.8 9.3.2.1)
_RQ_FIXED = 68  # protocol version .. reserved, before the variable items (PS3.8 Table 9-11)
_UID_MAX = 64  # PS3.5 9.1
_PDV_SLACK = 4096  # room for PDV item headers and the A-RELEASE/A-ABORT PDUs above Max Length


class PDUType(IntEnum):
    """PDU types of the DICOM Upper Layer (PS3.8 9.3.1)."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class ItemType(IntEnum):
    """Variable items and sub-items of an A-ASSOCIATE-RQ (PS3.8 9.3.2)."""

    APPLICATION_CONTEXT = 0x10
    PRESENTATION_CONTEXT = 0x20
    ABSTRACT_SYNTAX = 0x30
    TRANSFER_SYNTAX = 0x40
    USER_INFORMATION = 0x50
    MAXIMUM_LENGTH = 0x51
    IMPLEMENTATION_CLASS_UID = 0x52


class RejectReason(IntEnum):
    """(Result, Source, Reason/Diag.) of an A-ASSOCIATE-RJ, packed (PS3.8 9.3.4 Table 9-21)."""

    NO_REASON_GIVEN = 0x010201  # permanent, service-provider (ACSE), no-reason-given
    PROTOCOL_VERSION_NOT_SUPPORTED = 0x010202  # permanent, service-provider (ACSE)
    APPLICATION_CONTEXT_NOT_SUPPORTED = 0x010102  # permanent, service-user
    CALLING_AE_TITLE_NOT_RECOGNIZED = 0x010103  # permanent, service-user
    CALLED_AE_TITLE_NOT_RECOGNIZED = 0x010107  # permanent, service-user
    TEMPORARY_CONGESTION = 0x020301  # transient, service-provider (presentation)
    LOCAL_LIMIT_EXCEEDED = 0x020302  # transient, service-provider (presentation)

    def pdu(self) -> bytes:
        """Return the A-ASSOCIATE-RJ PDU carrying this reason."""
        result, source, reason = self.to_bytes(3, "big")
        return _HEADER.pack(PDUType.A_ASSOCIATE_RJ, 0, 4) + bytes([0, result, source, reason])


class AbortReason(IntEnum):
    """Reason/Diag. of an A-ABORT from the service-provider (PS3.8 9.3.8 Table 9-26)."""

    REASON_NOT_SPECIFIED = 0
    UNRECOGNIZED_PDU = 1
    UNEXPECTED_PDU = 2
    INVALID_PDU_PARAMETER_VALUE = 6

    def pdu(self) -> bytes:
        """Return the A-ABORT PDU (source 2, DICOM UL service-provider) with this reason."""
        return _HEADER.pack(PDUType.A_ABORT, 0, 4) + bytes([0, 0, 2, self])


class Refusal(Exception):
    """The first PDU of a connection is refused: `answer` is sent, `reason` is logged."""

    def __init__(self, answer: RejectReason | AbortReason | None, reason: str) -> None:
        super().__init__(reason)
        self.answer = answer
        self.reason = reason


def _reject(reason: RejectReason, why: str) -> Refusal:
    return Refusal(reason, f"A-ASSOCIATE-RQ rejected ({reason.name.lower()}): {why}")


def _ae_title(raw: bytes, name: str, reason: RejectReason) -> None:
    """PS3.8 9.3.2 Table 9-11: 16 ISO 646 G0 characters, not all spaces."""
    text = raw.rstrip(b"\x00")  # NUL padding: tolerated on reading
    if text.strip(b" ") == b"":
        raise _reject(reason, f"{name} is 16 spaces (PS3.8 9.3.2: shall not be used)")
    if any(b < 0x20 or b > 0x7E for b in text):
        raise _reject(reason, f"{name} {raw!r} is not ISO 646 G0 text (PS3.8 9.3.2)")


def _items(data: bytes, start: int, end: int, where: str) -> list[tuple[int, int, int]]:
    """Split `data[start:end]` into (item-type, value start, value end); lengths must fit."""
    out = []
    pos = start
    while pos < end:
        if end - pos < _ITEM.size:
            raise _reject(RejectReason.NO_REASON_GIVEN, f"{where}: truncated item header")
        kind, _, length = _ITEM.unpack_from(data, pos)
        if pos + _ITEM.size + length > end:
            raise _reject(
                RejectReason.NO_REASON_GIVEN,
                f"{where}: item 0x{kind:02X} at byte {pos} has length {length}, beyond its "
                f"container ({end - pos - _ITEM.size} bytes left)",
            )
        out.append((kind, pos + _ITEM.size, pos + _ITEM.size + length))
        pos += _ITEM.size + length
    return out


def _uid(raw: bytes, where: str) -> None:
    """A UID in an item (PS3.8 9.3.2.2.1, PS3.5 9.1): digits and dots, at most 64 characters.

    Trailing NUL or space padding is tolerated on reading; leading zeros are left to
    pynetdicom, which accepts them with a warning.
    """
    text = raw.rstrip(b"\x00 ")
    if not 0 < len(text) <= _UID_MAX or text.strip(b"0123456789.") or b".." in text:
        raise _reject(
            RejectReason.NO_REASON_GIVEN,
            f"{where} {raw[:80]!r} is not a UID (digits and dots, at most 64; PS3.5 9.1)",
        )


def _presentation_context(data: bytes, start: int, end: int, seen: set[int]) -> None:
    """PS3.8 9.3.2.2: an odd, unused ID; one Abstract Syntax, one or more Transfer Syntaxes."""
    if end - start < 4:
        raise _reject(RejectReason.NO_REASON_GIVEN, "presentation context item too short")
    cx_id = data[start]
    if cx_id % 2 == 0:
        raise _reject(
            RejectReason.NO_REASON_GIVEN,
            f"presentation context ID {cx_id} is even (PS3.8 9.3.2.2: odd integers between "
            "1 and 255)",
        )
    if cx_id in seen:
        raise _reject(
            RejectReason.NO_REASON_GIVEN,
            f"presentation context ID {cx_id} proposed twice (PS3.8 7.1.1.13: unused identifier)",
        )
    seen.add(cx_id)
    subs = _items(data, start + 4, end, f"presentation context {cx_id}")
    kinds = [k for k, _, _ in subs]
    for kind, s, e in subs:
        if kind in (ItemType.ABSTRACT_SYNTAX, ItemType.TRANSFER_SYNTAX):
            _uid(data[s:e], f"presentation context {cx_id}: {ItemType(kind).name.lower()}")
    if kinds.count(ItemType.ABSTRACT_SYNTAX) != 1 or ItemType.TRANSFER_SYNTAX not in kinds:
        raise _reject(
            RejectReason.NO_REASON_GIVEN,
            f"presentation context {cx_id}: expected one Abstract Syntax and one or more "
            "Transfer Syntax sub-items (PS3.8 9.3.2.2)",
        )


def check_associate_rq(data: bytes) -> None:
    """Check a whole A-ASSOCIATE-RQ PDU (header included) as the acceptor's guard.

    Raises
    ------
    Refusal
        With the A-ASSOCIATE-RJ to answer (PS3.8 9.3.4) and why, naming the section of
        PS3.8 9.3.2 the request breaks; or when pynetdicom's own decoder refuses it.
    """
    if len(data) < _HEADER.size + _RQ_FIXED:
        raise _reject(RejectReason.NO_REASON_GIVEN, f"only {len(data)} bytes (PS3.8 9.3.2)")
    version = struct.unpack_from(">H", data, 6)[0]
    if not version & 1:
        raise _reject(
            RejectReason.PROTOCOL_VERSION_NOT_SUPPORTED,
            f"protocol version 0x{version:04X} lacks bit 0, version 1 (PS3.8 9.3.2)",
        )
    _ae_title(data[10:26], "called AE title", RejectReason.CALLED_AE_TITLE_NOT_RECOGNIZED)
    _ae_title(data[26:42], "calling AE title", RejectReason.CALLING_AE_TITLE_NOT_RECOGNIZED)
    items = _items(data, _HEADER.size + _RQ_FIXED, len(data), "A-ASSOCIATE-RQ")
    kinds = [k for k, _, _ in items]
    if kinds.count(ItemType.APPLICATION_CONTEXT) != 1:
        raise _reject(
            RejectReason.APPLICATION_CONTEXT_NOT_SUPPORTED,
            f"{kinds.count(ItemType.APPLICATION_CONTEXT)} Application Context items, expected "
            "one (PS3.8 9.3.2)",
        )
    if ItemType.PRESENTATION_CONTEXT not in kinds or kinds.count(ItemType.USER_INFORMATION) != 1:
        raise _reject(
            RejectReason.NO_REASON_GIVEN,
            "expected one or more Presentation Context items and one User Information item "
            "(PS3.8 9.3.2)",
        )
    seen: set[int] = set()
    for kind, start, end in items:
        if kind == ItemType.APPLICATION_CONTEXT:
            _uid(data[start:end], "application context name")
        elif kind == ItemType.PRESENTATION_CONTEXT:
            _presentation_context(data, start, end, seen)
        elif kind == ItemType.USER_INFORMATION:
            subs = _items(data, start, end, "User Information")
            for sub_kind, s, e in subs:
                if sub_kind == ItemType.IMPLEMENTATION_CLASS_UID:
                    _uid(data[s:e], "implementation class UID")
            if ItemType.MAXIMUM_LENGTH not in [k for k, _, _ in subs]:
                raise _reject(
                    RejectReason.NO_REASON_GIVEN,
                    "User Information without a Maximum Length sub-item (PS3.8 D.1)",
                )
    # whatever else pynetdicom's decoder cannot turn into a primitive would kill its reactor
    # the same way (action AE-6): refuse it here instead
    _TRYING.active = True
    try:
        pdu = A_ASSOCIATE_RQ()
        pdu.decode(data)
        pdu.to_primitive()
    except Exception as exc:
        raise _reject(
            RejectReason.NO_REASON_GIVEN, f"undecodable: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        _TRYING.active = False


_SILENT = "connection closed with 0 of the 6 bytes"


def _recv_exactly(sock: socket.socket, size: int, deadline: float, what: str) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Refusal(None, f"{what} not received within the ACSE timeout (ARTIM)")
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(size - len(buf), 65536))
        except TimeoutError:
            raise Refusal(None, f"{what} not received within the ACSE timeout (ARTIM)") from None
        if not chunk:
            raise Refusal(
                None, f"connection closed with {len(buf)} of the {size} bytes of the {what} sent"
            )
        buf += chunk
    return bytes(buf)


def read_associate_rq(sock: socket.socket, deadline: float) -> bytes:
    """Read the first PDU of a connection, which must be an A-ASSOCIATE-RQ; return its bytes.

    Raises
    ------
    Refusal
        With an A-ABORT for another PDU type, a length beyond :data:`MAX_ASSOCIATE_RQ` or a
        truncated PDU; with no answer when the peer is silent past `deadline`.
    """
    header = _recv_exactly(sock, _HEADER.size, deadline, "A-ASSOCIATE-RQ")
    kind, _, length = _HEADER.unpack(header)
    if kind != PDUType.A_ASSOCIATE_RQ:
        known = kind in PDUType.__members__.values()
        answer = AbortReason.UNEXPECTED_PDU if known else AbortReason.UNRECOGNIZED_PDU
        name = PDUType(kind).name if known else "unknown"
        raise Refusal(
            answer,
            f"first PDU is of type 0x{kind:02X} ({name}), expected an A-ASSOCIATE-RQ "
            "(PS3.8 9.2 state Sta2)",
        )
    if length > MAX_ASSOCIATE_RQ:
        raise Refusal(
            AbortReason.INVALID_PDU_PARAMETER_VALUE,
            f"A-ASSOCIATE-RQ of {length} bytes, more than the {MAX_ASSOCIATE_RQ} this node reads",
        )
    return header + _recv_exactly(sock, length, deadline, "A-ASSOCIATE-RQ's body")


class _ReplaySocket(AssociationSocket):
    """pynetdicom's socket wrapper, reading first the request the guard has already read."""

    _replay: bytearray
    _limit: int

    @classmethod
    def adopt(cls, sock: AssociationSocket, first: bytes, limit: int) -> _ReplaySocket:
        # take over the state of the wrapper pynetdicom made (its "transport connection
        # indication", Evt5, is already queued: a second __init__ would queue it twice)
        replay = cls.__new__(cls)
        replay.__dict__.update(vars(sock))
        replay._replay = bytearray(first)
        replay._limit = limit
        return replay

    @property
    def ready(self) -> bool:
        return bool(self._replay) or bool(AssociationSocket.ready.fget(self))  # type: ignore[attr-defined]

    def recv(self, nr_bytes: int) -> bytearray:
        # pynetdicom reads a PDU's whole length as declared, into memory: a peer could declare
        # 4 GiB. Beyond the node's Maximum Length (PS3.8 D.1: the largest P-DATA-TF it takes;
        # other PDUs after the request are tiny) the connection ends instead.
        if self._limit and nr_bytes > self._limit and not self._replay:
            raise ConnectionError(
                f"a PDU of {nr_bytes} bytes, more than the Maximum Length {self._limit} this "
                "node declared (PS3.8 D.1)"
            )
        if not self._replay:
            return super().recv(nr_bytes)
        out = self._replay[:nr_bytes]
        del self._replay[:nr_bytes]
        if len(out) < nr_bytes:
            out += super().recv(nr_bytes - len(out))
        return out


class AssociationGuard:
    """What the guard needs from the node: timeouts and how many may wait at once.

    Parameters
    ----------
    acse_timeout : float
        Seconds a connection may take for its TLS handshake and A-ASSOCIATE-RQ (ARTIM).
    network_timeout : float or None
        Left on the socket afterwards: a PDU that stops arriving half-way ends the
        association after this long instead of blocking pynetdicom's reactor for ever.
    max_waiting : int
        Connections in the guard at once; beyond, A-ASSOCIATE-RJ local-limit-exceeded.
    """

    def __init__(self, acse_timeout: float, network_timeout: float | None, max_waiting: int):
        self.acse_timeout = acse_timeout
        self.network_timeout = network_timeout
        self._slots = threading.BoundedSemaphore(max(1, max_waiting))

    def admit(self, sock: socket.socket) -> bytes:
        """Handshake, read and check the A-ASSOCIATE-RQ; return its bytes.

        Raises
        ------
        Refusal
            When the request is refused (the caller answers and closes).
        """
        if not self._slots.acquire(blocking=False):
            raise Refusal(
                RejectReason.LOCAL_LIMIT_EXCEEDED,
                "too many connections awaiting their association (local-limit-exceeded)",
            )
        try:
            deadline = time.monotonic() + self.acse_timeout
            if isinstance(sock, ssl.SSLSocket):
                sock.settimeout(self.acse_timeout)
                try:
                    sock.do_handshake()
                except (OSError, ValueError) as exc:
                    raise Refusal(None, f"TLS handshake failed: {exc}") from None
            data = read_associate_rq(sock, deadline)
            check_associate_rq(data)
            sock.settimeout(self.network_timeout)
            return data
        finally:
            self._slots.release()


class _GuardedRequestHandler(RequestHandler):
    """pynetdicom's request handler, behind :class:`AssociationGuard`."""

    server: GuardedAssociationServer
    _first: bytes

    def handle(self) -> None:
        peer = "{}:{}".format(*self.client_address[:2])
        try:
            self._first = self.server.guard.admit(self.request)
        except Refusal as refusal:
            # a connection closed before a byte (a port probe, a health check) is no incident
            level = logging.INFO if refusal.reason.startswith(_SILENT) else logging.WARNING
            LOG.log(level, "connection from %s refused: %s", peer, refusal.reason)
            if refusal.answer is not None:
                try:
                    self.request.settimeout(1.0)
                    self.request.sendall(refusal.answer.pdu())
                except (OSError, ValueError):
                    pass  # the peer is gone; nothing more to tell it
            self.server.shutdown_request(self.request)
            return
        except OSError as exc:
            LOG.warning("connection from %s lost before its association: %s", peer, exc)
            self.server.shutdown_request(self.request)
            return
        except Exception as exc:  # one line, never socketserver's traceback on stderr
            LOG.warning("connection from %s refused: %s: %s", peer, type(exc).__name__, exc)
            self.server.shutdown_request(self.request)
            return
        with self.server.admitting:
            if not self.server.closing:  # the association starts before the node can stop
                super().handle()
                return
        LOG.info("connection from %s refused: the node is stopping", peer)
        try:
            self.request.sendall(RejectReason.TEMPORARY_CONGESTION.pdu())
        except OSError:
            pass
        self.server.shutdown_request(self.request)

    def _create_association(self) -> Association:
        assoc = super()._create_association()
        made = assoc.dul.socket
        if made is not None:  # always: pynetdicom wraps the accepted socket
            # the PDU header's 6 bytes are read apart; P-DATA-TF's length counts the PDV
            # headers, which Maximum Length (the PDVs' payload) leaves out: allow a few
            limit = self.ae.maximum_pdu_size
            slack = max(len(self._first), _PDV_SLACK)
            assoc.dul.socket = _ReplaySocket.adopt(made, self._first, limit and limit + slack)
        return assoc


class GuardedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded association server with :class:`AssociationGuard` in front.

    Made by ``AE.make_server(..., server_class=GuardedAssociationServer, guard=...)``. The TLS
    handshake moves from the accept loop (pynetdicom does it there, so a client that never
    speaks stalls every connection) to the connection's own thread, under the guard's timeout.
    """

    def __init__(self, *args: Any, guard: AssociationGuard, **kwargs: Any) -> None:
        self.guard = guard
        self.closing = False
        """Set by :meth:`shutdown`: a request the guard admits afterwards is turned away."""
        self.admitting = threading.Lock()
        kwargs.setdefault("request_handler", _GuardedRequestHandler)
        super().__init__(*args, **kwargs)
        self.daemon_threads = True

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        """Accept a connection; wrap it for TLS without handshaking yet."""
        assert self.socket is not None
        client, address = self.socket.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address

    def shutdown(self) -> None:
        """Stop serving and close the listening socket."""
        # not pynetdicom's shutdown(): it also unlists the server from AE.start_server's list,
        # which AE.make_server never put it in
        with self.admitting:
            self.closing = True
        socketserver.BaseServer.shutdown(self)
        self.server_close()


def _peer() -> str | None:
    """``host:port`` of the remote end of the association the current thread works for."""
    thread = threading.current_thread()
    assoc = thread if isinstance(thread, Association) else getattr(thread, "assoc", None)
    if not isinstance(assoc, Association):
        return None
    remote = assoc.requestor if assoc.is_acceptor else assoc.acceptor
    try:
        return f"{remote.address}:{remote.port}"
    except Exception:  # not known yet
        return None


#: pynetdicom messages that come just before a traceback of the same failure (dul.py, fsm.py).
_PREAMBLES = (
    "Unable to decode the received PDU data",
    "Connection closed before the entire PDU was received",
    "State Machine received an exception attempting",
    "Exception in DUL.run(), aborting association",
)


class PeerLogFilter(logging.Filter):
    """On pynetdicom's loggers: one warning line per malformed message from a peer.

    pynetdicom logs a peer's malformed PDU as an error line followed by a full traceback
    (``LOGGER.exception``). Within an association's threads this filter folds the two into one
    ``WARNING`` line naming the peer's address and the exception, without the traceback; other
    error lines of pynetdicom get the peer's address and the warning level too. Records outside
    an association's threads pass unchanged.
    """

    def __init__(self) -> None:
        super().__init__("pynetdicom")
        self._pending = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite (or hold back, to join it with its traceback) a pynetdicom error record."""
        if getattr(_TRYING, "active", False):
            return False  # the guard refuses the request with one line of its own
        if record.levelno < logging.ERROR:
            return True
        peer = _peer()
        if peer is None:
            return True
        message = record.getMessage()
        if record.exc_info is None and message.startswith(_PREAMBLES):
            self._pending.message = message  # said together with the exception that follows
            return False
        if record.exc_info is not None:
            exc = record.exc_info[1]
            first = getattr(self._pending, "message", None)
            self._pending.message = None
            text = f"{type(exc).__name__}: {exc}" if exc is not None else message
            message = f"{first}: {text}" if first else text
        record.msg = "pynetdicom, peer %s: %s"
        record.args = (peer, message)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        return True


def install_peer_log_filter() -> PeerLogFilter:
    """Put one :class:`PeerLogFilter` on every pynetdicom logger (idempotent); return it.

    A logger's filter sees only the records of that logger, not of its children, hence one on
    each module's logger (``pynetdicom.dul``, ``pynetdicom.fsm`` ...).
    """
    names = ["pynetdicom"] + [
        n for n in logging.Logger.manager.loggerDict if n.startswith("pynetdicom.")
    ]
    loggers = [logging.getLogger(n) for n in names]
    existing = next((f for lg in loggers for f in lg.filters if isinstance(f, PeerLogFilter)), None)
    flt = existing or PeerLogFilter()
    for lg in loggers:
        if flt not in lg.filters:
            lg.addFilter(flt)
    return flt
