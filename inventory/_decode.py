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
    if el is None or not el[1]:
        return None
    vr, raw = el[0], el[1]
    if vr in NUMERIC_FORMATS:
        fmt = NUMERIC_FORMATS[vr]
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
            value=_s(i, tags.CodeValue, text) or "",
            scheme_designator=_s(i, tags.CodingSchemeDesignator, text) or "",
            meaning=_s(i, tags.CodeMeaning, text) or "",
            scheme_version=_s(i, tags.CodingSchemeVersion, text),
        )
        for i in items
    )


def _original_attributes(ds: RawDataset, text: _Text) -> tuple[OriginalAttributes, ...]:
    items = _items(ds, tags.OriginalAttributesSequence)
    if not items:
        return ()
    out = []
    for it in items:
        t = text.child(it)
        mod = _items(it, tags.ModifiedAttributesSequence) or [{}]
        out.append(
            OriginalAttributes(
                modified=_generic_dataset(mod[0], t.child(mod[0])),
                modification_datetime=_s(it, tags.AttributeModificationDateTime, t) or "",
                modifying_system=_s(it, tags.ModifyingSystem, t) or "",
                reason=_s(it, tags.ReasonForTheAttributeModification, t) or "",
                source_of_previous_values=_s(it, tags.SourceOfPreviousValues, t),
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
    tags.FileAccessURI: ("uri", _c_text),
    tags.ContainerFileType: ("container_type", _c_ascii),
    tags.FilenameInContainer: ("filename_in_container", _c_text),
    tags.FileOffsetInContainer: ("offset", _c_uv),
    tags.FileLengthInContainer: ("length", _c_uv),
    tags.StoredInstanceTransferSyntaxUID: ("transfer_syntax_uid", _c_ascii),
    tags.LossyImageCompressionRatio: ("lossy_image_compression_ratio", _c_multi),
    tags.MACAlgorithm: ("mac_algorithm", _c_ascii),
    tags.MAC: ("mac", _c_bytes),
    tags.ExpirationDateTime: ("expiration_datetime", _c_ascii),
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
            folder_uri=_s(i, tags.FolderAccessURI, text),
            file_uri=_s(i, tags.FileAccessURI, text),
            container_type=_s(i, tags.ContainerFileType, text),
        )
        for i in _items(ds, tags.FileSetAccessSequence) or ()
    )


def _other(ds: RawDataset, known: frozenset[int], text: _Text) -> dict[str, AttributeValue]:
    extra = [t for t in ds if t not in known and t != tags.SpecificCharacterSet]
    if not extra:
        return {}
    return _generic_dataset({t: ds[t] for t in extra}, text)


_INSTANCE_TAGS = frozenset(
    {
        tags.SOPClassUID,
        tags.SOPInstanceUID,
        tags.InstanceAvailability,
        tags.RemovedFromOperationalUse,
        tags.ReasonForRemovalCodeSequence,
        tags.FileAccessSequence,
        tags.InstanceNumber,
        tags.StorageMediaFileSetID,
        tags.OriginalAttributesSequence,
    }
)
_SERIES_TAGS = frozenset(
    {
        tags.SeriesDate,
        tags.SeriesTime,
        tags.InstanceAvailability,
        tags.Modality,
        tags.RemovedFromOperationalUse,
        tags.ReasonForRemovalCodeSequence,
        tags.StoredInstanceBaseURI,
        tags.FileSetAccessSequence,
        tags.InventoriedInstancesSequence,
        tags.SeriesDescription,
        tags.BodyPartExamined,
        tags.SeriesInstanceUID,
        tags.SeriesNumber,
        tags.Laterality,
        tags.StorageMediaFileSetID,
        tags.OriginalAttributesSequence,
    }
)
_STUDY_TAGS = frozenset(
    {
        tags.StudyDate,
        tags.StudyTime,
        tags.AccessionNumber,
        tags.RetrieveAETitle,
        tags.InstanceAvailability,
        tags.ModalitiesInStudy,
        tags.ReferringPhysicianName,
        tags.ItemInventoryDateTime,
        tags.RemovedFromOperationalUse,
        tags.ReasonForRemovalCodeSequence,
        tags.StoredInstanceBaseURI,
        tags.FileSetAccessSequence,
        tags.StudyUpdateDateTime,
        tags.InventoriedSeriesSequence,
        tags.StudyDescription,
        tags.RetrieveURL,
        tags.PatientName,
        tags.PatientID,
        tags.IssuerOfPatientID,
        tags.PatientBirthDate,
        tags.PatientSex,
        tags.StudyInstanceUID,
        tags.StudyID,
        tags.NumberOfStudyRelatedSeries,
        tags.NumberOfStudyRelatedInstances,
        tags.StorageMediaFileSetID,
        tags.OriginalAttributesSequence,
    }
)


