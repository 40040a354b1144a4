"""HTML and Markdown rendered from the DocBook statement (never from anything else).

Sections are numbered by position (1, 1.1, ...) and listed in a table of contents (PS3.2 A.2);
tables keep their titles as captions, numbered per top-level section ("Table 4-2").
"""

from __future__ import annotations

import html
from collections.abc import Iterator

from dicom_inventory.conformance.docbook import DB, XML_ID
from lxml import etree

__all__ = ["to_html", "to_markdown"]

_NS = {"db": DB}

_CSS = """
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; max-width: 72em; margin: 2em auto;
       padding: 0 1.5em; color: #1d2330; line-height: 1.45; }
h1 { border-bottom: 3px solid #2b5b84; padding-bottom: .3em; color: #163a5a; }
h2 { border-bottom: 1px solid #c8d3de; padding-bottom: .2em; margin-top: 2em; color: #163a5a; }
h3, h4, h5 { color: #24496b; }
nav.toc { background: #f3f6f9; border: 1px solid #d7e0e8; padding: .2em 1.5em .8em; }
nav.toc h2 { margin-top: .6em; }
nav.toc ul { list-style: none; padding-left: 1.2em; }
table { border-collapse: collapse; margin: 1em 0; width: 100%; font-size: .92em; }
caption { text-align: left; font-weight: 600; padding: .3em 0; color: #24496b; }
th, td { border: 1px solid #c8d3de; padding: .3em .5em; vertical-align: top; text-align: left; }
th { background: #2b5b84; color: white; }
tr:nth-child(even) td { background: #f6f8fa; }
td:nth-child(2) { word-break: break-all; }
"""


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


def to_html(docbook: etree._Element) -> str:
    """A standalone, styled HTML page."""
    title = _text(docbook.find("db:info/db:title", _NS))
    labels = _tables_numbered(docbook)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    numbers = {s: n for n, s, _ in _numbered(docbook)}

    def blocks(parent: etree._Element) -> None:
        for child in parent:
            tag = etree.QName(child).localname
            if tag == "para" and parent is not docbook:  # the article's own go first
                out.append(f"<p>{html.escape(_text(child))}</p>")
            elif tag == "itemizedlist":
                out.append("<ul>")
                for li in child.findall("db:listitem", _NS):
                    out.append(f"<li>{html.escape(_text(li))}</li>")
                out.append("</ul>")
            elif tag == "table":
                head, body = _rows(child)
                tid = html.escape(child.get(XML_ID, ""))
                cap = f"{labels[child]}. {_text(child.find('db:title', _NS))}"
                out.append(f'<table id="{tid}"><caption>{html.escape(cap)}</caption><thead><tr>')
                out.extend(f"<th>{html.escape(h)}</th>" for h in head)
                out.append("</tr></thead><tbody>")
                for r in body:
                    out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
                out.append("</tbody></table>")
            elif tag == "section":
                n = numbers[child]
                level = min(6, n.count(".") + 2)
                sid = html.escape(child.get(XML_ID, ""))
                t = html.escape(_text(child.find("db:title", _NS)))
                out.append(f'<section id="{sid}"><h{level}>{n} {t}</h{level}>')
                blocks(child)
                out.append("</section>")

    intro = [c for c in docbook if etree.QName(c).localname == "para"]
    for p in intro:
        out.append(f"<p>{html.escape(_text(p))}</p>")
    out.append('<nav class="toc"><h2>Table of Contents</h2><ul>')
    for n, s, depth in _numbered(docbook):
        if depth <= 3:
            sid = html.escape(s.get(XML_ID, ""))
            t = html.escape(_text(s.find("db:title", _NS)))
            out.append(
                f'<li style="margin-left:{(depth - 1) * 1.2}em"><a href="#{sid}">{n} {t}</a></li>'
            )
    out.append("</ul></nav>")
    blocks(docbook)
    out.append("</body></html>")
    return "\n".join(out)


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
