"""Flat rows: one row per record at the inventory's level, for export and comparison."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dicom_inventory import tags
from dicom_inventory._decode import _int, _items, _s, _Text
from dicom_inventory._parse import RawDataset
from dicom_inventory.model import StudyRecord
from pydicom.datadict import keyword_for_tag

if TYPE_CHECKING:  # read.py re-exports this module's names
    from dicom_inventory.read import InventoryReader

__all__ = ["ROW_COLUMNS", "iter_raw_rows", "iter_rows"]

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


# ------------------------------------------------------------------ the byte-level path
def _stale_raw(names: list[str], ds: RawDataset) -> None:
    """Add the keywords of the Modified Attributes of `ds`'s Original Attributes Sequence."""
    for it in _items(ds, tags.OriginalAttributesSequence) or ():
        mod = _items(it, tags.ModifiedAttributesSequence) or [{}]
        for tag in mod[0] if mod else ():
            if tag >> 16 & 1:  # private: no keyword (PS3.5 7.8)
                continue
            kw = keyword_for_tag(tag)
            if kw and kw not in names:
                names.append(kw)


def _joined(ds: RawDataset, tag: int, text: _Text) -> str | None:
    s = _s(ds, tag, text)
    if s is None:
        return None
    return "\\".join(p.strip(" ") for p in s.split("\\")) or None


def iter_raw_rows(reader: InventoryReader) -> Iterator[tuple[Any, ...]]:
    """The rows of :func:`iter_rows` for one file, as tuples in :data:`ROW_COLUMNS` order,
    straight from the reader's raw data sets.

    Same values as ``iter_rows(reader.studies())`` (a property test holds them equal) without
    building the typed records and a dict per row: export reads about 1.5x as many rows per
    second this way (``bench/bench_scu.py``). The decoding is the reader's own.
    """
    text0 = reader.text
    for st in reader.raw_studies():
        t = text0.child(st) if tags.SpecificCharacterSet in st else text0
        study = (
            _s(st, tags.PatientID, t),
            _s(st, tags.PatientName, t),
            _s(st, tags.PatientBirthDate, t),
            _s(st, tags.PatientSex, t),
            _s(st, tags.StudyInstanceUID, t) or "",
            _s(st, tags.StudyDate, t),
            _s(st, tags.StudyTime, t),
            _s(st, tags.AccessionNumber, t),
            _s(st, tags.StudyID, t),
            _s(st, tags.StudyDescription, t),
            _joined(st, tags.ModalitiesInStudy, t),
            _s(st, tags.ItemInventoryDateTime, t) or "",
            _s(st, tags.StudyUpdateDateTime, t),
            _int(st, tags.NumberOfStudyRelatedSeries),
            _int(st, tags.NumberOfStudyRelatedInstances),
            _s(st, tags.RemovedFromOperationalUse, t),
        )
        access = (_joined(st, tags.RetrieveAETitle, t), _s(st, tags.RetrieveURL, t))
        stale_st: list[str] = []
        _stale_raw(stale_st, st)
        series_items = _items(st, tags.InventoriedSeriesSequence) or []
        if not series_items:
            yield (
                *study,
                *_NO_SERIES,
                *_NO_INSTANCE,
                *access,
                *_NO_FILE,
                "\\".join(stale_st) or None,
            )
            continue
        for se in series_items:
            ts = t.child(se) if tags.SpecificCharacterSet in se else t
            series = (
                _s(se, tags.SeriesInstanceUID, ts) or "",
                _s(se, tags.Modality, ts) or "",
                _int(se, tags.SeriesNumber),
                _s(se, tags.SeriesDescription, ts),
                _s(se, tags.RemovedFromOperationalUse, ts),
            )
            stale_se = list(stale_st)
            _stale_raw(stale_se, se)
            instances = _items(se, tags.InventoriedInstancesSequence) or []
            if not instances:
                yield (
                    *study,
                    *series,
                    *_NO_INSTANCE,
                    *access,
                    *_NO_FILE,
                    "\\".join(stale_se) or None,
                )
                continue
            for it in instances:
                ti = ts.child(it) if tags.SpecificCharacterSet in it else ts
                fa_items = _items(it, tags.FileAccessSequence)
                file: tuple[Any, ...]
                if fa_items:
                    fa = fa_items[0]
                    file = (
                        _s(fa, tags.FileAccessURI, ti) or "",
                        _ascii(fa, tags.ContainerFileType),
                        _s(fa, tags.FilenameInContainer, ti),
                        _uv(fa, tags.FileOffsetInContainer),
                        _uv(fa, tags.FileLengthInContainer),
                        _ascii(fa, tags.StoredInstanceTransferSyntaxUID),
                    )
                else:
                    file = _NO_FILE
                if tags.OriginalAttributesSequence in it:
                    stale = list(stale_se)
                    _stale_raw(stale, it)
                else:
                    stale = stale_se
                yield (
                    *study,
                    *series,
                    _ascii(it, tags.SOPClassUID) or "",
                    _ascii(it, tags.SOPInstanceUID) or "",
                    _int(it, tags.InstanceNumber),
                    _ascii(it, tags.RemovedFromOperationalUse),
                    _ascii(it, tags.InstanceAvailability),
                    *access,
                    *file,
                    "\\".join(stale) or None,
                )


_NO_SERIES = (None,) * 5
_NO_INSTANCE = (None,) * 5
_NO_FILE = (None,) * 6


def _ascii(ds: RawDataset, tag: int) -> str | None:
    el = ds.get(tag)
    if el is None or not el[1]:
        return None
    return el[1].decode("ascii", "replace").strip(" \x00") or None  # type: ignore[union-attr]


def _uv(ds: RawDataset, tag: int) -> int | None:
    el = ds.get(tag)
    if el is None or not el[1]:
        return None
    raw = el[1]
    if el[0] == "UV" and len(raw) == 8:
        return int.from_bytes(raw, "little")  # type: ignore[arg-type]
    return _int(ds, tag)
