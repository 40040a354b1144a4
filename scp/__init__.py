"""dicom_inventory.scp: the archive side — what a PACS embeds.

So far: the :class:`Repository` protocol and the embedded archive
(:mod:`dicom_inventory.scp.archive`). Production, Inventory Creation, Q/R and Repository
Query follow (issues 5 and 6).
"""

from dicom_inventory.scp.repository import (
    InstanceEntry,
    MetadataChange,
    Repository,
    SeriesEntry,
    StoredFile,
    StudyEntry,
)

__all__ = [
    "InstanceEntry",
    "MetadataChange",
    "Repository",
    "SeriesEntry",
    "StoredFile",
    "StudyEntry",
]