def _c_file_access(el: tuple[str, Any, int], text: _Text) -> tuple[FileAccess, ...]:
    return tuple(_file_access(i, text) for i in el[1]) if el[0] == "SQ" else ()


_INSTANCE_FIELDS: dict[int, tuple[str, Callable[[tuple[str, Any, int], _Text], Any]]] = {
    tags.SOPClassUID: ("sop_class_uid", _c_req),
    tags.SOPInstanceUID: ("sop_instance_uid", _c_req),
    tags.InstanceAvailability: ("instance_availability", _c_ascii),
    tags.RemovedFromOperationalUse: ("removed_from_operational_use", _c_ascii),
    tags.FileAccessSequence: ("file_access", _c_file_access),
    tags.InstanceNumber: ("instance_number", lambda el, text: _int({0: el}, 0)),
    tags.StorageMediaFileSetID: ("storage_media_file_set_id", _c_text),
}


def instance_from_raw(ds: RawDataset, text: _Text) -> InstanceRecord:
    """Build an :class:`InstanceRecord` from a raw item of (0008,0425)."""
    if tags.SpecificCharacterSet in ds:
        text = text.child(ds)
    fields = _INSTANCE_FIELDS
    kw: dict[str, Any] = {"sop_class_uid": "", "sop_instance_uid": ""}
    rest = None
    for tag, el in ds.items():
        f = fields.get(tag)
        if f is not None:
            kw[f[0]] = f[1](el, text)
        elif tag != tags.SpecificCharacterSet:
            rest = rest or []
            rest.append(tag)
    if rest is not None:
        if tags.ReasonForRemovalCodeSequence in ds:
            kw["reason_for_removal"] = _codes(ds, tags.ReasonForRemovalCodeSequence, text)
        if tags.OriginalAttributesSequence in ds:
            kw["original_attributes"] = _original_attributes(ds, text)
        kw["other"] = _other(ds, _INSTANCE_TAGS, text)
    return InstanceRecord(**kw)


def series_from_raw(ds: RawDataset, text: _Text) -> SeriesRecord:
    """Build a :class:`SeriesRecord` (with its instances) from a raw item of (0008,0424)."""
    if tags.SpecificCharacterSet in ds:
        text = text.child(ds)
    return SeriesRecord(
        series_instance_uid=_s(ds, tags.SeriesInstanceUID, text) or "",
        modality=_s(ds, tags.Modality, text) or "",
        series_number=_int(ds, tags.SeriesNumber),
        series_description=_s(ds, tags.SeriesDescription, text),
        series_date=_s(ds, tags.SeriesDate, text),
        series_time=_s(ds, tags.SeriesTime, text),
        body_part_examined=_s(ds, tags.BodyPartExamined, text),
        laterality=_s(ds, tags.Laterality, text),
        removed_from_operational_use=_s(ds, tags.RemovedFromOperationalUse, text),
        reason_for_removal=_codes(ds, tags.ReasonForRemovalCodeSequence, text),
        stored_instance_base_uri=_s(ds, tags.StoredInstanceBaseURI, text),
        instance_availability=_s(ds, tags.InstanceAvailability, text),
        file_set_access=_file_set_access(ds, text),
        storage_media_file_set_id=_s(ds, tags.StorageMediaFileSetID, text),
        original_attributes=_original_attributes(ds, text),
        instances=[
            instance_from_raw(i, text) for i in _items(ds, tags.InventoriedInstancesSequence) or ()
        ],
        other=_other(ds, _SERIES_TAGS, text),
    )


