"""Finding stored DICOM objects in folders and containers, and reading their headers.

Sources are folders (walked), plain Part 10 files, and containers: ZIP, TAR, TAR.GZ (TARGZIP),
GZIP (one gzipped Part 10 file) and BLOB (several Part 10 files back to back in one large
file, PS3.3 C.38.2.2.1.2). Headers are read with pydicom up to Pixel Data only. A member that
is not DICOM, or is corrupt, becomes an :class:`IngestError` and the walk goes on.
"""

from __future__ import annotations

import gzip
import mmap
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import pydicom
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.scp.repository import StoredFile
from pydicom.errors import InvalidDicomError

__all__ = ["FoundObject", "IngestError", "container_type_of", "find_objects"]

#: A Part 10 file begins 128 bytes before this: "DICM", then (0002,0000) UL length 4.
_BLOB_MAGIC = b"DICM\x02\x00\x00\x00UL\x04\x00"


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
    try:
        if kind is None:
            yield from _plain(path)
        elif kind is ContainerFileType.ZIP:
            yield from _zip(path)
        elif kind in (ContainerFileType.TAR, ContainerFileType.TARGZIP):
            yield from _tar(path, kind)
        elif kind is ContainerFileType.GZIP:
            yield from _gzip(path)
        else:
            yield from _blob(path)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        yield IngestError(str(path), None, f"unreadable {kind.value if kind else 'file'}: {exc}")


def _ts(ds: Any) -> str:
    return str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")


def _found(ds: Any, **location: Any) -> FoundObject | IngestError:
    if "SOPInstanceUID" not in ds or "StudyInstanceUID" not in ds or "SeriesInstanceUID" not in ds:
        where = location.get("member")
        return IngestError(
            location["path"], where, "not a patient object (no Study/Series/SOP Instance UID)"
        )
    return FoundObject(StoredFile(transfer_syntax_uid=_ts(ds), **location), ds)


def _plain(path: Path) -> Iterator[FoundObject | IngestError]:
    try:
        ds = _header(str(path))
    except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
        yield IngestError(str(path), None, f"not a readable DICOM file: {exc}")
        return
    # A plain file is addressed as bytes [0, size) of itself (see production, Q7).
    yield _found(ds, path=str(path), length=path.stat().st_size)


def _zip(path: Path) -> Iterator[FoundObject | IngestError]:
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            try:
                ds = _header(z.read(info))
            except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
                yield IngestError(str(path), info.filename, f"not a readable DICOM file: {exc}")
                continue
            yield _found(ds, path=str(path), container=ContainerFileType.ZIP, member=info.filename)


def _tar(path: Path, kind: ContainerFileType) -> Iterator[FoundObject | IngestError]:
    with (
        tarfile.open(path, "r:gz")
        if kind is ContainerFileType.TARGZIP
        else tarfile.open(path, "r:")
    ) as t:
        for info in t:
            if not info.isfile():
                continue
            f = t.extractfile(info)
            if f is None:
                continue
            try:
                ds = _header(f.read())
            except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
                yield IngestError(str(path), info.name, f"not a readable DICOM file: {exc}")
                continue
            # offset_data counts in the (inflated) TAR stream: direct access (C.38.2.2.1.2)
            yield _found(
                ds,
                path=str(path),
                container=kind,
                member=info.name,
                offset=info.offset_data,
                length=info.size,
            )


def _gzip(path: Path) -> Iterator[FoundObject | IngestError]:
    with gzip.open(path, "rb") as g:
        try:
            ds = _header(g.read())
        except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
            yield IngestError(str(path), None, f"not a readable gzipped DICOM file: {exc}")
            return
    yield _found(ds, path=str(path), container=ContainerFileType.GZIP)


def _blob(path: Path) -> Iterator[FoundObject | IngestError]:
    """Part 10 files back to back: each starts 128 bytes before ``DICM`` + (0002,0000) UL."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            yield IngestError(str(path), None, "empty BLOB")
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            starts = []
            at = mm.find(_BLOB_MAGIC)
            while at >= 0:
                if at >= 128:
                    starts.append(at - 128)
                at = mm.find(_BLOB_MAGIC, at + 1)
            if not starts or starts[0] != 0:
                yield IngestError(str(path), None, "BLOB does not start with a Part 10 file")
                if not starts:
                    return
            ends = [*starts[1:], len(mm)]
            for start, end in zip(starts, ends, strict=True):
                try:
                    ds = _header(mm[start:end])
                except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
                    yield IngestError(str(path), f"@{start}", f"not a readable DICOM file: {exc}")
                    continue
                yield _found(
                    ds,
                    path=str(path),
                    container=ContainerFileType.BLOB,
                    offset=start,
                    length=end - start,
                )
