"""The embedded archive: SQLite index (WAL) plus stored files, behind the node's store protocols.

It implements all three protocols of :mod:`dicom_inventory.scp.stores`: the repository
(:class:`Archive`), the inventory store (:class:`FolderInventoryStore`) and the job store
(:class:`SQLiteJobStore`, in the archive's own ``index.sqlite``). The ``embedded_*`` functions
make them from a node's configuration; they are what :class:`~dicom_inventory.scp.server.
InventoryNode` uses when it is given no stores of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from dicom_inventory.scp.archive.archive import (
    INSTANCE_KEYWORDS,
    SERIES_KEYWORDS,
    STUDY_KEYWORDS,
    Archive,
    ArchiveError,
    IngestReport,
)
from dicom_inventory.scp.archive.ingest import (
    FoundObject,
    IngestError,
    container_type_of,
    find_objects,
)
from dicom_inventory.scp.archive.inventories import FolderInventoryStore
from dicom_inventory.scp.archive.jobs import SQLiteJobStore
from dicom_inventory.scp.config import NodeConfig

__all__ = [
    "INSTANCE_KEYWORDS",
    "SERIES_KEYWORDS",
    "STUDY_KEYWORDS",
    "Archive",
    "ArchiveError",
    "FolderInventoryStore",
    "FoundObject",
    "IngestError",
    "IngestReport",
    "SQLiteJobStore",
    "container_type_of",
    "embedded_job_store",
    "embedded_receiver",
    "embedded_repository",
    "find_objects",
]


def embedded_repository(config: NodeConfig) -> Callable[[], Archive]:
    """Return the embedded archive of `config` as a picklable repository factory.

    Production calls it in worker threads or Dask workers; each call opens the archive.
    """
    return functools.partial(Archive, config.archive)


def embedded_job_store(config: NodeConfig) -> SQLiteJobStore:
    """Return the job store in the archive's ``index.sqlite`` (``jobs.sqlite`` without one).

    A node serving another repository keeps its jobs beside its inventories.
    """
    index = config.archive / "index.sqlite"
    if index.exists():
        return SQLiteJobStore(index)
    config.inventories.mkdir(parents=True, exist_ok=True)
    return SQLiteJobStore(config.inventories / "jobs.sqlite")


def embedded_receiver(config: NodeConfig) -> Callable[[bytes, str], None]:
    """Return the archive's receiver of stored patient objects (its Storage SCP, PS3.4 B).

    The receiver raises :class:`ValueError` for an object the archive refuses (its first
    problem as message) and :class:`OSError` when it cannot write.
    """

    def receive(data: bytes, sop_instance_uid: str) -> None:
        with Archive(config.archive, create=True) as archive:
            try:
                report = archive.receive(data, sop_instance_uid)
            except ArchiveError as exc:
                raise ValueError(str(exc)) from exc
        if report.errors:
            raise ValueError(report.errors[0].message)

    return receive