def study_from_raw(ds: RawDataset, text: _Text) -> StudyRecord:
    """Build a :class:`StudyRecord` (with series and instances) from a raw item of (0008,0423)."""
    if tags.SpecificCharacterSet in ds:
        text = text.child(ds)
    return StudyRecord(
        study_instance_uid=_s(ds, tags.StudyInstanceUID, text) or "",
        item_inventory_datetime=_s(ds, tags.ItemInventoryDateTime, text) or "",
        modalities_in_study=_multi(ds, tags.ModalitiesInStudy, text),
        removed_from_operational_use=_s(ds, tags.RemovedFromOperationalUse, text),
        reason_for_removal=_codes(ds, tags.ReasonForRemovalCodeSequence, text),
        number_of_study_related_series=_int(ds, tags.NumberOfStudyRelatedSeries),
        number_of_study_related_instances=_int(ds, tags.NumberOfStudyRelatedInstances),
        study_update_datetime=_s(ds, tags.StudyUpdateDateTime, text),
        study_id=_s(ds, tags.StudyID, text),
        study_date=_s(ds, tags.StudyDate, text),
        study_time=_s(ds, tags.StudyTime, text),
        study_description=_s(ds, tags.StudyDescription, text),
        accession_number=_s(ds, tags.AccessionNumber, text),
        referring_physician_name=_s(ds, tags.ReferringPhysicianName, text),
        patient_name=_s(ds, tags.PatientName, text),
        patient_id=_s(ds, tags.PatientID, text),
        issuer_of_patient_id=_s(ds, tags.IssuerOfPatientID, text),
        patient_birth_date=_s(ds, tags.PatientBirthDate, text),
        patient_sex=_s(ds, tags.PatientSex, text),
        retrieve_ae_title=_multi(ds, tags.RetrieveAETitle, text),
        retrieve_url=_s(ds, tags.RetrieveURL, text),
        stored_instance_base_uri=_s(ds, tags.StoredInstanceBaseURI, text),
        instance_availability=_s(ds, tags.InstanceAvailability, text),
        file_set_access=_file_set_access(ds, text),
        storage_media_file_set_id=_s(ds, tags.StorageMediaFileSetID, text),
        original_attributes=_original_attributes(ds, text),
        series=[series_from_raw(s, text) for s in _items(ds, tags.InventoriedSeriesSequence) or ()],
        other=_other(ds, _STUDY_TAGS, text),
    )


def _end_points(ds: RawDataset, tag: int, text: _Text) -> AccessEndPoints | None:
    items = _items(ds, tag)
    if not items:
        return None
    it = items[0]
    return AccessEndPoints(
        retrieve_ae_title=_multi(it, tags.RetrieveAETitle, text),
        retrieve_url=_s(it, tags.RetrieveURL, text),
        stored_instance_base_uri=_s(it, tags.StoredInstanceBaseURI, text),
    )


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


_HEADER_TAGS = frozenset(
    {
        tags.SpecificCharacterSet,
        tags.InstanceCreationDate,
        tags.InstanceCreationTime,
        tags.SOPClassUID,
        tags.SOPInstanceUID,
        tags.ContentDate,
        tags.ContentTime,
        tags.Manufacturer,
        tags.InstitutionName,
        tags.TimezoneOffsetFromUTC,
        tags.ScopeOfInventorySequence,
        tags.InventoryPurpose,
        tags.InventoryInstanceDescription,
        tags.InventoryLevel,
        tags.InventoryAccessEndPointsSequence,
        tags.StudyAccessEndPointsSequence,
        tags.IncorporatedInventoryInstanceSequence,
        tags.InventoriedStudiesSequence,
        tags.InventoryCompletionStatus,
        tags.NumberOfStudyRecordsInInstance,
        tags.TotalNumberOfStudyRecords,
        tags.StationName,
        tags.ManufacturerModelName,
        tags.TransactionUID,
        tags.DeviceSerialNumber,
        tags.SoftwareVersions,
    }
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
