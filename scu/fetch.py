"""Fetch the stored files an inventory links to, check them, optionally bring them up to date.

For every instance record with a File Access item (PS3.3 C.38.2.2, Stored File Access Macro)
the object is read from its URI — ``file:`` or ``http(s):`` — and its container (ZIP, TAR,
TARGZIP, GZIP, BLOB byte range), then checked: it must be a Part 10 object whose SOP Instance
UID is the record's, whose transfer syntax is the Stored Instance Transfer Syntax UID and whose
length is File Length in Container, when given. A relative File Access URI (``./…``) is merged
with the Stored Instance Base URI (0008,0407) of its series, else its study, else the inventory
(PS3.3 C.38.2.2.1.1, P.2.1; PS3.17 YYYY.7.2); without one, with the inventory file's folder.

With ``apply_updates``, the attributes the archive changed in its database only (the record's
Original Attributes Sequence names them, and the record holds their current values) are set to
the current values, and the values they replace are recorded in the object's own Original
Attributes Sequence (0400,0561) — one new item with Modified Attributes Sequence, Attribute
Modification DateTime, Modifying System, Source of Previous Values and Reason for the Attribute
Modification, as PS3.3 C.12.1.1.9 expects.

An inventory is untrusted input; what it can make fetch touch is bounded here:

* **What is read** (:class:`FetchPolicy`): a link is followed only if it lies under an allowed
  root folder (compared after :func:`os.path.realpath`, so ``..`` and symbolic links cannot
  leave it) or an allowed ``scheme://host:port/path`` prefix. Allowed by default: the folders of
  the inventory files and the Stored Instance Base URIs that apply to the record; more with
  ``allow_roots``/``allow_urls``; everything with ``allow_any``. Only regular files are read
  (never a FIFO or device). File Offset/Length in Container are checked against the file's
  size and :attr:`FetchPolicy.max_object_size` before anything is read. An http(s) body is
  streamed to a file of a private staging folder, at most the declared File Length in
  Container (a BLOB: asked for with a Range request) or ``max_object_size`` + 1 bytes, with a
  timeout; a redirect is followed only if its target is allowed too; no proxy, ``.netrc`` or
  token is used.
* **What is written**: only ``<out>/<study>/<series>/<sop>.dcm``, names made from the record's
  UIDs (checked to be valid UIDs), never from a URI or member name. Folders under ``out`` are
  opened without following links (a planted symbolic link is refused, not followed), a new file
  is created exclusively (``O_EXCL | O_NOFOLLOW``) in a private staging folder under ``out``
  and renamed into place, which replaces a name and never writes through a link. An existing
  regular ``<sop>.dcm`` is complete (it was renamed into place whole): a re-run skips it
  (resume); an existing link or non-regular file there is a failure.
* **One bad record never ends the run**: what a hostile link can raise becomes that record's
  :class:`FetchResult` ``failed``, with the reason; a SOP Instance UID listed by more than one
  record is fetched once, the others fail.

* **Ctrl-C ends cleanly**: the records still queued are dropped, a download in progress
  stops at its next chunk and nothing new is renamed into place; the workers are waited for,
  then the staging folder is removed and the KeyboardInterrupt goes on to the caller. Every
  object under its final name is whole, so the same run again skips them and fetches the rest.

TAR members that are links (symbolic or hard) are refused by the container reader.
"""

from __future__ import annotations

import copy
import datetime
import errno
import functools
import hashlib
import io
import os
import posixpath
import re
import shutil
import stat
import struct
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pydicom
from dicom_inventory import tags
from dicom_inventory.containers import ContainerError, read_object
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.errors import InventoryError
from dicom_inventory.model import (
    FileAccess,
    InstanceRecord,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from dicom_inventory.read import InventoryReader, tree_paths
from dicom_inventory.uid import is_valid_uid
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

__all__ = [
    "DEFAULT_MAX_OBJECT_SIZE",
    "DEFAULT_TIMEOUT",
    "MAX_FAILURES_KEPT",
    "MODIFYING_SYSTEM",
    "FetchError",
    "FetchPolicy",
    "FetchResult",
    "FetchSummary",
    "check_linked",
    "fetch_inventory",
    "read_linked",
]

#: The largest object (or, for ZIP/TAR/TARGZIP/GZIP over http, container) read without a
#: declared File Length in Container: 2 GiB. Objects are held in memory to be checked.
DEFAULT_MAX_OBJECT_SIZE: Final = 2 << 30
#: Seconds to connect to an http(s) host, and between two reads of its answer.
DEFAULT_TIMEOUT: Final = 60.0
#: Failures a :class:`FetchSummary` keeps, with their reasons (all are counted).
MAX_FAILURES_KEPT: Final = 1000
#: Redirects followed for one link (each target checked against the allow-list).
MAX_REDIRECTS: Final = 5

_CHUNK: Final = 1 << 20
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)  # POSIX; the safe writer needs it
_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_DEFAULT_PORT: Final = {"http": 80, "https": 443}
_BLOB: Final = ("", ContainerFileType.BLOB.value)  # a byte range of the file (all of it)
_HINT: Final = "outside the allowed roots/hosts (use --allow-root/--allow-url)"
_STOPPED: Final = "interrupted: not written"


