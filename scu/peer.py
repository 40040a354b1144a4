"""Where a remote DICOM node is, and how this client talks to it."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from dicom_inventory.errors import InventoryError

__all__ = ["Peer", "PeerError", "nodelay", "parse_peer"]

_PEER = re.compile(r"^(?P<ae>[^@\\]{1,16})@(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d{1,5})$")


class PeerError(InventoryError, ValueError):
    """A peer address is not ``AE@HOST:PORT``."""


@dataclass(frozen=True)
class Peer:
    """A remote node: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


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
