r"""Scope of Inventory: which studies an inventory covers (PS3.3 C.38.2.1, PS3.4 KK.2.2.1.1).

The item of Scope of Inventory Sequence holds Study-level keys matched like Query/Retrieve keys
(PS3.4 C.2.2.2): a study is included only if it matches **all** keys; an empty sequence (or
empty item) matches every study. Supported here, per key:

===========================  =========================================================
key                          matching (PS3.4 C.2.2.2)
===========================  =========================================================
PatientID, AccessionNumber,  single value (case-sensitive), wildcard ``*`` and ``?``,
StudyID, IssuerOfPatientID   empty value (``""``: the study's value is empty)
PatientName,                 the same, case-insensitive (C.2.2.2.1, PN)
StudyDescription
StudyDate, StudyTime         single value or range ``A-B``, ``A-``, ``-B`` (C.2.2.2.5)
StudyUpdateDateTime          DT range, the same forms
StudyInstanceUID             single UID or a list of UIDs separated by ``\`` (C.2.2.2.2)
ModalitiesInStudy            single value: a study matches if any of its modalities does
===========================  =========================================================

Every key also takes ``*`` (universal matching, C.2.2.2.3) and the empty value (empty value
matching: only studies without a value match; an extended mechanism, named EMPTY_VALUE in the
scope, :mod:`dicom_inventory.scope`). Any other key is refused (:class:`ScopeError`, which the SCP maps to the warning 0xB010 and a
producer drops from the recorded scope, PS3.17 YYYY.7.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dicom_inventory._vr import value_problem
from dicom_inventory.errors import InventoryError
from dicom_inventory.scp.stores.repository import StudyFilter
from pydicom.datadict import dictionary_VR

__all__ = ["SUPPORTED_KEYS", "Scope", "ScopeError", "key_matcher", "parse_scope"]


class ScopeError(InventoryError, ValueError):
    """A scope key is unsupported, or its value is not valid for its matching type."""

    def __init__(self, message: str, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


_Matcher = Callable[[Any], bool]

_WILDCARD_KEYS = ("PatientID", "AccessionNumber", "StudyID", "IssuerOfPatientID")
_PN_KEYS = ("PatientName", "StudyDescription")
_RANGE_KEYS = {
    "StudyDate": r"\d{8}",
    "StudyTime": r"\d{2,6}(\.\d{1,6})?",
    "StudyUpdateDateTime": r"\d{4,14}(\.\d{1,6})?([+-]\d{4})?",
}
#: The scope keys this producer matches, with their matching type.
SUPPORTED_KEYS: dict[str, str] = {
    k: f"{kind}, empty value"
    for k, kind in {
        **{k: "single value, wildcard" for k in _WILDCARD_KEYS},
        **{k: "single value, wildcard, case-insensitive" for k in _PN_KEYS},
        **{k: "single value, range" for k in _RANGE_KEYS},
        "StudyInstanceUID": "single value, list of UIDs",
        "ModalitiesInStudy": "single value (any of the study's modalities)",
    }.items()
}
#: The value forms of range matching by VR (PS3.4 C.2.2.2.5), for keys of other services.
_VR_UNITS = {"DA": r"\d{8}", "TM": r"\d{2,6}(\.\d{1,6})?", "DT": r"\d{4,14}(\.\d{1,6})?"}
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def _wildcard(pattern: str, fold: bool) -> _Matcher:
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


def _range(key: str, text: str) -> tuple[_Matcher, tuple[str, str] | None]:
    """The matcher of a value or range, and the range's ``(lo, hi)`` (``None``: one value)."""
    unit = re.compile(_RANGE_KEYS.get(key) or _VR_UNITS[str(dictionary_VR(key))])
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
    vr = str(dictionary_VR(key))
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


def _empty(value: Any) -> bool:
    """Empty value matching: the attribute has no value (in the scope's Empty Value Matching)."""
    return value is None or value == "" or value == () or value == []


def _modalities(text: str) -> _Matcher:
    def any_of(value: Any) -> bool:
        values = value if isinstance(value, (list, tuple)) else [value]
        return text in values

    return any_of


@dataclass(frozen=True)
class Scope:
    """Parsed Scope of Inventory: keys as given, and a matcher per key."""

    keys: Mapping[str, str]
    """The keys, as recorded in Scope of Inventory Sequence."""
    _matchers: Mapping[str, _Matcher]
    narrowing: StudyFilter = StudyFilter()
    """What a repository's index can answer of the keys (:class:`StudyFilter`): necessary
    conditions, handed to a :class:`StudyFilteringRepository` before :meth:`matches` decides."""

    def matches(self, attributes: Mapping[str, Any], study_instance_uid: str) -> bool:
        """Whether a study with these current attributes matches every key."""
        for key, match in self._matchers.items():
            value = study_instance_uid if key == "StudyInstanceUID" else attributes.get(key)
            if not match(value):
                return False
        return True

    @property
    def is_universal(self) -> bool:
        """True if every study matches (no key, or only ``*`` keys)."""
        return not self._matchers


def parse_scope(keys: Mapping[str, str] | None) -> Scope:
    """Check and compile scope keys.

    Raises
    ------
    ScopeError
        For keys not in :data:`SUPPORTED_KEYS` (all of them listed in ``.keys``) or invalid
        values.
    """
    keys = dict(keys or {})
    unsupported = tuple(k for k in keys if k not in SUPPORTED_KEYS)
    if unsupported:
        raise ScopeError(
            f"scope key(s) not supported for matching: {', '.join(unsupported)}; supported: "
            f"{', '.join(SUPPORTED_KEYS)}",
            unsupported,
        )
    matchers: dict[str, _Matcher] = {}
    uids: frozenset[str] | None = None
    equal: dict[str, str] = {}
    ranges: dict[str, tuple[str, str]] = {}
    for key, text in keys.items():
        if text == "*":
            continue  # universal matching (C.2.2.2.3)
        if text == "":
            matchers[key] = _empty
            continue
        if key in _RANGE_KEYS:
            matchers[key], bounds = _range(key, text)
            if bounds is None:
                equal[key] = text
            else:
                ranges[key] = bounds
        elif key == "StudyInstanceUID":
            matchers[key] = _uid_list(key, text)
            uids = _uids(text)
        elif key == "ModalitiesInStudy":
            matchers[key] = _modalities(text)
        else:
            matchers[key] = _wildcard(text, fold=key in _PN_KEYS)
            if key not in _PN_KEYS and "*" not in text and "?" not in text:
                equal[key] = text  # single value matching, case-sensitive (C.2.2.2.1)
    return Scope(keys, matchers, StudyFilter(uids, equal, ranges))


def key_matcher(keyword: str, text: str) -> _Matcher | None:
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
    vr = str(dictionary_VR(keyword))
    if vr == "UI":
        return _uid_list(keyword, text)
    if vr in _VR_UNITS:
        return _range(keyword, text)[0]
    return _wildcard(text, fold=vr == "PN")


def _uid_list(keyword: str, text: str) -> _Matcher:
    """Single UID or list of UIDs matching (PS3.4 C.2.2.2.2)."""
    uids = _uids(text)
    bad = [u for u in uids if not _UID.fullmatch(u) or len(u) > 64]
    if bad:
        raise ScopeError(f"{keyword}: {bad[0]!r} is not a valid UID", (keyword,))
    return lambda value: value in uids


def _uids(text: str) -> frozenset[str]:
    return frozenset(u.strip() for u in text.split("\\"))
