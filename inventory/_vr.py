"""Byte-level encoding of data elements in Explicit VR Little Endian (PS3.5 7.1.2).

This is the hot path of the encoder: pydicom's object model costs tens of microseconds per
element (measured in ``bench/bench_iod.py``), so records are written straight to bytes here. The
shape follows pydicom's ``filewriter``: one small writer per VR family, dispatched by VR.
Only the data dictionary (tag, VR, VM per keyword) comes from pydicom.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from dicom_inventory.errors import InventoryEncodeError
from pydicom.datadict import dictionary_VR, tag_for_keyword

__all__ = [
    "ITEM_END",
    "MAX_CHARS",
    "SINGLE_VALUE_VRS",
    "ITEM_START",
    "ALL_VRS",
    "BINARY_SIZES",
    "CHARSET_CODECS",
    "CHARSET_VRS",
    "LONG_VRS",
    "NUMERIC_FORMATS",
    "binary_number_problem",
    "SEQ_END",
    "TEXT_VRS",
    "VALUE_FORMATS",
    "Field",
    "matching_problem",
    "value_problem",
    "RANGE_VRS",
    "WILDCARD_VRS",
    "encode_attributes",
    "field_for",
    "sequence",
]

#: VRs whose explicit-VR header has 2 reserved bytes and a 4-byte length (PS3.5 Table 7.1-1).
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
#: VRs whose value is character text.
TEXT_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT",
    }
)
#: Every VR of PS3.5 Table 6.2-1 that the reader and the validator know.
ALL_VRS = tuple(
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR "
    "US UT UV".split()
)
#: Text VRs whose value may use the Specific Character Set (others are ASCII only).
CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
#: Python codecs of the single-byte and UTF-8 Specific Character Sets read and written on the fast
#: path (PS3.3 C.12.1.1.2); others go through pydicom's ISO 2022 decoding.
CHARSET_CODECS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf-8"}
#: Text VRs that hold exactly one value (a backslash is part of the value).
SINGLE_VALUE_VRS = frozenset({"LT", "ST", "UT", "UR"})
#: Maximum length of one value in characters (PS3.5 Table 6.2-1); PN is per component group.
MAX_CHARS = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "SH": 16,
    "TM": 14,
    "UI": 64,
}
#: Value syntax per VR (PS3.5 Table 6.2-1), on the ASCII bytes of one value, for the VRs whose
#: values have one: the validator's element checks and the Scope item's key checks use it.
VALUE_FORMATS: dict[str, re.Pattern[bytes]] = {
    "UI": re.compile(rb"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*"),
    "DA": re.compile(rb"[0-9]{8}"),
    "TM": re.compile(rb"[0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?"),
    "DT": re.compile(
        rb"[0-9]{4}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?)?)?)?"
        rb"([+-][0-9]{4})?"
    ),
    "IS": re.compile(rb" *[+-]?[0-9]+ *"),
    "DS": re.compile(rb" *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? *"),
    "CS": re.compile(rb"[A-Z0-9_ ]*"),
    "AE": re.compile(rb"[\x20-\x5b\x5d-\x7e]*"),
}
#: The parts of a DA, TM or DT value (PS3.5 Table 6.2-1), for the calendar and clock checks of
#: :func:`value_problem`; a value that :data:`VALUE_FORMATS` accepts always matches.
_DATE_TIME_PARTS: dict[str, re.Pattern[bytes]] = {
    "DA": re.compile(rb"(?P<Y>[0-9]{4})(?P<M>[0-9]{2})(?P<D>[0-9]{2})"),
    "TM": re.compile(rb"(?P<h>[0-9]{2})((?P<m>[0-9]{2})((?P<s>[0-9]{2})(\.[0-9]+)?)?)?"),
    "DT": re.compile(
        rb"(?P<Y>[0-9]{4})((?P<M>[0-9]{2})((?P<D>[0-9]{2})((?P<h>[0-9]{2})((?P<m>[0-9]{2})"
        rb"((?P<s>[0-9]{2})(\.[0-9]+)?)?)?)?)?)?((?P<zs>[+-])(?P<zh>[0-9]{2})(?P<zm>[0-9]{2}))?"
    ),
}
#: The ranges of each part (PS3.5 Table 6.2-1: hours 00-23, minutes 00-59, seconds 00-60 for
#: a leap second); the day's upper bound is the month's length (Gregorian calendar).
_PART_RANGES = {"M": ("month", 1, 12), "h": ("hour", 0, 23), "m": ("minute", 0, 59)}
_SECONDS = ("second", 0, 60)
#: The offset from UTC of a DT value, &ZZXX, lies in -1200 to +1400 (PS3.5 Table 6.2-1).
_UTC_OFFSET_RANGE = (-1200, 1400)
_VR_NAMES = {"DA": "date", "TM": "time", "DT": "date-time"}
#: The range of an IS value (PS3.5 Table 6.2-1).
_IS_RANGE = (-(2**31), 2**31 - 1)


def _days_in_month(year: int, month: int) -> int:
    """The length of a month of the Gregorian calendar (any year, 0000 included)."""
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def value_problem(vr: str, value: bytes) -> str | None:
    """Why one value is not valid for its VR (PS3.5 6.2, Table 6.2-1), or ``None``.

    The one check of a single value's syntax: the pattern of :data:`VALUE_FORMATS`, and for
    DA, TM and DT the calendar and the clock as well (a DA is a date of the Gregorian
    calendar, so ``20211301`` is not one; TM hours are 00-23, minutes 00-59, seconds 00-60;
    a DT offset from UTC lies in -1200 to +1400); an IS lies in -2^31..2^31-1. VRs without
    a syntax pass. A query key's other forms (ranges, lists, wild cards) are checked by
    :func:`matching_problem`, on top of this one.

    Parameters
    ----------
    vr : str
        The value representation.
    value : bytes
        One value (no backslash), its padding removed.

    Returns
    -------
    str or None
        A phrase such as ``"month 13 is not in 01-12"``, fit to follow the value in a message
        (callers add the value, the attribute and where it was found).
    """
    fmt = VALUE_FORMATS.get(vr)
    if fmt is None:
        return None
    if not fmt.fullmatch(value):
        return f"is not valid for VR {vr} (PS3.5 Table 6.2-1)"
    if vr == "IS" and not _IS_RANGE[0] <= int(value) <= _IS_RANGE[1]:
        return "is not in -2^31..2^31-1 (VR IS, PS3.5 Table 6.2-1)"
    parts = _DATE_TIME_PARTS.get(vr)
    match = parts.fullmatch(value) if parts is not None else None
    if match is None:
        return None
    found = {k: int(v) for k, v in match.groupdict().items() if v is not None and k != "zs"}
    what = _VR_NAMES[vr]
    for key, (name, low, high) in (*_PART_RANGES.items(), ("s", _SECONDS)):
        if key in found and not low <= found[key] <= high:
            return (
                f"is not a valid {what}: {name} {found[key]:02d} is not in {low:02d}-{high:02d} "
                "(PS3.5 Table 6.2-1)"
            )
    if "D" in found:
        days = _days_in_month(found["Y"], found["M"])
        if not 1 <= found["D"] <= days:
            return (
                f"is not a valid {what}: day {found['D']:02d} is not in 01-{days} for month "
                f"{found['M']:02d} of {found['Y']:04d} (a date of the Gregorian calendar, "
                "PS3.5 Table 6.2-1)"
            )
    if "zh" in found:
        offset = (-1 if match["zs"] == b"-" else 1) * (found["zh"] * 100 + found["zm"])
        low, high = _UTC_OFFSET_RANGE
        if found["zm"] > _PART_RANGES["m"][2] or not low <= offset <= high:
            return (
                f"is not a valid {what}: the offset from UTC {match[0][-5:].decode()} is not in "
                "-1200 to +1400 (PS3.5 Table 6.2-1)"
            )
    return None


#: The VRs whose matching keys may hold ``*`` and ``?`` (PS3.4 C.2.2.2.4).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: The VRs whose keys may be a range, ``BEGIN-END``, ``BEGIN-`` or ``-END`` (PS3.4 C.2.2.2.5).
RANGE_VRS = frozenset({"DA", "TM", "DT"})


def _single_problem(vr: str, value: str) -> str | None:
    """Why one text value is not valid for `vr`: its length, then :func:`value_problem`."""
    limit = MAX_CHARS.get(vr)
    if limit is not None and len(value) > limit:
        return f"is longer than {limit} characters (VR {vr}, PS3.5 Table 6.2-1)"
    return value_problem(vr, value.encode("utf-8", "replace"))


def matching_problem(vr: str, value: str) -> str | None:
    """Why `value` cannot be a matching key of `vr` (PS3.4 C.2.2.2), or ``None``.

    The one check of a query key's text against its VR, layered on :func:`value_problem`
    (syntax, calendar and clock) and :data:`MAX_CHARS`, with the forms a key may take besides
    a single value: empty (Universal Matching, C.2.2.2.3); values separated by a backslash, a
    list of UIDs among them (C.2.2.2.2), each checked; a range ``BEGIN-END``, ``BEGIN-`` or
    ``-END`` of DA, TM or DT values (C.2.2.2.5; a DT whose ``-`` is its offset from UTC is one
    value), each end checked; ``*`` and ``?`` in the VRs of :data:`WILDCARD_VRS` (C.2.2.2.4).
    Whether a range begins after it ends is the caller's concern (it matches nothing).

    Parameters
    ----------
    vr : str
        The value representation of the key (a text VR).
    value : str
        The key's value, its padding removed.

    Returns
    -------
    str or None
        A phrase fit to follow the value in a message, as :func:`value_problem` gives.
    """
    if value == "":
        return None
    if "\\" in value and vr not in SINGLE_VALUE_VRS:  # values or a list of UIDs (C.2.2.2.2)
        for one in value.split("\\"):
            problem = matching_problem(vr, one) if one else "is an empty value in a list"
            if problem:
                return f"{one!r} {problem}"
        return None
    if vr in RANGE_VRS and "-" in value:  # Range Matching, C.2.2.2.5
        if _single_problem(vr, value) is None:
            return None  # a DT whose "-" is its offset from UTC
        problems = []
        for at in (i for i, c in enumerate(value) if c == "-"):
            begin, end = value[:at], value[at + 1 :]
            found = [
                f"{one!r} {problem}"
                for one in (begin, end)
                if one and (problem := _single_problem(vr, one))
            ]
            if not found and (begin or end):
                return None
            problems += found
        what = problems[0] if problems else "is an empty range"
        return f"{what} (a range is BEGIN-, -END or BEGIN-END, PS3.4 C.2.2.2.5)"
    if ("*" in value or "?" in value) and vr in WILDCARD_VRS:  # Wild Card Matching, C.2.2.2.4
        return None
    return _single_problem(vr, value)


#: ``struct`` formats of the binary numeric VRs (PS3.5 Table 6.2-1), little endian.
NUMERIC_FORMATS = {
    "US": "H",
    "SS": "h",
    "UL": "I",
    "SL": "i",
    "UV": "Q",
    "SV": "q",
    "FL": "f",
    "FD": "d",
}
#: Bytes per value of the fixed-size binary VRs (AT: a group and an element number).
BINARY_SIZES = {**{vr: struct.calcsize(f) for vr, f in NUMERIC_FORMATS.items()}, "AT": 4}

ITEM_START = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"  # (FFFE,E000), undefined length
ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"  # (FFFE,E00D)
SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD)

_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


class Field:
    """A data element's tag, VR and pre-encoded explicit-VR header prefix."""

    __slots__ = ("tag", "vr", "keyword", "prefix", "long")

    def __init__(self, keyword: str, tag: int, vr: str) -> None:
        self.keyword = keyword
        self.tag = tag
        self.vr = vr
        self.long = vr in LONG_VRS
        self.prefix = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
        if self.long:
            self.prefix += b"\x00\x00"

    def raw(self, value: bytes) -> bytes:
        """Return the whole element for an already encoded, even-length `value`."""
        n = len(value)
        if self.long:
            return self.prefix + n.to_bytes(4, "little") + value
        if n > 0xFFFF:
            raise InventoryEncodeError(
                f"{self.keyword} ({self.tag >> 16:04X},{self.tag & 0xFFFF:04X}): value of {n} "
                f"bytes is too long for VR {self.vr} (at most 65534, PS3.5 7.1.2)"
            )
        return self.prefix + n.to_bytes(2, "little") + value

    def sequence_start(self) -> bytes:
        """Return the header of this sequence with undefined length (PS3.5 7.5.1)."""
        return self.prefix + b"\xff\xff\xff\xff"


