"""Decoding raw data sets (:mod:`dicom_inventory._parse`) into the typed model.

Text is decoded with the Specific Character Set in force for each data set (an item's own
(0008,0005) overrides its parent's, PS3.5 6.1); ISO 2022 code extensions go through pydicom's
decoder. Attributes the model does not name go to ``other`` as ``{keyword: value}``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from dicom_inventory import tags
from dicom_inventory._parse import RawDataset, ascii_value
from dicom_inventory._vr import CHARSET_CODECS, CHARSET_VRS, NUMERIC_FORMATS
from dicom_inventory.enum import InventoryCompletionStatus, InventoryLevel
from dicom_inventory.fields import ModelField, holds_other, model_fields
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
from dicom_inventory.scope import ScopeOfInventory
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VM, keyword_for_tag
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

__all__ = [
    "converter",
    "header_from_raw",
    "instance_from_raw",
    "series_from_raw",
    "study_from_raw",
]

_STRIP_BOTH = frozenset({"AE", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "AS"})


# --------------------------------------------------------------------------- decoding
class _Text:
    """Decodes text values of one data set with its Specific Character Set (PS3.5 6.1)."""

    __slots__ = ("charset", "codec", "encodings")

    def __init__(self, charset: tuple[str, ...]) -> None:
        self.charset = charset
        key = charset[0] if charset else ""
        self.codec = CHARSET_CODECS.get(key) if len(charset) <= 1 else None
        self.encodings: list[str] = []
        if self.codec is None:
            try:  # ISO 2022 code extensions and other character sets (PS3.5 6.1.2.5)
                self.encodings = convert_encodings([c or "ISO_IR 6" for c in charset])
            except (LookupError, ValueError):
                self.codec = "latin_1"  # unknown term: read bytes one to one (tolerant)

    def child(self, ds: RawDataset) -> _Text:
        el = ds.get(tags.SpecificCharacterSet)
        if el is None:
            return self
        cs = tuple(v.strip() for v in ascii_value(el).split("\\"))
        return _Text(cs)

    def decode(self, raw: bytes, vr: str) -> str:
        if vr in CHARSET_VRS:
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
    if vr in NUMERIC_FORMATS:
        fmt = NUMERIC_FORMATS[vr]
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
    return None if el is None else _c_int(el, None)


def _items(ds: RawDataset, tag: int) -> list[RawDataset] | None:
    el = ds.get(tag)
    if el is None:
        return None
    return el[1] if el[0] == "SQ" else []  # type: ignore[return-value]


def _c_ascii(el: tuple[str, Any, int], text: _Text) -> str | None:
    return el[1].decode("ascii", "replace").strip(" \x00") or None


def _c_ascii_required(el: tuple[str, Any, int], text: _Text) -> str:
    return el[1].decode("ascii", "replace").strip(" \x00")  # type: ignore[no-any-return]


def _c_text(el: tuple[str, Any, int], text: _Text) -> str | None:
    return text.decode(el[1], el[0]) or None if el[1] else None


def _c_int(el: tuple[str, Any, int], text: _Text | None) -> int | None:
    """The integer of an element: IS text (its first value) or a binary integer VR."""
    vr, raw = el[0], el[1]
    if not raw:
        return None
    if vr in NUMERIC_FORMATS:
        fmt = NUMERIC_FORMATS[vr]
        if len(raw) < struct.calcsize(fmt):
            return None
        return int(struct.unpack_from(f"<{fmt}", raw)[0])
    try:
        return int(bytes(raw).strip(b" \x00").split(b"\\")[0])
    except ValueError:
        return None


def _c_uint(el: tuple[str, Any, int], text: _Text | None) -> int | None:
    raw = el[1]
    if el[0] == "UV" and len(raw) == 8:  # the common case, without struct
        return int.from_bytes(raw, "little")
    return _c_int(el, text)


def _c_multi(el: tuple[str, Any, int], text: _Text) -> tuple[str, ...] | None:
    s = _c_text(el, text)
    return tuple(p.strip(" ") for p in s.split("\\")) if s is not None else None


def _c_bytes(el: tuple[str, Any, int], text: _Text) -> bytes | None:
    return bytes(el[1]) or None


def _c_first_item(el: tuple[str, Any, int], text: _Text) -> dict[str, AttributeValue]:
    """The first item of a sequence of any attributes (Modified Attributes Sequence)."""
    items = el[1] if el[0] == "SQ" else []
    first = items[0] if items else {}
    return _generic_dataset(first, text.child(first))


_Converter = Callable[[tuple[str, Any, int], _Text], Any]
_SCALARS: dict[str, _Converter] = {
    "multi": _c_multi,
    "int": _c_int,
    "uint": _c_uint,
    "bytes": _c_bytes,
}


class _ClassDecoder:
    """Builds instances of one model class from raw items, by its model fields.

    The fields and their tags, VRs and Types come from the attribute table
    (:func:`dicom_inventory.fields.model_fields`); attributes the class does not model go to
    its ``other`` where it has one.
    """

    __slots__ = ("cls", "fields", "initial", "known", "other")

    def __init__(self, cls: type, nested: dict[type, _ClassDecoder]) -> None:
        self.cls = cls
        self.fields: dict[int, tuple[str, _Converter]] = {}
        # values where an attribute is absent and the model's default is not what reading
        # means: a Type 1 string reads as "", absent records as an empty list
        self.initial: dict[str, Any] = {}
        for mf in model_fields(cls):
            conv = converter(mf) if mf.kind != "sequence" else self._converter(mf, nested)
            if mf.required and mf.kind == "text":
                self.initial[mf.name] = ""
            elif mf.required and mf.kind == "sequence" and mf.item is None:
                self.initial[mf.name] = {}
            elif mf.item is SeriesRecord or mf.item is InstanceRecord:
                self.initial[mf.name] = []
            self.fields[mf.tag] = (mf.name, conv)
        self.known = frozenset(self.fields)
        self.other = holds_other(cls)

    @staticmethod
    def _converter(mf: ModelField, nested: dict[type, _ClassDecoder]) -> _Converter:
        if mf.item is None:
            return _c_first_item
        decode = nested[mf.item].decode
        if mf.item is SeriesRecord or mf.item is InstanceRecord:
            return lambda el, text: [decode(i, text) for i in el[1]] if el[0] == "SQ" else []
        return lambda el, text: tuple(decode(i, text) for i in el[1]) if el[0] == "SQ" else ()

    def decode(self, ds: RawDataset, text: _Text) -> Any:
        """An instance of the class from raw item `ds`, in the character set `text`.

        Or in the item's own Specific Character Set, where it has one (PS3.5 6.1).
        """
        if tags.SpecificCharacterSet in ds:
            text = text.child(ds)
        fields = self.fields
        kw = dict(self.initial)
        rest = False
        for tag, el in ds.items():
            f = fields.get(tag)
            if f is not None:
                kw[f[0]] = f[1](el, text)
            elif tag != tags.SpecificCharacterSet:
                rest = True
        if rest and self.other:
            kw["other"] = _other(ds, self.known, text)
        return self.cls(**kw)


def converter(mf: ModelField) -> _Converter:
    """The function reading the value of a non-sequence model field from its raw element.

    The element is ``(VR, value bytes, offset)``; the value is read by the field's VR and VM,
    and a Type 1 string reads as ``""`` when empty. The typed records and the byte-level rows
    (:mod:`dicom_inventory.rows`) both read with it.
    """
    if mf.kind == "text":
        vr = mf.attribute.vr
        if vr in _STRIP_BOTH and vr not in CHARSET_VRS:
            return _c_ascii_required if mf.required else _c_ascii
        if mf.required:
            return lambda el, text: _c_text(el, text) or ""
        return _c_text
    return _SCALARS[mf.kind]


def _other(ds: RawDataset, known: frozenset[int], text: _Text) -> dict[str, AttributeValue]:
    extra = [t for t in ds if t not in known and t != tags.SpecificCharacterSet]
    if not extra:
        return {}
    return _generic_dataset({t: ds[t] for t in extra}, text)


def _decoders() -> dict[type, _ClassDecoder]:
    """One decoder per record and macro class, the nested ones first."""
    decoders: dict[type, _ClassDecoder] = {}
    for cls in (
        Code,
        FileAccess,
        FileSetAccess,
        OriginalAttributes,
        InstanceRecord,
        SeriesRecord,
        StudyRecord,
        AccessEndPoints,
    ):
        decoders[cls] = _ClassDecoder(cls, decoders)
    return decoders


_DECODERS = _decoders()
_instance = _DECODERS[InstanceRecord].decode
_series = _DECODERS[SeriesRecord].decode
_study = _DECODERS[StudyRecord].decode
_file_access_of = _DECODERS[FileAccess].decode
_end_points_of = _DECODERS[AccessEndPoints].decode


def instance_from_raw(ds: RawDataset, text: _Text) -> InstanceRecord:
    """Build an :class:`InstanceRecord` from a raw item of (0008,0425)."""
    return _instance(ds, text)  # type: ignore[no-any-return]


def series_from_raw(ds: RawDataset, text: _Text) -> SeriesRecord:
    """Build a :class:`SeriesRecord` (with its instances) from a raw item of (0008,0424)."""
    return _series(ds, text)  # type: ignore[no-any-return]


def study_from_raw(ds: RawDataset, text: _Text) -> StudyRecord:
    """Build a :class:`StudyRecord` (with series and instances) from a raw item of (0008,0423)."""
    return _study(ds, text)  # type: ignore[no-any-return]


def _file_access(it: RawDataset, text: _Text) -> FileAccess:
    fa: FileAccess = _file_access_of(it, text)
    return fa


def _end_points(ds: RawDataset, tag: int, text: _Text) -> AccessEndPoints | None:
    items = _items(ds, tag)
    if not items:
        return None
    ep: AccessEndPoints = _end_points_of(items[0], text)
    return ep


def _references(ds: RawDataset, text: _Text) -> tuple[InventoryReference, ...]:
    refs = []
    for it in _items(ds, tags.IncorporatedInventoryInstanceSequence) or ():
        refs.append(
            InventoryReference(
                sop_instance_uid=_s(it, tags.ReferencedSOPInstanceUID, text) or "",
                sop_class_uid=_s(it, tags.ReferencedSOPClassUID, text) or "",
                access_end_points=_end_points(it, tags.InventoryAccessEndPointsSequence, text),
                file_access=_file_access(it, text) if tags.FileAccessURI in it else None,
                incorporated=_references(it, text),
            )
        )
    return tuple(refs)


#: The top-level tags the header models (the rest goes to ``other``), from the model's fields.
_HEADER_TAGS = frozenset(
    {mf.tag for cls in (InventoryHeader, Equipment) for mf in model_fields(cls)}
    | {tags.SpecificCharacterSet, tags.InventoriedStudiesSequence}
)


def scope_item(ds: RawDataset) -> dict[str, AttributeValue] | None:
    """The first item of Scope of Inventory Sequence as ``{keyword: value}``, or ``None``."""
    items = _items(ds, tags.ScopeOfInventorySequence)
    if not items:
        return None
    return _generic_dataset(items[0], _Text(()).child(ds).child(items[0]))


def header_from_raw(ds: RawDataset) -> InventoryHeader:
    """Build an :class:`InventoryHeader` from the raw top-level elements."""
    text = _Text(()).child(ds)
    item = scope_item(ds)
    level = _s(ds, tags.InventoryLevel, text) or ""
    status = _s(ds, tags.InventoryCompletionStatus, text)
    return InventoryHeader(
        sop_instance_uid=_s(ds, tags.SOPInstanceUID, text) or "",
        inventory_level=InventoryLevel(level)
        if level in InventoryLevel._value2member_map_
        else level,  # type: ignore[arg-type]
        content_date=_s(ds, tags.ContentDate, text) or "",
        content_time=_s(ds, tags.ContentTime, text) or "",
        completion_status=(
            InventoryCompletionStatus(status)
            if status in InventoryCompletionStatus._value2member_map_
            else status  # type: ignore[arg-type]
        ),
        inventory_purpose=_s(ds, tags.InventoryPurpose, text),
        inventory_instance_description=_s(ds, tags.InventoryInstanceDescription, text),
        transaction_uid=_s(ds, tags.TransactionUID, text),
        scope=None if item is None else ScopeOfInventory.from_item(item),
        inventory_access_end_points=_end_points(ds, tags.InventoryAccessEndPointsSequence, text),
        study_access_end_points=_end_points(ds, tags.StudyAccessEndPointsSequence, text),
        incorporated=_references(ds, text),
        number_of_study_records_in_instance=_int(ds, tags.NumberOfStudyRecordsInInstance),
        total_number_of_study_records=_int(ds, tags.TotalNumberOfStudyRecords),
        equipment=Equipment(
            manufacturer=_s(ds, tags.Manufacturer, text),
            institution_name=_s(ds, tags.InstitutionName, text),
            station_name=_s(ds, tags.StationName, text),
            manufacturer_model_name=_s(ds, tags.ManufacturerModelName, text),
            device_serial_number=_s(ds, tags.DeviceSerialNumber, text),
            software_versions=_multi(ds, tags.SoftwareVersions, text),
        ),
        specific_character_set=text.charset,
        instance_creation_date=_s(ds, tags.InstanceCreationDate, text),
        instance_creation_time=_s(ds, tags.InstanceCreationTime, text),
        timezone_offset_from_utc=_s(ds, tags.TimezoneOffsetFromUTC, text),
        sop_class_uid=_s(ds, tags.SOPClassUID, text) or "",
        other=_other(ds, _HEADER_TAGS, text),
    )
