"""Stored Instance Base URIs (0008,0407) of produced inventories: where the linked files lie.

An inventory names the folder its linked files lie under, so that a consumer knows what storage
the inventory speaks of (``fetch`` follows the links under a Stored Instance Base URI in force,
and no others unless told). The attribute may be given at Inventory, Study and/or Series level
(PS3.17 YYYY.7.2): at Inventory level in the one item of Study Access End Points Sequence
(0008,0421), the default end points of every study record (PS3.3 C.38.1, Table C.38.1-1, Access
End Points Macro Table C.38.2-4); at Study and Series level in the record itself (Type 3
everywhere). The File Access URIs stay absolute ``file:`` URIs (PS3.3 C.38.2.2.1.1 allows an
absolute URI or a ``./`` path relative to the base in force): the base factors nothing out here,
it names the storage the links are in.

* **Inventory level**: the repository's own folder of stored files (an archive's ``store/``,
  what it received and copied in), when it has one on disk.
* **Series level**: for a series whose linked files are not all under the inventory-level base
  (files indexed in place, or a repository without a folder of its own, such as an Orthanc's
  storage): the deepest folder holding all of them. None when that is the file system's root
  (a base there would name the whole file system); such links need ``--allow-root``.

Every base ends with ``/``: a relative path merges at a path segment boundary
(PS3.3 P.2.1, PS3.17 YYYY.7.2).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from dicom_inventory.errors import InventoryError
from dicom_inventory.model import AccessEndPoints, InstanceRecord

__all__ = ["StoreFolder", "folder_uri", "inventory_end_points", "series_base_uri", "store_folder"]


@runtime_checkable
class StoreFolder(Protocol):
    """A repository that keeps the files it stores itself in one folder (optional)."""

    def store_folder(self) -> Path:
        """The folder; raises :class:`~dicom_inventory.errors.InventoryError` if there is none."""
        ...


def folder_uri(folder: str | os.PathLike[str]) -> str:
    """The ``file:`` URI of `folder` (absolute, percent-encoded, RFC 8089), ending with ``/``."""
    return Path(os.path.abspath(folder)).as_uri().rstrip("/") + "/"


def store_folder(repo: object) -> Path | None:
    """The absolute folder of the files `repo` stores itself, if it has one that exists."""
    if not isinstance(repo, StoreFolder):
        return None
    try:
        folder = Path(os.path.abspath(repo.store_folder()))
    except InventoryError:  # a database-only archive: no folder of its own
        return None
    return folder if folder.is_dir() else None


def inventory_end_points(store: Path | None) -> AccessEndPoints | None:
    """The item of Study Access End Points Sequence (0008,0421): the base URI of `store`."""
    return AccessEndPoints(stored_instance_base_uri=folder_uri(store)) if store else None


def _under(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def series_base_uri(instances: Iterable[InstanceRecord], store: Path | None) -> str | None:
    """The series-level Stored Instance Base URI for the linked files of `instances`.

    None when every ``file:`` link lies under `store` (the inventory-level base covers them),
    when there is no such link, or when the deepest folder holding them all is the root.
    Compared as real paths, as a consumer resolves them (``..`` and symbolic links).
    """
    folders = {
        os.path.dirname(unquote(urlsplit(fa.uri).path))
        for inst in instances
        for fa in inst.file_access
        if urlsplit(fa.uri).scheme.lower() == "file"
    }
    if not folders:
        return None
    if store is not None:
        real_store = os.path.realpath(store)
        if all(_under(os.path.realpath(f), real_store) for f in folders):
            return None
    common = os.path.commonpath(sorted(folders))
    if os.path.dirname(common) == common:  # the root: a base there names every file
        return None
    return folder_uri(common)
