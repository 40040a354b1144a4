"""The typed model read through the attribute table: every layer writes and reads what the
table's row says (tag, VR, Type), and nothing else names a record attribute.

:mod:`dicom_inventory.fields` joins each model field with its row; the encoder compiles its
plans from it, the decoder and the flat rows read by it. These tests hold the three to the
table itself, with pydicom reading the bytes as an independent check.
"""

from __future__ import annotations

import dataclasses
import re
from io import BytesIO

import pydicom
import pytest
from dicom_inventory import (
    INTEGER_COLUMNS,
    ROW_COLUMNS,
    FileAccess,
    InstanceRecord,
    InventoryHeader,
    InventoryLevel,
    SeriesRecord,
    StudyRecord,
    encode_inventory,
)
from dicom_inventory.attributes import INSTANCE_PATH, SERIES_PATH, STUDY_PATH, attributes_at
from dicom_inventory.encode import StudyEncoder
from dicom_inventory.errors import InventoryEncodeError
from dicom_inventory.fields import MODEL_PATHS, model_fields

#: Fields that hold no single attribute, and why.
NOT_AN_ATTRIBUTE = {
    "other": "any further attribute, {keyword: value}",
    "equipment": "the General Equipment Module, its own class at the top level",
    "file_access": "InventoryReference: the Stored File Access Macro inline in the item",
}


@pytest.mark.parametrize("cls", list(MODEL_PATHS), ids=lambda c: c.__name__)
def test_every_model_field_holds_a_row_of_the_table_at_its_path(cls: type) -> None:
    held = {mf.name for mf in model_fields(cls)}  # raises KeyError for a keyword not at the path
    for f in dataclasses.fields(cls):
        assert f.name in held or f.name in NOT_AN_ATTRIBUTE, (
            f"{cls.__name__}.{f.name} names no attribute: add metadata=_kw(keyword)"
        )


def _record_item(ds: pydicom.Dataset, path: tuple[str, ...]) -> pydicom.Dataset:
    item = ds
    for kw in path:
        item = getattr(item, kw)[0]
    return item


def test_a_minimal_record_is_written_as_the_types_of_the_table_say() -> None:
    """Type 1 and 2 attributes are present (2 empty), Type 3 / 1C / 2C left out when unset
    (PS3.5 7.4), at each record level; the record sequences (2C) present at level INSTANCE."""
    study = StudyRecord(
        study_instance_uid="1.2.3",
        item_inventory_datetime="20260101000000",
        series=[
            SeriesRecord(
                "1.2.3.4",
                "CT",
                instances=[InstanceRecord("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5")],
            )
        ],
    )
    header = InventoryHeader("2.25.9", InventoryLevel.INSTANCE, "20260101", "000000")
    ds = pydicom.dcmread(BytesIO(encode_inventory(header, [study])))
    for path, cls in (
        (STUDY_PATH, StudyRecord),
        (SERIES_PATH, SeriesRecord),
        (INSTANCE_PATH, InstanceRecord),
    ):
        item = _record_item(ds, path)
        for mf in model_fields(cls):
            where = f"{cls.__name__}.{mf.name} ({mf.keyword}, Type {mf.attribute.type})"
            if mf.attribute.type in ("1", "2") or mf.item in (SeriesRecord, InstanceRecord):
                assert mf.keyword in item, f"{where} missing"
                assert item[mf.keyword].VR == mf.attribute.vr or mf.attribute.vr == "US or SS"
            else:
                assert mf.keyword not in item, f"{where} written without a value"
            if mf.attribute.type == "2" and mf.item is None and mf.kind != "sequence":
                assert item[mf.keyword].value in (None, "", [], b""), f"{where} not empty"


@pytest.mark.parametrize("cls", [StudyRecord, SeriesRecord, InstanceRecord, FileAccess])
def test_the_compiled_encoders_write_in_tag_order(cls: type) -> None:
    source = StudyEncoder(InventoryLevel.INSTANCE).source(cls)
    order = [mf.keyword for mf in model_fields(cls)]
    assert order == [mf.keyword for mf in sorted(model_fields(cls), key=lambda m: m.tag)]
    tags_in_source = [int(t) for t in re.findall(r"e\[(\d+)\]", source)]
    assert tags_in_source == sorted(tags_in_source)
    assert set(re.findall(r"obj\.(\w+)", source)) >= {mf.name for mf in model_fields(cls)}


def test_a_type1_field_without_value_is_refused_with_its_keyword_and_record() -> None:
    with pytest.raises(
        InventoryEncodeError, match=r"instance record '1\.2': SOPClassUID is Type 1"
    ):
        StudyEncoder(InventoryLevel.INSTANCE).instance(InstanceRecord("", "1.2"))


def test_a_modelled_attribute_in_other_is_refused_even_when_the_field_is_unset() -> None:
    rec = SeriesRecord("1.2", "CT", other={"SeriesDescription": "x"})
    with pytest.raises(InventoryEncodeError, match="SeriesDescription is a modelled attribute"):
        StudyEncoder(InventoryLevel.SERIES).series(rec)


def test_row_columns_name_model_fields_and_integer_columns_follow_the_vr() -> None:
    from dicom_inventory.rows import _FIELDS

    assert set(_FIELDS) == set(ROW_COLUMNS) - {"stale_attributes"}
    ints = {c for c, mf in _FIELDS.items() if mf.attribute.vr in ("IS", "UV", "UL", "US")}
    assert ints == INTEGER_COLUMNS
    assert "instance_number" in INTEGER_COLUMNS and "file_offset_in_container" in INTEGER_COLUMNS


def test_every_record_attribute_the_model_lacks_is_kept_in_other_on_reading(tmp_path) -> None:
    """A record attribute of the table without a model field (e.g. Consulting Physician's
    Name) reads back in ``other``, not lost."""
    modelled = {mf.keyword for mf in model_fields(StudyRecord)}
    spare = [a for a in attributes_at(STUDY_PATH) if a.keyword not in modelled and a.vr == "PN"]
    assert spare, "the table has unmodelled PN attributes of study records"
    kw = spare[0].keyword
    study = StudyRecord("1.2.3", "20260101000000", other={kw: ("Kept^Name",)})
    header = InventoryHeader("2.25.9", InventoryLevel.STUDY, "20260101", "000000")
    from dicom_inventory import InventoryReader

    path = tmp_path / "one.dcm"
    path.write_bytes(encode_inventory(header, [study]))
    with InventoryReader(path) as r:
        (got,) = list(r.studies())
    assert got.other == {kw: ("Kept^Name",)}  # VM 1-n: a tuple


def test_field_values_puts_stored_attributes_in_the_fields_form() -> None:
    from dicom_inventory.fields import field_values

    got = field_values(
        StudyRecord,
        {
            "PatientName": "Doe^J",
            "ModalitiesInStudy": ["CT", "MR"],
            "NumberOfStudyRelatedSeries": "3",
            "StudyDescription": "",
            "Rows": 512,  # not a study record field: ignored
        },
    )
    assert got == {
        "patient_name": "Doe^J",
        "modalities_in_study": ("CT", "MR"),
        "number_of_study_related_series": 3,
        "study_description": None,
    }
