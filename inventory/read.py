"""Streaming reader of Inventory SOP Instances (PS3.3 A.88).

Reads study records one at a time out of an Inventory file without loading the whole file:
memory is bounded by the largest single study record. It reads files written by any toolkit:
Explicit and Implicit VR Little Endian, Deflated Explicit VR Little Endian, defined and
undefined lengths ("tolerant on reading"); the validator judges conformance, the reader only
refuses what it cannot parse, with an error naming the file, offset and tag.

Three views of the same stream:

* :meth:`InventoryReader.raw_studies` -- raw data sets ``{tag: (vr, value, offset)}`` (used by
  the validator);
* :meth:`InventoryReader.studies` -- typed :class:`~dicom_inventory.model.StudyRecord` objects
  whose ``series``/``instances`` are lists;
* :func:`~dicom_inventory.rows.iter_rows` -- flat rows, one per record at the inventory's
  level (in :mod:`dicom_inventory.rows`, which reads through this module).

Decoding raw items into the model lives in :mod:`dicom_inventory._decode`.

:func:`iter_inventory` follows the tree of split instances from a root (PS3.3 C.38.1.1.5).
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from dicom_inventory import tags
from dicom_inventory._decode import _Text, header_from_raw, study_from_raw
from dicom_inventory._parse import (
    IMPLICIT_LE,
    UNDEFINED,
    ByteSource,
    NeedMore,
    Parser,
    RawDataset,
    ascii_value,
    open_part10,
)
from dicom_inventory.enum import InventoryLevel
from dicom_inventory.errors import InventoryReadError
from dicom_inventory.model import InventoryHeader, InventoryReference, StudyRecord
from dicom_inventory.policy import ReadPolicy
from dicom_inventory.uid import INVENTORY_STORAGE
from pydicom.uid import DeflatedExplicitVRLittleEndian

__all__ = [
    "InventoryReader",
    "TreeNode",
    "iter_inventory",
    "read_dataset",
    "read_header",
    "resolve_tree",
    "tree_paths",
]

STUDIES_TAG = tags.InventoriedStudiesSequence
_log = logging.getLogger(__name__)
_NOT_IN_A_NAME = frozenset("/\\*?[]")  # a UID with these is no file name (nor a glob)
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


# --------------------------------------------------------------------------- the reader
class InventoryReader:
    """Streams the content of one Inventory SOP Instance file.

    Parameters
    ----------
    path : str or os.PathLike
        The Part 10 file.
    policy : ReadPolicy, optional
        Limits on element and item sizes.
    check_sop_class : bool
        Refuse a file whose SOP Class UID is not Inventory Storage (default True).

    Raises
    ------
    NotDicomError
        Not a Part 10 file.
    InventoryReadError
        Unreadable, truncated, wrong SOP Class, or no Inventory content.

    Notes
    -----
    The top-level elements after Inventoried Studies Sequence (Completion Status, the record
    counts, Transaction UID) are only known once the studies were read: :attr:`raw_header`
    holds them after :meth:`raw_studies` is exhausted; :func:`read_header` finds them without
    reading the records when it can.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        policy: ReadPolicy | None = None,
        check_sop_class: bool = True,
    ) -> None:
        self.path = str(path)
        self.policy = policy or ReadPolicy()
        try:
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise InventoryReadError(f"cannot open: {exc.strerror}", path=self.path) from exc
        try:
            size = os.fstat(self._file.fileno()).st_size
            self.src, self.file_meta, self.transfer_syntax, pos = open_part10(
                self._file, self.path, self.policy, size
            )
            self.parser = Parser(self.src, explicit=self.transfer_syntax != IMPLICIT_LE)
            self.raw_header, self._pos = self._parse_top(pos, until=STUDIES_TAG)
            self._state = "head"
            sop_class = self.raw_header.get(tags.SOPClassUID)
            if check_sop_class:
                uid = ascii_value(sop_class)
                if uid != INVENTORY_STORAGE:
                    raise InventoryReadError(
                        f"SOP Class UID is {uid or 'missing'!r}, expected Inventory Storage "
                        f"{INVENTORY_STORAGE} (PS3.3 A.88)",
                        path=self.path,
                        tag=tags.SOPClassUID,
                    )
        except BaseException:
            self._file.close()
            raise
        self.text = _Text(()).child(self.raw_header)

    # -- plumbing --------------------------------------------------------------------------
    def _parse_top(self, pos: int, until: int = 1 << 32) -> tuple[RawDataset, int]:
        src = self.src
        start = src.base + pos
        while True:
            try:
                ds, end = self.parser.dataset(src.buf, start - src.base, None, 0, until)
                return ds, end
            except NeedMore:
                if src.eof:
                    raise InventoryReadError(
                        "file ends inside a top-level element: truncated",
                        path=self.path,
                        offset=src.base + len(src.buf),
                    ) from None
                src.discard(start - src.base)
                src.more()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> InventoryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def header(self) -> InventoryHeader:
        """The header as known so far (complete once the studies were read)."""
        return header_from_raw(self.raw_header)

    @property
    def level(self) -> InventoryLevel | None:
        """Inventory Level (0008,0403) of the file, if it is a valid value."""
        el = self.raw_header.get(tags.InventoryLevel)
        value = ascii_value(el)
        return InventoryLevel(value) if value in InventoryLevel._value2member_map_ else None

    def raw_studies(self) -> Iterator[RawDataset]:
        """Yield each item of Inventoried Studies Sequence (0008,0423) as a raw data set.

        After the last item, the trailing top-level elements are added to :attr:`raw_header`.
        """
        if self._state != "head":
            raise InventoryReadError("the studies of this reader were already read", path=self.path)
        self._state = "studies"
        src = self.src
        parser = self.parser
        pos = self._pos
        # the sequence header
        while len(src.buf) - pos < 12 and not src.eof:
            src.discard(pos)
            pos = 0
            src.more()
        buf = src.buf
        if len(buf) - pos < 8:
            self._state = "done"  # no studies sequence at all (missing Type 2 element)
            return
        tag = int.from_bytes(buf[pos : pos + 2], "little") << 16 | int.from_bytes(
            buf[pos + 2 : pos + 4], "little"
        )
        if tag != STUDIES_TAG:
            self._state = "done"
            self._read_tail(pos)
            return
        seq_start = src.base + pos
        # Record that the sequence is present; its items are streamed, never kept here.
        self.raw_header[STUDIES_TAG] = ("SQ", [], seq_start)
        if parser.explicit:
            if buf[pos + 4 : pos + 6] != b"SQ" and buf[pos + 4 : pos + 6] != b"UN":
                raise InventoryReadError(
                    f"Inventoried Studies Sequence has VR {buf[pos + 4 : pos + 6]!r}, expected SQ",
                    path=self.path,
                    offset=seq_start,
                    tag=STUDIES_TAG,
                )
            length = int.from_bytes(buf[pos + 8 : pos + 12], "little")
            pos += 12
        else:
            length = int.from_bytes(buf[pos + 4 : pos + 8], "little")
            pos += 8
        stop_abs = None if length == UNDEFINED else src.base + pos + length
        if stop_abs is not None and src.size is not None and stop_abs > src.size:
            raise InventoryReadError(
                f"Inventoried Studies Sequence length {length} runs past the end of the file",
                path=self.path,
                offset=seq_start,
                tag=STUDIES_TAG,
            )
        index = 0
        while True:
            if stop_abs is not None and src.base + pos >= stop_abs:
                break
            if len(src.buf) - pos < 8:
                if src.eof:
                    raise InventoryReadError(
                        f"file ends inside Inventoried Studies Sequence after {index} items: "
                        "truncated",
                        path=self.path,
                        offset=src.base + len(src.buf),
                        tag=STUDIES_TAG,
                    )
                src.discard(pos)
                pos = 0
                src.more()
                continue
            buf = src.buf
            itag = int.from_bytes(buf[pos : pos + 2], "little") << 16 | int.from_bytes(
                buf[pos + 2 : pos + 4], "little"
            )
            ilen = int.from_bytes(buf[pos + 4 : pos + 8], "little")
            if itag == tags.SequenceDelimitationItem:
                pos += 8
                break
            if itag != tags.Item:
                raise InventoryReadError(
                    f"expected item {index} of Inventoried Studies Sequence, found tag "
                    f"({itag >> 16:04X},{itag & 0xFFFF:04X})",
                    path=self.path,
                    offset=src.base + pos,
                    tag=STUDIES_TAG,
                )
            try:
                stop = None if ilen == UNDEFINED else pos + 8 + ilen
                ds, newpos = parser.dataset(buf, pos + 8, stop, 1)
            except NeedMore:
                if src.eof:
                    raise InventoryReadError(
                        f"file ends inside item {index} of Inventoried Studies Sequence: truncated",
                        path=self.path,
                        offset=src.base + len(src.buf),
                        tag=STUDIES_TAG,
                    ) from None
                src.discard(pos)
                pos = 0
                src.more(len(src.buf))  # grow geometrically for a large study
                continue
            pos = newpos
            index += 1
            yield ds
        self._read_tail(pos)

    def _read_tail(self, pos: int) -> None:
        tail, _ = self._parse_top(pos)
        self.raw_header.update(tail)
        self._state = "done"

    def studies(self) -> Iterator[StudyRecord]:
        """Yield typed study records (with series and instances as lists)."""
        text = self.text
        for ds in self.raw_studies():
            yield study_from_raw(ds, text)


