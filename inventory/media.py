"""The DICOMweb representations of an Inventory SOP Instance, streamed record by record.

An Inventory can hold hundreds of millions of records, so none of its representations is built
in memory. :func:`iter_datasets` walks a Part 10 file with the IOD library's streaming reader
(:class:`~dicom_inventory.read.InventoryReader`, any transfer syntax it reads) and yields the
top-level elements before Inventoried Studies Sequence (0008,0423), then each study record,
then the trailing elements, each as a small pydicom :class:`~pydicom.dataset.Dataset`. The
encoders below turn that stream into bytes:

* :func:`iter_json` -- the DICOM JSON Model (PS3.18 F.2), one JSON array holding the instance
  (``application/dicom+json``), one record at a time. The values are pydicom's JSON values
  (``Dataset.to_json_dict``): :mod:`dicom_inventory._dicom_json` writes the plain common
  cases straight from the raw bytes, 20 times faster, and hands every other element to
  pydicom; a property test holds the two equal.
* :func:`iter_xml` -- the Native DICOM Model (PS3.19 A.1), one ``NativeDicomModel`` document
  (the body of a part of ``multipart/related; type="application/dicom+xml"``). pydicom has no
  XML writer, so the document is written here from the same JSON form with lxml's incremental
  writer (:class:`lxml.etree.xmlfile`); :func:`dataset_from_xml` reads it back.
* :func:`iter_part10` -- the file's bytes, for ``application/dicom`` (PS3.10), in chunks.

Design note: each record becomes a pydicom data set of raw elements created with the file's
Specific Character Set as its parent encoding (``Dataset(parent_encoding=...)``, what pydicom's
own reader does for sequence items), so its text decodes exactly as inside the whole file
(PS3.5 6.1.2.5), an item's own (0008,0005) still overriding it.

The media type names and their parameters are here too, so the origin server, the user agent
and the test kit use the same strings (PS3.18 8.7.3, Table 8.7.3-2).
"""

from __future__ import annotations

import io
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

from dicom_inventory import tags
from dicom_inventory._dicom_json import data_set_encodings, dataset_json
from dicom_inventory._parse import RawDataset
from dicom_inventory.read import InventoryReader
from lxml import etree
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian

__all__ = [
    "DICOM",
    "DICOM_JSON",
    "DICOM_XML",
    "MULTIPART_RELATED",
    "NATIVE_DICOM_MODEL_NS",
    "dataset_from_json",
    "dataset_from_xml",
    "iter_datasets",
    "iter_json",
    "iter_part10",
    "iter_xml",
    "json_dataset",
    "xml_document",
]

#: PS3.18 Table 8.7.3-2 (DICOM media types) and RFC 2387.
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
MULTIPART_RELATED = "multipart/related"
#: The namespace of the Native DICOM Model (PS3.19 A.1.6).
NATIVE_DICOM_MODEL_NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"

_CHUNK = 1 << 20
#: (0008,0423) SQ with undefined length; item and delimiters (PS3.5 7.5)
_SQ_UNDEFINED = b"\x08\x00\x23\x04SQ\x00\x00\xff\xff\xff\xff"
_ITEM_UNDEFINED = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_RECORDS = tags.InventoriedStudiesSequence


# --------------------------------------------------------------------------- the stream
def _convert(raw: RawDataset, encoding: str | list[str] = default_encoding) -> Dataset:
    """A pydicom data set of raw elements (values decoded only when used, with `encoding`)."""
    ds = Dataset(parent_encoding=encoding)
    own = data_set_encodings(raw, encoding)
    for tag, (vr, value, offset) in raw.items():
        if isinstance(value, list):
            items = Sequence([_convert(item, own) for item in value])
            ds[tag] = DataElement(tag, "SQ", items)
        else:
            # the value bytes are the same in Explicit and Implicit VR Little Endian; the VR is
            # the one the streaming parser found (explicit, or from the dictionary)
            ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, offset, False, True)
    return ds