@cache
def field_for(keyword: str) -> Field:
    """Return the :class:`Field` for a dictionary `keyword`.

    Raises
    ------
    InventoryEncodeError
        If `keyword` is not in pydicom's data dictionary or has an ambiguous VR.
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise InventoryEncodeError(f"{keyword!r} is not a DICOM keyword (PS3.6 data dictionary)")
    vr = dictionary_VR(tag)
    if " or " in vr:  # e.g. "US or SS": pick the first, as PS3.5 Annex A does for Explicit VR
        vr = vr.split(" or ")[0]
    return Field(keyword, tag, vr)


def sequence(keyword: str, bodies: Iterable[bytes]) -> bytes:
    """Return sequence `keyword` with one undefined-length item per encoded body."""
    return (
        field_for(keyword).sequence_start()
        + b"".join([ITEM_START + b + ITEM_END for b in bodies])
        + SEQ_END
    )


def _text_bytes(f: Field, value: Any, codec: str) -> bytes:
    if isinstance(value, (tuple, list)):
        if f.vr in SINGLE_VALUE_VRS and len(value) > 1:
            raise InventoryEncodeError(f"{f.keyword}: VR {f.vr} holds one value, got {len(value)}")
        values = [str(v) for v in value]
    else:
        values = [str(value)]
    limit = MAX_CHARS.get(f.vr)
    for v in values:
        if limit is not None and len(v) > limit:
            raise InventoryEncodeError(
                f"{f.keyword}: value {v!r} is longer than {limit} characters (VR {f.vr}, PS3.5 6.2)"
            )
        if f.vr == "UI" and v and not _UID_RE.fullmatch(v):
            raise InventoryEncodeError(f"{f.keyword}: {v!r} is not a valid UID (PS3.5 9.1)")
        if f.vr not in SINGLE_VALUE_VRS and "\\" in v:
            raise InventoryEncodeError(f"{f.keyword}: value {v!r} contains a backslash (PS3.5 6.2)")
    text = "\\".join(values)
    try:
        raw = text.encode(codec if f.vr in CHARSET_VRS else "ascii")
    except UnicodeEncodeError as exc:
        where = "the Specific Character Set" if f.vr in CHARSET_VRS else f"VR {f.vr} (ASCII only)"
        raise InventoryEncodeError(f"{f.keyword}: {text!r} cannot be encoded in {where}") from exc
    if len(raw) & 1:
        raw += b"\x00" if f.vr == "UI" else b" "
    return raw


def _encode_value(f: Field, value: Any, codec: str) -> bytes:
    vr = f.vr
    if value is None or value == "" or value == ():
        return f.raw(b"") if vr != "SQ" else f.sequence_start() + SEQ_END
    if vr in TEXT_VRS:
        return f.raw(_text_bytes(f, value, codec))
    if vr == "SQ":
        if isinstance(value, Mapping):
            value = [value]
        return sequence(f.keyword, (encode_attributes(i, codec) for i in value))
    if vr in NUMERIC_FORMATS:
        values = value if isinstance(value, (tuple, list)) else (value,)
        try:
            return f.raw(struct.pack(f"<{len(values)}{NUMERIC_FORMATS[vr]}", *values))
        except struct.error as exc:
            raise InventoryEncodeError(
                f"{f.keyword}: {value!r} does not fit VR {vr}: {exc}"
            ) from exc
    if vr in ("OB", "OW", "UN", "OD", "OF", "OL", "OV"):
        if not isinstance(value, (bytes, bytearray)):
            raise InventoryEncodeError(
                f"{f.keyword}: VR {vr} needs bytes, got {type(value).__name__}"
            )
        raw = bytes(value)
        return f.raw(raw + b"\x00" if len(raw) & 1 else raw)
    if vr == "AT":
        values = value if isinstance(value, (tuple, list)) else (value,)
        return f.raw(b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in values))
    raise InventoryEncodeError(f"{f.keyword}: VR {vr} is not supported by the encoder")


def encode_element(keyword: str, value: Any, codec: str) -> tuple[int, bytes]:
    """Encode one element from its keyword and Python value; return ``(tag, bytes)``.

    Scope of Inventory keys are no exception: ranges and UID lists are written in their
    matching sequences (:mod:`dicom_inventory.scope`), never inside one DA or UI element.
    """
    f = field_for(keyword)
    return f.tag, _encode_value(f, value, codec)


def encode_attributes(attrs: Mapping[str, Any], codec: str) -> bytes:
    """Encode a ``{keyword: value}`` mapping as a data set body, elements in tag order."""
    return b"".join(b for _, b in sorted(encode_element(k, v, codec) for k, v in attrs.items()))


def merge_other(
    elements: dict[int, bytes], other: Mapping[str, Any], codec: str, where: str
) -> bytes:
    """Merge extra attributes into `elements` (``{tag: bytes}``) and return the body bytes.

    Raises
    ------
    InventoryEncodeError
        If an extra attribute repeats one the record already models.
    """
    for keyword, value in other.items():
        tag, data = encode_element(keyword, value, codec)
        if tag in elements:
            raise InventoryEncodeError(
                f"{where}: {keyword} is a modelled attribute of the record; set the field, "
                "not `other`"
            )
        elements[tag] = data
    return b"".join(elements[t] for t in sorted(elements))


def binary_number_problem(vr: str, text: str) -> str | None:
    """Why `text` is not a value of the binary numeric VR `vr` (US, SS, UL, SL, UV, SV, FL, FD).

    The one check of a number typed as text (a command-line key, an archive update): an
    integer within the range of the VR's size and sign, or a number for FL and FD (PS3.5
    Table 6.2-1).
    """
    if vr in ("FL", "FD"):
        try:
            float(text)
        except ValueError:
            return f"is not a number (VR {vr}, PS3.5 Table 6.2-1)"
        return None
    bits = 8 * struct.calcsize(NUMERIC_FORMATS[vr])
    signed = not vr.startswith("U")
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    try:
        number = int(text)
    except ValueError:
        return f"is not an integer (VR {vr}, PS3.5 Table 6.2-1)"
    if not low <= number <= high:
        return f"is not in {low}..{high} (VR {vr}, PS3.5 Table 6.2-1)"
    return None
