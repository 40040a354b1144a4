"""Round trips: encoder -> pydicom.dcmread and encoder -> our reader (PS3.3 A.88, PS3.5).

Every file the encoder writes must read back with plain pydicom to the same content, and with
our streaming reader to equal records, in both transfer syntaxes it writes.
"""

from __future__ import annotations

import dataclasses
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    InventoryReader,
    StudyRecord,
    encode_inventory,
    iter_rows,
)
from dicom_inventory.encode import to_dataset
from dicom_inventory.errors import InventoryEncodeError
from dicom_inventory.read import read_dataset
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.validate import validate_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from tests.inventory.strategies import record_settings, scope_keys, studies, uids

SYNTAXES = [ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]


def header(level: InventoryLevel, **kw: object) -> InventoryHeader:
    return InventoryHeader(
        sop_instance_uid="2.25.1001",
        inventory_level=level,
        content_date="20261124",
        content_time="101500",
        inventory_purpose="round trip",
        **kw,  # type: ignore[arg-type]
    )


def materialize(study: StudyRecord) -> StudyRecord:
    """Studies as the reader returns them: lists, not generators."""
    series = [dataclasses.replace(s, instances=list(s.instances)) for s in study.series]
    return dataclasses.replace(study, series=series)


def read_back(data: bytes, tmp: Path) -> tuple[InventoryHeader, list[StudyRecord]]:
    path = tmp / "inv.dcm"
    path.write_bytes(data)
    with InventoryReader(path) as r:
        records = list(r.studies())
        return r.header, records


levels = st.sampled_from(list(InventoryLevel))


@settings(
    record_settings,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), syntax=st.sampled_from(SYNTAXES))
def test_our_reader_reads_back_what_the_encoder_wrote(
    tmp_path: Path, data: st.DataObject, syntax: str
) -> None:
    level = data.draw(levels)
    recs = [materialize(s) for s in data.draw(st.lists(studies(level), max_size=4))]
    keys = data.draw(st.none() | scope_keys())
    scope = None if keys is None else ScopeOfInventory.from_keys(keys)
    h = header(level, scope=scope, transaction_uid=data.draw(st.none() | uids))
    raw = encode_inventory(h, recs, transfer_syntax=syntax)
    got_header, got = read_back(raw, tmp_path)
    assert got == recs
    assert got_header.number_of_study_records_in_instance == len(recs)
    assert got_header.total_number_of_study_records == len(recs)
    assert got_header.inventory_level == level
    if scope is None or scope.is_universal:
        assert got_header.scope is None  # an empty sequence: universal match
    else:
        assert got_header.scope is not None and got_header.scope.keys == scope.keys
        assert got_header.scope == scope
    assert got_header.transaction_uid == h.transaction_uid


