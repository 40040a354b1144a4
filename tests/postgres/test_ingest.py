"""Ingest into PostgreSQL (a COPY per batch) indexes exactly what ingest into SQLite does.

The same folders (plain files and every container type, the same object found twice, one
object whose Patient ID PostgreSQL cannot store) go into both archives; the repositories
then answer the same, re-ingest finds everything known, and the one bad object is reported
alone while its batch is kept.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.archive import SQLArchive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.postgres import PostgresArchive
from dicom_inventory.scp.postgres.throwaway import PostgresServer


def _answers(repo: SQLArchive) -> list[Any]:
    """Everything the repository says, without the ingest clock."""
    out: list[Any] = []
    for study in repo.iter_studies():
        out.append(dataclasses.replace(study, update_datetime=""))
        for series in repo.iter_series(study.study_instance_uid):
            out.append(series)
            out += list(repo.iter_instances(series.series_instance_uid))
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    made = tmp_path_factory.mktemp("made")
    with Archive(made / "archive", create=True) as archive:
        synthesize(archive, studies=7, series_per_study=2, instances_per_series=3)
    store = next((made / "archive" / "store").iterdir())
    odd = made / "odd"
    odd.mkdir()
    for i, patient in enumerate(("P-OK-1", "P\x00NUL", "P-OK-2")):
        ds = make_image(
            study_uid="1.2.826.0.1.3680043.10.543.88.1",
            series_uid="1.2.826.0.1.3680043.10.543.88.1.1",
            sop_uid=f"1.2.826.0.1.3680043.10.543.88.1.1.{i + 1}",
            patient_id=patient,
            instance_number=i + 1,
        )
        (odd / f"{i}.dcm").write_bytes(to_part10(ds))
    return [store, store / next(iter(sorted(p.name for p in store.iterdir()))), odd]


def test_postgres_ingest_answers_as_sqlite_ingest(
    sources: list[Path], pg_server: PostgresServer, tmp_path: Path
) -> None:
    good = sources[:2]  # the synthetic store, and one of its series named again
    with Archive(tmp_path / "sqlite", create=True) as lite:
        expected = lite.ingest(good)
        with PostgresArchive(pg_server.new_database()) as pg:
            report = pg.ingest(good)
            assert (report.added, report.known, report.errors) == (
                expected.added,
                expected.known,
                expected.errors,
            )
            assert report.known > 0, "the series named twice is known the second time"
            assert _answers(pg) == _answers(lite)
            again = pg.ingest(good)
            assert (again.added, again.known) == (0, expected.added + expected.known)


def test_one_object_postgres_cannot_store_is_reported_and_its_batch_kept(
    sources: list[Path], pg_server: PostgresServer
) -> None:
    with PostgresArchive(pg_server.new_database()) as pg:
        report = pg.ingest([sources[2]])
        assert report.added == 2
        assert len(report.errors) == 1 and report.errors[0].source.endswith("1.dcm")
        assert "cannot be indexed" in report.errors[0].message
        assert pg.counts()["instances"] == 2


def test_a_batch_goes_in_by_copy_without_falling_back(
    sources: list[Path], pg_server: PostgresServer
) -> None:
    from dicom_inventory.scp.archive.ingest import FoundObject, find_objects

    objects = [f for f in find_objects(sources[0]) if isinstance(f, FoundObject)]
    with PostgresArchive(pg_server.new_database()) as pg:
        with pg._tx():
            added = pg._index_batch(objects)
        assert added == [True] * len(objects)
        assert pg.counts()["files"] == len(objects)
