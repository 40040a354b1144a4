"""TLS on the node's associations (issue 6, Security; issue 20, hardening): a TLS client gets
through, a plain one does not; the BCP 195 profile (PS3.15 B.12: TLS 1.2 at least, AEAD cipher
suites), client certificates, and a client that never speaks. The certificates are made for the
test with the openssl command line."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.conftest import require_tool
from tests.scp.test_hostile_peers import answer, associate_rq


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


def _openssl(*args: str) -> None:
    subprocess.run([require_tool("openssl"), *args], check=True, capture_output=True, timeout=60)


def _client_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a client certificate it signed: (ca.pem, client.pem, client.key)."""
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    key, csr, cert = folder / "client.key", folder / "client.csr", folder / "client.pem"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=CLIENT_SCU",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        str(cert),
    )
    return ca, cert, key


def _tls_node(folder: Path, **tls: object) -> InventoryNode:
    """A node with TLS, its certificate in `folder` (made once: clients trust node.pem)."""
    cert, key = folder / "node.pem", folder / "node.key"
    if not cert.exists():
        _certificate(folder)
    settings = {"certificate": str(cert), "private_key": str(key), **tls}
    node = InventoryNode(
        load_config(archive=folder / "a", port=0, tls=settings, limits={"acse_timeout": 3})
    )
    node.start()
    return node


def _client_context(folder: Path) -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(folder / "node.pem"))


def _echo(node: InventoryNode, ctx: ssl.SSLContext) -> bool:
    ae = AE(ae_title="TLS_SCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = 5
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="DICOM_INV", tls_args=(ctx, "localhost"))
    assert assoc.is_established
    ok = assoc.send_c_echo().Status == 0x0000
    assoc.release()
    return ok


def _handshake(node: InventoryNode, ctx: ssl.SSLContext) -> str | None:
    """The TLS version of an accepted association request, or None if TLS refused it.

    A raw socket, not pynetdicom, so that a refused handshake leaves no socket behind; the
    request is sent because under TLS 1.3 a server refuses a client certificate only after
    the client's side of the handshake is done."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(associate_rq(called=b"DICOM_INV"))
                accepted = answer(tls)[:1] == b"\x02"  # A-ASSOCIATE-AC
                return tls.version() if accepted else None
        except (ssl.SSLError, OSError):
            return None


def test_a_silent_client_does_not_block_tls_associations(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pynetdicom does the TLS handshake in its accept loop, with no timeout: one client that
    connects and says nothing stopped every later association (and the node's stop) on main.
    The guard handshakes in the connection's own thread, within the ACSE timeout."""
    caplog.set_level(logging.WARNING)
    node = _tls_node(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", node.port)):
            assert _echo(node, _client_context(tmp_path))
    finally:
        node.stop()


def test_bcp195_versions_and_cipher_suites(tmp_path: Path) -> None:
    node = _tls_node(tmp_path)
    try:
        good = _client_context(tmp_path)
        good.maximum_version = ssl.TLSVersion.TLSv1_2
        good.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
        assert _handshake(node, good) == "TLSv1.2"
        weak = _client_context(tmp_path)
        weak.maximum_version = ssl.TLSVersion.TLSv1_2
        weak.set_ciphers("AES128-SHA256:ECDHE-RSA-AES128-SHA256")  # no forward secrecy / no AEAD
        assert _handshake(node, weak) is None
        assert _handshake(node, _client_context(tmp_path)) == "TLSv1.3"
        assert _echo(node, _client_context(tmp_path))  # the node lives on
    finally:
        node.stop()
    strict = _tls_node(tmp_path, minimum_version="TLSv1.3")
    try:
        only12 = _client_context(tmp_path)
        only12.maximum_version = ssl.TLSVersion.TLSv1_2
        assert _handshake(strict, only12) is None
        assert _handshake(strict, _client_context(tmp_path)) == "TLSv1.3"
    finally:
        strict.stop()


def test_client_certificates(tmp_path: Path) -> None:
    ca, cert, key = _client_certificate(tmp_path)
    node = _tls_node(tmp_path, ca_certificates=str(ca))
    with_cert = _client_context(tmp_path)
    with_cert.load_cert_chain(cert, key)
    try:
        assert _echo(node, with_cert)
        assert _handshake(node, _client_context(tmp_path)) is None  # none: refused
    finally:
        node.stop()
    optional = _tls_node(tmp_path, ca_certificates=str(ca), require_client_certificate=False)
    try:
        assert _handshake(optional, _client_context(tmp_path)) == "TLSv1.3"
        assert _echo(optional, with_cert)
    finally:
        optional.stop()


def test_tls_hardening_settings_are_checked(tmp_path: Path) -> None:
    from dicom_inventory.scp.config import ConfigError

    base = {"certificate": "a.pem", "private_key": "a.key"}
    with pytest.raises(ConfigError, match="minimum_version 'TLSv1.1'.*TLSv1.2, TLSv1.3"):
        load_config(archive=tmp_path, tls={**base, "minimum_version": "TLSv1.1"})
    with pytest.raises(ConfigError, match="require_client_certificate needs ca_certificates"):
        load_config(archive=tmp_path, tls={**base, "require_client_certificate": True})
