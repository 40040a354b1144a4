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
producer drops from the recorded scope, PS3.17 YYYY.7.1). The matchers themselves, and
:func:`key_matcher` for the keys of other services, are the IOD library's
(:mod:`dicom_inventory.scope`), shared with the client's ``diff``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dicom_inventory.scope import (
    Matcher,
    ScopeError,
    key_matcher,
    range_bounds,
    scope_matchers,
    uid_set,
)
from dicom_inventory.scp.stores.repository import StudyFilter

__all__ = ["SUPPORTED_KEYS", "Scope", "ScopeError", "key_matcher", "parse_scope"]

_WILDCARD_KEYS = ("PatientID", "AccessionNumber", "StudyID", "IssuerOfPatientID")
_PN_KEYS = ("PatientName", "StudyDescription")
_RANGE_KEYS = ("StudyDate", "StudyTime", "StudyUpdateDateTime")
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


@dataclass(frozen=True)
class Scope:
    """Parsed Scope of Inventory: keys as given, and a matcher per key."""

    keys: Mapping[str, str]
    """The keys, as recorded in Scope of Inventory Sequence."""
    _matchers: Mapping[str, Matcher]
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
    """Check and compile scope keys (the matchers: :func:`dicom_inventory.scope.scope_matchers`).

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
    matchers = scope_matchers(keys)
    uids: frozenset[str] | None = None
    equal: dict[str, str] = {}
    ranges: dict[str, tuple[str, str]] = {}
    for key, text in keys.items():
        if text in ("*", ""):
            continue  # universal matching, empty value matching: nothing an index narrows
        if key in _RANGE_KEYS:
            bounds = range_bounds(key, text)
            if bounds is None:
                equal[key] = text
            else:
                ranges[key] = bounds
        elif key == "StudyInstanceUID":
            uids = uid_set(text)
        elif key in _WILDCARD_KEYS and "*" not in text and "?" not in text:
            equal[key] = text  # single value matching, case-sensitive (C.2.2.2.1)
    return Scope(keys, matchers, StudyFilter(uids, equal, ranges))
