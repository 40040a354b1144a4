"""Decoding raw data sets (:mod:`dicom_inventory._parse`) into the typed model.

Text is decoded with the Specific Character Set in force for each data set (an item's own
(0008,0005) overrides its parent's, PS3.5 6.1); ISO 2022 code extensions go through pydicom's
decoder. Attributes the model does not name go to ``other`` as ``{keyword: value}``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from dicom_inventory._parse import RawDataset
from dicom_inventory.enum import InventoryCompletionStatus, InventoryLevel
from dicom_inventory.model import (
    AccessEndPoints,
    AttributeValue,
    Code,
    Equipment,
    FileAccess,
    FileSetAccess,
    InstanceRecord,
    InventoryHeader,
    InventoryReference,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VM, keyword_for_tag
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

__all__ = [
    "header_from_raw",
    "instance_from_raw",
    "series_from_raw",
    "study_from_raw",
]

_CODECS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf-8"}
_STRIP_BOTH = frozenset({"AE", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "AS"})
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_NUMERIC = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "UV": "Q", "SV": "q", "FL": "f", "FD": "d"}


# --------------------------------------------------------------------------- decoding
class _Text:
    """Decodes text values of one data set with its Specific Character Set (PS3.5 6.1)."""

    __slots__ = ("charset", "codec", "encodings")

    def __init__(self, charset: tuple[str, ...]) -> None:
        self.charset = charset
        key = charset[0] if charset else ""
        self.codec = _CODECS.get(key) if len(charset) <= 1 else None
        self.encodings: list[str] = []
        if self.codec is None:
            try:  # ISO 2022 code extensions and other character sets (PS3.5 6.1.2.5)
                self.encodings = convert_encodings([c or "ISO_IR 6" for c in charset])
            except (LookupError, ValueError):
                self.codec = "latin_1"  # unknown term: read bytes one to one (tolerant)

    def child(self, ds: RawDataset) -> _Text:
        el = ds.get(0x00080005)
        if el is None:
            return self
        cs = tuple(v.strip() for v in bytes(el[1]).decode("ascii", "replace").split("\\"))  # type: ignore[arg-type]
        return _Text(cs)

    def decode(self, raw: bytes, vr: str) -> str:
        if vr in _CHARSET_VRS:
            if self.codec is not None:
                return raw.decode(self.codec, "replace").rstrip(" \x00")
            delims = PN_DELIMS if vr == "PN" else TEXT_VR_DELIMS
            return str(decode_bytes(raw, self.encodings, delims)).rstrip(" \x00")
        text = raw.decode("ascii", "replace")
        return text.strip(" \x00") if vr in _STRIP_BOTH else text.rstrip(" \x00")


def _value(el: tuple[str, Any, int], tag: int, text: _Text) -> AttributeValue:
    """Generic Python value of a raw element (for ``other``, scope and modified attributes)."""
    vr, raw, _ = el
    if vr == "SQ":
        return [_generic_dataset(item, text.child(item)) for item in raw]
    if not raw:
        return None
    if vr in _NUMERIC:
        fmt = _NUMERIC[vr]
        size = struct.calcsize(fmt)
        values = struct.unpack(f"<{len(raw) // size}{fmt}", raw[: len(raw) // size * size])
        return values[0] if len(values) == 1 else tuple(values)
    if vr in ("OB", "OW", "UN", "OD", "OF", "OL", "OV"):
        return bytes(raw)
    if vr == "AT":
        return tuple(g << 16 | e for g, e in struct.iter_unpack("<HH", raw[: len(raw) // 4 * 4]))
    s = text.decode(raw, vr)
    try:
        vm = dictionary_VM(tag)
    except KeyError:
        vm = "1"
    if vm != "1" and vr not in ("LT", "ST", "UT", "UR"):
        parts = tuple(p.strip(" ") for p in s.split("\\"))
        return parts
    return s


def _generic_dataset(ds: RawDataset, text: _Text) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for tag, el in ds.items():
        if tag >> 16 & 1:  # private: no keyword (PS3.5 7.8); ignored in the typed view
            continue
        kw = keyword_for_tag(tag)
        if kw:
            out[kw] = _value(el, tag, text)
    return out


def _s(ds: RawDataset, tag: int, text: _Text) -> str | None:
    el = ds.get(tag)
    if el is None or not el[1]:
        return None
    return text.decode(el[1], el[0])  # type: ignore[arg-type]


def _multi(ds: RawDataset, tag: int, text: _Text) -> tuple[str, ...] | None:
    s = _s(ds, tag, text)
    if s is None:
        return None
    return tuple(p.strip(" ") for p in s.split("\\"))


def _int(ds: RawDataset, tag: int) -> int | None:
    el = ds.get(tag)
    if el is None or not el[1]:
        return None
    vr, raw = el[0], el[1]
    if vr in _NUMERIC:
        fmt = _NUMERIC[vr]
        size = struct.calcsize(fmt)
        if len(raw) < size:
            return None
        return int(struct.unpack_from(f"<{fmt}", raw)[0])  # type: ignore[arg-type]
    try:
        return int(bytes(raw).strip(b" \x00").split(b"\\")[0])  # type: ignore[arg-type]
    except ValueError:
        return None


def _items(ds: RawDataset, tag: int) -> list[RawDataset] | None:
    el = ds.get(tag)
    if el is None:
        return None
    return el[1] if el[0] == "SQ" else []  # type: ignore[return-value]


def _codes(ds: RawDataset, tag: int, text: _Text) -> tuple[Code, ...] | None:
    items = _items(ds, tag)
    if items is None:
        return None
    return tuple(
        Code(
            value=_s(i, 0x00080100, text) or "",
            scheme_designator=_s(i, 0x00080102, text) or "",
            meaning=_s(i, 0x00080104, text) or "",
            scheme_version=_s(i, 0x00080103, text),
        )
        for i in items
    )


def _original_attributes(ds: RawDataset, text: _Text) -> tuple[OriginalAttributes, ...]:
    items = _items(ds, 0x04000561)
    if not items:
        return ()
    out = []
    for it in items:
        t = text.child(it)
        mod = _items(it, 0x04000550) or [{}]
        out.append(
            OriginalAttributes(
                modified=_generic_dataset(mod[0], t.child(mod[0])),
                modification_datetime=_s(it, 0x04000562, t) or "",
                modifying_system=_s(it, 0x04000563, t) or "",
                reason=_s(it, 0x04000565, t) or "",
                source_of_previous_values=_s(it, 0x04000564, t),
            )
        )
    return tuple(out)


def _c_ascii(el: tuple[str, Any, int], text: _Text) -> str | None:
    return el[1].decode("ascii", "replace").strip(" \x00") or None


def _c_req(el: tuple[str, Any, int], text: _Text) -> str:
    return el[1].decode("ascii", "replace").strip(" \x00")  # type: ignore[no-any-return]


def _c_text(el: tuple[str, Any, int], text: _Text) -> str | None:
    return text.decode(el[1], el[0]) or None if el[1] else None


def _c_uv(el: tuple[str, Any, int], text: _Text) -> int | None:
    raw = el[1]
    if el[0] == "UV" and len(raw) == 8:
        return int.from_bytes(raw, "little")
    return _int({0: el}, 0)


def _c_multi(el: tuple[str, Any, int], text: _Text) -> tuple[str, ...] | None:
    s = _c_text(el, text)
    return tuple(p.strip(" ") for p in s.split("\\")) if s is not None else None


def _c_bytes(el: tuple[str, Any, int], text: _Text) -> bytes | None:
    return bytes(el[1]) or None


_FILE_ACCESS_FIELDS: dict[int, tuple[str, Callable[[tuple[str, Any, int], _Text], Any]]] = {
    0x00080409: ("uri", _c_text),
    0x0008040A: ("container_type", _c_ascii),
    0x0008040B: ("filename_in_container", _c_text),
    0x0008040C: ("offset", _c_uv),
    0x0008040D: ("length", _c_uv),
    0x0008040E: ("transfer_syntax_uid", _c_ascii),
    0x00282112: ("lossy_image_compression_ratio", _c_multi),
    0x04000015: ("mac_algorithm", _c_ascii),
    0x04000404: ("mac", _c_bytes),
    0x00080416: ("expiration_datetime", _c_ascii),
}


def _file_access(it: RawDataset, text: _Text) -> FileAccess:
    fields = _FILE_ACCESS_FIELDS
    kw: dict[str, Any] = {}
    for tag, el in it.items():
        f = fields.get(tag)
        if f is not None:
            kw[f[0]] = f[1](el, text)
    if not kw.get("uri"):
        kw["uri"] = ""
    return FileAccess(**kw)


def _file_set_access(ds: RawDataset, text: _Text) -> tuple[FileSetAccess, ...]:
    return tuple(
        FileSetAccess(
            folder_uri=_s(i, 0x00080408, text),
            file_uri=_s(i, 0x00080409, text),
            container_type=_s(i, 0x0008040A, text),
        )
        for i in _items(ds, 0x00080419) or ()
    )


def _other(ds: RawDataset, known: frozenset[int], text: _Text) -> dict[str, AttributeValue]:
    extra = [t for t in ds if t not in known and t != 0x00080005]
    if not extra:
        return {}
    return _generic_dataset({t: ds[t] for t in extra}, text)


_INSTANCE_TAGS = frozenset(
    {
        0x00080016,
        0x00080018,
        0x00080056,
        0x00080405,
        0x00080406,
        0x0008041A,
        0x00200013,
        0x00880130,
        0x04000561,
    }
)
_SERIES_TAGS = frozenset(
    {
        0x00080021,
        0x00080031,
        0x00080056,
        0x00080060,
        0x00080405,
        0x00080406,
        0x00080407,
        0x00080419,
        0x00080425,
        0x0008103E,
        0x00180015,
        0x0020000E,
        0x00200011,
        0x00200060,
        0x00880130,
        0x04000561,
    }
)
_STUDY_TAGS = frozenset(
    {
        0x00080020,
        0x00080030,
        0x00080050,
        0x00080054,
        0x00080056,
        0x00080061,
        0x00080090,
        0x00080404,
        0x00080405,
        0x00080406,
        0x00080407,
        0x00080419,
        0x0008041F,
        0x00080424,
        0x00081030,
        0x00081190,
        0x00100010,
        0x00100020,
        0x00100021,
        0x00100030,
        0x00100040,
        0x0020000D,
        0x00200010,
        0x00201206,
        0x00201208,
        0x00880130,
        0x04000561,
    }
)


def _c_file_access(el: tuple[str, Any, int], text: _Text) -> tuple[FileAccess, ...]:
    return tuple(_file_access(i, text) for i in el[1]) if el[0] == "SQ" else ()


_INSTANCE_FIELDS: dict[int, tuple[str, Callable[[tuple[str, Any, int], _Text], Any]]] = {
    0x00080016: ("sop_class_uid", _c_req),
    0x00080018: ("sop_instance_uid", _c_req),
    0x00080056: ("instance_availability", _c_ascii),
    0x00080405: ("removed_from_operational_use", _c_ascii),
    0x0008041A: ("file_access", _c_file_access),
    0x00200013: ("instance_number", lambda el, text: _int({0: el}, 0)),
    0x00880130: ("storage_media_file_set_id", _c_text),
}


def instance_from_raw(ds: RawDataset, text: _Text) -> InstanceRecord:
    """Build an :class:`InstanceRecord` from a raw item of (0008,0425)."""
    if 0x00080005 in ds:
        text = text.child(ds)
    fields = _INSTANCE_FIELDS
    kw: dict[str, Any] = {"sop_class_uid": "", "sop_instance_uid": ""}
    rest = None
    for tag, el in ds.items():
        f = fields.get(tag)
        if f is not None:
            kw[f[0]] = f[1](el, text)
        elif tag != 0x00080005:
            rest = rest or []
            rest.append(tag)
    if rest is not None:
        if 0x00080406 in ds:
            kw["reason_for_removal"] = _codes(ds, 0x00080406, text)
        if 0x04000561 in ds:
            kw["original_attributes"] = _original_attributes(ds, text)
        kw["other"] = _other(ds, _INSTANCE_TAGS, text)
    return InstanceRecord(**kw)


def series_from_raw(ds: RawDataset, text: _Text) -> SeriesRecord:
    """Build a :class:`SeriesRecord` (with its instances) from a raw item of (0008,0424)."""
    if 0x00080005 in ds:
        text = text.child(ds)
    return SeriesRecord(
        series_instance_uid=_s(ds, 0x0020000E, text) or "",
        modality=_s(ds, 0x00080060, text) or "",
        series_number=_int(ds, 0x00200011),
        series_description=_s(ds, 0x0008103E, text),
        series_date=_s(ds, 0x00080021, text),
        series_time=_s(ds, 0x00080031, text),
        body_part_examined=_s(ds, 0x00180015, text),
        laterality=_s(ds, 0x00200060, text),
        removed_from_operational_use=_s(ds, 0x00080405, text),
        reason_for_removal=_codes(ds, 0x00080406, text),
        stored_instance_base_uri=_s(ds, 0x00080407, text),
        instance_availability=_s(ds, 0x00080056, text),
        file_set_access=_file_set_access(ds, text),
        storage_media_file_set_id=_s(ds, 0x00880130, text),
        original_attributes=_original_attributes(ds, text),
        instances=[instance_from_raw(i, text) for i in _items(ds, 0x00080425) or ()],
        other=_other(ds, _SERIES_TAGS, text),
    )


def study_from_raw(ds: RawDataset, text: _Text) -> StudyRecord:
    """Build a :class:`StudyRecord` (with series and instances) from a raw item of (0008,0423)."""
    if 0x00080005 in ds:
        text = text.child(ds)
    return StudyRecord(
        study_instance_uid=_s(ds, 0x0020000D, text) or "",
        item_inventory_datetime=_s(ds, 0x00080404, text) or "",
        modalities_in_study=_multi(ds, 0x00080061, text),
        removed_from_operational_use=_s(ds, 0x00080405, text),
        reason_for_removal=_codes(ds, 0x00080406, text),
        number_of_study_related_series=_int(ds, 0x00201206),
        number_of_study_related_instances=_int(ds, 0x00201208),
        study_update_datetime=_s(ds, 0x0008041F, text),
        study_id=_s(ds, 0x00200010, text),
        study_date=_s(ds, 0x00080020, text),
        study_time=_s(ds, 0x00080030, text),
        study_description=_s(ds, 0x00081030, text),
        accession_number=_s(ds, 0x00080050, text),
        referring_physician_name=_s(ds, 0x00080090, text),
        patient_name=_s(ds, 0x00100010, text),
        patient_id=_s(ds, 0x00100020, text),
        issuer_of_patient_id=_s(ds, 0x00100021, text),
        patient_birth_date=_s(ds, 0x00100030, text),
        patient_sex=_s(ds, 0x00100040, text),
        retrieve_ae_title=_multi(ds, 0x00080054, text),
        retrieve_url=_s(ds, 0x00081190, text),
        stored_instance_base_uri=_s(ds, 0x00080407, text),
        instance_availability=_s(ds, 0x00080056, text),
        file_set_access=_file_set_access(ds, text),
        storage_media_file_set_id=_s(ds, 0x00880130, text),
        original_attributes=_original_attributes(ds, text),
        series=[series_from_raw(s, text) for s in _items(ds, 0x00080424) or ()],
        other=_other(ds, _STUDY_TAGS, text),
    )


def _end_points(ds: RawDataset, tag: int, text: _Text) -> AccessEndPoints | None:
    items = _items(ds, tag)
    if not items:
        return None
    it = items[0]
    return AccessEndPoints(
        retrieve_ae_title=_multi(it, 0x00080054, text),
        retrieve_url=_s(it, 0x00081190, text),
        stored_instance_base_uri=_s(it, 0x00080407, text),
    )


def _references(ds: RawDataset, text: _Text) -> tuple[InventoryReference, ...]:
    refs = []
    for it in _items(ds, 0x00080422) or ():
        refs.append(
            InventoryReference(
                sop_instance_uid=_s(it, 0x00081155, text) or "",
                sop_class_uid=_s(it, 0x00081150, text) or "",
                access_end_points=_end_points(it, 0x00080420, text),
                file_access=_file_access(it, text) if 0x00080409 in it else None,
                incorporated=_references(it, text),
            )
        )
    return tuple(refs)


_HEADER_TAGS = frozenset(
    {
        0x00080005,
        0x00080012,
        0x00080013,
        0x00080016,
        0x00080018,
        0x00080023,
        0x00080033,
        0x00080070,
        0x00080080,
        0x00080201,
        0x00080400,
        0x00080401,
        0x00080402,
        0x00080403,
        0x00080420,
        0x00080421,
        0x00080422,
        0x00080423,
        0x00080426,
        0x00080427,
        0x00080428,
        0x00081010,
        0x00081090,
        0x00081195,
        0x00181000,
        0x00181020,
    }
)


def header_from_raw(ds: RawDataset) -> InventoryHeader:
    """Build an :class:`InventoryHeader` from the raw top-level elements."""
    text = _Text(()).child(ds)
    scope_items = _items(ds, 0x00080400)
    level = _s(ds, 0x00080403, text) or ""
    status = _s(ds, 0x00080426, text)
    return InventoryHeader(
        sop_instance_uid=_s(ds, 0x00080018, text) or "",
        inventory_level=InventoryLevel(level)
        if level in InventoryLevel._value2member_map_
        else level,  # type: ignore[arg-type]
        content_date=_s(ds, 0x00080023, text) or "",
        content_time=_s(ds, 0x00080033, text) or "",
        completion_status=(
            InventoryCompletionStatus(status)
            if status in InventoryCompletionStatus._value2member_map_
            else status  # type: ignore[arg-type]
        ),
        inventory_purpose=_s(ds, 0x00080401, text),
        inventory_instance_description=_s(ds, 0x00080402, text),
        transaction_uid=_s(ds, 0x00081195, text),
        scope=_generic_dataset(scope_items[0], text.child(scope_items[0])) if scope_items else None,
        inventory_access_end_points=_end_points(ds, 0x00080420, text),
        study_access_end_points=_end_points(ds, 0x00080421, text),
        incorporated=_references(ds, text),
        number_of_study_records_in_instance=_int(ds, 0x00080427),
        total_number_of_study_records=_int(ds, 0x00080428),
        equipment=Equipment(
            manufacturer=_s(ds, 0x00080070, text),
            institution_name=_s(ds, 0x00080080, text),
            station_name=_s(ds, 0x00081010, text),
            manufacturer_model_name=_s(ds, 0x00081090, text),
            device_serial_number=_s(ds, 0x00181000, text),
            software_versions=_multi(ds, 0x00181020, text),
        ),
        specific_character_set=text.charset,
        instance_creation_date=_s(ds, 0x00080012, text),
        instance_creation_time=_s(ds, 0x00080013, text),
        timezone_offset_from_utc=_s(ds, 0x00080201, text),
        sop_class_uid=_s(ds, 0x00080016, text) or "",
        other=_other(ds, _HEADER_TAGS, text),
    )
