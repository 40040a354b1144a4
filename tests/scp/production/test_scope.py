"""Scope of Inventory matching (scp/production/scope.py) on its own, against the rules of
PS3.4 C.2.2.2: property tests against reference implementations, one test per refusal."""

from __future__ import annotations

import datetime
import fnmatch

import pytest
from dicom_inventory.scp.production.scope import (
    SUPPORTED_KEYS,
    ScopeError,
    key_matcher,
    parse_scope,
)
from hypothesis import given
from hypothesis import strategies as st

_TEXT = st.text(alphabet="AB12^ ", max_size=8)
_PATTERN = st.text(alphabet="AB12^ *?", min_size=1, max_size=8)
_DATES = st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)).map(
    lambda d: d.strftime("%Y%m%d")
)


@given(_PATTERN, _TEXT)
def test_wildcards_match_as_the_shell_does_case_sensitively(pattern: str, value: str) -> None:
    """C.2.2.2.4: * any run of characters, ? one character; no other special characters."""
    if pattern == "*":
        return  # universal matching: no matcher at all (tested below)
    scope = parse_scope({"PatientID": pattern})
    assert scope.matches({"PatientID": value}, "1.2") == fnmatch.fnmatchcase(value, pattern)


@given(_PATTERN, _TEXT)
def test_person_names_match_case_insensitively(pattern: str, value: str) -> None:
    """C.2.2.2.1: PN matching is case-insensitive (we also fold StudyDescription)."""
    if pattern == "*":
        return
    scope = parse_scope({"PatientName": pattern.lower()})
    expected = fnmatch.fnmatchcase(value.lower(), pattern.lower())
    assert scope.matches({"PatientName": value}, "1.2") == expected


@given(_DATES, _DATES, _DATES)
def test_a_date_range_includes_both_ends(a: str, b: str, value: str) -> None:
    """C.2.2.2.5: A-B matches A <= value <= B; A- and -B are open ended."""
    lo, hi = min(a, b), max(a, b)
    assert parse_scope({"StudyDate": f"{lo}-{hi}"}).matches({"StudyDate": value}, "1") == (
        lo <= value <= hi
    )
    assert parse_scope({"StudyDate": f"{lo}-"}).matches({"StudyDate": value}, "1") == (value >= lo)
    assert parse_scope({"StudyDate": f"-{hi}"}).matches({"StudyDate": value}, "1") == (value <= hi)


def test_an_empty_value_never_matches_a_range_and_empty_matching_wants_empty() -> None:
    assert not parse_scope({"StudyDate": "20200101-"}).matches({}, "1")
    empty = parse_scope({"AccessionNumber": ""})
    assert empty.matches({}, "1") and empty.matches({"AccessionNumber": ""}, "1")
    assert not empty.matches({"AccessionNumber": "A1"}, "1")


@given(st.lists(st.from_regex(r"[1-9][0-9]{0,5}(\.[1-9][0-9]{0,5}){1,3}", fullmatch=True),
                min_size=1, max_size=4), st.booleans())  # fmt: skip
def test_a_uid_list_matches_its_members(uids: list[str], member: bool) -> None:
    """C.2.2.2.2: a list of UIDs separated by backslash; the study's UID is one of them."""
    scope = parse_scope({"StudyInstanceUID": "\\".join(uids)})
    probe = uids[0] if member else uids[0] + ".9"
    assert scope.matches({}, probe) == (probe in uids)


def test_universal_matching_and_the_modalities_of_a_study() -> None:
    assert parse_scope({"PatientID": "*", "StudyDate": "*"}).is_universal
    assert parse_scope(None).is_universal and parse_scope({}).matches({}, "1")
    mr = parse_scope({"ModalitiesInStudy": "MR"})
    assert mr.matches({"ModalitiesInStudy": ["CT", "MR"]}, "1")
    assert not mr.matches({"ModalitiesInStudy": ["CT"]}, "1")


def test_every_key_must_match() -> None:
    scope = parse_scope({"PatientID": "P1", "StudyDate": "20200101-"})
    assert not scope.matches({"PatientID": "P1", "StudyDate": "20191231"}, "1")
    assert scope.matches({"PatientID": "P1", "StudyDate": "20200101"}, "1")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"PatientWeight": "70", "Occupation": "x"}, "PatientWeight, Occupation"),
        ({"StudyDate": "2020-2021-2022"}, "one '-' at most"),
        ({"StudyDate": "20211301-"}, "'20211301' is not a valid date: month 13"),
        ({"StudyDate": "-20210229"}, "day 29 is not in 01-28"),
        ({"StudyTime": "2400-"}, "hour 24 is not in 00-23"),
        ({"StudyTime": "1260"}, "minute 60"),
        ({"StudyUpdateDateTime": "20211232-"}, "day 32"),
        ({"StudyDate": "2021-"}, "expected a value or a range"),
        ({"StudyDate": "20220101-20210101"}, "ends before it starts"),
        ({"StudyDate": "-"}, "expected a value or a range"),
        ({"StudyInstanceUID": "1.2\\1..3"}, "'1..3' is not a valid UID"),
    ],
)
def test_each_invalid_scope_is_refused_with_the_reason(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ScopeError, match=message) as info:
        parse_scope(keys)
    assert set(info.value.keys) <= set(keys)


def test_unsupported_keys_are_all_named_for_the_b010_warning() -> None:
    with pytest.raises(ScopeError) as info:
        parse_scope({"PatientID": "1", "PatientWeight": "70", "Occupation": "x"})
    assert info.value.keys == ("PatientWeight", "Occupation")
    assert "PatientID" in SUPPORTED_KEYS


def test_key_matcher_follows_the_vr_of_other_services_keys() -> None:
    """Inventory FIND and Study Root keys: UI lists, DA/TM ranges, PN case-insensitive."""
    assert key_matcher("SOPInstanceUID", "") is None and key_matcher("ContentDate", "*") is None
    uid = key_matcher("SOPInstanceUID", "1.2\\1.3")
    assert uid is not None and uid("1.3") and not uid("1.4")
    date = key_matcher("ContentDate", "20260101-20261231")
    assert date is not None and date("20260601") and not date("20270101")
    name = key_matcher("PatientName", "doe*")
    assert name is not None and name("DOE^JANE")
    with pytest.raises(ScopeError, match="SOPInstanceUID"):
        key_matcher("SOPInstanceUID", "not-a-uid")
