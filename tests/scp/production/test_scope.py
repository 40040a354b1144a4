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


@pytest.mark.parametrize(
    ("vr", "value", "problem"),
    [
        ("DA", b"20211301", "month 13 is not in 01-12"),
        ("DA", b"20210229", "day 29 is not in 01-28"),
        ("DA", b"20000229", None),  # a leap year (divisible by 400)
        ("DA", b"19000229", "day 29"),  # not one (divisible by 100)
        ("TM", b"2400", "hour 24 is not in 00-23"),
        ("TM", b"235960.123456", None),  # a leap second: SS 00-60
        ("TM", b"2359601", "is not valid for VR TM"),
        ("DT", b"202113", "month 13"),
        ("DT", b"20211231235960+1400", None),
        ("DT", b"20211231-1201", "offset from UTC -1201"),
        ("UI", b"1.2.3", None),
    ],
)
def test_dates_and_times_are_checked_against_the_calendar(
    vr: str, value: bytes, problem: str | None
) -> None:
    """PS3.5 Table 6.2-1, in the one place (``_vr.value_problem``) the scope checks use."""
    from dicom_inventory._vr import value_problem

    found = value_problem(vr, value)
    assert found is None if problem is None else found is not None and problem in found


def test_the_scope_item_check_refuses_a_range_end_off_the_calendar() -> None:
    """What the SCP's Initiate check and the test kit see (PS3.3 C.38.2.1, PS3.4 C.2.2.2.5)."""
    from dicom_inventory.scope import ScopeOfInventory, check_scope_item

    item = ScopeOfInventory.from_keys({"StudyDate": "20211301-"}).to_item()
    (finding,) = check_scope_item(item, values=True)
    assert finding.rule == "value-format" and "RangeMatchingSequence[0].StudyDate" in finding.path
    assert "month 13" in finding.message and "PS3.4 C.2.2.2.5" in finding.message
    assert check_scope_item(ScopeOfInventory.from_keys({"StudyDate": "20211201-"}).to_item()) == []
