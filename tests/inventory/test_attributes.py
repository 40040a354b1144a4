"""The generated attribute table: current with its sources, and agreeing with the digest.

``dicom_inventory._attributes`` is generated from highdicom's module-attribute map and pydicom's
dictionary (:mod:`dicom_inventory._attributes_gen`); the team's digest of the standard,
``../shared/spec/iod-table.json``, was extracted independently (and cross-checked against a
third copy, innolitics' attributes.json). Both must say the same Types, VRs and VMs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dicom_inventory import _attributes_gen
from dicom_inventory.attributes import (
    ATTRIBUTES,
    INSTANCE_PATH,
    attribute,
    attributes_at,
    keywords_of_type,
)

pytest.importorskip("highdicom", reason="pip install '.[test]' brings highdicom")

DIGEST = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "iod-table.json"


def test_the_generated_module_is_current() -> None:
    committed = _attributes_gen.OUTPUT.read_text()
    assert committed == _attributes_gen.render(), (
        "dicom_inventory/_attributes.py is stale: run python -m dicom_inventory._attributes_gen"
    )


def test_the_table_agrees_with_the_digest_of_the_standard() -> None:
    if not DIGEST.exists():
        pytest.skip(f"{DIGEST} not here (the workplace's shared/ folder is beside the checkout)")
    rows = json.loads(DIGEST.read_text())["attributes"]
    ours = {(a.path, a.keyword): a for a in ATTRIBUTES}
    theirs = {(tuple(r["path"]), r["keyword"]): r for r in rows}
    assert set(ours) == set(theirs)
    differ = [
        (key, (a.type, a.vr, a.vm), (theirs[key]["type"], theirs[key]["vr"], theirs[key]["vm"]))
        for key, a in ours.items()
        if (a.type, a.vr, a.vm) != (theirs[key]["type"], theirs[key]["vr"], theirs[key]["vm"])
    ]
    assert differ == []


def test_lookups() -> None:
    assert attribute(INSTANCE_PATH, "SOPInstanceUID").type == "1"
    assert attribute((), "ScopeOfInventorySequence").vr == "SQ"
    assert "Modality" in keywords_of_type(INSTANCE_PATH[:2], "1")
    scope = {a.keyword for a in attributes_at(("ScopeOfInventorySequence",))}
    assert "GeneralMatchingSequence" in scope and "PatientID" not in scope
    with pytest.raises(KeyError, match="not an attribute of the Inventory IOD"):
        attribute((), "PatientID")
