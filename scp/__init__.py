"""dicom_inventory.scp: the archive side, what a PACS embeds.

* :mod:`~dicom_inventory.scp.stores`: the protocols a vendor implements over its own database
  (repository, inventory store, job store) and their conformance suites;
* :mod:`~dicom_inventory.scp.services`: the DIMSE service handlers (Storage, Inventory Q/R,
  Inventory Creation and its events, Study Root and Repository Query);
* :mod:`~dicom_inventory.scp.production`: inventory production from a repository;
* :mod:`~dicom_inventory.scp.archive`: the embedded archive (SQLite), implementing the stores;
* :mod:`~dicom_inventory.scp.server`: the node, binding the handlers to one pynetdicom AE.
"""

from dicom_inventory.scp.stores import (
    InstanceEntry,
    InventoryStore,
    Job,
    JobStore,
    MetadataChange,
    Repository,
    SeriesEntry,
    StoredFile,
    StoredInventory,
    StudyEntry,
)

__all__ = [
    "InstanceEntry",
    "InventoryStore",
    "Job",
    "JobStore",
    "MetadataChange",
    "Repository",
    "SeriesEntry",
    "StoredFile",
    "StoredInventory",
    "StudyEntry",
]
