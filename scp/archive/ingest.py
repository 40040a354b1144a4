"""Finding stored DICOM objects in folders and containers, and reading their headers.

Sources are folders (walked), plain Part 10 files, and containers: ZIP, TAR, TAR.GZ (TARGZIP),
GZIP (one gzipped Part 10 file) and BLOB (several Part 10 files back to back in one large
file, PS3.3 C.38.2.2.1.2), walked by the one container reader of the IOD library
(:func:`dicom_inventory.containers.iter_members`, with its safety rules).

One bad item never ends the walk. Each file or member is read on its own, and whatever goes
wrong with it becomes an :class:`IngestError` naming the item and why; the walk goes on with
the next. Items refused this way:

* a name that is not UTF-8 (the index and an Inventory's File Access URI hold UTF-8 text);
* anything but a regular file: a FIFO, socket or device named ``*.dcm`` is never opened for
  reading (it could block for ever), a symbolic link loop is reported;
* a file or member that is not a readable Part 10 file (truncated, corrupt meta header, any
  decoding error), or whose header is larger than the budget
  (:data:`~dicom_inventory.containers.MAX_HEADER_BYTES`);
* an object without the UIDs the archive indexes by, or with one that is not a valid UID
  (PS3.5 9.1) -- production would refuse to write it later (see
  :meth:`dicom_inventory.scp.archive.archive.SQLArchive.ingest` for the full check).

Memory: the walk is a stream (no list of files is built), and each header is read from a
stream that refuses to read past the header budget: pydicom stops before Pixel Data and skips
values larger than :data:`DEFER_BYTES` by seeking, so what an object or a bomb inflates to
is never held.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from dicom_inventory.containers import (
    MAX_HEADER_BYTES,
    BoundedReader,
    ContainerError,
    Member,
    iter_members,
    open_regular,
)
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.scp.stores.repository import StoredFile
from dicom_inventory.uid import is_valid_uid
from pydicom.errors import InvalidDicomError

__all__ = [
    "DEFER_BYTES",
    "FoundObject",
    "IngestError",
    "NOT_PART10",
    "container_type_of",
    "count_files",
    "find_objects",
    "printable",
]

#: Values longer than this are skipped while reading a header (pydicom's ``defer_size``):
#: nothing the archive indexes is that long, and the bytes skipped are never read.
DEFER_BYTES = 64 << 10
#: The UIDs every indexed object has, and the archive indexes by (PS3.5 9.1 syntax).
_REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


@dataclass(slots=True)
class FoundObject:
    """A stored object found in a source: where it is and its header."""

    location: StoredFile
    dataset: Any  # pydicom Dataset, read up to Pixel Data
    values: tuple[Any, ...] | None = None
    """The data set's values the archive indexes, once computed (by the archive)."""


@dataclass(slots=True)
class IngestError:
    """Something in a source that could not be ingested: where, and why.

    `source` and `member` are always printable UTF-8 text (see :func:`printable`).
    """

    source: str
    member: str | None
    message: str

    def __post_init__(self) -> None:
        # a name or an exception's text may hold bytes that are not UTF-8: the report is
        # printed and stored, so it is made printable here, once
        self.source, self.message = printable(self.source), printable(self.message)
        self.member = None if self.member is None else printable(self.member)


def printable(name: str) -> str:
    r"""Return `name` as UTF-8 text that can always be printed and stored.

    Bytes of a file system name that are not UTF-8 (held by Python as ``surrogateescape``
    surrogates) are shown as ``\udcXX`` escapes.
    """
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


#: Why a file that is not a DICOM file (PS3.10) is skipped: what was expected in it.
NOT_PART10 = (
    "not a DICOM file: expected a 128-byte preamble and the prefix 'DICM', then the File Meta "
    "Information (PS3.10 7.1)"
)
#: What decoding libraries add to their errors for programmers (see _library_advice_removed).
_LIBRARY_ADVICE = (" Use force=True to force reading.", "Use force=True to force reading.")


def _header(stream: BoundedReader) -> Any:
    """The data set up to Pixel Data; large values skipped (read from `stream` only)."""
    return pydicom.dcmread(stream, stop_before_pixels=True, defer_size=DEFER_BYTES)


def count_files(sources: Iterable[Path]) -> int:
    """The number of files :func:`find_objects` reads in `sources`: a first, cheap pass.

    Folders are walked as :func:`find_objects` walks them (a symbolic link to a folder is not
    followed) but no file is opened: only the folders are listed, so the pass costs one
    ``readdir`` per folder (about 0.1 s per 100,000 files in a warm cache). A container
    counts as one file, whatever it holds. Used to show a progress bar with a total.
    """
    n = 0
    for source in sources:
        if not source.is_dir():
            n += 1
            continue
        for _root, _dirs, files in os.walk(source):
            n += len(files)
    return n


