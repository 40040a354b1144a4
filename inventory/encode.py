"""Streaming encoder: Inventory SOP Instances as DICOM Part 10 files (PS3.10, PS3.3 A.88).

Records are written as they come from an iterator. Each study record is encoded to bytes on its
own (memory is bounded by the largest single study, about 300 bytes per instance record), then
appended to the open Inventoried Studies Sequence (0008,0423), which has undefined length, so
the file grows without the whole inventory ever being held in memory. Attributes that follow the
sequence in tag order (Completion Status, the record counts, Transaction UID) are written when
the sequence is closed, when they are known.

Why not pydicom's ``Dataset`` and ``dcmwrite``: building one ``Dataset`` per record and writing
it costs about 50x more per record (``bench/bench_iod.py`` prints the ratio), which rules out
inventories of hundreds of millions of records. pydicom still supplies the data dictionary, and
every file written here reads back with ``pydicom.dcmread`` (tested).

Splitting (PS3.3 C.38.1.1.5, C.38.2.3; PS3.17 YYYY.3.3): with ``max_records``, an inventory is
written as leaves holding at most that many records each (study + series + instance records;
a study is never divided, so a single larger study gets a leaf of its own) and a root that holds
no records and incorporates every leaf. Leaves are ``PARTIAL`` (their subtree does not fulfil the
Scope, PS3.17 YYYY.3.3.2.1) unless there is only one; the root carries the final status.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import IO, Any, BinaryIO

from dicom_inventory import tags
from dicom_inventory._vr import (
    _UID_RE,
    CHARSET_CODECS,
    CHARSET_VRS,
    ITEM_END,
    ITEM_START,
    MAX_CHARS,
    SEQ_END,
    TEXT_VRS,
    Field,
    _text_bytes,
    encode_attributes,
    encode_element,
    field_for,
    merge_other,
    sequence,
)
from dicom_inventory.attributes import ATTRIBUTES, STUDY_PATH
from dicom_inventory.enum import InventoryCompletionStatus, InventoryLevel
from dicom_inventory.errors import InventoryEncodeError
from dicom_inventory.model import (
    AccessEndPoints,
    Code,
    FileAccess,
    FileSetAccess,
    InstanceRecord,
    InventoryHeader,
    InventoryReference,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from dicom_inventory.scope import ScopeOfInventory, check_scope_item
from dicom_inventory.uid import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, generate_uid
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

__all__ = [
    "InventoryWriter",
    "StudyEncoder",
    "WrittenInstance",
    "encode_inventory",
    "file_access_attributes",
    "to_dataset",
    "write_inventory",
]

_SUPPORTED_SYNTAXES = (ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)
_FLUSH_BYTES = 1 << 20
#: Keywords of every attribute in study, series and instance records at any depth (PS3.3
#: Table C.38.1-1 with its macros), from the attribute table: the encoder's fields.
_RECORD_KEYWORDS = tuple(sorted({a.keyword for a in ATTRIBUTES if a.path[:1] == STUDY_PATH}))


def _codec_for(charset: tuple[str, ...]) -> str:
    key = charset[0] if charset else ""
    if len(charset) > 1 or key not in CHARSET_CODECS:
        raise InventoryEncodeError(
            f"Specific Character Set {charset!r} is not supported for writing; use "
            "('ISO_IR 192',) (UTF-8), ('ISO_IR 100',) or () (PS3.3 C.12.1.1.2)"
        )
    return CHARSET_CODECS[key]


class StudyEncoder:
    """Encodes study records (with their series and instances) to bytes, fast.

    Parameters
    ----------
    level : InventoryLevel
        Inventory Level of the inventory; decides which nested sequences are written and
        which are refused (PS3.3 Table C.38.1-1, Inventory Level).
    codec : str
        Python codec of the Specific Character Set declared at the top level.
    """

    def __init__(self, level: InventoryLevel, codec: str = "utf-8") -> None:
        self.level = InventoryLevel(level)
        self.codec = codec
        # every attribute of a record and of the macros nested in it (the attribute table)
        self._f: dict[str, Field] = {kw: field_for(kw) for kw in _RECORD_KEYWORDS}
        self._enc: dict[str, Callable[[Any], bytes]] = {
            kw: _text_encoder(fld, codec) for kw, fld in self._f.items() if fld.vr in TEXT_VRS
        }

    # -- value helpers ------------------------------------------------------------------
    def _t(self, kw: str, value: Any) -> bytes:
        """Encode a text element (any text VR); ``None`` gives an empty element."""
        return self._enc[kw](value)

    def _is(self, kw: str, value: int | None) -> bytes:
        f = self._f[kw]
        if value is None:
            return f.raw(b"")
        raw = str(int(value)).encode("ascii")
        if len(raw) > 12:
            raise InventoryEncodeError(f"{kw}: {value} does not fit VR IS (12 characters)")
        return f.raw(raw + b" " if len(raw) & 1 else raw)

    def _uv(self, kw: str, value: int) -> bytes:
        try:
            return self._f[kw].raw(struct.pack("<Q", value))
        except struct.error as exc:
            raise InventoryEncodeError(f"{kw}: {value!r} is not a 64-bit unsigned integer") from exc

    def _seq(self, kw: str, bodies: Iterable[bytes]) -> bytes:
        return sequence(kw, bodies)

    def _type1(self, value: Any, kw: str, where: str) -> Any:
        if value is None or value == "" or value == ():
            raise InventoryEncodeError(f"{where}: {kw} is Type 1 and needs a value (PS3.3 C.38.1)")
        return value

    # -- macros ---------------------------------------------------------------------------
    def codes(self, kw: str, codes: Iterable[Code]) -> bytes:
        """Encode a Code Sequence Macro sequence (PS3.3 Table 8.8-1)."""
        enc = self._enc
        bodies = []
        for c in codes:
            body = enc["CodeValue"](c.value) + enc["CodingSchemeDesignator"](c.scheme_designator)
            if c.scheme_version is not None:
                body += enc["CodingSchemeVersion"](c.scheme_version)
            bodies.append(body + enc["CodeMeaning"](c.meaning))
        return self._seq(kw, bodies)

    def original_attributes(self, items: Iterable[OriginalAttributes]) -> bytes:
        """Encode Original Attributes Sequence (0400,0561), PS3.3 Table C.12.1.1.9-1."""
        enc = self._enc
        bodies = []
        for oa in items:
            mod = self._seq(
                "ModifiedAttributesSequence", [encode_attributes(oa.modified, self.codec)]
            )
            bodies.append(
                mod
                + enc["AttributeModificationDateTime"](oa.modification_datetime)
                + enc["ModifyingSystem"](oa.modifying_system)
                + enc["SourceOfPreviousValues"](oa.source_of_previous_values)
                + enc["ReasonForTheAttributeModification"](oa.reason)
            )
        return self._seq("OriginalAttributesSequence", bodies)

    def file_access_body(self, fa: FileAccess) -> bytes:
        """Encode the Stored File Access Macro attributes (PS3.3 Table C.38.2-2)."""
        enc = self._enc
        parts = [enc["FileAccessURI"](fa.uri)]
        if fa.container_type is not None:
            parts.append(enc["ContainerFileType"](fa.container_type))
        if fa.filename_in_container is not None:
            parts.append(enc["FilenameInContainer"](fa.filename_in_container))
        if fa.offset is not None:
            parts.append(self._uv("FileOffsetInContainer", fa.offset))
        if fa.length is not None:
            parts.append(self._uv("FileLengthInContainer", fa.length))
        if fa.transfer_syntax_uid is not None:
            parts.append(enc["StoredInstanceTransferSyntaxUID"](fa.transfer_syntax_uid))
        if fa.expiration_datetime is not None:
            parts.append(enc["ExpirationDateTime"](fa.expiration_datetime))
        if fa.lossy_image_compression_ratio is not None:
            parts.append(enc["LossyImageCompressionRatio"](fa.lossy_image_compression_ratio))
        if fa.mac_algorithm is not None:
            parts.append(enc["MACAlgorithm"](fa.mac_algorithm))
        if fa.mac is not None:
            mac = fa.mac + b"\x00" if len(fa.mac) & 1 else fa.mac
            parts.append(self._f["MAC"].raw(mac))
        return b"".join(parts)

    def file_set_access(self, items: Iterable[FileSetAccess]) -> bytes:
        """Encode File Set Access Sequence (0008,0419)."""
        enc = self._enc
        bodies = []
        for fs in items:
            body = b""
            if fs.folder_uri is not None:
                body += enc["FolderAccessURI"](fs.folder_uri)
            if fs.file_uri is not None:
                body += enc["FileAccessURI"](fs.file_uri)
            if fs.container_type is not None:
                body += enc["ContainerFileType"](fs.container_type)
            bodies.append(body)
        return self._seq("FileSetAccessSequence", bodies)

    # -- records --------------------------------------------------------------------------
    def instance(self, rec: InstanceRecord) -> bytes:
        """Encode one instance record as the body of an item of (0008,0425)."""
        enc = self._enc
        where = f"instance record {rec.sop_instance_uid!r}"
        e: dict[int, bytes] = {
            tags.SOPClassUID: enc["SOPClassUID"](
                self._type1(rec.sop_class_uid, "SOPClassUID", where)
            ),
            tags.SOPInstanceUID: enc["SOPInstanceUID"](
                self._type1(rec.sop_instance_uid, "SOPInstanceUID", where)
            ),
        }
        if rec.instance_availability is not None:
            e[tags.InstanceAvailability] = enc["InstanceAvailability"](rec.instance_availability)
        if rec.removed_from_operational_use is not None:
            e[tags.RemovedFromOperationalUse] = enc["RemovedFromOperationalUse"](
                rec.removed_from_operational_use
            )
        if rec.reason_for_removal is not None:
            e[tags.ReasonForRemovalCodeSequence] = self.codes(
                "ReasonForRemovalCodeSequence", rec.reason_for_removal
            )
        if rec.file_access:
            e[tags.FileAccessSequence] = self._seq(
                "FileAccessSequence", [self.file_access_body(fa) for fa in rec.file_access]
            )
        e[tags.InstanceNumber] = self._is("InstanceNumber", rec.instance_number)
        if rec.storage_media_file_set_id is not None:
            e[tags.StorageMediaFileSetID] = enc["StorageMediaFileSetID"](
                rec.storage_media_file_set_id
            )
        if rec.original_attributes:
            e[tags.OriginalAttributesSequence] = self.original_attributes(rec.original_attributes)
        if rec.other:
            return merge_other(e, rec.other, self.codec, where)
        return b"".join(e.values())

    def series(self, rec: SeriesRecord) -> tuple[bytes, int]:
        """Encode one series record (and its instances); return ``(body, record count)``."""
        enc = self._enc
        where = f"series record {rec.series_instance_uid!r}"
        e: dict[int, bytes] = {}
        if rec.series_date is not None:
            e[tags.SeriesDate] = enc["SeriesDate"](rec.series_date)
        if rec.series_time is not None:
            e[tags.SeriesTime] = enc["SeriesTime"](rec.series_time)
        if rec.instance_availability is not None:
            e[tags.InstanceAvailability] = enc["InstanceAvailability"](rec.instance_availability)
        e[tags.Modality] = enc["Modality"](self._type1(rec.modality, "Modality", where))
        if rec.removed_from_operational_use is not None:
            e[tags.RemovedFromOperationalUse] = enc["RemovedFromOperationalUse"](
                rec.removed_from_operational_use
            )
        if rec.reason_for_removal is not None:
            e[tags.ReasonForRemovalCodeSequence] = self.codes(
                "ReasonForRemovalCodeSequence", rec.reason_for_removal
            )
        if rec.stored_instance_base_uri is not None:
            e[tags.StoredInstanceBaseURI] = enc["StoredInstanceBaseURI"](
                rec.stored_instance_base_uri
            )
        if rec.file_set_access:
            e[tags.FileSetAccessSequence] = self.file_set_access(rec.file_set_access)
        count = 1
        if self.level.has_instances:
            inst = self.instance
            # Type 2C: present at level INSTANCE, empty for a series without instances
            bodies = [inst(i) for i in rec.instances]
            count += len(bodies)
            e[tags.InventoriedInstancesSequence] = self._seq("InventoriedInstancesSequence", bodies)
        elif _nonempty(rec.instances):
            raise InventoryEncodeError(
                f"{where}: instance records given, but Inventory Level is {self.level.value} "
                "(instance records only at level INSTANCE, PS3.3 C.38.1)"
            )
        if rec.series_description is not None:
            e[tags.SeriesDescription] = enc["SeriesDescription"](rec.series_description)
        if rec.body_part_examined is not None:
            e[tags.BodyPartExamined] = enc["BodyPartExamined"](rec.body_part_examined)
        e[tags.SeriesInstanceUID] = enc["SeriesInstanceUID"](
            self._type1(rec.series_instance_uid, "SeriesInstanceUID", where)
        )
        e[tags.SeriesNumber] = self._is("SeriesNumber", rec.series_number)
        if rec.laterality is not None:
            e[tags.Laterality] = enc["Laterality"](rec.laterality)
        if rec.storage_media_file_set_id is not None:
            e[tags.StorageMediaFileSetID] = enc["StorageMediaFileSetID"](
                rec.storage_media_file_set_id
            )
        if rec.original_attributes:
            e[tags.OriginalAttributesSequence] = self.original_attributes(rec.original_attributes)
        if rec.other:
            return merge_other(e, rec.other, self.codec, where), count
        return b"".join(e.values()), count

    def study(self, rec: StudyRecord) -> tuple[bytes, int]:
        """Encode one study record as an item body; return ``(body, record count)``.

        The record count is 1 for the study plus one per series and instance record.
        """
        enc = self._enc
        where = f"study record {rec.study_instance_uid!r}"
        e: dict[int, bytes] = {
            tags.StudyDate: enc["StudyDate"](rec.study_date),
            tags.StudyTime: enc["StudyTime"](rec.study_time),
            tags.AccessionNumber: enc["AccessionNumber"](rec.accession_number),
        }
        if rec.retrieve_ae_title is not None:
            e[tags.RetrieveAETitle] = enc["RetrieveAETitle"](rec.retrieve_ae_title)
        if rec.instance_availability is not None:
            e[tags.InstanceAvailability] = enc["InstanceAvailability"](rec.instance_availability)
        e[tags.ModalitiesInStudy] = enc["ModalitiesInStudy"](rec.modalities_in_study)
        if rec.referring_physician_name is not None:
            e[tags.ReferringPhysicianName] = enc["ReferringPhysicianName"](
                rec.referring_physician_name
            )
        e[tags.ItemInventoryDateTime] = enc["ItemInventoryDateTime"](
            self._type1(rec.item_inventory_datetime, "ItemInventoryDateTime", where),
        )
        if rec.removed_from_operational_use is not None:
            e[tags.RemovedFromOperationalUse] = enc["RemovedFromOperationalUse"](
                rec.removed_from_operational_use
            )
        if rec.reason_for_removal is not None:
            e[tags.ReasonForRemovalCodeSequence] = self.codes(
                "ReasonForRemovalCodeSequence", rec.reason_for_removal
            )
        if rec.stored_instance_base_uri is not None:
            e[tags.StoredInstanceBaseURI] = enc["StoredInstanceBaseURI"](
                rec.stored_instance_base_uri
            )
        if rec.file_set_access:
            e[tags.FileSetAccessSequence] = self.file_set_access(rec.file_set_access)
        e[tags.StudyUpdateDateTime] = enc["StudyUpdateDateTime"](rec.study_update_datetime)
        count = 1
        if self.level.has_series:
            ser = self.series
            bodies = []
            for s in rec.series:
                body, n = ser(s)
                bodies.append(body)
                count += n
            # Type 2C: present at levels SERIES and INSTANCE, empty for a study without series
            e[tags.InventoriedSeriesSequence] = self._seq("InventoriedSeriesSequence", bodies)
        elif _nonempty(rec.series):
            raise InventoryEncodeError(
                f"{where}: series records given, but Inventory Level is STUDY "
                "(study records only, PS3.3 C.38.1)"
            )
        e[tags.StudyDescription] = enc["StudyDescription"](rec.study_description)
        if rec.retrieve_url is not None:
            e[tags.RetrieveURL] = enc["RetrieveURL"](rec.retrieve_url)
        e[tags.PatientName] = enc["PatientName"](rec.patient_name)
        e[tags.PatientID] = enc["PatientID"](rec.patient_id)
        if rec.issuer_of_patient_id is not None:
            e[tags.IssuerOfPatientID] = enc["IssuerOfPatientID"](rec.issuer_of_patient_id)
        e[tags.PatientBirthDate] = enc["PatientBirthDate"](rec.patient_birth_date)
        e[tags.PatientSex] = enc["PatientSex"](rec.patient_sex)
        e[tags.StudyInstanceUID] = enc["StudyInstanceUID"](
            self._type1(rec.study_instance_uid, "StudyInstanceUID", where)
        )
        e[tags.StudyID] = enc["StudyID"](rec.study_id)
        e[tags.NumberOfStudyRelatedSeries] = self._is(
            "NumberOfStudyRelatedSeries", rec.number_of_study_related_series
        )
        e[tags.NumberOfStudyRelatedInstances] = self._is(
            "NumberOfStudyRelatedInstances", rec.number_of_study_related_instances
        )
        if rec.storage_media_file_set_id is not None:
            e[tags.StorageMediaFileSetID] = enc["StorageMediaFileSetID"](
                rec.storage_media_file_set_id
            )
        if rec.original_attributes:
            e[tags.OriginalAttributesSequence] = self.original_attributes(rec.original_attributes)
        if rec.other:
            return merge_other(e, rec.other, self.codec, where), count
        return b"".join(e.values()), count


def _text_encoder(f: Field, codec: str) -> Callable[[Any], bytes]:
    """Return a fast encoder of one text element; unusual values take the checked slow path.

    ``str`` enums of :mod:`dicom_inventory.enum` encode as their value.
    """
    prefix, long, vr = f.prefix, f.long, f.vr
    empty = f.raw(b"")
    limit = MAX_CHARS.get(vr, 0xFFFF)
    pad = b"\x00" if vr == "UI" else b" "
    text_codec = codec if vr in CHARSET_VRS else "ascii"
    size = 4 if long else 2

    def slow(value: Any) -> bytes:
        return f.raw(_text_bytes(f, value, codec))

    if vr == "UI":
        match = _UID_RE.fullmatch
        known: set[str] = set()  # valid UIDs seen first (SOP classes, transfer syntaxes repeat)

        def encode_uid(value: Any) -> bytes:
            if value is None:
                return empty
            if value in known or (isinstance(value, str) and len(value) <= 64 and match(value)):
                if len(known) < 1024:
                    known.add(value)
                raw = value.encode("ascii")
                if len(raw) & 1:
                    raw += pad
                out: bytes = prefix + len(raw).to_bytes(2, "little") + raw
                return out
            return slow(value)

        return encode_uid

    def encode_text(value: Any) -> bytes:
        if value is None:
            return empty
        if isinstance(value, str) and len(value) <= limit and "\\" not in value:
            try:
                raw = value.encode(text_codec)
            except UnicodeEncodeError:
                return slow(value)
            if len(raw) & 1:
                raw += pad
            if not long and len(raw) > 0xFFFF:
                return slow(value)
            return prefix + len(raw).to_bytes(size, "little") + raw
        return slow(value)

    return encode_text


def _nonempty(items: Iterable[Any]) -> bool:
    return any(True for _ in items)


def _access_end_points(ep: AccessEndPoints) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if ep.retrieve_ae_title is not None:
        attrs["RetrieveAETitle"] = ep.retrieve_ae_title
    if ep.retrieve_url is not None:
        attrs["RetrieveURL"] = ep.retrieve_url
    if ep.stored_instance_base_uri is not None:
        attrs["StoredInstanceBaseURI"] = ep.stored_instance_base_uri
    return attrs


def file_access_attributes(fa: FileAccess) -> dict[str, Any]:
    """The Stored File Access Macro (PS3.3 Table C.38.2-2) of `fa` as ``{keyword: value}``,
    the attributes it has a value for (enums as their strings)."""
    attrs: dict[str, Any] = {"FileAccessURI": fa.uri}
    for kw, value in (
        ("ContainerFileType", fa.container_type),
        ("FilenameInContainer", fa.filename_in_container),
        ("FileOffsetInContainer", fa.offset),
        ("FileLengthInContainer", fa.length),
        ("StoredInstanceTransferSyntaxUID", fa.transfer_syntax_uid),
        ("LossyImageCompressionRatio", fa.lossy_image_compression_ratio),
        ("MACAlgorithm", fa.mac_algorithm),
        ("MAC", fa.mac),
    ):
        if value is not None:
            attrs[kw] = getattr(value, "value", value)
    return attrs


def _reference_attrs(ref: InventoryReference) -> dict[str, Any]:
    """Inventory Reference Macro (PS3.3 Table C.38.2-3) as ``{keyword: value}``."""
    attrs: dict[str, Any] = {
        "ReferencedSOPClassUID": ref.sop_class_uid,
        "ReferencedSOPInstanceUID": ref.sop_instance_uid,
    }
    if ref.access_end_points is not None:
        attrs["InventoryAccessEndPointsSequence"] = [_access_end_points(ref.access_end_points)]
    if ref.file_access is not None:
        attrs.update(file_access_attributes(ref.file_access))
    if ref.incorporated:
        attrs["IncorporatedInventoryInstanceSequence"] = [
            _reference_attrs(r) for r in ref.incorporated
        ]
    return attrs


def _header_attrs(h: InventoryHeader) -> dict[str, Any]:
    """All top-level attributes of the header except the studies sequence and counts."""
    eq = h.equipment
    attrs: dict[str, Any] = {
        "SpecificCharacterSet": h.specific_character_set or None,
        "SOPClassUID": h.sop_class_uid,
        "SOPInstanceUID": h.sop_instance_uid,
        "ContentDate": h.content_date,
        "ContentTime": h.content_time,
        "Manufacturer": eq.manufacturer,
        "ScopeOfInventorySequence": _scope_items(h.scope, tuple(h.specific_character_set)),
        "InventoryPurpose": h.inventory_purpose,
        "InventoryLevel": InventoryLevel(h.inventory_level).value,
        "IncorporatedInventoryInstanceSequence": [_reference_attrs(r) for r in h.incorporated],
        "InventoryCompletionStatus": InventoryCompletionStatus(h.completion_status).value,
    }
    if not h.specific_character_set:
        del attrs["SpecificCharacterSet"]
    optional = {
        "InstanceCreationDate": h.instance_creation_date,
        "InstanceCreationTime": h.instance_creation_time,
        "TimezoneOffsetFromUTC": h.timezone_offset_from_utc,
        "InstitutionName": eq.institution_name,
        "StationName": eq.station_name,
        "ManufacturerModelName": eq.manufacturer_model_name,
        "DeviceSerialNumber": eq.device_serial_number,
        "SoftwareVersions": eq.software_versions,
        "InventoryInstanceDescription": h.inventory_instance_description,
        "TransactionUID": h.transaction_uid,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    if h.inventory_access_end_points is not None:
        attrs["InventoryAccessEndPointsSequence"] = [
            _access_end_points(h.inventory_access_end_points)
        ]
    if h.study_access_end_points is not None:
        attrs["StudyAccessEndPointsSequence"] = [_access_end_points(h.study_access_end_points)]
    for kw, value in h.other.items():
        if kw in attrs or kw in _COUNT_KEYWORDS or kw == "InventoriedStudiesSequence":
            raise InventoryEncodeError(f"header: {kw} is modelled; set the field, not `other`")
        attrs[kw] = value
    for kw in ("SOPInstanceUID", "ContentDate", "ContentTime"):
        if not attrs[kw]:
            raise InventoryEncodeError(f"header: {kw} is Type 1 and needs a value (PS3.3 C.38.1)")
    return attrs


def _scope_items(scope: ScopeOfInventory | None, charset: tuple[str, ...]) -> list[dict[str, Any]]:
    """Scope of Inventory Sequence: one item in the standard form, or none (universal)."""
    if scope is None:
        return []
    if not isinstance(scope, ScopeOfInventory):
        raise InventoryEncodeError(
            f"header: scope is a {type(scope).__name__}; expected a ScopeOfInventory, e.g. "
            "ScopeOfInventory.from_keys({'PatientID': 'P*'}) (PS3.3 C.38.2.1)"
        )
    if scope.specific_character_set and tuple(scope.specific_character_set) != charset:
        raise InventoryEncodeError(
            f"header: the scope's Specific Character Set {scope.specific_character_set!r} is not "
            f"the instance's {charset!r}; the writer encodes the whole instance in one"
        )
    item = scope.to_item()
    if not item:
        return []  # universal match: an empty sequence (C.38.2.1.1.1)
    # strict on writing: the item passes the structure rules the validator applies
    problems = check_scope_item(item)
    if problems:
        raise InventoryEncodeError(f"header: {problems[0].path}: {problems[0].message}")
    return [item]


_COUNT_KEYWORDS = ("NumberOfStudyRecordsInInstance", "TotalNumberOfStudyRecords")
_STUDIES_TAG = tags.InventoriedStudiesSequence


def _file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> bytes:
    """Preamble, ``DICM`` and File Meta Information (PS3.10 7.1), always Explicit VR LE."""
    body = encode_attributes(
        {
            "FileMetaInformationVersion": b"\x00\x01",
            "MediaStorageSOPClassUID": sop_class_uid,
            "MediaStorageSOPInstanceUID": sop_instance_uid,
            "TransferSyntaxUID": transfer_syntax,
            "ImplementationClassUID": IMPLEMENTATION_CLASS_UID,
            "ImplementationVersionName": IMPLEMENTATION_VERSION_NAME,
        },
        "ascii",
    )
    group_length = field_for("FileMetaInformationGroupLength").raw(struct.pack("<I", len(body)))
    return b"\x00" * 128 + b"DICM" + group_length + body


@dataclass(frozen=True, slots=True)
class WrittenInstance:
    """What the encoder wrote for one Inventory SOP Instance."""

    path: Path | None
    """The file written (``None`` when written to a stream)."""
    sop_instance_uid: str
    """Its SOP Instance UID."""
    number_of_study_records: int
    """Number of Study Records in Instance (0008,0427)."""
    total_number_of_study_records: int
    """Total Number of Study Records (0008,0428) of its subtree."""
    number_of_records: int
    """All records (study + series + instance) held in this instance itself."""
    completion_status: InventoryCompletionStatus
    """Inventory Completion Status (0008,0426) written."""


class _DeflateSink:
    def __init__(self, raw: IO[bytes], level: int) -> None:
        self.raw = raw
        self.z = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.written = 0

    def write(self, data: bytes) -> None:
        out = self.z.compress(data)
        self.written += len(out)
        self.raw.write(out)

    def finish(self) -> None:
        tail = self.z.flush()
        self.written += len(tail)
        # An odd-length deflated stream is padded with one zero byte, as pydicom does.
        self.raw.write(tail + (b"\x00" if self.written & 1 else b""))


class InventoryWriter:
    """Writes one Inventory SOP Instance, streaming its study records.

    Use as a context manager, or call :meth:`close`::

        with InventoryWriter(path, header) as w:
            for study in studies:
                w.write_study(study)

    Parameters
    ----------
    target : str, os.PathLike or binary file
        Where to write the Part 10 file.
    header : InventoryHeader
        The header; its two counts are ignored and computed from what is written.
    transfer_syntax : str
        Explicit VR Little Endian (default) or Deflated Explicit VR Little Endian.
    deflate_level : int
        zlib level for the deflated transfer syntax.
    incorporated_study_records : int
        Study records held by the instances this one incorporates (their own Total Number of
        Study Records, summed), for a node of a split inventory.

    Notes
    -----
    Number of Study Records in Instance (0008,0427) counts the study records written here.
    Total Number of Study Records (0008,0428) counts the study records of this node's subtree:
    those written here plus `incorporated_study_records`, duplicates included (assumption Q6,
    ``docs/standard-notes.md``). The root of a split inventory holds no records, so its total
    is the sum over its leaves.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        header: InventoryHeader,
        *,
        transfer_syntax: str = ExplicitVRLittleEndian,
        deflate_level: int = 6,
        incorporated_study_records: int = 0,
    ) -> None:
        if transfer_syntax not in _SUPPORTED_SYNTAXES:
            raise InventoryEncodeError(
                f"transfer syntax {transfer_syntax} is not supported for writing; use Explicit VR "
                f"Little Endian ({ExplicitVRLittleEndian}) or Deflated Explicit VR Little Endian "
                f"({DeflatedExplicitVRLittleEndian})"
            )
        self.header = header
        self.codec = _codec_for(tuple(header.specific_character_set))
        self.encoder = StudyEncoder(header.inventory_level, self.codec)
        attrs = _header_attrs(header)
        body = {kw: v for kw, v in attrs.items() if field_for(kw).tag < _STUDIES_TAG}
        self._tail_attrs = {kw: v for kw, v in attrs.items() if field_for(kw).tag > _STUDIES_TAG}
        self.path: Path | None
        if isinstance(target, (str, os.PathLike)):
            self.path = Path(target)
            self._file: IO[bytes] = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            self._own = True
        else:
            self.path = None
            self._file = target
            self._own = False
        self._file.write(_file_meta(header.sop_class_uid, header.sop_instance_uid, transfer_syntax))
        self._deflate = (
            _DeflateSink(self._file, deflate_level)
            if transfer_syntax == DeflatedExplicitVRLittleEndian
            else None
        )
        self._sink = self._deflate or self._file
        head = sorted(encode_element(kw, v, self.codec) for kw, v in body.items())
        self._buf: list[bytes] = [b"".join(data for _, data in head)]
        self._buf.append(field_for("InventoriedStudiesSequence").sequence_start())
        self._buffered = 0
        self.study_records = 0
        self.records = 0
        self.incorporated_study_records = incorporated_study_records
        self._closed = False

    def __enter__(self) -> InventoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()
        elif not self._closed:
            self.close()

    def write_study(self, study: StudyRecord) -> int:
        """Encode and append one study record; return the number of records it held."""
        body, n = self.encoder.study(study)
        self.write_encoded_study(body, n)
        return n

    def write_encoded_study(self, body: bytes, records: int) -> None:
        """Append a study item body encoded by :class:`StudyEncoder` (same level and codec)."""
        self._buf.append(ITEM_START)
        self._buf.append(body)
        self._buf.append(ITEM_END)
        self.study_records += 1
        self.records += records
        self._buffered += len(body)
        if self._buffered > _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        self._sink.write(b"".join(self._buf))
        self._buf.clear()
        self._buffered = 0

    def close(self, completion_status: InventoryCompletionStatus | None = None) -> WrittenInstance:
        """Close the studies sequence, write the trailing attributes and the file."""
        if self._closed:
            raise InventoryEncodeError("the writer is already closed")
        status = InventoryCompletionStatus(completion_status or self.header.completion_status)
        total = self.study_records + self.incorporated_study_records
        tail = dict(self._tail_attrs)
        tail["InventoryCompletionStatus"] = status.value
        tail["NumberOfStudyRecordsInInstance"] = self.study_records
        tail["TotalNumberOfStudyRecords"] = total
        self._buf.append(SEQ_END)
        self._buf.append(encode_attributes(tail, self.codec))
        self._flush()
        if self._deflate is not None:
            self._deflate.finish()
        if self._own:
            self._file.close()
        self._closed = True
        return WrittenInstance(
            self.path,
            self.header.sop_instance_uid,
            self.study_records,
            total,
            self.records,
            status,
        )

    def abort(self) -> None:
        """Close without finishing; a file written by path is removed."""
        if self._closed:
            return
        self._closed = True
        if self._own:
            self._file.close()
            if self.path is not None:
                self.path.unlink(missing_ok=True)


