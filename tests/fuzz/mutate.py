"""Byte-level mutators over encoded DICOM data sets, for the fuzz harness.

A mutation is a small tuple ``(kind, a, b)`` of plain numbers; :func:`apply` turns a list of
them into the mutated bytes, deterministically. The numbers are resolved against the input
(``a`` picks a byte, or an element boundary found by :func:`boundaries`), so one list means
the same thing to hypothesis (which shrinks it), to the long random run and to atheris.

Kinds:

* ``flip`` -- one bit flipped;
* ``insert`` / ``delete`` -- bytes inserted or removed;
* ``truncate`` -- the tail cut off;
* ``length`` -- the value length field of an element or item set to an interesting number
  (0, odd, one too many, the undefined length 0xFFFFFFFF, 2^31, 2^32 - 2 ...);
* ``vr`` -- the VR of an explicit VR element replaced (unknown, SQ, UN, a 4-byte-length VR);
* ``dup`` / ``drop`` -- an element duplicated in place, or removed;
* ``value`` -- the value of an element replaced by other bytes of the same length (non-numeric
  IS, a wrong VM, out-of-range numbers), the header kept consistent;
* ``nest`` -- a nesting bomb: thousands of undefined-length sequences, one inside the other,
  inserted at an element boundary.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "KINDS",
    "Boundary",
    "Mutation",
    "apply",
    "boundaries",
    "nesting_bomb",
    "random_mutations",
]

Mutation = tuple[str, int, int]

KINDS = ("flip", "insert", "delete", "truncate", "length", "vr", "dup", "drop", "value", "nest")

_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
_ITEM_TAGS = {0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD}
_UNDEFINED = 0xFFFFFFFF
_INTERESTING_LENGTHS = (
    0,
    1,
    3,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    _UNDEFINED,
    1 << 20,
)
_VRS = (b"XX", b"SQ", b"UN", b"OB", b"UV", b"IS", b"DA", b"US", b"\x00\x00", b"UT")
_VALUES = (
    b"",
    b"\x00",
    b"ABC",
    b"-1",
    b"99999999999999999999",
    b"1\\2\\3",
    b"\xff\xfe",
    b"\\",
    b"1.2.3.",
    b"00000000",
    b"+1e400",
    b"2.25.99999999999999999999999999999999999999999999999999999999999999999999",
)


@dataclass(frozen=True, slots=True)
class Boundary:
    """One element (or item) header found in the data.

    ``start`` is the first byte of the tag, ``length_at``/``length_size`` the value length
    field, ``value_at`` the first value byte and ``end`` the byte after the value (``None``
    for an undefined length).
    """

    start: int
    length_at: int
    length_size: int
    value_at: int
    end: int | None
    explicit_vr: bool


def _tag(data: bytes, at: int) -> int:
    group, elem = struct.unpack_from("<HH", data, at)
    return int(group << 16 | elem)


def boundaries(data: bytes, start: int | None = None, limit: int = 4096) -> list[Boundary]:
    """Element and item headers of an Explicit VR Little Endian stream (Part 10 or bare).

    Walks elements and items, into sequences, stopping at the first thing it cannot parse or
    after `limit` headers. By default a Part 10 file is walked from byte 132 and anything else
    (a DIMSE identifier) from byte 0. A deflated body yields the File Meta elements only.
    """
    out: list[Boundary] = []
    if start is None:
        start = 132 if data[128:132] == b"DICM" else 0
    at = start
    n = len(data)
    while at + 8 <= n and len(out) < limit:
        tag = _tag(data, at)
        if tag in _ITEM_TAGS:
            length = struct.unpack_from("<I", data, at + 4)[0]
            out.append(Boundary(at, at + 4, 4, at + 8, None, False))
            at += 8
            if tag == 0xFFFEE000 and length != _UNDEFINED and length > n:
                break
            continue  # an item's content is walked as elements
        vr = data[at + 4 : at + 6]
        if not (vr.isalpha() and vr.isupper()):
            break
        if vr in _LONG_VRS:
            if at + 12 > n:
                break
            length = struct.unpack_from("<I", data, at + 8)[0]
            length_at, size, value_at = at + 8, 4, at + 12
        else:
            length = struct.unpack_from("<H", data, at + 6)[0]
            length_at, size, value_at = at + 6, 2, at + 8
        if length == _UNDEFINED or vr == b"SQ":
            end = None if length == _UNDEFINED else value_at + length
            out.append(Boundary(at, length_at, size, value_at, end, True))
            at = value_at  # descend into the sequence: its items follow
            continue
        end = value_at + length
        out.append(Boundary(at, length_at, size, value_at, end, True))
        if end > n:
            break
        at = end
        if tag == 0x00020010 and b"1.2.840.10008.1.2.1.99" in data[value_at:end]:
            # deflated body follows the File Meta: nothing more to walk
            meta_end = _meta_end(data, out)
            if meta_end is not None and at >= meta_end:
                break
    return out


def _meta_end(data: bytes, found: Sequence[Boundary]) -> int | None:
    for b in found:
        if _tag(data, b.start) == 0x00020000 and b.end is not None:
            return b.end + int(struct.unpack_from("<I", data, b.value_at)[0])
    return None


def nesting_bomb(depth: int) -> bytes:
    """`depth` undefined-length sequences, one inside the other, each in an undefined-length
    item, never closed past the innermost: (0040,A730) Content Sequence, as any SQ would do."""
    seq = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, _UNDEFINED)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, _UNDEFINED)
    end_item = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    end_seq = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return (seq + item) * depth + (end_item + end_seq) * depth


def _pick(found: Sequence[Boundary], a: int) -> Boundary | None:
    return found[a % len(found)] if found else None


def _one(data: bytes, m: Mutation, found: list[Boundary]) -> bytes:
    kind, a, b = m
    n = len(data)
    if kind == "flip":
        if not n:
            return data
        pos = a % n
        return data[:pos] + bytes([data[pos] ^ (1 << (b % 8))]) + data[pos + 1 :]
    if kind == "insert":
        pos = a % (n + 1)
        chunk = (
            random.Random(b).randbytes(1 + b % 64)
            if b % 3
            else struct.pack("<I", _INTERESTING_LENGTHS[b % 9])
        )
        return data[:pos] + chunk + data[pos:]
    if kind == "delete":
        if not n:
            return data
        pos = a % n
        return data[:pos] + data[pos + 1 + b % 64 :]
    if kind == "truncate":
        return data[: a % (n + 1)]
    el = _pick(found, a)
    if el is None:
        return data
    if kind == "length":
        value = _INTERESTING_LENGTHS[b % len(_INTERESTING_LENGTHS)]
        if b % 5 == 4 and el.end is not None:
            value = el.end - el.value_at + 1  # one byte more than there is
        if el.length_size == 2:
            value &= 0xFFFF
        raw = value.to_bytes(el.length_size, "little")
        return data[: el.length_at] + raw + data[el.length_at + el.length_size :]
    if kind == "vr":
        if not el.explicit_vr:
            return data
        return data[: el.start + 4] + _VRS[b % len(_VRS)] + data[el.start + 6 :]
    if kind in ("dup", "drop"):
        if el.end is None or el.end > n:
            return data
        if kind == "dup":
            return data[: el.end] + data[el.start : el.end] + data[el.end :]
        return data[: el.start] + data[el.end :]
    if kind == "value":
        if el.end is None or el.end > n or el.length_size == 0:
            return data
        width = el.end - el.value_at
        new = _VALUES[b % len(_VALUES)]
        new = (new * (1 + width // max(1, len(new))))[:width] if width else b""
        return data[: el.value_at] + new.ljust(width, b" ") + data[el.end :]
    if kind == "nest":
        depth = 100 * (1 + b % 200)  # 100 .. 20,000 levels
        return data[: el.start] + nesting_bomb(depth) + data[el.start :]
    raise ValueError(f"unknown mutation kind {kind!r}")


def apply(data: bytes, mutations: Sequence[Mutation], *, start: int | None = None) -> bytes:
    """`data` with each mutation applied in turn (boundaries found again after each)."""
    for m in mutations:
        data = _one(data, m, boundaries(data, start) if m[0] not in _BYTE_KINDS else [])
    return data


_BYTE_KINDS = {"flip", "insert", "delete", "truncate"}


def random_mutations(rng: random.Random, max_count: int = 4) -> list[Mutation]:
    """A random list of mutations, for the long run and atheris."""
    return [
        (rng.choice(KINDS), rng.getrandbits(32), rng.getrandbits(16))
        for _ in range(rng.randint(1, max_count))
    ]
