"""The PostgreSQL stores pass the suites the embedded stores pass (scp/stores/suites.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive, ArchiveError
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.postgres import PostgresArchive, PostgresInventoryStore, PostgresJobStore
from dicom_inventory.scp.postgres.throwaway import PostgresServer
from dicom_inventory.scp.stores.suites import (
    InventoryStoreSuite,
    JobStoreSuite,
    RepositorySuite,
    _inventory_file,
)


@pytest.fixture(scope="module")
def loaded(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Archive, str]]:
    """The synthetic archive of the SQLite suite, copied into PostgreSQL with COPY."""
    with Archive(tmp_path_factory.mktemp("pg") / "archive", create=True) as archive:
        synthesize(archive, studies=6, series_per_study=2, instances_per_series=2)
        dsn = pg_server.new_database()
        with PostgresArchive(dsn) as pg:
            counts = pg.load(archive)
        assert counts["instances"] == 24 and counts["files"] == 24
        yield archive, dsn


class TestPostgresRepository(RepositorySuite):
    @pytest.fixture
    def repository(self, loaded: tuple[Archive, str]) -> Iterator[PostgresArchive]:
        with PostgresArchive(loaded[1]) as pg:
            yield pg


class TestPostgresJobStore(JobStoreSuite):
    @pytest.fixture
    def job_store(self, pg_dsn: str) -> Iterator[PostgresJobStore]:
        store = PostgresJobStore(pg_dsn)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, pg_dsn: str) -> Callable[[], PostgresJobStore]:
        return lambda: PostgresJobStore(pg_dsn)


class TestPostgresInventoryStore(InventoryStoreSuite):
    @pytest.fixture
    def inventory_store(self, pg_dsn: str, tmp_path: Path) -> Iterator[PostgresInventoryStore]:
        store = PostgresInventoryStore(pg_dsn, tmp_path / "inventories")
        yield store
        store.close()


def test_a_publish_interrupted_after_the_rename_is_finished(pg_dsn: str, tmp_path: Path) -> None:
    store = PostgresInventoryStore(pg_dsn, tmp_path / "inv")
    try:
        _inventory_file(store.staging("2.25.77"), "2.25.771")
        # the node died between the rename and the commit: the folder is there, no rows
        (tmp_path / "inv" / ".jobs" / "2.25.77").rename(tmp_path / "inv" / "2.25.77")
        assert [s.header.sop_instance_uid for s in store.inventories()] == []
        assert store.published("2.25.77") == tmp_path / "inv" / "2.25.77"
        assert [s.header.sop_instance_uid for s in store.inventories()] == ["2.25.771"]
        other = PostgresInventoryStore(pg_dsn, tmp_path / "inv")  # another node, same data
        assert [s.header.sop_instance_uid for s in other.inventories()] == ["2.25.771"]
        other.close()
    finally:
        store.close()


def test_it_answers_exactly_as_the_archive_it_was_copied_from(
    loaded: tuple[Archive, str],
) -> None:
    archive, dsn = loaded
    with PostgresArchive(dsn) as pg:
        assert list(pg.iter_studies()) == list(archive.iter_studies())
        for study in archive.iter_studies():
            uid = study.study_instance_uid
            assert list(pg.iter_series(uid)) == list(archive.iter_series(uid))
            for series in archive.iter_series(uid):
                s = series.series_instance_uid
                assert list(pg.iter_instances(s)) == list(archive.iter_instances(s))
        assert pg.study_key_bounds(3) == archive.study_key_bounds(3)


def test_updates_and_removal_run_the_same_logic(loaded: tuple[Archive, str], pg_dsn: str) -> None:
    with PostgresArchive(pg_dsn) as pg:
        pg.load(loaded[0])
        study = next(iter(pg.iter_studies()))
        uid = study.study_instance_uid
        pg.update("STUDY", uid, {"PatientID": "NEW-ID"}, changed_by="RIS", reason="CORRECT")
        again = next(iter(pg.iter_studies()))
        assert again.attributes["PatientID"] == "NEW-ID"
        (change,) = [c for c in again.changes if c.keyword == "PatientID"]
        assert change.stored_value == study.attributes["PatientID"] and change.changed_by == "RIS"
        pg.remove("STUDY", uid, "113037")
        removed = next(iter(pg.iter_studies()))
        assert removed.removed and removed.removal_reason is not None
        assert removed.removal_reason.value == "113037"


def test_the_schema_is_versioned_and_migrated_once(pg_dsn: str) -> None:
    import psycopg
    from dicom_inventory.scp.postgres import SCHEMA_VERSION, migrate

    PostgresArchive(pg_dsn).close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert migrate(conn) == 0, "a current schema is left alone"
        (version,) = conn.execute("SELECT max(version) FROM dicom_inventory_schema").fetchone()
        assert version == SCHEMA_VERSION
        conn.execute("INSERT INTO dicom_inventory_schema VALUES (999, 'from the future')")
    with pytest.raises(ArchiveError, match="newer than this dicom-inventory"):
        PostgresArchive(pg_dsn)


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    dsn = f"host={tmp_path} dbname=x user=u password=secret connect_timeout=2"
    with pytest.raises(ArchiveError, match="cannot connect to PostgreSQL") as info:
        PostgresArchive(dsn)
    assert "secret" not in str(info.value) and "***" in str(info.value)


def test_both_dialects_of_the_schema_have_the_same_columns(pg_dsn: str, tmp_path: Path) -> None:
    """The SQL of SQLArchive and SQLJobStore runs on both: their tables must match."""
    import psycopg
    from dicom_inventory.scp.archive import SQLiteJobStore

    with Archive(tmp_path / "a", create=True) as archive:
        SQLiteJobStore(tmp_path / "a" / "index.sqlite").close()
        tables = [r[0] for r in archive.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name != 'meta'"
        )]  # fmt: skip
        sqlite = {
            t: {r[1] for r in archive.conn.execute(f"PRAGMA table_info({t})")} for t in tables
        }
    PostgresArchive(pg_dsn).close()
    with psycopg.connect(pg_dsn) as conn:
        pg = {
            t: {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                    (t,),
                )
            }
            for t in tables
        }
    pg["inventory_jobs"].discard("seq")  # PostgreSQL's insertion order (SQLite has rowid)
    assert sqlite == pg
