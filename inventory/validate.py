"""Streaming validator of Inventory SOP Instances (PS3.3 A.88, C.38; PS3.5; PS3.10).

It walks the raw data sets of :class:`~dicom_inventory.read.InventoryReader` one study item
at a time, so a multi-gigabyte inventory is judged in the memory of its largest study. Every
:class:`Finding` names the rule (:data:`~dicom_inventory._rules.RULES`), the item path
(``InventoriedStudiesSequence[3].InventoriedSeriesSequence[0].SeriesInstanceUID``), the byte
offset where known, what was expected, and the section of the standard.

Checks, per data set: Type 1/2 presence per context (top level, study, series, instance,
Original Attributes, references, codes), Enumerated Values, VR against the data dictionary
(explicit-VR files), VM, value syntax and length per VR; per record: nesting by Inventory Level,
duplicates, file-access conditions of the Stored File Access Macro, removal flags; per instance:
record counts; across a set of files (:meth:`Validator.cross_file`): the tree of incorporated
instances (same level, copied references, totals, cycles).

A file that cannot be parsed at all raises :class:`~dicom_inventory.errors.InventoryReadError`
(its subclass :class:`~dicom_inventory.errors.NotDicomError` for a non-DICOM file): callers map
that to "unreadable" (the CLI's exit code 2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from dicom_inventory import tags
from dicom_inventory._decode import scope_item
from dicom_inventory._parse import RawDataset, RawElement, ascii_value
from dicom_inventory._rules import RULES, Rule, Severity
from dicom_inventory._vr import (
    BINARY_SIZES,
    MAX_CHARS,
    SINGLE_VALUE_VRS,
    TEXT_VRS,
    VALUE_FORMATS,
    value_problem,
)
from dicom_inventory.attributes import STUDY_PATH, attributes_at
from dicom_inventory.conditions import BY_KIND, item_kinds
from dicom_inventory.enum import (
    ContainerFileType,
    ExtendedMatchingMechanism,
    InstanceAvailability,
    InventoryCompletionStatus,
    InventoryLevel,
    ReasonForAttributeModification,
    RemovedFromOperationalUse,
)
from dicom_inventory.policy import ReadPolicy
from dicom_inventory.read import InventoryReader, _locate_incorporated, dataset_file
from dicom_inventory.scope import check_scope_item
from dicom_inventory.uid import INVENTORY_STORAGE
from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag

__all__ = [
    "RULES",
    "Finding",
    "Rule",
    "Severity",
    "Validator",
    "validate_dataset",
    "validate_file",
    "validate_files",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """One departure from the standard found by the validator."""

    severity: Severity
    rule: str
    path: str
    message: str
    section: str
    file: str | None = None
    offset: int | None = None

    def to_dict(self) -> dict[str, object]:
        """The finding as JSON-ready data."""
        return {
            "severity": self.severity.value,
            "rule": self.rule,
            "path": self.path,
            "message": self.message,
            "section": self.section,
            "file": self.file,
            "offset": self.offset,
        }


# ----------------------------------------------------------------------------- tables
_Types = tuple[tuple[int, ...], tuple[int, ...]]


@cache
def _nested(
    kpath: tuple[str, ...], tag: int, keyword: str
) -> tuple[tuple[str, ...], tuple[str, ...], _Types]:
    """Where the items of sequence `tag` inside an item at `kpath` sit.

    Also their condition kinds and their Types (one cached lookup per sequence met).
    """
    sub = (*kpath, keyword)
    return sub, item_kinds(tag, keyword), _types_at(sub)


@cache
def _types_at(kpath: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Tags of the Type 1 and Type 2 attributes of the items at `kpath`.

    The tags come from the attribute table (PS3.3 A.88: records, references, Original
    Attributes, codes and every nested macro). Conditional attributes are
    :mod:`dicom_inventory.conditions`.
    """
    rows = attributes_at(kpath)
    return (
        tuple(a.tag for a in rows if a.type == "1"),
        tuple(a.tag for a in rows if a.type == "2"),
    )


#: Which context the items of a sequence are, by the sequence's tag, where the validator does
#: more than its generic checks (others: "generic"; Types and conditions go by path and kind).
_ITEM_CONTEXT: dict[int, str] = {
    tags.InventoriedStudiesSequence: "study",
    tags.InventoriedSeriesSequence: "series",
    tags.FileAccessSequence: "file",
    tags.FileSetAccessSequence: "file-set",
    tags.OriginalAttributesSequence: "original",
    tags.IncorporatedInventoryInstanceSequence: "reference",
    # the keys of the scope, by matching type (PS3.3 Table C.38.2-1)
    tags.RangeMatchingSequence: "scope-range",
    tags.ListOfUIDMatchingSequence: "scope-uid-list",
    tags.EmptyValueMatchingSequence: "scope-empty",
    tags.GeneralMatchingSequence: "scope-general",
}

