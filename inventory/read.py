"""Streaming reader of Inventory SOP Instances (PS3.3 A.88).

Reads study records one at a time out of an Inventory file without loading the whole file:
memory is bounded by the largest single study record. It reads files written by any toolkit:
Explicit and Implicit VR Little Endian, Deflated Explicit VR Little Endian, defined and
undefined lengths ("tolerant on reading"); the validator judges conformance, the reader only
refuses what it cannot parse, with an error naming the file, offset and tag.

Three views of the same stream:

* :meth:`InventoryReader.raw_studies` -- raw data sets ``{tag: (vr, value, offset)}`` (used by
  the validator);
* :meth:`InventoryReader.studies` -- typed :class:`~dicom_inventory.model.StudyRecord` objects
  whose ``series``/``instances`` are lists;
* :func:`iter_rows` -- flat rows, one per record at the inventory's level.

:func:`iter_inventory` follows the tree of split instances from a root (PS3.3 C.38.1.1.5).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS
from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag

from dicom_inventory._parse import (
    IMPLICIT_LE,
    UNDEFINED,
    NeedMore,
    Parser,
    RawDataset,
    open_part10,
)
from dicom_inventory.enum import InventoryCompletionStatus, InventoryLevel
from dicom_inventory.errors import InventoryReadError
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
from dicom_inventory.policy import ReadPolicy
from dicom_inventory.uid import INVENTORY_STORAGE

__all__ = [
    "InventoryReader",
    "ROW_COLUMNS",
    "iter_inventory",
    "iter_rows",
    "read_dataset",
    "read_header",
    "resolve_tree",
]

STUDIES_TAG = 0x00080423
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
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
        return tuple(
            g << 16 | e for g, e in struct.iter_unpack("<HH", raw[: len(raw) // 4 * 4])
        )
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
    {0x00080016, 0x00080018, 0x00080056, 0x00080405, 0x00080406, 0x0008041A, 0x00200013,
     0x00880130, 0x04000561}
)
_SERIES_TAGS = frozenset(
    {0x00080021, 0x00080031, 0x00080056, 0x00080060, 0x00080405, 0x00080406, 0x00080407,
     0x00080419, 0x00080425, 0x0008103E, 0x00180015, 0x0020000E, 0x00200011, 0x00200060,
     0x00880130, 0x04000561}
)
_STUDY_TAGS = frozenset(
    {0x00080020, 0x00080030, 0x00080050, 0x00080054, 0x00080056, 0x00080061, 0x00080090,
     0x00080404, 0x00080405, 0x00080406, 0x00080407, 0x00080419, 0x0008041F, 0x00080424,
     0x00081030, 0x00081190, 0x00100010, 0x00100020, 0x00100021, 0x00100030, 0x00100040,
     0x0020000D, 0x00200010, 0x00201206, 0x00201208, 0x00880130, 0x04000561}
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
    {0x00080005, 0x00080012, 0x00080013, 0x00080016, 0x00080018, 0x00080023, 0x00080033,
     0x00080070, 0x00080080, 0x00080201, 0x00080400, 0x00080401, 0x00080402, 0x00080403,
     0x00080420, 0x00080421, 0x00080422, 0x00080423, 0x00080426, 0x00080427, 0x00080428,
     0x00081010, 0x00081090, 0x00081195, 0x00181000, 0x00181020}
)


def header_from_raw(ds: RawDataset) -> InventoryHeader:
    """Build an :class:`InventoryHeader` from the raw top-level elements."""
    text = _Text(()).child(ds)
    scope_items = _items(ds, 0x00080400)
    level = _s(ds, 0x00080403, text) or ""
    status = _s(ds, 0x00080426, text)
    return InventoryHeader(
        sop_instance_uid=_s(ds, 0x00080018, text) or "",
        inventory_level=InventoryLevel(level) if level in InventoryLevel._value2member_map_ else level,  # type: ignore[arg-type]
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


# --------------------------------------------------------------------------- the reader
class InventoryReader:
    """Streams the content of one Inventory SOP Instance file.

    Parameters
    ----------
    path : str or os.PathLike
        The Part 10 file.
    policy : ReadPolicy, optional
        Limits on element and item sizes.
    check_sop_class : bool
        Refuse a file whose SOP Class UID is not Inventory Storage (default True).

    Raises
    ------
    NotDicomError
        Not a Part 10 file.
    InventoryReadError
        Unreadable, truncated, wrong SOP Class, or no Inventory content.

    Notes
    -----
    The top-level elements after Inventoried Studies Sequence (Completion Status, the record
    counts, Transaction UID) are only known once the studies were read: :attr:`raw_header`
    holds them after :meth:`raw_studies` is exhausted; :func:`read_header` finds them without
    reading the records when it can.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        policy: ReadPolicy | None = None,
        check_sop_class: bool = True,
    ) -> None:
        self.path = str(path)
        self.policy = policy or ReadPolicy()
        try:
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise InventoryReadError(f"cannot open: {exc.strerror}", path=self.path) from exc
        try:
            size = os.fstat(self._file.fileno()).st_size
            self.src, self.file_meta, self.transfer_syntax, pos = open_part10(
                self._file, self.path, self.policy, size
            )
            self.parser = Parser(self.src, explicit=self.transfer_syntax != IMPLICIT_LE)
            self.raw_header, self._pos = self._parse_top(pos, until=STUDIES_TAG)
            self._state = "head"
            sop_class = self.raw_header.get(0x00080016)
            if check_sop_class:
                uid = bytes(sop_class[1]).rstrip(b"\x00 ").decode("ascii", "replace") if sop_class else ""  # type: ignore[arg-type]
                if uid != INVENTORY_STORAGE:
                    raise InventoryReadError(
                        f"SOP Class UID is {uid or 'missing'!r}, expected Inventory Storage "
                        f"{INVENTORY_STORAGE} (PS3.3 A.88)", path=self.path, tag=0x00080016,
                    )
        except BaseException:
            self._file.close()
            raise
        self.text = _Text(()).child(self.raw_header)

    # -- plumbing --------------------------------------------------------------------------
    def _parse_top(self, pos: int, until: int = 1 << 32) -> tuple[RawDataset, int]:
        src = self.src
        start = src.base + pos
        while True:
            try:
                ds, end = self.parser.dataset(src.buf, start - src.base, None, 0, until)
                return ds, end
            except NeedMore:
                if src.eof:
                    raise InventoryReadError(
                        "file ends inside a top-level element: truncated",
                        path=self.path, offset=src.base + len(src.buf),
                    ) from None
                src.discard(start - src.base)
                src.more()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> InventoryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def header(self) -> InventoryHeader:
        """The header as known so far (complete once the studies were read)."""
        return header_from_raw(self.raw_header)

    @property
    def level(self) -> InventoryLevel | None:
        """Inventory Level (0008,0403) of the file, if it is a valid value."""
        el = self.raw_header.get(0x00080403)
        value = bytes(el[1]).strip(b" \x00").decode("ascii", "replace") if el else ""  # type: ignore[arg-type]
        return InventoryLevel(value) if value in InventoryLevel._value2member_map_ else None

    def raw_studies(self) -> Iterator[RawDataset]:
        """Yield each item of Inventoried Studies Sequence (0008,0423) as a raw data set.

        After the last item, the trailing top-level elements are added to :attr:`raw_header`.
        """
        if self._state != "head":
            raise InventoryReadError("the studies of this reader were already read", path=self.path)
        self._state = "studies"
        src = self.src
        parser = self.parser
        pos = self._pos
        # the sequence header
        while len(src.buf) - pos < 12 and not src.eof:
            src.discard(pos)
            pos = 0
            src.more()
        buf = src.buf
        if len(buf) - pos < 8:
            self._state = "done"  # no studies sequence at all (missing Type 2 element)
            return
        tag = int.from_bytes(buf[pos : pos + 2], "little") << 16 | int.from_bytes(buf[pos + 2 : pos + 4], "little")
        if tag != STUDIES_TAG:
            self._state = "done"
            self._read_tail(pos)
            return
        seq_start = src.base + pos
        if parser.explicit:
            if buf[pos + 4 : pos + 6] != b"SQ" and buf[pos + 4 : pos + 6] != b"UN":
                raise InventoryReadError(
                    f"Inventoried Studies Sequence has VR {buf[pos + 4 : pos + 6]!r}, expected SQ",
                    path=self.path, offset=seq_start, tag=STUDIES_TAG,
                )
            length = int.from_bytes(buf[pos + 8 : pos + 12], "little")
            pos += 12
        else:
            length = int.from_bytes(buf[pos + 4 : pos + 8], "little")
            pos += 8
        stop_abs = None if length == UNDEFINED else src.base + pos + length
        if stop_abs is not None and src.size is not None and stop_abs > src.size:
            raise InventoryReadError(
                f"Inventoried Studies Sequence length {length} runs past the end of the file",
                path=self.path, offset=seq_start, tag=STUDIES_TAG,
            )
        index = 0
        while True:
            if stop_abs is not None and src.base + pos >= stop_abs:
                break
            if len(src.buf) - pos < 8:
                if src.eof:
                    raise InventoryReadError(
                        f"file ends inside Inventoried Studies Sequence after {index} items: truncated",
                        path=self.path, offset=src.base + len(src.buf), tag=STUDIES_TAG,
                    )
                src.discard(pos)
                pos = 0
                src.more()
                continue
            buf = src.buf
            itag = int.from_bytes(buf[pos : pos + 2], "little") << 16 | int.from_bytes(buf[pos + 2 : pos + 4], "little")
            ilen = int.from_bytes(buf[pos + 4 : pos + 8], "little")
            if itag == 0xFFFEE0DD:
                pos += 8
                break
            if itag != 0xFFFEE000:
                raise InventoryReadError(
                    f"expected item {index} of Inventoried Studies Sequence, found tag "
                    f"({itag >> 16:04X},{itag & 0xFFFF:04X})",
                    path=self.path, offset=src.base + pos, tag=STUDIES_TAG,
                )
            try:
                stop = None if ilen == UNDEFINED else pos + 8 + ilen
                ds, newpos = parser.dataset(buf, pos + 8, stop, 1)
            except NeedMore:
                if src.eof:
                    raise InventoryReadError(
                        f"file ends inside item {index} of Inventoried Studies Sequence: truncated",
                        path=self.path, offset=src.base + len(src.buf), tag=STUDIES_TAG,
                    ) from None
                src.discard(pos)
                pos = 0
                src.more(len(src.buf))  # grow geometrically for a large study
                continue
            pos = newpos
            index += 1
            yield ds
        self._read_tail(pos)

    def _read_tail(self, pos: int) -> None:
        tail, _ = self._parse_top(pos)
        self.raw_header.update(tail)
        self._state = "done"

    def studies(self) -> Iterator[StudyRecord]:
        """Yield typed study records (with series and instances as lists)."""
        text = self.text
        for ds in self.raw_studies():
            yield study_from_raw(ds, text)