def write_inventory(
    out_dir: str | os.PathLike[str],
    header: InventoryHeader,
    studies: Iterable[StudyRecord],
    *,
    max_records: int | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    file_name: str = "{uid}.dcm",
) -> list[WrittenInstance]:
    """Write an inventory into `out_dir`, split into several instances if needed.

    Parameters
    ----------
    out_dir : path
        Directory to write into (created if missing). Files are named ``<SOP Instance UID>.dcm``.
    header : InventoryHeader
        Header of the inventory; its SOP Instance UID is that of the root.
    studies : iterable of StudyRecord
        The study records, consumed once.
    max_records : int, optional
        At most this many records (study + series + instance) per instance. Without it,
        one instance holds everything.
    transfer_syntax : str
        Explicit VR Little Endian or Deflated Explicit VR Little Endian.

    Returns
    -------
    list of WrittenInstance
        The root first, then the leaves in the order written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def path_for(uid: str) -> Path:
        return out / file_name.format(uid=uid)

    if max_records is None:
        with InventoryWriter(
            path_for(header.sop_instance_uid), header, transfer_syntax=transfer_syntax
        ) as w:
            for study in studies:
                w.write_study(study)
            return [w.close()]
    if max_records < 1:
        raise InventoryEncodeError(f"max_records must be at least 1, got {max_records}")
    return _write_split(path_for, header, studies, max_records, transfer_syntax)


def _write_split(
    path_for: Any,
    header: InventoryHeader,
    studies: Iterable[StudyRecord],
    max_records: int,
    transfer_syntax: str,
) -> list[WrittenInstance]:
    leaves: list[WrittenInstance] = []
    codec = _codec_for(tuple(header.specific_character_set))
    encoder = StudyEncoder(header.inventory_level, codec)
    writer: InventoryWriter | None = None

    def new_leaf() -> InventoryWriter:
        uid = generate_uid()
        leaf = replace(
            header,
            sop_instance_uid=uid,
            incorporated=(),
            inventory_instance_description=(
                f"Part {len(leaves) + 1} of the inventory whose root is {header.sop_instance_uid}"
            ),
        )
        return InventoryWriter(path_for(uid), leaf, transfer_syntax=transfer_syntax)

    try:
        for study in studies:
            body, n = encoder.study(study)
            if writer is not None and writer.records and writer.records + n > max_records:
                leaves.append(writer.close(InventoryCompletionStatus.PARTIAL))
                writer = None
            if writer is None:
                writer = new_leaf()
            writer.write_encoded_study(body, n)
        # The last leaf: if it is the only one it holds every record, so its subtree
        # fulfils the Scope exactly as far as the whole inventory does.
        last_status = header.completion_status if not leaves else InventoryCompletionStatus.PARTIAL
        if writer is not None or not leaves:
            writer = writer or new_leaf()
            leaves.append(writer.close(last_status))
            writer = None
    except BaseException:
        # No orphan parts: a failed production leaves nothing behind (a re-run starts clean).
        if writer is not None:
            writer.abort()
        for leaf in leaves:
            if leaf.path is not None:
                leaf.path.unlink(missing_ok=True)
        raise
    refs = tuple(InventoryReference(sop_instance_uid=leaf.sop_instance_uid) for leaf in leaves)
    root_header = replace(header, incorporated=tuple(header.incorporated) + refs)
    incorporated = sum(leaf.total_number_of_study_records for leaf in leaves)
    with InventoryWriter(
        path_for(header.sop_instance_uid),
        root_header,
        transfer_syntax=transfer_syntax,
        incorporated_study_records=incorporated,
    ) as root:
        root_written = root.close()
    return [root_written, *leaves]


def encode_inventory(
    header: InventoryHeader,
    studies: Iterable[StudyRecord],
    *,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> bytes:
    """Return one Inventory SOP Instance as Part 10 bytes (small inventories, tests)."""
    buf = BytesIO()
    w = InventoryWriter(buf, header, transfer_syntax=transfer_syntax)
    for study in studies:
        w.write_study(study)
    w.close()
    return buf.getvalue()


def to_dataset(header: InventoryHeader, studies: Iterable[StudyRecord], **kwargs: Any) -> Any:
    """Return a small inventory as a pydicom ``FileDataset`` (encoded, then read by pydicom).

    Going through the bytes keeps one encoder: the ``Dataset`` is exactly what the file would
    hold. Meant for small inventories (tests, DIMSE payloads); use :func:`write_inventory` for
    large ones.
    """
    import pydicom

    return pydicom.dcmread(BytesIO(encode_inventory(header, studies, **kwargs)))
