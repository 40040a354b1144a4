"""The conditions of the Inventory IOD's 1C and 2C attributes, written once as predicates.

:mod:`dicom_inventory.attributes` says *that* an attribute is 1C or 2C at a place; this module
says *when* it is required, for the validator to check. Each :class:`Condition` names the kind
of item it applies to (the macro that holds the attribute), the validator rule it reports, the
condition as the standard writes it, and the section it comes from. A predicate looks at one
raw item (``{tag: (VR, value, offset)}``, :mod:`dicom_inventory._parse`), so that checking a
billion instance records stays cheap.

Where the condition text could not be read (``assumed``), the rule is a warning. The 1C/2C rows
with no predicate here are listed in :data:`NOT_CHECKED` with the reason, and a test keeps both
lists complete against the attribute table: every 1C/2C attribute of the IOD is either checked
or named with the reason it is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dicom_inventory import tags
from dicom_inventory._parse import RawDataset
from pydicom.datadict import tag_for_keyword

__all__ = ["BY_KIND", "CONDITIONS", "ELSEWHERE", "NOT_CHECKED", "Condition", "item_kinds"]

_Predicate = Callable[[RawDataset], bool]


def _value(ds: RawDataset, tag: int) -> bytes:
    el = ds.get(tag)
    if el is None or not isinstance(el[1], bytes):
        return b""
    return el[1].strip(b" \x00")


def _present(tag: int) -> _Predicate:
    return lambda ds: bool(_value(ds, tag))


def _container_in(*kinds: bytes) -> _Predicate:
    wanted = frozenset(kinds)
    return lambda ds: _value(ds, tags.ContainerFileType) in wanted


@dataclass(frozen=True, slots=True)
class Condition:
    """When one conditional attribute is required, and what the validator reports if not."""

    kind: str
    """The items it applies to: ``file`` (Stored File Access Macro: File Access Sequence
    items and Inventory references), ``file-item`` (File Access Sequence items only),
    ``file-set``, ``record`` (study, series and instance records) or ``code`` (Code Sequence
    Macro)."""
    keyword: str
    type: str
    """``1C`` (required with a value) or ``2C`` (required, may be empty)."""
    rule: str
    """The validator rule reported when the attribute is required and missing."""
    text: str
    """The condition, as the standard writes it (or as assumed)."""
    section: str
    required: _Predicate
    """True if the attribute is required in this item."""
    assumed: bool = False
    """The condition text was not read: its rule is a warning."""
    trigger: str | None = None
    """An attribute without which the condition never holds (a fast skip: the validator runs
    this for every record)."""

    @property
    def tag(self) -> int:
        """The attribute's tag."""
        return int(tag_for_keyword(self.keyword) or 0)


