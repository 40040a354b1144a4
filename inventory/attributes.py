"""The attribute table of the Inventory IOD: every attribute at every nesting level.

One table, generated from the standard's machine-readable tables (highdicom's module-attribute
map, pydicom's data dictionary) by :mod:`dicom_inventory._attributes_gen` and committed as
:mod:`dicom_inventory._attributes`; this module is how the other layers read it. A test keeps the
generated module in step with its sources, another checks it against the team's digest of the
standard (``../shared/spec/iod-table.json``).

A row's ``path`` names the enclosing sequences from the top level down, e.g. a series record's
Modality is at ``("InventoriedStudiesSequence", "InventoriedSeriesSequence")`` (PS3.3 Table
C.38.1-1). Types are the standard's: ``1``, ``1C``, ``2``, ``2C``, ``3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from dicom_inventory._attributes import ROWS

__all__ = [
    "ATTRIBUTES",
    "INSTANCE_PATH",
    "SERIES_PATH",
    "STUDY_PATH",
    "Attribute",
    "attribute",
    "attributes_at",
    "keywords_of_type",
]


@dataclass(frozen=True, slots=True)
class Attribute:
    """One row of the Inventory IOD's attribute table."""

    module: str
    """Module key (``inventory``, ``general-equipment``, ``sop-common``; PS3.3 A.88)."""
    path: tuple[str, ...]
    """Keywords of the enclosing sequences, top level first (empty at the top level)."""
    keyword: str
    tag: int
    vr: str
    """VR from the data dictionary (PS3.6); ``US or SS`` style where the dictionary says so."""
    vm: str
    """VM from the data dictionary (PS3.6)."""
    type: str
    """Type in this position (PS3.3 C.38, 7.4)."""

    @property
    def depth(self) -> int:
        """Nesting depth: 0 at the top level."""
        return len(self.path)


#: Every row, in the order of the standard's tables.
ATTRIBUTES: tuple[Attribute, ...] = tuple(Attribute(*row) for row in ROWS)

#: Where the records sit (PS3.3 Table C.38.1-1).
STUDY_PATH = ("InventoriedStudiesSequence",)
SERIES_PATH = (*STUDY_PATH, "InventoriedSeriesSequence")
INSTANCE_PATH = (*SERIES_PATH, "InventoriedInstancesSequence")


@cache
def attributes_at(path: Sequence[str]) -> tuple[Attribute, ...]:
    """The attributes of the items at `path` (a tuple of sequence keywords), in table order."""
    path = tuple(path)
    return tuple(a for a in ATTRIBUTES if a.path == path)


def attribute(path: Sequence[str], keyword: str) -> Attribute:
    """The row of `keyword` at `path`.

    Raises
    ------
    KeyError
        If the IOD has no such attribute there.
    """
    for a in attributes_at(tuple(path)):
        if a.keyword == keyword:
            return a
    where = ".".join(path) or "the top level"
    raise KeyError(f"{keyword} is not an attribute of the Inventory IOD at {where} (PS3.3 A.88)")


def keywords_of_type(path: Sequence[str], type_: str) -> tuple[str, ...]:
    """Keywords of the given Type (``"1"``, ``"2"``, ...) at `path`, in table order."""
    return tuple(a.keyword for a in attributes_at(tuple(path)) if a.type == type_)
