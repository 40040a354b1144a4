"""One reader of stored objects: a plain file, a byte range of a BLOB, or a container member.

The container is a ZIP, TAR, TARGZIP or GZIP one (PS3.3 C.38.2.2, Table C.38.2-2 Container
File Type).

:func:`read_object` reads the one object a link names; :func:`iter_members` walks every
object of a container, for the archive's ingest, with the same rule.

The archive's retrieve (:meth:`dicom_inventory.scp.stores.repository.StoredFile.read`) and the SCU's ``fetch``
(:mod:`dicom_inventory.scu.fetch`) both read through :func:`read_object`, so a link the
inventory gives is followed the same way on both sides. No network here: ``fetch`` downloads an
http(s) link and hands the bytes over.

One safety rule for every container: only a regular member is read. A TAR member that is a
symbolic or hard link or a device is refused (a link inside a container can name any other
member, or a path outside it when extracted), a folder is not an object, and nothing is ever
extracted to disk.
"""

from __future__ import annotations

import gzip
import io
import mmap
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from dicom_inventory.enum import ContainerFileType
from dicom_inventory.errors import InventoryError

__all__ = ["ContainerError", "Member", "iter_members", "read_object"]

#: A Part 10 file begins 128 bytes before this: "DICM", then (0002,0000) UL length 4.
_PART10_MAGIC = b"DICM\x02\x00\x00\x00UL\x04\x00"


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
                why = _refused(entry)
                if why:
                    raise ContainerError(f"{where}: TAR member {entry.name!r} {why}")
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


def _refused(entry: tarfile.TarInfo) -> str | None:
    """Why a TAR member is not read (the one safety rule), or ``None`` for a regular file."""
    if entry.isfile():
        return None
    what = "link" if entry.issym() or entry.islnk() else "folder" if entry.isdir() else "non-file"
    return f"is a {what}: refused (only regular members are read)"


@dataclass(frozen=True, slots=True)
class Member:
    """One object of a container, as :func:`iter_members` finds it.

    Attributes
    ----------
    name : str or None
        Filename in Container (0008,040B) for ZIP and TAR members; ``None`` otherwise.
    offset, length : int or None
        File Offset / Length in Container (0008,040C/D) where the container allows direct
        access: TAR (offsets in the inflated TAR for TARGZIP) and BLOB.
    data : bytes
        The member's bytes (empty when `refused`).
    refused : str or None
        Why the member is not read (a link or device in a TAR); ``None`` for a read member.
    """

    name: str | None
    offset: int | None
    length: int | None
    data: bytes
    refused: str | None = None


def iter_members(
    path: str | os.PathLike[str], container: ContainerFileType | str
) -> Iterator[Member]:
    """Yield every object in the container at `path`, in stored order.

    A GZIP holds one object; a BLOB holds Part 10 files back to back, each found by its
    preamble and ``DICM`` prefix (PS3.10 7.1; PS3.3 C.38.2.2.1.2). Folders are skipped;
    links and devices are yielded as refused members.

    Raises
    ------
    ContainerError
        If the container cannot be opened or read, or a BLOB holds no Part 10 file (bytes
        before the first one are yielded as a refused member).
    """
    kind = str(getattr(container, "value", container) or "")
    where = os.fspath(path)
    try:
        if kind == ContainerFileType.ZIP.value:
            with zipfile.ZipFile(where) as z:
                for info in z.infolist():
                    if not info.is_dir():
                        yield Member(info.filename, None, None, z.read(info))
        elif kind in (ContainerFileType.TAR.value, ContainerFileType.TARGZIP.value):
            gz = kind == ContainerFileType.TARGZIP.value
            with tarfile.open(where, "r:gz" if gz else "r:") as t:
                for entry in t:
                    if entry.isdir():
                        continue
                    why = _refused(entry)
                    f = None if why else t.extractfile(entry)
                    data = f.read() if f is not None else b""
                    # offset_data counts in the (inflated) TAR stream: direct access
                    yield Member(entry.name, entry.offset_data, entry.size, data, why)
        elif kind == ContainerFileType.GZIP.value:
            with gzip.open(where, "rb") as g:
                yield Member(None, None, None, g.read())
        elif kind == ContainerFileType.BLOB.value:
            yield from _blob_members(where)
        else:
            raise ContainerError(
                f"{where}: Container File Type {kind!r} is not one of "
                f"{', '.join(t.value for t in ContainerFileType)} (PS3.3 C.38.2.2)"
            )
    except ContainerError:
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise ContainerError(f"{where}: {exc}") from exc


def _blob_members(where: str) -> Iterator[Member]:
    with open(where, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ContainerError(f"{where}: empty BLOB")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            starts = []
            at = mm.find(_PART10_MAGIC)
            while at >= 0:
                if at >= 128:
                    starts.append(at - 128)
                at = mm.find(_PART10_MAGIC, at + 1)
            if not starts:
                raise ContainerError(f"{where}: BLOB does not start with a Part 10 file")
            if starts[0] != 0:  # the files after it can still be delimited
                yield Member(None, 0, starts[0], b"", "BLOB does not start with a Part 10 file")
            for start, end in zip(starts, [*starts[1:], len(mm)], strict=True):
                yield Member(None, start, end - start, mm[start:end])
