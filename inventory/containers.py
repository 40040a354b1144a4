"""One reader of stored objects: a plain file, a byte range of a BLOB, or a container member.

The container is a ZIP, TAR, TARGZIP or GZIP one (PS3.3 C.38.2.2, Table C.38.2-2 Container
File Type).

:func:`read_object` reads the one object a link names; :func:`iter_members` walks every
object of a container, for the archive's ingest, with the same rule.

The archive's retrieve (:meth:`dicom_inventory.scp.stores.repository.StoredFile.read`) and the SCU's ``fetch``
(:mod:`dicom_inventory.scu.fetch`) both read through :func:`read_object`, so a link the
inventory gives is followed the same way on both sides. No network here: ``fetch`` streams an
http(s) link to a staging file and hands the path over.

Safety rules, for every container and every caller:

* Only a regular file is opened (:func:`open_regular`): a FIFO, a device or a socket named
  like an object is refused before anything can block on it. Only a regular member is read:
  a TAR member that is a symbolic or hard link or a device is refused (a link inside a
  container can name any other member, or a path outside it when extracted), a folder is not
  an object, and nothing is ever extracted to disk.
* Memory is bounded by what the link declares, never by what the input inflates to. A
  compressed member is inflated in chunks and at most its File Length in Container
  (0008,040D) plus one byte is ever held (one more byte is how "longer than declared" is
  seen); without a length, at most ``max_size`` (:data:`MAX_OBJECT_SIZE`). A declared size
  (a ZIP or TAR header's) above that is refused before inflating anything, and never trusted
  either: the inflated bytes are counted. A byte range (File Offset / Length in Container,
  0008,040C/D, UV: up to 2^64-1) is checked against the file's size before any allocation.
* Ingest needs only a header: :meth:`Member.open` gives a stream that refuses to read more
  than a budget (:data:`MAX_HEADER_BYTES`); what a reader skips by seeking is not read.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from dicom_inventory.enum import ContainerFileType
from dicom_inventory.errors import InventoryError

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_OBJECT_SIZE",
    "BoundedReader",
    "ContainerError",
    "Member",
    "iter_members",
    "open_regular",
    "read_object",
]

#: Most bytes :func:`read_object` holds for one object when the link gives no File Length
#: in Container (2 GiB: a large multi-frame object fits, a decompression bomb does not).
MAX_OBJECT_SIZE = 2 << 30
#: Most bytes read for one header (:meth:`Member.open`): everything before Pixel Data, less
#: the values a reader skips by seeking. 16 MiB holds the functional groups of an enhanced
#: multi-frame object of thousands of frames.
MAX_HEADER_BYTES = 16 << 20
#: Inflated bytes read at a time.
_CHUNK = 1 << 20
#: Bytes a :class:`BoundedReader` keeps behind its position for short backward seeks (at
#: least; up to twice as many between trims).
_LOOK_BEHIND = 64 << 10
#: A Part 10 file begins 128 bytes before this: "DICM", then (0002,0000) UL length 4.
_PART10_MAGIC = b"DICM\x02\x00\x00\x00UL\x04\x00"
_PREAMBLE = 128
#: Where the rules on File Offset / Length in Container come from.
_SECTION = "PS3.3 C.38.2.2"
#: A stream read through: a file, a container member, an inflating reader.
_Stream = IO[bytes] | io.BufferedIOBase
#: What the container libraries raise for a corrupt or truncated container.
_CORRUPT = (
    OSError,
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    struct.error,
    ValueError,
    OverflowError,
    NotImplementedError,  # a ZIP compression method the library lacks
)


class ContainerError(InventoryError, OSError):
    """A stored object cannot be read.

    A missing file or member, a refused member, a corrupt container, or a limit reached
    (declared length, ``max_size``, header budget).
    """


def _kind_of(st_mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(st_mode):
            return name
    return "not a file"


def open_regular(path: str | os.PathLike[str] | bytes) -> BinaryIO:
    """Open `path` for reading only if it is a regular file (links followed, then checked).

    The file is opened with ``O_NONBLOCK`` (a FIFO never blocks the open) and checked with
    ``fstat`` on the open descriptor (no race between a check and the open).

    Raises
    ------
    ContainerError
        If it is a FIFO, socket, device or folder, a symbolic link loop, missing or unreadable.
    """
    where = os.fsdecode(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ContainerError(f"{where}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ContainerError(f"{where}: not a regular file ({_kind_of(mode)}): not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class BoundedReader(io.RawIOBase):
    """A read-only, seekable view of a stream that reads at most `budget` bytes in all.

    Bytes skipped by :meth:`seek` are not counted (a header reader skips large values that
    way); reading past the budget raises :class:`ContainerError` ("`what` larger than N
    bytes"), having held at most ``budget + 1`` bytes. The last :data:`_LOOK_BEHIND` bytes
    read are kept, so the short backward seeks of a DICOM parser (a tag peeked at, a
    delimiter searched for) never rewind a compressed stream (which would inflate it again
    from its start: quadratic).

    Parameters
    ----------
    raw
        The stream (a member of a container, or a file).
    budget
        Most bytes read from `raw` in all.
    base, size
        The view is ``[base, base + size)`` of `raw` (``size=None``: to its end).
    close_raw
        Whether :meth:`close` closes `raw` too.
    what
        What is read, for the error message.
    """

    def __init__(
        self,
        raw: _Stream,
        *,
        budget: int,
        base: int = 0,
        size: int | None = None,
        close_raw: bool = True,
        what: str = "header",
    ) -> None:
        super().__init__()
        self._raw, self._budget, self._left = raw, budget, budget
        self._base, self._size, self._close_raw, self._what = base, size, close_raw, what
        self._pos = 0  # where the reader is (in the view)
        self._rpos = 0  # where `raw` is (in the view); `_tail` holds the bytes just before
        self._tail = bytearray()
        raw.seek(base)

    def readable(self) -> bool:
        """Return ``True``: the view is readable."""
        return True

    def seekable(self) -> bool:
        """Return ``True``: the view seeks (a compressed stream by inflating)."""
        return True

    def tell(self) -> int:
        """Return the position in the view."""
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        """Move to `pos` (``whence`` as :meth:`io.IOBase.seek`); skipped bytes are not counted."""
        if whence == io.SEEK_SET:
            new = pos
        elif whence == io.SEEK_CUR:
            new = self._pos + pos
        elif self._size is not None:
            new = self._size + pos
        else:
            raise io.UnsupportedOperation("seek from the end of a stream of unknown size")
        if new < 0:
            raise ValueError(f"negative seek position {new}")
        if not self._rpos - len(self._tail) <= new <= self._rpos:
            self._raw.seek(self._base + new)
            self._rpos = new
            self._tail.clear()
        self._pos = new
        return new

    def read(self, size: int | None = -1) -> bytes:
        """Return up to `size` bytes (all, to the end of the view, if negative).

        Raises
        ------
        ContainerError
            If the read would take more than the budget from the stream.
        """
        n = -1 if size is None else size
        kept = b""
        if self._pos < self._rpos:  # after a short backward seek: the kept bytes first
            at = len(self._tail) - (self._rpos - self._pos)
            kept = bytes(self._tail[at:] if n < 0 else self._tail[at : at + n])
            self._pos += len(kept)
            if n >= 0:
                n -= len(kept)
            if n == 0:
                return kept
        want = self._left + 1 if n < 0 else min(n, self._left + 1)
        if self._size is not None:
            want = max(0, min(want, self._size - self._rpos))
        data = self._raw.read(want)
        self._rpos += len(data)
        self._pos = self._rpos
        self._left -= len(data)
        if self._left < 0:
            raise ContainerError(f"{self._what} larger than {self._budget} bytes: not read")
        self._tail += data
        if len(self._tail) > 2 * _LOOK_BEHIND:  # trimmed now and then: O(1) a byte
            del self._tail[:-_LOOK_BEHIND]
        return kept + data if kept else data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Read into `buffer`; return the number of bytes read."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the view (and the stream, if it was given with ``close_raw``)."""
        if not self.closed and self._close_raw:
            self._raw.close()
        super().close()


def _limit(length: int | None, max_size: int) -> int:
    """Most bytes to hold for one object: its declared length, within the cap."""
    if length is None:
        return max_size
    if length < 0:
        raise ContainerError(f"File Length in Container {length} is negative ({_SECTION})")
    if length > max_size:
        raise ContainerError(
            f"File Length in Container (0008,040D) {length} is larger than the reader's cap of "
            f"{max_size} bytes (max_size; {_SECTION})"
        )
    return length


def _too_big(what: str, length: int | None, max_size: int) -> ContainerError:
    if length is not None:
        return ContainerError(
            f"{what} is longer than the File Length in Container (0008,040D) of {length} bytes "
            f"the link gives ({_SECTION}): not read further"
        )
    return ContainerError(
        f"{what} is larger than {max_size} bytes (max_size, the reader's cap on one object)"
    )


def _read_bounded(stream: _Stream, what: str, length: int | None, max_size: int) -> bytes:
    """Read `stream` to its end in chunks, holding at most the limit + 1 bytes."""
    limit = _limit(length, max_size)
    out, held = io.BytesIO(), 0  # getvalue() hands over its buffer: no second copy
    while held <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - held))
        if not chunk:
            return out.getvalue()
        held += out.write(chunk)
    raise _too_big(what, length, max_size)


