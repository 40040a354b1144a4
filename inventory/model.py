"""Typed model of an Inventory: header, study/series/instance records and their macros.

The classes follow PS3.3 C.38.1 (Inventory Module) attribute by attribute, with the
standard's names in snake case. They are plain slotted dataclasses, not pydicom ``Dataset``
subclasses: an inventory may hold hundreds of millions of records, so records are cheap
objects that the byte-level encoder (:mod:`dicom_inventory.encode`) writes directly and the
streaming reader (:mod:`dicom_inventory.read`) builds directly.

Conventions
-----------
* Text values (UI, CS, DA, TM, DT, LO, PN, ...) are kept as the DICOM string form
  (``"20240131"``), so that a round trip is exact and no time zone is invented.
* ``None`` means "no value": a Type 2 attribute is then written empty, a Type 3 attribute is
  left out. A Type 1 attribute may not be ``None`` (the encoder raises).
* Multi-valued attributes are tuples of strings.
* ``series`` and ``instances`` may be any iterable, including a generator: the encoder consumes
  them once, so a study with a million instances never needs to be in memory.
* ``other`` holds any further attribute the repository manages (Standard Extended Conformance,
  PS3.17 YYYY.3.5) as ``{keyword: value}``; values of sequences are lists of such dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Union

from dicom_inventory.enum import (
    ContainerFileType,
    InstanceAvailability,
    InventoryCompletionStatus,
    InventoryLevel,
    ReasonForAttributeModification,
)
from dicom_inventory.scope import ScopeOfInventory

__all__ = [
    "AccessEndPoints",
    "AttributeValue",
    "Code",
    "Equipment",
    "FileAccess",
    "FileSetAccess",
    "InstanceRecord",
    "InventoryHeader",
    "InventoryReference",
    "OriginalAttributes",
    "SeriesRecord",
    "StudyRecord",
]

#: A data element value in the generic ``{keyword: value}`` form used for scope keys, original
#: (modified) attributes and extra record attributes. Sequences are lists of such mappings.
# A recursive alias with a forward reference: `X | Y` cannot express it at runtime on 3.10.
AttributeValue = Union[  # noqa: UP007
    None,
    str,
    int,
    float,
    bytes,
    tuple[str, ...],
    tuple[float, ...],
    list["Mapping[str, AttributeValue]"],
]


def _kw(keyword: str) -> dict[str, str]:
    """Field metadata naming the attribute a field holds.

    The metadata names the attribute's row in the attribute table
    (:mod:`dicom_inventory.attributes`) and is read by :mod:`dicom_inventory.fields`.
    """
    return {"keyword": keyword}


@dataclass(slots=True, frozen=True)
class Code:
    """An item of the Code Sequence Macro (PS3.3 Table 8.8-1)."""

    value: str = field(metadata=_kw("CodeValue"))
    """Code Value (0008,0100)."""
    scheme_designator: str = field(metadata=_kw("CodingSchemeDesignator"))
    """Coding Scheme Designator (0008,0102)."""
    meaning: str = field(metadata=_kw("CodeMeaning"))
    """Code Meaning (0008,0104)."""
    scheme_version: str | None = field(default=None, metadata=_kw("CodingSchemeVersion"))
    """Coding Scheme Version (0008,0103), Type 1C."""


@dataclass(slots=True)
class OriginalAttributes:
    """An item of Original Attributes Sequence (0400,0561), PS3.3 Table C.12.1.1.9-1.

    It records one change of the record's metadata: ``modified`` holds the attributes as they
    were *before* the change (the values the stored file may still carry), while the record
    itself holds the current, authoritative values (PS3.17 YYYY.7.9.1).
    """

    modified: Mapping[str, AttributeValue] = field(metadata=_kw("ModifiedAttributesSequence"))
    """Modified Attributes Sequence (0400,0550): the prior values, ``{keyword: value}``."""
    modification_datetime: str = field(metadata=_kw("AttributeModificationDateTime"))
    """Attribute Modification DateTime (0400,0562), DT."""
    modifying_system: str = field(metadata=_kw("ModifyingSystem"))
    """Modifying System (0400,0563)."""
    reason: ReasonForAttributeModification | str = field(
        metadata=_kw("ReasonForTheAttributeModification")
    )
    """Reason for the Attribute Modification (0400,0565)."""
    source_of_previous_values: str | None = field(
        default=None, metadata=_kw("SourceOfPreviousValues")
    )
    """Source of Previous Values (0400,0564), Type 2."""


@dataclass(slots=True)
class FileAccess:
    """An item of File Access Sequence (0008,041A): Stored File Access Macro (C.38.2-2).

    Also used (without ``expiration_datetime``) for the file access of an incorporated
    Inventory instance (Inventory Reference Macro, C.38.2-3).
    """

    uri: str = field(metadata=_kw("FileAccessURI"))
    """File Access URI (0008,0409): absolute, or relative beginning with ``./``."""
    container_type: ContainerFileType | str | None = field(
        default=None, metadata=_kw("ContainerFileType")
    )
    """Container File Type (0008,040A), 1C: required when a File Access URI is present."""
    filename_in_container: str | None = field(default=None, metadata=_kw("FilenameInContainer"))
    """Filename in Container (0008,040B), 1C: required for ZIP, TAR, TARGZIP."""
    offset: int | None = field(default=None, metadata=_kw("FileOffsetInContainer"))
    """File Offset in Container (0008,040C), UV, 1C: required for BLOB."""
    length: int | None = field(default=None, metadata=_kw("FileLengthInContainer"))
    """File Length in Container (0008,040D), UV, 1C: required for BLOB."""
    transfer_syntax_uid: str | None = field(
        default=None, metadata=_kw("StoredInstanceTransferSyntaxUID")
    )
    """Stored Instance Transfer Syntax UID (0008,040E), 1C: required with a File Access URI."""
    lossy_image_compression_ratio: tuple[str, ...] | None = field(
        default=None, metadata=_kw("LossyImageCompressionRatio")
    )
    """Lossy Image Compression Ratio (0028,2112), DS, Type 3."""
    mac_algorithm: str | None = field(default=None, metadata=_kw("MACAlgorithm"))
    """MAC Algorithm (0400,0015), 1C."""
    mac: bytes | None = field(default=None, metadata=_kw("MAC"))
    """MAC (0400,0404), OB, Type 3: over the whole stored file (C.38.2.2.1.3)."""
    expiration_datetime: str | None = field(default=None, metadata=_kw("ExpirationDateTime"))
    """Expiration DateTime (0008,0416), Type 3 (File Access Sequence items only)."""


@dataclass(slots=True)
class FileSetAccess:
    """An item of File Set Access Sequence (0008,0419) at study or series level."""

    folder_uri: str | None = field(default=None, metadata=_kw("FolderAccessURI"))
    """Folder Access URI (0008,0408), Type 3."""
    file_uri: str | None = field(default=None, metadata=_kw("FileAccessURI"))
    """File Access URI (0008,0409), Type 3: a container holding the files."""
    container_type: ContainerFileType | str | None = field(
        default=None, metadata=_kw("ContainerFileType")
    )
    """Container File Type (0008,040A), 1C: required if ``file_uri`` is present."""


@dataclass(slots=True)
class AccessEndPoints:
    """Access End Points Macro (PS3.3 Table C.38.2-4)."""

    retrieve_ae_title: tuple[str, ...] | None = field(default=None, metadata=_kw("RetrieveAETitle"))
    """Retrieve AE Title (0008,0054), Type 3."""
    retrieve_url: str | None = field(default=None, metadata=_kw("RetrieveURL"))
    """Retrieve URL (0008,1190), Type 3."""
    stored_instance_base_uri: str | None = field(
        default=None, metadata=_kw("StoredInstanceBaseURI")
    )
    """Stored Instance Base URI (0008,0407), Type 3."""


@dataclass(slots=True)
class InstanceRecord:
    """An item of Inventoried Instances Sequence (0008,0425) (PS3.3 Table C.38.1-1)."""

    sop_class_uid: str = field(metadata=_kw("SOPClassUID"))
    """SOP Class UID (0008,0016), Type 1."""
    sop_instance_uid: str = field(metadata=_kw("SOPInstanceUID"))
    """SOP Instance UID (0008,0018), Type 1."""
    instance_number: int | None = field(default=None, metadata=_kw("InstanceNumber"))
    """Instance Number (0020,0013), Type 2."""
    removed_from_operational_use: str | None = field(
        default=None, metadata=_kw("RemovedFromOperationalUse")
    )
    """Removed from Operational Use (0008,0405), 1C: ``"Y"`` or ``"N"``."""
    reason_for_removal: tuple[Code, ...] | None = field(
        default=None, metadata=_kw("ReasonForRemovalCodeSequence")
    )
    """Reason for Removal Code Sequence (0008,0406), 2C."""
    instance_availability: InstanceAvailability | str | None = field(
        default=None, metadata=_kw("InstanceAvailability")
    )
    """Instance Availability (0008,0056), Type 3."""
    file_access: tuple[FileAccess, ...] = field(default=(), metadata=_kw("FileAccessSequence"))
    """File Access Sequence (0008,041A), Type 3."""
    storage_media_file_set_id: str | None = field(
        default=None, metadata=_kw("StorageMediaFileSetID")
    )
    """Storage Media File-set ID (0088,0130), Type 3."""
    original_attributes: tuple[OriginalAttributes, ...] = field(
        default=(), metadata=_kw("OriginalAttributesSequence")
    )
    """Original Attributes Sequence (0400,0561), Type 3: prior values of this record."""
    other: Mapping[str, AttributeValue] = field(default_factory=dict)
    """Any other attribute of the instance record, ``{keyword: value}``."""


@dataclass(slots=True)
class SeriesRecord:
    """An item of Inventoried Series Sequence (0008,0424) (PS3.3 Table C.38.1-1)."""

    series_instance_uid: str = field(metadata=_kw("SeriesInstanceUID"))
    """Series Instance UID (0020,000E), Type 1."""
    modality: str = field(metadata=_kw("Modality"))
    """Modality (0008,0060), Type 1."""
    series_number: int | None = field(default=None, metadata=_kw("SeriesNumber"))
    """Series Number (0020,0011), Type 2."""
    series_description: str | None = field(default=None, metadata=_kw("SeriesDescription"))
    """Series Description (0008,103E), Type 3."""
    series_date: str | None = field(default=None, metadata=_kw("SeriesDate"))
    """Series Date (0008,0021), Type 3."""
    series_time: str | None = field(default=None, metadata=_kw("SeriesTime"))
    """Series Time (0008,0031), Type 3."""
    body_part_examined: str | None = field(default=None, metadata=_kw("BodyPartExamined"))
    """Body Part Examined (0018,0015), Type 3."""
    laterality: str | None = field(default=None, metadata=_kw("Laterality"))
    """Laterality (0020,0060), Type 3."""
    removed_from_operational_use: str | None = field(
        default=None, metadata=_kw("RemovedFromOperationalUse")
    )
    """Removed from Operational Use (0008,0405), 1C."""
    reason_for_removal: tuple[Code, ...] | None = field(
        default=None, metadata=_kw("ReasonForRemovalCodeSequence")
    )
    """Reason for Removal Code Sequence (0008,0406), 2C."""
    stored_instance_base_uri: str | None = field(
        default=None, metadata=_kw("StoredInstanceBaseURI")
    )
    """Stored Instance Base URI (0008,0407), Type 3."""
    instance_availability: InstanceAvailability | str | None = field(
        default=None, metadata=_kw("InstanceAvailability")
    )
    """Instance Availability (0008,0056), Type 3."""
    file_set_access: tuple[FileSetAccess, ...] = field(
        default=(), metadata=_kw("FileSetAccessSequence")
    )
    """File Set Access Sequence (0008,0419), Type 3."""
    storage_media_file_set_id: str | None = field(
        default=None, metadata=_kw("StorageMediaFileSetID")
    )
    """Storage Media File-set ID (0088,0130), Type 3."""
    original_attributes: tuple[OriginalAttributes, ...] = field(
        default=(), metadata=_kw("OriginalAttributesSequence")
    )
    """Original Attributes Sequence (0400,0561), Type 3."""
    instances: Iterable[InstanceRecord] = field(
        default=(), metadata=_kw("InventoriedInstancesSequence")
    )
    """Inventoried Instances Sequence (0008,0425), 2C: present at Inventory Level INSTANCE."""
    other: Mapping[str, AttributeValue] = field(default_factory=dict)
    """Any other attribute of the series record, ``{keyword: value}``."""


@dataclass(slots=True)
class StudyRecord:
    """An item of Inventoried Studies Sequence (0008,0423) (PS3.3 Table C.38.1-1)."""

    study_instance_uid: str = field(metadata=_kw("StudyInstanceUID"))
    """Study Instance UID (0020,000D), Type 1."""
    item_inventory_datetime: str = field(metadata=_kw("ItemInventoryDateTime"))
    """Item Inventory DateTime (0008,0404), Type 1: the record is correct as of this DT."""
    modalities_in_study: tuple[str, ...] | None = field(
        default=None, metadata=_kw("ModalitiesInStudy")
    )
    """Modalities in Study (0008,0061), Type 2."""
    removed_from_operational_use: str | None = field(
        default=None, metadata=_kw("RemovedFromOperationalUse")
    )
    """Removed from Operational Use (0008,0405), 1C."""
    reason_for_removal: tuple[Code, ...] | None = field(
        default=None, metadata=_kw("ReasonForRemovalCodeSequence")
    )
    """Reason for Removal Code Sequence (0008,0406), 2C."""
    number_of_study_related_series: int | None = field(
        default=None, metadata=_kw("NumberOfStudyRelatedSeries")
    )
    """Number of Study Related Series (0020,1206), Type 2."""
    number_of_study_related_instances: int | None = field(
        default=None, metadata=_kw("NumberOfStudyRelatedInstances")
    )
    """Number of Study Related Instances (0020,1208), Type 2."""
    study_update_datetime: str | None = field(default=None, metadata=_kw("StudyUpdateDateTime"))
    """Study Update DateTime (0008,041F), Type 2."""
    study_id: str | None = field(default=None, metadata=_kw("StudyID"))
    """Study ID (0020,0010), Type 2."""
    study_date: str | None = field(default=None, metadata=_kw("StudyDate"))
    """Study Date (0008,0020), Type 2."""
    study_time: str | None = field(default=None, metadata=_kw("StudyTime"))
    """Study Time (0008,0030), Type 2."""
    study_description: str | None = field(default=None, metadata=_kw("StudyDescription"))
    """Study Description (0008,1030), Type 2."""
    accession_number: str | None = field(default=None, metadata=_kw("AccessionNumber"))
    """Accession Number (0008,0050), Type 2."""
    referring_physician_name: str | None = field(
        default=None, metadata=_kw("ReferringPhysicianName")
    )
    """Referring Physician's Name (0008,0090), Type 3."""
    patient_name: str | None = field(default=None, metadata=_kw("PatientName"))
    """Patient's Name (0010,0010), Type 2."""
    patient_id: str | None = field(default=None, metadata=_kw("PatientID"))
    """Patient ID (0010,0020), Type 2."""
    issuer_of_patient_id: str | None = field(default=None, metadata=_kw("IssuerOfPatientID"))
    """Issuer of Patient ID (0010,0021), Type 3 (Issuer of Patient ID Macro)."""
    patient_birth_date: str | None = field(default=None, metadata=_kw("PatientBirthDate"))
    """Patient's Birth Date (0010,0030), Type 2."""
    patient_sex: str | None = field(default=None, metadata=_kw("PatientSex"))
    """Patient's Sex (0010,0040), Type 2."""
    retrieve_ae_title: tuple[str, ...] | None = field(default=None, metadata=_kw("RetrieveAETitle"))
    """Retrieve AE Title (0008,0054), 1C."""
    retrieve_url: str | None = field(default=None, metadata=_kw("RetrieveURL"))
    """Retrieve URL (0008,1190), 1C."""
    stored_instance_base_uri: str | None = field(
        default=None, metadata=_kw("StoredInstanceBaseURI")
    )
    """Stored Instance Base URI (0008,0407), Type 3."""
    instance_availability: InstanceAvailability | str | None = field(
        default=None, metadata=_kw("InstanceAvailability")
    )
    """Instance Availability (0008,0056), Type 3."""
    file_set_access: tuple[FileSetAccess, ...] = field(
        default=(), metadata=_kw("FileSetAccessSequence")
    )
    """File Set Access Sequence (0008,0419), Type 3."""
    storage_media_file_set_id: str | None = field(
        default=None, metadata=_kw("StorageMediaFileSetID")
    )
    """Storage Media File-set ID (0088,0130), Type 3."""
    original_attributes: tuple[OriginalAttributes, ...] = field(
        default=(), metadata=_kw("OriginalAttributesSequence")
    )
    """Original Attributes Sequence (0400,0561), Type 3."""
    series: Iterable[SeriesRecord] = field(default=(), metadata=_kw("InventoriedSeriesSequence"))
    """Inventoried Series Sequence (0008,0424), 2C: present at Inventory Level SERIES/INSTANCE."""
    other: Mapping[str, AttributeValue] = field(default_factory=dict)
    """Any other attribute of the study record, ``{keyword: value}``."""


