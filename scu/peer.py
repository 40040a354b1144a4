"""Where a remote DICOM node is, and how this client talks to it."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from dicom_inventory.errors import InventoryError

__all__ = ["AssociationError", "Peer", "PeerError", "nodelay", "parse_peer"]

_PEER = re.compile(r"^(?P<ae>[^@\\]{1,16})@(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d{1,5})$")


class PeerError(InventoryError, ValueError):
    """A peer address is not ``AE@HOST:PORT``."""


class AssociationError(InventoryError):
    """The peer rejected or aborted the association, or could not be reached."""


@dataclass(frozen=True)
class Peer:
    """A remote node: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    def associate(
        self,
        ae: Any,
        *,
        error: type[InventoryError] = AssociationError,
        what: str = "",
        **kwargs: Any,
    ) -> Any:
        """An established association with this peer, or `error` saying why there is none.

        Every association this client opens goes through here, so a refusal always names its
        cause the same way: the A-ASSOCIATE-RJ result, source and reason (PS3.8 7.1.1.9, e.g.
        "Rejected Permanent, Service User, Calling AE Title Not Recognized"), an A-ABORT, no
        accepted presentation context, or no connection within the ACSE timeout.

        Parameters
        ----------
        ae : pynetdicom.AE
            The requesting application entity, its contexts and timeouts set.
        error : type
            The exception class to raise (the caller's own, e.g. ``SCUError``).
        what : str
            The service asked for, named when no presentation context was accepted.
        **kwargs
            Passed to :meth:`pynetdicom.AE.associate` (``ext_neg``, ``evt_handlers``, ...).
        """
        from pynetdicom import evt

        received: list[Any] = []
        handlers = [*kwargs.pop("evt_handlers", []), (evt.EVT_ACSE_RECV, _keep(received))]
        assoc = ae.associate(
            self.host, self.port, ae_title=self.ae_title, evt_handlers=handlers, **kwargs
        )
        if assoc.is_established:
            nodelay(assoc)
            return assoc
        raise error(f"{self}: {_refusal(assoc, received, ae, what)}")


def parse_peer(text: str) -> Peer:
    """Parse ``AE@HOST:PORT`` (IPv6 hosts in brackets).

    Raises
    ------
    PeerError
        With what was expected.
    """
    m = _PEER.match(text.strip())
    if not m or not 0 < int(m["port"]) < 65536:
        raise PeerError(f"peer {text!r}: expected AE@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242")
    return Peer(m["ae"], m["host"].strip("[]"), int(m["port"]))


def nodelay(assoc: Any) -> None:
    """Turn off Nagle's algorithm on an established association's socket.

    pynetdicom writes a DIMSE command and its data set as separate small P-DATA PDUs; with
    Nagle on, the second write waits for the peer's delayed ACK (about 40 ms on Linux), so
    every query to a peer such as Orthanc costs about 90 ms however small it is
    (``bench/bench_scu.py`` measures the difference).
    """
    sock = getattr(getattr(getattr(assoc, "dul", None), "socket", None), "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (or already closed): nothing to gain
            pass


def _keep(into: list[Any]) -> Any:
    def handler(event: Any) -> None:
        into.append(event.primitive)

    return handler


def _refusal(assoc: Any, received: list[Any], ae: Any, what: str) -> str:
    """Why an association was not established, in the peer's own terms where it gave them."""
    calling = getattr(ae, "ae_title", "")
    if not received:  # pynetdicom marks a failed connection as aborted too
        timeout = getattr(ae, "acse_timeout", None)
        return (
            f"no association: connection refused, or no answer within {timeout} s "
            "(is the peer running on that host and port?)"
        )
    if assoc.is_rejected:
        rj = next((p for p in reversed(received) if getattr(p, "result", None) in (1, 2)), None)
        if rj is None:
            return "association rejected"
        reason = f"{rj.result_str}, {rj.source_str}, {rj.reason_str}"
        hint = ""
        if rj.result_source == 1 and rj.diagnostic in (
            3,
            7,
        ):  # calling / called AE title (PS3.8 9.3.4)
            hint = (
                f" (we called as {calling!r} and asked for {assoc.acceptor.ae_title!r}: the peer "
                "must know the first and answer to the second)"
            )
        return f"association rejected: {reason}{hint}"
    if any(getattr(p, "result", None) == 0 for p in received):  # an A-ASSOCIATE-AC
        return f"the peer accepted no presentation context{f' for {what}' if what else ''}"
    return "the peer aborted the association (A-ABORT)"
