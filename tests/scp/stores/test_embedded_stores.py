"""The embedded archive's three stores pass the suites any vendor's stores must pass.

The suites (:mod:`dicom_inventory.scp.stores.suites`) are the contracts of the repository,
inventory store and job store protocols; here they run on the SQLite archive, the folder of
inventories and the SQLite job store. The PostgreSQL stores run the same classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive, FolderInventoryStore, SQLiteJobStore
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.stores.suites import InventoryStoreSuite, JobStoreSuite, RepositorySuite


@pytest.fixture(scope="module")
def synth_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """Six studies in every storage form, with database-only updates."""
    with Archive(tmp_path_factory.mktemp("suite") / "archive", create=True) as archive:
        synthesize(archive, studies=6, series_per_study=2, instances_per_series=2)
        yield archive


class TestArchiveRepository(RepositorySuite):
    @pytest.fixture
    def repository(self, synth_archive: Archive) -> Archive:
        return synth_archive


class TestFolderInventoryStore(InventoryStoreSuite):
    @pytest.fixture
    def inventory_store(self, tmp_path: Path) -> FolderInventoryStore:
        return FolderInventoryStore(tmp_path / "inventories")


class TestSQLiteJobStore(JobStoreSuite):
    @pytest.fixture
    def job_store(self, tmp_path: Path) -> Iterator[SQLiteJobStore]:
        store = SQLiteJobStore(tmp_path / "jobs.sqlite")
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], SQLiteJobStore]:
        return lambda: SQLiteJobStore(tmp_path / "jobs.sqlite")
