r"""One defensive decoder for every request data set the node's DIMSE services receive.

pydicom reads a data set lazily and leniently: an element is converted when a handler first
touches it (so a bad value raises deep inside handler code), a value shorter than its declared
length is silently cut, an unknown VR raises ``NotImplementedError``, and pynetdicom inflates a
Deflated data set with an unbounded :func:`zlib.decompress`. Handlers therefore never read
``event.identifier`` or ``event.action_information``: they call :func:`request_dataset`, which
takes the raw bytes of the request (``Identifier`` of C-FIND / C-GET / C-MOVE, ``Action
Information`` of N-ACTION) and

1. inflates a Deflated Explicit VR Little Endian data set with a bounded
   :meth:`zlib.Decompress.decompress` (at most :data:`MAX_INFLATED_BYTES`);
2. walks the bytes itself, iteratively (no recursion, at most :data:`MAX_DEPTH` nested
   sequences and :data:`MAX_ELEMENTS` elements), checking every tag, VR, length, item and
   delimiter against the bytes that are really there (PS3.5 7.1, 7.5);
3. converts every value at once, checking it against its VR (PS3.5 6.2: UI, IS, DS, DA, TM, DT
   syntax; binary lengths) and its text against the Specific Character Set (PS3.5 6.1);
4. checks the keys the service reads against its :class:`Service` schema (VR and VM of the
   data dictionary, PS3.6), and returns a fully converted :class:`~pydicom.dataset.Dataset`
   with nothing left to decode, or a :class:`DecodeFailure` naming the tag, the item path and
   what was expected.

The failure becomes one precise status, chosen by :meth:`DecodeFailure.status`:

============================ ======================= ==========================================
what is wrong                N-ACTION (Creation)     C-FIND / C-GET / C-MOVE
============================ ======================= ==========================================
bytes not a data set         0x0115 Invalid argument 0xC001 Unable to process (PS3.4 C.4.1.1.4,
(truncated, unknown VR,      value (PS3.7 C.5.10)    C.4.2.1.5, C.4.3.1.4: Cxxx)
corrupt item or delimiter)
a value against its VR, a    0x0115                  0xA900 Identifier does not match SOP Class
wrong VR or VM for a key
Specific Character Set       0x0212 Mistyped         0xA900
unknown                      argument (KK.2.2.3)
inflates past the cap, too   0x0213 Resource         0xA700 Out of resources (FIND), 0xA701
many elements or levels      limitation (PS3.7 C)    (GET, MOVE: cannot calculate matches)
============================ ======================= ==========================================

N-ACTION has no attribute statuses: 0x0106 Invalid attribute value, 0x0116 Attribute value out
of range and 0x0120 Missing attribute are statuses of N-SET and N-CREATE, whose Modification
List / Attribute List they describe (PS3.7 C.4); the N-ACTION's Action Information is an
argument, and PS3.7 C.5.10 defines 0x0115 Invalid argument value for it (and only it may carry
the offending Action Information back). The C-FIND, C-GET and C-MOVE failures also carry
Offending Element (0000,0901), as their status tables allow for 0xA900 and Cxxx.

Deflated transfer syntax
------------------------
The node does not offer Deflated Explicit VR Little Endian on its Query/Retrieve contexts
(Inventory FIND/MOVE/GET, Repository Query, Study Root FIND/MOVE/GET;
:mod:`dicom_inventory.scp.contexts`): pynetdicom 3.0 inflates every C-FIND / C-GET / C-MOVE
identifier without a bound *before* any handler runs (to log it, ``LOG_REQUEST_IDENTIFIERS``),
so no cap of ours could hold there, and an identifier is a few hundred bytes, which deflate
does not shorten. DCMTK's dcmqrscp does the same by default (its Q/R contexts accept the
uncompressed transfer syntaxes; Deflated only when the operator asks for it). Inventory
Creation keeps Deflated where configured: pynetdicom does not touch the Action Information
before the handler, and this decoder inflates it with the cap.
"""

from __future__ import annotations

