"""Client-side TLS on the DIMSE commands (issue 21): ``--tls-ca/--tls-cert/--tls-key`` against
our own node serving TLS (``serve`` with ``[tls]`` in node.toml), over real associations.

The right CA gets through; no TLS, or a CA that did not sign the node's certificate, ends with
exit 4 and a message saying what to give; a node that requires client certificates takes one
signed by its CA. The certificates are made with the openssl command line (as in
``tests/scp/test_tls.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive

from tests.scp.raw_peer import free_port, wait_listening
from tests.scp.test_tls import _certificate, _client_certificate


@dataclass
class TLSNode:
    """A ``serve`` child speaking TLS only, and the files a client needs."""

    peer: str
    folder: Path


def _serve(folder: Path, tls: str) -> Iterator[TLSNode]:
    Archive(folder / "archive", create=True).close()
    yield from _serve_existing(folder, tls)


def _serve_existing(folder: Path, tls: str, more: str = "") -> Iterator[TLSNode]:
    """``serve`` the archive in `folder` with the `tls` settings (and `more` sections)."""
    port = free_port()
    config = folder / "node.toml"
    config.write_text(
        f'ae_title = "INV_SCP"\nport = {port}\narchive = "{folder / "archive"}"\n'
        f"[limits]\nacse_timeout = 3\n{more}[tls]\n{tls}"
    )
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dicom_inventory", "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(port, timeout=30)
        yield TLSNode(f"INV_SCP@127.0.0.1:{port}", folder)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSNode]:
    folder = tmp_path_factory.mktemp("tls")
    _certificate(folder)  # node.pem (self-signed, CN localhost, SAN IP:127.0.0.1), node.key
    yield from _serve(folder, 'certificate = "node.pem"\nprivate_key = "node.key"\n')


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSNode]:
    """A node that requires a client certificate signed by ca.pem."""
    folder = tmp_path_factory.mktemp("mtls")
    _certificate(folder)
    _client_certificate(folder)  # ca.pem, client.pem, client.key
    yield from _serve(
        folder,
        'certificate = "node.pem"\nprivate_key = "node.key"\nca_certificates = "ca.pem"\n'
        "require_client_certificate = true\n",
    )


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_INVENTORY_")}
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**clean, **(env or {})},
    )


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join(done.stderr.split())


def test_query_over_tls_with_the_nodes_ca(node: TLSNode) -> None:
    done = _run("query", "--peer", node.peer, "--tls-ca", str(node.folder / "node.pem"))
    assert done.returncode == 0, done.stderr
    assert "0 inventory instance(s)" in done.stderr
    # the same from the environment
    env = {
        "DICOM_INVENTORY_PEER": node.peer,
        "DICOM_INVENTORY_TLS_CA": str(node.folder / "node.pem"),
    }
    assert _run("repository-query", "-q", env=env).returncode == 0


def test_plain_dicom_to_a_tls_node_says_it_may_want_tls(node: TLSNode) -> None:
    done = _run("query", "--peer", node.peer)
    assert done.returncode == 4, done.stderr
    assert "the peer speaks TLS (give --tls-ca" in _said(done), done.stderr
    assert "Traceback" not in done.stderr


def test_a_certificate_no_given_ca_signed_is_refused_clearly(node: TLSNode) -> None:
    """Without --tls-ca the system's CAs are used (--tls): they did not sign the node's."""
    done = _run("query", "--peer", node.peer, "--tls")
    assert done.returncode == 4, done.stderr
    said = _said(done)
    assert "certificate was not accepted" in said and "--tls-ca" in said, said
    assert "Traceback" not in done.stderr


def test_a_node_that_requires_a_client_certificate(strict: TLSNode) -> None:
    ca = str(strict.folder / "node.pem")
    without = _run("query", "--peer", strict.peer, "--tls-ca", ca)
    assert without.returncode == 4, without.stderr
    assert "client certificate" in _said(without), without.stderr
    with_cert = _run(
        "query",
        "--peer",
        strict.peer,
        "--tls-ca",
        ca,
        "--tls-cert",
        str(strict.folder / "client.pem"),
        "--tls-key",
        str(strict.folder / "client.key"),
    )
    assert with_cert.returncode == 0, with_cert.stderr


def test_unusable_tls_files_are_usage_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    done = _run("query", "--peer", f"X@127.0.0.1:{free_port()}", "--tls-ca", str(junk))
    assert done.returncode == 2, done.stderr
    assert "junk.pem" in done.stderr and "Traceback" not in done.stderr
    missing = _run("query", "--peer", f"X@127.0.0.1:{free_port()}", "--tls-cert", "nosuch.pem")
    assert missing.returncode == 2 and "nosuch.pem" in missing.stderr


def test_the_client_context_keeps_bcp195(tmp_path: Path) -> None:
    import ssl

    from dicom_inventory.scu.peer import client_tls_context

    ctx = client_tls_context()
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    tls12 = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all(c["aead"] and c["kea"] == "kx-ecdhe" for c in tls12)


def test_request_over_tls_follows_and_retrieves(tmp_path: Path) -> None:
    """The Initiate and the Inventory GET go over TLS; the events come back in plain DICOM to
    the listener (the node opens those associations: see docs, "Client TLS")."""
    from dicom_inventory.scp.archive.synth import synthesize

    folder = tmp_path / "node"
    folder.mkdir()
    _certificate(folder)
    with Archive(folder / "archive", create=True) as archive:
        synthesize(archive, studies=2, series_per_study=1, instances_per_series=1)
    listen = free_port()
    peers = f'[peers.TLS_SCU]\nae_title = "TLS_SCU"\nhost = "127.0.0.1"\nport = {listen}\n'
    tls = 'certificate = "node.pem"\nprivate_key = "node.key"\n'
    for node in _serve_existing(folder, tls, peers):
        done = _run(
            "request",
            "--peer",
            node.peer,
            "--tls-ca",
            str(folder / "node.pem"),
            "-aet",
            "TLS_SCU",
            "--listen-port",
            str(listen),
            "--state",
            str(tmp_path / "state"),
            "--out",
            str(tmp_path / "inv"),
            "--timeout",
            "60",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "root of the tree:" in done.stdout, done.stdout
        assert list((tmp_path / "inv").glob("*.dcm"))
