"""Malformed DIMSE requests never reach handler code: each gets its precise status, with an
Error Comment naming the tag, and the node answers the next good request (issue 20).

The malformed bytes go on the wire as they are: a raw pynetdicom SCU builds the request
primitive itself with a pre-encoded Identifier / Action Information (pynetdicom's own
``send_c_find`` would re-encode a Dataset). Bomb cases run the node in a child process and read
its peak RSS (VmHWM) from ``/proc``.
"""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scp.services.decode import (
    MAX_INFLATED_BYTES,
    DecodeFailure,
    Service,
    decode_request,
)
from dicom_inventory.status import Status
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.dimse_primitives import C_FIND, C_GET, N_ACTION
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryFind,
    InventoryGet,
    InventoryStorage,
    StudyRootQueryRetrieveInformationModelFind,
)

from tests.scp.raw_peer import WELL_KNOWN, Requester, free_port, wait_listening


def el(tag: int, vr: str, value: bytes) -> bytes:
    """One Explicit VR Little Endian element, written byte by byte (PS3.5 7.1.2)."""
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in ("OB", "OW", "SQ", "UC", "UN", "UR", "UT", "UV"):
        return struct.pack("<HH2sHL", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


TXN = 0x00081195
LEVEL = 0x00080403
INTERVAL = 0x00080414
SCOPE = 0x00080400
PURPOSE = 0x00080401
_UID = el(TXN, "UI", b"2.25.99\0")
_LEVEL = el(LEVEL, "CS", b"STUDY ")


def _seq(tag: int, item: bytes) -> bytes:
    return el(tag, "SQ", struct.pack("<HHL", 0xFFFE, 0xE000, len(item)) + item)


# -- the raw SCU ---------------------------------------------------------------------------------
class RawSCU:
    """One association; sends request primitives with pre-encoded data sets."""

    def __init__(self, port: int, *contexts: Any, ts: list[str] | None = None) -> None:
        ae = AE(ae_title="REQUESTER")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        for cx in contexts:
            ae.add_requested_context(cx, ts or [ExplicitVRLittleEndian])
        self.assoc = ae.associate("127.0.0.1", port, ae_title="INV_SCP")
        assert self.assoc.is_established
        self.msg_id = 0

    def context_id(self, uid: str) -> int:
        return next(
            int(cx.context_id)
            for cx in self.assoc.accepted_contexts
            if str(cx.abstract_syntax) == str(uid)
        )

    def send(self, primitive: Any, uid: str) -> list[Any]:
        """Send `primitive`; return every response up to the final (non-pending) one."""
        self.msg_id += 1
        primitive.MessageID = self.msg_id
        # pause the association's reactor while waiting, as pynetdicom's own send_*() do, so
        # that it does not take the response off the queue first
        self.assoc._reactor_checkpoint.clear()
        while not self.assoc._is_paused:
            time.sleep(0.0001)
        try:
            self.assoc.dimse.send_msg(primitive, self.context_id(uid))
            out = []
            while True:
                _, rsp = self.assoc.dimse.get_msg(block=True)
                assert rsp is not None, "no response within the DIMSE timeout"
                out.append(rsp)
                if int(rsp.Status) not in (Status.PENDING, Status.PENDING_WARNING):
                    return out
        finally:
            self.assoc._reactor_checkpoint.set()

    def find(self, raw: bytes, uid: str = InventoryFind) -> list[Any]:
        req = C_FIND()
        req.AffectedSOPClassUID = uid
        req.Priority = 2
        req.Identifier = BytesIO(raw)
        return self.send(req, uid)

    def get(self, raw: bytes, uid: str = InventoryGet) -> list[Any]:
        req = C_GET()
        req.AffectedSOPClassUID = uid
        req.Priority = 2
        req.Identifier = BytesIO(raw)
        return self.send(req, uid)

    def action(self, raw: bytes, action: int = 11) -> Any:
        req = N_ACTION()
        req.RequestedSOPClassUID = InventoryCreation
        req.RequestedSOPInstanceUID = WELL_KNOWN
        req.ActionTypeID = action
        req.ActionInformation = BytesIO(raw)
        return self.send(req, InventoryCreation)[-1]

    def close(self) -> None:
        self.assoc.release()


def _good_find() -> bytes:
    ds = Dataset()
    ds.SOPInstanceUID = ""
    return bytes(encode(ds, False, True) or b"")


def _good_initiate(uid: str) -> bytes:
    ds = Dataset()
    ds.TransactionUID = uid
    ds.InventoryLevel = "STUDY"
    ds.ScopeOfInventorySequence = []
    return bytes(encode(ds, False, True) or b"")


# -- the node ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def archive_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("a") / "archive"
    with Archive(path, create=True) as a:
        synthesize(a, studies=2, series_per_study=1, instances_per_series=1)
    return path


@pytest.fixture
def requester() -> Iterator[Requester]:
    r = Requester().listen()
    yield r
    r.close()


def _config(archive: Path, requester_port: int) -> Any:
    return load_config(
        archive=archive,
        port=0,
        ae_title="INV_SCP",
        peers={"REQ": {"ae_title": "REQUESTER", "host": "127.0.0.1", "port": requester_port}},
        limits={"acse_timeout": 5, "dimse_timeout": 5, "event_backoff": 0.2},
    )


@pytest.fixture
def node(
    tmp_path: Path, archive_template: Path, requester: Requester, caplog: pytest.LogCaptureFixture
) -> Iterator[InventoryNode]:
    import shutil

    archive = tmp_path / "archive"
    shutil.copytree(archive_template, archive)
    caplog.set_level(logging.INFO)
    n = InventoryNode(_config(archive, requester.port))
    n.start()
    yield n
    n.stop()
    # no traceback: nothing our handlers or pynetdicom logged with exception information
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


# -- N-ACTION Initiate ---------------------------------------------------------------------------
_NO_SCOPE = el(SCOPE, "SQ", b"")  # Type 2: present, empty (PS3.4 KK.2.2.2)


def _initiate(level: bytes = _LEVEL, interval: bytes = b"", uid: bytes = _UID) -> bytes:
    """An Initiate with its elements in ascending tag order (PS3.5 7.1)."""
    return _NO_SCOPE + level + interval + uid


INITIATE_CASES = {
    "wrong VR": (_initiate(uid=el(TXN, "US", b"\1\0")), "(0008,1195)"),
    "wrong VM": (_initiate(level=el(LEVEL, "CS", b"STUDY\\SERIES")), "(0008,0403)"),
    "non-numeric interval": (_initiate(interval=el(INTERVAL, "IS", b"abc ")), "(0008,0414)"),
    "negative interval": (_initiate(interval=el(INTERVAL, "SS", b"\xfb\xff")), "(0008,0414)"),
    "huge interval": (
        _initiate(interval=el(INTERVAL, "UL", b"\xff\xff\xff\xff")),
        "(0008,0414)",
    ),
    "interval of 3 bytes": (_initiate(interval=el(INTERVAL, "US", b"\1\0\2")), "(0008,0414)"),
    "invalid UID": (_initiate(uid=el(TXN, "UI", b"1.02.x\0")), "(0008,1195)"),
    "corrupt item": (
        el(SCOPE, "SQ", struct.pack("<HHL", 0xFFFE, 0xE000, 80) + b"\0" * 8) + _LEVEL + _UID,
        "(0008,0400)",
    ),
    "unknown VR in the item": (
        _seq(SCOPE, el(0x00100020, "ZZ", b"P1")) + _LEVEL + _UID,
        "(0010,0020)",
    ),
    "truncated": (_initiate()[:-3], "(0008,1195)"),
}


@pytest.mark.parametrize("case", sorted(INITIATE_CASES))
def test_malformed_initiate_is_refused_0115_naming_the_tag(node: InventoryNode, case: str) -> None:
    raw, tag = INITIATE_CASES[case]
    scu = RawSCU(node.port, InventoryCreation)
    try:
        rsp = scu.action(raw)
        assert rsp.Status == Status.INVALID_ARGUMENT_VALUE, hex(rsp.Status)
        assert tag in rsp.ErrorComment, rsp.ErrorComment
        # the same association still serves a good request
        assert scu.action(_good_initiate(f"2.25.{free_port()}")).Status == Status.SUCCESS
    finally:
        scu.close()
    # and so does a new one
    scu = RawSCU(node.port, InventoryCreation)
    try:
        assert scu.action(_good_initiate(f"2.25.{free_port()}1")).Status == Status.SUCCESS
    finally:
        scu.close()


def test_unknown_character_set_is_a_mistyped_argument(node: InventoryNode) -> None:
    scu = RawSCU(node.port, InventoryCreation)
    try:
        rsp = scu.action(el(0x00080005, "CS", b"KLINGON ") + _initiate())
        assert rsp.Status == Status.MISTYPED_ARGUMENT
        assert "(0008,0005)" in rsp.ErrorComment or "KLINGON" in rsp.ErrorComment
    finally:
        scu.close()


# -- C-FIND / C-GET identifiers ------------------------------------------------------------------
FIND_CASES = {
    "unknown VR": (el(0x00080018, "QQ", b"1.2\0"), Status.UNABLE_TO_PROCESS, "(0008,0018)"),
    "truncated": (el(0x00080018, "UI", b"1.2.3.4\0")[:-4], Status.UNABLE_TO_PROCESS, "(0008,0018)"),
    "undefined-length garbage": (
        struct.pack("<HH2sHL", 0x0008, 0x0400, b"SQ", 0, 0xFFFFFFFF) + b"\x01\x02" * 10,
        Status.UNABLE_TO_PROCESS,
        "(0008,0400)",
    ),
    "wrong VR of a key": (
        el(0x00080023, "US", b"\1\0"),
        Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
        "(0008,0023)",
    ),
    "invalid date": (
        el(0x00080023, "DA", b"2026-13-"),
        Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
        "(0008,0023)",
    ),
}


@pytest.mark.parametrize("case", sorted(FIND_CASES))
def test_malformed_inventory_find_identifier(node: InventoryNode, case: str) -> None:
    raw, status, tag = FIND_CASES[case]
    scu = RawSCU(node.port, InventoryFind)
    try:
        rsp = scu.find(raw)
        assert len(rsp) == 1 and rsp[0].Status == status, [hex(r.Status) for r in rsp]
        assert tag in rsp[0].ErrorComment, rsp[0].ErrorComment
        offending = rsp[0].OffendingElement  # pynetdicom gives one tag unwrapped
        offending = offending if isinstance(offending, list) else [offending]
        assert offending == [int(tag[1:5], 16) << 16 | int(tag[6:10], 16)]
        good = scu.find(_good_find())
        assert good[-1].Status == Status.SUCCESS
    finally:
        scu.close()
    scu = RawSCU(node.port, InventoryFind)
    try:
        assert scu.find(_good_find())[-1].Status == Status.SUCCESS
    finally:
        scu.close()


def test_malformed_get_and_study_root_find(node: InventoryNode) -> None:
    scu = RawSCU(node.port, InventoryGet, StudyRootQueryRetrieveInformationModelFind)
    try:
        rsp = scu.get(el(0x00080018, "ZZ", b"1.2\0"))
        assert rsp[-1].Status == Status.UNABLE_TO_PROCESS, hex(rsp[-1].Status)
        assert "(0008,0018)" in rsp[-1].ErrorComment
        rsp = scu.find(
            el(0x00080052, "CS", b"STUDY ") + el(0x0020000D, "UI", b"1.2.3.4\0")[:-2],
            StudyRootQueryRetrieveInformationModelFind,
        )
        assert rsp[-1].Status == Status.UNABLE_TO_PROCESS, hex(rsp[-1].Status)
        assert "(0020,000D)" in rsp[-1].ErrorComment
        rsp = scu.find(
            el(0x00080052, "CS", b"STUDY\\SERIES"), StudyRootQueryRetrieveInformationModelFind
        )
        assert rsp[-1].Status == Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
        assert "(0008,0052)" in rsp[-1].ErrorComment
        good = Dataset()
        good.QueryRetrieveLevel = "STUDY"
        good.StudyInstanceUID = ""
        rsp = scu.find(
            bytes(encode(good, False, True) or b""), StudyRootQueryRetrieveInformationModelFind
        )
        assert rsp[-1].Status == Status.SUCCESS and len(rsp) == 3
    finally:
        scu.close()


# -- the decoder on its own (the fuzz harness calls it so) ---------------------------------------
def test_decoder_never_raises_and_bounds_inflation() -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = deflate.compress(el(PURPOSE, "UT", b"")[:8]) + deflate.compress(b"")
    big = struct.pack("<HH2sHL", 0x0008, 0x0401, b"UT", 0, 64 * 1024 * 1024)
    bomb = deflate.compress(big) + deflate.compress(b"a" * (64 * 1024 * 1024)) + deflate.flush()
    out = decode_request(bomb, DeflatedExplicitVRLittleEndian, Service.INVENTORY_CREATION)
    assert isinstance(out, DecodeFailure)
    assert out.status(Service.INVENTORY_CREATION) == Status.RESOURCE_LIMITATION
    assert str(MAX_INFLATED_BYTES // 1024 // 1024) in str(out)
    assert (
        decode_request(bomb, DeflatedExplicitVRLittleEndian, Service.INVENTORY_FIND).status(  # type: ignore[union-attr]
            Service.INVENTORY_FIND
        )
        == Status.OUT_OF_RESOURCES
    )
    nested = b""
    for _ in range(40):
        nested = _seq(SCOPE, nested)
    deep = decode_request(nested, ExplicitVRLittleEndian, Service.INVENTORY_CREATION)
    assert isinstance(deep, DecodeFailure) and "nested" in deep.message
    for raw in (b"", b"\x08", b"\xfe\xff\x0d\xe0\0\0\0\0", b"\xfe\xff\xdd\xe0\0\0\0\0" * 3):
        decode_request(raw, ExplicitVRLittleEndian, Service.STUDY_ROOT_FIND)


def test_decoder_answers_every_mutation_of_good_requests() -> None:
    """A few hundred byte mutations (flips, cuts, insertions, planted delimiters and lengths)
    of good requests in every transfer syntax: a Dataset or a DecodeFailure, never an
    exception or a warning (the long run is the fuzz harness's, tests/fuzz)."""
    import random

    initiate = Dataset()
    initiate.SpecificCharacterSet = "ISO_IR 192"
    initiate.TransactionUID = "1.2.3"
    initiate.InventoryLevel = "STUDY"
    initiate.RequestedStatusInterval = 5
    initiate.ScopeOfInventorySequence = [Dataset()]
    initiate.ScopeOfInventorySequence[0].PatientID = "P*"
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ["1.2", "1.3"]
    query.MaximumNumberOfRecords = 10
    seeds = []
    for ds in (initiate, query):
        for implicit, syntax in ((True, "1.2.840.10008.1.2"), (False, ExplicitVRLittleEndian)):
            seeds.append((bytes(encode(ds, implicit, True) or b""), syntax))
        deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        raw = bytes(encode(ds, False, True) or b"")
        seeds.append((deflate.compress(raw) + deflate.flush(), DeflatedExplicitVRLittleEndian))
    planted = (b"\xff\xff\xff\xff", b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0", b"\0\0\0\0")
    rng = random.Random(20)
    for _ in range(300):
        raw, syntax = rng.choice(seeds)
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(b))
            op = rng.randrange(4)
            if op == 0:
                b[at] = rng.randrange(256)
            elif op == 1:
                del b[at : at + rng.randint(1, 8)]
            elif op == 2:
                b[at:at] = rng.randbytes(rng.randint(1, 8))
            else:
                b[at : at + 4] = rng.choice(planted)
            if not b:
                b = bytearray(raw)
        for service in Service:
            out = decode_request(bytes(b), syntax, service)
            if isinstance(out, DecodeFailure):
                assert out.response(service).Status == out.status(service)
            else:
                assert all(repr(e) for e in out.iterall())


# -- deflate bombs against a node in a child process -------------------------------------------
_CHILD = textwrap.dedent(
    """
    import sys, time
    from dicom_inventory.scp.config import load_config
    from dicom_inventory.scp.server import InventoryNode
    config = load_config(
        archive=sys.argv[1], port=int(sys.argv[2]), ae_title="INV_SCP",
        peers={"REQ": {"ae_title": "REQUESTER", "host": "127.0.0.1", "port": int(sys.argv[3])}},
        limits={"acse_timeout": 5, "dimse_timeout": 5},
    )
    node = InventoryNode(config)
    node.start()
    sys.stdin.read()
    node.stop()
    """
)


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _bomb(inflated: int) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = struct.pack("<HH2sHL", 0x0008, 0x0401, b"UT", 0, inflated)
    chunk = b"a" * (16 * 1024 * 1024)
    parts = [deflate.compress(head)]
    for _ in range(inflated // len(chunk)):
        parts.append(deflate.compress(chunk))
    return b"".join(parts) + deflate.flush()


def test_deflate_bombs_keep_the_node_small(tmp_path: Path, archive_template: Path) -> None:
    import shutil

    archive = tmp_path / "archive"
    shutil.copytree(archive_template, archive)
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(archive), str(port), str(free_port())],
        stdin=subprocess.PIPE,
    )
    try:
        wait_listening(port, timeout=30)
        baseline = _vm_hwm_kib(child.pid)
        bomb = _bomb(512 * 1024 * 1024)
        # Q/R contexts never take Deflated: proposing only Deflated gets the context rejected
        ae = AE(ae_title="REQUESTER")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        ae.add_requested_context(InventoryFind, [DeflatedExplicitVRLittleEndian])
        ae.add_requested_context(InventoryStorage, [DeflatedExplicitVRLittleEndian])
        assoc = ae.associate("127.0.0.1", port, ae_title="INV_SCP")
        accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        assoc.release()
        assert InventoryFind not in accepted
        # deflated bytes on an Explicit VR context are not a data set: refused, never inflated
        scu = RawSCU(port, InventoryFind)
        try:
            assert scu.find(bomb)[-1].Status == Status.UNABLE_TO_PROCESS
        finally:
            scu.close()
        # Inventory Creation keeps Deflated, inflated with the cap
        scu = RawSCU(port, InventoryCreation, ts=[DeflatedExplicitVRLittleEndian])
        try:
            rsp = scu.action(bomb)
            assert rsp.Status == Status.RESOURCE_LIMITATION, hex(rsp.Status)
        finally:
            scu.close()
        grown = _vm_hwm_kib(child.pid) - baseline
        # the bomb inflates to 512 MiB; the node grows by its few MB of compressed bytes
        assert grown < 64 * 1024, f"node grew by {grown} KiB"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
