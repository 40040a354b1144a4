"""A deflated C-FIND identifier that inflates to 256 MB never grows ``serve`` with it (issue 20).

The node runs as a real ``dicom-inventory serve`` child configured with Deflated Explicit VR
Little Endian among its transfer syntaxes; a raw peer proposes Inventory FIND and Repository
Query with Deflated only. Either the node does not accept Deflated on a query context (the
fix chosen: then there is nothing to inflate), or it inflates the identifier: its peak RSS
(``VmHWM``) must stay under a ceiling either way, and the node answers a good request after.
"""

from __future__ import annotations

import gzip
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.status import Status
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.sop_class import InventoryFind, RepositoryQuery

from tests.fuzz.known import reason_for
from tests.fuzz.replay import REPRODUCERS, reproducers
from tests.scp.raw_peer import free_port, wait_listening

#: Inflated size of the identifier (the campaign used 1.2 GB).
INFLATED = 256 * 1024 * 1024
#: Peak RSS of the node (MB): ~150 MB serving this archive; an inflated copy or two goes far past.
SERVE_RSS_MB = 400


def deflated_bomb(inflated: int = INFLATED) -> bytes:
    """A raw-deflated identifier (PS3.5 A.5): SOP Instance UID, then a private OB element of
    `inflated` zero bytes; a few hundred KB on the wire."""
    head = struct.pack("<HH2sH", 0x0008, 0x0018, b"UI", 0)
    big = struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, inflated)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [z.compress(head + big)]
    chunk = bytes(1 << 20)
    for _ in range(inflated >> 20):
        out.append(z.compress(chunk))
    out.append(z.flush())
    return b"".join(out)


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _send_find(assoc: Any, uid: str, data: bytes, timeout: float) -> list[int]:
    cx = next(c for c in assoc.accepted_contexts if str(c.abstract_syntax) == uid)
    req = C_FIND()
    req.MessageID = 1
    req.AffectedSOPClassUID = uid
    req.Priority = 2
    req.Identifier = BytesIO(data)
    assoc._reactor_checkpoint.clear()
    while not assoc._is_paused:
        time.sleep(0.0001)
    statuses: list[int] = []
    try:
        assoc.dimse.send_msg(req, int(cx.context_id))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, rsp = assoc.dimse.get_msg(block=True)
            if rsp is None:
                break
            statuses.append(int(rsp.Status))
            if int(rsp.Status) not in (Status.PENDING, Status.PENDING_WARNING):
                break
    finally:
        assoc._reactor_checkpoint.set()
    return statuses


def _params() -> list[Any]:
    out: list[Any] = []
    for path in reproducers("dimse-deflated-"):
        reason = reason_for(path.relative_to(REPRODUCERS).as_posix())
        marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
        out.append(pytest.param(path, id=path.name, marks=marks))
    return out


@pytest.mark.parametrize("path", _params())
def test_a_deflated_identifier_bomb_keeps_serve_small(path: Path, tmp_path: Path) -> None:
    """``reproducers/dimse-deflated-find/*.bin.gz``: the raw deflated identifier, gzipped
    (:func:`deflated_bomb` makes it)."""
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=2, series_per_study=1, instances_per_series=1)
    port = free_port()
    config = tmp_path / "node.toml"
    config.write_text(
        f'ae_title = "INV_SCP"\nport = {port}\narchive = "{archive}"\n'
        "[limits]\nacse_timeout = 10\ndimse_timeout = 30\nnetwork_timeout = 30\n"
        '[services]\ntransfer_syntaxes = ["ImplicitVRLittleEndian", "ExplicitVRLittleEndian", '
        '"DeflatedExplicitVRLittleEndian"]\n'
    )
    exe = shutil.which("dicom-inventory")
    cmd = [exe] if exe else [sys.executable, "-m", "dicom_inventory"]
    log = tmp_path / "serve.log"
    with log.open("wb") as f:
        proc = subprocess.Popen([*cmd, "serve", "--config", str(config)], stdout=f, stderr=f)
    try:
        wait_listening(port, timeout=30)
        bomb = gzip.decompress(path.read_bytes())
        ae = AE(ae_title="BOMBER")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
        for uid in (InventoryFind, RepositoryQuery):
            ae.add_requested_context(uid, [DeflatedExplicitVRLittleEndian])
        assoc = ae.associate("127.0.0.1", port, ae_title="INV_SCP")
        if assoc.is_established:
            accepted = {str(c.abstract_syntax) for c in assoc.accepted_contexts}
            for uid in (InventoryFind, RepositoryQuery):
                if str(uid) in accepted:
                    _send_find(assoc, str(uid), bomb, timeout=60)
            if assoc.is_established:
                assoc.release()
        peak = _vm_hwm_mb(proc.pid)
        assert proc.poll() is None, log.read_text()[-2000:]  # the node is alive
        # and answers a good query after
        good = AE(ae_title="GOOD")
        good.add_requested_context(InventoryFind, [ExplicitVRLittleEndian])
        ok = good.associate("127.0.0.1", port, ae_title="INV_SCP")
        assert ok.is_established
        q = Dataset()
        q.SOPInstanceUID = ""
        assert [int(s.Status) for s, _ in ok.send_c_find(q, InventoryFind)][-1] == Status.SUCCESS
        ok.release()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert peak < SERVE_RSS_MB, f"serve peaked at {peak:.0f} MB (ceiling {SERVE_RSS_MB} MB)"