def _iter_raw(
    path: str | os.PathLike[str],
) -> Iterator[tuple[str, RawDataset, str | list[str]]]:
    """The parts of :func:`iter_datasets` as raw data sets, with their inherited encodings."""
    with InventoryReader(path) as reader:
        head = {t: e for t, e in reader.raw_header.items() if t != _RECORDS}
        encoding = data_set_encodings(head, default_encoding)
        yield "head", head, default_encoding
        seen = set(head)
        studies = reader.raw_studies()
        first = next(studies, None)
        if _RECORDS in reader.raw_header:
            yield "sequence", {}, encoding
        if first is not None:
            for raw in itertools.chain([first], studies):
                yield "record", raw, encoding
        tail = {t: e for t, e in reader.raw_header.items() if t not in seen and t != _RECORDS}
        yield "tail", tail, default_encoding


def iter_datasets(
    path: str | os.PathLike[str],
) -> Iterator[tuple[str, Dataset]]:
    """Yield the parts of the Inventory at `path`, in tag order, each as a small data set.

    Yields ``("head", ds)`` with the top-level elements before (0008,0423); then, if the file
    has Inventoried Studies Sequence, ``("sequence", empty ds)`` followed by ``("record", ds)``
    once per item; then ``("tail", ds)`` with the elements after it. A record's data set is
    created with the file's Specific Character Set as its parent encoding (so its text decodes
    as in the file). Memory is bounded by the largest record (the reader's contract).

    Raises
    ------
    InventoryReadError
        If the file cannot be parsed (naming file, offset and tag).
    """
    for kind, raw, encoding in _iter_raw(path):
        yield kind, _convert(raw, encoding)


def iter_part10(
    path: str | os.PathLike[str], transfer_syntax: str | None = None, *, chunk: int = _CHUNK
) -> Iterator[bytes]:
    """Yield the Part 10 file at `path` (``application/dicom``, PS3.10) in chunks.

    With `transfer_syntax` other than the file's own, the file is re-encoded as it streams, in
    Explicit VR Little Endian (the only target offered: the DICOMweb default, PS3.18
    8.7.3.5.2), records one at a time with undefined lengths.

    Raises
    ------
    ValueError
        For a target transfer syntax other than Explicit VR Little Endian.
    """
    stored = str(read_file_meta_info(path).TransferSyntaxUID)
    if transfer_syntax in (None, stored):
        with open(path, "rb") as f:
            while data := f.read(chunk):
                yield data
        return
    if transfer_syntax != ExplicitVRLittleEndian:
        raise ValueError(
            f"cannot re-encode into {transfer_syntax}: only Explicit VR Little Endian "
            f"({ExplicitVRLittleEndian})"
        )
    yield from _transcoded(path, chunk)


def _transcoded(path: str | os.PathLike[str], chunk: int) -> Iterator[bytes]:
    meta = read_file_meta_info(path)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    fp = DicomBytesIO()
    fp.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    encoding: str | list[str] = default_encoding
    opened = False
    for kind, ds in iter_datasets(path):
        fp.is_little_endian, fp.is_implicit_VR = True, False
        if kind == "head" and "SpecificCharacterSet" in ds:
            try:
                encoding = convert_encodings(ds.SpecificCharacterSet)
            except (LookupError, ValueError):
                encoding = default_encoding
        if kind == "sequence":
            fp.write(_SQ_UNDEFINED)
            opened = True
            continue
        if kind == "record":
            fp.write(_ITEM_UNDEFINED)
            write_dataset(fp, ds, parent_encoding=encoding)
            fp.write(_ITEM_END)
        else:
            if kind == "tail" and opened:
                fp.write(_SEQ_END)
            write_dataset(fp, ds, parent_encoding=encoding)
        if fp.tell() >= chunk:
            yield fp.getvalue()
            fp = DicomBytesIO()
    yield fp.getvalue()


def _by_pydicom(tag: int, element: tuple[str, Any, int], encodings: str | list[str]) -> Any:
    """One raw element's DICOM JSON form by pydicom (the reference, for uncommon values)."""
    return _convert({tag: element}, encodings).to_json_dict()[f"{tag:08X}"]


