"""The validator: valid inventories pass; one fixture per rule makes exactly that rule fail.

Fixtures start from a valid inventory written by our encoder, are changed with plain pydicom
(or, for VR cases, at the byte level) and saved, so each one is an ordinary Part 10 file.
"""

from __future__ import annotations

import dataclasses
import tracemalloc
import warnings
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    ReadPolicy,
    encode_inventory,
    synthetic_studies,
    write_inventory,
)
from dicom_inventory.encode import to_dataset
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.validate import (
    RULES,
    Severity,
    Validator,
    validate_dataset,
    validate_file,
    validate_files,
)
from pydicom import Dataset

CT = "1.2.840.10008.5.1.4.1.1.2"


def _header(level: InventoryLevel = InventoryLevel.INSTANCE) -> InventoryHeader:
    return InventoryHeader(
        sop_instance_uid="2.25.600",
        inventory_level=level,
        content_date="20261124",
        content_time="120000",
        inventory_purpose="validator fixtures",
    )


def _base() -> Dataset:
    """8 studies x 2 series x 2 instances; study 7 has Original Attributes (synthetic data)."""
    return to_dataset(_header(), synthetic_studies(8, series_per_study=2, instances_per_series=2))


def _rules(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {f.rule for f in findings}


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


# ------------------------------------------------------------------ valid inputs
def test_valid_inventory_has_no_findings(tmp_path: Path) -> None:
    for level in InventoryLevel:
        (w,) = write_inventory(
            tmp_path / level.value, _header(level), synthetic_studies(60, level=level)
        )
        assert list(validate_file(w.path)) == [], level


def test_valid_split_inventory_as_a_set(tmp_path: Path) -> None:
    written = write_inventory(
        tmp_path,
        _header(),
        synthetic_studies(12, series_per_study=2, instances_per_series=3),
        max_records=40,
    )
    assert len(written) > 3
    assert list(validate_files([w.path for w in written])) == []


@pytest.mark.parametrize("implicit", [True, False])
def test_valid_file_written_by_pydicom(tmp_path: Path, implicit: bool) -> None:
    ds = _base()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
    path = tmp_path / "pydicom.dcm"
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    assert list(validate_file(path)) == []
    assert validate_dataset(_base()) == []


def test_a_scope_of_every_matching_type_validates_clean() -> None:
    """The standard form written by our encoder passes the validator: a UID list inside List
    of UID Matching is not a VM error, a range is two DA values, a wild card is a valid key."""
    scope = ScopeOfInventory.from_keys(
        {
            "StudyDate": "20200101-20201231",
            "StudyTime": "-1200",
            "StudyInstanceUID": "1.2.3\\1.2.4\\1.2.5",
            "PatientID": "P*",
            "ModalitiesInStudy": "C?",
            "PatientName": "Müller*",
            "AccessionNumber": "",
        }
    )
    header = dataclasses.replace(_header(), scope=scope)
    ds = to_dataset(header, synthetic_studies(2))
    assert validate_dataset(ds) == []


def test_empty_2c_record_sequences_are_valid() -> None:
    """A study without series and a series without instances: Inventoried Series / Instances
    Sequence present and empty (Type 2C, PS3.3 Table C.38.1-1), no finding."""
    ds = _base()
    _empty_series(ds)
    _study(ds, 1).InventoriedSeriesSequence = []
    _set(_study(ds, 1), NumberOfStudyRelatedSeries=0, NumberOfStudyRelatedInstances=0)
    assert validate_dataset(ds) == []


# ------------------------------------------------------------------ one fixture per rule
def _study(ds: Dataset, i: int = 0) -> Dataset:
    return ds.InventoriedStudiesSequence[i]


def _series(ds: Dataset, i: int = 0, j: int = 0) -> Dataset:
    return _study(ds, i).InventoriedSeriesSequence[j]


def _inst(ds: Dataset, i: int = 0, j: int = 0, k: int = 0) -> Dataset:
    return _series(ds, i, j).InventoriedInstancesSequence[k]


def _fa(ds: Dataset) -> Dataset:
    return _inst(ds).FileAccessSequence[0]  # study 0, series 0: a ZIP member (synthetic data)


def _set(ds: Dataset, **kw: object) -> None:
    for k, v in kw.items():
        setattr(ds, k, v)


def _empty_series(ds: Dataset) -> None:
    _series(ds).InventoriedInstancesSequence = []
    _study(ds).NumberOfStudyRelatedInstances = 2  # keep the count rule quiet


def _vr_patch(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"\x08\x00\x01\x04LT", b"\x08\x00\x01\x04ST", 1))


