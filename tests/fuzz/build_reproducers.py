"""Write the hand-made reproducers of issue 20's defect classes into ``tests/fuzz/reproducers``.

Run ``python -m tests.fuzz.build_reproducers`` from the checkout; it is deterministic and only
(re)writes the files it makes (reproducers found by fuzzing are saved by the harness itself).
Each file gets a one-line ``.txt`` beside it saying what it broke on main.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import struct
import tarfile
import tempfile
import zipfile
from pathlib import Path

from dicom_inventory import (
    ContainerFileType,
    FileAccess,
    InventoryLevel,
    InventoryReference,
    StudyRecord,
    encode_inventory,
    synthetic_studies,
)
from dicom_inventory.scp.archive.objects import make_image, to_part10

from tests.fuzz.corpus import header
from tests.fuzz.mutate import apply, boundaries, nesting_bomb

__all__ = ["REPRODUCERS", "main"]

REPRODUCERS = Path(__file__).parent / "reproducers"
#: Inflated size of the GZIP and ZIP bombs (the campaign used 1.2 GB; this shows the same
#: growth with less of the machine).
BOMB_BYTES = 256 * 1024 * 1024


def _image(uid: str, **changes: object) -> bytes:
    ds = make_image(study_uid=uid, series_uid=uid + ".1", sop_uid=uid + ".1.1")
    for k, v in changes.items():
        if v is None:
            delattr(ds, k)
        else:
            setattr(ds, k, v)
    return to_part10(ds)


def _without_sop_class(part10: bytes, meta_end: int) -> bytes:
    """`part10` with its (0008,0016) SOP Class UID element cut out of the data set."""
    at = part10.index(b"\x08\x00\x16\x00UI", meta_end)
    length = struct.unpack_from("<H", part10, at + 6)[0]
    return part10[:at] + part10[at + 8 + length :]


def _write(target: str, name: str, data: bytes, why: str) -> None:
    folder = REPRODUCERS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    (folder / f"{name}.txt").write_text(why.strip() + "\n")


def _tar(members: list[tuple[str | bytes, bytes | str]], gz: bool = False) -> bytes:
    """A tar of files (bytes) and FIFOs (the string ``"fifo"``); names may be raw bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, content in members:
            info = tarfile.TarInfo(
                os.fsdecode(name) if isinstance(name, bytes) else name
            )  # surrogateescape: the raw bytes come back on extraction
            info.mtime = 0
            if content == "fifo":
                info.type = tarfile.FIFOTYPE
                t.addfile(info)
            else:
                assert isinstance(content, bytes)
                info.size = len(content)
                t.addfile(info, io.BytesIO(content))
    return gzip.compress(buf.getvalue(), 9, mtime=0) if gz else buf.getvalue()


def deep_tree(depth: int = 1000) -> bytes:
    """A chain of `depth` inventories, each incorporating the next by a ``./`` File Access URI
    (PS3.3 C.38.1.1.5): ``root.dcm``, ``1.dcm`` ... packed as a tar.gz."""
    members: list[tuple[str | bytes, bytes | str]] = []
    for i in range(depth):
        refs: tuple[InventoryReference, ...] = ()
        if i + 1 < depth:
            refs = (
                InventoryReference(
                    f"2.25.9{i + 1:05d}", file_access=FileAccess(uri=f"./{i + 1}.dcm")
                ),
            )
        h = dataclasses.replace(header(InventoryLevel.STUDY, f"2.25.9{i:05d}"), incorporated=refs)
        rec = StudyRecord(
            study_instance_uid=f"2.25.8{i:05d}", item_inventory_datetime="20261124120000"
        )
        members.append(("root.dcm" if i == 0 else f"{i}.dcm", encode_inventory(h, [rec])))
    return _tar(members, gz=True)


def uv_2_63() -> bytes:
    """One instance record whose File Offset in Container (UV) is 2^63 and length 2^64 - 1."""
    study = next(synthetic_studies(1, series_per_study=1, instances_per_series=1))
    series = next(iter(study.series))
    inst = next(iter(series.instances))
    fa = FileAccess(
        uri="file:///archive/big.blob",
        container_type=ContainerFileType.BLOB,
        offset=2**63,
        length=2**64 - 1,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
    )
    inst = dataclasses.replace(inst, file_access=(fa,))
    series = dataclasses.replace(series, instances=[inst])
    study = dataclasses.replace(study, series=[series])
    return encode_inventory(header(InventoryLevel.INSTANCE), [study])


