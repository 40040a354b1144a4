"""Flat rows: one row per record at the inventory's level, for export and comparison.

The columns are chosen here, once, as ``(column, record class, keyword)``; what each holds
(its tag, VR and how it is decoded) comes from the attribute table through the model's fields
(:mod:`dicom_inventory.fields`), for the typed rows and the byte-level rows alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from dicom_inventory import tags
from dicom_inventory._decode import _items, _Text, converter
from dicom_inventory._parse import RawDataset
from dicom_inventory.fields import ModelField, model_fields
from dicom_inventory.model import FileAccess, InstanceRecord, SeriesRecord, StudyRecord
from pydicom.datadict import keyword_for_tag

if TYPE_CHECKING:  # read.py re-exports this module's names
    from dicom_inventory.read import InventoryReader

__all__ = ["INTEGER_COLUMNS", "ROW_COLUMNS", "UNSIGNED_COLUMNS", "iter_raw_rows", "iter_rows"]

#: The row's columns: name, the record (or File Access item) holding it, its keyword. Grouped
#: by where the value comes from, in row order; the study's access end points follow the
#: instance columns, the first File Access item of an instance record last.
_COLUMNS: tuple[tuple[str, type, str], ...] = (
    ("patient_id", StudyRecord, "PatientID"),
    ("patient_name", StudyRecord, "PatientName"),
    ("patient_birth_date", StudyRecord, "PatientBirthDate"),
    ("patient_sex", StudyRecord, "PatientSex"),
    ("study_instance_uid", StudyRecord, "StudyInstanceUID"),
    ("study_date", StudyRecord, "StudyDate"),
    ("study_time", StudyRecord, "StudyTime"),
    ("accession_number", StudyRecord, "AccessionNumber"),
    ("study_id", StudyRecord, "StudyID"),
    ("study_description", StudyRecord, "StudyDescription"),
    ("modalities_in_study", StudyRecord, "ModalitiesInStudy"),
    ("item_inventory_datetime", StudyRecord, "ItemInventoryDateTime"),
    ("study_update_datetime", StudyRecord, "StudyUpdateDateTime"),
    ("number_of_study_related_series", StudyRecord, "NumberOfStudyRelatedSeries"),
    ("number_of_study_related_instances", StudyRecord, "NumberOfStudyRelatedInstances"),
    ("study_removed", StudyRecord, "RemovedFromOperationalUse"),
    ("series_instance_uid", SeriesRecord, "SeriesInstanceUID"),
    ("modality", SeriesRecord, "Modality"),
    ("series_number", SeriesRecord, "SeriesNumber"),
    ("series_description", SeriesRecord, "SeriesDescription"),
    ("series_removed", SeriesRecord, "RemovedFromOperationalUse"),
    ("sop_class_uid", InstanceRecord, "SOPClassUID"),
    ("sop_instance_uid", InstanceRecord, "SOPInstanceUID"),
    ("instance_number", InstanceRecord, "InstanceNumber"),
    ("instance_removed", InstanceRecord, "RemovedFromOperationalUse"),
    ("instance_availability", InstanceRecord, "InstanceAvailability"),
    ("retrieve_ae_title", StudyRecord, "RetrieveAETitle"),
    ("retrieve_url", StudyRecord, "RetrieveURL"),
    ("file_access_uri", FileAccess, "FileAccessURI"),
    ("container_file_type", FileAccess, "ContainerFileType"),
    ("filename_in_container", FileAccess, "FilenameInContainer"),
    ("file_offset_in_container", FileAccess, "FileOffsetInContainer"),
    ("file_length_in_container", FileAccess, "FileLengthInContainer"),
    ("stored_transfer_syntax_uid", FileAccess, "StoredInstanceTransferSyntaxUID"),
)

#: Column names of a row, in order; the last, ``stale_attributes``, is derived (see iter_rows).
ROW_COLUMNS: tuple[str, ...] = (*(c for c, _, _ in _COLUMNS), "stale_attributes")


def _field(cls: type, keyword: str) -> ModelField:
    for mf in model_fields(cls):
        if mf.keyword == keyword:
            return mf
    raise KeyError(f"{cls.__name__} has no field holding {keyword}")


#: The model field behind each column (a column must name one).
_FIELDS: dict[str, ModelField] = {c: _field(cls, kw) for c, cls, kw in _COLUMNS}

#: Columns holding integers (IS, UV ...): export writes them as numbers.
INTEGER_COLUMNS = frozenset(c for c, mf in _FIELDS.items() if mf.kind in ("int", "uint"))
#: Integer columns of VR UV (File Offset/Length in Container, PS3.3 C.38.2.2): unsigned 64-bit
#: values (PS3.5 6.2, ``0 <= n < 2**64``); the other integer columns are IS.
UNSIGNED_COLUMNS = frozenset(c for c, mf in _FIELDS.items() if mf.kind == "uint")


def _group(cls: type, first: str, last: str) -> tuple[tuple[str, ModelField], ...]:
    names = [c for c, _, _ in _COLUMNS]
    group = names[names.index(first) : names.index(last) + 1]
    assert all(_FIELDS[c] in model_fields(cls) for c in group)
    return tuple((c, _FIELDS[c]) for c in group)


# the column groups, in row order
_STUDY = _group(StudyRecord, "patient_id", "study_removed")
_SERIES = _group(SeriesRecord, "series_instance_uid", "series_removed")
_INSTANCE = _group(InstanceRecord, "sop_class_uid", "instance_availability")
_ACCESS = _group(StudyRecord, "retrieve_ae_title", "retrieve_url")
_FILE = _group(FileAccess, "file_access_uri", "stored_transfer_syntax_uid")


def _cell(value: Any) -> Any:
    r"""A typed value as a row holds it: multi-values joined by ``\``, enums as strings."""
    if type(value) is tuple:
        return "\\".join(value) or None
    return getattr(value, "value", value)


def _stale(*records: Any) -> str | None:
    names: list[str] = []
    for rec in records:
        for oa in getattr(rec, "original_attributes", ()) or ():
            for kw in oa.modified:
                if kw not in names:
                    names.append(kw)
    return "\\".join(names) or None


def _typed(rec: Any, group: tuple[tuple[str, ModelField], ...]) -> dict[str, Any]:
    return {c: _cell(getattr(rec, mf.name)) for c, mf in group}


def iter_rows(studies: Iterable[StudyRecord]) -> Iterator[dict[str, Any]]:
    """Flatten study records into rows of :data:`ROW_COLUMNS`.

    One row per instance record at level INSTANCE, per series record at SERIES, per study at
    STUDY (a record without children gives one row). ``stale_attributes`` lists the keywords
    whose prior values are recorded in Original Attributes Sequence at any level of the row:
    the attributes in which the stored file still differs from the inventory's current values.
    """
    for st in studies:
        base = {**_typed(st, _STUDY), **_typed(st, _ACCESS)}
        series_list = list(st.series)
        if not series_list:
            yield _row(base, _stale(st))
            continue
        for se in series_list:
            srow = {**base, **_typed(se, _SERIES)}
            instances = list(se.instances)
            if not instances:
                yield _row(srow, _stale(st, se))
                continue
            for inst in instances:
                irow = {**srow, **_typed(inst, _INSTANCE)}
                if inst.file_access:
                    irow.update(_typed(inst.file_access[0], _FILE))
                yield _row(irow, _stale(st, se, inst))


def _row(values: Mapping[str, Any], stale: str | None) -> dict[str, Any]:
    row = dict.fromkeys(ROW_COLUMNS)
    row.update(values)
    row["stale_attributes"] = stale
    return row


# ------------------------------------------------------------------ the byte-level path
_RawCell = tuple[int, Callable[[tuple[str, Any, int], _Text], Any], Any]


def _raw_cells(group: tuple[tuple[str, ModelField], ...]) -> tuple[_RawCell, ...]:
    """``(tag, converter, value when absent)`` per column, the reader's own converters."""
    cells = []
    for _, mf in group:
        conv = converter(mf)
        if mf.kind == "multi":
            conv = _joining(conv)
        cells.append((mf.tag, conv, "" if mf.required else None))
    return tuple(cells)


