r"""Scope of Inventory in the standard's form (PS3.3 C.38.2.1, Table C.38.2-1; PS3.4 Table KK.2-1).

The item of Scope of Inventory Sequence (0008,0400) never holds a key attribute directly. Each
key sits inside the matching sequence of its matching type:

===================================  =============================================  ========
matching sequence                    holds                                          kind
===================================  =============================================  ========
Range Matching Sequence (0008,0410)  DA, DT and TM keys; two Items, begin then end  baseline
List of UID Matching (0008,0411)     UI keys with a list of UIDs (VM 1-n)           baseline
General Matching (0008,0413)         single-value and wild-card keys (Type 1)       baseline
Empty Value Matching (0008,0412)     keys that match only an empty value (empty)    extended
===================================  =============================================  ========

Range and List of UID matching are baseline Query/Retrieve matching (PS3.4 C.2.2.2.2,
C.2.2.2.5), so a scope that uses them needs no Extended Matching Mechanisms (0008,040F); that
attribute names only what goes beyond the baseline (PS3.4 KK.2.2.2). ``TIMEZONE_ADJUST``
requires Timezone Offset From UTC (0008,0201) and ``RELATIONAL`` requires Query/Retrieve Level
(0008,0052) in the item (Table C.38.2-1).

Assumptions, named here once and in ``docs/standard-notes.md`` (the text of C.38.2.1.1.3 to
C.38.2.1.1.5 could not be read):

* Range Matching Sequence has exactly two Items: the first holds the beginning of each range,
  the second its end, each key in both; an empty value is an open end ("the beginning and end
  values", Table C.38.2-1; ``>>Any DA, DT or TM attribute`` is Type 2 in Table KK.2-1).
* List of UID, General and Empty Value Matching Sequence each hold one Item with every key of
  that matching type.
* Empty value matching (PS3.4 C.2.2.2.7) is an extended mechanism, one of the six Enumerated
  Values of Extended Matching Mechanisms; its code was not read and is assumed to be
  ``EMPTY_VALUE`` (:class:`~dicom_inventory.enum.ExtendedMatchingMechanism`). The condition
  cell of Empty Value Matching Sequence begins "Required if Extended Matching Mechanisms
  (0008,040F) ..." (rest not read).

The flat form :attr:`ScopeOfInventory.keys` (``{keyword: query string}``, as a C-FIND
identifier or ``--scope KEY=VALUE`` writes keys: ``A-B`` for a range, ``a\b`` for a list of
UIDs, an empty string for empty-value matching) is what the SCU's command line takes and what
the SCP's matcher compiles; :meth:`ScopeOfInventory.from_keys` is the one place that maps it to
the standard form.

Matching a study against the keys (PS3.4 C.2.2.2) lives here too, so that the node's producer,
its Query/Retrieve services and the client's ``diff`` judge a study the same way:
:func:`key_matcher` compiles one Query/Retrieve key by its VR, :func:`scope_matchers` compiles
the keys of a scope (empty value matching included), :meth:`ScopeOfInventory.matches` judges a
study's attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dicom_inventory._vr import value_problem
from dicom_inventory.attributes import INSTANCE_PATH, SERIES_PATH, STUDY_PATH, attributes_at
from dicom_inventory.enum import ExtendedMatchingMechanism
from dicom_inventory.errors import InventoryError
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.multival import MultiValue

__all__ = [
    "CONTROL_ATTRIBUTES",
    "MATCHING_SEQUENCES",
    "Matcher",
    "ScopeError",
    "ScopeFinding",
    "ScopeOfInventory",
    "check_scope_item",
    "dataset_mapping",
    "key_matcher",
    "query_text",
    "range_bounds",
    "scope_matchers",
    "uid_set",
]


_SCOPE_ITEM = attributes_at(("ScopeOfInventorySequence",))
#: The attributes the Scope item holds itself, besides the matching sequences (Table C.38.2-1,
#: from the attribute table): Specific Character Set, Query/Retrieve Level, Timezone Offset From
#: UTC, Extended Matching Mechanisms.
CONTROL_ATTRIBUTES = tuple(a.keyword for a in _SCOPE_ITEM if a.vr != "SQ")
#: The four matching sequences of the Scope item, in tag order (Table C.38.2-1).
MATCHING_SEQUENCES = tuple(a.keyword for a in _SCOPE_ITEM if a.vr == "SQ")
_RANGE_VRS = frozenset({"DA", "DT", "TM"})
#: Attributes of series and instance records that study records do not have (the attribute
#: table, PS3.3 Table C.38.1-1): never Study-level keys, so a scope without RELATIONAL may not
#: use them (PS3.3 C.38.2.1.1.2: "only Key Attributes defined at the Study level").
_BELOW_STUDY_KEYS = frozenset(
    {a.keyword for a in (*attributes_at(SERIES_PATH), *attributes_at(INSTANCE_PATH))}
    - {a.keyword for a in attributes_at(STUDY_PATH)}
)
_SECTION = "PS3.3 C.38.2.1, PS3.4 Table KK.2-1"


def _vr(keyword: str) -> str:
    try:
        return str(dictionary_VR(keyword))
    except KeyError:
        return ""


def query_text(value: Any) -> str:
    r"""An element value as one query string: multiple values joined by ``\``, none as ``""``.

    The form in which flat keys, C-FIND identifiers and N-ACTION arguments are compared and
    matched (PS3.4 C.2.2.2); takes generic values (tuples) and pydicom's ``MultiValue``.
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _in_tag_order(keywords: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(keywords, key=lambda kw: tag_for_keyword(kw) or 0))


