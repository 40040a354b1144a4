"""The node's server-side TLS, for DIMSE and for DICOMweb alike (PS3.15 B.12, BCP 195).

One context builder for every listening socket of the node, on the one profile of
:mod:`dicom_inventory.tls` (TLS 1.2 at least, ECDHE with AEAD suites, no compression, no
renegotiation: a client could otherwise make the server redo the expensive half of a handshake
at will), which the client's contexts share.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from dicom_inventory.tls import BCP195_CIPHERS, TLS_VERSIONS, bcp195

__all__ = ["BCP195_CIPHERS", "TLS_VERSIONS", "server_context"]


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
    ctx = bcp195(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), minimum_version)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(certificate, private_key)
    if ca_certificates is not None:
        ctx.load_verify_locations(ca_certificates)
        ctx.verify_mode = ssl.CERT_REQUIRED if client_certificate_required else ssl.CERT_OPTIONAL
    return ctx
