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
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import IO, Any, BinaryIO

from dicom_inventory import tags
from dicom_inventory._parse import MAX_DEPTH
from dicom_inventory._vr import (
    _UID_RE,
    CHARSET_CODECS,
    CHARSET_VRS,
    ITEM_END,
    ITEM_START,
    MAX_CHARS,
    NUMERIC_FORMATS,
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
from dicom_inventory.attributes import ATTRIBUTES, STUDY_PATH, attributes_at
from dicom_inventory.enum import InventoryCompletionStatus, InventoryLevel
from dicom_inventory.errors import InventoryEncodeError
from dicom_inventory.fields import MODEL_PATHS, ModelField, holds_other, model_fields
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


#: How a field is written, from its Type in the attribute table (PS3.5 7.4) and the model.
_IF_SET = 0  # Type 1C, 2C, 3 held as ``None`` when absent: written when set
_IF_ANY = 1  # Type 1C, 2C, 3 held as ``()`` when absent: written when non-empty
_ALWAYS = 2  # Type 2 (and a 2C record sequence the level requires): empty when ``None``
_REQUIRED = 3  # Type 1: a value, or the encoder refuses
_REFUSE = 4  # a record sequence the Inventory Level forbids: refused when non-empty

#: The statement each mode compiles to; ``{v}`` is the field's value, ``{f}`` its encoder.
_STATEMENTS = {
    _IF_SET: ["if {v} is not None:", "    e[{tag}] = {f}({v})"],
    _IF_ANY: ["if {v}:", "    e[{tag}] = {f}({v})"],
    _ALWAYS: ["e[{tag}] = {f}({v})"],
    _REQUIRED: [
        "if {v} is None or {v} == '' or {v} == ():",
        "    raise _type1_error(obj, {kw!r})",
        "e[{tag}] = {f}({v})",
    ],
    _REFUSE: ["if {v} is not None and _nonempty({v}):", "    raise _level_error(obj, {kw!r})"],
}

#: Labels of records in error messages: (what, field holding the record's UID).
_LABELS: dict[type, tuple[str, str]] = {
    StudyRecord: ("study record", "study_instance_uid"),
    SeriesRecord: ("series record", "series_instance_uid"),
    InstanceRecord: ("instance record", "sop_instance_uid"),
}


class StudyEncoder:
    """Encodes study records (with their series and instances) to bytes, fast.

    What is written, in which order and under which Type rule, comes from the attribute table
    through the model's fields (:func:`dicom_inventory.fields.model_fields`). Each record and
    macro class gets, once per encoder, a function compiled from that plan: one statement per
    field, in tag order, as a hand-written encoder would have it. A loop interpreting the plan
    per record measured about 35% slower on ``bench/bench_iod.py`` (88-93k against 134-147k
    records/s in one run); the compiled function keeps the hand-written speed while nothing in
    this module names a record attribute. ``StudyEncoder.source(cls)`` shows what was compiled.

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
        self._n = 0  # records encoded so far (study, series and instance records)
        self._sources: dict[type, str] = {}
        self._bodies: dict[type, Callable[[Any], bytes]] = {}
        # macros first, then the records from the innermost out: each uses the ones inside
        for cls in (Code, FileAccess, FileSetAccess, OriginalAttributes):
            self._bodies[cls] = self._compile(cls)
        self._instance = self._bodies[InstanceRecord] = self._compile(InstanceRecord)
        self._series = self._bodies[SeriesRecord] = self._compile(SeriesRecord)
        self._study = self._bodies[StudyRecord] = self._compile(StudyRecord)

    def source(self, cls: type) -> str:
        """The Python source of the body encoder compiled for model class `cls`."""
        return self._sources[cls]

    # -- compiling the plans ---------------------------------------------------------------
    def _compile(self, cls: type) -> Callable[[Any], bytes]:
        """Compile the body encoder of `cls` from its model fields (see the class docstring)."""
        namespace: dict[str, Any] = {
            "_type1_error": _type1_error,
            "_level_error": self._level_error,
            "_nonempty": _nonempty,
            "_merge": self._merge_other,
        }
        # a class with `other` collects {tag: bytes} to merge into; the others a list
        has_other = holds_other(cls)
        lines = ["def encode(obj):", "    e = {}" if has_other else "    e = []"]
        modelled = []
        for i, mf in enumerate(model_fields(cls)):
            f, v = f"f{i}", f"v{i}"
            namespace[f] = self._encoder_of(mf)
            modelled.append(mf.keyword)
            lines.append(f"    {v} = obj.{mf.name}")
            for stmt in _STATEMENTS[self._mode(mf)]:
                if not has_other:
                    stmt = stmt.replace("e[{tag}] = {f}({v})", "e.append({f}({v}))")
                lines.append("    " + stmt.format(v=v, f=f, tag=mf.tag, kw=mf.keyword))
        if has_other:
            namespace["_modelled"] = frozenset(modelled)
            lines += ["    if obj.other:", "        return _merge(obj, e, _modelled)"]
            lines.append("    return b''.join(e.values())")
        else:
            lines.append("    return b''.join(e)")
        source = "\n".join(lines) + "\n"
        exec(compile(source, f"<StudyEncoder {cls.__name__}>", "exec"), namespace)  # noqa: S102
        self._sources[cls] = source
        return namespace["encode"]  # type: ignore[no-any-return]

    def _mode(self, mf: ModelField) -> int:
        if mf.item is SeriesRecord or mf.item is InstanceRecord:
            held = self.level.has_series if mf.item is SeriesRecord else self.level.has_instances
            # Type 2C: present, possibly empty, at the levels that hold these records
            return _ALWAYS if held else _REFUSE
        if mf.attribute.type == "1":
            return _REQUIRED
        if mf.attribute.type == "2":
            return _ALWAYS
        return _IF_ANY if mf.omit_empty else _IF_SET

    def _encoder_of(self, mf: ModelField) -> Callable[[Any], bytes]:
        """The function writing the element of `mf` from the field's value."""
        kw, kind = mf.keyword, mf.kind
        if kind == "int":
            return partial(self._is, kw)
        if kind == "uint":
            return partial(self._uint, kw)
        if kind == "bytes":
            raw = self._f[kw].raw
            return lambda v: raw(v + b"\x00" if len(v) & 1 else v)
        if kind != "sequence":
            return self._enc[kw]
        item = mf.item
        if item is SeriesRecord:
            return partial(self._records, kw, self._series)
        if item is InstanceRecord:
            return partial(self._records, kw, self._instance)
        if item is None:  # Modified Attributes Sequence: one item of any attributes
            codec = self.codec
            return lambda v: sequence(kw, [encode_attributes(v, codec)])
        body = self._bodies[item]
        return lambda items: sequence(kw, [body(it) for it in items])

    # -- value helpers ------------------------------------------------------------------
    def _is(self, kw: str, value: int | None) -> bytes:
        f = self._f[kw]
        if value is None:
            return f.raw(b"")
        raw = str(int(value)).encode("ascii")
        if len(raw) > 12:
            raise InventoryEncodeError(f"{kw}: {value} does not fit VR IS (12 characters)")
        return f.raw(raw + b" " if len(raw) & 1 else raw)

    def _uint(self, kw: str, value: int) -> bytes:
        f = self._f[kw]
        try:
            return f.raw(struct.pack("<" + NUMERIC_FORMATS[f.vr], value))
        except struct.error as exc:
            raise InventoryEncodeError(
                f"{kw}: {value!r} is not an unsigned integer of VR {f.vr}"
            ) from exc

    def _records(self, kw: str, body: Callable[[Any], bytes], records: Iterable[Any]) -> bytes:
        bodies = [body(r) for r in records]
        self._n += len(bodies)
        return sequence(kw, bodies)

    def _merge_other(self, obj: Any, e: dict[int, bytes], modelled: frozenset[str]) -> bytes:
        where = _where(obj)
        for keyword in obj.other:
            if keyword in modelled:
                raise InventoryEncodeError(
                    f"{where}: {keyword} is a modelled attribute of the record; set the "
                    "field, not `other`"
                )
        return merge_other(e, obj.other, self.codec, where)

    def _level_error(self, obj: Any, kw: str) -> InventoryEncodeError:
        if kw == "InventoriedSeriesSequence":
            what = "series records given, but Inventory Level is STUDY (study records only"
        else:
            what = (
                f"instance records given, but Inventory Level is {self.level.value} "
                "(instance records only at level INSTANCE"
            )
        return InventoryEncodeError(f"{_where(obj)}: {what}, PS3.3 C.38.1)")

    # -- records --------------------------------------------------------------------------
    def instance(self, rec: InstanceRecord) -> bytes:
        """Encode one instance record as the body of an item of (0008,0425)."""
        return self._instance(rec)

    def series(self, rec: SeriesRecord) -> tuple[bytes, int]:
        """Encode one series record (and its instances); return ``(body, record count)``."""
        n0 = self._n
        body = self._series(rec)
        return body, self._n - n0 + 1

    def study(self, rec: StudyRecord) -> tuple[bytes, int]:
        """Encode one study record as an item body; return ``(body, record count)``.

        The record count is 1 for the study plus one per series and instance record.
        """
        n0 = self._n
        body = self._study(rec)
        return body, self._n - n0 + 1


def _type1_error(obj: Any, kw: str) -> InventoryEncodeError:
    return InventoryEncodeError(f"{_where(obj)}: {kw} is Type 1 and needs a value (PS3.3 C.38.1)")


def _where(obj: Any) -> str:
    """Where `obj` is, for an error message: the record and its UID, or the macro's item."""
    label = _LABELS.get(type(obj))
    if label is not None:
        return f"{label[0]} {getattr(obj, label[1])!r}"
    return f"an item of {MODEL_PATHS[type(obj)][-1]}"


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
    """The Stored File Access Macro (PS3.3 Table C.38.2-2) of `fa` as ``{keyword: value}``.

    It holds the attributes `fa` has a value for (enums as their strings).

    The macro as the Inventory Reference Macro (Table C.38.2-3) and a Repository Query response
    carry it: without Expiration DateTime, which only File Access Sequence items hold.
    """
    attrs: dict[str, Any] = {"FileAccessURI": fa.uri}
    for mf in model_fields(FileAccess):
        value = getattr(fa, mf.name)
        if value is not None and mf.keyword in _REFERENCE_FILE_ACCESS:
            attrs[mf.keyword] = getattr(value, "value", value)
    return attrs


#: Keywords of the Stored File Access Macro as the Inventory Reference Macro includes it.
_REFERENCE_FILE_ACCESS = frozenset(
    a.keyword for a in attributes_at(("IncorporatedInventoryInstanceSequence",))
)


def _check_reference_depth(refs: Iterable[InventoryReference]) -> None:
    """Refuse references nested deeper than any reader of ours reads (iteratively, no recursion).

    Each reference repeats the referenced instance's own references (PS3.3 C.38.1.1.5), so a
    root nests as deep as its tree; past :data:`~dicom_inventory._parse.MAX_DEPTH` sequence
    levels the parser refuses the file, so the encoder never writes it.
    """
    stack = [(r, 1) for r in refs]
    while stack:
        ref, depth = stack.pop()
        if depth >= MAX_DEPTH:
            raise InventoryEncodeError(
                f"Incorporated Inventory Instance Sequence (0008,0422) nested {depth} levels "
                f"deep: readers refuse sequences nested deeper than {MAX_DEPTH} levels, and each "
                "reference repeats the referenced instance's own (PS3.3 C.38.1.1.5)"
            )
        stack.extend((r, depth + 1) for r in ref.incorporated)


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
    _check_reference_depth(h.incorporated)
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
