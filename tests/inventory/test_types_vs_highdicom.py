"""The validator's Type 1/2 checks against the standard's machine-readable Table C.38.1-1.

highdicom ships ``_standard/module_attribute_map.json``, generated from the standard's own
tables (module "inventory": paths and Types). We do not import highdicom at run time (it brings
numpy and pillow, and has Types but no conditions or value lists): our attribute table is
generated from it (:mod:`dicom_inventory._attributes_gen`), and these tests check that what the
validator asks for at each place is what highdicom's copy of the standard says.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest
from dicom_inventory.validate import _types_at
from pydicom.datadict import keyword_for_tag

highdicom = pytest.importorskip("highdicom", reason="pip install '.[test]' brings highdicom")

PATHS = {
    "top": [],
    "study": ["InventoriedStudiesSequence"],
    "series": ["InventoriedStudiesSequence", "InventoriedSeriesSequence"],
    "instance": [
        "InventoriedStudiesSequence",
        "InventoriedSeriesSequence",
        "InventoriedInstancesSequence",
    ],
}
# Attributes of the other modules of the IOD (SOP Common, General Equipment), not of C.38.1
OTHER_MODULES = {"SOPClassUID", "SOPInstanceUID", "Manufacturer"}


def _standard() -> list[dict[str, object]]:
    path = resources.files("highdicom") / "_standard" / "module_attribute_map.json"
    rows: list[dict[str, object]] = json.loads(path.read_text())["inventory"]
    return rows


@pytest.mark.parametrize("context", sorted(PATHS))
@pytest.mark.parametrize("type_", ["1", "2"])
def test_type_tables_match_the_standard(context: str, type_: str) -> None:
    expected = {
        r["keyword"] for r in _standard() if r["path"] == PATHS[context] and r["type"] == type_
    }
    ours = {keyword_for_tag(t) for t in _types_at(tuple(PATHS[context]))[0 if type_ == "1" else 1]}
    if context == "top":
        ours -= OTHER_MODULES
    assert ours == expected


def test_original_attributes_macro_types() -> None:
    path = ["InventoriedStudiesSequence", "OriginalAttributesSequence"]
    rows = {r["keyword"]: r["type"] for r in _standard() if r["path"] == path}
    type1 = {keyword_for_tag(t) for t in _types_at(tuple(path))[0]}
    type2 = {keyword_for_tag(t) for t in _types_at(tuple(path))[1]}
    assert type1 == {k for k, t in rows.items() if t == "1"}
    assert type2 == {k for k, t in rows.items() if t == "2"}
