"""diff against a live archive (``dicom:AE@HOST:PORT``): the calling AE title is ours to give,
and a refusing or silent archive ends the command with its reason and exit 4.

Real sockets on 127.0.0.1, raw pynetdicom peers (tests/scu/find_peers.py), the command in a
child process. Before the fix, ``diff`` had no ``--calling-ae`` (it always called as
``DICOM_INV``, so a PACS that knows only our registered title could never be compared) and no
``--timeout`` (a silent archive held it one minute per query, date window after date window).
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scu.crawl import crawl
from dicom_inventory.scu.peer import Peer

from tests.scp.raw_peer import free_port
from tests.scp.test_tls import _certificate
from tests.scu.find_peers import (
    KNOWN_CALLER,
    listing_scp,
    mute_listener,
    rejecting_scp,
    silent_find_scp,
)

#: A guard against a hang only.
HANG = 60


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An inventory of what :func:`listing_scp` holds, crawled from it."""
    with listing_scp() as port:
        report = crawl(Peer("PACS", "127.0.0.1", port), tmp_path_factory.mktemp("inv"))
    path = report.written[0].path
    assert report.complete and path is not None
    return path


def _diff(inventory: Path, port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dicom_inventory", "diff", str(inventory)]
    cmd += [f"dicom:PACS@127.0.0.1:{port}", "--format", "json", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HANG)


def _peer_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == ExitCode.PEER, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # lstrip: cli/options.progress ends with a newline even when stderr is not a terminal
    assert done.stderr.lstrip().startswith("error:"), done.stderr
    return done.stderr


def test_diff_calls_with_the_calling_ae_title_given(inventory: Path) -> None:
    with rejecting_scp() as port:
        done = _diff(inventory, port, "--calling-ae", KNOWN_CALLER, "--timeout", "10")
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert json.loads(done.stdout)["missing"] == 0


def test_diff_names_the_rejection_of_its_calling_ae_title(inventory: Path) -> None:
    with rejecting_scp() as port:
        message = _peer_error(_diff(inventory, port, "--calling-ae", "NOT_KNOWN"))
    assert "Calling AE title not recognised" in message and "NOT_KNOWN" in message


def test_diff_ends_when_the_archive_never_answers_the_association(inventory: Path) -> None:
    with mute_listener() as (port, _connected):
        message = _peer_error(_diff(inventory, port, "--timeout", "2"))
    assert "within 2" in message


def test_diff_ends_when_the_archive_never_answers_a_c_find(inventory: Path) -> None:
    with silent_find_scp() as (port, _asked):
        message = _peer_error(_diff(inventory, port, "--timeout", "2"))
    assert "no answer to the C-FIND" in message


def test_diff_ends_when_nothing_listens(inventory: Path) -> None:
    message = _peer_error(_diff(inventory, free_port(), "--timeout", "2"))
    assert "connection refused" in message


def test_diff_crawls_a_tls_archive_with_the_tls_options(inventory: Path, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    with listing_scp(tls=server) as port:
        plain = _diff(inventory, port, "--timeout", "5")
        done = _diff(inventory, port, "--timeout", "10", "--tls-ca", str(cert))
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "TLS" in _peer_error(plain)  # the hint: the archive speaks TLS


def test_ctrl_c_ends_diff_cleanly(inventory: Path) -> None:
    cmd = [sys.executable, "-m", "dicom_inventory", "diff", str(inventory)]
    with silent_find_scp() as (port, asked):
        proc = subprocess.Popen(
            [*cmd, f"dicom:PACS@127.0.0.1:{port}", "--timeout", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert asked.wait(HANG), "diff never sent its C-FIND"
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=HANG)
        finally:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED, stdout + stderr
    assert "Traceback" not in stderr and "interrupted" in stderr, stderr
    assert stdout == ""  # no report of a comparison that did not happen