_C382 = "PS3.3 Table C.38.2-2"
_T881 = "PS3.3 Table 8.8-1a"
#: Every condition checked, by kind of item.
CONDITIONS: tuple[Condition, ...] = (
    # -- Stored File Access Macro (PS3.3 Table C.38.2-2), read
    Condition(
        "file-item",
        "FileAccessURI",
        "1C",
        "file-access-uri",
        "required if the instance is in the DICOM File Format and reachable by a non-DICOM "
        "protocol: an item of File Access Sequence exists to say how",
        _C382,
        lambda ds: True,
    ),
    Condition(
        "file",
        "ContainerFileType",
        "1C",
        "file-container-type",
        "required whenever File Access URI is present",
        _C382,
        _present(tags.FileAccessURI),
        trigger="FileAccessURI",
    ),
    Condition(
        "file",
        "StoredInstanceTransferSyntaxUID",
        "1C",
        "file-transfer-syntax",
        "required whenever File Access URI is present",
        _C382,
        _present(tags.FileAccessURI),
        trigger="FileAccessURI",
    ),
    Condition(
        "file",
        "FilenameInContainer",
        "1C",
        "file-filename",
        "required if Container File Type is ZIP, TAR or TARGZIP",
        _C382,
        _container_in(b"ZIP", b"TAR", b"TARGZIP"),
        trigger="ContainerFileType",
    ),
    Condition(
        "file",
        "FileOffsetInContainer",
        "1C",
        "file-offset-length",
        "required if Container File Type is BLOB",
        _C382,
        _container_in(b"BLOB"),
        trigger="ContainerFileType",
    ),
    Condition(
        "file",
        "FileLengthInContainer",
        "1C",
        "file-offset-length",
        "required if Container File Type is BLOB",
        _C382,
        _container_in(b"BLOB"),
        trigger="ContainerFileType",
    ),
    Condition(
        "file",
        "MACAlgorithm",
        "1C",
        "file-mac-algorithm",
        "required if MAC is present (condition text not read, assumed)",
        _C382,
        lambda ds: tags.MAC in ds,
        assumed=True,
        trigger="MAC",
    ),
    # -- File Set Access Sequence items (condition not read; the macro's rule assumed)
    Condition(
        "file-set",
        "ContainerFileType",
        "1C",
        "file-container-type",
        "required whenever File Access URI is present",
        _C382,
        _present(tags.FileAccessURI),
        trigger="FileAccessURI",
    ),
    # -- records (PS3.3 Table C.38.1-1; condition text not read, Q3)
    Condition(
        "record",
        "ReasonForRemovalCodeSequence",
        "2C",
        "removal-reason",
        "required while Removed from Operational Use is Y (assumed 2C condition, Q3)",
        "PS3.3 C.38.1 (Q3)",
        lambda ds: _value(ds, tags.RemovedFromOperationalUse) == b"Y",
        assumed=True,
        trigger="RemovedFromOperationalUse",
    ),
    # -- Code Sequence Macro (PS3.3 Table 8.8-1a, read in PS3.3 2024c sect_8.8: "Shall be present
    # if the code value length is 16 characters or less, and the code value is not a URN or URL";
    # the designator "if Code Value or Long Code Value is present")
    Condition(
        "code",
        "CodeValue",
        "1C",
        "code-value",
        "required unless the code is given as Long Code Value or URN Code Value",
        _T881,
        lambda ds: not (_value(ds, tags.LongCodeValue) or _value(ds, tags.URNCodeValue)),
    ),
    Condition(
        "code",
        "CodingSchemeDesignator",
        "1C",
        "code-scheme",
        "required if Code Value or Long Code Value is present",
        _T881,
        lambda ds: bool(_value(ds, tags.CodeValue) or _value(ds, tags.LongCodeValue)),
    ),
)

#: 1C/2C attributes whose condition is checked by another rule, with that rule.
ELSEWHERE: dict[str, str] = {
    "InventoriedSeriesSequence": "level-nesting (present at levels SERIES and INSTANCE)",
    "InventoriedInstancesSequence": "level-nesting (present at level INSTANCE)",
    "IncorporatedInventoryInstanceSequence": "chain-copy (a reference repeats the child's own)",
    "RangeMatchingSequence": "scope-range-items, scope-matching-vr (dicom_inventory.scope)",
    "ListOfUIDMatchingSequence": "scope-uid-list (dicom_inventory.scope)",
    "EmptyValueMatchingSequence": "scope-extended-assumed (dicom_inventory.scope)",
    "GeneralMatchingSequence": "scope-type1-key (dicom_inventory.scope)",
    "ExtendedMatchingMechanisms": "scope-extended-assumed (dicom_inventory.scope)",
    "TimezoneOffsetFromUTC": "scope-extended-matching (dicom_inventory.scope)",
    "QueryRetrieveLevel": "scope-extended-matching (dicom_inventory.scope)",
}