def _byte_range(f: IO[bytes], size: int, offset: int | None, length: int | None,
                max_size: int) -> bytes:  # fmt: skip
    """Bytes ``[offset, offset + length)`` of a file of `size` bytes, checked before reading."""
    start = 0 if offset is None else offset
    if start < 0:
        raise ContainerError(f"File Offset in Container {start} is negative ({_SECTION})")
    if length is not None and length < 0:
        raise ContainerError(f"File Length in Container {length} is negative ({_SECTION})")
    if start > size:
        raise ContainerError(
            f"File Offset in Container (0008,040C) {start} is beyond the end of the file "
            f"({size} bytes; {_SECTION})"
        )
    end = size if length is None else start + length
    if end > size:
        raise ContainerError(
            f"File Offset / Length in Container (0008,040C/D) {start} + {length} is beyond "
            f"the end of the file ({size} bytes; {_SECTION})"
        )
    if end - start > max_size:
        raise _too_big(f"bytes [{start}, {end})", None, max_size)
    f.seek(start)
    data = f.read(end - start)
    if len(data) != end - start:
        raise ContainerError(f"only {len(data)} of bytes [{start}, {end}) could be read")
    return data


def _open(source: str | os.PathLike[str] | bytes) -> tuple[BinaryIO, int]:
    """The source opened (a regular file only) and its size."""
    if isinstance(source, bytes):
        return io.BytesIO(source), len(source)
    f = open_regular(source)
    return f, os.fstat(f.fileno()).st_size


