"""The inventory store protocol: the Inventory SOP Instances a node keeps (PS3.4 GG, JJ, KK).

A node keeps two kinds of inventories: those it **produced** for an Inventory Creation
transaction (PS3.4 KK.2), written as a tree of instances, and those it **received** by
Inventory Storage (PS3.4 GG). Inventory FIND / MOVE / GET (PS3.4 JJ) list and send both. The
**inventory store** is where they live; the node reaches them only through this protocol, so a
vendor can keep them where its archive keeps other objects.

The contract, checked by :class:`~dicom_inventory.scp.stores.suites.InventoryStoreSuite`:

* production writes a transaction's tree into :meth:`InventoryStore.staging`, a local folder
  that survives a restart (a resumed job continues there); nothing staged is listed;
* :meth:`InventoryStore.publish` makes the whole tree visible at once: Q/R sees all of an
  inventory or none of it (a partial tree is never offered);
* :meth:`InventoryStore.inventories` lists what is published or received, header only, in a
  stable order, and skips (with a log line) an instance that cannot be read;
* every instance is a local Part 10 file (:attr:`StoredInventory.path`) the node can read and
  send; a store over remote storage keeps a local copy.

The embedded archive's store is a folder
(:class:`~dicom_inventory.scp.archive.inventories.FolderInventoryStore`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from dicom_inventory.model import InventoryHeader

__all__ = ["InventoryStore", "StoredInventory"]


@dataclass(frozen=True)
class StoredInventory:
    """An Inventory SOP Instance kept by the node.

    Attributes
    ----------
    path : Path
        The Part 10 file.
    header : InventoryHeader
        Its header (everything but the records).
    """

    path: Path
    header: InventoryHeader

    def value(self, keyword: str) -> Any:
        """Return the value of the header attribute `keyword` (``None`` if not kept).

        These are the attributes Inventory FIND matches and returns (PS3.4 JJ.2).
        """
        h = self.header
        return {
            "SOPInstanceUID": h.sop_instance_uid,
            "SOPClassUID": h.sop_class_uid,
            "ContentDate": h.content_date,
            "ContentTime": h.content_time,
            "InventoryPurpose": h.inventory_purpose,
            "InventoryInstanceDescription": h.inventory_instance_description,
            "InventoryLevel": getattr(h.inventory_level, "value", h.inventory_level),
            "InventoryCompletionStatus": getattr(h.completion_status, "value", h.completion_status),
            "TransactionUID": h.transaction_uid,
            "TotalNumberOfStudyRecords": h.total_number_of_study_records,
            "NumberOfStudyRecordsInInstance": h.number_of_study_records_in_instance,
        }.get(keyword)


@runtime_checkable
class InventoryStore(Protocol):
    """Where a node keeps the inventories it produced and received.

    Every method may be called from several threads at once (association handlers and job
    workers).
    """

    def incoming(self) -> Path:
        """Return a local folder for a received file about to be kept.

        On the store's own file system, so that :meth:`keep` is a rename, not a copy of a
        file that may be gigabytes long.
        """
        ...

    def keep(self, source: Path, sop_instance_uid: str) -> StoredInventory:
        """Take a received Inventory file into the store (Inventory Storage, PS3.4 GG).

        Parameters
        ----------
        source : Path
            A complete Part 10 file, already validated by the caller; the store moves or
            copies it, and the caller no longer owns it.
        sop_instance_uid : str
            Its SOP Instance UID (a valid UID); an instance already kept under it is replaced.

        Returns
        -------
        StoredInventory
            The kept instance, as :meth:`inventories` lists it.

        Raises
        ------
        OSError
            If it cannot be written (the caller answers Out of Resources).
        """
        ...

    def inventories(self) -> Iterator[StoredInventory]:
        """Yield every published or received instance (headers only), in a stable order."""
        ...

    def staging(self, transaction_uid: str) -> Path:
        """Return the local folder where production writes the tree of `transaction_uid`.

        It exists on return, and keeps what an earlier run wrote there (resumption).
        """
        ...

    def publish(self, transaction_uid: str) -> Path:
        """Make the staged tree of `transaction_uid` visible, all at once; return its folder."""
        ...

    def published(self, transaction_uid: str) -> Path | None:
        """Return the folder of the published tree of `transaction_uid`, or ``None``."""
        ...

    def discard(self, transaction_uid: str) -> None:
        """Remove what is staged for `transaction_uid` (a failed or canceled job)."""
        ...

    def remove(self, transaction_uid: str) -> bool:
        """Remove the published tree of `transaction_uid` (expiry); ``False`` if none."""
        ...