def _meta_patch(path: Path) -> None:
    raw = path.read_bytes()
    old = b"\x02\x00\x03\x00UI\x08\x002.25.600"
    assert old in raw
    path.write_bytes(raw.replace(old, b"\x02\x00\x03\x00UI\x08\x002.25.699", 1))


def _un_patch(path: Path) -> None:
    """Rewrite Inventory Purpose (LT, short header) as UN (long header), as some SCPs do."""
    raw = path.read_bytes()
    at = raw.index(b"\x08\x00\x01\x04LT")
    length = int.from_bytes(raw[at + 6 : at + 8], "little")
    un = b"\x08\x00\x01\x04UN\x00\x00" + length.to_bytes(4, "little")
    path.write_bytes(raw[:at] + un + raw[at + 8 :])


def _two_modified_items(ds: Dataset) -> None:
    oa = _study(ds, 7).OriginalAttributesSequence[0]
    oa.ModifiedAttributesSequence.append(Dataset())


def _removed(ds: Dataset, **code: str) -> None:
    """Study 7 removed from operational use, with a reason code of only these attributes."""
    item = Dataset()
    _set(item, CodeMeaning="Rejected for Quality Reasons", **code)
    _set(_study(ds, 7), RemovedFromOperationalUse="Y", ReasonForRemovalCodeSequence=[item])


def _scope(ds: Dataset, **attrs: object) -> None:
    """Replace the Scope item; a list value is a sequence of items given as dicts."""
    item = Dataset()
    for kw, value in attrs.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            subs = []
            for d in value:
                sub = Dataset()
                _set(sub, **d)
                subs.append(sub)
            value = subs
        setattr(item, kw, value)
    ds.ScopeOfInventorySequence = [item]


_SCOPE = "ScopeOfInventorySequence[0]"