@contextmanager
def dataset_file(ds: Any) -> Iterator[Path]:
    """Write a pydicom ``Dataset`` to a temporary Part 10 file; yield its path.

    File Meta Information is added when missing (Explicit VR Little Endian), so a data set
    received over DIMSE can go through the one streaming decoding path.
    """
    import tempfile

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = ds.copy()
    if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", INVENTORY_STORAGE)
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.dcm"
        ds.save_as(path, enforce_file_format=True)
        yield path


def read_dataset(ds: Any) -> tuple[InventoryHeader, list[StudyRecord]]:
    """Read a small inventory held as a pydicom ``Dataset`` (e.g. received over DIMSE)."""
    with dataset_file(ds) as path, InventoryReader(path) as r:
        studies = list(r.studies())
        return r.header, studies


def read_header(
    path: str | os.PathLike[str], *, policy: ReadPolicy | None = None
) -> InventoryHeader:
    """Read the whole header of an Inventory file, records skipped.

    For an uncompressed file, the trailing elements are found near the end of the file
    without reading the records; otherwise (deflated, or unusual layout) the records are
    scanned.
    """
    with InventoryReader(path, policy=policy) as r:
        if r.src.size is not None and r.transfer_syntax != DeflatedExplicitVRLittleEndian:
            tail = _probe_tail(r)
            if tail is not None:
                r.raw_header.update(tail)
                return r.header
        for _ in r.raw_studies():
            pass
        return r.header


