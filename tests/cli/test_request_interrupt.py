"""Ctrl-C while ``request`` waits for its events ends cleanly (issue 21): exit 130, one line
"interrupted", no traceback from the event listener's threads, and the Transaction UID, printed
before anything could block, still remembered in the state folder.

A real ``serve`` child accepts the request; its events go to a port nothing listens on, so the
request waits until it is interrupted (SIGINT, as the terminal sends on Ctrl-C).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive

from tests.scp.raw_peer import free_port, wait_listening, write_node_toml

CALLING = "REQ_SCU"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[str]:
    Archive(tmp_path / "archive", create=True).close()
    port = free_port()
    config = write_node_toml(tmp_path, tmp_path / "archive", port, (CALLING, free_port()), {})
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dicom_inventory", "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(port, timeout=30)
        yield f"INV_SCP@127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_ctrl_c_while_waiting_for_events(node: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_INVENTORY_")}
    state = tmp_path / "state"
    request = subprocess.Popen(
        [sys.executable, "-m", "dicom_inventory", "request", "--peer", node]
        + ["--calling-ae", CALLING, "--listen-port", str(free_port()), "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert request.stderr is not None
    first = request.stderr.readline()  # the Transaction UID, before anything can block
    assert first.startswith("transaction "), first
    uid = first.split()[1].rstrip(":")
    request.send_signal(signal.SIGINT)
    try:
        out, rest = request.communicate(timeout=60)
    finally:
        request.kill()
    assert request.returncode == 130, first + rest
    assert rest.strip().splitlines()[-1] == "error: interrupted", rest
    assert "Traceback" not in rest and "Exception in thread" not in rest, rest
    listed = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "request", "--state", str(state), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert uid in listed.stdout, listed.stdout + listed.stderr
