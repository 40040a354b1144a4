"""What ``request`` tells a newcomer when the events do not come (issue 21, round 2).

The N-ACTION answer is printed as soon as it is known and recorded (ACCEPTED) before any wait;
when no event comes the client says where the node sends them (its ``[peers.<calling AE>]``
entry, a new association, PS3.4 KK.2.2.2) and on which port it listens; follow-up commands
name a non-default ``--state``; an unknown Transaction UID is a usage error (exit 2) naming the
folder searched; a node without Inventory Creation gets a pointer to ``crawl`` and no
REQUESTED entry is left behind.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scu.client import status_text
from dicom_inventory.status import Status
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.scp.raw_peer import free_port, write_node_toml

CALLING = "MIGRATOR"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


def _states(state: Path) -> list[str]:
    with sqlite3.connect(state / "transactions.sqlite") as conn:
        return [row[0] for row in conn.execute("SELECT state FROM transactions")]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[str]:
    """A node whose [peers.MIGRATOR] names a port nothing listens on."""
    Archive(tmp_path / "archive", create=True).close()
    config = write_node_toml(tmp_path, tmp_path / "archive", 0, (CALLING, free_port()), {})
    server = InventoryNode(load_config(config, port=0))
    server.start()
    try:
        yield f"INV_SCP@127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_events_sent_elsewhere_say_where_and_the_answer_is_kept(node: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    listen = free_port()
    done = _run(
        "request",
        "--peer",
        node,
        "-aet",
        CALLING,
        "--listen-port",
        str(listen),
        "--state",
        str(state),
        "--timeout",
        "3",
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert "0x0000 accepted" in done.stdout, done.stdout
    said = " ".join(done.stderr.split())
    assert f"[peers.{CALLING}] entry names; this client listens on port {listen}" in said, said
    uid = done.stderr.split()[1].rstrip(":")
    assert f"dicom-inventory request --state {state} follow {uid}" in said, said
    assert f"dicom-inventory request --state {state} status {uid}" in said, said
    assert _states(state) == ["ACCEPTED"]


def test_an_unknown_transaction_is_a_usage_error_naming_the_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = _run("request", "--state", str(state), "status", "2.25.1")
    assert done.returncode == 2, done.stderr
    assert str(state / "transactions.sqlite") in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_node_without_inventory_creation_points_to_crawl(tmp_path: Path) -> None:
    ae = AE(ae_title="PACS")
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    state = tmp_path / "state"
    try:
        port = server.server_address[1]
        done = _run("request", "--peer", f"PACS@127.0.0.1:{port}", "--state", str(state))
    finally:
        server.shutdown()
    assert done.returncode == 4, done.stderr
    said = " ".join(done.stderr.split())
    assert "dicom-inventory crawl" in said and "Inventory Creation" in said, said
    assert _states(state) == ["FAILED"]  # never accepted: no REQUESTED left behind


def test_a_status_is_printed_with_its_meaning() -> None:
    assert status_text(Status.CANCEL) == "0xFE00 (Sub-operations terminated due to Cancel)"
    assert "does not know" in status_text(0xC7FF)
