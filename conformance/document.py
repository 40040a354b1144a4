"""A small document model: sections holding paragraphs, lists and tables.

The statement is built once in this form (:mod:`dicom_inventory.conformance.statement`) and
written as DocBook 5 (:mod:`~dicom_inventory.conformance.docbook`), from which HTML and
Markdown are rendered, so the three formats cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Block", "Items", "Para", "Section", "Table"]


@dataclass
class Para:
    """A paragraph of plain text."""

    text: str


@dataclass
class Items:
    """A bulleted list."""

    items: list[str]


@dataclass
class Table:
    """A table with a title (the PS3.2 table label), a header row and body rows."""

    id: str
    title: str
    head: list[str]
    rows: list[list[str]]

    def __post_init__(self) -> None:
        for r in self.rows:
            if len(r) != len(self.head):
                raise ValueError(
                    f"table {self.id}: row {r!r} has {len(r)} cells, expected {len(self.head)}"
                )


Block = Para | Items | Table


@dataclass
class Section:
    """A numbered section (numbers are given by position when rendered)."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        """Append `blocks` to this section; return it (for chaining)."""
        self.blocks.extend(blocks)
        return self

    def sub(self, id: str, title: str, *blocks: Block) -> Section:
        """Add and return a subsection."""
        s = Section(id, title, list(blocks))
        self.sections.append(s)
        return s

    def walk(self) -> list[Section]:
        """Return this section and all below it, depth first."""
        out = [self]
        for s in self.sections:
            out.extend(s.walk())
        return out

    def table(self, id: str) -> Table:
        """The table with this id anywhere below (KeyError if none)."""
        for s in self.walk():
            for b in s.blocks:
                if isinstance(b, Table) and b.id == id:
                    return b
        raise KeyError(id)
