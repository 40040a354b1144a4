"""Fetch the stored files an inventory links to, check them, optionally bring them up to date.

For every instance record with a File Access item (PS3.3 C.38.2.2, Stored File Access Macro)
the object is read from its URI — ``file:`` or ``http(s):`` — and its container (ZIP, TAR,
TARGZIP, GZIP, BLOB byte range), then checked: it must be a Part 10 object whose SOP Instance
UID is the record's, whose transfer syntax is the Stored Instance Transfer Syntax UID and whose
length is File Length in Container, when given.

With ``apply_updates``, the attributes the archive changed in its database only (the record's
Original Attributes Sequence names them, and the record holds their current values) are set to
the current values, and the values they replace are recorded in the object's own Original
Attributes Sequence (0400,0561) — one new item with Modified Attributes Sequence, Attribute
Modification DateTime, Modifying System, Source of Previous Values and Reason for the Attribute
Modification, as PS3.3 C.12.1.1.9 expects.

Safety: output paths are made from UIDs only (``<out>/<study>/<series>/<sop>.dcm``), checked to be
valid UIDs, never from a URI or member name, so nothing is ever written outside ``out``; TAR
members that are links (symbolic or hard) are refused. Files are written under a temporary name
and renamed, so an existing output file is complete: a re-run skips it (resume).
"""

from __future__ import annotations

import copy
import datetime
import io
import os
import re
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pydicom
from dicom_inventory.containers import ContainerError, read_object
from dicom_inventory.errors import InventoryError
from dicom_inventory.model import FileAccess, InstanceRecord, SeriesRecord, StudyRecord
from dicom_inventory.read import iter_inventory
from dicom_inventory.uid import is_valid_uid
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

__all__ = [
    "FetchError",
    "FetchResult",
    "FetchSummary",
    "check_linked",
    "fetch_inventory",
    "read_linked",
]


class FetchError(InventoryError):
    """A linked object could not be read or is not the instance the record names."""


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


