"""The node's server-side TLS, for DIMSE and for DICOMweb alike (PS3.15 B.12, BCP 195).

One context builder for every listening socket of the node: TLS 1.2 at least (PS3.15 B.12:
"Servers and clients shall support TLS 1.2 and may support TLS 1.3"; RFC 8996 deprecates older
versions), TLS 1.2 cipher suites with ephemeral ECDH key exchange and AEAD encryption only (the
suites RFC 9325 4.2 recommends; TLS 1.3 suites are all AEAD), no compression (RFC 9325 3.3) and no
renegotiation (a client could make the server redo the expensive half of a handshake at will).
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["BCP195_CIPHERS", "TLS_VERSIONS", "server_context"]

#: TLS 1.2 cipher suites (OpenSSL names): ECDHE with AES-GCM or ChaCha20-Poly1305.
BCP195_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

#: The lowest versions a configuration may name, and what they mean to :mod:`ssl`.
TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def server_context(
    certificate: Path,
    private_key: Path | None,
    *,
    ca_certificates: Path | None = None,
    client_certificate_required: bool = True,
    minimum_version: str = "TLSv1.2",
) -> ssl.SSLContext:
    """Return a server-side TLS context with the node's BCP 195 settings.

    Parameters
    ----------
    certificate, private_key : Path
        The server's certificate chain (PEM) and its key (``None``: in the certificate file).
    ca_certificates : Path, optional
        CA certificates that client certificates are verified against; ``None``: clients are
        not asked for a certificate.
    client_certificate_required : bool
        With `ca_certificates`: refuse a client without a valid certificate (else verify one
        only if the client sends it).
    minimum_version : str
        ``TLSv1.2`` or ``TLSv1.3``.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[minimum_version]
    ctx.set_ciphers(BCP195_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(certificate, private_key)
    if ca_certificates is not None:
        ctx.load_verify_locations(ca_certificates)
        ctx.verify_mode = ssl.CERT_REQUIRED if client_certificate_required else ssl.CERT_OPTIONAL
    return ctx
