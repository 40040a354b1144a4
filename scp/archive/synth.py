"""A realistic synthetic archive: ``dicom-inventory archive synth``.

Several patients with several studies, multi-series studies of CT and MR, small real images,
stored as plain files and inside every container type (ZIP, TAR, TAR.GZ, GZIP, BLOB), and some
database-only updates (patient ID corrections, a modality fix) whose prior values stay in the
stored files. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_inventory.scope import query_text
from dicom_inventory.scp.archive.archive import ArchiveError, IngestReport, SQLArchive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.stores.repository import StudyFilter

__all__ = ["MAX_SEED", "MAX_STUDIES", "SynthProgress", "SynthReport", "check_counts", "synthesize"]

#: What :func:`synthesize` reports as it goes: ``(step, done, total)``, where `step` is
#: ``"writing"`` (instances written), ``"indexing"`` (objects indexed) or ``"updating"``
#: (database-only updates), each counted from 0 up to its own `total`.
SynthProgress = Callable[[str, int, int], None]

_ROOT = "1.2.826.0.1.3680043.10.543"
#: The largest seed: it is written into the UIDs (``ROOT.SEED.STUDY.SERIES.INSTANCE``, at most
#: 64 characters, PS3.5 9.1) and the Accession Numbers (``A`` SEED and 7 digits of the study's
#: number: VR SH, at most 16 characters, PS3.5 Table 6.2-1).
MAX_SEED = 99_999_999
#: The most studies of one run: the 7 digits of the study's number in its Accession Number.
MAX_STUDIES = 9_999_999
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
    """Write one series in `form`; each file appears under its name only once complete.

    Every file is written under a hidden temporary name in the same folder and renamed: a run
    stopped half-way (Ctrl-C) leaves no truncated container for a later ingest to refuse.
    """
    base = store / series_uid
    try:
        _write_forms(base, form, objects)
    except BaseException:
        for partial in store.glob(f".{series_uid}*.partial"):
            partial.unlink(missing_ok=True)
        for partial in base.glob(".*.partial") if base.is_dir() else ():
            partial.unlink(missing_ok=True)
        raise


def _atomic(path: str | Path) -> Path:
    """The temporary name `path` is written under before :func:`_commit` renames it."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def _commit(path: str | Path) -> None:
    os.replace(_atomic(path), path)


def _write_forms(base: Path, form: str, objects: list[bytes]) -> None:
    if form == "plain":
        base.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(objects):
            _atomic(base / f"{i + 1}.dcm").write_bytes(data)
            _commit(base / f"{i + 1}.dcm")
    elif form == "zip":
        with zipfile.ZipFile(_atomic(f"{base}.zip"), "w", zipfile.ZIP_DEFLATED) as z:
            for i, data in enumerate(objects):
                z.writestr(f"{i + 1}.dcm", data)
        _commit(f"{base}.zip")
    elif form in ("tar", "targzip"):
        name = f"{base}.tar" if form == "tar" else f"{base}.tar.gz"
        # the final name, not the temporary one, goes into the GZIP header (RFC 1952 FNAME)
        with (
            open(_atomic(name), "wb") as f,
            (
                tarfile.open(name, "w", fileobj=f, format=tarfile.USTAR_FORMAT)
                if form == "tar"
                else tarfile.open(name, "w:gz", fileobj=f, format=tarfile.USTAR_FORMAT)
            ) as t,
        ):
            for i, data in enumerate(objects):
                info = tarfile.TarInfo(f"{i + 1}.dcm")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        _commit(name)
    elif form == "gzip":
        base.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(objects):
            _atomic(base / f"{i + 1}.dcm.gz").write_bytes(gzip.compress(data))
            _commit(base / f"{i + 1}.dcm.gz")
    else:
        _atomic(f"{base}.blob").write_bytes(b"".join(objects))
        _commit(f"{base}.blob")


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


def check_counts(studies: int, seed: int, series_per_study: int, instances_per_series: int) -> None:
    """Refuse counts :func:`synthesize` cannot make an archive of (before anything is made).

    Raises
    ------
    ArchiveError
        A count below 1, a seed below 0, or more than :data:`MAX_STUDIES` studies or a seed
        above :data:`MAX_SEED` (they would make UIDs or Accession Numbers too long).
    """
    for name, value, low, high in (
        ("studies", studies, 1, MAX_STUDIES),
        ("seed", seed, 0, MAX_SEED),
        ("series per study", series_per_study, 1, None),
        ("instances per series", instances_per_series, 1, None),
    ):
        if value < low or (high is not None and value > high):
            expected = f"{low}..{high:,}" if high is not None else f"at least {low}"
            raise ArchiveError(f"{name} {value}: expected {expected}")


def synthesize(
    archive: SQLArchive,
    *,
    studies: int,
    seed: int = 0,
    series_per_study: int = 3,
    instances_per_series: int = 4,
    image_size: int = 8,
    progress: SynthProgress | None = None,
) -> SynthReport:
    """Write `studies` synthetic studies into ``<archive>/store``, ingest them, apply updates.

    Series rotate through the storage forms so that every container type holds instances;
    every fifth study gets a database-only Patient ID correction and every seventh series a
    Modality fix. Deterministic and idempotent: the same seed gives the same archive, and a
    re-run on it adds no instance and records no update twice (an update whose value the
    entity holds already is not made again). Images are `image_size` x `image_size`, 16
    bits (512: a CT slice, 512 KB).

    `progress`, when given, is called as each instance is written, indexed and each update
    made (see :data:`SynthProgress`). Stopped half-way (Ctrl-C), a run leaves complete files
    only, an index consistent up to its last committed batch and the updates made so far: the
    same command run again finishes the archive.
    """
    check_counts(studies, seed, series_per_study, instances_per_series)
    total = studies * series_per_study * instances_per_series

    def report_step(step: str, done: int, of: int) -> None:
        if progress is not None:
            progress(step, done, of)

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
            report_step("writing", made, total)
    indexed = 0

    def one_indexed(found: object) -> None:
        nonlocal indexed
        indexed += 1
        report_step("indexing", indexed, total)

    report = archive.ingest([store], progress=one_indexed if progress is not None else None)
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
    for n, (level, uid, keyword, value, by) in enumerate(wanted):
        report_step("updating", n, len(wanted))
        if current.get((uid, keyword)) == value:
            already += 1  # a re-run: the change is in the archive already, not recorded twice
            continue
        archive.update(level, uid, {keyword: value}, changed_by=by, reason="CORRECT")
        updates += 1
    report_step("updating", len(wanted), len(wanted))
    return SynthReport(studies, made, updates, report, already)