import enum
import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from dicom_inventory._vr import matching_problem
from dicom_inventory.scp.services.responses import requestor, status_dataset
from dicom_inventory.status import Status
from pydicom import config as pydicom_config
from pydicom.charset import decode_bytes, python_encoding
from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

__all__ = [
    "DECODE_STATUSES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_INFLATED_BYTES",
    "DecodeFailure",
    "FailureKind",
    "Service",
    "decode_request",
    "decoded",
    "request_dataset",
]

LOG = logging.getLogger("dicom_inventory.scp")

#: Largest data set a request may inflate to (Deflated Explicit VR Little Endian). An Action
#: Information or identifier is small; 4 MiB holds a Scope of Inventory with ~60,000 UIDs.
MAX_INFLATED_BYTES = 4 * 1024 * 1024
#: Most elements and sequence items (all levels together) a request data set may hold.
MAX_ELEMENTS = 100_000
#: Deepest nesting of sequences a request data set may have (the Scope of Inventory needs 2).
MAX_DEPTH = 16


class FailureKind(enum.Enum):
    """Why a request data set was refused."""

    UNDECODABLE = "the bytes are not a data set in the transfer syntax"
    INVALID = "a value, VR or VM not valid for its attribute"
    CHARSET = "a Specific Character Set term not known"
    TOO_LARGE = "larger than the node accepts"


class Service(enum.Enum):
    """The DIMSE request kinds the decoder serves; each has its key schema and statuses."""

    INVENTORY_CREATION = "N-ACTION", "Inventory Creation N-ACTION"
    INVENTORY_FIND = "C-FIND", "Inventory FIND"
    INVENTORY_RETRIEVE = "C-GET/C-MOVE", "Inventory retrieve"
    STUDY_ROOT_FIND = "C-FIND", "Study Root C-FIND"
    STUDY_ROOT_RETRIEVE = "C-GET/C-MOVE", "Study Root retrieve"
    REPOSITORY_QUERY = "C-FIND", "Repository Query"

    def __new__(cls, operation: str, title: str) -> Service:
        """A member with a distinct value, the DIMSE operation it serves and its log name."""
        member = object.__new__(cls)
        member._value_ = len(cls.__members__)
        member.operation = operation
        member.title = title
        return member

    operation: str
    title: str


#: Keys each service reads, with the VM it accepts: ``"1"`` one value, ``"n"`` a list (a UID
#: list, PS3.4 C.2.2.2.2), ``"s"`` a sequence. The VR must be the data dictionary's (PS3.6).
_CREATION = {
    "SpecificCharacterSet": "n",
    "TransactionUID": "1",
    "InventoryLevel": "1",
    "InventoryPurpose": "1",
    "RequestedStatusInterval": "1",
    "RetainInstances": "1",
    "ScopeOfInventorySequence": "s",
}
_INVENTORY_QR = {
    "SpecificCharacterSet": "n",
    "QueryRetrieveLevel": "1",
    "SOPInstanceUID": "n",
    "TransactionUID": "n",
    "ContentDate": "1",
    "ContentTime": "1",
    "InventoryLevel": "1",
    "InventoryCompletionStatus": "1",
}
_STUDY_ROOT = {
    "SpecificCharacterSet": "n",
    "QueryRetrieveLevel": "1",
    "StudyInstanceUID": "n",
    "SeriesInstanceUID": "n",
    "SOPInstanceUID": "n",
    "MaximumNumberOfRecords": "1",
    "PriorRecordKey": "1",
}
_SCHEMA: dict[Service, dict[str, str]] = {
    Service.INVENTORY_CREATION: _CREATION,
    Service.INVENTORY_FIND: _INVENTORY_QR,
    Service.INVENTORY_RETRIEVE: _INVENTORY_QR,
    Service.STUDY_ROOT_FIND: _STUDY_ROOT,
    Service.STUDY_ROOT_RETRIEVE: _STUDY_ROOT,
    Service.REPOSITORY_QUERY: _STUDY_ROOT,
}


