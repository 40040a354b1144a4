r"""Flat rows: one row per record at the inventory's level, for export and comparison.

The columns are chosen here, once, as ``(column, record class, keyword)``; what each holds
(its tag, VR and how it is decoded) comes from the attribute table through the model's fields
(:mod:`dicom_inventory.fields`), for the typed rows and the byte-level rows alike. The kind
of each column (:data:`COLUMN_KINDS`: text, integer, date, time, date-time, flag, list ...)
is derived from the same fields, so export types its columns from this one table.

Row values are the attribute values as the inventory holds them (text, integers, multi-values
joined by ``\``); typing them (dates, booleans, lists) is the exporter's business
(:mod:`dicom_inventory.scu.export`), so comparison (:mod:`dicom_inventory.scu.diff`) reads the
values unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from dicom_inventory import enum, tags
from dicom_inventory._decode import _items, _Text, _value, converter
from dicom_inventory._parse import RawDataset, ascii_value
from dicom_inventory.fields import ModelField, model_fields
from dicom_inventory.model import FileAccess, InstanceRecord, SeriesRecord, StudyRecord
from pydicom.datadict import keyword_for_tag

if TYPE_CHECKING:  # read.py re-exports this module's names
    from dicom_inventory.read import InventoryReader

__all__ = [
    "CHANGE_FIELDS",
    "COLUMN_KINDS",
    "EXPORT_COLUMNS",
    "FLAG_VALUES",
    "INTEGER_COLUMNS",
    "ROW_COLUMNS",
    "UNSIGNED_COLUMNS",
    "iter_raw_rows",
    "iter_rows",
]

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


#: Columns :func:`iter_raw_rows` adds on request to :data:`ROW_COLUMNS` (export writes them):
#: ``stale_changes``, one entry per attribute of each Original Attributes Sequence item at any
#: level of the row (the fields of :data:`CHANGE_FIELDS`), and ``source_inventory``, the SOP
#: Instance UID of the Inventory instance (the file or tree part) the row was read from.
EXPORT_COLUMNS: tuple[str, ...] = (*ROW_COLUMNS, "stale_changes", "source_inventory")

#: The fields of an entry of ``stale_changes`` (PS3.3 Table C.12.1.1.9-1): the attribute, its
#: value recorded in Modified Attributes Sequence (0400,0550) (the prior value, which the
#: stored file may still hold), its current value in the record (``None`` where the record no
#: longer has it), Attribute Modification DateTime (0400,0562) as written (DT), Modifying
#: System (0400,0563), Reason for the Attribute Modification (0400,0565), and the level of the
#: record holding the Original Attributes item (STUDY, SERIES or INSTANCE).
CHANGE_FIELDS: tuple[str, ...] = (
    "keyword",
    "stored_value",
    "current_value",
    "modified_at",
    "modifying_system",
    "reason",
    "level",
)

#: A flag attribute's values (Removed from Operational Use (0008,0405), PS3.4 C.6.4.5.4) as
#: booleans: a column whose keyword names an enum of :mod:`dicom_inventory.enum` with exactly
#: these values is a flag.
FLAG_VALUES: dict[str, bool] = {
    enum.RemovedFromOperationalUse.Y.value: True,
    enum.RemovedFromOperationalUse.N.value: False,
}

#: The VRs with a typed form of their own (PS3.5 Table 6.2-1), single-valued.
_TEMPORAL = {"DA": "date", "TM": "time", "DT": "datetime"}


def _is_flag(keyword: str) -> bool:
    values = getattr(enum, keyword, None)
    if not (isinstance(values, type) and issubclass(values, Enum)):
        return False
    return {m.value for m in values} == set(FLAG_VALUES)


def _kind(mf: ModelField) -> str:
    """The column kind of a model field: its field kind, refined by VR and defined terms."""
    if mf.kind == "text":
        if mf.attribute.vr in _TEMPORAL:
            return _TEMPORAL[mf.attribute.vr]
        if _is_flag(mf.keyword):
            return "flag"
    return mf.kind


#: The kind of each column of :data:`EXPORT_COLUMNS`: ``text``, ``int`` (IS), ``uint`` (UV),
#: ``multi`` (multi-valued, a list of text), ``date`` (DA), ``time`` (TM), ``datetime`` (DT),
#: ``flag`` (Y/N, :data:`FLAG_VALUES`) or ``changes`` (``stale_changes``). Derived from the
#: attribute table (VR, VM) through the model fields; ``stale_attributes`` lists keywords.
COLUMN_KINDS: dict[str, str] = {
    **{c: _kind(mf) for c, mf in _FIELDS.items()},
    "stale_attributes": "multi",
    "stale_changes": "changes",
    "source_inventory": "text",
}


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


def _text_of(value: Any) -> str | None:
    r"""A generic attribute value as text: multi-values joined by ``\``, numbers in decimal.

    Binary values as hexadecimal; a sequence has no text form (``None``).
    """
    if value is None or isinstance(value, list):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return "\\".join(str(v) for v in value)
    return str(value) if value != "" else None


#: A record's raw item with its character set, innermost (the record itself) first.
_Chain = tuple[tuple[RawDataset, _Text], ...]


def _changes_raw(out: list[dict[str, Any]], chain: _Chain, level: str) -> None:
    """Add the entries of ``stale_changes`` for the Original Attributes items of ``chain[0]``.

    One entry per attribute of each item's Modified Attributes Sequence (0400,0550), in the
    order recorded (PS3.3 C.12.1.1.9): its prior value, and its current value in the record
    or, where the record does not hold it, in the enclosing records.
    """
    ds, text = chain[0]
    for oa in _items(ds, tags.OriginalAttributesSequence) or ():
        oa_text = text.child(oa) if tags.SpecificCharacterSet in oa else text
        when = oa.get(tags.AttributeModificationDateTime)
        system = oa.get(tags.ModifyingSystem)
        reason = oa.get(tags.ReasonForTheAttributeModification)
        common = {
            "modified_at": ascii_value(when) or None,
            "modifying_system": oa_text.decode(system[1], system[0]) or None
            if system is not None and isinstance(system[1], bytes)
            else None,
            "reason": ascii_value(reason) or None,
            "level": level,
        }
        mod = _items(oa, tags.ModifiedAttributesSequence) or [{}]
        item = mod[0] if mod else {}
        item_text = oa_text.child(item) if tags.SpecificCharacterSet in item else oa_text
        for tag, el in item.items():
            if tag >> 16 & 1 or tag == tags.SpecificCharacterSet:  # private: no keyword
                continue
            kw = keyword_for_tag(tag)
            if not kw:
                continue
            current = None
            for rec, rec_text in chain:
                if tag in rec:
                    current = _text_of(_value(rec[tag], tag, rec_text))
                    break
            out.append(
                {
                    "keyword": kw,
                    "stored_value": _text_of(_value(el, tag, item_text)),
                    "current_value": current,
                    **common,
                }
            )


class _RowPlan:
    """The compiled extractors of one selection of columns, per column group.

    It also holds how the concatenated groups (in :data:`EXPORT_COLUMNS` order) are put in the
    selection's order.
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        unknown = [c for c in columns if c not in EXPORT_COLUMNS]
        if unknown:
            raise ValueError(f"unknown row column(s) {', '.join(unknown)}; see EXPORT_COLUMNS")
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
        self.changes = "stale_changes" in chosen
        self.source = "source_inventory" in chosen
        natural = [c for c in EXPORT_COLUMNS if c in chosen]
        order = [natural.index(c) for c in columns]
        self.reorder: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
        if order != list(range(len(natural))) or len(order) != len(natural):
            pick = itemgetter(*order)
            self.reorder = pick if len(order) > 1 else lambda row: (pick(row),)


