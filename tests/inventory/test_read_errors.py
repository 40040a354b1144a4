"""Bad input: the reader gives a clear error naming file, offset and tag, never a traceback of
another kind, a hang or unbounded memory (issue 4, "Bad input")."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    InventoryReader,
    InventoryReadError,
    NotDicomError,
    ReadPolicy,
    encode_inventory,
    synthetic_studies,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import DeflatedExplicitVRLittleEndian

HEADER = InventoryHeader(
    sop_instance_uid="2.25.5",
    inventory_level=InventoryLevel.INSTANCE,
    content_date="20261124",
    content_time="080000",
)
VALID = encode_inventory(HEADER, synthetic_studies(3, series_per_study=2, instances_per_series=3))


def read_all(path: Path, policy: ReadPolicy | None = None) -> InventoryReader:
    with InventoryReader(path, policy=policy) as r:
        for _ in r.studies():
            pass
        return r


def test_non_dicom_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is not DICOM at all\n" * 20)
    with pytest.raises(NotDicomError) as info:
        read_all(p)
    assert (
        str(p) in str(info.value) and "DICM" in str(info.value) and "offset 128" in str(info.value)
    )


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(NotDicomError):
        read_all(empty)
    with pytest.raises(InventoryReadError, match="cannot open"):
        read_all(tmp_path / "absent.dcm")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, len(VALID) - 1))
def test_any_truncation_is_an_error_or_an_incomplete_header(tmp_path: Path, cut: int) -> None:
    p = tmp_path / "cut.dcm"
    p.write_bytes(VALID[:cut])
    try:
        r = read_all(p)
    except InventoryReadError as exc:
        assert str(p) in str(exc)
        assert exc.offset is not None or isinstance(exc, NotDicomError) or "SOP Class" in str(exc)
        return
    # Cut exactly at an element boundary after the records: readable, but the trailing
    # Type 1 counts are missing (the validator reports that).
    assert 0x00080428 not in r.raw_header


def test_truncated_inside_records_names_offset_and_tag(tmp_path: Path) -> None:
    p = tmp_path / "cut.dcm"
    p.write_bytes(VALID[: len(VALID) // 2])
    with pytest.raises(InventoryReadError) as info:
        read_all(p)
    msg = str(info.value)
    assert "truncated" in msg and "offset" in msg and "tag (" in msg


def test_wrong_sop_class(tmp_path: Path) -> None:
    old = b"1.2.840.10008.5.1.4.1.1.201.1\x00"
    data = VALID.replace(old, b"1.2.840.10008.5.1.4.1.1.2".ljust(len(old), b"\x00"))
    p = tmp_path / "ct.dcm"
    p.write_bytes(data)
    with pytest.raises(InventoryReadError, match="expected Inventory Storage"):
        read_all(p)


def test_file_meta_only(tmp_path: Path) -> None:
    meta_len = 132 + 12 + struct.unpack_from("<I", VALID, 140)[0]
    p = tmp_path / "meta.dcm"
    p.write_bytes(VALID[:meta_len])
    with pytest.raises(InventoryReadError, match="SOP Class UID is 'missing'"):
        read_all(p)


def _patch_first(data: bytes, element: bytes, new_length: int) -> bytes:
    """Give the first `element` header (tag + VR, short form) a new 16-bit length."""
    at = data.index(element)
    return data[: at + 6] + struct.pack("<H", new_length) + data[at + 8 :]


def test_huge_length_claim_is_refused_without_reading_it(tmp_path: Path) -> None:
    # (0008,0409) File Access URI is UR: long form, 4-byte length
    at = VALID.index(b"\x08\x00\x09\x04UR")
    data = VALID[: at + 8] + struct.pack("<I", 1 << 30) + VALID[at + 12 :]
    p = tmp_path / "huge.dcm"
    p.write_bytes(data)
    tracemalloc.start()
    with pytest.raises(InventoryReadError) as info:
        read_all(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 1024 * 1024
    assert "(0008,0409)" in str(info.value) and f"offset {at}" in str(info.value)
    assert "runs past the end of the file" in str(info.value)


def test_huge_length_in_deflated_stream_hits_the_policy_limit(tmp_path: Path) -> None:
    import zlib

    data = encode_inventory(
        HEADER, synthetic_studies(2), transfer_syntax=DeflatedExplicitVRLittleEndian
    )
    meta_len = 132 + 12 + struct.unpack_from("<I", data, 140)[0]
    body = zlib.decompress(data[meta_len:], -15)
    at = body.index(b"\x08\x00\x09\x04UR")
    body = body[: at + 8] + struct.pack("<I", 1 << 30) + body[at + 12 :]
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    p = tmp_path / "deflated.dcm"
    p.write_bytes(data[:meta_len] + c.compress(body) + c.flush())
    with pytest.raises(InventoryReadError, match="max_element_length") as info:
        read_all(p, ReadPolicy(max_element_length=1 << 20))
    assert "(0008,0409)" in str(info.value)


def test_corrupt_deflate_stream(tmp_path: Path) -> None:
    data = encode_inventory(
        HEADER, synthetic_studies(2), transfer_syntax=DeflatedExplicitVRLittleEndian
    )
    p = tmp_path / "bad.dcm"
    meta_len = 132 + 12 + struct.unpack_from("<I", data, 140)[0]
    p.write_bytes(data[:meta_len] + b"\xff" * 64 + data[meta_len + 64 :])
    with pytest.raises(
        InventoryReadError, match="deflated data set is corrupt|invalid VR|expected"
    ):
        read_all(p)


def test_invalid_vr_is_named(tmp_path: Path) -> None:
    at = VALID.index(b"\x20\x00\x13\x00IS")  # Instance Number
    p = tmp_path / "vr.dcm"
    p.write_bytes(VALID[: at + 4] + b"Q!" + VALID[at + 6 :])
    with pytest.raises(InventoryReadError) as info:
        read_all(p)
    assert (
        "invalid VR" in str(info.value)
        and "(0020,0013)" in str(info.value)
        and f"offset {at}" in str(info.value)
    )


def test_nesting_bomb_is_refused(tmp_path: Path) -> None:
    """A file of deeply nested sequences stops at the depth limit instead of recursing on."""
    head = VALID[: VALID.index(b"\x08\x00\x23\x04SQ")]
    seq = b"\x08\x00\x23\x04SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff"
    nested = b"\x08\x00\x1a\x04SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff" * 5000
    p = tmp_path / "bomb.dcm"
    p.write_bytes(head + seq + nested)
    with pytest.raises(InventoryReadError, match="nested deeper"):
        read_all(p)


def test_an_item_larger_than_the_policy_is_refused(tmp_path: Path) -> None:
    data = encode_inventory(
        HEADER, synthetic_studies(1, series_per_study=4, instances_per_series=400)
    )
    p = tmp_path / "big.dcm"
    p.write_bytes(data)
    with pytest.raises(InventoryReadError, match="max_item_bytes"):
        read_all(p, ReadPolicy(max_item_bytes=64 * 1024, chunk_size=16 * 1024))
    # with room for it, the same file reads
    with InventoryReader(p, policy=ReadPolicy(chunk_size=16 * 1024)) as r:
        (study,) = list(r.studies())
    assert sum(len(s.instances) for s in study.series) == 1600  # type: ignore[arg-type]
