"""The embedded archive: SQLite index (WAL) plus stored files, behind the node's store protocols.

It implements all three protocols of :mod:`dicom_inventory.scp.stores`: the repository
(:class:`Archive`), the inventory store (:class:`FolderInventoryStore`) and the job store
(:class:`SQLiteJobStore`, in the archive's own ``index.sqlite``). The ``embedded_*`` functions
make them from a node's configuration; :mod:`dicom_inventory.scp.backends` chooses between
them and the PostgreSQL stores.
"""

from __future__ import annotations

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
    "find_objects",
]


def embedded_job_store(config: NodeConfig) -> SQLiteJobStore:
    """Return the job store in the archive's ``index.sqlite`` (``jobs.sqlite`` without one).

    A node serving another repository keeps its jobs beside its inventories.
    """
    index = config.archive / "index.sqlite"
    if index.exists():
        return SQLiteJobStore(index)
    config.inventories.mkdir(parents=True, exist_ok=True)
    return SQLiteJobStore(config.inventories / "jobs.sqlite")
