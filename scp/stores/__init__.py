"""The protocols a vendor implements so that the node serves its archive.

The node reaches its data only through three protocols:

* :class:`Repository` (:mod:`~dicom_inventory.scp.stores.repository`): the studies, series and
  instances of the archive, their current metadata and stored files;
* :class:`InventoryStore` (:mod:`~dicom_inventory.scp.stores.inventories`): the Inventory SOP
  Instances the node produced or received;
* :class:`JobStore` (:mod:`~dicom_inventory.scp.stores.jobs`): the Inventory Creation
  transactions and their event outbox.

The embedded archive (:mod:`dicom_inventory.scp.archive`) implements all three; the suites of
:mod:`~dicom_inventory.scp.stores.suites` check any implementation against the contracts.
"""

from dicom_inventory.scp.stores.inventories import InventoryStore, StoredInventory
from dicom_inventory.scp.stores.jobs import TERMINAL_STATES, Job, JobStore, OutgoingEvent
from dicom_inventory.scp.stores.repository import (
    InstanceEntry,
    MetadataChange,
    Repository,
    SeriesEntry,
    StoredFile,
    StudyEntry,
    opened,
)

__all__ = [
    "TERMINAL_STATES",
    "InstanceEntry",
    "InventoryStore",
    "Job",
    "JobStore",
    "MetadataChange",
    "OutgoingEvent",
    "Repository",
    "SeriesEntry",
    "StoredFile",
    "StoredInventory",
    "StudyEntry",
    "opened",
]