def _probe_tail(r: InventoryReader) -> RawDataset | None:
    """Find the elements after (0008,0423) from the last 64 KiB of the file, if possible."""
    size = r.src.size or 0
    window = min(size, 65536)
    with open(r.path, "rb") as f:
        f.seek(size - window)
        data = f.read(window)
    at = data.rfind(_SEQ_END)
    while at >= 0:
        try:
            src = ByteSource(None, r.path, r.policy, None)  # type: ignore[arg-type]
            src.buf = data[at + 8 :]
            src.eof = True
            ds, _ = Parser(src, r.parser.explicit).dataset(src.buf, 0, None, 0)
            if ds and min(ds) > STUDIES_TAG:
                return ds
        except (InventoryReadError, NeedMore, struct.error):
            pass
        at = data.rfind(_SEQ_END, 0, at)
    return None


# --------------------------------------------------------------------------- trees, rows
@dataclass
class TreeNode:
    """One instance of an inventory tree, with the file that holds it."""

    path: Path
    header: InventoryHeader
    children: list[TreeNode] = field(default_factory=list)


def _find_child(ref: InventoryReference, base: Path, index: dict[str, Path] | None) -> Path | None:
    uri = ref.file_access.uri if ref.file_access is not None else None
    found = _find_by_name(ref.sop_instance_uid, uri, base)
    if found is None and index is not None:
        return index.get(ref.sop_instance_uid)
    return found


