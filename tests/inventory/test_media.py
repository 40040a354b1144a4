"""The DICOMweb representations of an inventory, streamed (PS3.18 F.2, PS3.19 A.1, PS3.10).

Property: for any inventory the encoder writes (every level, every transfer syntax it writes,
Implicit VR re-saved by pydicom), the streamed DICOM JSON equals pydicom's own JSON of the whole
file, the Native DICOM Model reads back to the same data set, and the re-encoded Part 10
stream reads back equal in Explicit VR Little Endian.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory
from dicom_inventory.media import (
    dataset_from_json,
    dataset_from_xml,
    iter_json,
    iter_part10,
    iter_xml,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import config
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from tests.inventory.strategies import record_settings, studies
from tests.inventory.test_roundtrip import materialize


def _file(tmp: Path, level: InventoryLevel, recs: list, syntax: str) -> Path:  # type: ignore[type-arg]
    header = InventoryHeader(
        sop_instance_uid="2.25.77",
        inventory_level=level,
        content_date="20261203",
        content_time="101500",
        inventory_purpose="média",
    )  # type: ignore[arg-type]
    target = tmp / "inv.dcm"
    if syntax == ImplicitVRLittleEndian:  # the encoder writes Explicit; pydicom re-saves it
        ds = pydicom.dcmread(io.BytesIO(encode_inventory(header, recs)))
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(target, enforce_file_format=True)
    else:
        target.write_bytes(encode_inventory(header, recs, transfer_syntax=syntax))
    return target


def _plain(ds: pydicom.Dataset) -> object:
    return json.loads(json.dumps(ds.to_json_dict()))


@settings(
    record_settings,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.data(),
    syntax=st.sampled_from(
        [ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian]
    ),
    chunk=st.integers(1, 5000),
)
def test_every_representation_equals_the_whole_file(
    tmp_path: Path, data: st.DataObject, syntax: str, chunk: int
) -> None:
    level = data.draw(st.sampled_from(list(InventoryLevel)))
    recs = [materialize(s) for s in data.draw(st.lists(studies(level), max_size=4))]
    # the strategies draw values pydicom warns about (byte lengths, DT years below 1000), also
    # when it re-saves a file in Implicit VR; what is compared is the representation, not them
    with config.disable_value_validation():
        path = _file(tmp_path, level, recs, syntax)
        _compare(path, chunk)


def _compare(path: Path, chunk: int) -> None:
    whole = pydicom.dcmread(path)
    reference = _plain(whole)

    body = b"".join(iter_json(path, chunk=chunk))
    assert json.loads(body) == [reference]
    assert dataset_from_json(body) == [whole]

    document = b"".join(iter_xml(path, chunk=chunk))
    assert _plain(dataset_from_xml(document)) == reference

    as_stored = b"".join(iter_part10(path))
    assert as_stored == path.read_bytes()
    explicit = pydicom.dcmread(io.BytesIO(b"".join(iter_part10(path, ExplicitVRLittleEndian))))
    assert explicit.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert _plain(explicit) == reference


def test_only_explicit_vr_is_a_re_encoding_target(tmp_path: Path) -> None:
    path = _file(tmp_path, InventoryLevel.STUDY, [], ExplicitVRLittleEndian)
    with pytest.raises(ValueError, match="only Explicit VR Little Endian"):
        b"".join(iter_part10(path, ImplicitVRLittleEndian))


def test_a_document_that_is_not_native_dicom_model_is_refused() -> None:
    with pytest.raises(ValueError, match="NativeDicomModel"):
        dataset_from_xml(b"<html/>")
    with pytest.raises(ValueError, match="array"):
        dataset_from_json(b"{}")
