"""A scope's StudyFilter in the archive's query skips studies, never one the scope matches.

Production hands a :class:`StudyFilteringRepository` the keys its index can answer (PS3.4
C.2.2.2: single value, UID list, DA range) and still matches every study it is given. The
property: over an archive of awkward values (empty, NULL, longer than a date, punctuation,
case), the studies that match a scope are the same whether the archive filtered or not.
The PostgreSQL archive runs the same property in tests/postgres.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.archive import SQLArchive
from dicom_inventory.scp.production.scope import parse_scope
from dicom_inventory.scp.stores.repository import StudyEntry, StudyFilter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_ROOT = "1.2.826.0.1.3680043.10.543.77"
PATIENTS = ("P1", "p1", "P1 ", "P10", "P-1", "", None)
DATES = (
    "20240101",
    "20240131",
    "20240131123000",
    "20240201",
    "2024-01-15",
    "2024-0201",
    "2023",
    "",
    None,
)
ACCESSIONS = ("A1", "a1", "A1*", "", None)


def awkward_studies(n: int = 56) -> Iterator[tuple[StudyEntry, Any]]:
    """`n` studies without series, cycling through the awkward values of each key."""
    for i in range(n):
        attrs = {
            "PatientID": PATIENTS[i % len(PATIENTS)],
            "StudyDate": DATES[(i // 2) % len(DATES)],
            "AccessionNumber": ACCESSIONS[(i // 3) % len(ACCESSIONS)],
        }
        attrs = {k: v for k, v in attrs.items() if v is not None}
        yield StudyEntry(f"{_ROOT}.{i + 1}", attrs, "20261203080000", 0, 0), ()


def load_awkward(archive: SQLArchive) -> SQLArchive:
    """Load :func:`awkward_studies` into `archive` and return it."""
    archive.load_entries(awkward_studies())
    return archive


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLArchive]:
    with Archive(Path(tmp_path_factory.mktemp("awkward")), create=True) as archive:
        yield load_awkward(archive)


_VALUES = st.sampled_from([v for v in PATIENTS + DATES + ACCESSIONS if v])
_DATE = st.sampled_from(["20240101", "20240131", "20240115", "20240201", "20231231"])
SCOPES = st.fixed_dictionaries(
    {},
    optional={
        "PatientID": _VALUES,
        "AccessionNumber": _VALUES,
        "StudyDate": st.one_of(
            _DATE,
            st.tuples(_DATE, _DATE).map(lambda d: f"{min(d)}-{max(d)}"),
            _DATE.map(lambda d: f"{d}-"),
            _DATE.map(lambda d: f"-{d}"),
        ),
        "StudyInstanceUID": st.lists(
            st.integers(1, 60).map(lambda i: f"{_ROOT}.{i}"), min_size=1, max_size=4
        ).map("\\".join),
    },
)


def matched(archive: SQLArchive, keys: dict[str, str], *, filtered: bool) -> list[str]:
    """Study Instance UIDs the scope matches, read through the filter or past it."""
    scope = parse_scope(keys)
    walk = archive.iter_filtered_studies(scope.narrowing) if filtered else archive.iter_studies()
    return [s.study_instance_uid for s in walk if scope.matches(s.attributes, s.study_instance_uid)]


def assert_the_filter_keeps_every_match(archive: SQLArchive, keys: dict[str, str]) -> None:
    """The property: through the filter or past it, the scope matches the same studies."""
    try:
        parse_scope(keys)
    except ValueError:
        return  # an invalid value is refused before any walk
    assert matched(archive, keys, filtered=True) == matched(archive, keys, filtered=False)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(keys=SCOPES)
def test_the_filtered_walk_matches_what_the_full_walk_matches(
    awkward: SQLArchive, keys: dict[str, str]
) -> None:
    assert_the_filter_keeps_every_match(awkward, keys)


def test_the_filter_reaches_the_query(awkward: SQLArchive) -> None:
    """The conditions skip studies in SQL (not just in the matcher): fewer rows come back."""
    every = sum(1 for _ in awkward.iter_studies())
    scope = parse_scope({"PatientID": "P1", "StudyDate": "20240101-20240131"})
    rows = list(awkward.iter_filtered_studies(scope.narrowing))
    assert 0 < len(rows) < every // 4
    assert all(r.attributes["PatientID"] == "P1" for r in rows)


def test_a_long_uid_list_falls_back_to_a_walk(awkward: SQLArchive) -> None:
    """Past 500 UIDs the list is not put into IN (...): the matcher alone decides."""
    uids = frozenset(f"{_ROOT}.{i}" for i in range(1, 600))
    rows = list(awkward.iter_filtered_studies(StudyFilter(study_uids=uids)))
    assert len(rows) == sum(1 for _ in awkward.iter_studies())
