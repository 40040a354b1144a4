"""summary: the figures of an inventory, each checked where a wrong count would show.

Inventories are written by the encoder from synthetic records with one planted fact per
figure (a study whose counts disagree, a series without instances, a stale attribute at study
and at instance level, a plain file, a record without file access, an availability, a study
without date, a tree given with its leaves); the expected figures are counted from the typed
records by hand, not through the code under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path

import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    encode_inventory,
    iter_inventory,
    synthetic_studies,
)
from dicom_inventory.enum import InstanceAvailability, ReasonForAttributeModification
from dicom_inventory.model import (
    FileAccess,
    InstanceRecord,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from dicom_inventory.policy import ReadPolicy
from dicom_inventory.scu.summary import (
    _COUNTERS,
    NO_FILE_ACCESS,
    PLAIN_FILE,
    UNKNOWN,
    Summary,
    summarize,
)

EXPLICIT = "1.2.840.10008.1.2.1"


def _studies(n: int = 5) -> list[StudyRecord]:
    out = []
    for st in synthetic_studies(n, series_per_study=3, instances_per_series=4, seed=7):
        series = [replace(se, instances=list(se.instances)) for se in st.series]
        out.append(replace(st, series=series))
    return out


def _write(
    path: Path,
    studies: list[StudyRecord],
    uid: str = "2.25.71",
    level: InventoryLevel = InventoryLevel.INSTANCE,
) -> Path:
    header = InventoryHeader(uid, level, content_date="20261207", content_time="100000")
    path.write_bytes(encode_inventory(header, studies))
    return path


def _changed(keyword: str, value: str) -> OriginalAttributes:
    return OriginalAttributes(
        modified={keyword: value},
        modification_datetime="20260101120000",
        modifying_system="PACS",
        reason=ReasonForAttributeModification.CORRECT,
    )


def _planted() -> list[StudyRecord]:
    """Synthetic studies with one planted fact per figure (see the module docstring)."""
    studies = _studies()
    # study 0: says one instance more than it lists (an instance lost in migration)
    st0 = studies[0]
    studies[0] = replace(
        st0, number_of_study_related_instances=(st0.number_of_study_related_instances or 0) + 1
    )
    # study 1: a series listed without any instance record; its counts still agree
    st1 = studies[1]
    series1 = list(st1.series)
    series1[2] = replace(series1[2], instances=[])
    studies[1] = replace(
        st1,
        series=series1,
        number_of_study_related_instances=sum(len(list(se.instances)) for se in series1),
    )
    # study 2: Patient's Name changed at study level (every instance of it stale), and one
    # instance with Instance Number changed too; a plain file, a record without file access,
    # availabilities NEARLINE and none
    st2 = studies[2]
    series2 = list(st2.series)
    se = series2[0]
    inst = list(se.instances)
    inst[0] = replace(inst[0], original_attributes=(_changed("InstanceNumber", "9"),))
    inst[1] = replace(
        inst[1],
        file_access=(FileAccess(uri="file:///data/1.dcm", transfer_syntax_uid=EXPLICIT),),
        instance_availability=InstanceAvailability.NEARLINE,
    )
    inst[2] = replace(inst[2], file_access=(), instance_availability=None)
    series2[0] = replace(se, instances=inst)
    studies[2] = replace(
        st2, series=series2, original_attributes=(_changed("PatientName", "OLD^NAME"),)
    )
    # study 3: no Study Date
    studies[3] = replace(studies[3], study_date=None)
    return studies


def _expected(studies: list[StudyRecord]) -> dict[str, object]:
    """The figures, counted by hand from the typed records."""
    modality_rows: Counter[str] = Counter()
    modality_series: Counter[str] = Counter()
    containers: Counter[str] = Counter()
    availability: Counter[str] = Counter()
    years: Counter[str] = Counter()
    stale: Counter[str] = Counter()
    n_series = n_inst = 0
    for st in studies:
        years[st.study_date[:4] if st.study_date else UNKNOWN] += 1
        st_stale = {k for oa in st.original_attributes for k in oa.modified}
        for se in st.series:
            n_series += 1
            modality_series[se.modality] += 1
            for inst in se.instances:
                n_inst += 1
                modality_rows[se.modality] += 1
                fa = inst.file_access[0] if inst.file_access else None
                ctype = getattr(fa.container_type, "value", None) if fa else None
                containers[ctype or (PLAIN_FILE if fa else NO_FILE_ACCESS)] += 1
                av = inst.instance_availability
                availability[av.value if isinstance(av, InstanceAvailability) else UNKNOWN] += 1
                keys = st_stale | {k for oa in inst.original_attributes for k in oa.modified}
                stale.update(keys)
    return {
        "series": n_series,
        "instances": n_inst,
        "modality_rows": modality_rows,
        "modality_series": modality_series,
        "containers": containers,
        "availability": availability,
        "year_studies": years,
        "stale": stale,
    }


def test_every_figure_matches_the_records(tmp_path: Path) -> None:
    studies = _planted()
    path = _write(tmp_path / "inv.dcm", studies)
    want = _expected(studies)

    s = summarize([path], top=3)

    assert (s.files, s.levels, s.studies) == (1, ["INSTANCE"], len(studies))
    assert (s.series, s.instances, s.rows) == (want["series"], want["instances"], s.rows)
    for name in ("modality_rows", "modality_series", "containers", "availability", "stale"):
        assert getattr(s, name) == want[name], name
    assert s.year_studies == want["year_studies"]
    assert s.year_studies[UNKNOWN] == 1  # study 3, no date
    assert s.containers[PLAIN_FILE] == 1 and s.containers[NO_FILE_ACCESS] == 1
    assert s.availability["NEARLINE"] == 1 and s.availability[UNKNOWN] == 1
    # study-level change: every instance of study 2 is stale in PatientName; one also in
    # InstanceNumber
    n2 = sum(len(list(se.instances)) for se in studies[2].series)
    assert s.stale == Counter({"PatientName": n2, "InstanceNumber": 1})
    assert s.stale_rows == n2
    # the same counts as the rows export writes (one row per instance record)
    assert s.rows == sum(s.modality_rows.values()) == s.instances


def test_incomplete_studies_name_what_disagrees(tmp_path: Path) -> None:
    studies = _planted()
    s = summarize([_write(tmp_path / "inv.dcm", studies)], top=10)

    assert (s.incomplete_studies, s.empty_series) == (2, 1)
    by_uid = {m.study_instance_uid: m for m in s.incomplete}
    lost = by_uid[studies[0].study_instance_uid]
    listed = sum(len(list(se.instances)) for se in studies[0].series)
    assert (lost.stated_instances, lost.listed_instances) == (listed + 1, listed)
    assert lost.problems == [
        f"Number of Study Related Instances (0020,1208) says {listed + 1}, "
        f"{listed} instance records listed"
    ]
    empty = by_uid[studies[1].study_instance_uid]
    assert empty.empty_series == (list(studies[1].series)[2].series_instance_uid,)
    assert empty.problems == [f"series {empty.empty_series[0]} lists no instance records"]


def test_complete_inventory_has_no_incomplete_study(tmp_path: Path) -> None:
    s = summarize([_write(tmp_path / "inv.dcm", _studies())])
    assert (s.incomplete_studies, s.empty_series, s.incomplete) == (0, 0, [])


def test_largest_studies_are_the_top_n_largest_first(tmp_path: Path) -> None:
    studies = _studies(6)
    sizes = [2, 9, 4, 9, 1, 6]  # instances per series of study i (3 series each)
    for i, k in enumerate(sizes):
        series = [replace(se, instances=_n(se, k)) for se in studies[i].series]
        studies[i] = replace(studies[i], series=series, number_of_study_related_instances=3 * k)
    s = summarize([_write(tmp_path / "inv.dcm", studies)], top=3)

    got = [(st.study_instance_uid, st.instances, st.series) for st in s.largest]
    # ties keep the order read: study 1 before study 3
    assert got == [
        (studies[1].study_instance_uid, 27, 3),
        (studies[3].study_instance_uid, 27, 3),
        (studies[5].study_instance_uid, 18, 3),
    ]
    assert s.incomplete_studies == 0
    none = summarize([tmp_path / "inv.dcm"], top=0)  # counts only, no study listed
    assert (none.largest, none.studies) == ([], 6)


def _n(se: SeriesRecord, k: int) -> list[InstanceRecord]:
    """`k` instance records in series `se` (copies of its first, new UIDs)."""
    first = list(se.instances)[0]
    return [
        replace(first, sop_instance_uid=f"{se.series_instance_uid}.{j + 1}", instance_number=j + 1)
        for j in range(k)
    ]


def test_series_level_counts_series_and_no_instances(tmp_path: Path) -> None:
    studies = [
        replace(st, series=[replace(se, instances=()) for se in st.series]) for st in _studies(3)
    ]
    path = _write(tmp_path / "series.dcm", studies, level=InventoryLevel.SERIES)
    s = summarize([path])
    assert s.levels == ["SERIES"]
    assert (s.studies, s.series, s.instances) == (3, 9, 0)
    assert s.rows == 9 and sum(s.modality_rows.values()) == 9
    assert not s.availability and not s.containers
    # the stated instance counts rank the studies where no instance is listed
    assert [st.instances for st in s.largest] == [12, 12, 12]
    assert s.incomplete_studies == 0  # instances are not listed at SERIES level


def test_a_tree_given_with_its_leaves_counts_each_record_once(tmp_path: Path) -> None:
    out = tmp_path / "split"
    done = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "sample", "--out", str(out), "--studies", "12"]
        + ["--series-per-study", "2", "--instances-per-series", "3", "--max-records", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    files = sorted(out.glob("*.dcm"))
    assert len(files) > 3
    once = sum(1 for st in iter_inventory(files) for se in st.series for _ in se.instances)
    s = summarize(files)
    assert s.instances == once == 12 * 2 * 3
    assert s.studies == 12


def test_workers_give_the_same_figures_as_one_pass(tmp_path: Path) -> None:
    """Runs of a split tree summarized in two processes and merged: the same summary.

    The sample's studies are all the same size, so the largest are ties, kept in reading
    order across runs; an incomplete study is planted in a later file.
    """
    out = tmp_path / "split"
    done = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "sample", "--out", str(out), "--studies", "40"]
        + ["--series-per-study", "2", "--instances-per-series", "3", "--max-records", "12"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    root = Path(done.stdout.split()[0])
    extra = _write(tmp_path / "extra.dcm", _planted(), uid="2.25.79")
    seen: list[tuple[int, int]] = []

    one = summarize([root, extra], top=5)
    two = summarize([root, extra], top=5, workers=2, progress=lambda r, st: seen.append((r, st)))

    assert two.to_json() == one.to_json()
    assert one.files > 4 and one.stale and one.incomplete_studies == 2
    assert seen[-1] == (one.rows, one.studies)
    counted = {f.name for f in fields(Summary) if str(f.type).startswith("Counter")}
    assert counted == set(_COUNTERS)  # every count table is merged


def test_progress_is_called_with_the_rows_and_studies_read(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    path = _write(tmp_path / "inv.dcm", _studies())
    s = summarize([path], progress=lambda rows, studies: seen.append((rows, studies)))
    assert seen and seen[-1] == (s.rows, s.studies) == (60, 5)


def test_progress_moves_with_each_file_of_a_split_inventory(tmp_path: Path) -> None:
    """Files of a split inventory hold fewer rows than a progress step: a call per file."""
    paths = [_write(tmp_path / f"part{i}.dcm", _studies(2), uid=f"2.25.7{i}") for i in range(3)]
    seen: list[tuple[int, int]] = []
    summarize(paths, progress=lambda rows, studies: seen.append((rows, studies)))
    assert seen == [(24, 2), (48, 4), (72, 6)]


def test_to_json_has_the_figures(tmp_path: Path) -> None:
    studies = _planted()
    s = summarize([_write(tmp_path / "inv.dcm", studies)])
    data = json.loads(s.to_json())
    assert data["studies"] == 5 and data["instances"] == s.instances
    assert data["stale"]["PatientName"] == s.stale["PatientName"]
    assert data["incomplete_studies"] == 2
    assert data["incomplete"][0]["problems"]
    assert list(data["containers"].values()) == sorted(data["containers"].values(), reverse=True)


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    from dicom_inventory.errors import InventoryError

    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a DICOM file at all" * 10)
    with pytest.raises(InventoryError, match="junk.dcm"):
        summarize([junk])
    with pytest.raises(ValueError, match="top -1"):
        summarize([junk], top=-1)
    with pytest.raises(ValueError, match="workers 0"):
        summarize([junk], workers=0)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM needs /proc")
def test_memory_does_not_grow_with_the_records(tmp_path: Path) -> None:
    """Peak RSS (VmHWM) of a child summarizing 10x the records grows by less than the reader's
    window, not by the records.

    Both files are larger than the reader's read window (ReadPolicy.chunk_size, 4 MiB; files of
    4.5 and 45 MB). The reader holds up to a window, its leftover and their join, whatever the
    file's size: so the bound is 3 windows + 2 MB, while keeping the 129,600 extra rows would
    cost about 40 MB. (With files smaller than the window, the window itself grows with the
    file: 100 vs 1,000 studies grew 6.5 MB in a fresh install, 0.1 MB in a checkout.)
    """
    peaks = []
    for n in (1200, 12000):
        path = _write(tmp_path / f"inv{n}.dcm", _studies(n), uid=f"2.25.{n}")
        code = (
            "import sys; from dicom_inventory.scu.summary import summarize; "
            "s = summarize([sys.argv[1]]); "
            "print(s.instances, [l for l in open('/proc/self/status') "
            "if l.startswith('VmHWM')][0].split()[1])"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        instances, kb = map(int, done.stdout.split())
        assert instances == n * 12
        peaks.append(kb)
    # 129,600 instance records more must not cost their size (a list of their rows: ~40 MB)
    window_kb = ReadPolicy().chunk_size // 1024
    assert peaks[1] - peaks[0] < 3 * window_kb + 2 * 1024, peaks