class FetchError(InventoryError):
    """A linked object could not be read or is not the instance the record names."""


@dataclass(frozen=True)
class FetchPolicy:
    """What :func:`fetch_inventory` may read, and how much.

    Parameters
    ----------
    allow_roots
        Folders whose files links may name, besides the folders of the inventory files.
    allow_urls
        ``scheme://host[:port][/path]`` prefixes http(s) links may start with.
    allow_any
        Follow every link (no allow-list): only for inventories you trust.
    trust_base_uris
        Allow what the Stored Instance Base URIs (0008,0407) that apply to a record name. The
        inventory says these itself: turn off for an inventory you do not trust.
    max_object_size
        Bytes read at most for one object without a declared File Length in Container, and
        for a ZIP/TAR/TARGZIP/GZIP container downloaded over http(s).
    timeout
        Seconds to connect to a host, and between two reads of its answer.
    verify
        TLS verification for https links: ``True`` (system CAs), a CA bundle path, or ``False``.
    """

    allow_roots: tuple[str | os.PathLike[str], ...] = ()
    allow_urls: tuple[str, ...] = ()
    allow_any: bool = False
    trust_base_uris: bool = True
    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True


@dataclass
class FetchResult:
    """What happened to one instance."""

    sop_instance_uid: str
    status: str
    """``fetched``, ``skipped`` (already there), ``failed`` or ``no-link``."""
    path: str | None = None
    updated: tuple[str, ...] = ()
    """Attributes brought up to date (with ``apply_updates``)."""
    error: str | None = None
    size: int = 0


@dataclass
class FetchSummary:
    """Counts and the failures, with their reasons."""

    fetched: int = 0
    skipped: int = 0
    failed: int = 0
    no_link: int = 0
    updated: int = 0
    bytes: int = 0
    failures: list[FetchResult] = field(default_factory=list)
    """The first :data:`MAX_FAILURES_KEPT` failures (every one is counted in ``failed``)."""


#: What reading one hostile link or object may raise: each becomes that record's failure.
_RECORD_ERRORS: Final = (
    FetchError,
    OSError,  # ContainerError too
    ValueError,
    OverflowError,
    MemoryError,
    EOFError,
    zlib.error,
    struct.error,
    httpx.HTTPError,
    httpx.InvalidURL,
    InvalidDicomError,
)
#: What pydicom may raise on a malformed object, when read, changed or written.
_PYDICOM_ERRORS: Final = (
    InvalidDicomError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    EOFError,
    NotImplementedError,
    struct.error,
)


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, FetchError) else f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------- the allow-list
@dataclass(frozen=True)
class _Prefix:
    """An allowed ``scheme://host:port/path`` prefix."""

    scheme: str
    host: str
    port: int
    path: str

    def covers(self, other: _Prefix) -> bool:
        if (self.scheme, self.host, self.port) != (other.scheme, other.host, other.port):
            return False
        base = self.path.rstrip("/")
        return other.path == base or other.path.startswith(base + "/")


