"""Where a remote DICOM node is, and how this client talks to it."""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_inventory.dimse import keep_responses_for_caller
from dicom_inventory.errors import InventoryError
from dicom_inventory.tls import bcp195

__all__ = [
    "AssociationError",
    "Peer",
    "ae_title_problem",
    "PeerError",
    "client_tls_context",
    "nodelay",
    "parse_peer",
]

_ADDRESS = re.compile(r"^(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d+)$")


class PeerError(InventoryError, ValueError):
    """A peer address is not ``AE@HOST:PORT``."""


class AssociationError(InventoryError):
    """The peer rejected or aborted the association, or could not be reached."""


@dataclass(frozen=True)
class Peer:
    """A remote node: its AE title, host and port, and how to reach it over TLS if it must be.

    With `tls` (a client context, :func:`client_tls_context`) every association with the
    peer is made over TLS (PS3.15 B.1), the peer's certificate checked against `host`; the
    functions that take a Peer need not know.
    """

    ae_title: str
    host: str
    port: int
    tls: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

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
        if self.tls is not None:
            kwargs["tls_args"] = (self.tls, self.host)
        assoc = ae.associate(
            self.host, self.port, ae_title=self.ae_title, evt_handlers=handlers, **kwargs
        )
        if assoc.is_established:
            nodelay(assoc)
            keep_responses_for_caller(assoc)  # pynetdicom's reader race (dicom_inventory.dimse)
            return assoc
        timeout = getattr(ae, "acse_timeout", None)
        if not received:  # no A-ASSOCIATE-AC/RJ at all: the connection or TLS failed
            why = _no_connection(self, timeout)
        else:
            why = _refusal(assoc, received, ae, what)
            answered = any(getattr(p, "result", None) in (0, 1, 2) for p in received)
            if not answered and self.tls is None and _speaks_tls(self, timeout):
                why += ": the peer speaks TLS (give --tls-ca with the CA of its certificate)"
            elif not answered and self.tls is not None:
                why = _tls_problem(self, timeout) or why
        raise error(f"{self}: {why}")


def parse_peer(
    text: str, *, called_ae: str | None = None, tls: ssl.SSLContext | None = None
) -> Peer:
    """Parse ``AE@HOST:PORT`` (IPv6 hosts in brackets).

    Parameters
    ----------
    text : str
        ``AE@HOST:PORT``; or ``HOST:PORT`` when `called_ae` is given.
    called_ae : str, optional
        The called AE title (DCMTK's ``-aec``): it replaces the AE part of `text`, if any.
    tls : ssl.SSLContext, optional
        A client TLS context for every association with the peer.

    Raises
    ------
    PeerError
        With what was expected.
    """
    text = text.strip()
    ae, at, address = text.rpartition("@")
    if not at and called_ae is None:
        raise PeerError(
            f"peer {text!r}: no AE title: expected AE@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242"
        )
    m = _ADDRESS.match(address)
    if not m:
        host, colon, port = address.rpartition(":")
        if not colon or not host:
            why = f"{address!r} is not HOST:PORT"
        elif port.isdigit():
            why = f"host {host!r} holds ':' (an IPv6 address goes in brackets: [::1]:104)"
        else:
            why = f"port {port!r} is not a number"
        raise PeerError(f"peer {text!r}: {why}: expected AE@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242")
    if not _PORT_MIN <= int(m["port"]) <= _PORT_MAX:
        raise PeerError(f"peer {text!r}: port {m['port']} is not in {_PORT_MIN}-{_PORT_MAX}")
    ae = called_ae if called_ae else ae
    problem = ae_title_problem(ae)
    if problem:
        raise PeerError(f"peer {text!r}: called AE title {ae!r} {problem}")
    return Peer(ae, m["host"].strip("[]"), int(m["port"]), tls)


#: The longest AE title (PS3.5 Table 6.2-1, VR AE: 16 characters).
_AE_MAX = 16

#: The TCP ports a peer may listen on.
_PORT_MIN, _PORT_MAX = 1, 65535


def ae_title_problem(ae: str) -> str | None:
    """Why `ae` cannot be an AE title (PS3.5 Table 6.2-1, VR AE), or None.

    At most 16 characters, not only spaces, no backslash and no control characters.
    """
    if not ae.strip():
        return "is empty (PS3.5 Table 6.2-1, VR AE)"
    if len(ae) > _AE_MAX:
        return f"is {len(ae)} characters long, longer than {_AE_MAX} (PS3.5 Table 6.2-1, VR AE)"
    if "\\" in ae:
        return "holds a backslash (PS3.5 Table 6.2-1, VR AE)"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in ae):
        return "holds a control character (PS3.5 Table 6.2-1, VR AE)"
    return None