def find_objects(
    source: Path,
    *,
    header_budget: int = MAX_HEADER_BYTES,
    on_file: Callable[[], None] | None = None,
) -> Iterator[FoundObject | IngestError]:
    """Yield every stored object (or error) under `source`, a folder or a file, as found.

    Parameters
    ----------
    source
        A folder (walked in name order; a symbolic link to a folder is reported, not
        followed), a plain Part 10 file or a container.
    header_budget
        Most bytes read for one object's header; a larger header is an :class:`IngestError`.
    on_file
        Called once each file (a container included) has been read to its end: with
        :func:`count_files`, what a progress display counts.
    """
    if source.is_dir():
        unreadable: list[OSError] = []
        for root, dirs, files in os.walk(source, onerror=unreadable.append):
            dirs.sort()
            for name in [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                where = os.path.join(root, name)
                yield IngestError(where, None, "symbolic link to a folder: not followed")
            for name in sorted(files):
                yield from _from_file(Path(root) / name, header_budget)
                if on_file is not None:
                    on_file()
            while unreadable:
                exc = unreadable.pop()
                where = printable(os.fsdecode(exc.filename or root))
                yield IngestError(where, None, f"folder not read: {exc.strerror or exc}")
    else:
        yield from _from_file(source, header_budget)
        if on_file is not None:
            on_file()


def _from_file(path: Path, budget: int) -> Iterator[FoundObject | IngestError]:
    shown = printable(str(path))
    if not _is_utf8(str(path)):
        yield IngestError(shown, None, "file name is not UTF-8: not indexed (rename it)")
        return
    try:
        path = path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        yield IngestError(shown, None, f"not read: {exc}")
        return
    if not _is_utf8(str(path)):
        yield IngestError(shown, None, f"links to {printable(str(path))}, not UTF-8: not indexed")
        return
    kind = container_type_of(path)
    if kind is None:
        yield _plain(path, budget)
        return
    try:
        for m in iter_members(path, kind):
            where = m.name or _at(m)
            if m.name is not None and not _is_utf8(m.name):
                yield IngestError(str(path), printable(m.name), "member name is not UTF-8")
            elif m.refused:
                yield IngestError(str(path), where, m.refused)
            else:
                # TAR and BLOB members keep their offsets (direct access, C.38.2.2.1.2)
                location = {"path": str(path), "container": kind, "member": m.name,
                            "offset": m.offset, "length": m.length}  # fmt: skip
                yield _read_one(m, budget, where, location)
    except ContainerError as exc:
        why = str(exc).removeprefix(f"{path}: ")
        yield IngestError(str(path), None, f"unreadable {kind.value}: {why}")


def _at(m: Member) -> str | None:
    return None if m.offset is None else f"@{m.offset}"


def _read_one(
    member: Member | Callable[[int], BoundedReader],
    budget: int,
    where: str | None,
    location: dict[str, Any],
) -> FoundObject | IngestError:
    """One item read and checked, every failure of it caught: the walk never ends here."""
    try:
        stream = member.open(budget) if isinstance(member, Member) else member(budget)
        # pydicom warns on odd values as it decodes them: our checks judge, and report
        with stream, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = _header(stream)
            return _found(ds, location)  # in the with: the values are read while open
    except ContainerError as exc:
        return IngestError(location["path"], where, str(exc))
    except InvalidDicomError as exc:
        why = NOT_PART10 if "DICM" in str(exc) else f"not a readable DICOM file: {exc}"
        return IngestError(location["path"], where, _library_advice_removed(why))
    except Exception as exc:  # any decoding failure of one item is that item's failure
        why = _library_advice_removed(str(exc)) or type(exc).__name__
        return IngestError(location["path"], where, f"not a readable DICOM file: {why}")


def _library_advice_removed(message: str) -> str:
    """`message` without the advice to a programmer a decoding library adds to its errors.

    pydicom ends some messages with ``Use force=True to force reading.``: an argument of its
    own function, which a user of ``archive ingest`` cannot give.
    """
    for advice in _LIBRARY_ADVICE:
        message = message.replace(advice, "")
    return message.strip()


def _ts(ds: Any) -> str:
    return str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")


def _found(ds: Any, location: dict[str, Any]) -> FoundObject | IngestError:
    path, member = location["path"], location.get("member")
    missing = [kw for kw in _REQUIRED_UIDS if not ds.get(kw)]
    if missing:
        return IngestError(
            path, member, f"not a patient object the archive can index: no {', '.join(missing)}"
        )
    uids = {kw: str(ds.get(kw)) for kw in _REQUIRED_UIDS}
    uids["TransferSyntaxUID"] = _ts(ds)
    for kw, uid in uids.items():
        if not is_valid_uid(uid):
            return IngestError(
                path,
                member,
                f"{kw} {uid!r} is not a valid UID (PS3.5 9.1): an inventory could not "
                "hold it (PS3.3 C.38.1)",
            )
    return FoundObject(StoredFile(transfer_syntax_uid=uids["TransferSyntaxUID"], **location), ds)


def _plain(path: Path, budget: int) -> FoundObject | IngestError:
    """A plain file, addressed as bytes [0, size) of itself (see production, Q7)."""
    try:
        f = open_regular(path)
    except ContainerError as exc:
        return IngestError(str(path), None, str(exc).removeprefix(f"{path}: "))
    with f:
        size = os.fstat(f.fileno()).st_size

        def view(budget: int) -> BoundedReader:
            return BoundedReader(f, budget=budget, size=size, close_raw=False)

        return _read_one(view, budget, None, {"path": str(path), "length": size})
