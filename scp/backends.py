"""Which stores the node and the ``archive`` commands use, from one setting: ``repository``.

* no ``repository`` (the default): the embedded SQLite archive in the ``archive`` folder, its
  job store in the archive's ``index.sqlite``;
* ``repository = "postgresql://user@host/db"`` (or the ``DICOM_INVENTORY_DSN`` environment
  variable): the archive index and the job store in PostgreSQL
  (:mod:`dicom_inventory.scp.postgres`); the ``archive`` folder keeps the files the archive
  receives or copies in.

* ``repository = "orthanc+http://host:port"``: the content of a running Orthanc, read through
  its REST API (:mod:`dicom_inventory.scp.orthanc`); jobs in ``jobs.sqlite`` beside the
  inventories; patient objects are stored in Orthanc, not through the node.

Inventories are files in the ``inventories`` folder either way; with PostgreSQL a table says
which are published (:class:`~dicom_inventory.scp.postgres.PostgresInventoryStore`).
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
from dicom_inventory.scp.config import NodeConfig, is_orthanc, is_postgres
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.scp.stores.jobs import JobStore
from dicom_inventory.scp.stores.repository import Repository

__all__ = [
    "DSN_VARIABLE",
    "inventory_store",
    "job_store",
    "open_archive",
    "receiver",
    "repository_factory",
    "require_archive",
]

#: The environment variable naming the PostgreSQL repository when no setting does.
DSN_VARIABLE = "DICOM_INVENTORY_DSN"


def _url(repository: str | None) -> str | None:
    """The PostgreSQL URL in use, if any."""
    url = repository or os.environ.get(DSN_VARIABLE) or None
    if is_orthanc(url):
        return None
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
    if is_orthanc(repository):
        raise ArchiveError(
            "an Orthanc is read through its REST API, not as an archive of ours: "
            "serve it with 'dicom-inventory serve --repository orthanc+http://...'"
        )
    url = _url(repository)
    if url is not None:
        from dicom_inventory.scp.postgres import PostgresArchive

        return PostgresArchive(url, directory=directory)
    if directory is None:
        raise ArchiveError("no archive: give --archive DIR or --repository postgresql://...")
    return Archive(directory, create=create)


def require_archive(config: NodeConfig, *, create: bool = False) -> None:
    """Check, before serving, that the node's embedded archive exists (or create it).

    A node started on a folder that holds no archive would serve an empty one and answer every
    query with nothing, which looks like success; so a missing ``index.sqlite`` is an error
    unless `create` asks for a new, empty archive. A PostgreSQL index or an Orthanc is checked
    when first used, not here (PostgreSQL creates its schema; Orthanc is reached over HTTP).

    Raises
    ------
    ArchiveError
        If the embedded archive does not exist and `create` is false, or cannot be opened.
    """
    if is_orthanc(config.repository) or _url(config.repository) is not None:
        return
    index = config.archive / "index.sqlite"
    if not create and not index.exists():
        raise ArchiveError(
            f"no archive at {config.archive} (no {index.name} there): give the folder of an "
            "existing archive, make one with 'dicom-inventory archive ingest --archive DIR "
            "SOURCE...' or 'archive synth --archive DIR', or start with an empty archive "
            "with 'serve --create'"
        )
    Archive(config.archive, create=create).close()


def repository_factory(config: NodeConfig) -> Callable[[], Repository]:
    """Return a picklable factory of the node's repository (called in each worker)."""
    if is_orthanc(config.repository):
        from dicom_inventory.scp.orthanc import OrthancRepository

        return functools.partial(
            OrthancRepository, str(config.repository), storage=config.orthanc_storage
        )
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
    """Return the node's inventory store: files in ``inventories``.

    With the PostgreSQL repository they are indexed in its database, so nodes sharing it
    list the same inventories.
    """
    url = _url(config.repository)
    if url is not None:
        from dicom_inventory.scp.postgres import PostgresInventoryStore

        return PostgresInventoryStore(url, config.inventories)
    return FolderInventoryStore(config.inventories)


def receiver(config: NodeConfig) -> Callable[[bytes, str], None] | None:
    """Return the archive's receiver of stored patient objects (its Storage SCP, PS3.4 B).

    The receiver raises :class:`ValueError` for an object the archive refuses (its first
    problem as message) and :class:`OSError` when it cannot write. ``None`` for an Orthanc,
    which has its own Storage SCP.
    """
    if is_orthanc(config.repository):
        return None

    def receive(data: bytes, sop_instance_uid: str) -> None:
        with open_archive(config.archive, config.repository, create=True) as archive:
            try:
                report = archive.receive(data, sop_instance_uid)
            except ArchiveError as exc:
                raise ValueError(str(exc)) from exc
        if report.errors:
            raise ValueError(report.errors[0].message)

    return receive
