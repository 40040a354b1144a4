"""Low-level streaming parser of DICOM data sets into raw elements (PS3.5 7).

The reader and the validator both work on *raw* data sets: ``{tag: (vr, value, offset)}``
where ``value`` is the undecoded bytes, or a list of raw data sets for a sequence, and
``offset`` is the element's byte offset in the (inflated) data stream. Decoding to Python
values happens later, only for what is used.

Streaming: a :class:`ByteSource` holds a window of the file. Parsing an item runs over the
window; if the item is not complete in it, :class:`NeedMore` is raised, the window is extended
and the item is parsed again from its start. So memory is bounded by the largest item (one
study record), whatever the file size, and the hot loop works on plain ``bytes`` with no
refill checks of its own.

Accepted encodings: Explicit VR Little Endian, Implicit VR Little Endian, and Deflated Explicit
VR Little Endian; defined and undefined lengths for sequences and items.
"""

from __future__ import annotations

import zlib
from struct import Struct
from typing import IO, Any

from dicom_inventory import tags
from dicom_inventory._vr import ALL_VRS, LONG_VRS
from dicom_inventory.errors import InventoryReadError, NotDicomError
from dicom_inventory.policy import ReadPolicy
from pydicom import uid
from pydicom.datadict import dictionary_VR

__all__ = [
    "MAX_DEPTH",
    "UNDEFINED",
    "ascii_value",
    "ByteSource",
    "NeedMore",
    "RawDataset",
    "RawElement",
    "Parser",
    "open_part10",
]

RawElement = tuple[str, bytes | list["RawDataset"], int]
RawDataset = dict[int, RawElement]

UNDEFINED = 0xFFFFFFFF
#: The deepest sequence nesting the parser accepts whatever :attr:`ReadPolicy.max_depth` says.
#: PS3.5 7.5 sets no limit; the parser descends by recursion (three Python frames a level) and
#: so do the decoder and validator after it: 100 levels stay well inside the interpreter's
#: default limit of 1,000 frames, so a deeper file is refused with an error, never a
#: RecursionError. Inventories nest five levels (study, series, instance, File Access, codes).
MAX_DEPTH = 100
_ITEM = tags.Item
_ITEM_END = tags.ItemDelimitationItem
_SEQ_END = tags.SequenceDelimitationItem

_HDR = Struct("<HH2sH")
_U32 = Struct("<I")
_HH = Struct("<HH")
_LONG = frozenset(v.encode() for v in LONG_VRS)
_VRINFO: dict[bytes, tuple[str, bool]] = {}
_VRS = {v.encode(): v for v in ALL_VRS}

_VRINFO.update({b: (v, b in _LONG) for b, v in _VRS.items()})

EXPLICIT_LE = str(uid.ExplicitVRLittleEndian)
IMPLICIT_LE = str(uid.ImplicitVRLittleEndian)
DEFLATED_LE = str(uid.DeflatedExplicitVRLittleEndian)
BIG_ENDIAN = str(uid.ExplicitVRBigEndian)


class NeedMore(Exception):
    """Raised inside the parser when the window ends before the item does."""