def client_tls_context(
    ca_certificates: Path | None = None,
    certificate: Path | None = None,
    private_key: Path | None = None,
) -> ssl.SSLContext:
    """A client-side TLS context with the node's BCP 195 settings (PS3.15 B.12, RFC 9325).

    TLS 1.2 at least, ECDHE with AEAD cipher suites only, no compression, no renegotiation;
    the peer's certificate is always verified, and its name checked against the host.

    Parameters
    ----------
    ca_certificates : Path, optional
        CA certificates (PEM) the peer's certificate is verified against (default: the
        system's trust store).
    certificate, private_key : Path, optional
        This client's certificate chain (PEM) and key (``None``: in the certificate file),
        for a peer that requires client certificates.

    Raises
    ------
    PeerError
        A file that cannot be read or used (not PEM, a key that does not match, an encrypted
        key: no passphrase is asked for).
    """
    # verifies the peer and its host name; the node's own profile (dicom_inventory.tls)
    ctx = bcp195(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    try:
        if ca_certificates is not None:
            ctx.load_verify_locations(ca_certificates)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if certificate is not None:
            ctx.load_cert_chain(certificate, private_key, password=_no_passphrase)
        elif private_key is not None:
            raise PeerError("TLS: a private key without its certificate (give --tls-cert)")
    except (OSError, ssl.SSLError, ValueError) as exc:
        if isinstance(exc, PeerError):
            raise
        files = _tls_files(ca_certificates, certificate, private_key)
        raise PeerError(f"TLS: {files}: {exc}") from exc
    return ctx


def _no_passphrase() -> bytes:
    raise ValueError("the private key is encrypted: give a key file without a passphrase")


def _tls_files(*paths: Path | None) -> str:
    return ", ".join(str(p) for p in paths if p is not None)


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


def _no_connection(peer: Peer, timeout: float | None) -> str:
    """Why no association answer came, found by connecting once more (pynetdicom only logs it).

    A refused or timed-out connection, a TLS handshake that failed (with OpenSSL's reason,
    e.g. the peer's certificate not verified, or a client certificate the peer requires), or
    a peer that took the connection and closed it without a word: usually one that wants TLS
    from a client that spoke plain DICOM.
    """
    wait = timeout or _PROBE_WAIT
    try:
        raw = socket.create_connection((peer.host, peer.port), timeout=wait)
    except OSError:
        return (
            f"no association: connection refused, or no answer within {timeout} s "
            "(is the peer running on that host and port?)"
        )
    with raw:
        if peer.tls is None:
            return (
                "no association: the peer took the connection but did not answer the "
                f"association request within {timeout} s (does it require TLS? give --tls-ca)"
            )
    return _tls_problem(peer, timeout) or (
        f"no answer to the association request within {timeout} s (over TLS)"
    )


def _tls_problem(peer: Peer, timeout: float | None) -> str | None:
    """What goes wrong in a TLS handshake with `peer` (this client's context), or None."""
    assert peer.tls is not None
    wait = min(timeout or _PROBE_WAIT, _PROBE_WAIT)
    try:
        with socket.create_connection((peer.host, peer.port), timeout=wait) as raw:
            with peer.tls.wrap_socket(raw, server_hostname=peer.host) as tls:
                # TLS 1.3 servers refuse a client certificate after the client's handshake:
                # their alert is the first thing read (or nothing, until their ARTIM timer)
                tls.recv(1)
    except ssl.SSLCertVerificationError as exc:
        return (
            f"TLS: the peer's certificate was not accepted ({exc.verify_message}): "
            "give the CA that signed it with --tls-ca"
        )
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if reason in _PLAIN_ANSWER:
            return (
                f"TLS handshake failed ({reason}): the peer answered in plain DICOM, not TLS "
                "(drop --tls/--tls-ca/--tls-cert, or use the peer's TLS port)"
            )
        return (
            f"TLS handshake failed ({reason}): the peer may require a client certificate "
            "(--tls-cert/--tls-key signed by a CA it trusts), or not speak TLS"
        )
    except OSError:
        pass
    return None


def _speaks_tls(peer: Peer, timeout: float | None) -> bool:
    """Whether `peer` answers a TLS handshake (it aborted our plain association request).

    The handshake is only a probe: no certificate is checked and nothing is sent after it.
    A TLS alert (e.g. a client certificate required) is an answer in TLS too.
    """
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    try:
        wait = min(timeout or _PROBE_WAIT, _PROBE_WAIT)
        with socket.create_connection((peer.host, peer.port), timeout=wait) as raw:
            with probe.wrap_socket(raw, server_hostname=peer.host):
                return True
    except ssl.SSLError as exc:
        return "ALERT" in str(exc.reason or "").upper()
    except OSError:
        return False


#: OpenSSL's reasons for a first answer that is no TLS record at all: here, the peer's plain
#: DICOM PDU (an A-ASSOCIATE-RJ or A-ABORT read as a record header).
_PLAIN_ANSWER = frozenset({"WRONG_VERSION_NUMBER"})

#: Seconds the diagnosis of a failed connection waits for the peer's TLS alert.
_PROBE_WAIT = 3.0


def _refusal(assoc: Any, received: list[Any], ae: Any, what: str) -> str:
    """Why an association was not established, in the peer's own terms where it gave them."""
    calling = getattr(ae, "ae_title", "")
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
