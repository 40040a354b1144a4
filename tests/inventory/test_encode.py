"""The encoder is strict: it never writes an invalid object (style rule 4; PS3.3 C.38.1, PS3.5)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import (
    FileAccess,
    InstanceRecord,
    InventoryEncodeError,
    InventoryHeader,
    InventoryLevel,
    InventoryWriter,
    SeriesRecord,
    StudyRecord,
    encode_inventory,
    read_header,
    validate_dataset,
    write_inventory,
)


def header(level: InventoryLevel = InventoryLevel.INSTANCE, **kw: object) -> InventoryHeader:
    return InventoryHeader(
        sop_instance_uid="2.25.9",
        inventory_level=level,
        content_date="20261124",
        content_time="101010",
        **kw,
    )  # type: ignore[arg-type]


def study(**kw: object) -> StudyRecord:
    inst = InstanceRecord(sop_class_uid="1.2.840.10008.5.1.4.1.1.2", sop_instance_uid="1.2.3.4.5")
    se = SeriesRecord(series_instance_uid="1.2.3.4", modality="CT", instances=[inst])
    base: dict[str, object] = {
        "study_instance_uid": "1.2.3",
        "item_inventory_datetime": "20261124101010",
        "series": [se],
    }
    base.update(kw)
    return StudyRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (study(study_instance_uid=""), "StudyInstanceUID is Type 1"),
        (study(item_inventory_datetime=""), "ItemInventoryDateTime is Type 1"),
        (study(study_instance_uid="1.02.3"), "not a valid UID"),
        (study(study_instance_uid="1.2." + "3" * 70), "longer than 64"),
        (study(accession_number="A" * 17), "longer than 16"),
        (study(patient_id="x\\y"), "backslash"),
        (study(study_date="2026-11-24"), "longer than 8"),
        (
            study(
                series=[
                    SeriesRecord(
                        series_instance_uid="1.2.3.4",
                        modality="",
                        instances=[InstanceRecord("1.2", "1.2.3")],
                    )
                ]
            ),
            "Modality is Type 1",
        ),
        (
            study(
                series=[
                    SeriesRecord(
                        series_instance_uid="1.2.3.4",
                        modality="CT",
                        instances=[InstanceRecord("1.2", "")],
                    )
                ]
            ),
            "SOPInstanceUID is Type 1",
        ),
        (study(other={"PatientName": "X^Y"}), "modelled attribute"),
        (study(other={"NotAKeyword": "x"}), "not a DICOM keyword"),
        (study(modalities_in_study=("CT", "Ä")), "cannot be encoded"),
    ],
)
def test_invalid_records_are_refused(record: StudyRecord, message: str) -> None:
    with pytest.raises(InventoryEncodeError, match=message):
        encode_inventory(header(), [record])


def test_level_mismatch_is_refused() -> None:
    with pytest.raises(InventoryEncodeError, match="Inventory Level is STUDY"):
        encode_inventory(header(InventoryLevel.STUDY), [study()])
    with pytest.raises(InventoryEncodeError, match="Inventory Level is SERIES"):
        encode_inventory(header(InventoryLevel.SERIES), [study()])


def test_header_checks() -> None:
    with pytest.raises(InventoryEncodeError, match="not supported for writing"):
        encode_inventory(header(), [], transfer_syntax="1.2.840.10008.1.2")  # implicit VR: refused
    with pytest.raises(InventoryEncodeError, match="Specific Character Set"):
        encode_inventory(header(specific_character_set=("ISO 2022 IR 87",)), [])
    with pytest.raises(InventoryEncodeError, match="ContentDate is Type 1"):
        encode_inventory(
            InventoryHeader("2.25.9", InventoryLevel.STUDY, content_date="", content_time="1010"),
            [],
        )
    with pytest.raises(InventoryEncodeError, match="set the field"):
        encode_inventory(header(other={"InventoryLevel": "STUDY"}), [])


def test_uv_and_even_padding_on_the_wire() -> None:
    fa = FileAccess(
        uri="file:///a.blob",
        container_type="BLOB",
        offset=2**40 + 1,
        length=3,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
    )
    rec = study(
        series=[
            SeriesRecord(
                "1.2.3.4",
                "CT",
                instances=[
                    InstanceRecord("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5", file_access=(fa,))
                ],
            )
        ]
    )
    raw = encode_inventory(header(), [rec])
    # UV is a long-form VR: tag, "UV", two reserved bytes, 4-byte length 8 (PS3.5 Table 7.1-1)
    assert b"\x08\x00\x0c\x04UV\x00\x00\x08\x00\x00\x00" + (2**40 + 1).to_bytes(8, "little") in raw
    # UR too: File Access URI of odd length 13 is padded with a space to 14
    assert b"\x08\x00\x09\x04UR\x00\x00\x0e\x00\x00\x00file:///a.blob" in raw
    # UI padded with NUL: "1.2.3.4.5" (9) -> 10
    assert b"\x08\x00\x18\x00UI\x0a\x001.2.3.4.5\x00" in raw
    item = pydicom.dcmread(BytesIO(raw)).InventoriedStudiesSequence[0].InventoriedSeriesSequence[0]
    assert (
        item.InventoriedInstancesSequence[0].FileAccessSequence[0].FileOffsetInContainer
        == 2**40 + 1
    )


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    def studies():  # type: ignore[no-untyped-def]
        yield study(study_instance_uid="1.2.3.1")
        yield study(study_instance_uid="1.2.3.2")  # with max_records=3 the first leaf closes here
        yield study(study_instance_uid="not a uid")

    with pytest.raises(InventoryEncodeError):
        write_inventory(tmp_path, header(), studies())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InventoryEncodeError):
        write_inventory(tmp_path, header(), studies(), max_records=3)
    assert list(tmp_path.iterdir()) == []  # closed leaves are removed too: no orphan parts


def test_writer_to_a_stream_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "one.dcm"
    with (
        open(path, "wb") as f,
        InventoryWriter(f, header(transaction_uid="1.2.826.0.1.3680043.10.1")) as w,
    ):
        assert w.write_study(study()) == 3
        written = w.close()
    assert written.number_of_records == 3 and written.path is None
    h = read_header(path)
    assert h.transaction_uid == "1.2.826.0.1.3680043.10.1"
    assert h.number_of_study_records_in_instance == 1 == h.total_number_of_study_records


def test_a_study_without_series_and_a_series_without_instances_are_written() -> None:
    """Inventoried Series / Instances Sequence are Type 2C (PS3.3 Table C.38.1-1): present and
    empty for a study without series or a series without instances, never refused."""
    empty_series = SeriesRecord(series_instance_uid="1.2.3.4", modality="CT", instances=[])
    studies = [study(series=[]), study(study_instance_uid="1.2.4", series=[empty_series])]
    ds = pydicom.dcmread(BytesIO(encode_inventory(header(), studies)))
    first, second = ds.InventoriedStudiesSequence
    assert "InventoriedSeriesSequence" in first and len(first.InventoriedSeriesSequence) == 0
    (series,) = second.InventoriedSeriesSequence
    assert (
        "InventoriedInstancesSequence" in series and len(series.InventoriedInstancesSequence) == 0
    )
    assert not [f for f in validate_dataset(ds) if f.rule.startswith("level")]


@pytest.mark.parametrize("depth", [100, 5_000])
def test_references_nested_past_what_readers_read_are_refused(depth: int, tmp_path: Path) -> None:
    """PS3.3 C.38.1.1.5: each reference repeats the child's own, so the root nests its tree.

    Past the parser's hard limit the encoder refuses with an error, never a RecursionError, and
    one level less is written and read back.
    """
    from dicom_inventory import InventoryReference, ReadPolicy
    from dicom_inventory._parse import MAX_DEPTH

    def chain(n: int) -> tuple[InventoryReference, ...]:
        ref: tuple[InventoryReference, ...] = ()
        for k in range(n, 0, -1):
            ref = (InventoryReference(f"2.25.{k + 10}", incorporated=ref),)
        return ref

    with pytest.raises(InventoryEncodeError, match=r"nested \d+ levels .*C\.38\.1\.1\.5"):
        encode_inventory(header(incorporated=chain(depth)), [])
    path = tmp_path / "root.dcm"
    path.write_bytes(encode_inventory(header(incorporated=chain(MAX_DEPTH - 1)), []))
    ref = read_header(path, policy=ReadPolicy(max_depth=MAX_DEPTH)).incorporated[0]
    assert ref.sop_instance_uid == "2.25.11"
