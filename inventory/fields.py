"""Which row of the attribute table each field of the typed model holds.

The model (:mod:`dicom_inventory.model`) names, in each field's metadata, the keyword of the
attribute it holds; this module joins that keyword with the attribute's row in the attribute
table (:mod:`dicom_inventory.attributes`: tag, VR, VM, Type at that nesting level). The encoder's
element order and writing rules, the decoder and the flat rows of export all read the result,
so a record attribute is added as one row in the table plus one model field, and nothing else
names its tag, VR or Type.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from functools import cache
from typing import Any

from dicom_inventory.attributes import INSTANCE_PATH, SERIES_PATH, STUDY_PATH, Attribute, attribute
from dicom_inventory.model import (
    AccessEndPoints,
    Code,
    Equipment,
    FileAccess,
    FileSetAccess,
    InstanceRecord,
    InventoryHeader,
    InventoryReference,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)

__all__ = ["MODEL_PATHS", "ModelField", "field_values", "holds_other", "model_fields"]

#: Where the items a model class describes sit in the Inventory IOD (PS3.3 Table C.38.1-1).
#: A macro used at several levels (File Set Access, Code Sequence) is read at one of them:
#: its rows are the same at each.
MODEL_PATHS: dict[type, tuple[str, ...]] = {
    InventoryHeader: (),
    Equipment: (),
    StudyRecord: STUDY_PATH,
    SeriesRecord: SERIES_PATH,
    InstanceRecord: INSTANCE_PATH,
    FileAccess: (*INSTANCE_PATH, "FileAccessSequence"),
    FileSetAccess: (*STUDY_PATH, "FileSetAccessSequence"),
    Code: (*STUDY_PATH, "ReasonForRemovalCodeSequence"),
    OriginalAttributes: (*STUDY_PATH, "OriginalAttributesSequence"),
    AccessEndPoints: ("InventoryAccessEndPointsSequence",),
    InventoryReference: ("IncorporatedInventoryInstanceSequence",),
}

_NUMERIC_TEXT = frozenset({"IS"})
_BINARY_INT = frozenset({"UV", "UL", "US", "SV", "SL", "SS"})
_BYTES = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
_SINGLE_TEXT = frozenset({"LT", "ST", "UT", "UR"})  # backslash is data, never a separator


@dataclass(frozen=True, slots=True)
class ModelField:
    """A field of a model class and the attribute it holds."""

    name: str
    """Name of the dataclass field."""
    attribute: Attribute
    """Its row in the attribute table."""
    item: type | None
    """For a sequence: the model class of its items (``None`` where the items are generic)."""
    omit_empty: bool
    """True where the field's default is ``()``: an empty value means *absent*, not empty."""
    required: bool
    """True where the model field has no default."""

    @property
    def keyword(self) -> str:
        """The attribute's keyword (PS3.6)."""
        return self.attribute.keyword

    @property
    def tag(self) -> int:
        """The attribute's tag as an int, e.g. 0x0020000D."""
        return self.attribute.tag

    @property
    def kind(self) -> str:
        """How the value is held: ``text``, ``multi``, ``int``, ``uint``, ``bytes`` or ``sequence``.

        ``multi`` is a tuple of strings, ``int`` an IS kept as an int, ``uint`` a binary
        integer.
        """
        vr, vm = self.attribute.vr, self.attribute.vm
        if vr == "SQ":
            return "sequence"
        if vr in _NUMERIC_TEXT:
            return "int"
        if vr in _BINARY_INT:
            return "uint"
        if vr in _BYTES:
            return "bytes"
        if vm != "1" and vr not in _SINGLE_TEXT:
            return "multi"
        return "text"


def _item_class(hint: Any) -> type | None:
    """The model class inside a field's type hint (``tuple[Code, ...] | None`` -> Code)."""
    if isinstance(hint, type) and hint in MODEL_PATHS:
        return hint
    for arg in typing.get_args(hint):
        found = _item_class(arg)
        if found is not None:
            return found
    return None


@cache
def model_fields(cls: type) -> tuple[ModelField, ...]:
    """The fields of model class `cls` that hold an attribute, in tag order.

    Raises
    ------
    KeyError
        If a field names a keyword the attribute table lacks at the class's path (a test
        holds every model field to the table).
    """
    path = MODEL_PATHS[cls]
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        keyword = f.metadata.get("keyword")
        if keyword is None:
            continue
        row = attribute(path, keyword)
        out.append(
            ModelField(
                name=f.name,
                attribute=row,
                item=_item_class(hints[f.name]) if row.vr == "SQ" else None,
                omit_empty=f.default == (),
                required=f.default is MISSING and f.default_factory is MISSING,
            )
        )
    return tuple(sorted(out, key=lambda m: m.tag))


@cache
def holds_other(cls: type) -> bool:
    """Whether model class `cls` keeps the attributes it does not model, in ``other``."""
    return any(f.name == "other" for f in fields(cls))


def _scalar(kind: str, value: Any) -> Any:
    if value is None or value == "" or value == [] or value == ():
        return None
    if kind == "multi":
        return tuple(str(v) for v in value) if isinstance(value, list | tuple) else (str(value),)
    if kind in ("int", "uint"):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if kind == "text" and isinstance(value, list | tuple):
        return "\\".join(str(v) for v in value)
    return value if kind == "bytes" else str(value)


def field_values(cls: type, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of `cls` for the attributes given as ``{keyword: value}``.

    For each non-sequence field of `cls` whose keyword is in `attributes`, the value in the
    field's form (text as ``str``, multi-valued as a tuple of ``str``, IS and binary integers as
    ``int``; empty as ``None``). Other keywords are ignored. This is how a repository's stored
    attributes become record fields (:mod:`dicom_inventory.scp.production`), so an attribute
    the model gains is produced wherever the repository keeps it.
    """
    out: dict[str, Any] = {}
    for mf in model_fields(cls):
        if mf.kind != "sequence" and mf.keyword in attributes:
            out[mf.name] = _scalar(mf.kind, attributes[mf.keyword])
    return out