@settings(record_settings, max_examples=40)
@given(data=st.data(), syntax=st.sampled_from(SYNTAXES))
def test_pydicom_reads_the_same_content(data: st.DataObject, syntax: str) -> None:
    level = data.draw(levels)
    recs = [materialize(s) for s in data.draw(st.lists(studies(level), min_size=1, max_size=3))]
    ds = pydicom.dcmread(BytesIO(encode_inventory(header(level), recs, transfer_syntax=syntax)))
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.201.1"
    assert ds.InventoryLevel == level.value
    assert ds.NumberOfStudyRecordsInInstance == len(recs)
    assert ds.TotalNumberOfStudyRecords == len(recs)
    assert len(ds.InventoriedStudiesSequence) == len(recs)
    for item, rec in zip(ds.InventoriedStudiesSequence, recs, strict=True):
        assert item.StudyInstanceUID == rec.study_instance_uid
        assert item.ItemInventoryDateTime == rec.item_inventory_datetime
        assert (str(item.PatientName) or None) == rec.patient_name
        assert (item.PatientID or None) == rec.patient_id
        assert (item.StudyDescription or None) == rec.study_description
        # Type 2 attributes are present even when empty
        for kw in (
            "PatientName",
            "PatientID",
            "StudyDate",
            "AccessionNumber",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedSeries",
            "StudyUpdateDateTime",
        ):
            assert kw in item
        if level is InventoryLevel.STUDY:
            assert "InventoriedSeriesSequence" not in item
            continue
        assert len(item.InventoriedSeriesSequence) == len(rec.series)
        for sitem, srec in zip(item.InventoriedSeriesSequence, rec.series, strict=True):
            assert sitem.SeriesInstanceUID == srec.series_instance_uid
            assert sitem.Modality == srec.modality
            if level is InventoryLevel.SERIES:
                assert "InventoriedInstancesSequence" not in sitem
                continue
            for iitem, irec in zip(sitem.InventoriedInstancesSequence, srec.instances, strict=True):
                assert iitem.SOPInstanceUID == irec.sop_instance_uid
                assert iitem.SOPClassUID == irec.sop_class_uid
                fitems = iitem.get("FileAccessSequence", [])
                for fitem, fa in zip(fitems, irec.file_access, strict=True):
                    assert fitem.FileAccessURI == fa.uri
                    assert fitem.ContainerFileType == fa.container_type.value
                    assert fitem.get("FileOffsetInContainer") == fa.offset
                    assert fitem.get("FileLengthInContainer") == fa.length
                    if fa.mac is not None:  # OB padded to even length with a zero byte
                        assert fitem.MAC.rstrip(b"\x00") == fa.mac.rstrip(b"\x00")
                for oitem, oa in zip(
                    iitem.get("OriginalAttributesSequence", []),
                    irec.original_attributes,
                    strict=True,
                ):
                    mod = oitem.ModifiedAttributesSequence[0]
                    assert str(mod.PatientName) == oa.modified["PatientName"]
                    assert oitem.ReasonForTheAttributeModification == oa.reason


def test_non_ascii_names_are_utf8_with_specific_character_set() -> None:
    rec = StudyRecord(
        study_instance_uid="1.2.3",
        item_inventory_datetime="20261124",
        patient_name="Дмитрий^Ёлкин=山田^太郎",
    )
    ds = pydicom.dcmread(BytesIO(encode_inventory(header(InventoryLevel.STUDY), [rec])))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.InventoriedStudiesSequence[0].PatientName) == "Дмитрий^Ёлкин=山田^太郎"


def test_pydicom_dataset_path_round_trips() -> None:
    recs = [materialize(s) for s in _small(InventoryLevel.SERIES)]
    ds = to_dataset(header(InventoryLevel.SERIES), recs)
    assert isinstance(ds, pydicom.Dataset)
    h, got = read_dataset(ds)
    assert got == recs
    assert h.number_of_study_records_in_instance == len(recs)


def _small(level: InventoryLevel) -> list[StudyRecord]:
    from dicom_inventory import synthetic_studies

    return list(synthetic_studies(3, series_per_study=2, instances_per_series=3, level=level))


@pytest.mark.parametrize("implicit", [True, False])
def test_reads_files_written_by_pydicom_with_defined_lengths(
    tmp_path: Path, implicit: bool
) -> None:
    """Other toolkits write defined-length sequences and Implicit VR: read them too."""
    recs = [materialize(s) for s in _small(InventoryLevel.INSTANCE)]
    ds = to_dataset(header(InventoryLevel.INSTANCE), recs)
    path = tmp_path / "pydicom.dcm"
    ts = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
    ds.file_meta.TransferSyntaxUID = ts
    # pydicom writes sequences and items with defined lengths for new data sets
    for item in ds.InventoriedStudiesSequence:
        item.is_undefined_length_sequence_item = False
    ds["InventoriedStudiesSequence"].is_undefined_length = False
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    raw = path.read_bytes()
    assert b"\xfe\xff\xdd\xe0" not in raw[-64:]  # no sequence delimiter at the end: defined length
    with InventoryReader(path) as r:
        assert r.transfer_syntax == ts
        got = list(r.studies())
    assert got == recs
    rows = list(iter_rows(got))
    assert len(rows) == sum(len(list(s.instances)) for st_ in recs for s in st_.series)


