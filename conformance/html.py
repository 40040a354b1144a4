"""The project's one HTML renderer, under the name the judges have always imported.

The renderer itself (page model, Jinja2 templates, the one stylesheet) is
:mod:`dicom_inventory.scu.html`: the SCU's summary and diff pages use it too, and the SCU may
not import the judges (import-linter contract ``scu-not-scp``), so it lives there and is
re-exported here unchanged.
"""

from __future__ import annotations

from dicom_inventory.scu.html import (
    Block,
    BulletList,
    Cell,
    DataTable,
    Figure,
    Page,
    PageSection,
    Paragraph,
    Row,
    TocEntry,
    render_page,
    stylesheet,
    templates,
)

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
