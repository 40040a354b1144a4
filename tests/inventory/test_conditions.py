"""The 1C/2C conditions: every conditional attribute of the IOD is checked or named as not.

:mod:`dicom_inventory.conditions` holds the predicates; the attribute table
(:mod:`dicom_inventory.attributes`) says which attributes are 1C or 2C where.
"""

from __future__ import annotations

from dicom_inventory import InventoryHeader, InventoryLevel, synthetic_studies
from dicom_inventory.attributes import ATTRIBUTES, STUDY_PATH
from dicom_inventory.conditions import CONDITIONS, ELSEWHERE, NOT_CHECKED
from dicom_inventory.encode import to_dataset
from dicom_inventory.validate import RULES, Severity, validate_dataset
from pydicom import Dataset


def test_every_conditional_attribute_is_checked_or_named() -> None:
    conditional = {a.keyword for a in ATTRIBUTES if a.type in ("1C", "2C")}
    checked = {c.keyword for c in CONDITIONS}
    assert conditional - checked - set(ELSEWHERE) - set(NOT_CHECKED) == set()
    # and nothing is listed that the IOD does not have
    assert (checked | set(ELSEWHERE) | set(NOT_CHECKED)) - conditional == set()


def test_each_condition_names_a_conditional_attribute_and_a_rule() -> None:
    types = {(a.keyword, a.type) for a in ATTRIBUTES}
    for c in CONDITIONS:
        assert (c.keyword, c.type) in types, c
        assert c.rule in RULES, c
        assert c.section.startswith("PS3.")
        # a condition whose text was not read is only ever a warning
        if c.assumed:
            assert RULES[c.rule].severity is Severity.WARNING, c


def test_types_are_checked_in_nested_macros_too() -> None:
    """The Types of the attribute table apply at every depth: a Person Identification Macro
    item in a study record (Referring Physician Identification Sequence) without its Type 1
    Person Identification Code Sequence is reported (PS3.3 Table 10-1)."""
    header = InventoryHeader(
        sop_instance_uid="2.25.601",
        inventory_level=InventoryLevel.STUDY,
        content_date="20261124",
        content_time="120000",
        inventory_purpose="nested macro",
    )
    ds = to_dataset(header, synthetic_studies(2, level=InventoryLevel.STUDY))
    ds.InventoriedStudiesSequence[0].ReferringPhysicianIdentificationSequence = [Dataset()]
    findings = validate_dataset(ds)
    assert [(f.rule, f.path) for f in findings] == [
        (
            "type1-missing",
            f"{STUDY_PATH[0]}[0].ReferringPhysicianIdentificationSequence[0]."
            "PersonIdentificationCodeSequence",
        )
    ]
