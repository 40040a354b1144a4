"""Hypothesis strategies for Inventory records (shared by the round-trip and split tests)."""

from __future__ import annotations

import datetime
import string

from dicom_inventory import (
    Code,
    ContainerFileType,
    FileAccess,
    InstanceRecord,
    InventoryLevel,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from hypothesis import Phase, settings
from hypothesis import strategies as st

#: Settings for the heavy record strategies: no "explain" phase (it re-runs every draw and
#: made shrinking of a failure take minutes).
record_settings = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)

_uid_component = st.one_of(st.just("0"), st.integers(1, 10**12).map(str))
uids = st.lists(_uid_component, min_size=2, max_size=8).map(".".join).filter(lambda u: len(u) <= 64)
# Text without backslash, control characters or edge spaces; includes non-ASCII letters.
_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\\=^")


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(_chars, min_size=1, max_size=max_size).map(str.strip).filter(bool)


def opt(s: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | s


_cs = st.text(string.ascii_uppercase + string.digits + "_", min_size=1, max_size=16)
_dates = st.dates().map(lambda d: d.strftime("%Y%m%d"))
_times = st.times().map(lambda t: t.strftime("%H%M%S"))
_dts = st.datetimes().map(lambda d: d.strftime("%Y%m%d%H%M%S"))
_names = st.builds(lambda a, b: f"{a}^{b}", text(20), text(20))
_codes = st.builds(Code, value=_cs, scheme_designator=_cs, meaning=text(40))
_original = st.builds(
    OriginalAttributes,
    modified=st.fixed_dictionaries({"PatientName": _names, "PatientID": text(20)}),
    modification_datetime=_dts,
    modifying_system=text(30),
    reason=st.sampled_from(["COERCE", "CORRECT"]),
    source_of_previous_values=opt(text(30)),
)


@st.composite
def file_access(draw: st.DrawFn) -> FileAccess:
    kind = draw(st.sampled_from(list(ContainerFileType)))
    # UR values are ASCII (non-ASCII characters of a URI are percent-encoded, RFC 3986)
    name = (
        draw(st.text(string.ascii_letters + string.digits + "._-/", min_size=1, max_size=41))
        if kind.requires_filename
        else None
    )
    offset = (
        draw(st.integers(0, 2**63))
        if kind.requires_offset_length
        else draw(opt(st.integers(0, 2**40)))
    )
    length = draw(st.integers(1, 2**40)) if kind.requires_offset_length else None
    # odd and even lengths on purpose (padding)
    uri = "file:///archive/" + draw(
        st.text(string.ascii_letters + string.digits + "/._-%", min_size=1, max_size=60)
    )
    return FileAccess(
        uri=uri,
        container_type=kind,
        filename_in_container=name,
        offset=offset,
        length=length,
        transfer_syntax_uid=draw(
            st.sampled_from(["1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.80"])
        ),
        mac_algorithm=draw(opt(st.just("SHA256"))),
        mac=draw(
            opt(
                st.sampled_from([16, 20, 32, 48, 64]).flatmap(
                    lambda n: st.binary(min_size=n, max_size=n)
                )
            )
        ),
        expiration_datetime=draw(opt(_dts)),
    )


instances = st.builds(
    InstanceRecord,
    sop_class_uid=uids,
    sop_instance_uid=uids,
    instance_number=opt(st.integers(0, 10**9)),
    removed_from_operational_use=opt(st.sampled_from(["Y", "N"])),
    reason_for_removal=opt(st.lists(_codes, max_size=2).map(tuple)),
    instance_availability=opt(st.sampled_from(["ONLINE", "NEARLINE", "OFFLINE", "UNAVAILABLE"])),
    file_access=st.lists(file_access(), max_size=2).map(tuple),
    storage_media_file_set_id=opt(_cs),
    original_attributes=st.lists(_original, max_size=2).map(tuple),
    other=st.just({})
    | st.fixed_dictionaries(
        {"ContentDate": _dates, "NumberOfFrames": st.integers(1, 999).map(str)}
    ),
)


def series(level: InventoryLevel, max_instances: int = 4) -> st.SearchStrategy[SeriesRecord]:
    return st.builds(
        SeriesRecord,
        series_instance_uid=uids,
        modality=st.sampled_from(["CT", "MR", "SR", "KO"]),
        series_number=opt(st.integers(-(10**6), 10**9)),
        series_description=opt(text(64)),
        series_date=opt(_dates),
        series_time=opt(_times),
        body_part_examined=opt(_cs),
        laterality=opt(st.sampled_from(["L", "R"])),
        removed_from_operational_use=opt(st.sampled_from(["Y", "N"])),
        stored_instance_base_uri=opt(st.just("https://pacs.example.org/")),
        original_attributes=st.lists(_original, max_size=1).map(tuple),
        instances=(
            st.lists(instances, min_size=1, max_size=max_instances)
            if level.has_instances
            else st.just([])
        ),
    )


def studies(
    level: InventoryLevel, max_series: int = 3, max_instances: int = 4
) -> st.SearchStrategy[StudyRecord]:
    return st.builds(
        StudyRecord,
        study_instance_uid=uids,
        item_inventory_datetime=_dts,
        modalities_in_study=opt(
            st.lists(st.sampled_from(["CT", "MR", "SR"]), min_size=1, max_size=3).map(tuple)
        ),
        removed_from_operational_use=opt(st.sampled_from(["Y", "N"])),
        reason_for_removal=opt(st.lists(_codes, max_size=1).map(tuple)),
        number_of_study_related_series=opt(st.integers(0, 10**6)),
        number_of_study_related_instances=opt(st.integers(0, 10**9)),
        study_update_datetime=opt(_dts),
        study_id=opt(text(16)),
        study_date=opt(_dates),
        study_time=opt(_times),
        study_description=opt(text(64)),
        accession_number=opt(text(16)),
        patient_name=opt(_names),
        patient_id=opt(text(64)),
        issuer_of_patient_id=opt(text(64)),
        patient_birth_date=opt(_dates),
        patient_sex=opt(st.sampled_from(["M", "F", "O"])),
        retrieve_ae_title=opt(
            st.lists(
                st.text(string.ascii_uppercase, min_size=1, max_size=16), min_size=1, max_size=2
            ).map(tuple)
        ),
        retrieve_url=opt(st.just("https://pacs.example.org/dicomweb/studies/1.2.3")),
        original_attributes=st.lists(_original, max_size=1).map(tuple),
        series=(
            st.lists(series(level, max_instances), min_size=1, max_size=max_series)
            if level.has_series
            else st.just([])
        ),
    )


# Four-digit years: strftime writes year 999 as "999" (not a valid DA).
_scope_dates = st.dates(min_value=datetime.date(1000, 1, 1)).map(lambda d: d.strftime("%Y%m%d"))


@st.composite
def _date_range(draw: st.DrawFn) -> str:
    lo, hi = sorted([draw(_scope_dates), draw(_scope_dates)])
    form = draw(st.sampled_from(["both", "from", "to"]))
    return {"both": f"{lo}-{hi}", "from": f"{lo}-", "to": f"-{hi}"}[form]


_wildcard_ids = st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=8).flatmap(
    lambda s: st.sampled_from([s, f"{s}*", f"?{s}", f"{s[:1]}*{s[1:]}"])
)


@st.composite
def scope_keys(draw: st.DrawFn) -> dict[str, str]:
    """Flat Scope of Inventory keys of every matching type (PS3.4 C.2.2.2): single value, wild
    card, range, list of UIDs and empty value, with non-ASCII names."""
    keys: dict[str, str] = {}
    for keyword, strategy in (
        ("PatientID", _wildcard_ids | st.just("")),
        ("AccessionNumber", _wildcard_ids | st.just("")),
        ("PatientName", _names | _names.map(lambda n: n.split("^")[0] + "*")),
        ("StudyDate", _date_range() | _scope_dates),
        ("StudyTime", _times.map(lambda t: f"{t}-")),
        ("StudyInstanceUID", st.lists(uids, min_size=1, max_size=4).map("\\".join)),
    ):
        if draw(st.booleans()):
            keys[keyword] = draw(strategy)
    return keys