def read_dataset(ds: Any) -> tuple[InventoryHeader, list[StudyRecord]]:
    """Read a small inventory held as a pydicom ``Dataset`` (e.g. received over DIMSE).

    The data set is written to a temporary file with pydicom and read back with
    :class:`InventoryReader`, so there is one decoding path.
    """
    import tempfile

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = ds.copy()
    if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", INVENTORY_STORAGE)
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.dcm"
        ds.save_as(path, enforce_file_format=True)
        with InventoryReader(path) as r:
            studies = list(r.studies())
            return r.header, studies


def read_header(path: str | os.PathLike[str], *, policy: ReadPolicy | None = None) -> InventoryHeader:
    """Read the whole header of an Inventory file, records skipped.

    For an uncompressed file, the trailing elements are found near the end of the file
    without reading the records; otherwise (deflated, or unusual layout) the records are
    scanned.
    """
    with InventoryReader(path, policy=policy) as r:
        if r.src.size is not None and r.transfer_syntax != "1.2.840.10008.1.2.1.99":
            tail = _probe_tail(r)
            if tail is not None:
                r.raw_header.update(tail)
                return r.header
        for _ in r.raw_studies():
            pass
        return r.header


def _probe_tail(r: InventoryReader) -> RawDataset | None:
    """Find the elements after (0008,0423) from the last 64 KiB of the file, if possible."""
    size = r.src.size or 0
    window = min(size, 65536)
    with open(r.path, "rb") as f:
        f.seek(size - window)
        data = f.read(window)
    at = data.rfind(_SEQ_END)
    while at >= 0:
        try:
            from dicom_inventory._parse import ByteSource

            src = ByteSource(None, r.path, r.policy, None)  # type: ignore[arg-type]
            src.buf = data[at + 8 :]
            src.eof = True
            ds, _ = Parser(src, r.parser.explicit).dataset(src.buf, 0, None, 0)
            if ds and min(ds) > STUDIES_TAG:
                return ds
        except (InventoryReadError, NeedMore, struct.error):
            pass
        at = data.rfind(_SEQ_END, 0, at)
    return None


