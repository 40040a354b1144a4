"""The statement as DocBook 5 XML (the format the DICOM standard itself is kept in), with lxml.

Structure: ``<article>`` with ``<info>``, nested ``<section xml:id=...>``, ``<para>``,
``<itemizedlist>`` and formal ``<table>`` (``<title>``, ``<tgroup>``, ``<thead>``, ``<tbody>``),
all in the DocBook namespace; ids are the document model's ids, prefixed to stay unique.
"""

from __future__ import annotations

from dicom_inventory.conformance.document import Items, Para, Section, Table
from lxml import etree

__all__ = ["DB", "XML_ID", "to_docbook", "to_docbook_bytes"]

DB = "http://docbook.org/ns/docbook"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"


def _e(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{DB}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _blocks(parent: etree._Element, section: Section) -> None:
    for b in section.blocks:
        if isinstance(b, Para):
            _e(parent, "para", b.text)
        elif isinstance(b, Items):
            lst = _e(parent, "itemizedlist")
            for item in b.items:
                _e(_e(lst, "listitem"), "para", item)
        elif isinstance(b, Table):
            t = _e(parent, "table", **{XML_ID: f"table_{b.id}", "frame": "all"})
            _e(t, "title", b.title)
            g = _e(t, "tgroup", cols=str(len(b.head)))
            for i in range(len(b.head)):
                _e(g, "colspec", colname=f"c{i + 1}")
            row = _e(_e(g, "thead"), "row")
            for h in b.head:
                _e(row, "entry", h)
            body = _e(g, "tbody")
            for r in b.rows:
                row = _e(body, "row")
                for cell in r:
                    _e(row, "entry", cell)
    for s in section.sections:
        sec = _e(parent, "section", **{XML_ID: f"sect_{s.id}"})
        _e(sec, "title", s.title)
        _blocks(sec, s)


def to_docbook(doc: Section) -> etree._Element:
    """The DocBook 5 ``<article>`` for a statement."""
    root = etree.Element(f"{{{DB}}}article", {"version": "5.0", XML_ID: doc.id}, nsmap={None: DB})
    info = _e(root, "info")
    _e(info, "title", doc.title)
    _blocks(root, doc)
    return root


def to_docbook_bytes(doc: Section) -> bytes:
    """Serialized DocBook (UTF-8, with XML declaration)."""
    return bytes(
        etree.tostring(to_docbook(doc), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
