"""What an inventory holds, in figures: counts, the largest studies, records that disagree.

:func:`summarize` reads inventories (trees followed from their roots, each instance once:
:func:`~dicom_inventory.read.tree_paths`) in one pass over the byte-level rows of the IOD
library (:func:`~dicom_inventory.rows.iter_raw_rows`, which decodes only the columns asked
for), and keeps counters only: memory does not grow with the number of records, so a summary
of hundreds of millions of records runs in the memory of one study. The largest studies are a
bounded heap (top N); of the studies whose counts disagree, the count and the first N.

A *row* is a record at the inventory's level (PS3.3 C.38.1.1.1 Inventory Level): an instance
record at INSTANCE, a series record at SERIES, a study record at STUDY, as in ``export`` (a
series listed without instances, or a study without series, is not one). The figures:

- rows per Modality (0008,0060) of their series, and series per modality;
- studies and rows per year of Study Date (0008,0020) (``unknown`` without a valid date);
- rows per Instance Availability (0008,0056) of the instance record (PS3.3 C.4.23.1.1);
- rows per Container File Type (0008,040A) of the first File Access Sequence item
  (PS3.3 C.38.2.2): ZIP, TAR, GZIP, TARGZIP, BLOB; ``plain file`` for a File Access URI
  without a container, ``no file access`` for a record without the sequence;
- stale metadata: rows per attribute whose stored file still carries a prior value, i.e. the
  attribute is in the Modified Attributes Sequence of an Original Attributes Sequence item of
  the record or of its study or series (PS3.3 C.12.1.1.9, PS3.17 YYYY.7.9);
- the largest studies, by instance records listed (at INSTANCE level) or else by Number of
  Study Related Instances (0020,1208);
- the Inventory Completion Status (0008,0426) of each file read (PS3.3 C.38.1.1.3), and the
  Inventory Instance Description (0008,0427) of those not COMPLETE: a PARTIAL inventory is
  incomplete whatever its records' counts say;
- study, series and instance records Removed from Operational Use (0008,0405);
- incomplete studies: those whose Number of Study Related Series (0020,1206) or Number of
  Study Related Instances (0020,1208) differs from the series or instance records listed
  (PS3.3 Table C.38.1-1; the same check as the validator's ``count-related``), and series
  listed without any instance record at INSTANCE level.

Both counts are Type 2: an inventory may leave them empty (a crawl of a peer that does not
return these optional keys does). Then the check has nothing to compare, and the summary says
so (:attr:`Summary.counts_checked`) instead of calling the studies complete.

The Inventory's series record has no Number of Series Related Instances (0020,1209) (PS3.3
Table C.38.1-1), so an incomplete series is found through its study's counts.

A study is a run of rows with one Study Instance UID in one file; a study recorded in two
files of a tree (a baseline and an increment, PS3.17 YYYY.3.3.2.2) counts twice, as in export.
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from dicom_inventory import InventoryReader, iter_raw_rows, tree_paths

__all__ = [
    "DEFAULT_TOP",
    "NOT_CHECKED",
    "NO_FILE_ACCESS",
    "PLAIN_FILE",
    "UNKNOWN",
    "IncompleteStudy",
    "InventoryStatus",
    "StudySize",
    "Summary",
    "summarize",
]

#: Container label of a record whose File Access item has a URI but no Container File Type.
PLAIN_FILE = "plain file"
#: Container label of a record without File Access Sequence (0008,041A).
NO_FILE_ACCESS = "no file access"
#: The key of a count whose attribute has no (valid) value.
UNKNOWN = "unknown"
#: How many of the largest studies, and of the incomplete ones, are kept by default.
DEFAULT_TOP = 10
#: Rows between two calls of the progress callback.
_PROGRESS_EVERY = 20_000
#: The row columns read (:data:`~dicom_inventory.rows.ROW_COLUMNS`), in this order.
_COLUMNS = (
    "study_instance_uid",
    "patient_id",
    "study_date",
    "accession_number",
    "study_description",
    "number_of_study_related_series",
    "number_of_study_related_instances",
    "series_instance_uid",
    "modality",
    "sop_instance_uid",
    "instance_availability",
    "file_access_uri",
    "container_file_type",
    "stale_attributes",
    "study_removed",
    "series_removed",
    "instance_removed",
)
_DATE_LEN = 8  # DA is YYYYMMDD (PS3.5 Table 6.2-1)
#: The count tables of a Summary (added up when runs of files are merged).
_COUNTERS = (
    "modality_rows",
    "modality_series",
    "year_studies",
    "year_rows",
    "availability",
    "containers",
    "stale",
)
#: Index in a row of the UID that makes it a record at the level (no entry: STUDY, every row).
_LEVEL_KEY = {
    "INSTANCE": _COLUMNS.index("sop_instance_uid"),
    "SERIES": _COLUMNS.index("series_instance_uid"),
}
_STUDY_REMOVED = _COLUMNS.index("study_removed")
#: Removed from Operational Use (0008,0405): its one defined value (PS3.3 C.38.1.1.4).
_REMOVED = "Y"
#: What the incomplete check says when no study states a count (both are Type 2).
NOT_CHECKED = (
    "not checked: the inventory records no Number of Study Related Series (0020,1206) or "
    "Number of Study Related Instances (0020,1208) counts"
)
#: Inventory Completion Status (0008,0426) of a whole inventory (PS3.3 C.38.1.1.3).
COMPLETE = "COMPLETE"


@dataclass(frozen=True)
class StudySize:
    """A study among the largest: who, when, what, and how many records it has."""

    study_instance_uid: str
    patient_id: str | None
    study_date: str | None
    accession_number: str | None
    study_description: str | None
    modalities: tuple[str, ...]
    series: int
    """Series records listed (at SERIES and INSTANCE level) or else stated (0020,1206)."""
    instances: int
    """Instance records listed (at INSTANCE level) or else stated (0020,1208)."""


@dataclass(frozen=True)
class InventoryStatus:
    """An inventory file read whose Inventory Completion Status (0008,0426) is not COMPLETE."""

    path: str
    status: str
    """The status (PS3.3 C.38.1.1.3): PARTIAL, or ``unknown`` when the file states none."""
    description: str | None
    """Its Inventory Instance Description (0008,0427), which may say what is missing."""


@dataclass(frozen=True)
class _Node:
    """An inventory file read: its status, its SOP Instance UID, the instances it incorporates."""

    status: InventoryStatus
    uid: str
    parts: tuple[str, ...]


def _trees_status(s: Summary, top: int) -> None:
    """Set the completion figures of `s` from the roots of the trees among the files read.

    Each node of a tree states the completeness of its own subtree (PS3.17 YYYY.3.3.2.1), so
    an inventory's status is its root's: a file incorporated by another file read is a part.
    """
    below = {uid for node in s.nodes for uid in node.parts}
    completion: Counter[str] = Counter()
    s.not_complete = []
    for node in s.nodes:
        if node.uid in below:
            continue
        completion[node.status.status] += 1
        if node.status.status != COMPLETE and len(s.not_complete) < top:
            s.not_complete.append(node.status)
    s.completion = dict(completion)


def _removed(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip() == _REMOVED)


@dataclass(frozen=True)
class IncompleteStudy:
    """A study whose records disagree with its own counts, or with a series left empty.

    The stated counts are Number of Study Related Series (0020,1206) and Number of Study
    Related Instances (0020,1208) (``None`` when absent or empty, Type 2); the listed ones are
    the series and instance records in the inventory (``None`` where the Inventory Level does
    not list them).
    """

    study_instance_uid: str
    patient_id: str | None
    stated_series: int | None
    listed_series: int | None
    stated_instances: int | None
    listed_instances: int | None
    empty_series: tuple[str, ...] = ()
    """Series Instance UIDs listed without any instance record (at INSTANCE level)."""

    @property
    def problems(self) -> list[str]:
        """What disagrees, one sentence each."""
        out = []
        if _differs(self.stated_series, self.listed_series):
            out.append(
                f"Number of Study Related Series (0020,1206) says {self.stated_series}, "
                f"{self.listed_series} series records listed"
            )
        if _differs(self.stated_instances, self.listed_instances):
            out.append(
                f"Number of Study Related Instances (0020,1208) says {self.stated_instances}, "
                f"{self.listed_instances} instance records listed"
            )
        for uid in self.empty_series:
            out.append(f"series {uid} lists no instance records")
        return out


def _differs(stated: int | None, listed: int | None) -> bool:
    return stated is not None and listed is not None and stated != listed


@dataclass
class Summary:
    """The figures of one or more inventories (see the module docstring for each)."""

    files: int = 0
    """Inventory files read: the trees of the files named, each file once."""
    named: int = 0
    """Files named; a leaf named with its root is read once, through the root."""
    completion: dict[str, int] = field(default_factory=dict)
    """Inventories (trees: their roots) per Inventory Completion Status (0008,0426)
    (``unknown``: none stated)."""
    not_complete: list[InventoryStatus] = field(default_factory=list)
    """The roots read that are not COMPLETE (at most the `top` given)."""
    nodes: list[_Node] = field(default_factory=list, repr=False)
    """Every file read, for :func:`_trees_status` (internal)."""
    levels: list[str] = field(default_factory=list)
    """The Inventory Levels of the files read, each once, in the order first met."""
    studies: int = 0
    series: int = 0
    instances: int = 0
    rows: int = 0
    modality_rows: Counter[str] = field(default_factory=Counter)
    modality_series: Counter[str] = field(default_factory=Counter)
    year_studies: Counter[str] = field(default_factory=Counter)
    year_rows: Counter[str] = field(default_factory=Counter)
    availability: Counter[str] = field(default_factory=Counter)
    containers: Counter[str] = field(default_factory=Counter)
    stale: Counter[str] = field(default_factory=Counter)
    stale_rows: int = 0
    """Rows with at least one stale attribute."""
    largest: list[StudySize] = field(default_factory=list)
    """The largest studies, largest first (ties: the first read first)."""
    incomplete_studies: int = 0
    """Studies whose stated series or instance count differs from those listed."""
    empty_series: int = 0
    """Series listed without any instance record, at INSTANCE level."""
    incomplete: list[IncompleteStudy] = field(default_factory=list)
    """The first incomplete studies read (at most the `top` given)."""
    counted_studies: int = 0
    """Studies stating Number of Study Related Series or Instances: the ones the incomplete
    check could judge (both are Type 2, and empty in an inventory whose source had none)."""
    removed_studies: int = 0
    """Study records Removed from Operational Use (0008,0405) (PS3.3 C.38.1.1.4)."""
    removed_series: int = 0
    """Series records Removed from Operational Use."""
    removed_instances: int = 0
    """Instance records Removed from Operational Use."""

    @property
    def complete(self) -> bool:
        """True if every file read says COMPLETE (Inventory Completion Status)."""
        return self.files > 0 and set(self.completion) == {COMPLETE}

    @property
    def counts_checked(self) -> bool:
        """True if at least one study states a count the incomplete check compares."""
        return self.counted_studies > 0

    def to_json(self) -> str:
        """The figures as JSON: stable keys, each count table largest first."""

        def table(c: Counter[str]) -> dict[str, int]:
            return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

        data: dict[str, Any] = {
            "files": self.files,
            "named": self.named,
            "completion": table(Counter(self.completion)),
            "not_complete": [asdict(x) for x in self.not_complete],
            "levels": self.levels,
            "studies": self.studies,
            "series": self.series,
            "instances": self.instances,
            "rows": self.rows,
            "modality_rows": table(self.modality_rows),
            "modality_series": table(self.modality_series),
            "year_studies": dict(sorted(self.year_studies.items())),
            "year_rows": dict(sorted(self.year_rows.items())),
            "availability": table(self.availability),
            "containers": table(self.containers),
            "stale": table(self.stale),
            "stale_rows": self.stale_rows,
            "largest": [asdict(s) for s in self.largest],
            "incomplete_studies": self.incomplete_studies,
            "counted_studies": self.counted_studies,
            "empty_series": self.empty_series,
            "removed_studies": self.removed_studies,
            "removed_series": self.removed_series,
            "removed_instances": self.removed_instances,
            "incomplete": [{**asdict(m), "problems": m.problems} for m in self.incomplete],
        }
        return json.dumps(data, indent=1)


def _year(date: Any) -> str:
    if isinstance(date, str) and len(date) == _DATE_LEN and date.isdigit():
        return date[:4]
    return UNKNOWN


class _Study:
    """The running figures of the study being read (one at a time)."""

    __slots__ = ("first", "instances", "modalities", "empty", "series", "last_series")

    def __init__(self, first: tuple[Any, ...]) -> None:
        self.first = first
        self.series = 0
        self.instances = 0
        self.modalities: dict[str, None] = {}
        self.empty: list[str] = []
        self.last_series: Any = None


class _Summarizer:
    """Folds rows into a :class:`Summary`, one study at a time."""

    def __init__(self, top: int) -> None:
        self.s = Summary()
        self.top = top
        self.heap: list[tuple[int, int, StudySize]] = []
        self.seq = 0

    def close(self, st: _Study, level: str) -> None:
        s = self.s
        (uid, pid, date, acc, desc, n_series, n_inst) = st.first[:7]
        s.studies += 1
        year = _year(date)
        s.year_studies[year] += 1
        listed_series = level in ("SERIES", "INSTANCE")
        listed_inst = level == "INSTANCE"
        stated_series = n_series if isinstance(n_series, int) else None
        stated_inst = n_inst if isinstance(n_inst, int) else None
        if stated_series is not None or stated_inst is not None:
            s.counted_studies += 1
        if _removed(st.first[_STUDY_REMOVED]):
            s.removed_studies += 1
        series = st.series if listed_series else None
        instances = st.instances if listed_inst else None
        if st.empty or _differs(stated_series, series) or _differs(stated_inst, instances):
            s.incomplete_studies += 1
            s.empty_series += len(st.empty)
            if len(s.incomplete) < self.top:
                s.incomplete.append(
                    IncompleteStudy(
                        uid, pid, stated_series, series, stated_inst, instances, tuple(st.empty)
                    )
                )
        # the size that ranks it: the records listed, or else the count the record states
        size = instances if instances is not None else (stated_inst or 0)
        self.seq += 1
        rank = (size, -self.seq)
        if len(self.heap) < self.top or (self.heap and rank > self.heap[0][:2]):
            entry = StudySize(
                uid,
                pid,
                date,
                acc,
                desc,
                tuple(st.modalities),
                series if series is not None else (stated_series or 0),
                size,
            )  # built only for a study that enters the top N
            if len(self.heap) < self.top:
                heapq.heappush(self.heap, (*rank, entry))
            else:
                heapq.heapreplace(self.heap, (*rank, entry))

    def read(
        self, rows: Iterable[tuple[Any, ...]], level: str, tick: Callable[[int], None]
    ) -> None:
        """Fold the rows of one file in; `tick` is given the rows read so far, now and then."""
        s = self.s
        modality_rows, modality_series = s.modality_rows, s.modality_series
        year_rows, availability, containers, stale = (
            s.year_rows,
            s.availability,
            s.containers,
            s.stale,
        )
        study: _Study | None = None
        year = UNKNOWN
        n = 0
        # the column whose value makes a row a record at the level (None: every row, STUDY)
        key = _LEVEL_KEY.get(level)
        for row in rows:
            (uid, _, date, _, _, _, _, se_uid, modality, sop, avail, uri, ctype, stale_kw) = row[
                :14
            ]
            if study is None or uid != study.first[0]:
                if study is not None:
                    self.close(study, level)
                study = _Study(row)
                year = _year(date)
            if se_uid is not None and se_uid != study.last_series:
                study.last_series = se_uid
                study.series += 1
                s.series += 1
                modality_series[modality or UNKNOWN] += 1
                if modality:
                    study.modalities[modality] = None
                if level == "INSTANCE" and sop is None:
                    study.empty.append(se_uid)
                if _removed(row[-2]):
                    s.removed_series += 1
            if key is not None and row[key] is None:
                continue  # a study without series or a series without instances: no record
            n += 1
            year_rows[year] += 1
            if se_uid is not None:
                modality_rows[modality or UNKNOWN] += 1
            if sop is not None:
                study.instances += 1
                if _removed(row[-1]):
                    s.removed_instances += 1
                availability[avail or UNKNOWN] += 1
                containers[ctype or (PLAIN_FILE if uri else NO_FILE_ACCESS)] += 1
            if stale_kw:
                s.stale_rows += 1
                for kw in stale_kw.split("\\"):
                    stale[kw] += 1
            if n % _PROGRESS_EVERY == 0:
                tick(s.rows + n)
        s.rows += n
        if study is not None:
            self.close(study, level)

    def read_file(self, path: str | os.PathLike[str], tick: Callable[[int], None]) -> None:
        """Fold the records of one inventory file in (its own; the tree is the caller's)."""
        s = self.s
        with InventoryReader(path) as reader:
            level = str(reader.level.value) if reader.level is not None else UNKNOWN
            s.files += 1

            if level not in s.levels:
                s.levels.append(level)
            self.read(iter_raw_rows(reader, _COLUMNS), level, tick)
            # Inventory Completion Status (0008,0426) follows the studies (0008,0423): known
            # once they are read
            header = reader.header
            status = header.completion_status
            s.nodes.append(
                _Node(
                    InventoryStatus(
                        str(path),
                        str(getattr(status, "value", status) or UNKNOWN),
                        header.inventory_instance_description,
                    ),
                    header.sop_instance_uid,
                    tuple(ref.sop_instance_uid for ref in header.incorporated),
                )
            )

    def result(self) -> Summary:
        self.s.largest = [e[2] for e in sorted(self.heap, key=lambda e: e[:2], reverse=True)]
        self.s.instances = sum(self.s.availability.values())
        _trees_status(self.s, self.top)
        return self.s


def _no_tick(rows: int) -> None:
    """The progress of a worker: its parent reports per run of files."""


def _summarize_run(files: list[str], top: int) -> Summary:
    """Worker: the summary of a run of files of a tree (contiguous, in tree order)."""
    folder = _Summarizer(top)
    for path in files:
        folder.read_file(path, _no_tick)
    return folder.result()


def _merge(parts: Iterable[Summary], top: int) -> Summary:
    """One summary of runs of files summarized apart, given in tree order.

    The same as summarizing the files in one pass: a study never spans two files (it closes
    at the end of its file either way), counters add, and the largest studies and the first
    incomplete ones keep the order of reading (ties: the earlier run, then its own order).
    """
    out = Summary()
    ranked: list[tuple[int, int, int, StudySize]] = []
    for i, part in enumerate(parts):
        out.files += part.files
        out.counted_studies += part.counted_studies
        out.removed_studies += part.removed_studies
        out.removed_series += part.removed_series
        out.removed_instances += part.removed_instances
        out.nodes += part.nodes
        out.levels += [lv for lv in part.levels if lv not in out.levels]
        out.studies += part.studies
        out.series += part.series
        out.rows += part.rows
        out.stale_rows += part.stale_rows
        out.incomplete_studies += part.incomplete_studies
        out.empty_series += part.empty_series
        for name in _COUNTERS:
            getattr(out, name).update(getattr(part, name))
        out.incomplete.extend(part.incomplete[: max(0, top - len(out.incomplete))])
        ranked += [(-st.instances, i, j, st) for j, st in enumerate(part.largest)]
    out.largest = [r[3] for r in sorted(ranked, key=lambda r: r[:3])[:top]]
    out.instances = sum(out.availability.values())
    _trees_status(out, top)
    return out


def summarize(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    top: int = DEFAULT_TOP,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> Summary:
    """The figures of the inventories at `paths` and the trees they root, in one pass.

    Parameters
    ----------
    paths : path or iterable of paths
        Inventory files; each is a root whose tree is followed, each instance read once
        (:func:`~dicom_inventory.read.tree_paths`).
    top : int
        How many of the largest studies, and of the incomplete ones, to keep.
    progress : callable, optional
        Called with the rows and the studies read so far, every 20,000 rows within a file
        and after each file (the same arguments as export's); with `workers`, after each run
        of files.
    workers : int
        Processes reading a split inventory's files at the same time, each a contiguous run
        of the tree, a few runs per worker (as export does); the figures are the same as
        with one (:func:`_merge`). A single file is read here.

    Returns
    -------
    Summary
        The counts, the largest studies and the incomplete ones.

    Raises
    ------
    dicom_inventory.errors.InventoryError
        If a file is not a readable inventory (the reader's error, naming file and offset).
    ValueError
        If `top` is negative or `workers` less than 1.
    """
    if top < 0:
        raise ValueError(f"top {top}: expected 0 or more studies to list")
    if workers < 1:
        raise ValueError(f"workers {workers}: expected 1 or more processes")
    named = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files = [str(path) for path in tree_paths(named)]
    if workers > 1 and len(files) > 1:
        result = _summarize_parallel(files, top, progress, workers)
        result.named = len(named)
        return result
    folder = _Summarizer(top)
    s = folder.s

    def tick(rows: int) -> None:
        if progress is not None:
            progress(rows, s.studies)

    for path in files:
        folder.read_file(path, tick)
        tick(s.rows)  # after each file too: a split inventory's files are small
    s.named = len(named)
    return folder.result()


def _summarize_parallel(
    files: list[str], top: int, progress: Callable[[int, int], None] | None, workers: int
) -> Summary:
    # the pool whose workers never see Ctrl-C: leaving its block terminates them
    from dicom_inventory.scu.workers import runs as runs_of
    from dicom_inventory.scu.workers import worker_pool

    runs = runs_of(files, workers)
    parts: list[Summary] = []
    rows = studies = 0
    with worker_pool(min(workers, len(runs))) as pool:
        results = [pool.apply_async(_summarize_run, (run, top)) for run in runs]
        for result in results:
            part: Summary = result.get()
            parts.append(part)
            rows, studies = rows + part.rows, studies + part.studies
            if progress is not None:
                progress(rows, studies)
    return _merge(parts, top)