def _members(raw: RawDataset, encoding: str | list[str]) -> dict[str, Any]:
    """The DICOM JSON members of a raw data set, as pydicom's ``to_json_dict`` gives them."""
    return dataset_json(raw, encoding, _by_pydicom)


def _json(members: dict[str, Any]) -> str:
    return json.dumps(members, ensure_ascii=False, separators=(",", ":"))


def iter_json(path: str | os.PathLike[str], *, chunk: int = _CHUNK) -> Iterator[bytes]:
    """Yield the DICOM JSON Model of the Inventory at `path` (PS3.18 F.2), UTF-8.

    The body is a JSON array holding one object, the instance (PS3.18 F.2.1: an array of data
    sets), with members in tag order; records are converted one at a time (by
    :mod:`dicom_inventory._dicom_json`, equal to pydicom's ``to_json_dict``) and handed out in
    pieces of about `chunk` characters, so memory stays at one record and one chunk. An empty
    sequence is ``{"vr":"SQ","Value":[]}``, as pydicom writes it.
    """
    out: list[str] = ["[{"]
    size = 2
    members = 0  # top-level members written so far
    records = 0
    opened = False
    for kind, raw, encoding in _iter_raw(path):
        if kind == "record":
            text = ("," if records else "") + _json(_members(raw, encoding))
            records += 1
        elif kind == "sequence":
            text = ("," if members else "") + f'"{_RECORDS:08X}":{{"vr":"SQ","Value":['
            members += 1
            opened = True
        else:
            text = "]}" if kind == "tail" and opened else ""
            body = _json(_members(raw, encoding))[1:-1]
            if body:
                text += ("," if members else "") + body
                members += 1
        out.append(text)
        size += len(text)
        if size >= chunk:
            yield "".join(out).encode("utf-8")
            out, size = [], 0
    out.append("}]")
    yield "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- XML (PS3.19 A.1)
_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def _xml_attribute(xf: Any, tag: str, element: dict[str, Any]) -> None:
    """Write one ``DicomAttribute`` from its DICOM JSON form (PS3.19 A.1.1, Table A.1.5-2)."""
    vr = element["vr"]
    attrib = {"tag": tag, "vr": vr}
    keyword = keyword_for_tag(int(tag, 16))
    if keyword:
        attrib["keyword"] = keyword
    with xf.element("DicomAttribute", attrib):
        if "InlineBinary" in element:
            with xf.element("InlineBinary"):
                xf.write(element["InlineBinary"])
            return
        if "BulkDataURI" in element:
            xf.write(etree.Element("BulkData", uri=element["BulkDataURI"]))
            return
        for number, value in enumerate(element.get("Value", []), start=1):
            if vr == "SQ":
                with xf.element("Item", number=str(number)):
                    for t, e in value.items():
                        _xml_attribute(xf, t, e)
            elif vr == "PN":
                with xf.element("PersonName", number=str(number)):
                    for group in _PN_GROUPS:
                        if not value.get(group):
                            continue
                        with xf.element(group):
                            for name, part in zip(
                                _PN_COMPONENTS, value[group].split("^"), strict=False
                            ):
                                if part:
                                    with xf.element(name):
                                        xf.write(part)
            else:
                with xf.element("Value", number=str(number)):
                    if value is not None:
                        xf.write(str(value) if not isinstance(value, float) else repr(value))