@dataclass(frozen=True)
class DecodeFailure:
    """Why a request data set was refused, and where.

    Attributes
    ----------
    kind : FailureKind
        What class of fault it is (it chooses the status).
    message : str
        What was wrong and what was expected, e.g. ``"(0008,1195) Transaction UID: VR US,
        expected UI"``.
    tag : int or None
        The offending element's tag, when there is one.
    path : str
        Where: the sequence items above the element, e.g. ``"(0008,0400)[0] > "``.
    """

    kind: FailureKind
    message: str
    tag: int | None = None
    path: str = ""

    def __str__(self) -> str:
        """The path and the message: the Error Comment before it is cut to 64 characters."""
        return f"{self.path}{self.message}"

    def status(self, service: Service) -> Status:
        """The response status of this failure for `service` (see the module's table)."""
        if service is Service.INVENTORY_CREATION:
            return {
                FailureKind.TOO_LARGE: Status.RESOURCE_LIMITATION,
                FailureKind.CHARSET: Status.MISTYPED_ARGUMENT,
            }.get(self.kind, Status.INVALID_ARGUMENT_VALUE)
        if self.kind is FailureKind.TOO_LARGE:
            find = service.operation == "C-FIND"
            return Status.OUT_OF_RESOURCES if find else Status.OUT_OF_RESOURCES_MATCHES
        if self.kind is FailureKind.UNDECODABLE:
            return Status.UNABLE_TO_PROCESS
        return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS

    def response(self, service: Service) -> Dataset:
        """The status data set: Status, Error Comment and (C-services) Offending Element."""
        ds = status_dataset(self.status(service), str(self))
        if self.tag is not None and service is not Service.INVENTORY_CREATION:
            ds.OffendingElement = [self.tag]
        return ds

    def answers(self, service: Service) -> Iterator[Any]:
        """What a C-FIND, C-GET or C-MOVE handler yields to answer this failure.

        C-FIND: the failure response (PS3.4 C.4.1.1.4); C-GET, C-MOVE:
        :meth:`retrieve_responses`.
        """
        if service.operation == "C-FIND":
            yield self.response(service), None
        else:
            yield from self.retrieve_responses(service)

    def retrieve_responses(self, service: Service) -> Iterator[Any]:
        """What a C-GET / C-MOVE handler yields to answer this failure, no sub-operation sent.

        One announced sub-operation, then the failure as final status: the pynetdicom 3.0
        workaround of :func:`dicom_inventory.scp.wire.retrieve_failure`, here with the status
        data set (Error Comment, Offending Element) rather than a bare code.
        """
        yield 1
        yield self.response(service), None


#: Statuses of C-FIND / C-GET / C-MOVE that only the decoder sends, with their condition.
DECODE_STATUSES: tuple[tuple[Status, str], ...] = (
    (
        Status.UNABLE_TO_PROCESS,
        "An identifier that cannot be decoded: truncated, an unknown VR, a corrupt item or "
        "delimiter, a corrupt deflate stream; Offending Element and Error Comment say where.",
    ),
    (
        Status.OUT_OF_RESOURCES,
        "C-FIND: an identifier past the decoder's limits (over 100,000 elements and items, or 16 "
        "nested sequences).",
    ),
    (Status.OUT_OF_RESOURCES_MATCHES, "C-GET, C-MOVE: an identifier past the same limits."),
)


class _Bad(Exception):
    """Raised inside the walk; becomes a :class:`DecodeFailure`."""

    def __init__(self, kind: FailureKind, message: str, tag: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.tag = kind, message, tag
        self.path = ""


def _name(tag: int) -> str:
    kw = keyword_for_tag(tag)
    label = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{label} {kw}" if kw else label


_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
#: VRs with a 2-byte reserved field and a 4-byte length in Explicit VR (PS3.5 Table 7.1-1).
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_SHORT_VRS = {
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN", "SH", "SL",
    "SS", "ST", "TM", "UI", "UL", "US",
}  # fmt: skip
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "UV": "Q", "SV": "q", "FL": "f", "FD": "d"}
_ASCII_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"}
_SINGLE_TEXT = {"LT", "ST", "UT", "UR"}
_CHECKED_SYNTAX = ("UI", "IS", "DS", "DA", "TM", "DT")


