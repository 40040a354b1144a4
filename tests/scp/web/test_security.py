"""HTTPS and the bearer token on a real node process ([http] certfile/keyfile/bearer_token_file).

The certificate is made with the openssl command line; the clients are httpx and curl.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from dicom_inventory.scp.archive import Archive

from tests.conftest import require_tool
from tests.scp.raw_peer import Requester, wait_listening
from tests.scp.test_tls import _certificate
from tests.scp.web.conftest import node_config, serve, stop


def test_https_with_a_bearer_token(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    token = tmp_path / "token.txt"
    token.write_text("s3cret-token\n")
    Archive(tmp_path / "archive", create=True).close()
    requester = Requester()
    config, port, http_port = node_config(
        tmp_path,
        tmp_path / "archive",
        requester,
        f'certfile = "{cert}"\nkeyfile = "{key}"\nbearer_token_file = "{token}"',
    )
    log = tmp_path / "serve.log"
    proc = serve(config, log)
    try:
        wait_listening(http_port)
        base = f"https://127.0.0.1:{http_port}/dicomweb"
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
    finally:
        stop(proc)
    assert "s3cret-token" not in log.read_text()
