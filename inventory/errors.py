"""Exceptions raised by dicom-inventory.

The hierarchy::

    InventoryError                   base of everything we raise on purpose
    ├── InventoryEncodeError         a record or header cannot be written as a valid instance
    └── InventoryReadError           a file cannot be read as an Inventory SOP Instance
        └── NotDicomError            not a DICOM Part 10 file at all (no preamble/"DICM")

Every message says what was expected and where: the file, the byte offset, the tag and the item
path when known.
"""

from __future__ import annotations

__all__ = [
    "InventoryEncodeError",
    "InventoryError",
    "InventoryReadError",
    "NotDicomError",
]


class InventoryError(Exception):
    """Base class of the errors raised by dicom-inventory."""


class InventoryEncodeError(InventoryError, ValueError):
    """A header or record cannot be encoded as a valid Inventory SOP Instance."""


class InventoryReadError(InventoryError):
    """A file cannot be read as an Inventory SOP Instance.

    Parameters
    ----------
    message : str
        What was wrong and what was expected.
    path : str, optional
        The file being read.
    offset : int, optional
        Byte offset in the (inflated) data stream where the problem was found.
    tag : int, optional
        The data element tag being read, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        tag: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.offset = offset
        self.tag = tag
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.tag is not None:
            where.append(f"tag ({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})")
        return (
            f"{': '.join([', '.join(where)] if where else [])}{': ' if where else ''}{self.message}"
        )


class NotDicomError(InventoryReadError):
    """The file is not a DICOM Part 10 file (no 128-byte preamble followed by ``DICM``)."""
