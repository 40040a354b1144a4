"""One reader of stored objects: a plain file, a byte range of a BLOB, or a member of a ZIP,
TAR, TARGZIP or GZIP container (PS3.3 C.38.2.2, Table C.38.2-2 Container File Type).

The archive's retrieve (:mod:`dicom_inventory.scp.archive.stored`) and the SCU's ``fetch``
(:mod:`dicom_inventory.scu.fetch`) both read through :func:`read_object`, so a link the
inventory gives is followed the same way on both sides. No network here: ``fetch`` downloads an
http(s) link and hands the bytes over.

One safety rule for every container: only a regular member is read. A TAR member that is a
symbolic or hard link, a device or a folder is refused (a link inside a container can name any
other member, or a path outside it when extracted), and nothing is ever extracted to disk.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from typing import BinaryIO

from dicom_inventory.enum import ContainerFileType
from dicom_inventory.errors import InventoryError

__all__ = ["ContainerError", "read_object"]


class ContainerError(InventoryError, OSError):
    """A stored object cannot be read: missing file or member, refused member, bad container."""


def _open(source: str | os.PathLike[str] | bytes) -> BinaryIO:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    return open(source, "rb")  # noqa: SIM115 - closed by the callers' with


def read_object(
    source: str | os.PathLike[str] | bytes,
    container: ContainerFileType | str | None = None,
    member: str | None = None,
    offset: int | None = None,
    length: int | None = None,
) -> bytes:
    """The bytes of one stored object.

    Parameters
    ----------
    source
        The file (path), or its bytes (e.g. downloaded from an http(s) link).
    container
        Container File Type (0008,040A); ``None`` or ``BLOB``: bytes
        ``[offset, offset + length)`` of the file (all of it without `length`).
    member
        Filename in Container (0008,040B), for ZIP, TAR and TARGZIP.
    offset, length
        File Offset / File Length in Container (0008,040C/D), for a BLOB.

    Raises
    ------
    ContainerError
        If the file, container or member cannot be read, or the member is refused.
    """
    kind = str(getattr(container, "value", container) or "")
    where = "the given bytes" if isinstance(source, bytes) else os.fspath(source)
    try:
        if kind in ("", ContainerFileType.BLOB.value):
            with _open(source) as f:
                f.seek(offset or 0)
                return f.read() if length is None else f.read(length)
        if kind == ContainerFileType.GZIP.value:
            with _open(source) as f, gzip.open(f, "rb") as g:
                return g.read()
        if kind == ContainerFileType.ZIP.value:
            with _open(source) as f, zipfile.ZipFile(f) as z:
                info = z.getinfo(member or "")
                if info.is_dir():
                    raise ContainerError(f"{where}: ZIP member {info.filename!r} is a folder")
                return z.read(info)
        if kind in (ContainerFileType.TAR.value, ContainerFileType.TARGZIP.value):
            gz = kind == ContainerFileType.TARGZIP.value
            with _open(source) as f, tarfile.open(fileobj=f, mode="r:gz" if gz else "r:") as t:
                entry = t.getmember(member or "")
                if not entry.isfile():
                    what = "link" if entry.issym() or entry.islnk() else "non-file"
                    raise ContainerError(
                        f"{where}: TAR member {entry.name!r} is a {what}: refused (only regular "
                        "members are read)"
                    )
                data = t.extractfile(entry)
                if data is None:
                    raise ContainerError(f"{where}: TAR member {entry.name!r} cannot be read")
                content: bytes = data.read()
                return content
    except KeyError as exc:
        raise ContainerError(f"{where}: no member {member!r}") from exc
    except ContainerError:
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise ContainerError(f"{where}: {exc}") from exc
    raise ContainerError(
        f"{where}: Container File Type {kind!r} is not one of "
        f"{', '.join(t.value for t in ContainerFileType)} (PS3.3 C.38.2.2)"
    )
