"""A real ``dicom-inventory serve`` process with DICOMweb on, shared by the DICOMweb tests.

The node runs as its own process on free loopback ports; an inventory is produced through a
real Inventory Creation (raw pynetdicom requester) and fetched once over DIMSE (Inventory
GET), so each test compares what HTTP returns with what the DIMSE path returned. One node
serves the whole session (the origin server tests, the user agent's, the DICOMweb kit's): the
fixture is registered once, in tests/conftest.py.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset

from tests.scp.raw_peer import Requester, free_port, wait_listening, write_node_toml


@dataclass
class Served:
    """The running node and what the DIMSE path gave."""

    dimse_port: int
    http_port: int
    base: str
    event: Dataset
    root_uid: str
    dimse_file: Path
    leaves: dict[str, Path]
    """The other instances of the root's tree, as Inventory GET delivered them."""
    folder: Path
    log: Path

    def url(self, path: str) -> str:
        return self.base + path


def serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("dicom-inventory")
    cmd = [exe] if exe else [sys.executable, "-m", "dicom_inventory"]
    with log.open("ab") as f:
        return subprocess.Popen([*cmd, "serve", "--config", str(config)], stdout=f, stderr=f)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def node_config(
    folder: Path, archive: Path, requester: Requester, extra: str = ""
) -> tuple[Path, int, int]:
    port, http_port = free_port(), free_port()
    config = write_node_toml(
        folder,
        archive,
        port,
        (requester.ae_title, requester.port),
        {"max_records": 40, "event_backoff": 0.2},
        f"[http]\nport = {http_port}\n{extra}\n",
    )
    return config, port, http_port


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("web")
    archive = folder / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=12, series_per_study=2, instances_per_series=3)
    requester = Requester().listen()
    config, port, http_port = node_config(folder, archive, requester)
    log = folder / "serve.log"
    proc = serve(config, log)
    try:
        wait_listening(port)
        wait_listening(http_port)
        txn = generate_uid()
        assert requester.initiate(port, txn, "INSTANCE").Status == 0x0000
        _, (etype, event, _) = requester.until_final(timeout=60)
        assert etype == 11, log.read_text()
        root = str(event.ReferencedSOPInstanceUID)
        q = Dataset()
        q.SOPInstanceUID = root
        [dimse_file] = requester.c_get(port, q, folder / "dimse")
        leaves: dict[str, Path] = {}
        level = [dimse_file]
        while level:  # the tree, level by level (PS3.3 C.38.1.1.5)
            refs = [
                str(item.ReferencedSOPInstanceUID)
                for f in level
                for item in pydicom.dcmread(f).get("IncorporatedInventoryInstanceSequence", [])
            ]
            if not refs:
                break
            q.SOPInstanceUID = refs
            level = requester.c_get(port, q, folder / "dimse")
            assert sorted(p.stem for p in level) == sorted(refs)
            leaves.update({p.stem: p for p in level})
        yield Served(
            port,
            http_port,
            f"http://127.0.0.1:{http_port}/dicomweb",
            event,
            root,
            dimse_file,
            leaves,
            folder,
            log,
        )
    finally:
        stop(proc)
        requester.close()


@dataclass
class SecureNode:
    """A node of its own, empty, with HTTPS and a bearer token ([http] certfile/keyfile/
    bearer_token_file); started by :func:`secure_node`, stopped with :func:`stop`."""

    proc: subprocess.Popen[bytes]
    base: str
    cert: Path
    token: Path
    http_port: int
    log: Path


def secure_node(folder: Path, token: str) -> SecureNode:
    """Start an empty node serving DICOMweb over HTTPS with `token` (certificate by openssl)."""
    from tests.scp.test_tls import _certificate

    cert, key = _certificate(folder)
    token_file = folder / "token.txt"
    token_file.write_text(token + "\n")
    Archive(folder / "archive", create=True).close()
    config, _, http_port = node_config(
        folder,
        folder / "archive",
        Requester(),
        f'certfile = "{cert}"\nkeyfile = "{key}"\nbearer_token_file = "{token_file}"',
    )
    log = folder / "serve.log"
    proc = serve(config, log)
    wait_listening(http_port)
    return SecureNode(
        proc, f"https://127.0.0.1:{http_port}/dicomweb", cert, token_file, http_port, log
    )


def dimse_dataset(served: Served, uid: str | None = None) -> Dataset:
    """An inventory (default: the root) as Inventory GET delivered it (file meta dropped)."""
    ds = pydicom.dcmread(served.leaves[uid] if uid else served.dimse_file)
    del ds.file_meta
    return ds


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)