def _find_by_name(uid: str, uri: str | None, base: Path) -> Path | None:
    """The file of instance `uid` by its File Access URI, then as ``<uid>.dcm`` under `base`."""
    if uri:
        parts = urlsplit(uri)
        if parts.scheme == "file":
            candidate: Path | None = Path(unquote(parts.path))
        elif not parts.scheme and uri.startswith("./"):
            candidate = base / unquote(uri[2:])
        else:
            candidate = None
        if candidate is not None and candidate.is_file():
            return candidate
    if not uid or any(c in uid for c in _NOT_IN_A_NAME):  # not a file name to look for
        return None
    guess = base / f"{uid}.dcm"
    if guess.is_file():
        return guess
    for found in base.rglob(f"{uid}.dcm"):  # e.g. partitions in subfolders
        return found
    return None


def _locate_incorporated(
    uid: str,
    uri: str | None,
    base: str | os.PathLike[str],
    *,
    indexes: dict[Path, dict[str, Path]] | None = None,
) -> Path | None:
    """The file that holds incorporated instance `uid`, found as :func:`resolve_tree` finds it.

    By its File Access URI `uri` (``file:`` or ``./`` relative to `base`, the folder of the
    referencing root), then as ``<uid>.dcm`` in `base` or a folder below it, then by reading
    the headers of the files there (read once per folder: `indexes` keeps them between
    calls). None if it is nowhere: the
    reference dangles (PS3.3 C.38.1.1.5: the referenced instance's records are part of the
    inventory, so an inventory whose reference cannot be followed is incomplete).
    """
    folder = Path(base)
    found = _find_by_name(uid, uri, folder)
    if found is None:
        indexes = {} if indexes is None else indexes
        if folder not in indexes:
            indexes[folder] = _index_dir(folder)
        found = indexes[folder].get(uid)
    return found


