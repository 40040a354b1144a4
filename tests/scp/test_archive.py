"""The embedded archive: ingest from folders and every container type, database-only updates,
the Repository protocol (issue 5; PS3.3 C.38.2.2, PS3.17 YYYY.7.9)."""

from __future__ import annotations

import gzip
import io
import sqlite3
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pydicom
import pytest
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.scp import Repository, StoredFile
from dicom_inventory.scp.archive import Archive, ArchiveError
from dicom_inventory.scp.archive.objects import make_image, to_part10

STUDY = "1.2.826.0.1.3680043.10.543.1"


def _objects(series: str, n: int, start: int = 1) -> list[bytes]:
    return [
        to_part10(
            make_image(
                study_uid=STUDY, series_uid=series, sop_uid=f"{series}.{i}", instance_number=i
            )
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """One study with a series in each storage form: folder, ZIP, TAR, TAR.GZ, GZIP, BLOB."""
    src = tmp_path / "src"
    (src / "plain").mkdir(parents=True)
    for i, data in enumerate(_objects(f"{STUDY}.1", 2)):
        (src / "plain" / f"{i}.dcm").write_bytes(data)
    with zipfile.ZipFile(src / "s2.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for i, data in enumerate(_objects(f"{STUDY}.2", 2)):
            z.writestr(f"dir/{i}.dcm", data)
    for name, mode, series in (("s3.tar", "w", 3), ("s4.tar.gz", "w:gz", 4)):
        with tarfile.open(src / name, mode) as t:
            for i, data in enumerate(_objects(f"{STUDY}.{series}", 2)):
                info = tarfile.TarInfo(f"{i}.dcm")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    (src / "s5.dcm.gz").write_bytes(gzip.compress(_objects(f"{STUDY}.5", 1)[0]))
    (src / "s6.blob").write_bytes(b"".join(_objects(f"{STUDY}.6", 3)))
    (src / "notes.txt").write_text("not dicom")
    (src / "broken.zip").write_bytes(b"PK\x03\x04 broken")
    return src


def _read(loc: StoredFile) -> pydicom.Dataset:
    """Open a stored location the way a consumer of File Access URIs would."""
    if loc.container is None:
        return pydicom.dcmread(loc.path)
    if loc.container is ContainerFileType.ZIP:
        with zipfile.ZipFile(loc.path) as z:
            return pydicom.dcmread(io.BytesIO(z.read(loc.member)))
    if loc.container is ContainerFileType.GZIP:
        return pydicom.dcmread(io.BytesIO(gzip.decompress(Path(loc.path).read_bytes())))
    assert loc.offset is not None and loc.length is not None
    if loc.container is ContainerFileType.TARGZIP:  # offsets count in the inflated TAR
        data = gzip.decompress(Path(loc.path).read_bytes())
    else:
        data = Path(loc.path).read_bytes()
    return pydicom.dcmread(io.BytesIO(data[loc.offset : loc.offset + loc.length]))


def test_ingest_every_container_type(tmp_path: Path, sources: Path) -> None:
    with Archive(tmp_path / "arch", create=True) as a:
        report = a.ingest([sources])
        assert report.added == 12 and report.known == 0
        assert {(Path(e.source).name, e.member is None) for e in report.errors} == {
            ("notes.txt", True),
            ("broken.zip", True),
        }
        assert a.counts() == {"studies": 1, "series": 6, "instances": 12, "files": 12, "changes": 0}
        assert isinstance(a, Repository)
        (study,) = a.iter_studies()
        assert study.study_instance_uid == STUDY and study.number_of_series == 6
        assert study.number_of_instances == 12 and study.attributes["PatientID"] == "PID0001"
        kinds = set()
        for series in a.iter_series(STUDY):
            for inst in a.iter_instances(series.series_instance_uid):
                (loc,) = inst.files
                kinds.add(loc.container)
                # every location opens and yields exactly the object it names
                ds = _read(loc)
                assert ds.SOPInstanceUID == inst.sop_instance_uid
                assert loc.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
                assert "PixelData" in ds
        assert kinds == {None, *ContainerFileType}


def test_ingest_is_idempotent_and_resumable(tmp_path: Path, sources: Path) -> None:
    with Archive(tmp_path / "arch", create=True) as a:
        a.ingest([sources / "s6.blob"])
        report = a.ingest([sources])
        assert report.added == 9 and report.known == 3
        assert a.counts()["instances"] == 12


def test_copy_in_keeps_containers(tmp_path: Path, sources: Path) -> None:
    with Archive(tmp_path / "arch", create=True) as a:
        a.ingest([sources / "s2.zip", sources / "plain"], copy=True)
        locations = [
            f
            for s in a.iter_series(STUDY)
            for i in a.iter_instances(s.series_instance_uid)
            for f in i.files
        ]
    assert all(
        Path(loc.path).parent == (tmp_path / "arch" / "store").resolve() for loc in locations
    )
    assert all(_read(loc) for loc in locations)


def test_database_only_update_records_the_stored_value(tmp_path: Path, sources: Path) -> None:
    with Archive(tmp_path / "arch", create=True) as a:
        a.ingest([sources / "plain"])
        before = next(a.iter_studies()).update_datetime
        a.update(
            "STUDY",
            STUDY,
            {"PatientID": "NEW-ID", "PatientName": "Doe^Janet"},
            changed_by="RIS",
            reason="CORRECT",
        )
        a.update("STUDY", STUDY, {"PatientID": "NEWER-ID"}, changed_by="MPI", reason="COERCE")
        (study,) = a.iter_studies()
        assert study.attributes["PatientID"] == "NEWER-ID"
        changes = {c.keyword: c for c in study.changes}
        assert changes["PatientID"].stored_value == "PID0001"  # what the files still hold
        assert changes["PatientID"].current_value == "NEWER-ID"
        assert changes["PatientID"].changed_by == "MPI" and changes["PatientID"].reason == "COERCE"
        assert changes["PatientName"].stored_value == "Doe^Jane"
        assert study.update_datetime >= before
        # the stored files are untouched
        inst = next(a.iter_instances(f"{STUDY}.1"))
        assert pydicom.dcmread(inst.files[0].path).PatientID == "PID0001"
        assert inst.changes == ()
        # changing a value back means the file is right again: no change reported
        a.update("STUDY", STUDY, {"PatientName": "Doe^Jane"})
        assert {c.keyword for c in next(a.iter_studies()).changes} == {"PatientID"}
        a.update("SERIES", f"{STUDY}.1", {"Modality": "MR"})
        (series,) = a.iter_series(STUDY)
        assert series.attributes["Modality"] == "MR" and series.changes[0].stored_value == "CT"


@pytest.mark.parametrize(
    ("level", "uid", "values", "message"),
    [
        ("PATIENT", STUDY, {"PatientID": "x"}, "expected STUDY, SERIES or INSTANCE"),
        ("STUDY", "1.2.3", {"PatientID": "x"}, "no study 1.2.3"),
        ("STUDY", STUDY, {"Nonsense": "x"}, "not a DICOM keyword"),
        ("STUDY", STUDY, {"Modality": "MR"}, "not a STUDY-level attribute"),
        ("SERIES", f"{STUDY}.1", {"StudyInstanceUID": "1.2"}, "not a SERIES-level attribute"),
    ],
)
def test_bad_updates_are_refused(
    tmp_path: Path, sources: Path, level: str, uid: str, values: dict[str, str], message: str
) -> None:
    with Archive(tmp_path / "arch", create=True) as a:
        a.ingest([sources / "plain"])
        with pytest.raises(ArchiveError, match=message):
            a.update(level, uid, values)
        assert a.counts()["changes"] == 0


def test_missing_and_corrupt_archives(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no archive at"):
        Archive(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ArchiveError, match="not usable"):
        Archive(bad)


def test_index_is_wal_and_resume_key_order(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    uids = ["1.2.3.10", "1.2.3.2", "1.2.3.1"]
    for u in uids:
        (src / f"{u}.dcm").write_bytes(to_part10(make_image(study_uid=u, series_uid=f"{u}.1")))
    with Archive(tmp_path / "arch", create=True) as a:
        a.ingest([src])
        assert [s.study_instance_uid for s in a.iter_studies()] == sorted(uids)
        assert [s.study_instance_uid for s in a.iter_studies(after="1.2.3.10")] == ["1.2.3.2"]
    conn = sqlite3.connect(tmp_path / "arch" / "index.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_bad_object_in_a_batch_loses_nothing_else(tmp_path: Path) -> None:
    """Ingest indexes 500 objects per transaction; a failure is one object's, reported."""
    src = tmp_path / "many"
    src.mkdir()
    for i, data in enumerate(_objects(f"{STUDY}.9", 600)):
        (src / f"{i:04d}.dcm").write_bytes(data)
    no_class = pydicom.dcmread(io.BytesIO(_objects(f"{STUDY}.8", 1)[0]))
    del no_class.SOPClassUID
    no_class.save_as(src / "no-class.dcm", enforce_file_format=True)
    (src / "notes.dcm").write_bytes(b"not dicom")
    bad_uid = f"{STUDY}.9.250"

    class Faulty(Archive):  # a seeded fault: indexing one object fails
        def _index(self, found: Any) -> bool:
            if str(found.dataset.SOPInstanceUID) == bad_uid:
                raise RuntimeError("disk on fire")
            return super()._index(found)

    with Faulty(tmp_path / "arch", create=True) as a:
        report = a.ingest([src])
        assert report.added == 599 and a.counts()["instances"] == 599
        messages = sorted(e.message for e in report.errors)
        assert len(messages) == 3
        assert any("disk on fire" in m for m in messages)
        assert any("no SOPClassUID" in m for m in messages)
        (logged,) = a.conn.execute("SELECT COUNT(*) FROM ingest_errors").fetchone()
        assert logged == 3


def _synth_state(archive: Archive) -> list[tuple[str, Any, tuple[Any, ...], list[Any]]]:
    """Every study's current attributes and recorded changes, and its series' (issue 21)."""
    return [
        (
            study.study_instance_uid,
            dict(study.attributes),
            study.changes,
            [
                (series.series_instance_uid, dict(series.attributes), series.changes)
                for series in archive.iter_series(study.study_instance_uid)
            ],
        )
        for study in archive.iter_studies()
    ]


def test_synth_run_again_on_the_same_archive_changes_nothing(tmp_path: Path) -> None:
    """Same seed, same archive: a re-run indexes nothing new and records no update twice."""
    from dicom_inventory.scp.archive.synth import synthesize

    with Archive(tmp_path / "a", create=True) as a:
        first = synthesize(a, studies=10, series_per_study=2, instances_per_series=1)
        counts, state = a.counts(), _synth_state(a)
        again = synthesize(a, studies=10, series_per_study=2, instances_per_series=1)
        assert a.counts() == counts and counts["changes"] == first.updates > 0
        assert _synth_state(a) == state
    assert (again.updates, again.already) == (0, first.updates)
    assert (again.ingest.added, again.ingest.known) == (0, first.instances)