# rule id -> (change to the pydicom Dataset, optional change to the saved bytes, expected path)
PER_FILE: dict[str, tuple[Callable[[Dataset], None], Callable[[Path], None] | None, str]] = {
    "sop-class": (
        lambda ds: (_set(ds, SOPClassUID=CT), _set(ds.file_meta, MediaStorageSOPClassUID=CT)),
        None,
        "SOPClassUID",
    ),
    # pydicom rewrites File Meta from the data set on saving: change the bytes instead
    "file-meta": (lambda ds: None, _meta_patch, "MediaStorageSOPInstanceUID"),
    "type1-missing": (
        lambda ds: delattr(_series(ds), "Modality"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].Modality",
    ),
    "type1-empty": (
        lambda ds: _set(_inst(ds), SOPClassUID=""),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].SOPClassUID",
    ),
    "type2-missing": (lambda ds: delattr(ds, "InventoryPurpose"), None, "InventoryPurpose"),
    "single-item": (
        lambda ds: _set(ds, ScopeOfInventorySequence=[Dataset(), Dataset()]),
        None,
        "ScopeOfInventorySequence",
    ),
    "vr": (lambda ds: None, _vr_patch, "InventoryPurpose"),
    "vr-un": (lambda ds: None, _un_patch, "InventoryPurpose"),
    "vm": (
        lambda ds: _set(_series(ds), Modality=["CT", "MR"]),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].Modality",
    ),
    "value-format": (
        lambda ds: _set(_study(ds), StudyDate="2026-1-1"),
        None,
        "InventoriedStudiesSequence[0].StudyDate",
    ),
    "value-length": (
        lambda ds: _set(_study(ds), AccessionNumber="A" * 20),
        None,
        "InventoriedStudiesSequence[0].AccessionNumber",
    ),
    "enum": (lambda ds: _set(ds, InventoryLevel="PATIENT"), None, "InventoryLevel"),
    "enum-assumed": (
        lambda ds: _set(ds, InventoryCompletionStatus="DONE"),
        None,
        "InventoryCompletionStatus",
    ),
    "level-nesting": (
        lambda ds: _set(ds, InventoryLevel="SERIES"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence",
    ),
    "duplicate-record": (
        lambda ds: _set(_series(ds, 0, 1), SeriesInstanceUID=_series(ds).SeriesInstanceUID),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[1].SeriesInstanceUID",
    ),
    "duplicate-study": (
        lambda ds: _set(_study(ds, 1), StudyInstanceUID=_study(ds).StudyInstanceUID),
        None,
        "InventoriedStudiesSequence[1].StudyInstanceUID",
    ),
    "removal-reason": (
        lambda ds: _set(_study(ds), RemovedFromOperationalUse="Y"),
        None,
        "InventoriedStudiesSequence[0].ReasonForRemovalCodeSequence",
    ),
    "item-datetime": (
        lambda ds: _set(_study(ds), ItemInventoryDateTime="20000101"),
        None,
        "InventoriedStudiesSequence[0].ItemInventoryDateTime",
    ),
    "count-study-records": (
        lambda ds: _set(ds, NumberOfStudyRecordsInInstance=9, TotalNumberOfStudyRecords=9),
        None,
        "NumberOfStudyRecordsInInstance",
    ),
    "count-total": (
        lambda ds: _set(ds, TotalNumberOfStudyRecords=1),
        None,
        "TotalNumberOfStudyRecords",
    ),
    "count-total-leaf": (
        lambda ds: _set(ds, TotalNumberOfStudyRecords=30),
        None,
        "TotalNumberOfStudyRecords",
    ),
    "count-related": (
        lambda ds: _set(_study(ds), NumberOfStudyRelatedSeries=7),
        None,
        "InventoriedStudiesSequence[0].NumberOfStudyRelatedSeries",
    ),
    "file-container-type": (
        lambda ds: delattr(_fa(ds), "ContainerFileType"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].ContainerFileType",
    ),
    "file-transfer-syntax": (
        lambda ds: delattr(_fa(ds), "StoredInstanceTransferSyntaxUID"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].StoredInstanceTransferSyntaxUID",
    ),
    "file-filename": (
        lambda ds: delattr(_fa(ds), "FilenameInContainer"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].FilenameInContainer",
    ),
    "file-offset-length": (
        lambda ds: _set(_fa(ds), ContainerFileType="BLOB"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].FileOffsetInContainer",
    ),
    "file-uri": (
        lambda ds: _set(_fa(ds), FileAccessURI="archive/x.zip"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].FileAccessURI",
    ),
    "file-mac-algorithm": (
        lambda ds: _set(_fa(ds), MAC=b"\x01\x02"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].MACAlgorithm",
    ),
    # -- Scope of Inventory (PS3.3 C.38.2.1, PS3.4 Table KK.2-1)
    "scope-direct-key": (lambda ds: _scope(ds, PatientID="P1"), None, f"{_SCOPE}.PatientID"),
    "scope-range-items": (
        lambda ds: _scope(ds, RangeMatchingSequence=[{"StudyDate": "20200101"}]),
        None,
        f"{_SCOPE}.RangeMatchingSequence",
    ),
    "scope-matching-vr": (
        lambda ds: _scope(ds, RangeMatchingSequence=[{"PatientID": "A"}, {"PatientID": "B"}]),
        None,
        f"{_SCOPE}.RangeMatchingSequence[0].PatientID",
    ),
    "scope-type1-key": (
        lambda ds: _scope(ds, GeneralMatchingSequence=[{"PatientID": ""}]),
        None,
        f"{_SCOPE}.GeneralMatchingSequence[0].PatientID",
    ),
    "scope-uid-list": (
        lambda ds: _scope(ds, GeneralMatchingSequence=[{"StudyInstanceUID": ["1.2", "1.3"]}]),
        None,
        f"{_SCOPE}.GeneralMatchingSequence[0].StudyInstanceUID",
    ),
    "scope-empty-value": (
        lambda ds: _scope(
            ds,
            ExtendedMatchingMechanisms="EMPTY_VALUE",
            EmptyValueMatchingSequence=[{"PatientID": "P1"}],
        ),
        None,
        f"{_SCOPE}.EmptyValueMatchingSequence[0].PatientID",
    ),
    "scope-extended-matching": (
        lambda ds: _scope(
            ds,
            ExtendedMatchingMechanisms="TIMEZONE_ADJUST",
            GeneralMatchingSequence=[{"StudyDate": "20200101"}],
        ),
        None,
        f"{_SCOPE}.TimezoneOffsetFromUTC",
    ),
    "scope-extended-assumed": (
        lambda ds: _scope(ds, EmptyValueMatchingSequence=[{"AccessionNumber": ""}]),
        None,
        f"{_SCOPE}.ExtendedMatchingMechanisms",
    ),
    "scope-study-level": (
        lambda ds: _scope(ds, GeneralMatchingSequence=[{"Modality": "CT"}]),
        None,
        f"{_SCOPE}.GeneralMatchingSequence[0].Modality",
    ),
    "file-access-uri": (
        lambda ds: delattr(_fa(ds), "FileAccessURI"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].FileAccessURI",
    ),
    "file-relative-uri": (
        lambda ds: _set(_fa(ds), FileAccessURI="./0/member.zip"),
        None,
        "InventoriedStudiesSequence[0].InventoriedSeriesSequence[0].InventoriedInstancesSequence[0].FileAccessSequence[0].FileAccessURI",
    ),
    "code-value": (
        lambda ds: _removed(ds, CodingSchemeDesignator="DCM"),
        None,
        "InventoriedStudiesSequence[7].ReasonForRemovalCodeSequence[0].CodeValue",
    ),
    "code-scheme": (
        lambda ds: _removed(ds, CodeValue="113001"),
        None,
        "InventoriedStudiesSequence[7].ReasonForRemovalCodeSequence[0].CodingSchemeDesignator",
    ),
    "original-attributes": (
        _two_modified_items,
        None,
        "InventoriedStudiesSequence[7].OriginalAttributesSequence[0].ModifiedAttributesSequence",
    ),
}


