"""Synthetic inventories for demos, tests and benchmarks.

Deterministic for a given seed: patients with several studies, multi-series studies of
several modalities, instance records with file links in every container type, some records
removed from operational use, and some with metadata the archive changed without rewriting the
stored file (Original Attributes Sequence, PS3.17 YYYY.7.9).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from dicom_inventory.enum import (
    ContainerFileType,
    InstanceAvailability,
    InventoryLevel,
    ReasonForAttributeModification,
)
from dicom_inventory.model import (
    Code,
    FileAccess,
    InstanceRecord,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless

__all__ = ["synthetic_studies"]

_ROOT = "2.25.1234567"  # UIDs below this synthetic root: <root>.<study>.<series>.<instance>
_MODALITIES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "SR": "1.2.840.10008.5.1.4.1.1.88.22",
}
_GIVEN = ["Anna", "Jürgen", "Émile", "Sofia", "Kenji", "Olu", "María", "Lars", "Priya", "Noah"]
_FAMILY = ["Smith", "Müller", "García", "Rossi", "Kowalski", "Nguyen", "Okafor", "Tanaka"]
_EXPLICIT = str(ExplicitVRLittleEndian)
#: An IOCM rejection reason (DICOM CID 7011 style), for studies removed from operational use.
_REJECTED = Code("113001", "DCM", "Rejected for Quality Reasons")
_JPEG_LS = str(JPEGLSLossless)


def synthetic_studies(
    n_studies: int,
    *,
    series_per_study: int = 4,
    instances_per_series: int = 50,
    level: InventoryLevel = InventoryLevel.INSTANCE,
    seed: int = 0,
    base_uri: str = "file:///archive",
    item_inventory_datetime: str = "20261124120000",
) -> Iterator[StudyRecord]:
    """Yield `n_studies` synthetic study records with nested series and instance records.

    Series and instances are generators, so any size streams in flat memory. Give
    `item_inventory_datetime` at or after the inventory's Content Date/Time (C.38.1.1.1).
    """
    rng = random.Random(seed)
    level = InventoryLevel(level)
    for s in range(n_studies):
        pid = f"PID{s // 3:06d}"
        name = f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN)}"
        modalities = rng.sample(sorted(_MODALITIES), k=min(2, series_per_study) or 1)
        date = f"20{rng.randint(10, 25):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        study_uid = f"{_ROOT}.{s + 1}"
        updated = s % 10 == 7
        original = (
            (
                OriginalAttributes(
                    modified={"PatientName": name.upper(), "PatientID": f"OLD{s:06d}"},
                    modification_datetime=f"{date}120000",
                    modifying_system="SYNTH-PACS",
                    reason=ReasonForAttributeModification.CORRECT,
                    source_of_previous_values="RIS reconciliation",
                ),
            )
            if updated
            else ()
        )
        yield StudyRecord(
            study_instance_uid=study_uid,
            item_inventory_datetime=item_inventory_datetime,
            modalities_in_study=tuple(modalities),
            number_of_study_related_series=series_per_study,
            number_of_study_related_instances=series_per_study * instances_per_series,
            study_update_datetime=f"{date}090000",
            study_id=f"S{s}",
            study_date=date,
            study_time="083000",
            study_description="Synthetic study",
            accession_number=f"ACC{s:08d}",
            patient_name=name,
            patient_id=pid,
            patient_birth_date="19700101",
            patient_sex=rng.choice("MFO"),
            retrieve_ae_title=("ARCHIVE",),
            removed_from_operational_use="Y" if s % 50 == 49 else None,
            reason_for_removal=(_REJECTED,) if s % 50 == 49 else None,
            original_attributes=original,
            series=(
                _series(
                    study_uid,
                    s,
                    modalities,
                    series_per_study,
                    instances_per_series,
                    level,
                    base_uri,
                )
                if level.has_series
                else ()
            ),
        )


def _series(
    study_uid: str,
    s: int,
    modalities: list[str],
    n_series: int,
    n_inst: int,
    level: InventoryLevel,
    base_uri: str,
) -> Iterator[SeriesRecord]:
    for j in range(n_series):
        modality = modalities[j % len(modalities)]
        series_uid = f"{study_uid}.{j + 1}"
        yield SeriesRecord(
            series_instance_uid=series_uid,
            modality=modality,
            series_number=j + 1,
            series_description=f"{modality} series {j + 1}",
            instances=_instances(series_uid, s, j, modality, n_inst, base_uri)
            if level.has_instances
            else (),
        )


def _instances(
    series_uid: str, s: int, j: int, modality: str, n: int, base_uri: str
) -> Iterator[InstanceRecord]:
    sop_class = _MODALITIES[modality]
    kind = (s + j) % 6
    for k in range(n):
        uid = f"{series_uid}.{k + 1}"
        if kind == 0:
            fa = FileAccess(
                uri=f"{base_uri}/{s}/{j}/{k + 1}.zip",
                container_type=ContainerFileType.ZIP,
                filename_in_container=f"{uid}.dcm",
                transfer_syntax_uid=_EXPLICIT,
            )
        elif kind == 1:
            fa = FileAccess(
                uri=f"{base_uri}/{s}/series{j}.tar",
                container_type=ContainerFileType.TAR,
                filename_in_container=f"{uid}.dcm",
                offset=512 + k * 4096,
                length=3584,
                transfer_syntax_uid=_EXPLICIT,
            )
        elif kind == 2:
            fa = FileAccess(
                uri=f"{base_uri}/blob/{s}.blob",
                container_type=ContainerFileType.BLOB,
                offset=k * 65536,
                length=65000,
                transfer_syntax_uid=_JPEG_LS,
            )
        elif kind == 3:
            fa = FileAccess(
                uri=f"{base_uri}/{s}/series{j}.tar.gz",
                container_type=ContainerFileType.TARGZIP,
                filename_in_container=f"{uid}.dcm",
                transfer_syntax_uid=_EXPLICIT,
            )
        elif kind == 4:
            fa = FileAccess(
                uri=f"{base_uri}/{s}/{j}/{k + 1}.dcm.gz",
                container_type=ContainerFileType.GZIP,
                transfer_syntax_uid=_EXPLICIT,
            )
        else:
            fa = FileAccess(
                uri=f"{base_uri}/{s}/{j}/bundle.zip",
                container_type=ContainerFileType.ZIP,
                filename_in_container=f"{k + 1}.dcm",
                transfer_syntax_uid=_EXPLICIT,
            )
        yield InstanceRecord(
            sop_class_uid=sop_class,
            sop_instance_uid=uid,
            instance_number=k + 1,
            instance_availability=InstanceAvailability.ONLINE,
            file_access=(fa,),
        )