def _tagstr(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class ByteSource:
    """A growable window over a (possibly inflated) byte stream.

    ``buf`` holds bytes from absolute offset ``base``. :meth:`more` appends at least one
    chunk; :meth:`discard` drops what was consumed.
    """

    def __init__(self, raw: IO[bytes], path: str, policy: ReadPolicy, size: int | None) -> None:
        self.raw = raw
        self.path = path
        self.policy = policy
        self.buf = b""
        self.base = 0
        self.eof = False
        self.size = size  # total stream length when known (not deflated)
        self._inflate: Any = None

    def start_inflate(self, consumed: int) -> None:
        """Switch to inflating the rest of the stream (Deflated Explicit VR LE, PS3.5 A.5)."""
        rest = self.buf[consumed:]
        self.base += consumed
        self._inflate = zlib.decompressobj(-15)
        self.buf = b""
        self.size = None
        self._pending = rest
        self.eof = False

    def _read(self, n: int) -> bytes:
        if self._inflate is None:
            return self.raw.read(n)
        out = b""
        while not out:
            if self._pending:
                data, self._pending = self._pending, b""
            else:
                data = self.raw.read(n)
            if not data:
                try:
                    tail: bytes = self._inflate.flush()
                    return tail
                except zlib.error as exc:
                    raise InventoryReadError(
                        f"deflated data set is corrupt: {exc}", path=self.path, offset=self.base
                    ) from exc
            try:
                out = self._inflate.decompress(data, n)
            except zlib.error as exc:
                raise InventoryReadError(
                    f"deflated data set is corrupt: {exc} (PS3.5 A.5)",
                    path=self.path,
                    offset=self.base + len(self.buf),
                ) from exc
            if self._inflate.unconsumed_tail:
                self._pending = self._inflate.unconsumed_tail
        return out

    def more(self, at_least: int = 0) -> None:
        """Append at least ``max(at_least, chunk_size)`` bytes, or set ``eof``."""
        want = max(at_least, self.policy.chunk_size)
        parts = [self.buf]
        got = 0
        while got < want:
            data = self._read(want - got if self._inflate is None else self.policy.chunk_size)
            if not data:
                self.eof = True
                break
            parts.append(data)
            got += len(data)
        self.buf = b"".join(parts)
        if len(self.buf) > self.policy.max_item_bytes + self.policy.chunk_size:
            raise InventoryReadError(
                f"one item is larger than the limit of {self.policy.max_item_bytes} bytes "
                "(ReadPolicy.max_item_bytes)",
                path=self.path,
                offset=self.base,
            )

    def discard(self, pos: int) -> None:
        """Forget the bytes before window position `pos`."""
        if pos:
            self.buf = self.buf[pos:]
            self.base += pos


class Parser:
    """Parses raw data sets from a :class:`ByteSource` window.

    Parameters
    ----------
    src : ByteSource
        The byte window.
    explicit : bool
        Explicit VR (True) or Implicit VR Little Endian (False).
    """

    def __init__(self, src: ByteSource, explicit: bool) -> None:
        self.src = src
        self.explicit = explicit
        self.max_len = src.policy.max_element_length
        self.max_depth = min(src.policy.max_depth, MAX_DEPTH)

    def error(self, msg: str, pos: int, tag: int | None = None) -> InventoryReadError:
        return InventoryReadError(msg, path=self.src.path, offset=self.src.base + pos, tag=tag)

    def _bounds(self, pos: int, length: int, tag: int, start: int) -> None:
        """Check a value length claim against the limits and the end of the stream.

        The value is at `pos`, its element at `start`. Raise :class:`NeedMore` if the claim is
        plausible.
        """
        src = self.src
        if src.size is not None and src.base + pos + length > src.size:
            raise self.error(
                f"value length {length} runs past the end of the file "
                f"({src.size - src.base - pos} bytes left): truncated or corrupt",
                start,
                tag,
            )
        if length > self.max_len:
            raise self.error(
                f"value length {length} exceeds the limit of {self.max_len} bytes "
                "(ReadPolicy.max_element_length); the file is corrupt or hostile",
                start,
                tag,
            )
        raise NeedMore

    def dataset(
        self, buf: bytes, pos: int, stop: int | None, depth: int, until: int = 1 << 32
    ) -> tuple[RawDataset, int]:
        """Parse elements from `pos` to `stop`, or to an item delimiter if `stop` is None.

        Explicit VR goes to :meth:`_explicit`; the loop here reads Implicit VR (PS3.5 A.1).

        At the top level (`depth` 0) the data set ends at the end of the stream instead, or
        before the first element whose tag is at least `until`. Returns the raw data set and
        the position after it (after the delimiter, or of the first element not parsed).
        """
        if self.explicit:
            return self._explicit(buf, pos, stop, depth, until)
        elems: RawDataset = {}
        n = len(buf)
        u32 = _U32.unpack_from
        while True:
            if stop is not None and pos >= stop:
                if pos > stop:
                    raise self.error(
                        f"element overruns its item's defined length by {pos - stop} bytes", pos
                    )
                return elems, pos
            if pos + 8 > n:
                if depth == 0 and pos == n and self.src.eof:
                    return elems, pos
                if depth == 0 and self.src.eof:
                    raise self.error(f"{n - pos} stray bytes at the end of the data set", pos)
                raise NeedMore
            start = pos
            group, elem = _HH.unpack_from(buf, pos)
            tag = group << 16 | elem
            length = u32(buf, pos + 4)[0]
            if group == 0xFFFE:
                if tag == _ITEM_END and stop is None:
                    return elems, pos + 8
                raise self.error(f"unexpected delimiter {_tagstr(tag)} inside a data set", pos, tag)
            if tag >= until:
                return elems, pos
            pos += 8
            vr = self.implicit_vr(tag, length, buf, pos)
            if vr == "SQ" or length == UNDEFINED:
                pos = self._sequence_element(buf, pos, length, depth, tag, vr, start, elems)
                continue
            if tag in elems:
                raise self.error(
                    "the same tag appears twice in one data set (PS3.5 7.1)", start, tag
                )
            end = pos + length
            if end > n or length > self.max_len:
                self._bounds(pos, length, tag, start)
            elems[tag] = (vr, buf[pos:end], start)
            pos = end

    def _explicit(
        self, buf: bytes, pos: int, stop: int | None, depth: int, until: int
    ) -> tuple[RawDataset, int]:
        """:meth:`dataset` for Explicit VR Little Endian: the hot loop of every read."""
        elems: RawDataset = {}
        n = len(buf)
        limit = stop if stop is not None else 1 << 62
        hdr = _HDR.unpack_from
        u32 = _U32.unpack_from
        vrinfo = _VRINFO
        max_len = self.max_len
        while True:
            if pos >= limit:
                if pos > limit:
                    raise self.error(
                        f"element overruns its item's defined length by {pos - limit} bytes", pos
                    )
                return elems, pos
            if pos + 12 > n:
                if pos + 8 > n or buf[pos + 4 : pos + 6] in _LONG:
                    if depth == 0 and pos == n and self.src.eof:
                        return elems, pos
                    if depth == 0 and self.src.eof:
                        raise self.error(f"{n - pos} stray bytes at the end of the data set", pos)
                    raise NeedMore
            group, elem, vrb, length = hdr(buf, pos)
            tag = group << 16 | elem
            if group == 0xFFFE:
                if tag == _ITEM_END and stop is None:
                    return elems, pos + 8
                raise self.error(f"unexpected delimiter {_tagstr(tag)} inside a data set", pos, tag)
            if tag >= until:
                return elems, pos
            info = vrinfo.get(vrb)
            if info is None:
                raise self.error(f"invalid VR {vrb!r} (not in PS3.5 Table 6.2-1)", pos, tag)
            vr, long = info
            start = pos
            if long:
                length = u32(buf, pos + 8)[0]
                pos += 12
                if vr == "SQ" or length == UNDEFINED:
                    pos = self._sequence_element(buf, pos, length, depth, tag, vr, start, elems)
                    continue
            else:
                pos += 8
            end = pos + length
            if end > n or length > max_len:
                self._bounds(pos, length, tag, start)
            if tag in elems:
                raise self.error(
                    "the same tag appears twice in one data set (PS3.5 7.1)", start, tag
                )
            elems[tag] = (vr, buf[pos:end], start)
            pos = end

    def _sequence_element(
        self,
        buf: bytes,
        pos: int,
        length: int,
        depth: int,
        tag: int,
        vr: str,
        start: int,
        elems: RawDataset,
    ) -> int:
        """Parse a sequence element's items into `elems`; return the position after it.

        Also the one place that refuses an undefined length on anything but SQ (or UN, which
        PS3.5 6.2.2 lets hold a sequence of unknown VR).
        """
        if vr not in ("SQ", "UN"):
            raise self.error(
                f"undefined length for a {vr} element (only SQ may have it here)", start, tag
            )
        if tag in elems:
            raise self.error("the same tag appears twice in one data set (PS3.5 7.1)", start, tag)
        if depth >= self.max_depth:
            why = (
                "each level of a tree of incorporated instances nests the references once more "
                "(PS3.3 C.38.1.1.5)"
                if tag == tags.IncorporatedInventoryInstanceSequence
                else "the file is corrupt or hostile"
            )
            raise self.error(
                f"sequences nested deeper than {self.max_depth} levels (ReadPolicy.max_depth, "
                f"at most {MAX_DEPTH}): {why}",
                start,
                tag,
            )
        items, pos = self.sequence(buf, pos, length, depth + 1, tag)
        elems[tag] = ("SQ", items, start)
        return pos

    def sequence(
        self, buf: bytes, pos: int, length: int, depth: int, tag: int
    ) -> tuple[list[RawDataset], int]:
        """Parse sequence items from `pos`; return them and the position after the sequence."""
        items: list[RawDataset] = []
        stop = None if length == UNDEFINED else pos + length
        if stop is not None and stop > len(buf):
            if self.src.size is not None and self.src.base + stop > self.src.size:
                raise self.error(
                    f"sequence length {length} runs past the end of the file: truncated or corrupt",
                    pos,
                    tag,
                )
            raise NeedMore
        u32 = _U32.unpack_from
        while True:
            if stop is not None and pos >= stop:
                return items, pos
            if pos + 8 > len(buf):
                raise NeedMore
            item_tag = _HH.unpack_from(buf, pos)
            itag = item_tag[0] << 16 | item_tag[1]
            ilen = u32(buf, pos + 4)[0]
            if itag == _SEQ_END:  # tolerated even in a defined-length sequence
                return items, pos + 8
            if itag != _ITEM:
                raise self.error(
                    f"expected an item tag (FFFE,E000) in sequence {_tagstr(tag)}, "
                    f"found {_tagstr(itag)}",
                    pos,
                    tag,
                )
            pos += 8
            ds, pos = self.dataset(buf, pos, None if ilen == UNDEFINED else pos + ilen, depth)
            items.append(ds)

    def implicit_vr(self, tag: int, length: int, buf: bytes, pos: int) -> str:
        """VR of an Implicit VR element from the dictionary (PS3.5 A.1)."""
        vr = _IMPLICIT_CACHE.get(tag)
        if vr is None:
            if (tag & 0xFFFF) == 0:  # group length
                vr = "UL"
            elif tag >> 16 & 1 and (tag & 0xFFFF) < 0x1000:  # private creator
                vr = "LO"
            else:
                try:
                    vr = dictionary_VR(tag).split(" or ")[0]
                except KeyError:
                    vr = "UN"
            _IMPLICIT_CACHE[tag] = vr
        if vr == "UN" and length != UNDEFINED and length >= 8 and pos + 4 <= len(buf):
            # An unknown element that starts with an item tag is a sequence (as pydicom assumes).
            if buf[pos : pos + 4] in (b"\xfe\xff\x00\xe0",):
                return "SQ"
        return vr


_IMPLICIT_CACHE: dict[int, str] = {}


def open_part10(
    raw: IO[bytes], path: str, policy: ReadPolicy, size: int | None
) -> tuple[ByteSource, RawDataset, str, int]:
    """Check the preamble, parse File Meta Information (PS3.10 7.1).

    Returns the source, the meta elements, the transfer syntax UID and the window position of
    the first data set element.

    Raises
    ------
    NotDicomError
        If there is no 128-byte preamble followed by ``DICM``.
    InventoryReadError
        If the File Meta Information is broken or the transfer syntax is not supported.
    """
    src = ByteSource(raw, path, policy, size)
    src.more(132)
    if len(src.buf) < 132 or src.buf[128:132] != b"DICM":
        raise NotDicomError(
            "not a DICOM Part 10 file: expected a 128-byte preamble followed by 'DICM' "
            "(PS3.10 7.1)",
            path=path,
            offset=128,
        )
    parser = Parser(src, explicit=True)
    pos = 132
    meta: RawDataset = {}
    while True:
        if pos + 8 > len(src.buf):
            if src.eof:
                break
            src.more()
            continue
        group = _HH.unpack_from(src.buf, pos)[0]
        if group != 0x0002:
            break
        # parse exactly one element: a group-2 element is never a sequence
        try:
            one, newpos = parser.dataset(src.buf, pos, pos + _elem_len(src.buf, pos), 0)
        except NeedMore:
            if src.eof:
                raise InventoryReadError(
                    "file ends inside the File Meta Information", path=path, offset=pos
                ) from None
            src.more()
            continue
        except Exception as exc:
            if isinstance(exc, InventoryReadError):
                raise
            raise InventoryReadError(
                f"File Meta Information is corrupt: {exc}", path=path, offset=pos
            ) from exc
        meta.update(one)
        pos = newpos
    ts_el = meta.get(tags.TransferSyntaxUID)
    if ts_el is None:
        raise InventoryReadError(
            "File Meta Information has no Transfer Syntax UID (0002,0010) (PS3.10 7.1)",
            path=path,
            offset=132,
        )
    ts = ascii_value(ts_el)
    if ts == BIG_ENDIAN:
        raise InventoryReadError(
            "Explicit VR Big Endian (retired) is not supported", path=path, offset=ts_el[2]
        )
    if ts == DEFLATED_LE:
        src.start_inflate(pos)
        pos = 0
    return src, meta, ts, pos


def ascii_value(el: RawElement | None) -> str:
    """The value of a raw ASCII element (UI, CS, ...) without padding; ``""`` if absent/SQ."""
    if el is None or not isinstance(el[1], bytes):
        return ""
    return el[1].decode("ascii", "replace").strip(" \x00")


def _elem_len(buf: bytes, pos: int) -> int:
    """Length of an explicit-VR element at `pos` including its header (bounded by the window)."""
    vrb = buf[pos + 4 : pos + 6]
    if vrb in _LONG:
        if pos + 12 > len(buf):
            return 12
        return 12 + int(_U32.unpack_from(buf, pos + 8)[0])
    return 8 + int.from_bytes(buf[pos + 6 : pos + 8], "little")