def many_bad_records(n: int = 20_000) -> bytes:
    """`n` study records, each with an invalid Study Date (``2024AB02``): n ERROR findings."""
    recs = [
        StudyRecord(
            study_instance_uid=f"2.25.{i + 1}",
            item_inventory_datetime="20261124120000",
            study_date="20240102",
        )
        for i in range(n)
    ]
    data = encode_inventory(header(InventoryLevel.STUDY), recs)
    return gzip.compress(data.replace(b"20240102", b"2024AB02"), 9, mtime=0)


def _bomb_member() -> bytes:
    """A valid Part 10 image followed by BOMB_BYTES of zeros (trailing padding)."""
    return _image("2.25.6100") + bytes(BOMB_BYTES)


def gzip_bomb() -> bytes:
    return gzip.compress(_bomb_member(), 9, mtime=0)


def zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("1.dcm", date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, _bomb_member())
    return buf.getvalue()


def _element(part10: bytes, tag: bytes) -> int:
    """Index in :func:`boundaries` of the first element with the 4 tag bytes `tag`."""
    return next(i for i, b in enumerate(boundaries(part10)) if part10[b.start : b.start + 4] == tag)


def found_by_fuzzing() -> None:
    """Reproducers of what the harness found in ingest on main, minimised to one mutation."""
    good = _image("2.25.6010")
    sop_class = _element(good, b"\x08\x00\x16\x00")
    _write(
        "ingest",
        "unknown-vr.dcm",
        apply(good, [("vr", sop_class, 0)]),
        "VR 'XX' on (0008,0016): NotImplementedError from pydicom ends the run (fuzz, ingest)",
    )
    _write(
        "ingest",
        "meta-vr-xx.dcm",
        apply(good, [("vr", _element(good, b"\x02\x00\x01\x00"), 0)]),
        "(0002,0001) with VR 'XX': pydicom error ends the run (fuzz, ingest)",
    )
    _write(
        "ingest",
        "truncated-meta-142.dcm",
        good[:142],
        "Part 10 cut inside (0002,0000): BytesLengthException ends the run "
        "(issue 20, truncated meta header)",
    )
    date = _element(good, b"\x08\x00\x20\x00")
    _write(
        "ingest",
        "non-ascii-date.dcm",
        apply(good, [("value", date, 6)]),
        "Study Date of bytes FF FE: indexed, then create fails for the whole archive "
        "(fuzz, ingest validates what production needs)",
    )
    at = _element(good, b"\x10\x00\x10\x00")  # before Patient's Name: a nesting bomb
    bomb = (
        good[: boundaries(good)[at].start] + nesting_bomb(5000) + good[boundaries(good)[at].start :]
    )
    _write(
        "ingest",
        "nesting-5000.dcm",
        bomb,
        "5,000 nested undefined-length sequences: RecursionError in pydicom ends the run "
        "(fuzz, ingest)",
    )
    _write(
        "ingest",
        "nesting-5000.blob",
        bomb + _image("2.25.6011"),
        "a BLOB whose first object nests 5,000 sequences: RecursionError ends the run "
        "(fuzz, ingest)",
    )
    gz = bytearray(gzip.compress(good, 9, mtime=0))
    gz[len(gz) // 2] ^= 0x55
    _write(
        "ingest",
        "corrupt-deflate.dcm.gz",
        bytes(gz),
        "GZIP with a corrupt deflate stream: zlib.error ends the run (fuzz, ingest)",
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            zipfile.ZipInfo("1.dcm", date_time=(2026, 1, 1, 0, 0, 0)), good, zipfile.ZIP_DEFLATED
        )
    zdata = bytearray(buf.getvalue())
    zdata[30 + len("1.dcm") + 40] ^= 0x55  # inside the member's deflate data
    _write(
        "ingest",
        "corrupt-deflate.zip",
        bytes(zdata),
        "ZIP member with a corrupt deflate stream: zlib.error ends the run (fuzz, ingest)",
    )


def _el(tag: int, vr: str, value: bytes) -> bytes:
    """One Explicit VR Little Endian element, byte by byte (PS3.5 7.1.2)."""
    if vr in ("OB", "OW", "SQ", "UC", "UN", "UR", "UT", "UV"):
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


_SCOPE, _PURPOSE, _LEVEL, _INTERVAL, _TXN = (
    0x00080400,
    0x00080401,
    0x00080403,
    0x00080414,
    0x00081195,
)


def initiate_requests() -> None:
    """Inventory Creation Initiate (N-ACTION 11, PS3.4 KK.2.2.2) Action Information with the
    malformed attributes issue 20 lists: each reached handler code on main."""
    txn = _el(_TXN, "UI", b"2.25.4711\0")
    scope = _el(_SCOPE, "SQ", b"")
    level = _el(_LEVEL, "CS", b"STUDY ")
    cases = {
        "level-wrong-vr": (
            scope + _el(_LEVEL, "US", b"\x01\x00") + txn,
            "Inventory Level with VR US",
        ),
        "level-wrong-vm": (
            scope + _el(_LEVEL, "CS", b"STUDY\\SERIES ") + txn,
            "Inventory Level with two values (VM 1 expected)",
        ),
        "interval-is-text": (
            scope + level + _el(_INTERVAL, "IS", b"abc ") + txn,
            "Requested Status Interval as IS 'abc' (US expected)",
        ),
        "interval-four-bytes": (
            scope + level + _el(_INTERVAL, "US", b"\xff\xff\xff\xff") + txn,
            "Requested Status Interval US of 4 bytes (VM 2): out of range",
        ),
        "corrupt-scope-item": (
            _el(_SCOPE, "SQ", struct.pack("<HHI", 0xFFFE, 0xE000, 4000) + b"\x10\x00")
            + level
            + txn,
            "Scope of Inventory item whose length runs past the data set",
        ),
        "txn-as-sequence": (
            scope + level + _el(_TXN, "SQ", b""),
            "Transaction UID with VR SQ",
        ),
    }
    for name, (data, what) in cases.items():
        outcome = (
            "reaches handler code on main (issue 20, malformed requests)"
            if name.startswith("interval")
            else "answered without a traceback on main; a guard for issue 20's "
            "malformed-request class"
        )
        _write("dimse-action", f"{name}.11.bin", data, f"Initiate with {what}: {outcome}")


def main() -> None:
    """Write every hand-made reproducer."""
    from tests.fuzz.test_dimse_bombs import INFLATED, deflated_bomb

    _write(
        "dimse-deflated-find",
        "identifier-256mb.bin.gz",
        gzip.compress(deflated_bomb(), 9, mtime=0),
        f"deflated C-FIND identifier inflating to {INFLATED >> 20} MB: serve peaks at 857 MB "
        "on main (issue 20, bombs)",
    )
    initiate_requests()
    found_by_fuzzing()
    tree = deep_tree()
    why = "a chain of 1,000 incorporated inventories: RecursionError on main (issue 20, deep trees)"
    for target in ("reader", "validate", "export-csv", "export-parquet"):
        _write(target, "deep-1000.tree.tar.gz", tree, why)
    _write(
        "export-parquet",
        "uv-2-63.dcm",
        uv_2_63(),
        "File Offset in Container 2^63 (UV): OverflowError in pyarrow on main (issue 20, uint64)",
    )
    _write(
        "cli-validate",
        "many-bad-records.dcm.gz",
        many_bad_records(),
        "20,000 bad records: text-mode validate holds ~6 KB per finding, peak RSS 215 MB vs "
        "87 MB clean on main (issue 20, output that grows with the findings)",
    )
    good = _image("2.25.6001")
    meta_end = 132 + 12 + struct.unpack_from("<I", good, 140)[0]
    _write(
        "ingest",
        "no-sop-class.dcm",
        _without_sop_class(_image("2.25.6002"), meta_end),
        "an object without SOP Class UID (issue 20, archive ingest)",
    )
    _write(
        "ingest",
        "invalid-uid.dcm",
        _image("2.25.6003", StudyInstanceUID="1.2.abc.3", SOPInstanceUID="1.2.abc.3.1.1"),
        "Study and SOP Instance UIDs with letters: indexed, then create fails for the whole "
        "archive (issue 20, ingest validates what production needs)",
    )
    _write(
        "ingest",
        "non-utf8-name.folder.tar",
        _tar([(b"caf\xe9-\xff.dcm", _image("2.25.6004"))]),
        "a file name that is not UTF-8 (Latin-1 bytes) (issue 20, archive ingest)",
    )
    _write(
        "ingest",
        "fifo.folder.tar",
        _tar([("pipe.dcm", "fifo")]),
        "a FIFO named *.dcm: ingest blocks reading it for ever on main (issue 20, archive ingest)",
    )
    _write(
        "ingest",
        "gzip-bomb.dcm.gz",
        gzip_bomb(),
        f"GZIP of {BOMB_BYTES >> 20} MB inflated: ingest holds it all in memory (issue 20, bombs)",
    )
    _write(
        "ingest",
        "zip-bomb.zip",
        zip_bomb(),
        f"ZIP member of {BOMB_BYTES >> 20} MB inflated: ingest holds it all in memory "
        "(issue 20, bombs)",
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
