"""Which stores the node and the ``archive`` commands use, from one setting: ``repository``.

* no ``repository`` (the default): the embedded SQLite archive in the ``archive`` folder, its
  job store in the archive's ``index.sqlite``;
* ``repository = "postgresql://user@host/db"`` (or the ``DICOM_INVENTORY_DSN`` environment
  variable): the archive index and the job store in PostgreSQL
  (:mod:`dicom_inventory.scp.postgres`); the ``archive`` folder keeps the files the archive
  receives or copies in.

Inventories are kept in the ``inventories`` folder either way
(:class:`~dicom_inventory.scp.archive.inventories.FolderInventoryStore`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from dicom_inventory.scp.archive import (
    Archive,
    ArchiveError,
    FolderInventoryStore,
    embedded_job_store,
)
from dicom_inventory.scp.archive.archive import SQLArchive
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.scp.stores.jobs import JobStore

__all__ = [
    "DSN_VARIABLE",
    "inventory_store",
    "is_postgres",
    "job_store",
    "open_archive",
    "receiver",
    "repository_factory",
]

#: The environment variable naming the PostgreSQL repository when no setting does.
DSN_VARIABLE = "DICOM_INVENTORY_DSN"


def is_postgres(url: str | None) -> bool:
    """Whether `url` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def _url(repository: str | None) -> str | None:
    url = repository or os.environ.get(DSN_VARIABLE) or None
    if url is not None and not is_postgres(url):
        raise ArchiveError(
            f"repository {url!r}: expected a PostgreSQL URL (postgresql://user@host/database) "
            "or nothing for the embedded archive"
        )
    return url


def open_archive(
    directory: Path | None, repository: str | None = None, *, create: bool = False
) -> SQLArchive:
    """Open the archive the commands work on.

    Parameters
    ----------
    directory : Path or None
        The embedded archive's folder; with PostgreSQL, the folder for the files the archive
        keeps itself (received, copied in, synthesized), optional.
    repository : str, optional
        A PostgreSQL URL; by default ``$DICOM_INVENTORY_DSN``, else the embedded archive.
    create : bool
        Create a missing embedded archive (a PostgreSQL schema is always created).

    Raises
    ------
    ArchiveError
        If neither is given, the URL is not PostgreSQL's, or the archive cannot be opened.
    """
    url = _url(repository)
    if url is not None:
        from dicom_inventory.scp.postgres import PostgresArchive

        return PostgresArchive(url, directory=directory)
    if directory is None:
        raise ArchiveError("no archive: give --archive DIR or --repository postgresql://...")
    return Archive(directory, create=create)


def repository_factory(config: NodeConfig) -> Callable[[], SQLArchive]:
    """Return a picklable factory of the node's repository (called in each worker)."""
    url = _url(config.repository)
    if url is not None:
        from dicom_inventory.scp.postgres import PostgresArchive

        return functools.partial(PostgresArchive, url, directory=config.archive)
    return functools.partial(Archive, config.archive)


def job_store(config: NodeConfig) -> JobStore:
    """Return the node's job store: in PostgreSQL with the repository, else in SQLite."""
    url = _url(config.repository)
    if url is not None:
        from dicom_inventory.scp.postgres import PostgresJobStore

        return PostgresJobStore(url)
    return embedded_job_store(config)


def inventory_store(config: NodeConfig) -> InventoryStore:
    """Return the node's inventory store: the ``inventories`` folder."""
    return FolderInventoryStore(config.inventories)


def receiver(config: NodeConfig) -> Callable[[bytes, str], None]:
    """Return the archive's receiver of stored patient objects (its Storage SCP, PS3.4 B).

    The receiver raises :class:`ValueError` for an object the archive refuses (its first
    problem as message) and :class:`OSError` when it cannot write.
    """

    def receive(data: bytes, sop_instance_uid: str) -> None:
        with open_archive(config.archive, config.repository, create=True) as archive:
            try:
                report = archive.receive(data, sop_instance_uid)
            except ArchiveError as exc:
                raise ValueError(str(exc)) from exc
        if report.errors:
            raise ValueError(report.errors[0].message)

    return receive