#: Sequences that hold at most one item (PS3.3 C.38.2.1.1.1, C.38.2.3, C.38.2.4).
_AT_MOST_ONE = frozenset(
    {
        tags.ScopeOfInventorySequence,
        tags.InventoryAccessEndPointsSequence,
        tags.StudyAccessEndPointsSequence,
    }
)

#: Enumerated values (error) and partly confirmed term lists (warning), by tag.
_ENUMS: dict[int, tuple[frozenset[str], str]] = {
    tags.InventoryLevel: (frozenset(e.value for e in InventoryLevel), "enum"),
    tags.InstanceAvailability: (frozenset(e.value for e in InstanceAvailability), "enum"),
    tags.InventoryCompletionStatus: (
        frozenset(e.value for e in InventoryCompletionStatus),
        "enum-assumed",
    ),
    tags.ContainerFileType: (frozenset(e.value for e in ContainerFileType), "enum-assumed"),
    tags.RemovedFromOperationalUse: (
        frozenset(e.value for e in RemovedFromOperationalUse),
        "enum-assumed",
    ),
    tags.ReasonForTheAttributeModification: (
        frozenset(e.value for e in ReasonForAttributeModification),
        "enum-assumed",
    ),
    tags.ExtendedMatchingMechanisms: (
        frozenset(e.value for e in ExtendedMatchingMechanism),
        "enum-assumed",
    ),
}


_BINARY_SIZE = BINARY_SIZES
#: Values of these are unique per record: caching them as "known good" would only fill the cache.
_UNIQUE = frozenset(
    {
        tags.SOPInstanceUID,
        tags.SeriesInstanceUID,
        tags.StudyInstanceUID,
        tags.ReferencedSOPInstanceUID,
        tags.FileAccessURI,
        tags.FilenameInContainer,
        tags.FileOffsetInContainer,
        tags.AccessionNumber,
        tags.StudyID,
    }
)
_UI_FORMAT = VALUE_FORMATS["UI"].fullmatch
_SCHEME_B = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*:")
_RECORD = ("record",)
#: VRs whose query keys may hold wild cards ``*`` and ``?`` (PS3.4 C.2.2.2.4); of these only
#: CS and AE have a value syntax the validator checks.
_WILDCARD_VRS = frozenset({"AE", "CS"})


@dataclass(slots=True)
class _Spec:
    keyword: str
    vr: str | None
    vm_min: int
    vm_max: int  # -1: no limit


