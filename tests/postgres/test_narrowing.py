"""The scope filter in PostgreSQL's query keeps every study its scope matches.

The property of tests/scp/production/test_narrowing.py, over a database whose default
collation is linguistic (glibc's ``en_US.UTF-8``, where punctuation weighs less than digits
and letters; ICU ``en-US`` where the machine has no such locale), the case where comparing
dates as text would go wrong without ``COLLATE "C"``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from dicom_inventory.scp.postgres import PostgresArchive
from dicom_inventory.scp.postgres.throwaway import PostgresServer
from hypothesis import HealthCheck, given, settings

from tests.scp.production.test_narrowing import (
    SCOPES,
    assert_the_filter_keeps_every_match,
    load_awkward,
)


@pytest.fixture(scope="module")
def awkward_pg(pg_server: PostgresServer) -> Iterator[PostgresArchive]:
    import psycopg

    # glibc's en_US ignores punctuation at first: '2024-0201' sorts after '20240131'
    locales = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split()
    glibc = next((loc for loc in locales if loc.lower().replace("-", "") == "en_us.utf8"), None)
    name = "awkward_linguistic"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 '
            + (
                f"LOCALE '{glibc}'"
                if glibc
                else "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    with PostgresArchive(pg_server.dsn(name)) as archive:
        yield load_awkward(archive)  # type: ignore[misc]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(keys=SCOPES)
def test_the_filtered_query_matches_what_the_full_walk_matches(
    awkward_pg: PostgresArchive, keys: dict[str, str]
) -> None:
    assert_the_filter_keeps_every_match(awkward_pg, keys)


def test_the_plan_uses_the_indexes(awkward_pg: PostgresArchive) -> None:
    """Patient ID, Accession Number and Study Date conditions can use their indexes."""
    awkward_pg._x("SET enable_seqscan = off")
    try:
        for where, index in (
            ("patient_id = 'P1'", "studies_patient"),
            ("accession_number = 'A1'", "studies_accession"),
            ("study_date COLLATE \"C\" >= '20240101'", "studies_date"),
        ):
            plan = "\n".join(
                r[0] for r in awkward_pg._x(f"EXPLAIN SELECT study_uid FROM studies WHERE {where}")
            )
            assert index in plan, plan
    finally:
        awkward_pg._x("RESET enable_seqscan")
