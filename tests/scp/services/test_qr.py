"""Inventory FIND / GET / MOVE (PS3.4 JJ) over real associations: a raw pynetdicom SCU written
here, and DCMTK storescp as the C-MOVE destination."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    encode_inventory,
    synthetic_studies,
    validate_file,
)
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import InventoryFind, InventoryGet, InventoryMove, InventoryStorage

from tests.conftest import require_tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    dest_port = _free_port()
    config = load_config(
        archive=tmp_path / "archive",
        port=0,
        ae_title="INV_SCP",
        peers={"STORE": {"ae_title": "STORESCP", "host": "127.0.0.1", "port": dest_port}},
    )
    config.inventories.mkdir(parents=True)
    for uid, date, level, purpose in (
        ("2.25.11", "20250101", "STUDY", "migration"),
        ("2.25.12", "20260601", "SERIES", "audit"),
        ("2.25.13", "20261124", "SERIES", "migration check"),
    ):
        h = InventoryHeader(
            uid,
            InventoryLevel(level),
            content_date=date,
            content_time="080000",
            inventory_purpose=purpose,
            scope=ScopeOfInventory.from_keys({"PatientID": "P*"}),
        )
        (config.inventories / f"{uid}.dcm").write_bytes(
            encode_inventory(
                h, synthetic_studies(2, level=level, item_inventory_datetime=date + "090000")
            )
        )
    n = InventoryNode(config)
    n.start()
    yield n
    n.stop()


def _find(node: InventoryNode, **keys: object) -> list[Dataset]:
    ae = AE(ae_title="RAW_SCU")
    ae.acse_timeout = ae.dimse_timeout = 5
    ae.add_requested_context(InventoryFind)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="INV_SCP")
    assert assoc.is_established
    query = Dataset()
    for k, v in keys.items():
        setattr(query, k, v)
    out = []
    for status, ident in assoc.send_c_find(query, InventoryFind):
        assert status.Status in (0xFF00, 0x0000), hex(status.Status)
        if status.Status == 0xFF00:
            out.append(ident)
    assoc.release()
    return out


def test_find_matching(node: InventoryNode) -> None:
    everything = _find(
        node,
        SOPInstanceUID="",
        ContentDate="",
        InventoryLevel="",
        InventoryCompletionStatus="",
        TotalNumberOfStudyRecords=None,
        ScopeOfInventorySequence=[],
    )
    assert sorted(d.SOPInstanceUID for d in everything) == ["2.25.11", "2.25.12", "2.25.13"]
    assert all(
        d.InventoryCompletionStatus == "COMPLETE" and d.TotalNumberOfStudyRecords == 2
        for d in everything
    )
    assert everything[0].ScopeOfInventorySequence[0].GeneralMatchingSequence[0].PatientID == "P*"
    assert [d.SOPInstanceUID for d in _find(node, SOPInstanceUID="2.25.12")] == ["2.25.12"]
    assert sorted(d.SOPInstanceUID for d in _find(node, SOPInstanceUID=["2.25.11", "2.25.13"])) == [
        "2.25.11",
        "2.25.13",
    ]
    assert sorted(
        d.SOPInstanceUID for d in _find(node, SOPInstanceUID="", ContentDate="20260101-")
    ) == ["2.25.12", "2.25.13"]
    assert [d.SOPInstanceUID for d in _find(node, SOPInstanceUID="", InventoryPurpose="audit")] == [
        "2.25.12"
    ]
    assert sorted(
        d.SOPInstanceUID for d in _find(node, SOPInstanceUID="", InventoryPurpose="migration*")
    ) == ["2.25.11", "2.25.13"]
    assert [d.SOPInstanceUID for d in _find(node, SOPInstanceUID="", InventoryLevel="STUDY")] == [
        "2.25.11"
    ]
    assert _find(node, SOPInstanceUID="1.2.3") == []


def _get_association(node: InventoryNode, on_store: Any) -> Any:
    """An association for Inventory GET, offering Inventory Storage in the SCP role."""
    ae = AE(ae_title="RAW_SCU")
    ae.acse_timeout = ae.dimse_timeout = 5
    ae.add_requested_context(InventoryGet)
    ae.add_requested_context(InventoryStorage)
    role = build_role(InventoryStorage, scp_role=True)
    assoc = ae.associate(
        "127.0.0.1",
        node.port,
        ae_title="INV_SCP",
        ext_neg=[role],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    return assoc


def test_get_returns_the_instances_on_the_same_association(
    node: InventoryNode, tmp_path: Path
) -> None:
    received: list[bytes] = []

    def on_store(event):  # type: ignore[no-untyped-def]
        received.append(event.encoded_dataset(include_meta=True))
        return 0x0000

    assoc = _get_association(node, on_store)
    query = Dataset()
    query.SOPInstanceUID = ["2.25.11", "2.25.12"]
    statuses = [s.Status for s, _ in assoc.send_c_get(query, InventoryGet)]
    assoc.release()
    assert statuses[-1] == 0x0000
    assert len(received) == 2
    uids = []
    for i, data in enumerate(received):
        path = tmp_path / f"{i}.dcm"
        path.write_bytes(data)
        uids.append(pydicom.dcmread(path).SOPInstanceUID)
        assert list(validate_file(path)) == []
    assert sorted(uids) == ["2.25.11", "2.25.12"]


@pytest.mark.parametrize(
    "keys",
    # (an empty identifier is not among them: pynetdicom's SCU then sends no data set at all)
    [{"InventoryLevel": "STUDY"}, {"SOPInstanceUID": ""}, {"SOPInstanceUID": "1.02.3"}],
    ids=["no unique key", "empty unique key", "malformed UID"],
)
def test_get_without_a_valid_unique_key_fails(node: InventoryNode, keys: dict[str, str]) -> None:
    """PS3.4 JJ.3.2 / C.4.3: the unique key names what is retrieved; without it (or with a
    malformed one) the GET fails with 0xA900, sending nothing, not every inventory."""
    received: list[bytes] = []

    def on_store(event):  # type: ignore[no-untyped-def]
        received.append(b"")
        return 0x0000

    assoc = _get_association(node, on_store)
    query = Dataset()
    with warnings.catch_warnings():  # the malformed UID, on purpose
        warnings.simplefilter("ignore")
        for k, v in keys.items():
            setattr(query, k, v)
        statuses = [s.Status for s, _ in assoc.send_c_get(query, InventoryGet)]
    assoc.release()
    assert statuses[-1] == 0xA900 and received == []


@pytest.mark.peer
def test_move_to_dcmtk_storescp(node: InventoryNode, tmp_path: Path) -> None:
    storescp = require_tool("storescp")
    peer = node.config.peers["STORE"]
    out = tmp_path / "received"
    out.mkdir()
    proc = subprocess.Popen(
        [storescp, "-pm", "-aet", "STORESCP", "-od", str(out), str(peer.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until storescp listens
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", peer.port)) == 0:
                    break
            assert time.monotonic() < deadline, "storescp did not start"
            time.sleep(0.1)
        ae = AE(ae_title="RAW_SCU")
        ae.acse_timeout = ae.dimse_timeout = 10
        ae.add_requested_context(InventoryMove)
        query = Dataset()
        query.SOPInstanceUID = "2.25.13"

        def move(destination: str) -> list[int]:
            # One association per request: pynetdicom 3.0.4's reactor can take
            # the response to a second request on the same association as an
            # "unexpected C-MOVE service message" (a race between its reactor
            # checkpoint and send_c_move), and the SCU then waits for ever.
            assoc = ae.associate("127.0.0.1", node.port, ae_title="INV_SCP")
            try:
                return [s.Status for s, _ in assoc.send_c_move(query, destination, InventoryMove)]
            finally:
                assoc.release()

        statuses = move("STORESCP")
        assert statuses[-1] == 0x0000, [hex(s) for s in statuses]
        # an unknown destination is refused (0xA801, Move Destination unknown)
        assert move("NOBODY")[-1] == 0xA801
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    (f,) = list(out.iterdir())
    ds = pydicom.dcmread(f)
    assert ds.SOPInstanceUID == "2.25.13"
    assert list(validate_file(f)) == []
