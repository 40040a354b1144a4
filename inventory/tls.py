"""The one TLS profile of both ends of an association (PS3.15 B.12, BCP 195).

TLS 1.2 at least (PS3.15 B.12: "Servers and clients shall support TLS 1.2 and may support TLS
1.3"; RFC 8996 deprecates older versions), TLS 1.2 cipher suites with ephemeral ECDH key
exchange and AEAD encryption only (the suites RFC 9325 4.2 recommends; TLS 1.3 suites are all
AEAD), no compression (RFC 9325 3.3) and no renegotiation. The node's server contexts
(:mod:`dicom_inventory.scp.tls`) and the client's (:func:`dicom_inventory.scu.peer.client_tls_context`)
both start from :func:`bcp195`, so the two ends cannot drift apart.
"""

from __future__ import annotations

import ssl

__all__ = ["BCP195_CIPHERS", "TLS_VERSIONS", "bcp195"]

#: TLS 1.2 cipher suites (OpenSSL names): ECDHE with AES-GCM or ChaCha20-Poly1305.
BCP195_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

#: The lowest versions a configuration may name, and what they mean to :mod:`ssl`.
TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def bcp195(ctx: ssl.SSLContext, minimum_version: str = "TLSv1.2") -> ssl.SSLContext:
    """Set the BCP 195 profile on `ctx` (versions, cipher suites, options) and return it.

    Parameters
    ----------
    ctx : ssl.SSLContext
        A new server or client context.
    minimum_version : str
        ``TLSv1.2`` or ``TLSv1.3`` (a key of :data:`TLS_VERSIONS`).
    """
    ctx.minimum_version = TLS_VERSIONS[minimum_version]
    ctx.set_ciphers(BCP195_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return ctx
