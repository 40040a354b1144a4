"""The one container reader (PS3.3 C.38.2.2): every Container File Type, from a file and from
bytes, and its one safety rule (regular members only)."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from dicom_inventory.containers import ContainerError, Member, iter_members, read_object
from dicom_inventory.enum import ContainerFileType

DATA = b"DICM-bytes-of-one-object"


def _tar(path: Path, gz: bool) -> None:
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("a/1.dcm")
        info.size = len(DATA)
        t.addfile(info, io.BytesIO(DATA))
        link = tarfile.TarInfo("link.dcm")
        link.type, link.linkname = tarfile.SYMTYPE, "a/1.dcm"
        t.addfile(link)


def test_every_container_type_reads_the_same_object(tmp_path: Path) -> None:
    plain = tmp_path / "1.dcm"
    plain.write_bytes(b"xx" + DATA + b"yy")
    assert read_object(plain, None, offset=2, length=len(DATA)) == DATA
    assert read_object(plain, ContainerFileType.BLOB, offset=2, length=len(DATA)) == DATA
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a/1.dcm", DATA)
    assert read_object(z, "ZIP", "a/1.dcm") == DATA
    assert read_object(z.read_bytes(), "ZIP", "a/1.dcm") == DATA  # downloaded bytes
    for kind, name in ((ContainerFileType.TAR, "s.tar"), (ContainerFileType.TARGZIP, "s.tgz")):
        _tar(tmp_path / name, kind is ContainerFileType.TARGZIP)
        assert read_object(tmp_path / name, kind, "a/1.dcm") == DATA
    g = tmp_path / "1.dcm.gz"
    g.write_bytes(gzip.compress(DATA))
    assert read_object(g, ContainerFileType.GZIP) == DATA


def test_a_link_member_is_refused_and_a_missing_member_named(tmp_path: Path) -> None:
    _tar(tmp_path / "s.tar", False)
    with pytest.raises(ContainerError, match="TAR member 'link.dcm' is a link: refused"):
        read_object(tmp_path / "s.tar", "TAR", "link.dcm")
    with pytest.raises(ContainerError, match="no member 'b.dcm'"):
        read_object(tmp_path / "s.tar", "TAR", "b.dcm")
    with pytest.raises(ContainerError, match="not one of"):
        read_object(tmp_path / "s.tar", "RAR", "x")
    with pytest.raises(OSError):  # ContainerError is an OSError too, for the archive's callers
        read_object(tmp_path / "missing.zip", "ZIP", "x")


def test_walking_a_container_applies_the_same_rule(tmp_path: Path) -> None:
    """Ingest walks containers through iter_members: links are refused, folders skipped."""
    _tar(tmp_path / "s.tgz", True)
    walked = []
    for m in iter_members(tmp_path / "s.tgz", ContainerFileType.TARGZIP):
        data = b"" if m.refused else m.open().read()  # a stream, valid while the walk is here
        walked.append((m.name, m.offset, m.length, data, m.refused is None))
    assert walked == [
        ("a/1.dcm", 512, len(DATA), DATA, True),  # offsets in the inflated TAR
        ("link.dcm", 1536, 0, b"", False),
    ]
    with pytest.raises(ContainerError, match="is a link: refused"):
        Member("link.dcm", None, None, "is a link: refused").open()
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a/", b"")
        zf.writestr("a/1.dcm", DATA)
    walk = iter_members(z, "ZIP")
    m = next(walk)
    assert m == Member("a/1.dcm", None, None) and m.open().read() == DATA
    assert next(walk, None) is None


def test_a_blob_is_cut_at_each_part10_preamble(tmp_path: Path) -> None:
    obj = b"\0" * 128 + b"DICM\x02\x00\x00\x00UL\x04\x00" + b"rest"
    blob = tmp_path / "x.blob"
    blob.write_bytes(b"junk" + obj + obj)
    walked = []
    for m in iter_members(blob, "BLOB"):  # each a view of its own byte range, not a copy
        with m.open() if m.refused is None else io.BytesIO(b"") as f:
            walked.append((m.offset, m.length, m.refused is None, f.read(), f.seek(0, 2)))
    assert walked == [
        (0, 4, False, b"", 0),
        (4, len(obj), True, obj, len(obj)),
        (4 + len(obj), len(obj), True, obj, len(obj)),
    ]


def test_a_blob_magic_across_a_chunk_boundary_is_found(tmp_path: Path) -> None:
    """The BLOB is scanned in 1 MiB chunks: a prefix cut by a chunk edge is still seen."""
    obj = b"\0" * 128 + b"DICM\x02\x00\x00\x00UL\x04\x00" + b"rest"
    first = obj + b"\0" * ((1 << 20) - len(obj) - 128 - 5)  # the 2nd DICM straddles 1 MiB
    blob = tmp_path / "x.blob"
    blob.write_bytes(first + obj)
    assert [(m.offset, m.length) for m in iter_members(blob, "BLOB")] == [
        (0, len(first)),
        (len(first), len(obj)),
    ]
    (tmp_path / "empty.blob").write_bytes(b"")
    with pytest.raises(ContainerError, match="empty BLOB"):
        list(iter_members(tmp_path / "empty.blob", "BLOB"))


def test_a_bounded_reader_serves_short_backward_seeks_from_what_it_read() -> None:
    """A parser peeks and steps back: the view gives the same bytes, and the budget counts
    what was read from the stream once."""
    from dicom_inventory.containers import BoundedReader

    raw = io.BytesIO(bytes(range(256)) * 4)
    with BoundedReader(raw, budget=600, base=10, size=700, close_raw=False) as r:
        assert r.read(4) == bytes(range(10, 14))
        r.seek(-3, io.SEEK_CUR)
        assert r.read(5) == bytes(range(11, 16)) and r.tell() == 6
        r.seek(300)  # forward: skipped, not counted
        assert r.read(2) == bytes([(310) % 256, 311 % 256])
        r.seek(0)  # far back: the stream itself is rewound
        assert r.read(3) == bytes(range(10, 13))
        r.seek(0, io.SEEK_END)
        assert r.tell() == 700 and r.read() == b""
        r.seek(100)
        with pytest.raises(ContainerError, match="header larger than 600 bytes"):
            r.read()