def _joining(
    conv: Callable[[tuple[str, Any, int], _Text], Any],
) -> Callable[[tuple[str, Any, int], _Text], Any]:
    def joined(el: tuple[str, Any, int], text: _Text) -> str | None:
        v = conv(el, text)
        return "\\".join(v) or None if v is not None else None

    return joined


def _compile_values(
    cells: tuple[_RawCell, ...], name: str
) -> Callable[[RawDataset, _Text], tuple[Any, ...]]:
    """A function returning the group's cells of a raw data set as a tuple.

    Compiled from the cells (one lookup and conversion per column, as hand-written code would
    have them) like the encoder's bodies: a loop over the cells measured about 10% fewer rows
    per second in export (``bench/bench_scu.py``).
    """
    namespace: dict[str, Any] = {}
    lines = ["def values(ds, text):", "    get = ds.get"]
    names = []
    for i, (tag, conv, absent) in enumerate(cells):
        namespace[f"c{i}"], namespace[f"a{i}"] = conv, absent
        lines.append(f"    el = get({tag})")
        lines.append(f"    v{i} = a{i} if el is None else c{i}(el, text)")
        names.append(f"v{i}")
    lines.append(f"    return ({', '.join(names)},)" if names else "    return ()")
    exec(compile("\n".join(lines) + "\n", f"<rows {name}>", "exec"), namespace)  # noqa: S102
    return namespace["values"]  # type: ignore[no-any-return]


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


