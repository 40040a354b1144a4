"""Inventory production from the embedded archive (issue 5): records, file links, stale files,
scope matching (PS3.3 C.38.1, C.38.2.1, C.38.2.2; PS3.4 C.2.2.2; PS3.17 YYYY.7.9)."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pydicom
import pytest
from dicom_inventory import FileAccess, InventoryLevel, iter_inventory, validate_files
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.production import produce
from dicom_inventory.scp.production.scope import ScopeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    a = Archive(tmp_path_factory.mktemp("archive"), create=True)
    synthesize(a, studies=12, series_per_study=3, instances_per_series=3)
    return a


def open_link(fa: FileAccess) -> pydicom.Dataset:
    """Follow a File Access item exactly as a consumer must (C.38.2.2.1.2)."""
    path = Path(unquote(urlsplit(fa.uri).path))
    kind = str(getattr(fa.container_type, "value", fa.container_type))
    if kind == "ZIP":
        with zipfile.ZipFile(path) as z:
            return pydicom.dcmread(io.BytesIO(z.read(fa.filename_in_container)))
    if kind == "GZIP":
        return pydicom.dcmread(io.BytesIO(gzip.decompress(path.read_bytes())))
    data = gzip.decompress(path.read_bytes()) if kind == "TARGZIP" else path.read_bytes()
    assert fa.offset is not None and fa.length is not None, kind
    return pydicom.dcmread(io.BytesIO(data[fa.offset : fa.offset + fa.length]))


def test_inventory_of_the_archive(archive: Archive, tmp_path: Path) -> None:
    written = produce(archive, tmp_path, level="INSTANCE", max_records=40, purpose="test")
    paths = [w.path for w in written]
    assert list(validate_files(paths)) == []
    studies = list(iter_inventory(paths[0]))
    assert len(studies) == 12
    kinds: set[str] = set()
    stale_studies = 0
    for st_ in studies:
        assert st_.number_of_study_related_instances == 9
        changed = {k for oa in st_.original_attributes for k in oa.modified}
        if changed:
            stale_studies += 1
            assert st_.patient_id.endswith("-CORR")  # type: ignore[union-attr]
        for se in st_.series:
            for inst in se.instances:  # type: ignore[union-attr]
                (fa,) = inst.file_access
                kinds.add(str(getattr(fa.container_type, "value", fa.container_type)))
                ds = open_link(fa)
                assert ds.SOPInstanceUID == inst.sop_instance_uid
                assert ds.file_meta.TransferSyntaxUID == fa.transfer_syntax_uid
                # the file holds the prior value exactly when the record says so
                if changed:
                    prior = next(oa.modified for oa in st_.original_attributes)
                    assert ds.PatientID == prior["PatientID"] != st_.patient_id
                else:
                    assert ds.PatientID == st_.patient_id
                    assert str(ds.PatientName) == st_.patient_name
    assert stale_studies == 2  # synth corrects every fifth study
    assert kinds == {"ZIP", "TAR", "TARGZIP", "GZIP", "BLOB"}  # plain files are BLOB [0, size)


def test_series_level_changes_show_at_series_level(archive: Archive, tmp_path: Path) -> None:
    (w,) = produce(archive, tmp_path, level="SERIES")
    fixed = [se for st_ in iter_inventory(w.path) for se in st_.series if se.original_attributes]
    assert fixed and all(set(se.original_attributes[0].modified) == {"Modality"} for se in fixed)
    for se in fixed:
        oa = se.original_attributes[0]
        assert oa.modified["Modality"] != se.modality
        assert oa.modifying_system == "SYNTH-QC" and oa.reason == "CORRECT"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({}, 12),
        ({"PatientID": "P0-00001"}, 2),  # two studies per patient (synth)
        ({"PatientID": "P0-0000?"}, 10),
        ({"PatientID": "*-CORR"}, 2),
        ({"PatientName": "doe^jane"}, 2),
        ({"StudyInstanceUID": "1.2.826.0.1.3680043.10.543.0.1\\1.2.826.0.1.3680043.10.543.0.2"}, 2),
        ({"ModalitiesInStudy": "MR"}, 10),  # current values: QC turned two studies' MR to CT
        ({"StudyDate": "-19991231"}, 0),
        ({"StudyDate": "20150101-"}, 12),
    ],
)
def test_scope_matching(
    archive: Archive, tmp_path: Path, scope: dict[str, str], expected: int
) -> None:
    (w,) = produce(archive, tmp_path, level="STUDY", scope=scope)
    studies = list(iter_inventory(w.path))
    assert len(studies) == expected
    assert list(validate_files([w.path])) == []
    hdr = pydicom.dcmread(w.path)
    assert len(hdr.ScopeOfInventorySequence) == (1 if scope else 0)


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"SeriesDescription": "x"}, "not supported for matching: SeriesDescription"),
        ({"StudyDate": "2020-01-01"}, "one '-' at most"),
        ({"StudyDate": "20201301x"}, "expected a value or a range"),
        ({"StudyDate": "20201231-20200101"}, "ends before it starts"),
        ({"StudyInstanceUID": "1.02.3"}, "not a valid UID"),
    ],
)
def test_bad_scopes_are_refused_before_writing(
    archive: Archive, tmp_path: Path, scope: dict[str, str], message: str
) -> None:
    with pytest.raises(ScopeError, match=message):
        produce(archive, tmp_path / "out", level="STUDY", scope=scope)
    assert not (tmp_path / "out").exists()


def test_vanished_file_is_listed_as_unavailable(tmp_path: Path) -> None:
    a = Archive(tmp_path / "arch", create=True)
    synthesize(a, studies=1, series_per_study=1, instances_per_series=3)  # series 0: plain files
    victim = next(p for p in (tmp_path / "arch" / "store").rglob("2.dcm"))
    victim.unlink()
    (w,) = produce(a, tmp_path / "inv", level="INSTANCE")
    (st_,) = iter_inventory(w.path)
    insts = list(st_.series[0].instances)  # type: ignore[index]
    assert len(insts) == 3
    gone = [i for i in insts if not i.file_access]
    assert len(gone) == 1 and gone[0].instance_availability == "UNAVAILABLE"
    assert all(i.instance_availability == "ONLINE" for i in insts if i.file_access)
    assert list(validate_files([w.path])) == []


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(max_records=st.integers(5, 200))
def test_same_records_whatever_the_split(
    archive: Archive, tmp_path_factory: pytest.TempPathFactory, max_records: int
) -> None:
    whole = produce(
        archive, tmp_path_factory.mktemp("whole"), level="SERIES", sop_instance_uid="2.25.7"
    )
    parts = produce(
        archive,
        tmp_path_factory.mktemp("parts"),
        level="SERIES",
        max_records=max_records,
        sop_instance_uid="2.25.7",
    )

    def key(path: Path) -> list[tuple[str, list[str]]]:
        return [
            (s.study_instance_uid, [x.series_instance_uid for x in s.series])
            for s in iter_inventory(path)
        ]

    assert key(whole[0].path) == key(parts[0].path)
    assert list(validate_files([p.path for p in parts])) == []


def test_levels_validate(archive: Archive, tmp_path: Path) -> None:
    for level in InventoryLevel:
        (w,) = produce(archive, tmp_path / level.value, level=level)
        assert list(validate_files([w.path])) == [], level


def test_removed_from_operational_use_is_flagged_with_reason(tmp_path: Path) -> None:
    a = Archive(tmp_path / "arch", create=True)
    synthesize(a, studies=2, series_per_study=2, instances_per_series=2)
    study = next(a.iter_studies()).study_instance_uid
    a.remove("SERIES", f"{study}.2", "113037")
    a.remove("INSTANCE", f"{study}.1.1")
    with pytest.raises(Exception, match="expected one of"):
        a.remove("STUDY", study, "999999")
    (w,) = produce(a, tmp_path / "inv", level="INSTANCE")
    assert list(validate_files([w.path])) == []  # Y comes with its reason code (no warning)
    st_ = next(iter_inventory(w.path))
    s1, s2 = st_.series
    assert st_.removed_from_operational_use is None
    assert s2.removed_from_operational_use == "Y" and s2.reason_for_removal[0].value == "113037"  # type: ignore[index]
    flagged = [i for i in s1.instances if i.removed_from_operational_use == "Y"]  # type: ignore[union-attr]
    assert (
        len(flagged) == 1
        and flagged[0].reason_for_removal[0].meaning == "Rejected for Quality Reasons"
    )  # type: ignore[index]


@pytest.mark.parametrize("level", ["SERIES", "INSTANCE"])
def test_a_study_without_series_is_inventoried_not_dropped(tmp_path: Path, level: str) -> None:
    """A study in scope with no series (its rows deleted in the archive's own database, as a
    vendor's index can hold) and a series without instances keep their records, with empty
    Type 2C sequences (PS3.3 Table C.38.1-1): a COMPLETE inventory lists every study in scope."""
    import sqlite3

    a = Archive(tmp_path / "arch", create=True)
    synthesize(a, studies=3, series_per_study=2, instances_per_series=2)
    a.close()
    db = sqlite3.connect(tmp_path / "arch" / "index.sqlite")
    first, second = [r[0] for r in db.execute("SELECT study_uid FROM studies ORDER BY study_uid")][
        :2
    ]
    with db:
        for (series_uid,) in db.execute(
            "SELECT series_uid FROM series WHERE study_uid = ?", (first,)
        ):
            db.execute("DELETE FROM instances WHERE series_uid = ?", (series_uid,))
        db.execute("DELETE FROM series WHERE study_uid = ?", (first,))
        (emptied,) = db.execute(
            "SELECT MIN(series_uid) FROM series WHERE study_uid = ?", (second,)
        ).fetchone()
        db.execute("DELETE FROM instances WHERE series_uid = ?", (emptied,))
    db.close()
    a = Archive(tmp_path / "arch")
    (w,) = produce(a, tmp_path / "inv", level=level)
    studies = {s.study_instance_uid: s for s in iter_inventory(w.path)}
    assert len(studies) == 3
    assert list(studies[first].series) == []
    series = {s.series_instance_uid: s for s in studies[second].series}
    assert len(series) == 2
    if level == "INSTANCE":
        assert list(series[emptied].instances) == []
    assert list(validate_files([w.path])) == []
    assert pydicom.dcmread(w.path).InventoryCompletionStatus == "COMPLETE"
