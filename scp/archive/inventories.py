"""The inventory store of the embedded archive: one folder of Part 10 files.

Layout::

    inventories/
        <SOP Instance UID>.dcm         received by Inventory Storage
        <Transaction UID>/*.dcm        produced for an Inventory Creation transaction
        .jobs/<Transaction UID>/       staging: production in progress (never listed)

Publishing is one :func:`os.replace` of the staging folder into place, atomic on one file
system, so Inventory Q/R sees all of a tree or none of it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from dicom_inventory.errors import InventoryReadError
from dicom_inventory.read import read_header
from dicom_inventory.scp.stores.inventories import StoredInventory

__all__ = ["FolderInventoryStore"]

LOG = logging.getLogger("dicom_inventory.scp")

_STAGING = ".jobs"


class FolderInventoryStore:
    """An :class:`~dicom_inventory.scp.stores.inventories.InventoryStore` in one folder.

    Parameters
    ----------
    folder : str or Path
        The folder (created if missing): the node's ``inventories`` setting.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _inside(self, name: str) -> Path:
        path = self.folder / name
        # a UID never names a path outside the folder (the caller checks UIDs; this is the
        # last line of defence)
        if path.resolve().parent != self.folder.resolve():
            raise ValueError(f"{name!r} is not a name inside {self.folder}")
        return path

    def _staged(self, transaction_uid: str) -> Path:
        return self.folder / _STAGING / transaction_uid

    def incoming(self) -> Path:
        """Return the folder itself: a received file written here is kept by a rename."""
        return self.folder

    def keep(self, source: Path, sop_instance_uid: str) -> StoredInventory:
        """Move a received file in as ``<SOP Instance UID>.dcm`` (atomic on one file system)."""
        target = self._inside(f"{sop_instance_uid}.dcm")
        part = self.folder / f".{sop_instance_uid}.part"
        shutil.move(os.fspath(source), part)  # a copy when `source` is on another file system
        os.replace(part, target)
        return StoredInventory(target, read_header(target))

    def _listed(self) -> list[Path]:
        """The files Q/R lists: every ``*.dcm`` outside hidden folders, by path."""
        paths = []
        # os.walk, pruning hidden folders, rather than rglob: jobs rename their folders while
        # a query runs, and a vanished folder must not fail the query
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            paths += [Path(root) / f for f in files if f.endswith(".dcm")]
        return sorted(paths)

    def inventories(self) -> Iterator[StoredInventory]:
        """Yield the readable listed files, headers only, by path.

        Hidden folders (``.jobs``) are not searched, so Q/R never offers part of an unfinished
        inventory; an unreadable file is skipped with a warning.
        """
        for path in self._listed():
            try:
                yield StoredInventory(path, read_header(path))
            except (InventoryReadError, OSError) as exc:  # unreadable, or removed meanwhile
                LOG.warning("skipping unreadable inventory %s: %s", path, exc)

    def staging(self, transaction_uid: str) -> Path:
        """Return ``.jobs/<Transaction UID>``, created if missing."""
        path = self._staged(transaction_uid)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def publish(self, transaction_uid: str) -> Path:
        """Rename the staging folder to ``<Transaction UID>`` (atomic)."""
        final = self._inside(transaction_uid)
        os.replace(self._staged(transaction_uid), final)
        return final

    def published(self, transaction_uid: str) -> Path | None:
        """Return ``<Transaction UID>`` if it is published."""
        final = self.folder / transaction_uid
        return final if final.is_dir() else None

    def discard(self, transaction_uid: str) -> None:
        """Remove ``.jobs/<Transaction UID>``."""
        shutil.rmtree(self._staged(transaction_uid), ignore_errors=True)

    def remove(self, transaction_uid: str) -> bool:
        """Remove the published ``<Transaction UID>`` folder."""
        final = self.published(transaction_uid)
        if final is None:
            return False
        shutil.rmtree(final, ignore_errors=True)
        return True