_UNREAD = "condition text not read; no rule is invented for it"
_OUTSIDE = "depends on facts outside the file"
#: 1C/2C attributes of the IOD that no rule checks, by keyword, with the reason.
NOT_CHECKED: dict[str, str] = {
    "SpecificCharacterSet": "decoded where present; whether another set was needed is not "
    "decidable from the bytes",
    "TransactionUID": "required if created by Inventory Creation: " + _OUTSIDE,
    "RetrieveAETitle": _UNREAD + " (study level, with Retrieve URL)",
    "RetrieveURL": _UNREAD + " (study level, with Retrieve AE Title)",
    "RemovedFromOperationalUse": _UNREAD + " (Q3)",
    "CodingSchemeVersion": "required if the designator does not identify the scheme: " + _OUTSIDE,
    "LongCodeValue": "covered by code-value (one of the three forms of the code is present)",
    "URNCodeValue": "covered by code-value (one of the three forms of the code is present)",
    "ContextGroupVersion": "Code Sequence Macro context identification: not used in inventories",
    "ContextGroupExtensionCreatorUID": "Code Sequence Macro context identification: not used",
    "ContextGroupLocalVersion": "Code Sequence Macro context identification: not used",
    "MappingResource": "Code Sequence Macro context identification: not used",
}
#: 1C/2C attributes of the other macros and modules of the IOD (SOP Common, General
#: Equipment, content items, identifiers), never written by this library: not checked.
_MACROS_NOT_USED = (
    "ConversionSourceAttributesSequence EncryptedAttributesSequence "
    "HL7StructuredDocumentReferenceSequence PixelPaddingValue QueryRetrieveView "
    "ReferencedDefinedProtocolSequence ReferencedPerformedProtocolSequence SeriesInstanceUID "
    "LocalNamespaceEntityID UniversalEntityID UniversalEntityIDType CodingSchemeExternalID "
    "CodingSchemeRegistry CodingSchemeUID InstitutionCodeSequence InstitutionName "
    "ConceptCodeSequence Date DateTime FloatingPointValue MeasurementUnitsCodeSequence "
    "NumericValue PersonName RationalDenominatorValue RationalNumeratorValue "
    "ReferencedSOPSequence TextValue Time UID ReferencedFrameNumber ReferencedSegmentNumber "
    "CertifiedTimestampType SelectorAttribute SelectorAttributePrivateCreator "
    "SelectorSequencePointer SelectorSequencePointerItems SelectorSequencePointerPrivateCreator "
    "SelectorValueNumber NonidentifyingPrivateElements PrivateDataElementNumberOfItems "
    "ReferencedWaveformChannels RequestedProcedureID ScheduledProcedureStepID"
).split()
NOT_CHECKED.update(
    {kw: "macro of another module, not written by this library" for kw in _MACROS_NOT_USED}
)

_RECORDS = frozenset(
    {
        tags.InventoriedStudiesSequence,
        tags.InventoriedSeriesSequence,
        tags.InventoriedInstancesSequence,
    }
)


def item_kinds(sequence_tag: int, sequence_keyword: str) -> tuple[str, ...]:
    """Which :class:`Condition` kinds the items of a sequence are (maybe none)."""
    if sequence_tag == tags.FileAccessSequence:
        return ("file", "file-item")
    if sequence_tag == tags.IncorporatedInventoryInstanceSequence:
        return ("file",)  # Inventory Reference Macro includes Stored File Access (C.38.2-3)
    if sequence_tag == tags.FileSetAccessSequence:
        return ("file-set",)
    if sequence_tag in _RECORDS:
        return ("record",)
    if sequence_keyword.endswith("CodeSequence"):
        return ("code",)
    return ()


#: The conditions by kind, for the validator's loop: (tag, trigger tag or 0, condition).
BY_KIND: dict[str, tuple[tuple[int, int, Condition], ...]] = {
    kind: tuple(
        (c.tag, int(tag_for_keyword(c.trigger) or 0) if c.trigger else 0, c)
        for c in CONDITIONS
        if c.kind == kind
    )
    for kind in ("file", "file-item", "file-set", "record", "code")
}
