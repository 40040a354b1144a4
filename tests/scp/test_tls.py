"""TLS on the node's associations (issue 6, Security): a TLS client gets through; a plain one
does not. The certificates are made for the test with the openssl command line."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.conftest import require_tool


def _certificate(folder: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl")
    key, cert = folder / "node.key", folder / "node.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_tls_association(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    config = load_config(
        archive=tmp_path / "a", port=0, tls={"certificate": str(cert), "private_key": str(key)}
    )
    node = InventoryNode(config)
    node.start()
    try:
        ae = AE(ae_title="TLS_SCU")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.add_requested_context(Verification)
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        assoc = ae.associate(
            "127.0.0.1", node.port, ae_title="DICOM_INV", tls_args=(client, "localhost")
        )
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
        plain = ae.associate(
            "127.0.0.1", node.port, ae_title="DICOM_INV"
        )  # no TLS: the handshake never happens
        assert not plain.is_established
    finally:
        node.stop()


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    from dicom_inventory.scp.config import ConfigError

    with pytest.raises(ConfigError, match="tls"):
        load_config(archive=tmp_path, tls={"certificate": "a.pem", "bogus": "x"})