@dataclass(slots=True)
class Equipment:
    """General Equipment Module (PS3.3 C.7.5.1) of the system that created the inventory."""

    manufacturer: str | None = field(default="dicom-inventory", metadata=_kw("Manufacturer"))
    """Manufacturer (0008,0070), Type 2."""
    institution_name: str | None = field(default=None, metadata=_kw("InstitutionName"))
    """Institution Name (0008,0080), Type 3."""
    station_name: str | None = field(default=None, metadata=_kw("StationName"))
    """Station Name (0008,1010), Type 3."""
    manufacturer_model_name: str | None = field(default=None, metadata=_kw("ManufacturerModelName"))
    """Manufacturer's Model Name (0008,1090), Type 3."""
    device_serial_number: str | None = field(default=None, metadata=_kw("DeviceSerialNumber"))
    """Device Serial Number (0018,1000), Type 3."""
    software_versions: tuple[str, ...] | None = field(
        default=None, metadata=_kw("SoftwareVersions")
    )
    """Software Versions (0018,1020), Type 3."""


@dataclass(slots=True)
class InventoryReference:
    """An item of Incorporated Inventory Instance Sequence (0008,0422).

    Inventory Reference Macro (PS3.3 Table C.38.2-3). ``incorporated`` repeats the referenced
    instance's own references (required if it incorporates others), so every node carries its
    whole subtree of references (C.38.1.1.5).
    """

    sop_instance_uid: str = field(metadata=_kw("ReferencedSOPInstanceUID"))
    """Referenced SOP Instance UID (0008,1155), Type 1."""
    sop_class_uid: str = field(
        default="1.2.840.10008.5.1.4.1.1.201.1", metadata=_kw("ReferencedSOPClassUID")
    )
    """Referenced SOP Class UID (0008,1150), Type 1: Inventory Storage."""
    access_end_points: AccessEndPoints | None = field(
        default=None, metadata=_kw("InventoryAccessEndPointsSequence")
    )
    """Inventory Access End Points Sequence (0008,0420), Type 3, a single item."""
    file_access: FileAccess | None = None
    """Stored File Access Macro attributes for fetching the referenced instance as a file."""
    incorporated: tuple[InventoryReference, ...] = field(
        default=(), metadata=_kw("IncorporatedInventoryInstanceSequence")
    )
    """Incorporated Inventory Instance Sequence (0008,0422), 1C."""


