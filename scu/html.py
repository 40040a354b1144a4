"""One HTML renderer for every page the project writes: Jinja2 templates and one stylesheet.

The templates and the stylesheet live in ``templates/`` of this package (shipped as package
data and read through :mod:`importlib.resources`). The renderer knows pages, sections,
paragraphs, lists, tables and figures, and nothing of DICOM: the conformance statement
(:func:`dicom_inventory.conformance.render.to_html`, from the DocBook), the test-kit report
(:meth:`dicom_inventory.conformance.testkit.report.Report.to_html`), the inventory summary and
the diff report (:mod:`dicom_inventory.scu.pages`) each describe their content as a
:class:`Page` and call :func:`render_page`. Autoescaping is on: every text is escaped, none is
taken as markup; the one exception is a :class:`Figure`'s SVG, which the project's own plotting
code draws (:mod:`dicom_inventory.scu.plots`).

It lives in the SCU package because both sides of the layering use it: the judges
(``dicom_inventory.conformance``) may import the SCU, the SCU may not import the judges
(import-linter contract ``scu-not-scp``).

Cell classes the stylesheet knows (a renderer's vocabulary, not DICOM's):

``id``
    An identifier: never wraps, not even at its hyphens.
``code``
    Long machine strings (dotted numbers, lists of them): kept whole while the table fits,
    broken anywhere on a narrow screen, where they would overflow.
``lines``
    Text shown one line per item; a long string in it breaks anywhere rather than overflow.
``good``, ``bad``, ``warn``, ``neutral``
    A verdict, in colour; on a :class:`Row` the row is highlighted (``bad``, ``warn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, ClassVar

import jinja2

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "Block",
    "BulletList",
    "Cell",
    "DataTable",
    "Figure",
    "Page",
    "PageSection",
    "Paragraph",
    "Row",
    "TocEntry",
    "render_page",
    "stylesheet",
    "templates",
]

#: The one stylesheet, inlined into every page (pages are standalone files).
_STYLESHEET = "style.css"
_PAGE = "page.html.j2"


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text, with an optional class (``verdict good``, ...)."""

    text: str
    cls: str = ""
    kind: ClassVar[str] = "paragraph"


@dataclass(frozen=True)
class BulletList:
    """A bulleted list of plain-text items."""

    items: Sequence[str]
    kind: ClassVar[str] = "list"


@dataclass(frozen=True)
class Cell:
    """A table cell: one text, or a sequence of texts shown one per line."""

    text: str | Sequence[str]
    cls: str = ""

    @property
    def lines(self) -> Sequence[str]:
        """The texts of the cell, one per line."""
        return [self.text] if isinstance(self.text, str) else self.text


@dataclass(frozen=True)
class Row:
    """A body row of a table, with an optional class that highlights it."""

    cells: Sequence[Cell]
    cls: str = ""


@dataclass(frozen=True)
class DataTable:
    """A table with an id, a caption (may be empty), header cells and body rows."""

    id: str
    caption: str
    head: Sequence[Cell]
    rows: Sequence[Row]
    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row.cells) != len(self.head):
                raise ValueError(
                    f"table {self.id}: a row has {len(row.cells)} cells, expected "
                    f"{len(self.head)} (one per header cell)"
                )


@dataclass(frozen=True)
class PageSection:
    """A section with an id, a heading at `level` (2 to 6) and its blocks."""

    id: str
    heading: str
    level: int
    blocks: Sequence[Block] = ()
    kind: ClassVar[str] = "section"

    def __post_init__(self) -> None:
        if not 2 <= self.level <= 6:
            raise ValueError(
                f"section {self.id}: heading level {self.level}, expected 2 to 6 "
                "(level 1 is the page heading)"
            )


@dataclass(frozen=True)
class Figure:
    """A drawing with an id and a caption: an inline SVG document made by our plotting code.

    The SVG is inserted as markup, not escaped (its texts are escaped by the SVG writer), so
    only pass drawings made by :mod:`dicom_inventory.scu.plots`, never text read from input.
    """

    id: str
    caption: str
    svg: str
    kind: ClassVar[str] = "figure"

    def __post_init__(self) -> None:
        start = self.svg.lstrip()[:200]
        if "<svg" not in start and not start.startswith("<?xml"):
            raise ValueError(f"figure {self.id}: expected an SVG document, got {start[:40]!r}")

    @property
    def element(self) -> str:
        """The SVG element alone, without XML declaration and doctype (inserted unescaped)."""
        return self.svg[self.svg.index("<svg") :].strip()


Block = Paragraph | BulletList | DataTable | Figure | PageSection


@dataclass(frozen=True)
class TocEntry:
    """A line of the table of contents: the id it links to, its text, its depth (1 = top)."""

    href: str
    label: str
    depth: int = 1


@dataclass(frozen=True)
class Page:
    """A standalone page: title, heading, intro, table of contents, then the body blocks.

    The intro is the blocks before the table of contents; the table of contents is none if
    empty.
    """

    title: str
    heading: str
    blocks: Sequence[Block] = ()
    intro: Sequence[Block] = ()
    toc: Sequence[TocEntry] = ()
    toc_title: str = "Table of Contents"


def templates() -> Traversable:
    """The folder of the templates and the stylesheet, as installed (package data)."""
    return resources.files("dicom_inventory.scu").joinpath("templates")


def _load(name: str) -> str:
    path = templates().joinpath(name)
    if not path.is_file():
        raise jinja2.TemplateNotFound(
            name,
            f"template {name!r} is not in the package data folder "
            f"dicom_inventory/scu/templates ({path}); expected it to be installed "
            "with the package",
        )
    return path.read_text(encoding="utf-8")


_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(_load),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def stylesheet() -> str:
    """The text of the one stylesheet every page inlines."""
    return _load(_STYLESHEET)


def render_page(page: Page) -> str:
    """The standalone HTML document of `page` (UTF-8 text, styles inlined, texts escaped)."""
    return _ENV.get_template(_PAGE).render(page=page)
