"""The raw DICOM JSON writer equals pydicom's ``to_json_dict``, element by element.

:mod:`dicom_inventory._dicom_json` writes the common cases itself (for speed) and hands the
rest to pydicom; whichever path an element takes, the JSON must be pydicom's. The values drawn
here are the awkward ones: spaces before, after and between values, empty values, NULs,
backslashes, ``=`` and ``^`` in names, non-ASCII text in several character sets, numbers that
do not parse, byte lengths that are not a multiple of the value size.
"""

from __future__ import annotations

import json
import struct
import warnings
from typing import Any

from dicom_inventory._dicom_json import dataset_json
from dicom_inventory.media import _by_pydicom
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import config
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

#: A tag per VR (any public tag: the raw element carries its VR).
TAGS = {
    "AE": 0x00080054,
    "AS": 0x00101010,
    "CS": 0x00080060,
    "DA": 0x00080020,
    "DT": 0x0008002A,
    "TM": 0x00080030,
    "UI": 0x00080018,
    "SH": 0x00080050,
    "LO": 0x00081030,
    "UC": 0x00080120,
    "LT": 0x00104000,
    "ST": 0x00080081,
    "UT": 0x00400602,
    "UR": 0x00081190,
    "PN": 0x00100010,
    "IS": 0x00200013,
    "DS": 0x00281050,
    "US": 0x00280010,
    "SS": 0x00189219,
    "UL": 0x00080429,
    "SL": 0x00186020,
    "UV": 0x0008040E,
    "SV": 0x00720082,
    "FL": 0x00186038,
    "FD": 0x00189087,
    "AT": 0x00209165,
    "OB": 0x0008041B,
    "OW": 0x00660023,
    "UN": 0x00191010,
}
#: Python encodings as pydicom names them for (0008,0005) terms (``pydicom.charset``): UTF8 for
#: ISO_IR 192, GB18030, shift_jis for ISO_IR 13, a code-extension list, an unknown name.
ENCODINGS = [
    "iso8859",
    "UTF8",
    "latin_1",
    "iso_ir_144",
    "GB18030",
    "shift_jis",
    ["iso8859", "iso2022_jp"],
    ["latin_1", "euc_kr"],
]
_PIECES = [
    "",
    " ",
    "  ",
    "\\",
    "=",
    "^",
    "\0",
    "\x1b$B",
    "a",
    "Zé",
    "1",
    "-2",
    "3.5",
    "1e3",
    "x y",
    "東京",
]


def pydicoms(tag: int, vr: str, value: bytes, encodings: Any) -> Any:
    ds = Dataset(parent_encoding=encodings)
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    return json.loads(json.dumps(ds.to_json_dict()))


@st.composite
def values(draw: st.DrawFn, vr: str, encodings: Any) -> bytes:
    if vr in ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT", "OB", "OW", "UN"):
        if draw(st.booleans()):
            return draw(st.binary(max_size=17))
        code = {"FL": "f", "FD": "d"}.get(vr, "H")
        numbers = draw(st.lists(st.floats(-1e6, 1e6) if code != "H" else st.integers(0, 65535)))
        return struct.pack(f"<{len(numbers)}{code}", *numbers)
    text = "".join(draw(st.lists(st.sampled_from(_PIECES), max_size=6)))
    codec = encodings if isinstance(encodings, str) else encodings[0]
    return text.encode(codec, errors="replace")


@settings(max_examples=600, deadline=None)
@given(data=st.data(), vr=st.sampled_from(sorted(TAGS)), encodings=st.sampled_from(ENCODINGS))
def test_each_element_is_what_pydicom_writes(data: st.DataObject, vr: str, encodings: Any) -> None:
    value = data.draw(values(vr, encodings))
    tag = TAGS[vr]
    with warnings.catch_warnings(), config.disable_value_validation():
        warnings.simplefilter("ignore")
        try:
            expected = pydicoms(tag, vr, value, encodings)
        except Exception as exc:  # pydicom refuses the value: so must we, the same way
            expected = type(exc)
        try:
            ours = json.loads(
                json.dumps(dataset_json({tag: (vr, value, 0)}, encodings, _by_pydicom))
            )
        except Exception as exc:  # pydicom refuses the value: so must we, the same way
            ours = type(exc)
    assert ours == expected, (vr, value, encodings)


def test_nested_items_inherit_and_override_the_character_set() -> None:
    latin = "Müller^Jürgen".encode("iso8859")
    item = {0x00080005: ("CS", b"ISO_IR 192", 0), 0x00100010: ("PN", "Ünal".encode(), 0)}
    raw = {
        0x00100010: ("PN", latin, 0),
        0x00080423: ("SQ", [item, {0x00100010: ("PN", latin, 0)}], 0),
    }
    ours = dataset_json(raw, "iso8859", _by_pydicom)
    assert ours["00100010"]["Value"] == [{"Alphabetic": "Müller^Jürgen"}]
    first, second = ours["00080423"]["Value"]
    assert first["00100010"]["Value"] == [{"Alphabetic": "Ünal"}]
    assert second["00100010"]["Value"] == [{"Alphabetic": "Müller^Jürgen"}]
