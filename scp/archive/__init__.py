"""The embedded archive: SQLite index (WAL) plus stored files, behind the Repository protocol."""

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

__all__ = [
    "INSTANCE_KEYWORDS",
    "SERIES_KEYWORDS",
    "STUDY_KEYWORDS",
    "Archive",
    "ArchiveError",
    "FoundObject",
    "IngestError",
    "IngestReport",
    "container_type_of",
    "find_objects",
]