def test_reads_iso2022_japanese_names_written_by_pydicom(tmp_path: Path) -> None:
    """Tolerant reading: ISO 2022 code extensions in a study item (PS3.5 6.1.2.5, H.3)."""
    rec = StudyRecord(study_instance_uid="1.2.3", item_inventory_datetime="20261124")
    ds = to_dataset(header(InventoryLevel.STUDY), [rec])
    item = ds.InventoriedStudiesSequence[0]
    item.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    item.PatientName = "Yamada^Tarou=山田^太郎"
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    path = tmp_path / "jp.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert b"\x1b$B" in path.read_bytes()  # really written with escape sequences
    with InventoryReader(path) as r:
        (got,) = list(r.studies())
    assert got.patient_name == "Yamada^Tarou=山田^太郎"


def test_a_uid_list_scope_key_is_written_in_list_of_uid_matching(tmp_path: Path) -> None:
    """List of UID matching (PS3.4 C.2.2.2.2) in Scope of Inventory: "a\\b" is two values of
    Study Instance UID inside List of UID Matching Sequence, never a multi-valued UI directly
    in the Scope item (PS3.3 Table C.38.2-1). The test kit's C-SCOPE-UID-LIST found that such a
    job failed to encode; a later reading of the standard found where the list belongs."""
    scope = ScopeOfInventory.from_keys({"StudyInstanceUID": "1.2.3\\1.2.4"})
    raw = encode_inventory(header(InventoryLevel.STUDY, scope=scope), [])
    got_header, _ = read_back(raw, tmp_path)
    assert got_header.scope == scope
    item = pydicom.dcmread(BytesIO(raw)).ScopeOfInventorySequence[0]
    assert "StudyInstanceUID" not in item
    assert list(item.ListOfUIDMatchingSequence[0].StudyInstanceUID) == ["1.2.3", "1.2.4"]
    with pytest.raises(InventoryEncodeError, match="not a valid UID"):
        bad = ScopeOfInventory.from_keys({"StudyInstanceUID": "1.2\\x"})
        encode_inventory(header(InventoryLevel.STUDY, scope=bad), [])


def test_a_date_range_is_two_items_of_range_matching(tmp_path: Path) -> None:
    """A date range is Range Matching Sequence with two Items, begin then end, an open end
    empty (PS3.3 C.38.2.1.1.3, layout assumed): never "A-B" inside a DA element."""
    scope = ScopeOfInventory.from_keys({"StudyDate": "20200101-", "PatientID": "P1*"})
    raw = encode_inventory(header(InventoryLevel.STUDY, scope=scope), [])
    item = pydicom.dcmread(BytesIO(raw)).ScopeOfInventorySequence[0]
    begin, end = item.RangeMatchingSequence
    assert (begin.StudyDate, end.StudyDate) == ("20200101", "")
    assert item.GeneralMatchingSequence[0].PatientID == "P1*"
    assert "ExtendedMatchingMechanisms" not in item  # range matching is baseline
    got_header, _ = read_back(raw, tmp_path)
    assert got_header.scope is not None
    assert got_header.scope.keys == {"StudyDate": "20200101-", "PatientID": "P1*"}


def test_a_key_directly_in_the_scope_item_is_not_written() -> None:
    """Strict on writing: the encoder refuses a scope not in the standard's form."""
    scope = ScopeOfInventory(direct={"PatientID": "P1"})
    with pytest.raises(InventoryEncodeError, match="directly in the Scope of Inventory item"):
        encode_inventory(header(InventoryLevel.STUDY, scope=scope), [])


@settings(max_examples=80, deadline=None)
@given(keys=scope_keys())
def test_any_scope_is_written_in_standard_form_and_validates_clean(keys: dict[str, str]) -> None:
    """Flat keys -> standard form -> file -> reader: the same keys, and no validator finding
    (PS3.3 C.38.2.1): ranges, UID lists, wild cards, empty values and non-ASCII names."""
    scope = ScopeOfInventory.from_keys(keys)
    raw = encode_inventory(header(InventoryLevel.STUDY, scope=scope), [])
    ds = pydicom.dcmread(BytesIO(raw))
    assert validate_dataset(ds) == []
    got = read_dataset(ds)[0].scope
    if not keys:
        assert got is None and len(ds.ScopeOfInventorySequence) == 0
        return
    assert got is not None and got.keys == keys
    item = ds.ScopeOfInventorySequence[0]
    assert not set(keys) & {e.keyword for e in item}  # no key directly in the item
