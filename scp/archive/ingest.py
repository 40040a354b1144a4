"""Finding stored DICOM objects in folders and containers, and reading their headers.

Sources are folders (walked), plain Part 10 files, and containers: ZIP, TAR, TAR.GZ (TARGZIP),
GZIP (one gzipped Part 10 file) and BLOB (several Part 10 files back to back in one large
file, PS3.3 C.38.2.2.1.2), walked by the one container reader of the IOD library
(:func:`dicom_inventory.containers.iter_members`, with its safety rule). Headers are read with
pydicom up to Pixel Data only. A member that is not DICOM, or is corrupt, or is refused,
becomes an :class:`IngestError` and the walk goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import pydicom
from dicom_inventory.containers import ContainerError, Member, iter_members
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.scp.stores.repository import StoredFile
from pydicom.errors import InvalidDicomError

__all__ = ["FoundObject", "IngestError", "container_type_of", "find_objects"]


@dataclass(slots=True)
class FoundObject:
    """A stored object found in a source: where it is and its header."""

    location: StoredFile
    dataset: Any  # pydicom Dataset, read up to Pixel Data


@dataclass(slots=True)
class IngestError:
    """Something in a source that could not be ingested."""

    source: str
    member: str | None
    message: str


def container_type_of(path: Path) -> ContainerFileType | None:
    """Container type by file name; ``None`` for a plain file."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return ContainerFileType.TARGZIP
    if name.endswith(".tar"):
        return ContainerFileType.TAR
    if name.endswith(".zip"):
        return ContainerFileType.ZIP
    if name.endswith(".gz"):
        return ContainerFileType.GZIP
    if name.endswith(".blob"):
        return ContainerFileType.BLOB
    return None


def _header(data: bytes | IO[bytes] | str) -> Any:
    src = BytesIO(data) if isinstance(data, bytes) else data
    return pydicom.dcmread(src, stop_before_pixels=True)


def find_objects(source: Path) -> Iterator[FoundObject | IngestError]:
    """Yield every stored object (or error) under `source`, a folder or a file."""
    if source.is_dir():
        for root, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                yield from _from_file(Path(root) / name)
    elif source.is_file():
        yield from _from_file(source)
    else:
        yield IngestError(str(source), None, "no such file or folder")


def _from_file(path: Path) -> Iterator[FoundObject | IngestError]:
    path = path.resolve()
    kind = container_type_of(path)
    if kind is None:
        yield from _plain(path)
        return
    try:
        for m in iter_members(path, kind):
            if m.refused:
                yield IngestError(str(path), m.name or _at(m), m.refused)
                continue
            try:
                ds = _header(m.data)
            except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
                yield IngestError(str(path), m.name or _at(m), f"not a readable DICOM file: {exc}")
                continue
            # TAR and BLOB members keep their offsets (direct access, C.38.2.2.1.2)
            yield _found(
                ds,
                path=str(path),
                container=kind,
                member=m.name,
                offset=m.offset,
                length=m.length,
            )
    except ContainerError as exc:
        yield IngestError(str(path), None, f"unreadable {kind.value}: {exc}")


def _at(m: Member) -> str | None:
    return None if m.offset is None else f"@{m.offset}"


def _ts(ds: Any) -> str:
    return str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")


def _found(ds: Any, **location: Any) -> FoundObject | IngestError:
    missing = [
        kw
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
        if not ds.get(kw)
    ]
    if missing:
        return IngestError(
            location["path"],
            location.get("member"),
            f"not a patient object the archive can index: no {', '.join(missing)}",
        )
    return FoundObject(StoredFile(transfer_syntax_uid=_ts(ds), **location), ds)


def _plain(path: Path) -> Iterator[FoundObject | IngestError]:
    try:
        ds = _header(str(path))
    except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
        yield IngestError(str(path), None, f"not a readable DICOM file: {exc}")
        return
    except OSError as exc:
        yield IngestError(str(path), None, f"unreadable file: {exc}")
        return
    # A plain file is addressed as bytes [0, size) of itself (see production, Q7).
    yield _found(ds, path=str(path), length=path.stat().st_size)