def _check_text(vr: str, value: str) -> None:
    """Raise :class:`_Bad` if one value of a key breaks its VR (PS3.5 6.2; PS3.4 C.2.2.2).

    The one check of a key's text, :func:`~dicom_inventory._vr.matching_problem` (ranges
    of dates and times allowed); here for the VRs whose syntax the decoder holds a request to.
    """
    if vr not in _CHECKED_SYNTAX:
        return
    problem = matching_problem(vr, value)
    if problem is not None:
        raise _Bad(FailureKind.INVALID, f"{value[:24]!r} {problem}")


def _codecs(value: Any) -> list[str]:
    """Python codecs of a Specific Character Set value (PS3.3 C.12.1.1.2)."""
    terms = [value] if isinstance(value, str) else list(value or [])
    out = []
    for i, term in enumerate(terms):
        term = str(term).strip()
        if not term and i == 0:
            term = "ISO_IR 6"
        if term not in python_encoding:
            raise _Bad(
                FailureKind.CHARSET,
                f"Specific Character Set {term!r}: not a defined term of PS3.3 C.12.1.1.2",
                0x00080005,
            )
        out.append(python_encoding[term])
    return out or [python_encoding["ISO_IR 6"]]


def _text(raw: bytes, vr: str, codecs: list[str]) -> str:
    if vr in _ASCII_VRS:
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise _Bad(FailureKind.INVALID, f"{vr} value is not ASCII (PS3.5 6.2)") from None
    if len(codecs) == 1 and not codecs[0].startswith("iso2022"):
        try:
            return raw.decode(codecs[0])
        except UnicodeDecodeError:
            raise _Bad(FailureKind.INVALID, f"{vr} value not valid in its character set") from None
    return decode_bytes(raw, codecs, set())  # ISO 2022 code extensions (PS3.5 6.1.2.5)