class _Drain(io.RawIOBase):
    """A write-only sink whose written bytes are taken out after each step."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.parts.append(bytes(b))
        self.size += len(b)
        return len(b)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        return data


def iter_xml(path: str | os.PathLike[str], *, chunk: int = _CHUNK) -> Iterator[bytes]:
    """Yield the Native DICOM Model document of the Inventory at `path` (PS3.19 A.1), UTF-8.

    Attributes in tag order, records written one at a time from their DICOM JSON form and
    handed out in pieces of about `chunk` bytes.
    """
    sink = _Drain()
    with etree.xmlfile(sink, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("NativeDicomModel", {"xmlns": NATIVE_DICOM_MODEL_NS}):
            records = 0
            sequence: Any = None
            for kind, raw, encoding in _iter_raw(path):
                if kind == "sequence":
                    sequence = xf.element(
                        "DicomAttribute",
                        {
                            "tag": f"{_RECORDS:08X}",
                            "vr": "SQ",
                            "keyword": "InventoriedStudiesSequence",
                        },
                    )
                    sequence.__enter__()
                    continue
                members = _members(raw, encoding)
                if kind == "record":
                    records += 1
                    with xf.element("Item", number=str(records)):
                        for t, e in members.items():
                            _xml_attribute(xf, t, e)
                else:
                    if kind == "tail" and sequence is not None:
                        sequence.__exit__(None, None, None)
                    for t, e in members.items():
                        _xml_attribute(xf, t, e)
                xf.flush()
                if sink.size >= chunk or kind != "record":
                    yield sink.take()
    yield sink.take()


def xml_document(ds: Dataset) -> bytes:
    """The Native DICOM Model document of one (small) data set, e.g. a search result."""
    sink = _Drain()
    with etree.xmlfile(sink, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("NativeDicomModel", {"xmlns": NATIVE_DICOM_MODEL_NS}):
            for t, e in ds.to_json_dict().items():
                _xml_attribute(xf, t, e)
    return sink.take()


# --------------------------------------------------------------------------- reading back
def json_dataset(obj: dict[str, Any]) -> Dataset:
    """A pydicom data set from one DICOM JSON object (PS3.18 F.2), by pydicom.

    pydicom's value validation settings apply (``pydicom.config.settings``); a caller judging
    another server's output turns them off and lets the validator name the rule.
    """
    return Dataset.from_json(obj)


def dataset_from_json(data: bytes | str) -> list[Dataset]:
    """The data sets of a DICOM JSON body (an array of objects, PS3.18 F.2.1)."""
    body = json.loads(data)
    if not isinstance(body, list):
        raise ValueError("a DICOM JSON body is an array of data sets (PS3.18 F.2.1)")
    return [json_dataset(obj) for obj in body]


def _json_from_xml(node: Any) -> dict[str, Any]:
    ns = f"{{{NATIVE_DICOM_MODEL_NS}}}"

    def local(el: Any) -> str:
        return str(el.tag).removeprefix(ns)

    out: dict[str, Any] = {}
    for attr in node:
        if local(attr) != "DicomAttribute":
            continue
        tag = attr.get("tag")
        vr = attr.get("vr")
        if tag is None or vr is None:
            raise ValueError("a DicomAttribute needs tag and vr (PS3.19 A.1.5)")
        element: dict[str, Any] = {"vr": vr}
        values: list[Any] = []
        for child in attr:
            name = local(child)
            if name == "InlineBinary":
                element["InlineBinary"] = (child.text or "").strip()
            elif name == "BulkData":
                element["BulkDataURI"] = child.get("uri")
            elif name == "Item":
                values.append(_json_from_xml(child))
            elif name == "PersonName":
                pn: dict[str, str] = {}
                for group in child:
                    parts = {local(c): c.text or "" for c in group}
                    text = "^".join(parts.get(p, "") for p in _PN_COMPONENTS).rstrip("^")
                    pn[local(group)] = text
                values.append(pn)
            elif name == "Value":
                values.append(_xml_value(vr, child.text))
        if values:
            element["Value"] = values
        out[tag.upper()] = element
    return out


def _xml_value(vr: str, text: str | None) -> Any:
    if text is None:
        return None
    if vr in ("IS", "SL", "SS", "UL", "US", "SV", "UV"):
        return int(text)
    if vr in ("DS", "FL", "FD"):
        number = float(text)
        return (
            int(number)
            if number.is_integer() and "." not in text and "e" not in text.lower()
            else number
        )
    return text


def dataset_from_xml(data: bytes) -> Dataset:
    """Read a Native DICOM Model document (PS3.19 A.1) back into a pydicom data set.

    Raises
    ------
    ValueError
        If the document is not a ``NativeDicomModel`` (naming what was found).
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(data, parser)
    if etree.QName(root).localname != "NativeDicomModel":
        raise ValueError(
            f"root element {etree.QName(root).localname!r}, expected NativeDicomModel (PS3.19 A.1)"
        )
    return json_dataset(_json_from_xml(root))