def _vm(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    if not hi:
        return int(lo), int(lo)
    lo_n = int(lo)
    return lo_n, -1 if hi.endswith("n") else int(hi)


_SPECS: dict[int, _Spec] = {}


def _spec(tag: int) -> _Spec:
    spec = _SPECS.get(tag)
    if spec is None:
        try:
            vr = dictionary_VR(tag)
            vm_min, vm_max = _vm(dictionary_VM(tag))
            kw = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
            spec = _Spec(kw, vr, vm_min, vm_max)
        except (KeyError, ValueError):
            spec = _Spec(f"({tag >> 16:04X},{tag & 0xFFFF:04X})", None, 0, -1)
        _SPECS[tag] = spec
    return spec


def _kw(tag: int) -> str:
    return _spec(tag).keyword


# ----------------------------------------------------------------------------- the validator
@dataclass(slots=True)
class _Summary:
    """What cross-file checks need of one instance."""

    path: str
    uid: str
    level: str
    number: int | None
    total: int | None
    refs: tuple[tuple[str, Any], ...]  # (uid, nested refs) as in the file
    uris: dict[str, str] = field(default_factory=dict)  # uid -> its File Access URI, if any


def _text(raw: bytes) -> str:
    """A value's bytes as text for a message (``'20211301'``, not ``b'20211301'``).

    Bytes that are not UTF-8 (or the ASCII it extends) are shown escaped, backslash and hex.
    """
    return raw.decode("utf-8", "backslashreplace")


@dataclass
class Validator:
    """Validates files one by one, remembering what the checks across the set need.

    Example::

        v = Validator()
        for path in paths:
            findings = list(v.file(path))      # may raise InventoryReadError
        findings += list(v.cross_file())
    """

    policy: ReadPolicy | None = None
    summaries: list[_Summary] = field(default_factory=list)
    _good: set[tuple[int, bytes]] = field(default_factory=set)  # (tag, value) found valid
    _file: str = ""
    _level: str = ""
    _content: str = ""
    _out: list[Finding] = field(default_factory=list)  # findings of the item being checked
    _bases: list[bool] = field(default_factory=list)  # Stored Instance Base URI per level
    _base_top: bool = False  # ... in the inventory's Study Access End Points

    # -- findings ---------------------------------------------------------------------
    def _f(self, rule: str, path: str, message: str, offset: int | None = None) -> Finding:
        r = RULES[rule]
        return Finding(r.severity, rule, path, message, r.section, self._file, offset)

    def _report(self, rule: str, path: str, message: str, offset: int | None = None) -> None:
        self._out.append(self._f(rule, path, message, offset))

    # -- one file ---------------------------------------------------------------------
    def file(self, path: str | os.PathLike[str]) -> Iterator[Finding]:
        """Validate one Inventory file, streaming; yield its findings.

        Raises
        ------
        InventoryReadError
            If the file cannot be parsed (not DICOM, truncated, corrupt).
        """
        self._file = str(path)
        with InventoryReader(path, policy=self.policy, check_sop_class=False) as r:
            head = r.raw_header
            level = ascii_value(head.get(tags.InventoryLevel))
            content = (
                ascii_value(head.get(tags.ContentDate))
                + ascii_value(head.get(tags.ContentTime)).split(".")[0]
            )
            self._level = level
            self._content = content
            self._bases = []
            self._base_top = any(
                tags.StoredInstanceBaseURI in ep
                for ep in _items(head, tags.StudyAccessEndPointsSequence) or ()
            )
            studies_seen: set[bytes] = set()
            n = 0
            out = self._out = []
            for n, item in enumerate(r.raw_studies(), start=1):
                p = f"InventoriedStudiesSequence[{n - 1}]"
                self._dataset(item, "study", p, STUDY_PATH, _RECORD)
                self._study(item, p, studies_seen)
                if out:
                    yield from out
                    out.clear()
            head = r.raw_header  # now with the trailing elements
            self._top(head, r.file_meta, n)
            yield from out
            out.clear()
            self.summaries.append(
                _Summary(
                    self._file,
                    ascii_value(head.get(tags.SOPInstanceUID)),
                    level,
                    _int(head.get(tags.NumberOfStudyRecordsInInstance)),
                    _int(head.get(tags.TotalNumberOfStudyRecords)),
                    _refs(head),
                    _uris(head),
                )
            )

    def _top(self, head: RawDataset, meta: RawDataset, n_items: int) -> None:
        # Inventoried Studies Sequence is present in `head` with no items (they were streamed)
        self._dataset(head, "top", "")
        scope = scope_item(head)
        if scope:  # an empty sequence or an empty item: universal match (C.38.2.1.1.1)
            for problem in check_scope_item(scope):
                self._report(problem.rule, problem.path, problem.message)
        sop_class = ascii_value(head.get(tags.SOPClassUID))
        if sop_class and sop_class != INVENTORY_STORAGE:
            self._report(
                "sop-class",
                "SOPClassUID",
                f"SOP Class UID is {sop_class}, expected Inventory Storage {INVENTORY_STORAGE}",
                _off(head.get(tags.SOPClassUID)),
            )
        for meta_tag, ds_tag in (
            (tags.MediaStorageSOPClassUID, tags.SOPClassUID),
            (tags.MediaStorageSOPInstanceUID, tags.SOPInstanceUID),
        ):
            a, b = ascii_value(meta.get(meta_tag)), ascii_value(head.get(ds_tag))
            if a != b:
                self._report(
                    "file-meta",
                    _kw(meta_tag),
                    f"{_kw(meta_tag)} is {a!r} but the data set's {_kw(ds_tag)} is "
                    f"{b!r}; they must be equal",
                    _off(meta.get(meta_tag)),
                )
        number = _int(head.get(tags.NumberOfStudyRecordsInInstance))
        total = _int(head.get(tags.TotalNumberOfStudyRecords))
        if number is not None and number != n_items:
            self._report(
                "count-study-records",
                "NumberOfStudyRecordsInInstance",
                f"says {number}, but Inventoried Studies Sequence has {n_items} items",
                _off(head.get(tags.NumberOfStudyRecordsInInstance)),
            )
        if number is not None and total is not None:
            if total < number:
                self._report(
                    "count-total",
                    "TotalNumberOfStudyRecords",
                    f"is {total}, less than Number of Study Records in Instance ({number})",
                    _off(head.get(tags.TotalNumberOfStudyRecords)),
                )
            elif not _items(head, tags.IncorporatedInventoryInstanceSequence) and total != number:
                self._report(
                    "count-total-leaf",
                    "TotalNumberOfStudyRecords",
                    f"is {total}, but this instance incorporates no other and holds "
                    f"{number} study records (assumption Q6: Total counts the subtree)",
                    _off(head.get(tags.TotalNumberOfStudyRecords)),
                )

    # -- generic data set checks ------------------------------------------------------------
    def _dataset(
        self,
        ds: RawDataset,
        ctx: str,
        path: str,
        kpath: tuple[str, ...] = (),
        kinds: tuple[str, ...] = (),
        types: _Types | None = None,
    ) -> None:
        """Element checks (VR, VM, format, length, enums), Types and conditions; recurse.

        `kpath` is where the item sits in the IOD (keywords of the enclosing sequences): the
        attribute table gives the Types there, for records and every macro nested in them;
        `kinds` select the conditions of :mod:`dicom_inventory.conditions` to check.
        """
        type1, type2 = _types_at(kpath) if types is None else types
        if type1 or type2:
            self._types(ds, path, type1, type2)
        for kind in kinds:
            self._conditions(ds, path, kind)
        bases = self._bases
        if ctx in ("study", "series"):
            bases.append(tags.StoredInstanceBaseURI in ds)
        prefix = f"{path}." if path else ""
        good = self._good
        for tag, el in ds.items():
            vr, value, off = el
            if tag >> 16 & 1:  # private: not in the dictionary (PS3.5 7.8)
                continue
            spec = _SPECS.get(tag) or _spec(tag)
            if vr == "SQ":
                if spec.vr is not None and spec.vr != "SQ":
                    self._report(
                        "vr",
                        prefix + spec.keyword,
                        f"VR is SQ, the data dictionary says {spec.vr}",
                        off,
                    )
                items: list[RawDataset] = value  # type: ignore[assignment]
                sub = _ITEM_CONTEXT.get(tag, "generic")
                sub_kpath, sub_kinds, sub_types = _nested(kpath, tag, spec.keyword)
                if tag in _AT_MOST_ONE and len(items) > 1:
                    self._report(
                        "single-item",
                        prefix + spec.keyword,
                        f"has {len(items)} items; at most one is allowed",
                        off,
                    )
                for i, item in enumerate(items):
                    p = f"{prefix}{spec.keyword}[{i}]"
                    if sub == "study":  # never at this depth; studies come one by one
                        continue
                    self._dataset(item, sub, p, sub_kpath, sub_kinds, sub_types)
                    if sub == "series":
                        self._series(item, p)
                    elif sub in ("file", "file-set"):
                        self._file_uris(item, p)
                    elif sub == "reference":
                        self._reference(item, p)
                    elif sub == "original":
                        self._original(item, p)
                continue
            if tag in _UNIQUE:
                # Fast path for the per-record UIDs: one regex on the unpadded value.
                if vr == "UI" and spec.vr == "UI" and value:
                    uid = value.rstrip(b"\x00 ")  # type: ignore[union-attr]
                    if len(uid) <= 64 and b"\\" not in uid and _UI_FORMAT(uid):
                        continue
                self._element(tag, spec, vr, value, off, prefix, ctx)  # type: ignore[arg-type]
                continue
            if (tag, value) in good:
                continue
            before = len(self._out)
            self._element(tag, spec, vr, value, off, prefix, ctx)  # type: ignore[arg-type]
            if len(self._out) == before and len(good) < 16384:
                good.add((tag, value))  # type: ignore[arg-type]
        if ctx in ("study", "series"):
            bases.pop()

    def _conditions(self, ds: RawDataset, path: str, kind: str) -> None:
        """The 1C/2C conditions of one item (:data:`dicom_inventory.conditions.CONDITIONS`)."""
        for tag, trigger, c in BY_KIND[kind]:
            if trigger and trigger not in ds:
                continue
            el = ds.get(tag)
            if el is not None and (c.type == "2C" or el[1]):
                continue
            if c.required(ds):
                state = "missing" if el is None else "empty"
                where = f"{path}.{c.keyword}" if path else c.keyword
                self._report(c.rule, where, f"{state}; {c.text}")

    def _element(
        self, tag: int, spec: _Spec, vr: str, value: bytes, off: int, prefix: str, ctx: str
    ) -> None:
        where = prefix + spec.keyword
        if spec.vr is None:
            return
        expected = spec.vr.split(" or ")
        if vr not in expected:
            if vr == "UN":
                self._report("vr-un", where, f"VR is UN; the data dictionary says {spec.vr}", off)
            else:
                self._report("vr", where, f"VR is {vr}, the data dictionary says {spec.vr}", off)
            return
        if not value:
            return
        if vr in _BINARY_SIZE:
            size = _BINARY_SIZE[vr]
            if len(value) % size:
                self._report(
                    "value-length",
                    where,
                    f"{len(value)} bytes is not a multiple of {size} (VR {vr})",
                    off,
                )
                return
            count = len(value) // size
        elif vr in TEXT_VRS:
            text = value.rstrip(b"\x00 ") if vr == "UI" else value.rstrip(b" ")
            values = [text] if vr in SINGLE_VALUE_VRS else text.split(b"\\")
            count = len(values)
            fmt = VALUE_FORMATS.get(vr)
            limit = MAX_CHARS.get(vr)
            for v in values:
                if ctx == "scope-general" and vr in _WILDCARD_VRS:
                    v = v.replace(b"*", b"").replace(b"?", b"")  # wild cards (C.2.2.2.4)
                if limit is not None and len(v) > limit:
                    self._report(
                        "value-length",
                        where,
                        f"value {_text(v[:80])!r} is {len(v)} characters; VR {vr} allows at most {limit}",
                        off,
                    )
                    return
                problem = value_problem(vr, v) if fmt is not None and v else None
                if problem is not None:  # the one syntax check, calendar and clock included
                    self._report("value-format", where, f"value {_text(v[:80])!r} {problem}", off)
                    return
            enum = _ENUMS.get(tag)
            if enum is not None:
                allowed, rule = enum
                for v in values:
                    s = v.decode("ascii", "replace").strip()
                    if s and s not in allowed:
                        self._report(
                            rule,
                            where,
                            f"value {s!r} is not one of {', '.join(sorted(allowed))}",
                            off,
                        )
        else:
            return
        if vr == "UI" and ctx in ("scope-uid-list", "scope-general"):
            # List of UID Matching: any number of UIDs (PS3.4 C.2.2.2.2); a list elsewhere in
            # the scope is the scope rule `scope-uid-list`, not a VM error
            return
        if count < spec.vm_min or (spec.vm_max != -1 and count > spec.vm_max):
            vm = f"{spec.vm_min}" + (
                "-n"
                if spec.vm_max == -1
                else ""
                if spec.vm_max == spec.vm_min
                else f"-{spec.vm_max}"
            )
            self._report("vm", where, f"has {count} values; the data dictionary's VM is {vm}", off)

    def _types(self, ds: RawDataset, path: str, type1: Iterable[int], type2: Iterable[int]) -> None:
        prefix = f"{path}." if path else ""
        for tag in type1:
            el = ds.get(tag)
            if el is None:
                self._report(
                    "type1-missing", prefix + _kw(tag), f"{_kw(tag)} is Type 1 and missing"
                )
            elif not el[1]:
                self._report(
                    "type1-empty",
                    prefix + _kw(tag),
                    f"{_kw(tag)} is Type 1 and has no value",
                    el[2],
                )
        for tag in type2:
            if tag not in ds:
                self._report(
                    "type2-missing",
                    prefix + _kw(tag),
                    f"{_kw(tag)} is Type 2: it must be present, even if empty",
                )

    # -- records ------------------------------------------------------------------------
    def _study(self, ds: RawDataset, path: str, seen: set[bytes]) -> None:
        uid_el = ds.get(tags.StudyInstanceUID)
        if uid_el is not None and uid_el[1]:
            uid: bytes = uid_el[1]  # type: ignore[assignment]
            if uid in seen:
                self._report(
                    "duplicate-study",
                    f"{path}.StudyInstanceUID",
                    f"study {ascii_value(uid_el)} is listed twice in this instance",
                    uid_el[2],
                )
            seen.add(uid)
        dt = ascii_value(ds.get(tags.ItemInventoryDateTime))
        if dt and self._content and _digits(dt) < _digits(self._content):
            self._report(
                "item-datetime",
                f"{path}.ItemInventoryDateTime",
                f"{dt} is before the instance's Content Date/Time {self._content}",
                _off(ds.get(tags.ItemInventoryDateTime)),
            )
        series = _items(ds, tags.InventoriedSeriesSequence)
        level = self._level
        if level == "STUDY":
            if series is not None:
                self._report(
                    "level-nesting",
                    f"{path}.InventoriedSeriesSequence",
                    "present, but Inventory Level STUDY has study records only",
                    _off(ds.get(tags.InventoriedSeriesSequence)),
                )
            return
        if level not in ("SERIES", "INSTANCE"):
            return
        if series is None:
            self._report(
                "level-nesting",
                f"{path}.InventoriedSeriesSequence",
                f"missing; Inventory Level {level} has series records in each study",
            )
            return
        # present and empty is valid: a study without series (Type 2C, PS3.3 Table C.38.1-1)
        self._duplicates(
            series, tags.SeriesInstanceUID, f"{path}.InventoriedSeriesSequence", "series", "study"
        )
        n_inst = sum(len(_items(se, tags.InventoriedInstancesSequence) or ()) for se in series)
        n_series = _int(ds.get(tags.NumberOfStudyRelatedSeries))
        if n_series is not None and n_series != len(series):
            self._report(
                "count-related",
                f"{path}.NumberOfStudyRelatedSeries",
                f"says {n_series}, but {len(series)} series records are listed",
                _off(ds.get(tags.NumberOfStudyRelatedSeries)),
            )
        n_instances = _int(ds.get(tags.NumberOfStudyRelatedInstances))
        if level == "INSTANCE" and n_instances is not None and n_instances != n_inst:
            self._report(
                "count-related",
                f"{path}.NumberOfStudyRelatedInstances",
                f"says {n_instances}, but {n_inst} instance records are listed",
                _off(ds.get(tags.NumberOfStudyRelatedInstances)),
            )

    def _series(self, ds: RawDataset, path: str) -> None:
        instances = _items(ds, tags.InventoriedInstancesSequence)
        if self._level == "SERIES" and instances is not None:
            self._report(
                "level-nesting",
                f"{path}.InventoriedInstancesSequence",
                "present, but Inventory Level SERIES has study and series records only",
                _off(ds.get(tags.InventoriedInstancesSequence)),
            )
        elif self._level == "INSTANCE" and instances is None:
            # present and empty is valid: a series without instances (Type 2C)
            self._report(
                "level-nesting",
                f"{path}.InventoriedInstancesSequence",
                "missing; Inventory Level INSTANCE has instance records per series",
            )
        if instances:
            self._duplicates(
                instances,
                tags.SOPInstanceUID,
                f"{path}.InventoriedInstancesSequence",
                "instance",
                "series",
            )

    def _duplicates(
        self, items: list[RawDataset], tag: int, path: str, what: str, parent: str
    ) -> None:
        """Report records whose UID (at `tag`) was listed before in the same parent."""
        seen: set[bytes] = set()
        for i, item in enumerate(items):
            el = item.get(tag)
            if el is None or not isinstance(el[1], bytes) or not el[1]:
                continue
            if el[1] in seen:
                self._report(
                    "duplicate-record",
                    f"{path}[{i}].{_kw(tag)}",
                    f"{what} {ascii_value(el)} is listed twice in this {parent}",
                    el[2],
                )
            seen.add(el[1])

    def _file_uris(self, ds: RawDataset, path: str) -> None:
        """File and Folder Access URI syntax (PS3.3 C.38.2.2.1.1).

        The macro's 1C conditions are :mod:`dicom_inventory.conditions`. Works on the raw
        bytes: once per record.
        """
        for tag in (tags.FileAccessURI, tags.FolderAccessURI):
            el = ds.get(tag)
            if el is not None and el[1]:
                uri: bytes = el[1]  # type: ignore[assignment]
                if uri.startswith(b"./"):
                    if not (self._base_top or any(self._bases)):
                        self._report(
                            "file-relative-uri",
                            f"{path}.{_kw(tag)}",
                            f"{uri.strip()!r} is relative, but no Stored Instance Base URI "
                            "(0008,0407) is given for its series, its study or the inventory",
                            el[2],
                        )
                elif not _SCHEME_B.match(uri):
                    self._report(
                        "file-uri",
                        f"{path}.{_kw(tag)}",
                        f"{uri.strip()!r} is neither an absolute URI nor a relative "
                        "reference beginning with ./",
                        el[2],
                    )

    def _reference(self, ds: RawDataset, path: str) -> None:
        cls = ascii_value(ds.get(tags.ReferencedSOPClassUID))
        if cls and cls != INVENTORY_STORAGE:
            self._report(
                "reference",
                f"{path}.ReferencedSOPClassUID",
                f"is {cls}; an incorporated instance is Inventory Storage {INVENTORY_STORAGE}",
                _off(ds.get(tags.ReferencedSOPClassUID)),
            )
        self._file_uris(ds, path)

    def _original(self, ds: RawDataset, path: str) -> None:
        items = _items(ds, tags.ModifiedAttributesSequence)
        if items is not None and len(items) != 1:
            self._report(
                "original-attributes",
                f"{path}.ModifiedAttributesSequence",
                f"has {len(items)} items; exactly one is required",
                _off(ds.get(tags.ModifiedAttributesSequence)),
            )

    # -- across files ---------------------------------------------------------------------
    def cross_file(self) -> Iterator[Finding]:
        """Checks over every file validated so far: the tree of incorporated instances."""
        by_uid = {s.uid: s for s in self.summaries}
        parents: dict[str, str] = {}
        indexes: dict[Path, dict[str, Path]] = {}  # folder -> its files' headers, read once
        for s in self.summaries:
            self._file = s.path
            for uid, nested in s.refs:
                child = by_uid.get(uid)
                where = f"IncorporatedInventoryInstanceSequence[{uid}]"
                if uid in parents and parents[uid] != s.uid:
                    yield self._f(
                        "chain-shared",
                        where,
                        f"{uid} is incorporated by {parents[uid]} and by {s.uid}",
                    )
                parents[uid] = s.uid
                if child is None:
                    base = Path(s.path).parent
                    if _locate_incorporated(uid, s.uris.get(uid), base, indexes=indexes):
                        yield self._f(
                            "chain-missing",
                            where,
                            f"{uid} is not among the files validated; its part of the "
                            "tree was not checked",
                        )
                    else:
                        yield self._f(
                            "chain-dangling",
                            where,
                            f"{uid} is neither among the files validated nor found from "
                            f"{base} (by File Access URI, as <UID>.dcm, or by the headers of "
                            "the files there): the records it holds are lost to the inventory",
                        )
                    continue
                if child.level != s.level:
                    yield self._f(
                        "chain-level",
                        where,
                        f"{uid} has Inventory Level {child.level}, its parent {s.level}",
                    )
                if nested != child.refs:
                    yield self._f(
                        "chain-copy",
                        where,
                        f"the reference to {uid} does not repeat that instance's own "
                        "Incorporated Inventory Instance Sequence",
                    )
        cycles = _cycles(by_uid)
        totals = _subtree_totals(by_uid)
        for s in self.summaries:
            self._file = s.path
            cycle = cycles.get(s.uid)
            if cycle:
                yield self._f(
                    "chain-cycle",
                    "IncorporatedInventoryInstanceSequence",
                    "references form a cycle: " + " -> ".join(cycle),
                )
                continue
            subtotal = totals.get(s.uid)
            if subtotal is not None and s.total is not None and subtotal != s.total:
                yield self._f(
                    "chain-total",
                    "TotalNumberOfStudyRecords",
                    f"is {s.total}, but the subtree holds {subtotal} study records (assumption Q6)",
                )


def _children(node: _Summary) -> list[str]:
    return [uid for uid, _ in node.refs]


def _cycles(by_uid: Mapping[str, _Summary]) -> dict[str, list[str]]:
    """For each instance on a cycle of references: one such cycle, from it back to it.

    Iterative (Tarjan's strongly connected components, then a breadth-first search inside the
    component of each instance on a cycle), so a chain of any length is checked in linear time
    and stack; a cycle is at most one component.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    scc_stack: list[str] = []
    component: dict[str, int] = {}
    components: list[list[str]] = []
    for start in by_uid:
        if start in index:
            continue
        work = [(start, iter(_children(by_uid[start])))]
        index[start] = low[start] = len(index)
        scc_stack.append(start)
        on_stack.add(start)
        while work:
            uid, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child not in by_uid:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    scc_stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(_children(by_uid[child]))))
                elif child in on_stack:
                    low[uid] = min(low[uid], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[uid])
            if low[uid] == index[uid]:
                members = []
                while True:
                    m = scc_stack.pop()
                    on_stack.discard(m)
                    component[m] = len(components)
                    members.append(m)
                    if m == uid:
                        break
                components.append(members)
    out: dict[str, list[str]] = {}
    for members in components:
        if len(members) == 1 and members[0] not in _children(by_uid[members[0]]):
            continue  # a single instance that does not reference itself: no cycle
        for m in members:
            out[m] = _cycle_through(m, by_uid, component)
    return out


def _cycle_through(
    start: str, by_uid: Mapping[str, _Summary], component: dict[str, int]
) -> list[str]:
    """The shortest path of references from `start` back to `start` within its component."""
    came_from: dict[str, str] = {}
    queue = [start]
    for uid in queue:  # breadth first; `queue` grows while it is read
        for child in _children(by_uid[uid]):
            if child == start:
                path = [start]
                while uid != start:
                    path.append(uid)
                    uid = came_from[uid]
                return [start, *reversed(path[1:]), start]
            if component.get(child) == component[start] and child not in came_from:
                came_from[child] = uid
                queue.append(child)
    return [start, start]  # not reached: `start` is on a cycle of its component


def _subtree_totals(by_uid: Mapping[str, _Summary]) -> dict[str, int | None]:
    """Study records in the subtree of each instance (its own plus its descendants').

    None where a descendant is missing from the set, has no count, or a cycle is met.
    Iterative, each instance counted once (a shared subtree is not walked twice).
    """
    totals: dict[str, int | None] = {}
    for start in by_uid:
        if start in totals:
            continue
        visiting = {start}
        work = [(start, iter(_children(by_uid[start])))]
        while work:
            uid, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child in totals:
                    continue
                if child not in by_uid or child in visiting:  # missing, or a cycle
                    totals[child] = None
                    continue
                visiting.add(child)
                work.append((child, iter(_children(by_uid[child]))))
                continue
            work.pop()
            visiting.discard(uid)
            node = by_uid[uid]
            if uid in totals:  # marked None: a cycle runs through it
                continue
            total = node.number
            for c in _children(node):
                sub = totals.get(c)
                if total is None or sub is None:
                    total = None
                    break
                total += sub
            totals[uid] = total
    return totals


def _refs(ds: RawDataset) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (ascii_value(it.get(tags.ReferencedSOPInstanceUID)), _refs(it))
        for it in _items(ds, tags.IncorporatedInventoryInstanceSequence) or ()
    )


def _uris(ds: RawDataset) -> dict[str, str]:
    """The File Access URI of each incorporated instance that has one (PS3.3 C.38.2.3)."""
    return {
        ascii_value(it.get(tags.ReferencedSOPInstanceUID)): ascii_value(it.get(tags.FileAccessURI))
        for it in _items(ds, tags.IncorporatedInventoryInstanceSequence) or ()
        if it.get(tags.FileAccessURI) is not None
    }


def _items(ds: RawDataset, tag: int) -> list[RawDataset] | None:
    el = ds.get(tag)
    if el is None:
        return None
    return el[1] if isinstance(el[1], list) else []


def _int(el: RawElement | None) -> int | None:
    if el is None or not el[1] or isinstance(el[1], list):
        return None
    raw = el[1]
    if el[0] in ("UL", "UV", "US"):
        return int.from_bytes(raw[: {"UL": 4, "UV": 8, "US": 2}[el[0]]], "little")
    try:
        return int(raw.strip(b" \x00").split(b"\\")[0])
    except ValueError:
        return None


def _off(el: RawElement | None) -> int | None:
    return el[2] if el is not None else None


def _digits(dt: str) -> str:
    return "".join(c for c in dt[:14] if c.isdigit()).ljust(14, "0")


# ----------------------------------------------------------------------------- conveniences
def validate_file(
    path: str | os.PathLike[str], *, policy: ReadPolicy | None = None
) -> Iterator[Finding]:
    """Validate one Inventory file (streaming); raises InventoryReadError if unreadable."""
    yield from Validator(policy=policy).file(path)


def validate_files(
    paths: Iterable[str | os.PathLike[str]], *, policy: ReadPolicy | None = None
) -> Iterator[Finding]:
    """Validate each file, then the set as a tree of incorporated instances."""
    v = Validator(policy=policy)
    for p in paths:
        yield from v.file(p)
    yield from v.cross_file()


def validate_dataset(ds: Any) -> list[Finding]:
    """Validate a small inventory held as a pydicom ``Dataset`` (written out, then streamed)."""
    with dataset_file(ds) as path:
        return list(validate_file(path))
