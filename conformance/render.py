"""HTML and Markdown rendered from the DocBook statement (never from anything else).

Sections are numbered by position (1, 1.1, ...) and listed in a table of contents (PS3.2 A.2);
tables keep their titles as captions, numbered per top-level section ("Table 4-2"). The HTML
page is made by the project's one HTML renderer (:mod:`dicom_inventory.scu.html`:
Jinja2 templates, one stylesheet); the Markdown is written here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dicom_inventory.conformance.docbook import DB, XML_ID
from dicom_inventory.scu.html import (
    Block,
    BulletList,
    Cell,
    DataTable,
    Page,
    PageSection,
    Paragraph,
    Row,
    TocEntry,
    render_page,
)
from lxml import etree

__all__ = ["to_html", "to_markdown"]

_NS = {"db": DB}

#: A cell of nothing but UIDs (dotted numbers, comma-separated), the only kind that may break
#: inside a string.
_UIDS = re.compile(r"[012](?:\.\d+)+(?:,\s*[012](?:\.\d+)+)*")


def _text(el: etree._Element | None) -> str:
    return "" if el is None else "".join(el.itertext()).strip()


def _sections(parent: etree._Element) -> list[etree._Element]:
    return list(parent.findall("db:section", _NS))


def _numbered(
    parent: etree._Element, prefix: str = ""
) -> Iterator[tuple[str, etree._Element, int]]:
    for i, s in enumerate(_sections(parent), 1):
        number = f"{prefix}{i}"
        yield number, s, number.count(".") + 1
        yield from _numbered(s, number + ".")


def _tables_numbered(root: etree._Element) -> dict[etree._Element, str]:
    labels: dict[etree._Element, str] = {}
    for top_i, top in enumerate(_sections(root), 1):
        for j, t in enumerate(top.iter(f"{{{DB}}}table"), 1):
            labels[t] = f"Table {top_i}-{j}"
    return labels


def _rows(table: etree._Element) -> tuple[list[str], list[list[str]]]:
    head = [_text(e) for e in table.findall("db:tgroup/db:thead/db:row/db:entry", _NS)]
    body = [
        [_text(e) for e in row.findall("db:entry", _NS)]
        for row in table.findall("db:tgroup/db:tbody/db:row", _NS)
    ]
    return head, body


def _cell(text: str) -> Cell:
    """A table cell; one holding only UIDs is of class ``code``.

    Such a cell is kept whole while its table fits, broken anywhere on a narrow screen (never
    a cell with ordinary words).
    """
    return Cell(text, "code" if _UIDS.fullmatch(text) else "")


def _html_blocks(
    parent: etree._Element,
    numbers: dict[etree._Element, str],
    labels: dict[etree._Element, str],
) -> list[Block]:
    """The page blocks of `parent`'s lists, tables and sections.

    Paragraphs too, below the article: the article's own paragraphs go before the table of
    contents.
    """
    out: list[Block] = []
    for child in parent:
        tag = etree.QName(child).localname
        if tag == "para" and etree.QName(parent).localname != "article":
            out.append(Paragraph(_text(child)))
        elif tag == "itemizedlist":
            out.append(BulletList([_text(li) for li in child.findall("db:listitem", _NS)]))
        elif tag == "table":
            head, body = _rows(child)
            out.append(
                DataTable(
                    child.get(XML_ID, ""),
                    f"{labels[child]}. {_text(child.find('db:title', _NS))}",
                    [Cell(h) for h in head],
                    [Row([_cell(c) for c in r]) for r in body],
                )
            )
        elif tag == "section":
            n = numbers[child]
            out.append(
                PageSection(
                    child.get(XML_ID, ""),
                    f"{n} {_text(child.find('db:title', _NS))}",
                    min(6, n.count(".") + 2),
                    _html_blocks(child, numbers, labels),
                )
            )
    return out


def to_html(docbook: etree._Element) -> str:
    """A standalone, styled HTML page, rendered by :mod:`dicom_inventory.scu.html`.

    The article's title is the page heading, its own paragraphs come first, then the table of
    contents (three levels), then the numbered sections with their tables captioned.
    """
    title = _text(docbook.find("db:info/db:title", _NS))
    numbered = list(_numbered(docbook))
    page = Page(
        title=title,
        heading=title,
        intro=[Paragraph(_text(p)) for p in docbook.findall("db:para", _NS)],
        toc=[
            TocEntry(s.get(XML_ID, ""), f"{n} {_text(s.find('db:title', _NS))}", depth)
            for n, s, depth in numbered
            if depth <= 3
        ],
        blocks=_html_blocks(docbook, {s: n for n, s, _ in numbered}, _tables_numbered(docbook)),
    )
    return render_page(page)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(docbook: etree._Element) -> str:
    """GitHub-flavoured Markdown with pipe tables."""
    title = _text(docbook.find("db:info/db:title", _NS))
    labels = _tables_numbered(docbook)
    numbers = {s: n for n, s, _ in _numbered(docbook)}
    out = [f"# {title}", ""]
    for p in docbook.findall("db:para", _NS):
        out += [_text(p), ""]
    out += ["## Table of Contents", ""]
    for n, s, depth in _numbered(docbook):
        if depth <= 3:
            anchor = s.get(XML_ID, "")
            out.append(f"{'  ' * (depth - 1)}- [{n} {_text(s.find('db:title', _NS))}](#{anchor})")
    out.append("")

    def blocks(parent: etree._Element) -> None:
        for child in parent:
            tag = etree.QName(child).localname
            if tag == "para" and parent is not docbook:
                out.extend([_text(child), ""])
            elif tag == "itemizedlist":
                out.extend(f"- {_text(li)}" for li in child.findall("db:listitem", _NS))
                out.append("")
            elif tag == "table":
                head, body = _rows(child)
                out.append(f"**{labels[child]}. {_text(child.find('db:title', _NS))}**")
                out.append("")
                out.append("| " + " | ".join(_md_cell(h) for h in head) + " |")
                out.append("|" + "---|" * len(head))
                out.extend("| " + " | ".join(_md_cell(c) for c in r) + " |" for r in body)
                out.append("")
            elif tag == "section":
                n = numbers[child]
                level = min(6, n.count(".") + 2)
                out.append(
                    f'{"#" * level} <a id="{child.get(XML_ID, "")}"></a>{n} {_text(child.find("db:title", _NS))}'
                )
                out.append("")
                blocks(child)

    blocks(docbook)
    return "\n".join(out).rstrip() + "\n"
