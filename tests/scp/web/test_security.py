"""HTTPS and the bearer token on a real node process ([http] certfile/keyfile/bearer_token_file).

The certificate is made with the openssl command line; the clients are httpx and curl.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_tool
from tests.web_node import secure_node, stop


def test_https_with_a_bearer_token(tmp_path: Path) -> None:
    node = secure_node(tmp_path, "s3cret-token")
    base, cert, http_port, proc, log = node.base, node.cert, node.http_port, node.proc, node.log
    try:
        with httpx.Client(base_url=base, verify=str(cert), timeout=20) as c:
            r = c.get("/inventories")
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")
            r = c.get("/inventories", headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
            r = c.get("/inventories", headers={"Authorization": "Bearer s3cret-token"})
            assert r.status_code == 204  # nothing stored yet, but allowed
            r = c.request("OPTIONS", "/", headers={"Authorization": "Bearer s3cret-token"})
            assert r.status_code == 200 and f'base="{base}/"' in r.text
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the HTTPS port
            httpx.get(f"http://127.0.0.1:{http_port}/dicomweb/inventories", timeout=5)
        curl = require_tool("curl")
        done = subprocess.run(
            [
                curl,
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                str(cert),
                "-H",
                "Authorization: Bearer s3cret-token",
                f"{base}/inventories",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.stdout == "204", done.stderr
        # the node's BCP 195 context (PS3.15 B.12), not uvicorn's defaults: TLS 1.2 without an
        # AEAD suite is refused, ECDHE with AES-GCM is taken
        assert _tls12_handshake(http_port, cert, "ECDHE-RSA-AES128-GCM-SHA256")
        assert not _tls12_handshake(http_port, cert, "ECDHE-RSA-AES128-SHA256")  # CBC
    finally:
        stop(proc)
    assert "s3cret-token" not in log.read_text()


def _tls12_handshake(port: int, cert: Path, ciphers: str) -> bool:
    """Whether a TLS 1.2 client offering only `ciphers` completes a handshake with the node."""
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
        except ssl.SSLError:
            return False