@cache
def _plan(columns: tuple[str, ...]) -> _RowPlan:
    return _RowPlan(columns)


class _Derived:
    """The derived cells of a row at one level: stale keywords and changes, built on demand."""

    __slots__ = ("changes", "names", "plan", "source")

    def __init__(self, plan: _RowPlan, source: tuple[str | None, ...]) -> None:
        self.plan, self.source = plan, source
        self.names: list[str] = []
        self.changes: list[dict[str, Any]] = []

    def below(self, chain: _Chain, level: str) -> _Derived:
        """The cells of a record inside this one (``chain[0]``), adding its own changes."""
        ds = chain[0][0]
        if tags.OriginalAttributesSequence not in ds or not (self.plan.stale or self.plan.changes):
            return self
        d = _Derived(self.plan, self.source)
        if self.plan.stale:
            d.names = list(self.names)
            _stale_raw(d.names, ds)
        if self.plan.changes:
            d.changes = list(self.changes)
            _changes_raw(d.changes, chain, level)
        return d

    def cells(self) -> tuple[Any, ...]:
        stale = ("\\".join(self.names) or None,) if self.plan.stale else ()
        changes = ((self.changes or None),) if self.plan.changes else ()
        return (*stale, *changes, *self.source)


def iter_raw_rows(
    reader: InventoryReader, columns: Sequence[str] = ROW_COLUMNS
) -> Iterator[tuple[Any, ...]]:
    """The rows of :func:`iter_rows` for one file, straight from the reader's raw data sets.

    Each row is a tuple of `columns` (default: all of :data:`ROW_COLUMNS`, in that order);
    the derived columns of :data:`EXPORT_COLUMNS` are added when asked for (a
    ``stale_changes`` cell is a list of dicts of :data:`CHANGE_FIELDS`, or ``None``).

    Same values as ``iter_rows(reader.studies())`` (a property test holds them equal) without
    building the typed records and a dict per row: export reads about 1.5x as many rows per
    second this way (``bench/bench_scu.py``). The decoding is the reader's own. Columns not
    asked for are not decoded: the diff reads its 13 columns this way.

    Raises
    ------
    ValueError
        If a column is not one of :data:`EXPORT_COLUMNS`.
    """
    plan = _plan(tuple(columns))
    reorder = plan.reorder
    text0 = reader.text
    source: tuple[str | None, ...] = ()
    if plan.source:
        uid = reader.raw_header.get(tags.SOPInstanceUID)
        source = (ascii_value(uid) or None if uid is not None else None,)
    top = _Derived(plan, source)
    for st in reader.raw_studies():
        t = text0.child(st) if tags.SpecificCharacterSet in st else text0
        study = plan.study(st, t)
        access = plan.access(st, t)
        d_st = top.below(((st, t),), "STUDY")
        series_items = _items(st, tags.InventoriedSeriesSequence) or []
        if not series_items:
            row = (
                *study,
                *plan.no_series,
                *plan.no_instance,
                *access,
                *plan.no_file,
                *d_st.cells(),
            )
            yield reorder(row) if reorder else row
            continue
        for se in series_items:
            ts = t.child(se) if tags.SpecificCharacterSet in se else t
            series = plan.series(se, ts)
            d_se = d_st.below(((se, ts), (st, t)), "SERIES")
            instances = _items(se, tags.InventoriedInstancesSequence) or []
            if not instances:
                row = (
                    *study,
                    *series,
                    *plan.no_instance,
                    *access,
                    *plan.no_file,
                    *d_se.cells(),
                )
                yield reorder(row) if reorder else row
                continue
            cells = d_se.cells()
            for it in instances:
                ti = ts.child(it) if tags.SpecificCharacterSet in it else ts
                file = plan.no_file
                if plan.any_file:
                    fa_items = _items(it, tags.FileAccessSequence)
                    if fa_items:
                        file = plan.file(fa_items[0], ti)
                own = cells
                if tags.OriginalAttributesSequence in it:
                    own = d_se.below(((it, ti), (se, ts), (st, t)), "INSTANCE").cells()
                row = (
                    *study,
                    *series,
                    *plan.instance(it, ti),
                    *access,
                    *file,
                    *own,
                )
                yield reorder(row) if reorder else row
