"""Decompression bombs and impossible byte ranges against the one container reader (issue 20).

A few hundred KB of GZIP, ZIP or TARGZIP that inflate to hundreds of MB, and a BLOB link with
a File Length in Container (0008,040D) of 2^40 or 2^64-1 (legal UV values): the reader holds at
most the declared length (+1) or its cap, and says which limit was hit (PS3.3 C.38.2.2).
Memory is measured in a child process (its own peak RSS), with a generous ceiling.

The bombs are built here without inflating anything: one deflate block of 1 MiB of zeros, full
flushed, repeated (1 KB per MiB), so a 256 MiB bomb takes milliseconds to write.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from dicom_inventory.containers import ContainerError, iter_members, read_object
from dicom_inventory.enum import ContainerFileType

#: Inflated size of the bombs of the suite (the report measured 1.2 GB ones once).
BOMB_BYTES = 256 << 20
#: Peak RSS a child reading a bomb may reach, in KiB (Python + pydicom is ~60 MB here).
RSS_CEILING_KIB = 200 << 10
_MIB = 1 << 20
_compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
_ZERO_MIB = _compressor.compress(bytes(_MIB)) + _compressor.flush(zlib.Z_FULL_FLUSH)


def deflate(parts: Sequence[bytes | int]) -> tuple[bytes, int, int]:
    """A raw deflate stream of `parts` (bytes, or a count of zero bytes): (data, crc32, size)."""
    out, crc, size = [], 0, 0
    for part in parts:
        if isinstance(part, int):
            whole, rest = divmod(part, _MIB)
            out.append(_ZERO_MIB * whole)
            crc = zlib.crc32(bytes(_MIB), crc) if whole else crc
            for _ in range(whole - 1):
                crc = zlib.crc32(bytes(_MIB), crc)
            part = bytes(rest)
            size += whole * _MIB
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        out.append(c.compress(part) + c.flush(zlib.Z_FULL_FLUSH))
        crc, size = zlib.crc32(part, crc), size + len(part)
    out.append(zlib.compressobj(9, zlib.DEFLATED, -15).flush())  # the final (empty) block
    return b"".join(out), crc, size


def gzip_bomb(parts: Sequence[bytes | int]) -> bytes:
    """A GZIP file (RFC 1952) of `parts`."""
    data, crc, size = deflate(parts)
    return b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff" + data + struct.pack("<II", crc, size & 0xFFFFFFFF)


def zip_bomb(name: str, parts: Sequence[bytes | int], declared: int | None = None) -> bytes:
    """A ZIP of one deflated member `name`; `declared`: the size its headers claim instead."""
    data, crc, size = deflate(parts)
    usize = size if declared is None else declared
    raw = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), usize, len(raw), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), usize, len(raw), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    cd_at = len(local) + len(raw) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(raw), cd_at, 0)
    return local + raw + data + central + raw + end


def targzip_bomb(name: str, head: bytes, zeros: int) -> bytes:
    """A TARGZIP of one member `name`: `head` then `zeros` zero bytes, then the end blocks."""
    info = tarfile.TarInfo(name)
    info.size = len(head) + zeros
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    pad = -info.size % tarfile.BLOCKSIZE
    return gzip_bomb([header + head, zeros + pad + 2 * tarfile.BLOCKSIZE])


def part10_head(pixel_bytes: int) -> bytes:
    """A valid small image's Part 10 bytes up to its Pixel Data value, which claims `pixel_bytes`."""
    from dicom_inventory.scp.archive.objects import make_image, to_part10

    ds = make_image(study_uid="2.25.1", series_uid="2.25.1.1", sop_uid="2.25.1.1.1")
    whole = to_part10(ds)
    at = whole.rindex(b"\xe0\x7f\x10\x00OW\0\0")  # (7FE0,0010) OW, 4-byte length follows
    return whole[: at + 8] + struct.pack("<I", pixel_bytes)


def peak_rss_kib(code: str, *args: str) -> tuple[int, str]:
    """Run `code` in a fresh Python; return its peak RSS (KiB) and what it printed.

    The peak is ``VmHWM`` of ``/proc/self/status``, not ``ru_maxrss``: on Linux the latter
    keeps the forking parent's high-water mark across ``exec``, so a child of a large pytest
    process would report the parent's size.
    """
    probe = (
        "import sys\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "finally:\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "    print('RSS', int(hwm[0].split()[1]), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120
    )
    rss = [line for line in done.stderr.splitlines() if line.startswith("RSS ")]
    assert rss, done.stderr[-3000:]
    return int(rss[-1].split()[1]), done.stdout + done.stderr


def _read(args: Mapping[str, object]) -> tuple[int, str]:
    code = (
        "import json\n"
        "from dicom_inventory.containers import ContainerError, read_object\n"
        "kw = json.loads(sys.argv[1])\n"
        "try:\n"
        "    print('READ', len(read_object(**kw)))\n"
        "except ContainerError as exc:\n"
        "    print('ERROR', exc)"
    )
    return peak_rss_kib(code, json.dumps(args))


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bombs")
    head = part10_head(BOMB_BYTES)
    (folder / "bomb.dcm.gz").write_bytes(gzip_bomb([head, BOMB_BYTES]))
    (folder / "bomb.zip").write_bytes(zip_bomb("a/1.dcm", [head, BOMB_BYTES]))
    (folder / "liar.zip").write_bytes(zip_bomb("a/1.dcm", [head, BOMB_BYTES], declared=4096))
    (folder / "bomb.tgz").write_bytes(targzip_bomb("a/1.dcm", head, BOMB_BYTES))
    (folder / "small.blob").write_bytes(head)
    return folder


