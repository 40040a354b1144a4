"""The serve-then-request walk-through without a [peers] entry (issue 21): the node refuses the
Initiate as not authorized (0x0124, PS3.4 KK.2.2.3), and both sides say exactly which config
lines to add — the events go out on a new association (KK.2.2.2), so the node must know the
requester's port, which the request's association does not tell."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode

from tests.scp.raw_peer import free_port


def test_a_request_from_an_unknown_peer_says_which_config_lines_to_add(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Archive(tmp_path / "archive", create=True).close()
    node = InventoryNode(load_config(archive=tmp_path / "archive", port=0, ae_title="INV_SCP"))
    node.start()
    listen = free_port()
    try:
        with caplog.at_level(logging.WARNING):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dicom_inventory",
                    "request",
                    "--peer",
                    f"INV_SCP@127.0.0.1:{node.port}",
                    "--calling-ae",
                    "NEW_SCU",
                    "--listen-port",
                    str(listen),
                    "--state",
                    str(tmp_path / "state"),
                    "--timeout",
                    "30",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
    finally:
        node.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "0x0124" in said and "no [peers.NEW_SCU] in the node's config" in said, said
    for line in ("[peers.NEW_SCU]", 'ae_title = "NEW_SCU"', f"port = {listen}"):
        assert line in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    logged = [r.getMessage() for r in caplog.records if "NEW_SCU" in r.getMessage()]
    assert any('[peers.NEW_SCU] ae_title = "NEW_SCU", host = "127.0.0.1"' in m for m in logged)