def _prefix(url: str) -> _Prefix:
    """The parts of an http(s) URL compared by the allow-list; ``..`` segments refused."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or _DEFAULT_PORT.get(scheme, 0)
    except ValueError as exc:
        raise FetchError(f"{url!r} is not a usable URL: {exc}") from exc
    path = unquote(parts.path) or "/"
    if ".." in path.split("/"):
        raise FetchError(f"{url!r}: a '..' segment in an http(s) link is refused")
    return _Prefix(scheme, (parts.hostname or "").lower(), port, posixpath.normpath(path))


def _root(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


@dataclass(frozen=True)
class _AllowList:
    """Roots (real paths) and URL prefixes a link may name; ``any_`` lets every link through."""

    roots: tuple[str, ...] = ()
    prefixes: tuple[_Prefix, ...] = ()
    any_: bool = False

    def extended(self, uris: Iterable[str]) -> _AllowList:
        """The list with the ``file:`` and http(s) URIs given (Stored Instance Base URIs) added."""
        roots, prefixes = list(self.roots), list(self.prefixes)
        for uri in uris:
            scheme = urlsplit(uri).scheme.lower()
            if scheme == "file":
                roots.append(_root(unquote(urlsplit(uri).path)))
            elif scheme in _DEFAULT_PORT:
                try:
                    prefixes.append(_prefix(uri))
                except FetchError:
                    continue  # a base URI that is no usable prefix allows nothing
        return _AllowList(tuple(roots), tuple(prefixes), self.any_)

    def path(self, path: str) -> str:
        """The real path of `path`, if it lies under an allowed root."""
        real = os.path.realpath(path)
        if self.any_ or any(os.path.commonpath([real, r]) == r for r in self.roots):
            return real
        raise FetchError(f"{path}: {_HINT}")

    def url(self, url: str) -> None:
        """Nothing, if `url` starts with an allowed prefix."""
        p = _prefix(url)
        if p.scheme not in _DEFAULT_PORT:
            raise FetchError(f"{url!r}: only http and https are fetched over a network")
        if not (self.any_ or any(a.covers(p) for a in self.prefixes)):
            raise FetchError(f"{url}: {_HINT}")


@functools.lru_cache(maxsize=1024)
def _allowed_for(base: _AllowList, uris: tuple[str, ...]) -> _AllowList:
    return base.extended(uris)


# ----------------------------------------------------------------------------- reading a link
def _kind(fa: FileAccess) -> str:
    return str(getattr(fa.container_type, "value", fa.container_type) or "")


def _locate(uri: str, base: str | None, folder: Path | None) -> tuple[str, str]:
    """``("file", path)`` or ``("http", url)`` for a File Access URI (C.38.2.2.1.1)."""
    if "\0" in uri or "\0" in unquote(uri):
        raise FetchError(f"{uri!r}: a NUL character in a URI names no file")
    if uri.startswith("./"):
        if base:  # merged at a path segment boundary (PS3.3 P.2.1; PS3.17 YYYY.7.2)
            uri = base.rstrip("/") + "/" + uri[2:]
        elif folder is not None:  # no Stored Instance Base URI: the inventory's folder
            return "file", str(folder / unquote(uri[2:]))
        else:
            raise FetchError(f"{uri!r} is relative, and no Stored Instance Base URI applies")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"{uri!r}: a file URI on host {parts.netloc!r} is not read here")
        return "file", unquote(parts.path)
    if scheme in _DEFAULT_PORT:
        return "http", uri
    raise FetchError(f"unsupported URI scheme in {uri!r}: file, http and https are supported")


def _declared(fa: FileAccess, policy: FetchPolicy) -> None:
    """File Length in Container within the limit (PS3.3 Table C.38.2-2: UV, up to 2^64-1)."""
    if fa.length is not None and fa.length > policy.max_object_size:
        raise FetchError(
            f"File Length in Container {fa.length} is larger than the limit "
            f"{policy.max_object_size} bytes (--max-object-size)"
        )


def _read(source: str, fa: FileAccess, policy: FetchPolicy, *, downloaded: bool = False) -> bytes:
    """The object in the file `source`, by the IOD library's one reader, bounded.

    A regular file only; a byte range is checked against the file's size and a compressed
    member inflated no further than File Length in Container + 1 (else ``max_object_size``)
    before anything is held (:func:`dicom_inventory.containers.read_object`). A `downloaded`
    BLOB range is the whole file.
    """
    blob = _kind(fa) in _BLOB
    try:
        if downloaded and blob:
            return read_object(source, max_size=policy.max_object_size)
        return read_object(
            source,
            fa.container_type,
            fa.filename_in_container,
            fa.offset,
            fa.length,
            max_size=policy.max_object_size,
        )
    except ContainerError as exc:
        why = str(exc)  # named by the link, not by the real (or staging) path
        raise FetchError(f"{fa.uri}: {why.removeprefix(f'{source}: ')}") from exc


def _content_start(rsp: httpx.Response, url: str, offset: int) -> int:
    """Bytes of the body to drop before the object: 0 for a 206 that starts at `offset`."""
    if rsp.status_code == httpx.codes.PARTIAL_CONTENT:
        got = rsp.headers.get("content-range", "")
        if not got.startswith(f"bytes {offset}-"):
            raise FetchError(f"{url}: asked for bytes from {offset}, got range {got!r}")
        return 0
    if rsp.status_code == httpx.codes.OK:
        return offset  # the server ignored the Range request
    raise FetchError(f"{url}: HTTP {rsp.status_code} {rsp.reason_phrase}".rstrip())


class _Links:
    """Reads the object a link names, within a policy; http(s) bodies go to `stage`."""

    def __init__(
        self, policy: FetchPolicy, stage: Path, stop: threading.Event | None = None
    ) -> None:
        self.policy = policy
        self.stage = stage
        self.stop = stop or threading.Event()
        """Set when the run is interrupted: a download in progress ends at its next chunk."""
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    @property
    def http(self) -> httpx.Client:
        with self._lock:  # made on the first http(s) link, shared by the workers
            if self._http is None:  # trust_env off: no proxy, .netrc or SSL env from the caller
                self._http = httpx.Client(
                    follow_redirects=False,
                    timeout=self.policy.timeout,
                    verify=self.policy.verify,
                    trust_env=False,
                    headers={"User-Agent": "dicom-inventory fetch", "Accept-Encoding": "identity"},
                )
        return self._http

    def read(
        self, fa: FileAccess, allowed: _AllowList, base: str | None, folder: Path | None
    ) -> bytes:
        """The bytes of the object `fa` names, if `allowed`; :class:`FetchError` why not."""
        _declared(fa, self.policy)
        scheme, where = _locate(fa.uri, base, folder)
        if scheme == "file":
            return _read(allowed.path(where), fa, self.policy)
        tmp = self.stage / f"{uuid.uuid4().hex}.download"
        try:
            if _kind(fa) in _BLOB:
                self._download(where, allowed, tmp, fa.offset or 0, fa.length)
            else:
                self._download(where, allowed, tmp, 0, None)
            return _read(str(tmp), fa, self.policy, downloaded=True)
        finally:
            tmp.unlink(missing_ok=True)

    def _download(
        self, url: str, allowed: _AllowList, tmp: Path, offset: int, length: int | None
    ) -> None:
        """Bytes [offset, offset + length) of `url` (all from `offset`, at most the cap) to `tmp`."""
        headers = {}
        if offset or length is not None:
            end = "" if not length else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{end}"
        first = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                allowed.url(url)
            except FetchError as exc:
                raise FetchError(
                    f"{first}: redirected to {exc}" if url != first else str(exc)
                ) from None
            try:
                with self.http.stream("GET", url, headers=headers) as rsp:
                    if rsp.is_redirect:
                        url = urljoin(url, rsp.headers.get("location", ""))
                        continue
                    skip = _content_start(rsp, url, offset)
                    coding = rsp.headers.get("content-encoding", "identity").lower()
                    if coding not in ("", "identity"):
                        raise FetchError(f"{url}: Content-Encoding {coding!r}, not asked for")
                    self._save(rsp.iter_raw(_CHUNK), tmp, url, skip, length)
                    return
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from exc
        raise FetchError(f"{first}: more than {MAX_REDIRECTS} redirects")

    def _save(
        self, chunks: Iterator[bytes], tmp: Path, url: str, skip: int, length: int | None
    ) -> None:
        """Write the body, less `skip` bytes, up to `length` (else the cap, more is an error)."""
        cap = self.policy.max_object_size
        if skip > cap:
            raise FetchError(
                f"{url}: the server ignores Range requests, and the object starts at byte {skip}, "
                f"past the limit {cap} (--max-object-size)"
            )
        keep = cap + 1 if length is None else length
        got = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                if self.stop.is_set():
                    raise FetchError(f"{url}: {_STOPPED}")
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                chunk = chunk[: keep - got]
                f.write(chunk)
                got += len(chunk)
                if got >= keep:
                    break
        if length is None and got > cap:
            raise FetchError(
                f"{url}: the object is larger than the limit {cap} bytes (--max-object-size)"
            )
        if length is not None and got < length:
            raise FetchError(
                f"{url}: the body ended after {got} bytes; File Length in Container is {length}"
            )


def read_linked(
    fa: FileAccess, base: Path | None = None, *, policy: FetchPolicy | None = None
) -> bytes:
    """The bytes of the object one File Access item points to.

    The object is downloaded if the link is http(s), then read by the IOD library's one
    container reader (:func:`dicom_inventory.containers.read_object`), with its safety rule.

    Parameters
    ----------
    fa
        The File Access item.
    base
        The folder a relative ``./`` URI is read from (the inventory's).
    policy
        What may be read; without one, every link is followed (``allow_any``): for links
        you trust, such as your own archive's.

    Raises
    ------
    FetchError
        For every reason the object cannot be read, the link is refused or exceeds a limit.
    """
    policy = policy or FetchPolicy(allow_any=True)
    allowed = _AllowList(tuple(_root(r) for r in policy.allow_roots), any_=policy.allow_any)
    allowed = allowed.extended(policy.allow_urls)
    with tempfile.TemporaryDirectory(prefix="dicom-inventory-fetch-") as stage:
        links = _Links(policy, Path(stage))
        try:
            return links.read(fa, allowed, None, base)
        except FetchError:
            raise
        except _RECORD_ERRORS as exc:
            raise FetchError(f"{fa.uri}: {_why(exc)}") from exc
        finally:
            links.close()


def check_linked(data: bytes, inst: InstanceRecord, fa: FileAccess) -> Dataset:
    """The object read from a link, parsed and held to its record.

    Its length, SOP Instance UID and transfer syntax must be as the File Access item says
    (PS3.3 C.38.2.2); :class:`FetchError` names the first difference.
    """
    if fa.length is not None and len(data) != fa.length:
        raise FetchError(f"length {len(data)}, the record says {fa.length}")
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        uid = str(ds.get("SOPInstanceUID", ""))
        ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    except _PYDICOM_ERRORS as exc:
        raise FetchError(f"not a readable DICOM object: {_why(exc)}") from exc
    if uid != inst.sop_instance_uid:
        raise FetchError(f"SOP Instance UID {uid!r}, the record names {inst.sop_instance_uid!r}")
    if fa.transfer_syntax_uid and ts != fa.transfer_syntax_uid:
        raise FetchError(f"transfer syntax {ts}, the record says {fa.transfer_syntax_uid}")
    return ds


_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _field(keyword: str) -> str:
    return _SNAKE.sub("_", keyword).lower()


def _current(keyword: str, *records: Any) -> tuple[bool, Any]:
    """The current value of `keyword` in the most specific record that has it."""
    name = _field(keyword)
    for rec in reversed(records):
        if rec is None:
            continue
        if name in getattr(rec, "__slots__", ()) or hasattr(rec, name):
            value = getattr(rec, name, None)
            if value is not None:
                return True, value
        other = getattr(rec, "other", None) or {}
        if keyword in other:
            return True, other[keyword]
    return False, None


#: Modifying System (0400,0563) of an item whose change the inventory does not attribute to a
#: system: this tool, which applies it to the object.
MODIFYING_SYSTEM: Final = "dicom-inventory fetch"
#: Reason for the Attribute Modification (0400,0565) when the inventory gives none: the object's
#: values are coerced to the archive's (PS3.3 C.12.1.1.9.2 Defined Term ``COERCE``).
_DEFAULT_REASON: Final = "COERCE"


def _provenance(oa: OriginalAttributes | None, now: str) -> Dataset:
    """An Original Attributes item without Modified Attributes, from the record's item `oa`.

    It carries the change as the archive recorded it, ours where `oa` gives nothing. Attribute Modification DateTime, Modifying System and Reason for the Attribute Modification
    are Type 1, Source of Previous Values Type 2 (PS3.3 Table C.12.1.1.9-1).
    """

    def given(value: Any) -> str:
        return str(getattr(value, "value", value) or "").strip()

    item = Dataset()
    item.AttributeModificationDateTime = given(oa and oa.modification_datetime) or now
    item.ModifyingSystem = given(oa and oa.modifying_system) or MODIFYING_SYSTEM
    item.SourceOfPreviousValues = given(oa and oa.source_of_previous_values)
    item.ReasonForTheAttributeModification = given(oa and oa.reason) or _DEFAULT_REASON
    return item


def _apply(
    ds: Dataset, st: StudyRecord, se: SeriesRecord | None, inst: InstanceRecord
) -> tuple[str, ...]:
    """Set the stale attributes to their current values; record the replaced ones (C.12.1.1.9).

    The record's Original Attributes items say who changed which attributes, when and why; the
    object gets one new item per such change, carrying that item's Attribute Modification
    DateTime, Modifying System, Source of Previous Values and Reason, and the object's values
    that were replaced. An attribute named by several items goes with the latest (the change
    that gave its current value). Where the inventory gives no value, ours is used: now, this
    tool, ``COERCE``.
    """
    owner: dict[str, OriginalAttributes] = {}
    for rec in (st, se, inst):
        for oa in getattr(rec, "original_attributes", ()) or ():
            for k in oa.modified:
                held = owner.get(k)
                if held is None or str(oa.modification_datetime or "") >= str(
                    held.modification_datetime or ""
                ):
                    owner[k] = oa
    groups: dict[int, tuple[OriginalAttributes, Dataset]] = {}
    changed = []
    for kw, oa in owner.items():
        found, value = _current(kw, st, se, inst)
        if not found:
            continue
        if isinstance(value, (tuple, list)):
            value = list(value)
        old = ds.get(kw)
        if old is not None and str(old) == str(
            value if not isinstance(value, list) else "\\".join(map(str, value))
        ):
            continue
        modified = groups.setdefault(id(oa), (oa, Dataset()))[1]
        if kw in ds:
            modified[kw] = copy.deepcopy(ds[kw])  # the element is changed in place below
        else:
            setattr(modified, kw, None)
        setattr(ds, kw, value)
        changed.append(kw)
    if changed:
        now = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        seq = list(ds.get("OriginalAttributesSequence", []))
        for oa, modified in sorted(
            groups.values(), key=lambda g: str(g[0].modification_datetime or "")
        ):
            item = _provenance(oa, now)
            item.ModifiedAttributesSequence = [modified]
            seq.append(item)
        ds.OriginalAttributesSequence = seq
    return tuple(changed)


# ----------------------------------------------------------------------------- writing
class _Out:
    """The output folder: folders opened without following links, files renamed into place.

    A private staging folder (``out/.fetch-*``, mode 0700) holds downloads and new files until
    they are complete; it is removed by :meth:`close`.
    """

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out
        self.fd = os.open(out, os.O_RDONLY | _DIRECTORY)  # `out` itself is the caller's choice
        self.stage = Path(tempfile.mkdtemp(prefix=".fetch-", dir=out))
        self.stage_fd = os.open(self.stage, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)

    def close(self) -> None:
        """Close the folders and remove the staging folder; safe to call again."""
        for fd in (self.stage_fd, self.fd):
            if fd >= 0:
                os.close(fd)
        self.stage_fd = self.fd = -1
        shutil.rmtree(self.stage, ignore_errors=True)

    def folder(self, names: tuple[str, ...], create: bool) -> int | None:
        """A descriptor of ``out/names…`` (made if `create`), never through a link; else None."""
        fd = os.dup(self.fd)
        try:
            for n, name in enumerate(names):
                if create:
                    try:
                        os.mkdir(name, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    sub = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    if create:
                        raise
                    os.close(fd)
                    return None
                except OSError as exc:
                    where = self.path.joinpath(*names[: n + 1])
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    if stat.S_ISLNK(os.lstat(name, dir_fd=fd).st_mode):
                        raise FetchError(
                            f"{where} is a symbolic link: refused (fetch never writes through "
                            "a link)"
                        ) from exc
                    raise FetchError(f"{where} is not a folder") from exc
                os.close(fd)
                fd = sub
            return fd
        except BaseException:
            os.close(fd)
            raise

    def existing(self, fd: int, name: str, where: Path) -> int | None:
        """The size of the regular file `name` in folder `fd`; None if there is none."""
        try:
            st = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            raise FetchError(f"{where} is a symbolic link: refused, not taken for the object")
        if not stat.S_ISREG(st.st_mode):
            raise FetchError(f"{where} is there and is not a regular file")
        return st.st_size

    def write(self, fd: int, name: str, where: Path, content: bytes | Dataset) -> int:
        """Write `content` as `name` in folder `fd`: made whole in the staging folder, renamed."""
        tmp = f"{uuid.uuid4().hex}.part"
        new = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644, dir_fd=self.stage_fd
        )
        try:
            with os.fdopen(new, "wb") as f:
                if isinstance(content, Dataset):
                    content.save_as(f, enforce_file_format=True)
                else:
                    f.write(content)
                size = f.tell()
            if self.existing(fd, name, where) is not None:
                raise FetchError(f"{where} appeared while this record was fetched")
            os.replace(
                tmp, name, src_dir_fd=self.stage_fd, dst_dir_fd=fd
            )  # replaces, never follows
            return size
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=self.stage_fd)
            except FileNotFoundError:
                pass
            raise


def _names(st: StudyRecord, se: SeriesRecord | None, inst: InstanceRecord) -> tuple[str, ...]:
    """``(study, series, <sop>.dcm)``: only from UIDs, each checked to be one."""
    parts = [st.study_instance_uid, se.series_instance_uid if se else "", inst.sop_instance_uid]
    for p in parts:
        if p and not is_valid_uid(p):
            raise FetchError(f"{p!r} is not a valid UID: it cannot name a file")
    return (*[p for p in parts[:-1] if p], f"{inst.sop_instance_uid}.dcm")


@dataclass(frozen=True)
class _Record:
    """One instance record, with what its links are read against."""

    st: StudyRecord
    se: SeriesRecord | None
    inst: InstanceRecord
    base: str | None
    """The Stored Instance Base URI in force: the series', else the study's, else the inventory's."""
    bases: tuple[str, ...]
    """Every Stored Instance Base URI that applies (inventory, study, series)."""
    folder: Path
    """The folder of the inventory file the record is in."""


def _one(
    rec: _Record, out: _Out, links: _Links, allowed: _AllowList, apply_updates: bool
) -> FetchResult:
    uid = rec.inst.sop_instance_uid
    if not rec.inst.file_access:
        return FetchResult(uid, "no-link")
    if links.stop.is_set():  # interrupted while this record waited for a worker
        return FetchResult(uid, "failed", error=_STOPPED)
    fd: int | None = None
    try:
        names = _names(rec.st, rec.se, rec.inst)
        where = out.path.joinpath(*names)
        fd = out.folder(names[:-1], create=False)
        if fd is not None:
            size = out.existing(fd, names[-1], where)
            if size is not None:
                return FetchResult(uid, "skipped", str(where), size=size)
        if links.policy.trust_base_uris:
            allowed = _allowed_for(allowed, rec.bases)
        errors = []
        for fa in rec.inst.file_access:  # first location that reads and checks out
            try:
                data = links.read(fa, allowed, rec.base, rec.folder)
                ds = check_linked(data, rec.inst, fa)
                break
            except _RECORD_ERRORS as exc:
                errors.append(_why(exc))
        else:
            raise FetchError("; ".join(errors))
        updated: tuple[str, ...] = ()
        if apply_updates:
            try:
                updated = _apply(ds, rec.st, rec.se, rec.inst)
            except _PYDICOM_ERRORS as exc:
                raise FetchError(f"cannot be brought up to date: {_why(exc)}") from exc
        if links.stop.is_set():  # nothing new under a final name once interrupted
            raise FetchError(_STOPPED)
        if fd is None:
            fd = out.folder(names[:-1], create=True)
            assert fd is not None
        try:
            size = out.write(fd, names[-1], where, ds if updated else data)
        except _PYDICOM_ERRORS as exc:
            raise FetchError(f"cannot be written: {_why(exc)}") from exc
        return FetchResult(uid, "fetched", str(where), updated, size=size)
    except _RECORD_ERRORS as exc:
        return FetchResult(uid, "failed", error=_why(exc))
    finally:
        if fd is not None:
            os.close(fd)


def _records(paths: Iterable[Path]) -> Iterator[_Record]:
    """Every instance record of the inventory files, in order."""
    for path in paths:
        with InventoryReader(path) as r:
            ep = r.header.study_access_end_points
            top = ep.stored_instance_base_uri if ep is not None else None
            for st in r.studies():
                for se in st.series:
                    levels = (top, st.stored_instance_base_uri, se.stored_instance_base_uri)
                    chain = tuple(b for b in levels if b)
                    base = chain[-1] if chain else None
                    for inst in se.instances:
                        yield _Record(st, se, inst, base, chain, path.parent)


def _items(ds: Any, tag: int) -> list[Any]:
    el = ds.get(tag)
    return el[1] if el is not None and el[0] == "SQ" else []


def _count(nodes: Iterable[Path]) -> int:
    """The instance records of the files `nodes`, counted in the raw items (not built)."""
    n = 0
    for path in nodes:
        with InventoryReader(path) as r:
            for st in r.raw_studies():
                for se in _items(st, tags.InventoriedSeriesSequence):
                    n += len(_items(se, tags.InventoriedInstancesSequence))
    return n


def _seen(uid: str, seen: set[bytes]) -> bool:
    """Whether `uid` was listed before in this run (kept as a 16-byte digest: memory is flat-ish)."""
    key = hashlib.blake2b(uid.encode(), digest_size=16).digest()
    if key in seen:
        return True
    seen.add(key)
    return False


def fetch_inventory(
    paths: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    apply_updates: bool = False,
    workers: int = 4,
    progress: Callable[[FetchResult], None] | None = None,
    policy: FetchPolicy | None = None,
    total: Callable[[int], None] | None = None,
) -> FetchSummary:
    """Fetch every linked instance of the inventories (roots followed) into `out`.

    Parameters
    ----------
    paths
        Inventory files; each is a root whose incorporated inventories are read too.
    out
        The output folder: ``<out>/<study>/<series>/<sop>.dcm``.
    apply_updates
        Write the archive's current values into the objects (PS3.3 C.12.1.1.9).
    workers
        Records fetched at once.
    progress
        Called with each record's result.
    total
        Called once before the first record with the number of instance records in the
        trees (each counted once; a progress display's total). The records are counted in a
        first pass over the raw items (Inventoried Series and Instances Sequences, PS3.3
        C.38.1.2), without building them; without `total` there is no such pass.
    policy
        What links may be followed and how much is read (:class:`FetchPolicy`); by default
        the folders of the inventory files and the inventory's Stored Instance Base URIs.

    Returns
    -------
    FetchSummary
        Counts, and each failure with its reason; a bad record never ends the run.

    Raises
    ------
    InventoryError
        If an inventory file cannot be read.
    KeyboardInterrupt
        On Ctrl-C (or raised by `progress`): the queued records are dropped, the ones in
        progress stop at their next chunk and write nothing, the staging folder is removed.
        Every object already under its final name is whole, so a re-run continues.
    """
    policy = policy or FetchPolicy()
    files = [Path(p) for p in paths]
    nodes = [Path(p) for p in tree_paths(files)]  # the trees, depth first, each instance once
    folders = {p.parent for p in nodes}
    allowed = _AllowList(
        tuple(_root(r) for r in (*policy.allow_roots, *folders)), any_=policy.allow_any
    ).extended(policy.allow_urls)
    if total is not None:
        total(_count(nodes))
    summary = FetchSummary()
    seen: set[bytes] = set()
    box = _Out(Path(out))
    links = _Links(policy, box.stage)
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        pending: set[Future[FetchResult]] = set()
        for rec in _records(nodes):
            uid = rec.inst.sop_instance_uid
            if rec.inst.file_access and _seen(uid, seen):
                _collect(_duplicate(uid), summary, progress)
                continue
            pending.add(pool.submit(_one, rec, box, links, allowed, apply_updates))
            if len(pending) >= workers * _QUEUED_PER_WORKER:  # bounded: the inventory may be huge
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:  # as they end: the progress display moves with the workers
                    _collect(fut.result(), summary, progress)
        for fut in as_completed(pending):
            _collect(fut.result(), summary, progress)
    except BaseException:  # Ctrl-C (KeyboardInterrupt) or an unreadable inventory
        links.stop.set()  # queued records are dropped, downloads end at their next chunk
        raise
    finally:
        _uninterrupted(
            functools.partial(pool.shutdown, wait=True, cancel_futures=True),
            links.close,
            box.close,
        )
    return summary


#: Records submitted ahead per worker: enough to keep them busy, few to drop on Ctrl-C.
_QUEUED_PER_WORKER: Final = 8


def _uninterrupted(*steps: Callable[[], object]) -> None:
    """Run the clean-up `steps` to their end even if Ctrl-C is pressed again meanwhile.

    The workers are waited for (each stops at its next chunk once interrupted) before the
    staging folder is removed, so nothing writes into it afterwards and no worker is left
    to print a traceback at exit. A KeyboardInterrupt during a step restarts that step (each
    is safe to repeat) and is raised once all are done.
    """
    interrupted = False
    for step in steps:
        while True:
            try:
                step()
                break
            except KeyboardInterrupt:
                interrupted = True
    if interrupted:
        raise KeyboardInterrupt


def _duplicate(uid: str) -> FetchResult:
    return FetchResult(
        uid,
        "failed",
        error=f"SOP Instance UID {uid} is listed by more than one record: fetched once, "
        "from the first",
    )


def _collect(
    r: FetchResult, summary: FetchSummary, progress: Callable[[FetchResult], None] | None
) -> None:
    if r.status == "fetched":
        summary.fetched += 1
        summary.bytes += r.size
        summary.updated += bool(r.updated)
    elif r.status == "skipped":
        summary.skipped += 1
    elif r.status == "no-link":
        summary.no_link += 1
    else:
        summary.failed += 1
        if len(summary.failures) < MAX_FAILURES_KEPT:  # memory flat on a hostile inventory
            summary.failures.append(r)
    if progress is not None:
        progress(r)