@pytest.mark.parametrize(
    ("name", "kind", "member"),
    [
        ("bomb.dcm.gz", "GZIP", None),
        ("bomb.zip", "ZIP", "a/1.dcm"),
        ("liar.zip", "ZIP", "a/1.dcm"),
        ("bomb.tgz", "TARGZIP", "a/1.dcm"),
    ],
)
def test_a_bomb_is_read_up_to_its_declared_length_only(
    bombs: Path, name: str, kind: str, member: str | None
) -> None:
    """The link says 4096 bytes: at most 4097 are inflated, the rest is never held."""
    args = {"source": str(bombs / name), "container": kind, "member": member, "length": 4096}
    rss, said = _read(args)
    if name == "liar.zip":  # the library stops at the declared 4096 bytes: their CRC is wrong
        assert "ERROR" in said and "Bad CRC-32" in said, said
    else:
        assert "ERROR" in said and "File Length in Container" in said and "C.38.2.2" in said
    assert rss < RSS_CEILING_KIB, (rss, said)


@pytest.mark.parametrize(("name", "kind"), [("bomb.dcm.gz", "GZIP"), ("bomb.tgz", "TARGZIP")])
def test_without_a_length_the_cap_holds(bombs: Path, name: str, kind: str) -> None:
    member = None if kind == "GZIP" else "a/1.dcm"
    args = {"source": str(bombs / name), "container": kind, "member": member, "max_size": 1 << 20}
    rss, said = _read(args)
    assert "ERROR" in said and "1048576 bytes" in said and "max_size" in said, said
    assert rss < RSS_CEILING_KIB, (rss, said)


@pytest.mark.parametrize("length", [1 << 40, (1 << 64) - 1])
def test_a_blob_range_beyond_the_file_is_refused_before_any_allocation(
    bombs: Path, length: int
) -> None:
    args = {"source": str(bombs / "small.blob"), "container": "BLOB", "offset": 0, "length": length}
    rss, said = _read(args)
    assert "ERROR" in said and "beyond the end" in said and "C.38.2.2" in said, said
    assert rss < RSS_CEILING_KIB, (rss, said)


def test_offsets_past_the_platform_size_are_container_errors(bombs: Path) -> None:
    blob = bombs / "small.blob"
    size = blob.stat().st_size
    for offset, length in (((1 << 64) - 1, 4), (size, 1), (-1, 4), (0, -1), (1 << 63, None)):
        with pytest.raises(ContainerError, match=r"PS3\.3 C\.38\.2\.2"):
            read_object(blob, "BLOB", offset=offset, length=length)
        with pytest.raises(ContainerError):
            read_object(blob.read_bytes(), "BLOB", offset=offset, length=length)
    assert read_object(blob, "BLOB", offset=size - 4, length=4) == blob.read_bytes()[-4:]


def test_a_zip_member_larger_than_declared_is_refused(bombs: Path) -> None:
    """bomb.zip declares its 256 MiB: refused before inflating; liar.zip declares 4096 bytes
    and inflates to 256 MiB: counted, never trusted."""
    with pytest.raises(ContainerError, match=r"declared \d+ bytes\) is larger than 1048576"):
        read_object(bombs / "bomb.zip", "ZIP", "a/1.dcm", max_size=1 << 20)
    with pytest.raises(ContainerError, match="Bad CRC-32"):
        read_object(bombs / "liar.zip", "ZIP", "a/1.dcm", max_size=1 << 20)


def test_a_member_header_is_read_through_a_budget(bombs: Path) -> None:
    """iter_members hands out streams: a bomb's header is read, its pixels never inflated."""
    for name, kind in (("bomb.dcm.gz", "GZIP"), ("bomb.zip", "ZIP"), ("bomb.tgz", "TARGZIP")):
        walk = iter_members(bombs / name, ContainerFileType(kind))
        m = next(walk)
        with m.open(budget=4096) as f:
            assert f.read(132)[128:] == b"DICM"
            with pytest.raises(ContainerError, match="header larger than 4096 bytes"):
                f.read(8192)
        walk.close()


def test_a_fifo_is_never_opened_for_reading(tmp_path: Path) -> None:
    """A FIFO would block open() for ever: it is refused as not a regular file."""
    fifo = tmp_path / "x.dcm.gz"
    os.mkfifo(fifo)
    with pytest.raises(ContainerError, match="not a regular file"):
        read_object(fifo, "GZIP")
    with pytest.raises(ContainerError, match="not a regular file"):
        list(iter_members(fifo, "GZIP"))


def test_the_bomb_helpers_make_valid_containers() -> None:
    head = part10_head(10)
    assert zlib.decompress(gzip_bomb([head, 10]), 31) == head + bytes(10)
    data = zip_bomb("m", [head, 3 * _MIB + 5])
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read("m") == head + bytes(3 * _MIB + 5)
