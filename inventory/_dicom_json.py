"""The DICOM JSON form (PS3.18 F.2) of raw data sets, without building pydicom elements.

Why our own: ``bench/bench_web.py`` (2026-12-07, 1,000,000 records) measured DICOM JSON
retrieve at about 6,900 records/s, 77 times slower than Inventory GET of the same inventory;
the profile put 74% of that time in pydicom's ``Dataset.to_json_dict`` (value conversion and
validation per element) and 23% in building the pydicom data sets. An inventory's records are
a few VRs with plain values (UIDs, codes, dates, names, counts, offsets), so this module turns
the raw bytes of the streaming parser (:mod:`dicom_inventory._parse`) straight into the dict
``to_json_dict`` would give.

pydicom stays the reference: :func:`dataset_json` produces exactly pydicom's output (a property
test holds the two equal), and any element whose value is not plainly one of the cases below
-- leading or inner spaces pydicom treats per VR, a person name with component groups, text
with ISO 2022 escapes, a number that does not parse, an ambiguous VR -- is handed to pydicom
itself, element by element. What is written here is only the common case, not a second
reading of F.2.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from struct import Struct
from typing import Any

from dicom_inventory import tags
from dicom_inventory._parse import RawDataset
from pydicom.charset import convert_encodings

__all__ = ["Fallback", "data_set_encodings", "dataset_json"]

#: Converts one raw element with pydicom: ``(tag, raw element, encodings) -> JSON dict``.
Fallback = Callable[[int, tuple[str, Any, int], "str | list[str]"], dict[str, Any]]

_NUMBERS: dict[str, tuple[int, str, bool]] = {  # size, struct code, float
    "US": (2, "H", False),
    "SS": (2, "h", False),
    "UL": (4, "I", False),
    "SL": (4, "i", False),
    "UV": (8, "Q", False),
    "SV": (8, "q", False),
    "FL": (4, "f", True),
    "FD": (8, "d", True),
}
_STRUCTS: dict[tuple[str, int], Struct] = {}
_UIDS = re.compile(r"[0-9.\\\\]*")
_INT = re.compile(r"[+-]?[0-9]+")


class _NotPlain(Exception):
    """The value is not one of the plain cases: pydicom converts it."""


def _text(value: bytes, encodings: str | list[str]) -> str | None:
    """A text value decoded as pydicom's ``decode_bytes`` does when no escape is present.

    Without an ESC byte pydicom decodes the whole value with the first encoding of the
    Specific Character Set; with one (ISO 2022 code extensions, PS3.5 6.1.2.5) it decodes
    fragment by fragment, which is left to pydicom (_NotPlain). An unknown codec (LookupError)
    or undecodable bytes (UnicodeDecodeError) go to pydicom too, which warns and replaces.
    """
    if b"\x1b" in value:
        raise _NotPlain
    return _decoded(value, encodings if isinstance(encodings, str) else encodings[0])


def _plain_values(text: str) -> list[str]:
    """Backslash-separated values that need no per-VR trimming (else _NotPlain)."""
    values = text.split("\\")
    if " " in text and any(v != v.strip() for v in values):
        raise _NotPlain
    return values


def _decoded(value: bytes, codec: str) -> str | None:
    """The text of a value, trailing spaces removed; ``None`` when empty (NUL: _NotPlain)."""
    text = value.decode(codec)
    if "\0" in text:
        raise _NotPlain  # NUL is UI padding only; pydicom keeps it elsewhere, VR by VR
    return text.rstrip(" ") or None


def _ascii(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = _decoded(value, "ascii")
    return {"vr": vr} if text is None else {"vr": vr, "Value": _plain_values(text)}


def _ui(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = value.decode("ascii").rstrip("\0 ")
    if not text:
        return {"vr": vr}
    if not _UIDS.fullmatch(text):
        raise _NotPlain
    return {"vr": vr, "Value": text.split("\\")}


def _text_multi(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = _text(value, encodings)
    if text is None:
        return {"vr": vr}
    return {"vr": vr, "Value": [v.rstrip(" ") for v in text.split("\\")]}


def _text_single(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = _text(value, encodings)
    return {"vr": vr} if text is None else {"vr": vr, "Value": [text]}


def _ur(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = _decoded(value, "ascii")
    if text is None:
        return {"vr": vr}
    if text != text.lstrip():
        raise _NotPlain
    return {"vr": vr, "Value": [text]}


def _pn(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = _text(value, encodings)
    if text is None:
        return {"vr": vr}
    values = _plain_values(text)
    if "=" in text or not all(values):
        raise _NotPlain  # component groups, empty values: pydicom's PersonName
    return {"vr": vr, "Value": [{"Alphabetic": v} for v in values]}


def _is(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = _decoded(value, "ascii")
    if text is None:
        return {"vr": vr}
    values = _plain_values(text)
    if not all(_INT.fullmatch(v) for v in values):
        raise _NotPlain
    return {"vr": vr, "Value": [int(v) for v in values]}


def _ds(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    text = _decoded(value, "ascii")
    if text is None:
        return {"vr": vr}
    try:
        numbers = [float(v) for v in _plain_values(text)]
    except ValueError:
        raise _NotPlain from None
    if not all(math.isfinite(n) for n in numbers):
        raise _NotPlain
    return {"vr": vr, "Value": numbers}


def _number(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    if not value:
        return {"vr": vr}
    size, code, is_float = _NUMBERS[vr]
    if len(value) % size:
        raise _NotPlain
    n = len(value) // size
    st = _STRUCTS.get((code, n))
    if st is None:
        st = _STRUCTS[(code, n)] = Struct(f"<{n}{code}")
    numbers = list(st.unpack(value))
    if is_float and not all(math.isfinite(x) for x in numbers):
        raise _NotPlain
    return {"vr": vr, "Value": numbers}


def _at(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    if not value:
        return {"vr": vr}
    if len(value) % 4:
        raise _NotPlain
    pairs = _number("US", value, encodings)["Value"]
    tags_ = [f"{g:04X}{e:04X}" for g, e in zip(pairs[::2], pairs[1::2], strict=True)]
    return {"vr": vr, "Value": tags_}


def _binary(vr: str, value: bytes, encodings: str | list[str]) -> dict[str, Any]:
    if not value:
        return {"vr": vr}
    return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}


#: The writer of each VR's plain case (PS3.18 F.2.3); a VR not here goes to pydicom.
_WRITERS: dict[str, Callable[[str, bytes, str | list[str]], dict[str, Any]]] = {
    **dict.fromkeys(("AE", "AS", "CS", "DA", "DT", "TM"), _ascii),
    "UI": _ui,
    **dict.fromkeys(("SH", "LO", "UC"), _text_multi),
    **dict.fromkeys(("LT", "ST", "UT"), _text_single),
    "UR": _ur,
    "PN": _pn,
    "IS": _is,
    "DS": _ds,
    **dict.fromkeys(_NUMBERS, _number),
    "AT": _at,
    **dict.fromkeys(("OB", "OD", "OF", "OL", "OV", "OW", "UN"), _binary),
}


def data_set_encodings(raw: RawDataset, inherited: str | list[str]) -> str | list[str]:
    """The Python encodings of a data set: its own (0008,0005), else its parent's (PS3.5 6.1)."""
    el = raw.get(tags.SpecificCharacterSet)
    if el is None or not isinstance(el[1], bytes):
        return inherited
    terms = [t.strip() for t in el[1].decode("ascii", "replace").split("\\")]
    if not any(terms):
        return inherited
    try:
        return convert_encodings([t or "ISO_IR 6" for t in terms])
    except (LookupError, ValueError):
        return inherited  # an unknown term: pydicom's default, as when it reads the file


def dataset_json(raw: RawDataset, encodings: str | list[str], fallback: Fallback) -> dict[str, Any]:
    """The DICOM JSON object of `raw` (PS3.18 F.2), as pydicom's ``to_json_dict`` gives it.

    Parameters
    ----------
    raw : RawDataset
        ``{tag: (vr, value bytes or items, offset)}`` from the streaming parser.
    encodings : str or list of str
        The Python encodings inherited from the enclosing data set (its own (0008,0005), if
        present, replaces them for its values and its items, PS3.5 6.1.2.5).
    fallback : callable
        Converts one element with pydicom, for values outside the plain cases.
    """
    own = data_set_encodings(raw, encodings)
    out: dict[str, Any] = {}
    writers = _WRITERS
    for tag, element in raw.items():
        vr, value, _ = element
        key = f"{tag:08X}"
        try:
            if isinstance(value, list):
                if vr != "SQ":
                    raise _NotPlain
                out[key] = {"vr": "SQ", "Value": [dataset_json(i, own, fallback) for i in value]}
            else:
                out[key] = writers[vr](vr, value, own)
        except (_NotPlain, KeyError, UnicodeDecodeError, LookupError):  # KeyError: no writer
            out[key] = fallback(tag, element, own)
    return out
