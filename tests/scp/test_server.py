"""The Inventory node over real associations on 127.0.0.1, driven by independent peers:
a raw pynetdicom client written here (not our SCU), DCMTK's dcmsend and echoscu, and the
`dicom-inventory serve` process itself (issue 6, first slice: C-ECHO, Inventory Storage)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    encode_inventory,
    synthetic_studies,
    validate_file,
)
from dicom_inventory.scp.config import ConfigError, load_config
from dicom_inventory.scp.server import InventoryNode
from pynetdicom import AE
from pynetdicom.sop_class import InventoryStorage, Verification

from tests.conftest import require_tool


def _inventory() -> pydicom.Dataset:
    h = InventoryHeader(
        "2.25.4242", InventoryLevel.SERIES, content_date="20261124", content_time="101010"
    )
    return pydicom.dcmread(BytesIO(encode_inventory(h, synthetic_studies(3, level="SERIES"))))


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = load_config(archive=tmp_path / "archive", port=0, ae_title="INV_SCP")
    n = InventoryNode(config)
    n.start()
    yield n
    n.stop()


def _client(calling: str = "RAW_SCU") -> AE:
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.add_requested_context(Verification)
    ae.add_requested_context(InventoryStorage)
    return ae


def test_echo_and_store_valid_inventory(node: InventoryNode) -> None:
    assoc = _client().associate("127.0.0.1", node.port, ae_title="INV_SCP")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    status = assoc.send_c_store(_inventory())
    assoc.release()
    assert status.Status == 0x0000
    stored = node.config.inventories / "2.25.4242.dcm"
    assert stored.is_file() and list(validate_file(stored)) == []


def test_nonconformant_inventory_is_refused_with_a900(node: InventoryNode) -> None:
    ds = _inventory()
    del ds.NumberOfStudyRecordsInInstance
    ds.InventoryLevel = "PATIENT"
    assoc = _client().associate("127.0.0.1", node.port, ae_title="INV_SCP")
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0xA900
    assert "IOD error" in status.ErrorComment
    assert not list(node.config.inventories.glob("*.dcm")) and not list(
        node.config.inventories.glob("*.part")
    )
    # the node keeps serving others
    assoc = _client().associate("127.0.0.1", node.port, ae_title="INV_SCP")
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_calling_ae_allow_list(tmp_path: Path) -> None:
    config = load_config(archive=tmp_path / "a", port=0, accepted_calling_ae_titles=["GOOD_SCU"])
    n = InventoryNode(config)
    n.start()
    try:
        bad = _client("BAD_SCU").associate("127.0.0.1", n.port, ae_title="DICOM_INV")
        assert bad.is_rejected
        good = _client("GOOD_SCU").associate("127.0.0.1", n.port, ae_title="DICOM_INV")
        assert good.is_established
        good.release()
    finally:
        n.stop()


@pytest.mark.peer
def test_dcmtk_dcmsend_stores_an_inventory(node: InventoryNode, tmp_path: Path) -> None:
    dcmsend = require_tool("dcmsend")
    path = tmp_path / "inv.dcm"
    _inventory().save_as(path, enforce_file_format=True)
    r = subprocess.run(
        [dcmsend, "-aec", "INV_SCP", "127.0.0.1", str(node.port), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (node.config.inventories / "2.25.4242.dcm").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.peer
def test_serve_process_answers_dcmtk_echoscu_and_stops_on_sigterm(tmp_path: Path) -> None:
    echoscu = require_tool("echoscu")
    port = _free_port()
    proc = subprocess.Popen(
        [
            "dicom-inventory",
            "serve",
            "--archive",
            str(tmp_path / "arch"),
            "--create",
            "--port",
            str(port),
            "--ae-title",
            "INV_NODE",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            r = subprocess.run(
                [echoscu, "-aec", "INV_NODE", "127.0.0.1", str(port)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if r.returncode == 0:
                break
            assert time.monotonic() < deadline, r.stderr
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)  # also closes the pipes
        assert proc.returncode == 0
        assert "listening as INV_NODE" in out and "stopped" in out
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        'ae_title = "NODE"\nport = 104\narchive = "arch"\naccepted_calling_ae_titles = ["A", "B"]\n'
        '[limits]\nmax_associations = 3\n[peers.MIG]\nae_title = "MIG"\nhost = "127.0.0.1"\nport = 11113\n'
    )
    c = load_config(cfg, port=2000)
    assert c.ae_title == "NODE" and c.port == 2000  # flags win over the file
    assert c.archive == (tmp_path / "arch").resolve() and c.inventories == c.archive / "inventories"
    assert c.limits.max_associations == 3 and c.peers["MIG"].port == 11113
    assert c.accepted_calling_ae_titles == ("A", "B")
    cfg.write_text('archive = "x"\nbogus = 1\n')
    with pytest.raises(ConfigError, match="unknown setting.*bogus"):
        load_config(cfg)
    cfg.write_text('archive = "x"\nae_title = "THIS_TITLE_IS_TOO_LONG"\n')
    with pytest.raises(ConfigError, match="1 to 16 characters"):
        load_config(cfg)
    cfg.write_text("not = [toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(cfg)