# --------------------------------------------------------------------------- trees, rows
@dataclass
class TreeNode:
    """One instance of an inventory tree, with the file that holds it."""

    path: Path
    header: InventoryHeader
    children: list[TreeNode] = field(default_factory=list)


def _find_child(ref: InventoryReference, base: Path, index: dict[str, Path] | None) -> Path | None:
    if ref.file_access is not None and ref.file_access.uri:
        uri = ref.file_access.uri
        parts = urlsplit(uri)
        if parts.scheme == "file":
            candidate = Path(unquote(parts.path))
        elif not parts.scheme and uri.startswith("./"):
            candidate = base / unquote(uri[2:])
        else:
            candidate = None
        if candidate is not None and candidate.is_file():
            return candidate
    guess = base / f"{ref.sop_instance_uid}.dcm"
    if guess.is_file():
        return guess
    if index is not None:
        return index.get(ref.sop_instance_uid)
    return None


def _index_dir(base: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for p in sorted(base.iterdir()):
        if not p.is_file():
            continue
        try:
            with InventoryReader(p) as r:
                el = r.raw_header.get(0x00080018)
                if el:
                    index[bytes(el[1]).rstrip(b"\x00 ").decode("ascii")] = p  # type: ignore[arg-type]
        except InventoryReadError:
            continue
    return index


def resolve_tree(root: str | os.PathLike[str], search: Iterable[Path] = ()) -> TreeNode:
    """Resolve the tree of incorporated instances under `root` (PS3.3 C.38.1.1.5).

    Children are found by their File Access URI (``file:`` or ``./`` relative to the root's
    folder), then as ``<SOP Instance UID>.dcm`` beside the root, then by reading the headers of
    the files beside the root.

    Raises
    ------
    InventoryReadError
        If a referenced instance cannot be found, or a reference cycle is met.
    """
    root_path = Path(root)
    base = root_path.parent
    index: dict[str, Path] | None = None
    seen: set[str] = set()

    def build(path: Path, trail: tuple[str, ...]) -> TreeNode:
        nonlocal index
        header = read_header(path)
        uid = header.sop_instance_uid
        if uid in trail:
            raise InventoryReadError(f"reference cycle through {uid}", path=str(path))
        if uid in seen:
            raise InventoryReadError(f"instance {uid} is incorporated twice in one tree", path=str(path))
        seen.add(uid)
        node = TreeNode(path, header)
        for ref in header.incorporated:
            child = _find_child(ref, base, index)
            if child is None and index is None:
                index = _index_dir(base)
                child = index.get(ref.sop_instance_uid)
            if child is None:
                raise InventoryReadError(
                    f"incorporated instance {ref.sop_instance_uid} not found beside the root "
                    "(by File Access URI, by <UID>.dcm, or by reading the folder's headers)",
                    path=str(path), tag=0x00080422,
                )
            node.children.append(build(child, (*trail, uid)))
        return node

    return build(root_path, ())


def _walk(node: TreeNode) -> Iterator[TreeNode]:
    yield node
    for c in node.children:
        yield from _walk(c)


def iter_inventory(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    follow: bool = True,
    policy: ReadPolicy | None = None,
) -> Iterator[StudyRecord]:
    """Yield the study records of one or more inventories.

    Parameters
    ----------
    paths : path or iterable of paths
        Inventory files. With `follow`, each is treated as a root and the instances it
        incorporates are read too (depth first).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for p in paths:
        nodes = _walk(resolve_tree(p)) if follow else [TreeNode(Path(p), read_header(p))]
        for node in nodes:
            with InventoryReader(node.path, policy=policy) as r:
                yield from r.studies()


#: Columns of a flat row (:func:`iter_rows`), one row per record at the inventory's level.
ROW_COLUMNS = (
    "patient_id", "patient_name", "patient_birth_date", "patient_sex",
    "study_instance_uid", "study_date", "study_time", "accession_number", "study_id",
    "study_description", "modalities_in_study", "item_inventory_datetime",
    "study_update_datetime", "number_of_study_related_series",
    "number_of_study_related_instances", "study_removed",
    "series_instance_uid", "modality", "series_number", "series_description", "series_removed",
    "sop_class_uid", "sop_instance_uid", "instance_number", "instance_removed",
    "instance_availability", "retrieve_ae_title", "retrieve_url",
    "file_access_uri", "container_file_type", "filename_in_container",
    "file_offset_in_container", "file_length_in_container", "stored_transfer_syntax_uid",
    "stale_attributes",
)


def _stale(*records: Any) -> str | None:
    names: list[str] = []
    for rec in records:
        for oa in getattr(rec, "original_attributes", ()) or ():
            for kw in oa.modified:
                if kw not in names:
                    names.append(kw)
    return "\\".join(names) or None


def iter_rows(studies: Iterable[StudyRecord]) -> Iterator[dict[str, Any]]:
    """Flatten study records into rows of :data:`ROW_COLUMNS`.

    One row per instance record at level INSTANCE, per series record at SERIES, per study at
    STUDY (a record without children gives one row). ``stale_attributes`` lists the keywords
    whose prior values are recorded in Original Attributes Sequence at any level of the row:
    the attributes in which the stored file still differs from the inventory's current values.
    """
    for st in studies:
        base = {
            "patient_id": st.patient_id, "patient_name": st.patient_name,
            "patient_birth_date": st.patient_birth_date, "patient_sex": st.patient_sex,
            "study_instance_uid": st.study_instance_uid, "study_date": st.study_date,
            "study_time": st.study_time, "accession_number": st.accession_number,
            "study_id": st.study_id, "study_description": st.study_description,
            "modalities_in_study": "\\".join(st.modalities_in_study or ()) or None,
            "item_inventory_datetime": st.item_inventory_datetime,
            "study_update_datetime": st.study_update_datetime,
            "number_of_study_related_series": st.number_of_study_related_series,
            "number_of_study_related_instances": st.number_of_study_related_instances,
            "study_removed": st.removed_from_operational_use,
            "retrieve_ae_title": "\\".join(st.retrieve_ae_title or ()) or None,
            "retrieve_url": st.retrieve_url,
        }
        series_list = list(st.series)
        if not series_list:
            yield _row(base, _stale(st))
            continue
        for se in series_list:
            srow = dict(base, series_instance_uid=se.series_instance_uid, modality=se.modality,
                        series_number=se.series_number, series_description=se.series_description,
                        series_removed=se.removed_from_operational_use)
            instances = list(se.instances)
            if not instances:
                yield _row(srow, _stale(st, se))
                continue
            for inst in instances:
                fa = inst.file_access[0] if inst.file_access else None
                irow = dict(
                    srow, sop_class_uid=inst.sop_class_uid, sop_instance_uid=inst.sop_instance_uid,
                    instance_number=inst.instance_number,
                    instance_removed=inst.removed_from_operational_use,
                    instance_availability=getattr(inst.instance_availability, "value", inst.instance_availability),
                )
                if fa is not None:
                    irow.update(
                        file_access_uri=fa.uri,
                        container_file_type=getattr(fa.container_type, "value", fa.container_type),
                        filename_in_container=fa.filename_in_container,
                        file_offset_in_container=fa.offset,
                        file_length_in_container=fa.length,
                        stored_transfer_syntax_uid=fa.transfer_syntax_uid,
                    )
                yield _row(irow, _stale(st, se, inst))


def _row(values: Mapping[str, Any], stale: str | None) -> dict[str, Any]:
    row = dict.fromkeys(ROW_COLUMNS)
    row.update(values)
    row["stale_attributes"] = stale
    return row