def _index_dir(base: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for p in sorted(base.rglob("*")):
        if not p.is_file():
            continue
        try:
            with InventoryReader(p) as r:
                el = r.raw_header.get(tags.SOPInstanceUID)
                if el:
                    index[ascii_value(el)] = p
        except InventoryReadError:
            continue
    return index


def resolve_tree(root: str | os.PathLike[str]) -> TreeNode:
    """Resolve the tree of incorporated instances under `root` (PS3.3 C.38.1.1.5).

    Children are found by their File Access URI (``file:`` or ``./`` relative to the root's
    folder), then as ``<SOP Instance UID>.dcm`` beside the root or in a folder below it (the
    partitions of a partitioned production), then by reading the headers of those files.

    The walk is iterative: a tree of any depth resolves (a chain of 5,000 instances, each
    incorporating the next, is tested), in memory proportional to the number of instances.
    Within one file, nesting is bounded by the reader (:attr:`ReadPolicy.max_depth`): a root
    that repeats the references of a deeper tree than that in its own header, as C.38.1.1.5
    asks, is refused with an error naming the file and tag.

    Raises
    ------
    InventoryReadError
        If a referenced instance cannot be found, or a reference cycle is met.
    """
    root_path = Path(root)
    base = root_path.parent
    index: dict[str, Path] | None = None
    seen: set[str] = set()
    on_path: set[str] = set()  # the UIDs of the instances from the root down to the current one

    def visit(path: Path) -> tuple[TreeNode, Iterator[InventoryReference]]:
        header = read_header(path)
        uid = header.sop_instance_uid
        if uid in on_path:
            raise InventoryReadError(f"reference cycle through {uid}", path=str(path))
        if uid in seen:
            raise InventoryReadError(
                f"instance {uid} is incorporated twice in one tree", path=str(path)
            )
        seen.add(uid)
        on_path.add(uid)
        return TreeNode(path, header), iter(header.incorporated)

    root_node, refs = visit(root_path)
    stack = [(root_node, refs)]  # depth first, each node with the references still to follow
    while stack:
        node, refs = stack[-1]
        ref = next(refs, None)
        if ref is None:
            on_path.discard(node.header.sop_instance_uid)
            stack.pop()
            continue
        child = _find_child(ref, base, index)
        if child is None and index is None:
            index = _index_dir(base)
            child = index.get(ref.sop_instance_uid)
        if child is None:
            raise InventoryReadError(
                f"incorporated instance {ref.sop_instance_uid} not found beside the root "
                "(by File Access URI, by <UID>.dcm, or by reading the folder's headers)",
                path=str(node.path),
                tag=tags.IncorporatedInventoryInstanceSequence,
            )
        child_node, child_refs = visit(child)
        node.children.append(child_node)
        stack.append((child_node, child_refs))
    return root_node


def _walk(node: TreeNode) -> Iterator[TreeNode]:
    """The nodes of a resolved tree, depth first, root first (iterative: any depth).

    This is the one walk of a tree: the order in which the records of its instances make up
    the whole inventory (PS3.3 C.38.2.3); :func:`tree_paths`, :func:`iter_inventory` and so
    export, diff and fetch all go through it.
    """
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _trees(roots: Iterable[str | os.PathLike[str]]) -> Iterator[TreeNode]:
    """The nodes of the trees under `roots`, each instance once, in the order of the roots.

    The one place where inventory files named together are turned into trees (so export,
    diff, fetch and :func:`iter_inventory` count every record once). A file named again is
    skipped, with a warning (logger ``dicom_inventory.read``, one line naming the file and
    the root that already covers it): a leaf (or subtree) also reached through a root given
    in the same call, wherever it comes in the list (``inv/*.dcm`` names the leaves and their
    root in any order), or the same instance named twice. Instances are told apart by SOP
    Instance UID (by the file's real path where it has none). The trees are walked root first,
    depth first (PS3.3 C.38.2.3), each root in its place in `roots`.
    """

    def key(node: TreeNode) -> str:
        return node.header.sop_instance_uid or f"file:{os.path.realpath(node.path)}"

    trees: list[TreeNode] = []
    first: dict[str, int] = {}  # instance -> the first tree that holds it
    for given in roots:
        tree = resolve_tree(given)
        held = first.get(key(tree))
        if held is not None:  # named again: already in a tree read
            _skipped(tree.path, trees[held].path)
            continue
        for node in _walk(tree):
            first.setdefault(key(node), len(trees))
        trees.append(tree)
    below: dict[str, int] = {}  # instance -> a tree that holds it below its root
    for i, tree in enumerate(trees):
        for node in tree.children:
            for n in _walk(node):
                below.setdefault(key(n), i)
    read: dict[str, Path] = {}  # instance -> the root of the tree it was read through
    for tree in trees:
        cover = below.get(key(tree))
        if cover is not None:  # a leaf or subtree named before the root that covers it
            _skipped(tree.path, trees[cover].path)
            continue
        for node in _walk(tree):
            k = key(node)
            if k in read:  # shared by two trees given: read through the first
                _skipped(node.path, read[k])
                continue
            read[k] = tree.path
            yield node


def _skipped(path: Path, root: Path) -> None:
    if Path(path) == Path(root):
        _log.warning("%s: named twice; read once", path)
    else:
        _log.warning("%s: skipped, already read through the tree of root %s", path, root)


def tree_paths(
    roots: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[Path]:
    """The files of the trees under `roots` (:func:`resolve_tree`), depth first, root first.

    This is the order in which their records make up the whole inventory (PS3.3 C.38.2.3).
    Given several files (a root and its leaves, say), each instance comes once: a file
    already reached through another root given, or named twice, is skipped with a warning
    (see :func:`_trees`).
    """
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    return [node.path for node in _trees(roots)]


def iter_inventory(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    follow: bool = True,
    policy: ReadPolicy | None = None,
) -> Iterator[StudyRecord]:
    """Yield the study records of one or more inventories.

    Parameters
    ----------
    paths : path or iterable of paths
        Inventory files. With `follow`, each is treated as a root and the instances it
        incorporates are read too (depth first); each instance is read once, however often
        it is named or reached (:func:`tree_paths`).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = tree_paths(paths) if follow else [Path(p) for p in paths]
    for path in files:
        with InventoryReader(path, policy=policy) as r:
            yield from r.studies()
