"""dicom_inventory.conformance: the PS3.2 conformance statement of a node.

The statement is generated from the very :class:`~dicom_inventory.scp.config.NodeConfig`
that ``dicom-inventory serve`` runs with.

:func:`build_statement` makes the document; :func:`write_statement` writes it as DocBook 5,
HTML (rendered from the DocBook) or Markdown (likewise).
"""

from dicom_inventory.conformance.check import Difference, check_node
from dicom_inventory.conformance.docbook import to_docbook, to_docbook_bytes
from dicom_inventory.conformance.document import Items, Para, Section, Table
from dicom_inventory.conformance.render import to_html, to_markdown
from dicom_inventory.conformance.statement import (
    LIMIT_DESCRIPTIONS,
    Product,
    build_statement,
    sop_class_roles,
)

__all__ = [
    "LIMIT_DESCRIPTIONS",
    "Difference",
    "Items",
    "Para",
    "Product",
    "Section",
    "Table",
    "build_statement",
    "check_node",
    "sop_class_roles",
    "to_docbook",
    "to_docbook_bytes",
    "to_html",
    "to_markdown",
    "write_statement",
]


def write_statement(doc: Section, fmt: str) -> bytes:
    """The statement in `fmt` (``docbook``, ``html`` or ``markdown``), UTF-8 encoded."""
    if fmt == "docbook":
        return to_docbook_bytes(doc)
    if fmt == "html":
        return to_html(to_docbook(doc)).encode("utf-8")
    if fmt == "markdown":
        return to_markdown(to_docbook(doc)).encode("utf-8")
    raise ValueError(f"format {fmt!r}: expected docbook, html or markdown")