def _value(tag: int, vr: str, raw: bytes, little: bool, codecs: list[str]) -> Any:
    """The converted value of one element (a single value or a list), checked against its VR."""
    if not raw:
        return None
    if vr in _NUMBERS:
        fmt = _NUMBERS[vr]
        size = struct.calcsize(f"<{fmt}")
        if len(raw) % size:
            raise _Bad(
                FailureKind.INVALID,
                f"{_name(tag)}: {vr} value of {len(raw)} bytes, expected a multiple of {size}",
                tag,
            )
        values = list(struct.unpack(f"{'<' if little else '>'}{len(raw) // size}{fmt}", raw))
        return values[0] if len(values) == 1 else values
    if vr == "AT":
        if len(raw) % 4:
            raise _Bad(FailureKind.INVALID, f"{_name(tag)}: AT value of {len(raw)} bytes", tag)
        pairs = struct.unpack(f"{'<' if little else '>'}{len(raw) // 2}H", raw)
        tags = [Tag(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
        return tags[0] if len(tags) == 1 else tags
    if vr in ("OB", "OD", "OF", "OL", "OV", "OW", "UN"):
        return raw
    try:
        text = _text(raw, vr, codecs)
        if vr in _SINGLE_TEXT:
            return text.rstrip("\0 ")
        parts = [p.strip("\0 ") if vr != "PN" else p.rstrip("\0 ") for p in text.split("\\")]
        for p in parts:
            _check_text(vr, p)
    except _Bad as bad:
        raise _Bad(bad.kind, f"{_name(tag)}: {bad.message}", tag) from None
    return parts[0] if len(parts) == 1 else parts


@dataclass
class _Frame:
    """One open data set (the root or an item) or sequence during the walk."""

    end: int | None  # offset where it ends; None: undefined length (ends with a delimiter)
    path: str
    codecs: list[str]
    ds: Dataset | None = None  # a data set frame
    items: list[Dataset] = field(default_factory=list)  # a sequence frame
    tag: int = 0


def _walk(data: bytes, implicit: bool, little: bool, schema: dict[str, str]) -> Dataset:
    """The data set in `data`, every element converted; raises :class:`_Bad` with its path."""
    where: list[str] = [""]
    try:
        return _walk_from(data, implicit, little, schema, where)
    except _Bad as bad:
        bad.path = where[0]
        raise


def _walk_from(
    data: bytes, implicit: bool, little: bool, schema: dict[str, str], where: list[str]
) -> Dataset:
    e = "<" if little else ">"
    root = Dataset()
    stack = [_Frame(len(data), "", [python_encoding["ISO_IR 6"]], ds=root)]
    pos = count = 0

    def need(n: int, what: str, limit: int, tag: int | None = None) -> None:
        if pos + n > limit:
            raise _Bad(
                FailureKind.UNDECODABLE,
                f"{what}: {n} bytes at byte {pos}, only {max(0, limit - pos)} there (truncated)",
                tag,
            )

    while stack:
        top = stack[-1]
        limit = top.end if top.end is not None else len(data)
        where[0] = top.path
        if top.end is not None and pos > top.end:
            raise _Bad(
                FailureKind.UNDECODABLE,
                f"{_name(top.tag) if top.tag else 'data set'}: content overruns its length",
                top.tag or None,
            )
        if top.end is not None and pos == top.end:
            stack.pop()
            if top.ds is None and stack:  # a defined-length sequence: close it in its data set
                _close_sequence(stack[-1], top)
            continue
        if top.end is None and pos == len(data):
            raise _Bad(
                FailureKind.UNDECODABLE,
                f"truncated: undefined-length {'item' if top.ds is not None else 'sequence'} "
                "without its delimiter",
                top.tag or None,
            )
        need(4, "a tag", limit)
        group, elem = struct.unpack_from(f"{e}HH", data, pos)
        tag = group << 16 | elem
        if top.ds is None:  # in a sequence: items or the sequence delimiter only
            need(8, f"{_name(top.tag)} item header", limit, top.tag)
            (length,) = struct.unpack_from(f"{e}L", data, pos + 4)
            pos += 8
            if tag == _SEQ_END and top.end is None:
                stack.pop()
                _close_sequence(stack[-1], top)
                continue
            if tag != _ITEM:
                raise _Bad(
                    FailureKind.UNDECODABLE,
                    f"{_name(top.tag)}: expected an item (FFFE,E000), found {_name(tag)}",
                    top.tag,
                )
            count += 1  # items count as elements: a million empty items is no request
            if count > MAX_ELEMENTS:
                raise _Bad(FailureKind.TOO_LARGE, f"more than {MAX_ELEMENTS} elements and items")
            item = Dataset()
            top.items.append(item)
            path = f"{top.path}{_name(top.tag).split(' ')[0]}[{len(top.items) - 1}] > "
            if length != _UNDEFINED:
                need(length, f"{_name(top.tag)} item {len(top.items) - 1}", limit, top.tag)
            end = None if length == _UNDEFINED else pos + length
            stack.append(_Frame(end, path, top.codecs, ds=item, tag=top.tag))
            if len(stack) > 2 * MAX_DEPTH + 1:
                raise _Bad(FailureKind.TOO_LARGE, f"sequences nested deeper than {MAX_DEPTH}")
            continue
        if tag == _ITEM_END:
            need(8, "an item delimiter", limit)
            pos += 8
            if top.end is not None or len(stack) == 1:
                raise _Bad(FailureKind.UNDECODABLE, f"item delimiter (FFFE,E00D) at byte {pos - 8}")
            stack.pop()
            continue
        if group == 0xFFFE:
            raise _Bad(FailureKind.UNDECODABLE, f"{_name(tag)} outside a sequence", tag)
        ds = top.ds
        if tag in ds:
            raise _Bad(FailureKind.UNDECODABLE, f"{_name(tag)} appears twice", tag)
        count += 1
        if count > MAX_ELEMENTS:
            raise _Bad(FailureKind.TOO_LARGE, f"more than {MAX_ELEMENTS} elements and items")
        known = _dictionary_vr(tag)
        if implicit:
            need(8, f"{_name(tag)} header", limit, tag)
            (length,) = struct.unpack_from(f"{e}L", data, pos + 4)
            vr = known or "UN"
            pos += 8
        else:
            need(8, f"{_name(tag)} header", limit, tag)
            vr_bytes = data[pos + 4 : pos + 6]
            vr = vr_bytes.decode("latin_1")
            if vr in _LONG_VRS:
                need(12, f"{_name(tag)} header", limit, tag)
                (length,) = struct.unpack_from(f"{e}L", data, pos + 8)
                pos += 12
            elif vr in _SHORT_VRS:
                (length,) = struct.unpack_from(f"{e}H", data, pos + 6)
                pos += 8
            else:
                raise _Bad(
                    FailureKind.UNDECODABLE,
                    f"{_name(tag)}: unknown VR {vr_bytes!r} (PS3.5 Table 6.2-1)",
                    tag,
                )
            if vr == "UN" and known and known != "SQ" and length != _UNDEFINED:
                vr = known  # a known attribute sent as UN: read by its dictionary VR
            elif known and vr not in _alternatives(tag) and keyword_for_tag(tag):
                raise _Bad(
                    FailureKind.INVALID,
                    f"{_name(tag)}: VR {vr}, expected {dictionary_VR(tag)} (PS3.6)",
                    tag,
                )
        if length == _UNDEFINED:
            if vr != "SQ" and not (implicit and vr == "UN"):
                raise _Bad(
                    FailureKind.UNDECODABLE, f"{_name(tag)}: undefined length for VR {vr}", tag
                )
            _check_schema(tag, "SQ", None, schema, len(stack))
            stack.append(_Frame(None, top.path, top.codecs, tag=tag))
            continue
        need(length, f"{_name(tag)} value", limit, tag)
        if vr == "SQ" or (implicit and vr == "UN" and _looks_like_item(data, pos, e)):
            _check_schema(tag, "SQ", None, schema, len(stack))
            stack.append(_Frame(pos + length, top.path, top.codecs, tag=tag))
            continue
        raw = data[pos : pos + length]
        pos += length
        value = _value(tag, vr, raw, little, top.codecs)
        _check_schema(tag, vr, value, schema, len(stack))
        if tag == 0x00080005:
            top.codecs = _codecs(value)
        ds.add(DataElement(tag, vr, value, validation_mode=pydicom_config.IGNORE))
    if pos != len(data):
        raise _Bad(FailureKind.UNDECODABLE, f"{len(data) - pos} bytes after the data set")
    return root


def _close_sequence(parent: _Frame, seq: _Frame) -> None:
    assert parent.ds is not None
    parent.ds.add(DataElement(seq.tag, "SQ", Sequence(seq.items)))


def _looks_like_item(data: bytes, pos: int, e: str) -> bool:
    return len(data) >= pos + 4 and struct.unpack_from(f"{e}HH", data, pos) == (0xFFFE, 0xE000)


def _dictionary_vr(tag: int) -> str | None:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None
    return vr if " or " not in vr else None


def _alternatives(tag: int) -> set[str]:
    try:
        return {v.strip() for v in dictionary_VR(tag).split(" or ")} | {"UN"}
    except KeyError:
        return {"UN"}


def _check_schema(tag: int, vr: str, value: Any, schema: dict[str, str], depth: int) -> None:
    """Raise :class:`_Bad` if a key the service reads (top level) has the wrong VM."""
    if depth != 1:
        return
    kw = keyword_for_tag(tag)
    want = schema.get(kw)
    if want is None:
        return
    if want == "s" and vr != "SQ" or want != "s" and vr == "SQ":
        raise _Bad(
            FailureKind.INVALID, f"{_name(tag)}: VR {vr}, expected {dictionary_VR(tag)}", tag
        )
    if want == "1" and isinstance(value, list):
        raise _Bad(
            FailureKind.INVALID,
            f"{_name(tag)}: {len(value)} values, expected VM {dictionary_VM(tag)}",
            tag,
        )


def _inflate(raw: bytes) -> bytes:
    """Inflate a Deflated data set (PS3.5 A.5: raw deflate, no zlib header), bounded."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, MAX_INFLATED_BYTES + 1)
    except zlib.error as exc:
        raise _Bad(FailureKind.UNDECODABLE, f"deflated data set corrupt: {exc}") from None
    if len(out) > MAX_INFLATED_BYTES:
        raise _Bad(
            FailureKind.TOO_LARGE,
            f"deflated data set inflates past {MAX_INFLATED_BYTES // 1024 // 1024} MiB",
        )
    return out


_SYNTAXES: dict[str, tuple[bool, bool, bool]] = {  # implicit, little endian, deflated
    str(ImplicitVRLittleEndian): (True, True, False),
    str(ExplicitVRBigEndian): (False, False, False),
    str(DeflatedExplicitVRLittleEndian): (False, True, True),
}


def decode_request(raw: bytes, transfer_syntax: str, service: Service) -> Dataset | DecodeFailure:
    """Decode the data set of one DIMSE request defensively, or say why it cannot be.

    Parameters
    ----------
    raw : bytes
        The encoded Identifier or Action Information, as received.
    transfer_syntax : str
        The UID of the presentation context's transfer syntax; any other than Implicit VR
        Little Endian, Explicit VR Big Endian and Deflated Explicit VR Little Endian is read as
        Explicit VR Little Endian (every other transfer syntax encodes the data set so).
    service : Service
        Which request it is: chooses the keys whose VR and VM are checked.

    Returns
    -------
    Dataset or DecodeFailure
        Every element converted (no raw element left for a handler to trip on), or the
        failure, whose :meth:`DecodeFailure.response` is the status data set to answer.
        Never raises for any input bytes.
    """
    implicit, little, deflated = _SYNTAXES.get(str(transfer_syntax), (False, True, False))
    try:
        data = _inflate(raw) if deflated else bytes(raw)
        return _walk(data, implicit, little, _SCHEMA[service])
    except _Bad as bad:
        return DecodeFailure(bad.kind, bad.message, bad.tag, bad.path)
    except struct.error as exc:  # a length check missed: still no traceback for the peer
        return DecodeFailure(FailureKind.UNDECODABLE, f"bytes not a data set: {exc}")
    except (ValueError, TypeError, OverflowError, LookupError) as exc:  # a converter's refusal
        return DecodeFailure(FailureKind.INVALID, f"value not convertible: {exc}")


_REQUEST_PARAMETER: dict[str, str] = {
    "N-ACTION": "ActionInformation",
    "C-FIND": "Identifier",
    "C-GET/C-MOVE": "Identifier",
}


def decoded(event: Any, service: Service, what: str | None = None) -> Dataset | DecodeFailure:
    """The request data set of `event` (:func:`request_dataset`); a refusal logged here, once.

    The one prelude of every handler that reads a request data set: the failure is logged as
    ``<what> from AE@host:port refused: <why>`` (`what` defaults to the service's title) and
    returned, for the handler to answer with :meth:`DecodeFailure.answers` (C-services) or
    :meth:`DecodeFailure.response` (N-ACTION).
    """
    ds = request_dataset(event, service)
    if isinstance(ds, DecodeFailure):
        LOG.warning("%s from %s refused: %s", what or service.title, requestor(event), ds)
    return ds


def request_dataset(event: Any, service: Service) -> Dataset | DecodeFailure:
    """The request data set of a pynetdicom `event`, decoded by :func:`decode_request`.

    Reads the raw bytes of the request primitive (never ``event.identifier`` or
    ``event.action_information``, which pynetdicom decodes lazily and inflates unbounded). An
    absent or empty data set is an empty :class:`~pydicom.dataset.Dataset`.
    """
    stream: BytesIO | None = getattr(event.request, _REQUEST_PARAMETER[service.operation], None)
    raw = stream.getvalue() if stream is not None else b""
    if not raw:
        return Dataset()
    return decode_request(raw, str(event.context.transfer_syntax), service)
