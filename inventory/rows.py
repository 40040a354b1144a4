"""Flat rows: one row per record at the inventory's level, for export and comparison."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dicom_inventory.model import StudyRecord

__all__ = ["ROW_COLUMNS", "iter_rows"]

ROW_COLUMNS = (
    "patient_id",
    "patient_name",
    "patient_birth_date",
    "patient_sex",
    "study_instance_uid",
    "study_date",
    "study_time",
    "accession_number",
    "study_id",
    "study_description",
    "modalities_in_study",
    "item_inventory_datetime",
    "study_update_datetime",
    "number_of_study_related_series",
    "number_of_study_related_instances",
    "study_removed",
    "series_instance_uid",
    "modality",
    "series_number",
    "series_description",
    "series_removed",
    "sop_class_uid",
    "sop_instance_uid",
    "instance_number",
    "instance_removed",
    "instance_availability",
    "retrieve_ae_title",
    "retrieve_url",
    "file_access_uri",
    "container_file_type",
    "filename_in_container",
    "file_offset_in_container",
    "file_length_in_container",
    "stored_transfer_syntax_uid",
    "stale_attributes",
)


def _stale(*records: Any) -> str | None:
    names: list[str] = []
    for rec in records:
        for oa in getattr(rec, "original_attributes", ()) or ():
            for kw in oa.modified:
                if kw not in names:
                    names.append(kw)
    return "\\".join(names) or None


def iter_rows(studies: Iterable[StudyRecord]) -> Iterator[dict[str, Any]]:
    """Flatten study records into rows of :data:`ROW_COLUMNS`.

    One row per instance record at level INSTANCE, per series record at SERIES, per study at
    STUDY (a record without children gives one row). ``stale_attributes`` lists the keywords
    whose prior values are recorded in Original Attributes Sequence at any level of the row:
    the attributes in which the stored file still differs from the inventory's current values.
    """
    for st in studies:
        base = {
            "patient_id": st.patient_id,
            "patient_name": st.patient_name,
            "patient_birth_date": st.patient_birth_date,
            "patient_sex": st.patient_sex,
            "study_instance_uid": st.study_instance_uid,
            "study_date": st.study_date,
            "study_time": st.study_time,
            "accession_number": st.accession_number,
            "study_id": st.study_id,
            "study_description": st.study_description,
            "modalities_in_study": "\\".join(st.modalities_in_study or ()) or None,
            "item_inventory_datetime": st.item_inventory_datetime,
            "study_update_datetime": st.study_update_datetime,
            "number_of_study_related_series": st.number_of_study_related_series,
            "number_of_study_related_instances": st.number_of_study_related_instances,
            "study_removed": st.removed_from_operational_use,
            "retrieve_ae_title": "\\".join(st.retrieve_ae_title or ()) or None,
            "retrieve_url": st.retrieve_url,
        }
        series_list = list(st.series)
        if not series_list:
            yield _row(base, _stale(st))
            continue
        for se in series_list:
            srow = dict(
                base,
                series_instance_uid=se.series_instance_uid,
                modality=se.modality,
                series_number=se.series_number,
                series_description=se.series_description,
                series_removed=se.removed_from_operational_use,
            )
            instances = list(se.instances)
            if not instances:
                yield _row(srow, _stale(st, se))
                continue
            for inst in instances:
                fa = inst.file_access[0] if inst.file_access else None
                irow = dict(
                    srow,
                    sop_class_uid=inst.sop_class_uid,
                    sop_instance_uid=inst.sop_instance_uid,
                    instance_number=inst.instance_number,
                    instance_removed=inst.removed_from_operational_use,
                    instance_availability=getattr(
                        inst.instance_availability, "value", inst.instance_availability
                    ),
                )
                if fa is not None:
                    irow.update(
                        file_access_uri=fa.uri,
                        container_file_type=getattr(fa.container_type, "value", fa.container_type),
                        filename_in_container=fa.filename_in_container,
                        file_offset_in_container=fa.offset,
                        file_length_in_container=fa.length,
                        stored_transfer_syntax_uid=fa.transfer_syntax_uid,
                    )
                yield _row(irow, _stale(st, se, inst))


def _row(values: Mapping[str, Any], stale: str | None) -> dict[str, Any]:
    row = dict.fromkeys(ROW_COLUMNS)
    row.update(values)
    row["stale_attributes"] = stale
    return row