@dataclass(slots=True)
class InventoryHeader:
    """Everything of an Inventory SOP Instance except its study records.

    General Equipment (C.7.5.1), Inventory Module (C.38.1) top level and SOP Common (C.12.1).
    The record counts and, for split inventories, the references are filled in by the encoder.
    """

    sop_instance_uid: str = field(metadata=_kw("SOPInstanceUID"))
    """SOP Instance UID (0008,0018), Type 1."""
    inventory_level: InventoryLevel = field(metadata=_kw("InventoryLevel"))
    """Inventory Level (0008,0403), Type 1."""
    content_date: str = field(metadata=_kw("ContentDate"))
    """Content Date (0008,0023), Type 1: when creation of the inventory began (C.38.1.1.1)."""
    content_time: str = field(metadata=_kw("ContentTime"))
    """Content Time (0008,0033), Type 1."""
    completion_status: InventoryCompletionStatus = field(
        default=InventoryCompletionStatus.COMPLETE, metadata=_kw("InventoryCompletionStatus")
    )
    """Inventory Completion Status (0008,0426), Type 1 (of this node's subtree)."""
    inventory_purpose: str | None = field(default=None, metadata=_kw("InventoryPurpose"))
    """Inventory Purpose (0008,0401), Type 2."""
    inventory_instance_description: str | None = field(
        default=None, metadata=_kw("InventoryInstanceDescription")
    )
    """Inventory Instance Description (0008,0402), Type 3."""
    transaction_uid: str | None = field(default=None, metadata=_kw("TransactionUID"))
    """Transaction UID (0008,1195), 1C: required if created by Inventory Creation (N-ACTION)."""
    scope: ScopeOfInventory | None = field(default=None, metadata=_kw("ScopeOfInventorySequence"))
    """The single item of Scope of Inventory Sequence (0008,0400), keys in their matching
    sequences (C.38.2.1); ``None`` or a scope without keys writes an empty sequence (universal
    match, C.38.2.1.1.1)."""
    inventory_access_end_points: AccessEndPoints | None = field(
        default=None, metadata=_kw("InventoryAccessEndPointsSequence")
    )
    """Inventory Access End Points Sequence (0008,0420), Type 3."""
    study_access_end_points: AccessEndPoints | None = field(
        default=None, metadata=_kw("StudyAccessEndPointsSequence")
    )
    """Study Access End Points Sequence (0008,0421), Type 3."""
    incorporated: tuple[InventoryReference, ...] = field(
        default=(), metadata=_kw("IncorporatedInventoryInstanceSequence")
    )
    """Incorporated Inventory Instance Sequence (0008,0422), Type 2."""
    number_of_study_records_in_instance: int | None = field(
        default=None, metadata=_kw("NumberOfStudyRecordsInInstance")
    )
    """Number of Study Records in Instance (0008,0427), UL, Type 1 (set by the encoder)."""
    total_number_of_study_records: int | None = field(
        default=None, metadata=_kw("TotalNumberOfStudyRecords")
    )
    """Total Number of Study Records (0008,0428), UV, Type 1 (set by the encoder)."""
    equipment: Equipment = field(default_factory=Equipment)
    """General Equipment Module."""
    specific_character_set: tuple[str, ...] = field(
        default=("ISO_IR 192",), metadata=_kw("SpecificCharacterSet")
    )
    """Specific Character Set (0008,0005): UTF-8 by default, so any name can be written."""
    instance_creation_date: str | None = field(default=None, metadata=_kw("InstanceCreationDate"))
    """Instance Creation Date (0008,0012), Type 3."""
    instance_creation_time: str | None = field(default=None, metadata=_kw("InstanceCreationTime"))
    """Instance Creation Time (0008,0013), Type 3."""
    timezone_offset_from_utc: str | None = field(
        default=None, metadata=_kw("TimezoneOffsetFromUTC")
    )
    """Timezone Offset From UTC (0008,0201), Type 3."""
    sop_class_uid: str = field(default="1.2.840.10008.5.1.4.1.1.201.1", metadata=_kw("SOPClassUID"))
    """SOP Class UID (0008,0016): Inventory Storage."""
    other: Mapping[str, AttributeValue] = field(default_factory=dict)
    """Any other top-level attribute, ``{keyword: value}``."""