def _forget_headers(t: tarfile.TarFile) -> None:
    """Drop the headers `t` has read: a TAR of millions of members stays small in memory."""
    t.members.clear()  # type: ignore[attr-defined]  # a TarFile attribute typeshed omits


def _tar_member(t: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    """The last member called `name` (as tar extraction would leave it), in constant memory.

    Raises
    ------
    KeyError
        If there is none.
    """
    found = None
    while (entry := t.next()) is not None:
        _forget_headers(t)
        if entry.name == name.rstrip("/"):
            found = entry
    if found is None:
        raise KeyError(name)
    return found


def read_object(
    source: str | os.PathLike[str] | bytes,
    container: ContainerFileType | str | None = None,
    member: str | None = None,
    offset: int | None = None,
    length: int | None = None,
    *,
    max_size: int = MAX_OBJECT_SIZE,
) -> bytes:
    """The bytes of one stored object, holding at most its declared length + 1 in memory.

    Parameters
    ----------
    source
        The file (path), or its bytes (e.g. downloaded from an http(s) link).
    container
        Container File Type (0008,040A); ``None`` or ``BLOB``: bytes
        ``[offset, offset + length)`` of the file (to its end without `length`).
    member
        Filename in Container (0008,040B), for ZIP, TAR and TARGZIP.
    offset, length
        File Offset / File Length in Container (0008,040C/D). For a BLOB, the byte range,
        checked against the file's size before reading. For a compressed container, `length`
        is the inflated object's length: inflation stops one byte past it.
    max_size
        Most bytes read for an object when no `length` is given, and the largest `length`
        accepted (default :data:`MAX_OBJECT_SIZE`).

    Raises
    ------
    ContainerError
        If the file, container or member cannot be read, the member is refused, the file is
        not a regular one, the range lies beyond the file, or the object is longer than
        `length` or `max_size` (the message names the limit).
    """
    kind = str(getattr(container, "value", container) or "")
    where = "the given bytes" if isinstance(source, bytes) else os.fsdecode(source)
    try:
        f, size = _open(source)
        with f:
            if kind in ("", ContainerFileType.BLOB.value):
                return _byte_range(f, size, offset, length, max_size)
            if kind == ContainerFileType.GZIP.value:
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    return _read_bounded(g, "the GZIP object", length, max_size)
            if kind == ContainerFileType.ZIP.value:
                with zipfile.ZipFile(f) as z:
                    info = z.getinfo(member or "")
                    what = f"ZIP member {info.filename!r}"
                    if info.is_dir():
                        raise ContainerError(f"{what} is a folder")
                    if info.file_size > _limit(length, max_size):  # declared: refused early
                        raise _too_big(f"{what} (declared {info.file_size} bytes)", length,
                                       max_size)  # fmt: skip
                    with z.open(info) as m:  # ...and never trusted: counted as inflated
                        return _read_bounded(m, what, length, max_size)
            if kind in (ContainerFileType.TAR.value, ContainerFileType.TARGZIP.value):
                gz = kind == ContainerFileType.TARGZIP.value
                with tarfile.open(fileobj=f, mode="r:gz" if gz else "r:") as t:
                    entry = _tar_member(t, member or "")
                    what = f"TAR member {entry.name!r}"
                    why = _refused(entry)
                    if why:
                        raise ContainerError(f"{what} {why}")
                    if entry.size > _limit(length, max_size):
                        raise _too_big(f"{what} (declared {entry.size} bytes)", length, max_size)
                    data = t.extractfile(entry)
                    if data is None:
                        raise ContainerError(f"{what} cannot be read")
                    with data:
                        return _read_bounded(data, what, length, max_size)
    except KeyError as exc:
        raise ContainerError(f"{where}: no member {member!r}") from exc
    except ContainerError as exc:
        raise ContainerError(f"{where}: {exc}" if where not in str(exc) else str(exc)) from exc
    except _CORRUPT as exc:
        raise ContainerError(f"{where}: {exc}") from exc
    raise ContainerError(
        f"{where}: Container File Type {kind!r} is not one of "
        f"{', '.join(t.value for t in ContainerFileType)} ({_SECTION})"
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

    The member's bytes are not held: :meth:`open` gives a stream over them that reads at
    most a budget, so walking a container for ingest costs a header per member whatever the
    members inflate to (a stream of headers, not of objects). A stream instead of a bounded
    ``bytes`` prefix because a header reader skips large values by seeking (pydicom's
    ``defer_size``): a header with a big value before Pixel Data is still read within the
    budget, and a cut prefix could not tell "header ended" from "header truncated".

    The stream is valid while the walk is at this member (TAR and GZIP are read in one pass).

    Attributes
    ----------
    name : str or None
        Filename in Container (0008,040B) for ZIP and TAR members; ``None`` otherwise.
    offset, length : int or None
        File Offset / Length in Container (0008,040C/D) where the container allows direct
        access: TAR (offsets in the inflated TAR for TARGZIP) and BLOB.
    refused : str or None
        Why the member is not read (a link or device in a TAR); ``None`` for a read member.
    opener : callable or None
        Makes the stream of :meth:`open` from a budget (``None`` when `refused`).
    """

    name: str | None
    offset: int | None
    length: int | None
    refused: str | None = None
    opener: Callable[[int], BoundedReader] | None = field(default=None, compare=False, repr=False)

    def open(self, budget: int = MAX_HEADER_BYTES) -> BoundedReader:
        """A stream of the member's bytes that refuses to read more than `budget` of them.

        Raises
        ------
        ContainerError
            If the member is refused.
        """
        if self.opener is None:
            raise ContainerError(self.refused or "member cannot be read")
        return self.opener(budget)


def iter_members(
    path: str | os.PathLike[str], container: ContainerFileType | str
) -> Generator[Member, None, None]:
    """Yield every object in the container at `path`, in stored order, without reading it.

    A GZIP holds one object; a BLOB holds Part 10 files back to back, each found by its
    preamble and ``DICM`` prefix (PS3.10 7.1; PS3.3 C.38.2.2.1.2), scanned in chunks. Folders
    are skipped; links and devices are yielded as refused members. Memory stays constant
    whatever the container holds or inflates to (TAR headers are not kept).

    Raises
    ------
    ContainerError
        If the container is not a regular file, cannot be opened or read, or a BLOB holds no
        Part 10 file (bytes before the first one are yielded as a refused member). Members
        yielded before a corrupt part stay valid.
    """
    kind = str(getattr(container, "value", container) or "")
    where = os.fsdecode(path)
    try:
        with open_regular(path) as f:
            if kind == ContainerFileType.ZIP.value:
                yield from _zip_members(f)
            elif kind in (ContainerFileType.TAR.value, ContainerFileType.TARGZIP.value):
                yield from _tar_members(f, gz=kind == ContainerFileType.TARGZIP.value)
            elif kind == ContainerFileType.GZIP.value:
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    yield Member(None, None, None, None, _view(g, close=False))
            elif kind == ContainerFileType.BLOB.value:
                yield from _blob_members(f, where)
            else:
                raise ContainerError(
                    f"{where}: Container File Type {kind!r} is not one of "
                    f"{', '.join(t.value for t in ContainerFileType)} ({_SECTION})"
                )
    except ContainerError:
        raise
    except _CORRUPT as exc:
        raise ContainerError(f"{where}: {exc}") from exc


def _view(
    raw: _Stream, *, close: bool, base: int = 0, size: int | None = None
) -> Callable[[int], BoundedReader]:
    def opener(budget: int) -> BoundedReader:
        return BoundedReader(raw, budget=budget, base=base, size=size, close_raw=close)

    return opener


def _zip_members(f: BinaryIO) -> Iterator[Member]:
    with zipfile.ZipFile(f) as z:
        for info in z.infolist():
            if not info.is_dir():

                def opener(budget: int, info: zipfile.ZipInfo = info) -> BoundedReader:
                    return BoundedReader(z.open(info), budget=budget)

                yield Member(info.filename, None, None, None, opener)


def _tar_members(f: BinaryIO, *, gz: bool) -> Iterator[Member]:
    with tarfile.open(fileobj=f, mode="r:gz" if gz else "r:") as t:
        while (entry := t.next()) is not None:
            _forget_headers(t)
            if entry.isdir():
                continue
            why = _refused(entry)

            def opener(budget: int, entry: tarfile.TarInfo = entry) -> BoundedReader:
                data = t.extractfile(entry)
                if data is None:
                    raise ContainerError(f"TAR member {entry.name!r} cannot be read")
                return BoundedReader(data, budget=budget)

            # offset_data counts in the (inflated) TAR stream: direct access
            yield Member(entry.name, entry.offset_data, entry.size, why, None if why else opener)


def _part10_starts(fd: int) -> Iterator[int]:
    """Offsets of the Part 10 files in a BLOB, scanned in chunks (``pread``: no shared position)."""
    keep = len(_PART10_MAGIC) - 1
    pos, tail = 0, b""
    while chunk := os.pread(fd, _CHUNK, pos):
        buf, base = tail + chunk, pos - len(tail)
        at = buf.find(_PART10_MAGIC)
        while at >= 0:
            if base + at >= _PREAMBLE:
                yield base + at - _PREAMBLE
            at = buf.find(_PART10_MAGIC, at + 1)
        tail, pos = buf[-keep:], pos + len(chunk)


def _blob_members(f: BinaryIO, where: str) -> Iterator[Member]:
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise ContainerError(f"{where}: empty BLOB")
    previous = None
    for start in _part10_starts(f.fileno()):
        if previous is None and start != 0:  # the files after it can still be delimited
            yield Member(None, 0, start, "BLOB does not start with a Part 10 file")
        elif previous is not None:
            n = start - previous
            yield Member(None, previous, n, None, _view(f, close=False, base=previous, size=n))
        previous = start
    if previous is None:
        raise ContainerError(f"{where}: BLOB does not start with a Part 10 file")
    n = size - previous
    yield Member(None, previous, n, None, _view(f, close=False, base=previous, size=n))