def _values(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return tuple(v for v in str(value).split("\\") if v != "")


@dataclass(frozen=True, slots=True)
class ScopeOfInventory:
    """The single item of Scope of Inventory Sequence, by matching type.

    An empty scope (no key) is universal matching: every study (C.38.2.1.1.1). Build one from
    flat query keys with :meth:`from_keys`; read one from a decoded item with
    :meth:`from_item`; write it with :meth:`to_item` (files) or :meth:`to_dataset` (DIMSE).
    """

    general: Mapping[str, str] = field(default_factory=dict)
    """General Matching Sequence (0008,0413): single-value and wild-card keys."""
    ranges: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Range Matching Sequence (0008,0410): ``{keyword: (begin, end)}``, ``""`` an open end."""
    uid_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """List of UID Matching Sequence (0008,0411): ``{keyword: UIDs}``."""
    empty: tuple[str, ...] = ()
    """Empty Value Matching Sequence (0008,0412): keywords that must have no value, in tag
    order."""
    extended_matching_mechanisms: tuple[str, ...] = ()
    """Extended Matching Mechanisms (0008,040F), beyond the baseline of PS3.4 C.2.2.2."""
    specific_character_set: tuple[str, ...] = ()
    """Specific Character Set (0008,0005) of the item; empty: inherited."""
    timezone_offset_from_utc: str | None = None
    """Timezone Offset From UTC (0008,0201), 1C: with TIMEZONE_ADJUST."""
    query_retrieve_level: str | None = None
    """Query/Retrieve Level (0008,0052), 1C: with RELATIONAL."""
    direct: Mapping[str, str] = field(default_factory=dict)
    """Key attributes found directly in the item (not the standard's form; read only)."""

    # -- the flat form ----------------------------------------------------------------------
    @classmethod
    def from_keys(
        cls,
        keys: Mapping[str, str] | None,
        *,
        extended_matching_mechanisms: Iterable[str] = (),
        specific_character_set: Iterable[str] = (),
        timezone_offset_from_utc: str | None = None,
    ) -> ScopeOfInventory:
        r"""Place flat query keys in their matching sequences (the one mapping, module doc).

        A DA/DT/TM value with ``-`` is a range; a UI value with ``\`` a list of UIDs; an empty
        value is empty-value matching (and names :attr:`ExtendedMatchingMechanism.EMPTY_VALUE`);
        anything else is single-value or wild-card matching.
        """
        general: dict[str, str] = {}
        ranges: dict[str, tuple[str, str]] = {}
        uid_lists: dict[str, tuple[str, ...]] = {}
        empty: list[str] = []
        for keyword, raw in (keys or {}).items():
            value = query_text(raw)
            vr = _vr(keyword)
            if value == "":
                empty.append(keyword)
            elif vr in _RANGE_VRS and "-" in value:
                begin, _, end = value.partition("-")
                ranges[keyword] = (begin, end)
            elif vr == "UI" and "\\" in value:
                uid_lists[keyword] = tuple(u.strip() for u in value.split("\\"))
            else:
                general[keyword] = value
        charset = tuple(specific_character_set)
        if not charset and any(not query_text(v).isascii() for v in (keys or {}).values()):
            charset = ("ISO_IR 192",)  # required for non-ASCII keys (Table C.38.2-1)
        mechanisms = list(dict.fromkeys(extended_matching_mechanisms))
        if empty and ExtendedMatchingMechanism.EMPTY_VALUE.value not in mechanisms:
            mechanisms.append(ExtendedMatchingMechanism.EMPTY_VALUE.value)
        return cls(
            general=general,
            ranges=ranges,
            uid_lists=uid_lists,
            empty=_in_tag_order(empty),
            extended_matching_mechanisms=tuple(mechanisms),
            specific_character_set=charset,
            timezone_offset_from_utc=timezone_offset_from_utc,
        )

    @property
    def keys(self) -> dict[str, str]:
        """Every key as a flat query string (the inverse of :meth:`from_keys`)."""
        out: dict[str, str] = {}
        for kw, (begin, end) in self.ranges.items():
            out[kw] = f"{begin}-{end}"
        for kw, uids in self.uid_lists.items():
            out[kw] = "\\".join(uids)
        for kw in self.empty:
            out[kw] = ""
        out.update(self.general)
        return out

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a study with these attributes (``{keyword: value}``) matches every key.

        Keys are matched as :func:`scope_matchers` compiles them (PS3.4 C.2.2.2); a key the
        study's attributes do not hold is matched against no value.

        Raises
        ------
        ScopeError
            If a key's value is not valid for its matching type.
        """
        return all(m(attributes.get(k)) for k, m in scope_matchers(self.keys).items())

    @property
    def is_universal(self) -> bool:
        """True if the scope holds no key: every study matches (C.38.2.1.1.1)."""
        return not (self.general or self.ranges or self.uid_lists or self.empty or self.direct)

    def describe(self) -> str:
        """One line for people: each key with its matching sequence (``show``, reports)."""
        if self.is_universal:
            return "every study (universal match)"
        parts = [f"{kw} {b or '...'}-{e or '...'} (Range)" for kw, (b, e) in self.ranges.items()]
        parts += [f"{kw} in {len(u)} UIDs (List of UID)" for kw, u in self.uid_lists.items()]
        parts += [f"{kw} empty (Empty Value)" for kw in self.empty]
        parts += [f"{kw}={v} (General)" for kw, v in self.general.items()]
        parts += [f"{kw}={v} (directly in the item: not standard)" for kw, v in self.direct.items()]
        if self.extended_matching_mechanisms:
            parts.append("extended: " + ", ".join(self.extended_matching_mechanisms))
        return "; ".join(parts)

    # -- the standard form --------------------------------------------------------------------
    def to_item(self) -> dict[str, Any]:
        """The Scope item as ``{keyword: value}`` (sequences as lists of such dicts)."""
        item: dict[str, Any] = {}
        if self.specific_character_set:
            item["SpecificCharacterSet"] = tuple(self.specific_character_set)
        if self.query_retrieve_level is not None:
            item["QueryRetrieveLevel"] = self.query_retrieve_level
        if self.timezone_offset_from_utc is not None:
            item["TimezoneOffsetFromUTC"] = self.timezone_offset_from_utc
        if self.extended_matching_mechanisms:
            item["ExtendedMatchingMechanisms"] = tuple(self.extended_matching_mechanisms)
        if self.ranges:
            item["RangeMatchingSequence"] = [
                {kw: begin or None for kw, (begin, _) in self.ranges.items()},
                {kw: end or None for kw, (_, end) in self.ranges.items()},
            ]
        if self.uid_lists:
            item["ListOfUIDMatchingSequence"] = [dict(self.uid_lists)]
        if self.empty:
            item["EmptyValueMatchingSequence"] = [dict.fromkeys(self.empty)]
        if self.general:
            item["GeneralMatchingSequence"] = [dict(self.general)]
        for kw, value in self.direct.items():
            item[kw] = value
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> ScopeOfInventory:
        """Read a decoded Scope item, tolerantly: keys found directly in it go to :attr:`direct`.

        Matching sequences with an unexpected number of Items are read as far as they go;
        :func:`check_scope_item` says what is wrong with them.
        """
        item = item or {}
        ranges: dict[str, tuple[str, str]] = {}
        range_items = list(item.get("RangeMatchingSequence") or [])
        begin = range_items[0] if range_items else {}
        end = range_items[1] if len(range_items) > 1 else {}
        for kw in dict.fromkeys([*begin, *end]):
            ranges[kw] = (query_text(begin.get(kw)), query_text(end.get(kw)))
        uid_lists: dict[str, tuple[str, ...]] = {}
        for sub in item.get("ListOfUIDMatchingSequence") or []:
            for kw, value in sub.items():
                uid_lists[kw] = (*uid_lists.get(kw, ()), *_values(value))
        empty: list[str] = []
        for sub in item.get("EmptyValueMatchingSequence") or []:
            empty.extend(kw for kw in sub if kw not in empty)
        general: dict[str, str] = {}
        for sub in item.get("GeneralMatchingSequence") or []:
            general.update({kw: query_text(v) for kw, v in sub.items()})
        direct = {
            kw: query_text(v)
            for kw, v in item.items()
            if kw not in CONTROL_ATTRIBUTES and kw not in MATCHING_SEQUENCES
        }
        tz = item.get("TimezoneOffsetFromUTC")
        level = item.get("QueryRetrieveLevel")
        return cls(
            general=general,
            ranges=ranges,
            uid_lists=uid_lists,
            empty=_in_tag_order(empty),
            extended_matching_mechanisms=_values(item.get("ExtendedMatchingMechanisms")),
            specific_character_set=_values(item.get("SpecificCharacterSet")),
            timezone_offset_from_utc=None if tz in (None, "") else query_text(tz),
            query_retrieve_level=None if level in (None, "") else query_text(level),
            direct=direct,
        )

    def to_dataset(self, *, validate: bool = True) -> Any:
        """The Scope item as a pydicom ``Dataset`` (N-ACTION Action Information, C-FIND).

        ``validate=False`` lets pydicom take values that are not valid for their VR (the test
        kit sends such a value on purpose).
        """
        from pydicom import config
        from pydicom.dataelem import DataElement
        from pydicom.dataset import Dataset

        mode = config.settings.writing_validation_mode if validate else config.IGNORE

        def build(attrs: Mapping[str, Any]) -> Dataset:
            ds = Dataset()
            for kw, value in attrs.items():
                tag = tag_for_keyword(kw)
                if tag is None:
                    raise ValueError(f"{kw!r} is not a DICOM keyword (PS3.6)")
                if isinstance(value, list):
                    value = [build(sub) for sub in value]
                elif isinstance(value, tuple):
                    value = list(value) if len(value) != 1 else value[0]
                elif value is None:
                    value = ""
                ds.add(DataElement(tag, _vr(kw), value, validation_mode=mode))
            return ds

        return build(self.to_item())

    @classmethod
    def from_dataset(cls, ds: Any) -> ScopeOfInventory:
        """Read a Scope item held as a pydicom ``Dataset``."""
        return cls.from_item(dataset_mapping(ds))


def dataset_mapping(ds: Any) -> dict[str, Any]:
    """A pydicom ``Dataset`` as ``{keyword: value}``, multiple values as tuples of strings."""
    out: dict[str, Any] = {}
    for elem in ds:
        kw = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        if elem.VR == "SQ":
            out[kw] = [dataset_mapping(sub) for sub in elem.value]
        elif elem.value is None or elem.value == "":
            out[kw] = None
        elif elem.VM > 1:
            out[kw] = tuple(str(v) for v in elem.value)
        else:
            out[kw] = str(elem.value)
    return out


# ----------------------------------------------------------------------------- structure rules
@dataclass(frozen=True, slots=True)
class ScopeFinding:
    """One departure of a Scope item from Table C.38.2-1 / KK.2-1 (a validator rule id)."""

    rule: str
    path: str
    message: str


def check_scope_item(
    item: Mapping[str, Any], path: str = "ScopeOfInventorySequence[0]", *, values: bool = False
) -> list[ScopeFinding]:
    """Check the structure and conditions of one decoded Scope item (PS3.3 C.38.2.1).

    One place for these rules: the validator reports them for files, the SCP refuses an
    Initiate that breaks them, the test kit judges an SCU's Initiate by them. With `values`,
    the DA/TM/DT and UI keys are also checked for the syntax of their VR, dates and times
    against the calendar and the clock too (rule ``value-format``, PS3.5 6.2,
    :func:`~dicom_inventory._vr.value_problem`): the validator's element checks do that for files; the SCP
    and the test kit, which get a data set over DIMSE, ask for it here.
    """
    found = list(_scope_findings(item, path))
    if values:
        found += _value_findings(item, path)
    return found


#: The VRs whose key values the Scope item's own check looks at (the validator's element checks
#: do it for files): dates, times and UIDs, where a range or a list in the wrong place shows.
_CHECKED_VALUE_VRS = ("DA", "TM", "DT", "UI")


def _value_findings(item: Mapping[str, Any], path: str) -> list[ScopeFinding]:
    found = []
    for name in MATCHING_SEQUENCES:
        for i, sub in enumerate(item.get(name) or []):
            for kw, value in sub.items():
                vr = _vr(kw)
                if vr not in _CHECKED_VALUE_VRS:
                    continue
                for v in _values(value):
                    problem = value_problem(vr, v.encode("utf-8"))
                    if problem is not None:
                        found.append(
                            ScopeFinding(
                                "value-format",
                                f"{path}.{name}[{i}].{kw}",
                                f"value {v[:80]!r} {problem}; a range is written in Range "
                                "Matching Sequence, its ends in two Items (PS3.3 C.38.2.1, "
                                "PS3.4 C.2.2.2.5)",
                            )
                        )
                        break
    return found


def _scope_findings(item: Mapping[str, Any], path: str) -> Iterator[ScopeFinding]:
    for kw in item:
        if kw not in CONTROL_ATTRIBUTES and kw not in MATCHING_SEQUENCES:
            tag = tag_for_keyword(kw)
            where = f" {_tag_text(tag)}" if tag is not None else ""
            yield ScopeFinding(
                "scope-direct-key",
                f"{path}.{kw}",
                f"{kw}{where} directly in the Scope of Inventory item; a key attribute belongs "
                "inside Range, List of UID, Empty Value or General Matching Sequence "
                f"({_SECTION})",
            )
    mechanisms = set(_values(item.get("ExtendedMatchingMechanisms")))
    ranges = list(item.get("RangeMatchingSequence") or [])
    if "RangeMatchingSequence" in item and len(ranges) != 2:
        yield ScopeFinding(
            "scope-range-items",
            f"{path}.RangeMatchingSequence",
            f"has {len(ranges)} Item(s); two are expected, the beginning then the end of each "
            "range (PS3.3 C.38.2.1.1.3, layout assumed)",
        )
    for i, sub in enumerate(ranges[:2]):
        for kw in sub:
            if _vr(kw) not in _RANGE_VRS:
                yield ScopeFinding(
                    "scope-matching-vr",
                    f"{path}.RangeMatchingSequence[{i}].{kw}",
                    f"{kw} is VR {_vr(kw) or 'unknown'}; Range Matching Sequence holds DA, DT or "
                    "TM attributes only (PS3.4 Table KK.2-1)",
                )
    if len(ranges) == 2 and set(ranges[0]) != set(ranges[1]):
        odd = sorted(set(ranges[0]) ^ set(ranges[1]))
        yield ScopeFinding(
            "scope-range-items",
            f"{path}.RangeMatchingSequence",
            f"{', '.join(odd)} in one Item only; each range key is in both Items, an open end "
            "empty (PS3.3 C.38.2.1.1.3, layout assumed)",
        )
    for i, sub in enumerate(item.get("ListOfUIDMatchingSequence") or []):
        for kw, value in sub.items():
            if _vr(kw) != "UI":
                yield ScopeFinding(
                    "scope-matching-vr",
                    f"{path}.ListOfUIDMatchingSequence[{i}].{kw}",
                    f"{kw} is VR {_vr(kw) or 'unknown'}; List of UID Matching Sequence holds UI "
                    "attributes only (PS3.4 Table KK.2-1)",
                )
            elif not _values(value):
                yield ScopeFinding(
                    "scope-type1-key",
                    f"{path}.ListOfUIDMatchingSequence[{i}].{kw}",
                    f"{kw} has no value; keys of List of UID Matching are Type 1 "
                    "(PS3.4 Table KK.2-1)",
                )
    for i, sub in enumerate(item.get("GeneralMatchingSequence") or []):
        for kw, value in sub.items():
            if query_text(value) == "":
                yield ScopeFinding(
                    "scope-type1-key",
                    f"{path}.GeneralMatchingSequence[{i}].{kw}",
                    f"{kw} has no value; keys of General Matching are Type 1 (an empty key "
                    "belongs in Empty Value Matching Sequence, PS3.4 Table KK.2-1)",
                )
            elif _vr(kw) == "UI" and len(_values(value)) > 1:
                yield ScopeFinding(
                    "scope-uid-list",
                    f"{path}.GeneralMatchingSequence[{i}].{kw}",
                    f"{kw} holds {len(_values(value))} UIDs; a list of UIDs belongs in List of "
                    "UID Matching Sequence (PS3.3 Table C.38.2-1, PS3.4 C.2.2.2.2)",
                )
    for i, sub in enumerate(item.get("EmptyValueMatchingSequence") or []):
        for kw, value in sub.items():
            if query_text(value) != "":
                yield ScopeFinding(
                    "scope-empty-value",
                    f"{path}.EmptyValueMatchingSequence[{i}].{kw}",
                    f"{kw} has the value {query_text(value)!r}; keys of Empty Value Matching are "
                    "empty (PS3.3 C.38.2.1.1.5)",
                )
    if (
        item.get("EmptyValueMatchingSequence")
        and ExtendedMatchingMechanism.EMPTY_VALUE.value not in mechanisms
    ):
        yield ScopeFinding(
            "scope-extended-assumed",
            f"{path}.ExtendedMatchingMechanisms",
            "Empty Value Matching Sequence is used but Extended Matching Mechanisms does not "
            "name EMPTY_VALUE: empty value matching is beyond the baseline of PS3.4 C.2.2.2 "
            "(PS3.4 KK.2.2.2; term assumed)",
        )
    if ExtendedMatchingMechanism.RELATIONAL.value not in mechanisms:
        for name in MATCHING_SEQUENCES:
            for i, sub in enumerate(item.get(name) or []):
                for kw in sub:
                    if kw in _BELOW_STUDY_KEYS:
                        yield ScopeFinding(
                            "scope-study-level",
                            f"{path}.{name}[{i}].{kw}",
                            f"{kw} is not a Study-level key; without RELATIONAL in Extended "
                            "Matching Mechanisms only Study-level keys are allowed (PS3.3 "
                            "C.38.2.1.1.2)",
                        )
    conditions = (
        (ExtendedMatchingMechanism.TIMEZONE_ADJUST.value, "TimezoneOffsetFromUTC"),
        (ExtendedMatchingMechanism.RELATIONAL.value, "QueryRetrieveLevel"),
    )
    for term, needed in conditions:
        if term in mechanisms and query_text(item.get(needed)) == "":
            yield ScopeFinding(
                "scope-extended-matching",
                f"{path}.{needed}",
                f"missing; required when Extended Matching Mechanisms includes {term} "
                "(PS3.3 Table C.38.2-1)",
            )


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


# -- matching (PS3.4 C.2.2.2) --------------------------------------------------------------
class ScopeError(InventoryError, ValueError):
    """A scope key is unsupported, or its value is not valid for its matching type."""

    def __init__(self, message: str, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


#: A compiled key: whether an attribute value matches it.
Matcher = Callable[[Any], bool]

#: Range units of the Study-level range keys (PS3.4 C.2.2.2.5); StudyUpdateDateTime may carry
#: a UTC offset.
_STUDY_RANGE_UNITS = {
    "StudyDate": r"\d{8}",
    "StudyTime": r"\d{2,6}(\.\d{1,6})?",
    "StudyUpdateDateTime": r"\d{4,14}(\.\d{1,6})?([+-]\d{4})?",
}
#: The value forms of range matching by VR (PS3.4 C.2.2.2.5), for the other keys.
_VR_UNITS = {"DA": r"\d{8}", "TM": r"\d{2,6}(\.\d{1,6})?", "DT": r"\d{4,14}(\.\d{1,6})?"}
#: Keys matched case-insensitively besides PN (this implementation's choice, C.2.2.2.1).
_FOLDED = frozenset({"StudyDescription"})
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def _wildcard(pattern: str, fold: bool) -> Matcher:
    if "*" not in pattern and "?" not in pattern:
        want = pattern.casefold() if fold else pattern

        def exact(value: Any) -> bool:
            v = "" if value is None else str(value)
            return (v.casefold() if fold else v) == want

        return exact
    rx = re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
        re.IGNORECASE | re.DOTALL if fold else re.DOTALL,
    )
    return lambda value: value is not None and rx.fullmatch(str(value)) is not None


def _range(key: str, text: str) -> tuple[Matcher, tuple[str, str] | None]:
    """The matcher of a value or range, and the range's ``(lo, hi)`` (``None``: one value)."""
    unit = re.compile(_STUDY_RANGE_UNITS.get(key) or _VR_UNITS[_vr(key)])
    if text.count("-") > 1:
        raise ScopeError(
            f"{key}={text!r}: one '-' at most (time zone offsets are not supported in ranges)",
            (key,),
        )
    lo, dash, hi = text.partition("-")
    if any(p and not unit.fullmatch(p) for p in (lo, hi)) or not (lo or hi):
        raise ScopeError(
            f"{key}={text!r}: expected a value or a range A-B, A- or -B of DICOM "
            f"{'dates' if key == 'StudyDate' else 'times'} (PS3.4 C.2.2.2.5)",
            (key,),
        )
    vr = _vr(key)
    for part in (lo, hi):
        problem = value_problem(vr, part.encode("ascii")) if part else None
        if problem is not None:
            raise ScopeError(f"{key}={text!r}: {part!r} {problem}; PS3.4 C.2.2.2.5", (key,))
    if not dash:
        return (lambda value: value is not None and str(value) == text), None
    if lo and hi and lo > hi:
        raise ScopeError(f"{key}={text!r}: the range ends before it starts", (key,))

    def in_range(value: Any) -> bool:
        if not value:
            return False  # an empty value does not match a range (C.2.2.2.5)
        v = str(value)
        return (not lo or v[: len(lo)] >= lo) and (not hi or v[: len(hi)] <= hi)

    return in_range, (lo, hi)


def range_bounds(key: str, text: str) -> tuple[str, str] | None:
    """The ``(lo, hi)`` of a range key's value (``""`` an open end), ``None`` for one value.

    Raises
    ------
    ScopeError
        If `text` is not a DICOM date/time value or range of `key` (PS3.4 C.2.2.2.5).
    """
    return _range(key, text)[1]


def _empty(value: Any) -> bool:
    """Empty value matching: the attribute has no value (in the scope's Empty Value Matching)."""
    return value is None or value == "" or value == () or value == []


def _modalities(text: str) -> Matcher:
    def any_of(value: Any) -> bool:
        if isinstance(value, str):
            value = value.split("\\")
        values = value if isinstance(value, (list, tuple)) else [value]
        return text in values

    return any_of


def uid_set(text: str) -> frozenset[str]:
    r"""The UIDs of a single UID or a list of UIDs separated by ``\`` (PS3.4 C.2.2.2.2)."""
    return frozenset(u.strip() for u in text.split("\\"))


def _uid_list(keyword: str, text: str) -> Matcher:
    """Single UID or list of UIDs matching (PS3.4 C.2.2.2.2)."""
    uids = uid_set(text)
    bad = [u for u in uids if not _UID.fullmatch(u) or len(u) > 64]
    if bad:
        raise ScopeError(f"{keyword}: {bad[0]!r} is not a valid UID", (keyword,))
    return lambda value: value in uids


def key_matcher(keyword: str, text: str) -> Matcher | None:
    """A matcher for one query key by its VR (PS3.4 C.2.2.2), for keys of other services.

    UI: single UID or UID list; DA/TM/DT: single value or range; other text: single value or
    wildcard (PN case-insensitive). ``None`` for universal matching (empty or ``*``).

    Raises
    ------
    ScopeError
        If the value is not valid for the key's matching type.
    """
    if text in ("", "*"):
        return None
    vr = _vr(keyword)
    if vr == "UI":
        return _uid_list(keyword, text)
    if vr in _VR_UNITS:
        return _range(keyword, text)[0]
    return _wildcard(text, fold=vr == "PN")


def scope_matchers(keys: Mapping[str, str]) -> dict[str, Matcher]:
    r"""Compile flat scope keys (:attr:`ScopeOfInventory.keys`) into one matcher per key.

    ``*`` is universal matching (no matcher, C.2.2.2.3); ``""`` empty value matching (only a
    study without a value matches, C.2.2.2.7); Modalities in Study matches when any of the
    study's modalities is the value; a UI key a UID or list of UIDs (C.2.2.2.2); a DA, DT or
    TM key a value or range (C.2.2.2.5); any other key a single value or wild card
    (C.2.2.2.1, C.2.2.2.4), case-insensitive for PN keys and Study Description.

    Raises
    ------
    ScopeError
        If a value is not valid for its key's matching type (the first such key, in order).
    """
    matchers: dict[str, Matcher] = {}
    for key, text in keys.items():
        vr = _vr(key)
        if text == "*":
            continue  # universal matching (C.2.2.2.3)
        if text == "":
            matchers[key] = _empty
        elif key in _STUDY_RANGE_UNITS or vr in _VR_UNITS:
            matchers[key] = _range(key, text)[0]
        elif vr == "UI":
            matchers[key] = _uid_list(key, text)
        elif key == "ModalitiesInStudy":
            matchers[key] = _modalities(text)
        else:
            matchers[key] = _wildcard(text, fold=vr == "PN" or key in _FOLDED)
    return matchers
