"""A realistic synthetic archive: ``dicom-inventory archive synth``.

Several patients with several studies, multi-series studies of CT and MR, small real images,
stored as plain files and inside every container type (ZIP, TAR, TAR.GZ, GZIP, BLOB), and some
database-only updates (patient ID corrections, a modality fix) whose prior values stay in the
stored files. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_inventory.scope import query_text
from dicom_inventory.scp.archive.archive import IngestReport, SQLArchive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.stores.repository import StudyFilter

__all__ = ["SynthReport", "synthesize"]

_ROOT = "1.2.826.0.1.3680043.10.543"
_NAMES = [
    "Doe^Jane",
    "Müller^Jürgen",
    "García^Lucía",
    "Tanaka^Kenji",
    "Okafor^Ngozi",
    "Rossi^Marco",
    "Nguyen^Lan",
    "Kowalski^Anna",
]
_FORMS = ("plain", "zip", "tar", "targzip", "gzip", "blob")


@dataclass
class SynthReport:
    """What was made: counts, and the ingest report.

    A re-run with the same seed on the same archive writes the same files, indexes nothing new
    and makes no update again: ``updates`` is then 0 and ``already`` counts them.
    """

    studies: int
    instances: int
    updates: int
    """Database-only updates made by this run."""
    ingest: IngestReport
    already: int = 0
    """Updates found made by an earlier run with the same seed (and not made again)."""


def _write_series(store: Path, form: str, series_uid: str, objects: list[bytes]) -> None:
    base = store / series_uid
    if form == "plain":
        base.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(objects):
            (base / f"{i + 1}.dcm").write_bytes(data)
    elif form == "zip":
        with zipfile.ZipFile(f"{base}.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for i, data in enumerate(objects):
                z.writestr(f"{i + 1}.dcm", data)
    elif form in ("tar", "targzip"):
        opened = (
            tarfile.open(f"{base}.tar", "w", format=tarfile.USTAR_FORMAT)
            if form == "tar"
            else tarfile.open(f"{base}.tar.gz", "w:gz", format=tarfile.USTAR_FORMAT)
        )
        with opened as t:
            for i, data in enumerate(objects):
                info = tarfile.TarInfo(f"{i + 1}.dcm")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    elif form == "gzip":
        base.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(objects):
            (base / f"{i + 1}.dcm.gz").write_bytes(gzip.compress(data))
    else:
        Path(f"{base}.blob").write_bytes(b"".join(objects))


def _current_values(
    archive: SQLArchive, wanted: list[tuple[str, str, str, str, str]], study_of: dict[str, str]
) -> dict[tuple[str, str], str]:
    """``{(uid, keyword): current value}`` of the entities that `wanted` updates.

    `study_of` gives the study of each series.
    """
    study_uids = frozenset(uid for level, uid, *_ in wanted if level == "STUDY")
    series_uids = frozenset(uid for level, uid, *_ in wanted if level == "SERIES")
    values: dict[tuple[str, str], str] = {}

    def keep(uid: str, attributes: Mapping[str, Any]) -> None:
        for keyword, value in attributes.items():
            values[(uid, keyword)] = query_text(value)

    parents = {study_of[uid] for uid in series_uids}
    for study in archive.iter_filtered_studies(StudyFilter(study_uids | parents)):
        uid = study.study_instance_uid
        if uid in study_uids:
            keep(uid, study.attributes)
        if uid in parents:
            for series in archive.iter_series(uid):
                if series.series_instance_uid in series_uids:
                    keep(series.series_instance_uid, series.attributes)
    return values


def synthesize(
    archive: SQLArchive,
    *,
    studies: int,
    seed: int = 0,
    series_per_study: int = 3,
    instances_per_series: int = 4,
    image_size: int = 8,
) -> SynthReport:
    """Write `studies` synthetic studies into ``<archive>/store``, ingest them, apply updates.

    Series rotate through the storage forms so that every container type holds instances;
    every fifth study gets a database-only Patient ID correction and every seventh series a
    Modality fix. Deterministic and idempotent: the same seed gives the same archive, and a
    re-run on it adds no instance and records no update twice (an update whose value the
    entity holds already is not made again). Images are `image_size` x `image_size`, 16 bits (512: a CT slice, 512 KB).
    """
    rng = random.Random(seed)
    store = archive.store_folder() / f"synth-{seed}"
    store.mkdir(parents=True, exist_ok=True)
    made = 0
    form_index = 0
    study_uids: list[str] = []
    series_uids: list[str] = []
    study_of: dict[str, str] = {}
    for s in range(studies):
        study_uid = f"{_ROOT}.{seed}.{s + 1}"
        study_uids.append(study_uid)
        patient = s // 2
        date = f"20{rng.randint(15, 25):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        for j in range(series_per_study):
            series_uid = f"{study_uid}.{j + 1}"
            series_uids.append(series_uid)
            study_of[series_uid] = study_uid
            modality = "CT" if j % 2 == 0 else "MR"
            objects = [
                to_part10(
                    make_image(
                        study_uid=study_uid,
                        series_uid=series_uid,
                        sop_uid=f"{series_uid}.{k + 1}",
                        patient_id=f"P{seed}-{patient:05d}",
                        patient_name=_NAMES[patient % len(_NAMES)],
                        modality=modality,
                        study_date=date,
                        instance_number=k + 1,
                        series_number=j + 1,
                        accession_number=f"A{seed}{s:07d}",
                        size=image_size,
                    )
                )
                for k in range(instances_per_series)
            ]
            _write_series(store, _FORMS[form_index % len(_FORMS)], series_uid, objects)
            form_index += 1
            made += len(objects)
    report = archive.ingest([store])
    wanted: list[tuple[str, str, str, str, str]] = [
        ("STUDY", uid, "PatientID", f"P{seed}-{i // 2:05d}-CORR", "SYNTH-RIS")
        for i, uid in enumerate(study_uids)
        if i % 5 == 4
    ]
    for i, uid in enumerate(series_uids):
        if i % 7 == 6:
            was_ct = (i % series_per_study) % 2 == 0
            wanted.append(("SERIES", uid, "Modality", "MR" if was_ct else "CT", "SYNTH-QC"))
    current = _current_values(archive, wanted, study_of)
    updates = already = 0
    for level, uid, keyword, value, by in wanted:
        if current.get((uid, keyword)) == value:
            already += 1  # a re-run: the change is in the archive already, not recorded twice
            continue
        archive.update(level, uid, {keyword: value}, changed_by=by, reason="CORRECT")
        updates += 1
    return SynthReport(studies, made, updates, report, already)