@pytest.mark.parametrize("rule", sorted(PER_FILE))
def test_each_file_rule_has_a_failing_fixture(tmp_path: Path, rule: str) -> None:
    change, patch, path = PER_FILE[rule]
    ds = _base()
    with warnings.catch_warnings():  # pydicom warns about the invalid values we set on purpose
        warnings.simplefilter("ignore", UserWarning)
        change(ds)
        p = _save(ds, tmp_path / f"{rule}.dcm")
    if patch is not None:
        patch(p)
    findings = list(validate_file(p))
    assert _rules(findings) == {rule}, [f.to_dict() for f in findings]
    assert path in {f.path for f in findings}
    for f in findings:
        assert f.section == RULES[rule].section and f.section.startswith("PS3.")
        assert f.severity is RULES[rule].severity
        assert f.file == str(p) and f.message


# ------------------------------------------------------------------ rules across a set of files
def _tree(tmp_path: Path) -> list[Path]:
    written = write_inventory(
        tmp_path,
        _header(),
        synthetic_studies(6, series_per_study=2, instances_per_series=2),
        max_records=20,
    )
    assert len(written) == 4  # root + 3 leaves
    return [w.path for w in written if w.path is not None]


def _edit(path: Path, change: Callable[[Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=True)


def _ref(uid: str, nested: list[Dataset] | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.201.1"
    item.ReferencedSOPInstanceUID = uid
    if nested:
        item.IncorporatedInventoryInstanceSequence = nested
    return item


def _second_root(paths: list[Path]) -> list[Path]:
    ds = pydicom.dcmread(paths[0])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "2.25.601"
    other = paths[0].with_name("second-root.dcm")
    ds.save_as(other, enforce_file_format=True)
    return [*paths, other]


SET_RULES: dict[str, Callable[[list[Path]], list[Path]]] = {
    "reference": lambda ps: (
        _edit(
            ps[0],
            lambda ds: _set(ds.IncorporatedInventoryInstanceSequence[0], ReferencedSOPClassUID=CT),
        ),
        ps,
    )[1],
    "chain-level": lambda ps: (_edit(ps[0], lambda ds: _set(ds, InventoryLevel="SERIES")), ps)[1],
    "chain-copy": lambda ps: (
        _edit(
            ps[0],
            lambda ds: _set(
                ds.IncorporatedInventoryInstanceSequence[0],
                IncorporatedInventoryInstanceSequence=[_ref("2.25.999")],
            ),
        ),
        ps,
    )[1],
    "chain-total": lambda ps: (_edit(ps[0], lambda ds: _set(ds, TotalNumberOfStudyRecords=99)), ps)[
        1
    ],
    "chain-missing": lambda ps: ps[:-1],
    # a root left pointing at a deleted leaf (issue 21: create into a folder holding a tree)
    "chain-dangling": lambda ps: (ps[-1].unlink(), ps[:-1])[1],
    "chain-shared": _second_root,
}


@pytest.mark.parametrize("rule", sorted(SET_RULES))
def test_each_set_rule_has_a_failing_fixture(tmp_path: Path, rule: str) -> None:
    paths = SET_RULES[rule](_tree(tmp_path))
    findings = list(validate_files(paths))
    assert _rules(findings) == {rule}, [f.to_dict() for f in findings]
    assert all(f.section == RULES[rule].section for f in findings)


def test_chain_cycle(tmp_path: Path) -> None:
    """A cycle cannot also satisfy the copy rule (every node repeats its subtree,
    C.38.2.3), so a cycle always comes with chain-copy; the cycle itself is reported."""
    paths = _tree(tmp_path)
    root_uid = pydicom.dcmread(paths[0]).SOPInstanceUID
    _edit(
        paths[1],
        lambda ds: _set(
            ds,
            IncorporatedInventoryInstanceSequence=[_ref(root_uid)],
            TotalNumberOfStudyRecords=ds.NumberOfStudyRecordsInInstance,
        ),
    )
    findings = list(validate_files(paths))
    assert "chain-cycle" in _rules(findings)
    assert _rules(findings) <= {"chain-cycle", "chain-copy"}
    cycle = next(f for f in findings if f.rule == "chain-cycle")
    assert root_uid in cycle.message


def test_every_rule_has_a_fixture() -> None:
    assert set(RULES) == set(PER_FILE) | set(SET_RULES) | {"chain-cycle"}


def test_severity_follows_confirmed_vs_assumed() -> None:
    assumed = {r.id for r in RULES.values() if r.severity is Severity.WARNING}
    assert {"enum-assumed", "count-total-leaf", "chain-total", "removal-reason"} <= assumed
    assert {"scope-range-items", "scope-extended-assumed"} <= assumed  # C.38.2.1.1.3-5 unread
    assert RULES["scope-direct-key"].severity is Severity.ERROR
    assert RULES["level-nesting"].severity is Severity.ERROR
    assert RULES["file-container-type"].severity is Severity.ERROR


def test_validation_streams_in_bounded_memory(tmp_path: Path) -> None:
    (w,) = write_inventory(
        tmp_path, _header(), synthetic_studies(400, series_per_study=4, instances_per_series=50)
    )
    size = w.path.stat().st_size  # ~20 MB, 80,000+ records
    tracemalloc.start()
    v = Validator(policy=ReadPolicy(chunk_size=256 * 1024))
    assert list(v.file(w.path)) == []
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < size / 4, (peak, size)  # bounded by the read window, not the file


def test_unreadable_files_raise(tmp_path: Path) -> None:
    from dicom_inventory import InventoryReadError, NotDicomError

    p = tmp_path / "x.dcm"
    p.write_bytes(b"not dicom")
    with pytest.raises(NotDicomError):
        list(validate_file(p))
    data = encode_inventory(_header(), synthetic_studies(2))
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InventoryReadError):
        list(validate_file(p))


def test_finding_to_dict_is_json_ready() -> None:
    ds = pydicom.dcmread(BytesIO(encode_inventory(_header(), synthetic_studies(1))))
    ds.InventoryLevel = "BOGUS"
    (f,) = validate_dataset(ds)
    d = f.to_dict()
    assert d["rule"] == "enum" and d["severity"] == "error" and d["path"] == "InventoryLevel"
    assert isinstance(d["offset"], int)


@pytest.mark.parametrize("uid", ["1.02.3", "1.2.3.", "1.2.a", "1." + "2" * 70])
def test_bad_record_uids_are_found(tmp_path: Path, uid: str) -> None:
    """The fast path for per-record UIDs still reports bad syntax and length (PS3.5 9.1)."""
    ds = _base()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _inst(ds).SOPInstanceUID = uid
        p = _save(ds, tmp_path / "uid.dcm")
    (f,) = validate_file(p)
    assert f.rule == ("value-length" if len(uid) > 64 else "value-format")
    assert f.path.endswith("InventoriedInstancesSequence[0].SOPInstanceUID")


@pytest.mark.parametrize(
    ("date", "time", "why"),
    [
        ("20211301", "100000", "month 13"),
        ("20230229", "100000", "day 29"),
        ("20211201", "246000", "hour 24"),
    ],
)
def test_dates_and_times_off_the_calendar_are_value_format_errors(
    tmp_path: Path, date: str, time: str, why: str
) -> None:
    """PS3.5 Table 6.2-1: a DA is a Gregorian date, TM hours 00-23 — not the pattern alone."""
    from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory, validate_file

    path = tmp_path / "x.dcm"
    header = InventoryHeader("2.25.5", InventoryLevel.STUDY, content_date=date, content_time=time)
    path.write_bytes(encode_inventory(header, []))
    found = [f.message for f in validate_file(path) if f.rule == "value-format"]
    assert len(found) == 1 and why in found[0] and "PS3.5 Table 6.2-1" in found[0], found
