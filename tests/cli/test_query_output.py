r"""`dicom-inventory query` prints DICOM values as text, never Python reprs (issue 21).

A real `serve` process keeps two inventories in its inventories folder; `query` runs as a
subprocess against it. Multiple values come out joined with ``\`` (PS3.5 6.4), person names in
their ``^`` form, sequences as lists of items; no ``MultiValue(``, ``[...]`` or quoted reprs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dicom_inventory import InventoryHeader, InventoryLevel, synthetic_studies, write_inventory
from dicom_inventory.enum import InventoryCompletionStatus
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.archive import Archive

#: The Transaction UID of the second inventory, and the same length with a letter in it: a
#: value pydicom warns about ("Invalid value for VR UI") when the query response is read.
GOOD_TXN = "1.2.826.0.1.3680043.10.1234.77"
BAD_TXN = GOOD_TXN.replace("77", "7x")
SCOPE_KEYS = {"StudyInstanceUID": "1.2.3\\1.2.4", "PatientName": "DOE^JANE", "StudyDate": "2020-"}


@dataclass
class Node:
    """A running ``serve`` and the inventories it keeps."""

    peer: str
    process: subprocess.Popen[str]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`dicom-inventory ARGS` in a child process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _header(uid: str, txn: str) -> InventoryHeader:
    return InventoryHeader(
        sop_instance_uid=uid,
        inventory_level=InventoryLevel.STUDY,
        content_date="20261207",
        content_time="120000",
        completion_status=InventoryCompletionStatus.COMPLETE,
        inventory_purpose="MIGRATION",
        transaction_uid=txn,
        scope=ScopeOfInventory.from_keys(SCOPE_KEYS),
    )


def start_node(root: Path) -> Iterator[Node]:
    """Serve an empty archive whose inventories folder holds two inventories (one with `BAD_TXN`)."""
    with Archive(root / "archive", create=True):
        pass
    inventories = root / "archive" / "inventories"
    inventories.mkdir(exist_ok=True)
    studies = list(synthetic_studies(2, level=InventoryLevel.STUDY))
    write_inventory(inventories, _header("1.2.826.0.1.3680043.10.1234.1", GOOD_TXN), studies)
    (second,) = write_inventory(
        inventories, _header("1.2.826.0.1.3680043.10.1234.2", GOOD_TXN), studies
    )
    assert second.path is not None
    data = second.path.read_bytes()
    assert data.count(GOOD_TXN.encode()) == 1
    second.path.write_bytes(data.replace(GOOD_TXN.encode(), BAD_TXN.encode()))
    process = subprocess.Popen(
        [sys.executable, "-m", "dicom_inventory", "serve", "--archive", str(root / "archive")]
        + ["--port", "0", "--ae-title", "INV_SCP"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "listening as AE@HOST:PORT"
        assert line.startswith("listening as "), line
        yield Node(line.split()[-1], process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from start_node(tmp_path_factory.mktemp("node"))


def test_query_prints_dicom_text_not_python_reprs(node: Node) -> None:
    r = run_cli("query", "--peer", node.peer, "ScopeOfInventorySequence", "InventoryPurpose")
    assert r.returncode == 0, r.stderr
    for repr_mark in ("MultiValue(", "['", "PersonName(", "Sequence(", "<Sequence"):
        assert repr_mark not in r.stdout, r.stdout
    found = {d["SOPInstanceUID"]: d for d in map(json.loads, r.stdout.splitlines())}
    good = found["1.2.826.0.1.3680043.10.1234.1"]
    assert good["InventoryLevel"] == "STUDY" and good["InventoryPurpose"] == "MIGRATION"
    assert good["TotalNumberOfStudyRecords"] == "2"
    (scope,) = good["ScopeOfInventorySequence"]  # a sequence: a list of its items
    (uids,) = scope["ListOfUIDMatchingSequence"]
    assert uids["StudyInstanceUID"] == "1.2.3\\1.2.4"  # multiple values joined with \
    (general,) = scope["GeneralMatchingSequence"]
    assert general["PatientName"] == "DOE^JANE"  # a person name as text
    # Range Matching: a begin and an end item (PS3.3 C.38.2.1), the open end empty (null)
    assert [i["StudyDate"] for i in scope["RangeMatchingSequence"]] == ["2020", None]


def test_query_of_an_invalid_value_prints_it_as_received(node: Node) -> None:
    r = run_cli("query", "--peer", node.peer, "TransactionUID")
    assert r.returncode == 0, r.stderr
    found = {d["SOPInstanceUID"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert found["1.2.826.0.1.3680043.10.1234.2"]["TransactionUID"] == BAD_TXN