class _RowPlan:
    """The compiled extractors of one selection of columns, per column group.

    It also holds how the concatenated groups (in :data:`ROW_COLUMNS` order) are put in the
    selection's order.
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        unknown = [c for c in columns if c not in ROW_COLUMNS]
        if unknown:
            raise ValueError(f"unknown row column(s) {', '.join(unknown)}; see ROW_COLUMNS")
        chosen = set(columns)

        def part(group: tuple[tuple[str, ModelField], ...], name: str) -> Any:
            sub = tuple(g for g in group if g[0] in chosen)
            return _compile_values(_raw_cells(sub), name), (None,) * len(sub), bool(sub)

        self.study, _, _ = part(_STUDY, "study")
        self.series, self.no_series, _ = part(_SERIES, "series")
        self.instance, self.no_instance, _ = part(_INSTANCE, "instance")
        self.access, _, _ = part(_ACCESS, "access")
        self.file, self.no_file, self.any_file = part(_FILE, "file")
        self.stale = "stale_attributes" in chosen
        natural = [c for c in ROW_COLUMNS if c in chosen]
        order = [natural.index(c) for c in columns]
        self.reorder: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
        if order != list(range(len(natural))) or len(order) != len(natural):
            pick = itemgetter(*order)
            self.reorder = pick if len(order) > 1 else lambda row: (pick(row),)


@cache
def _plan(columns: tuple[str, ...]) -> _RowPlan:
    return _RowPlan(columns)


def iter_raw_rows(
    reader: InventoryReader, columns: Sequence[str] = ROW_COLUMNS
) -> Iterator[tuple[Any, ...]]:
    """The rows of :func:`iter_rows` for one file, straight from the reader's raw data sets.

    Each row is a tuple of `columns` (default: all, in :data:`ROW_COLUMNS` order).

    Same values as ``iter_rows(reader.studies())`` (a property test holds them equal) without
    building the typed records and a dict per row: export reads about 1.5x as many rows per
    second this way (``bench/bench_scu.py``). The decoding is the reader's own. Columns not
    asked for are not decoded: the diff reads its 13 columns this way.

    Raises
    ------
    ValueError
        If a column is not one of :data:`ROW_COLUMNS`.
    """
    plan = _plan(tuple(columns))
    reorder = plan.reorder
    stale_on = plan.stale
    text0 = reader.text
    for st in reader.raw_studies():
        t = text0.child(st) if tags.SpecificCharacterSet in st else text0
        study = plan.study(st, t)
        access = plan.access(st, t)
        stale_st: list[str] = []
        if stale_on:
            _stale_raw(stale_st, st)
        series_items = _items(st, tags.InventoriedSeriesSequence) or []
        if not series_items:
            row = (
                *study,
                *plan.no_series,
                *plan.no_instance,
                *access,
                *plan.no_file,
                *_stale_cell(stale_on, stale_st),
            )
            yield reorder(row) if reorder else row
            continue
        for se in series_items:
            ts = t.child(se) if tags.SpecificCharacterSet in se else t
            series = plan.series(se, ts)
            stale_se = stale_st
            if stale_on:
                stale_se = list(stale_st)
                _stale_raw(stale_se, se)
            instances = _items(se, tags.InventoriedInstancesSequence) or []
            if not instances:
                row = (
                    *study,
                    *series,
                    *plan.no_instance,
                    *access,
                    *plan.no_file,
                    *_stale_cell(stale_on, stale_se),
                )
                yield reorder(row) if reorder else row
                continue
            for it in instances:
                ti = ts.child(it) if tags.SpecificCharacterSet in it else ts
                file = plan.no_file
                if plan.any_file:
                    fa_items = _items(it, tags.FileAccessSequence)
                    if fa_items:
                        file = plan.file(fa_items[0], ti)
                stale = stale_se
                if stale_on and tags.OriginalAttributesSequence in it:
                    stale = list(stale_se)
                    _stale_raw(stale, it)
                row = (
                    *study,
                    *series,
                    *plan.instance(it, ti),
                    *access,
                    *file,
                    *_stale_cell(stale_on, stale),
                )
                yield reorder(row) if reorder else row


def _stale_cell(on: bool, names: list[str]) -> tuple[str | None, ...]:
    return ("\\".join(names) or None,) if on else ()