def _open_uri(uri: str, base: Path | None) -> tuple[str, Path | None, bytes | None]:
    """(scheme, local path, downloaded bytes) for a File Access URI."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file", Path(unquote(parts.path)), None
    if not parts.scheme and uri.startswith("./") and base is not None:
        return "file", base / unquote(uri[2:]), None
    if parts.scheme in ("http", "https"):
        with urllib.request.urlopen(uri, timeout=60) as rsp:  # noqa: S310 - http(s) only
            return parts.scheme, None, rsp.read()
    raise FetchError(f"unsupported URI scheme in {uri!r}: file, http and https are supported")


def read_linked(fa: FileAccess, base: Path | None = None) -> bytes:
    """The bytes of the object one File Access item points to.

    The object is downloaded if the link is http(s), then read by the IOD library's one
    container reader (:func:`dicom_inventory.containers.read_object`), with its safety rule.
    """
    _, path, data = _open_uri(fa.uri, base)
    source: Path | bytes = data if data is not None else path  # type: ignore[assignment]
    try:
        return read_object(
            source, fa.container_type, fa.filename_in_container, fa.offset, fa.length
        )
    except ContainerError as exc:
        raise FetchError(f"{fa.uri}: {exc}") from exc


def check_linked(data: bytes, inst: InstanceRecord, fa: FileAccess) -> Dataset:
    """The object read from a link, parsed and held to its record.

    Its length, SOP Instance UID and transfer syntax must be as the File Access item says
    (PS3.3 C.38.2.2); :class:`FetchError` names the first difference.
    """
    if fa.length is not None and len(data) != fa.length:
        raise FetchError(f"length {len(data)}, the record says {fa.length}")
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise FetchError(f"not a readable DICOM object: {exc}") from exc
    uid = str(ds.get("SOPInstanceUID", ""))
    if uid != inst.sop_instance_uid:
        raise FetchError(f"SOP Instance UID {uid!r}, the record names {inst.sop_instance_uid!r}")
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if fa.transfer_syntax_uid and ts != fa.transfer_syntax_uid:
        raise FetchError(f"transfer syntax {ts}, the record says {fa.transfer_syntax_uid}")
    return ds


def _apply(
    ds: Dataset, st: StudyRecord, se: SeriesRecord | None, inst: InstanceRecord
) -> tuple[str, ...]:
    """Set the stale attributes to their current values; record the replaced ones (C.12.1.1.9)."""
    stale: list[str] = []
    for rec in (st, se, inst):
        for oa in getattr(rec, "original_attributes", ()) or ():
            stale += [k for k in oa.modified if k not in stale]
    modified = Dataset()
    changed = []
    for kw in stale:
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
        if kw in ds:
            modified[kw] = copy.deepcopy(ds[kw])  # the element is changed in place below
        else:
            setattr(modified, kw, None)
        setattr(ds, kw, value)
        changed.append(kw)
    if changed:
        item = Dataset()
        item.ModifiedAttributesSequence = [modified]
        item.AttributeModificationDateTime = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        item.ModifyingSystem = "dicom-inventory fetch"
        item.SourceOfPreviousValues = ""
        item.ReasonForTheAttributeModification = "COERCE"
        seq = list(ds.get("OriginalAttributesSequence", []))
        seq.append(item)
        ds.OriginalAttributesSequence = seq
    return tuple(changed)


def _target(out: Path, st: StudyRecord, se: SeriesRecord | None, inst: InstanceRecord) -> Path:
    parts = [st.study_instance_uid, se.series_instance_uid if se else "", inst.sop_instance_uid]
    for p in parts:
        if p and not is_valid_uid(p):
            raise FetchError(f"{p!r} is not a valid UID: it cannot name a file")
    target = out.joinpath(*[p for p in parts[:-1] if p], f"{inst.sop_instance_uid}.dcm")
    if os.path.commonpath([target.resolve(), out.resolve()]) != str(out.resolve()):
        raise FetchError(f"{target} would be outside {out}")  # cannot happen with valid UIDs
    return target


def _one(
    out: Path,
    st: StudyRecord,
    se: SeriesRecord | None,
    inst: InstanceRecord,
    apply_updates: bool,
    base: Path | None,
) -> FetchResult:
    uid = inst.sop_instance_uid
    if not inst.file_access:
        return FetchResult(uid, "no-link")
    try:
        target = _target(out, st, se, inst)
        if target.exists():
            return FetchResult(uid, "skipped", str(target), size=target.stat().st_size)
        errors = []
        for fa in inst.file_access:  # first location that reads and checks out
            try:
                data = read_linked(fa, base)
                ds = check_linked(data, inst, fa)
                break
            except FetchError as exc:
                errors.append(str(exc))
        else:
            raise FetchError("; ".join(errors))
        updated: tuple[str, ...] = ()
        if apply_updates:
            updated = _apply(ds, st, se, inst)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        if updated:
            ds.save_as(tmp, enforce_file_format=True)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, target)
        return FetchResult(uid, "fetched", str(target), updated, size=target.stat().st_size)
    except FetchError as exc:
        return FetchResult(uid, "failed", error=str(exc))


def _work(
    studies: Iterable[StudyRecord],
) -> Iterator[tuple[StudyRecord, SeriesRecord | None, InstanceRecord]]:
    for st in studies:
        for se in st.series:
            for inst in se.instances:
                yield st, se, inst


def fetch_inventory(
    paths: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    apply_updates: bool = False,
    workers: int = 4,
    progress: Callable[[FetchResult], None] | None = None,
) -> FetchSummary:
    """Fetch every linked instance of the inventories (roots followed) into `out`."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [Path(p) for p in paths]
    base = files[0].parent if files else None
    summary = FetchSummary()
    with ThreadPoolExecutor(max(1, workers)) as pool:
        pending: list[Any] = []
        for st, se, inst in _work(iter_inventory(files)):
            pending.append(pool.submit(_one, out_dir, st, se, inst, apply_updates, base))
            if len(pending) >= workers * 8:  # bounded: the inventory may be huge
                _collect(pending.pop(0).result(), summary, progress)
        for fut in pending:
            _collect(fut.result(), summary, progress)
    return summary


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
        summary.failures.append(r)
    if progress is not None:
        progress(r)
