"""Build an Inventory of an archive that has no Inventory services, by Study Root C-FIND.

Listing an archive by C-FIND has known traps; each one is handled, and what cannot be handled
is said, never hidden:

* **Result caps.** Archives stop after N matches (Orthanc ``LimitFindResults``: N pending
  responses, then 0xFE00 Cancel). A response set is *truncated* when its final status is not
  0x0000, or when it holds at least ``cap`` responses (for archives that end a capped set with
  a plain Success: give their cap). A truncated study listing is split by Study Date range
  (bisection down to one day, then by Study Time down to one second).
* **Studies without a Study Date** match no date range. When the universal listing was
  truncated they are listed separately, by Patient ID prefix (``A*``, ``B*``, ... split further
  while truncated), keeping the studies with an empty Study Date. A C-FIND cannot ask for an
  empty value only (PS3.4 C.2.2.2), so each prefix query also matches the dated studies, and
  proving that no Patient ID goes on with a character takes one query per character: 92 per
  truncated prefix, at every length the Patient IDs share. ``undated=False`` skips the search
  (the inventory is then PARTIAL when the listing was truncated); a peer that matches the
  prefixes case-insensitively is not asked the lower-case ones again.
* **A scope.** Given the Scope of Inventory of an inventory to compare with (``scope``, flat
  Study-level keys, :attr:`~dicom_inventory.scope.ScopeOfInventory.keys`), every study query
  carries its keys, so the peer lists only the studies in that scope (PS3.4 C.2.2.2 matching,
  the peer's); the Study Date and Study Time splits stay inside the scope's range, and the
  crawled inventory records the scope. Keys of empty value matching (which a C-FIND identifier
  cannot ask for: an empty key there is a return key) are matched here on the answers.
* **Anything still truncated** (a single second with more studies than the cap, a series with
  more instances than the image-level cap) is reported, and the inventory's Completion Status is
  PARTIAL instead of COMPLETE.

A peer that refuses or stays silent ends the crawl at once, with the reason, never query after
query: an association rejected (the A-ASSOCIATE-RJ result, source and reason, PS3.8 7.1.1.9),
no connection, no answer to a C-FIND within the DIMSE timeout, an A-ABORT, or a C-FIND failure
status other than Out of Resources (PS3.4 C.4.1.1.4) all raise :class:`CrawlError`. One
`timeout` serves as the connection, ACSE, DIMSE and network timeout.

Progress lives in ``crawl.sqlite`` in the output folder: a re-run skips the studies already
listed (resume), after Ctrl-C or a peer error alike. An output folder holding a finished
inventory is refused unless ``replace`` is given (then the archive is listed afresh), as
``archive create`` refuses one; a crawl that failed before listing anything leaves no folder. While it runs, a
`progress` callback receives a :class:`CrawlProgress` (queries sent, answers received, the
current window) after every query sent and every answer received.

The result is an INSTANCE-level Inventory written by the streaming encoder, with the peer's AE
title as Retrieve AE Title. It is written into a staging folder first and moved into the
output folder only when whole, leaves before the root, so an interrupted crawl never leaves
files that look like a finished inventory.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import shutil
import signal
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dicom_inventory.encode import WrittenInstance, write_inventory
from dicom_inventory.enum import InventoryCompletionStatus, InventoryLevel
from dicom_inventory.errors import InventoryError
from dicom_inventory.model import (
    Equipment,
    InstanceRecord,
    InventoryHeader,
    SeriesRecord,
    StudyRecord,
)
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scu.peer import Peer
from dicom_inventory.status import Status, is_failure, is_pending
from dicom_inventory.uid import STUDY_ROOT_FIND, generate_uid, is_valid_uid
from pydicom.dataset import Dataset
from pynetdicom import AE

__all__ = [
    "DEFAULT_TIMEOUT",
    "CrawlError",
    "CrawlInterrupted",
    "CrawlOutputExists",
    "CrawlProgress",
    "CrawlReport",
    "StudyFinder",
    "crawl",
]

#: Seconds to wait for a connection, an association answer or the next C-FIND response.
DEFAULT_TIMEOUT = 30.0
#: The folder, inside the output folder, the inventory is written to before it is moved in.
STAGING = ".crawl-writing"
#: The crawl's own state, in the output folder: what was listed, for a re-run to resume.
STATE = "crawl.sqlite"
#: Out of Resources, the failure statuses (PS3.4 C.4.1.1.4: A700-A7FF) a narrower query may
#: avoid: split like a truncated answer. Any other failure ends the crawl.
_OUT_OF_RESOURCES = range(0xA700, 0xA800)
#: The part of the DIMSE timeout after which a C-FIND left without a final response is taken
#: as timed out rather than aborted by the peer (pynetdicom reports both as an empty status).
_TIMED_OUT = 0.9

_STUDY_KEYS = (
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    # Optional keys (PS3.4 C.2.2.1.3; Study Root study level, Table C.6-5): a peer may leave them out; then the study
    # record's Type 2 counts (PS3.3 Table C.38.1-1) stay empty.
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
#: Number of Series Related Instances (0020,1209) is an optional Series-level key (PS3.4
#: Table C.6-3) but no attribute of the inventory's series record (PS3.3 Table C.38.1-1): it
#: is asked for to check the instance listing of each series, not written.
_SERIES_KEYS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)
_IMAGE_KEYS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber")
#: Patient ID prefixes tried for studies without a Study Date: printable ASCII except the
#: wildcards and the value separator (PS3.4 C.2.2.2.4), 92 characters, upper case first: a peer
#: found matching case-insensitively is not asked the lower-case prefixes again.
PREFIX_ALPHABET = "".join(
    c
    for c in string.ascii_uppercase
    + string.digits
    + string.punctuation
    + " "
    + string.ascii_lowercase
    if c not in "*?\\"
)
#: A truncated range is cut into this many parts (fewer round trips than halving).
SPLIT = 8
_FIRST_DAY = datetime.date(1900, 1, 1)
#: Universal matching of a key (PS3.4 C.2.2.2.3).
_UNIVERSAL = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (uid TEXT PRIMARY KEY, attrs TEXT NOT NULL, done INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS series (uid TEXT PRIMARY KEY, study TEXT NOT NULL, attrs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (uid TEXT PRIMARY KEY, series TEXT NOT NULL, attrs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (what TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS warnings (what TEXT NOT NULL);
"""


class CrawlError(InventoryError):
    """The peer cannot be queried.

    Association refused, Study Root FIND not accepted, no connection, no answer within the
    timeout, an abort, or a C-FIND failure status.
    """


class CrawlOutputExists(InventoryError):
    """The output folder holds a finished inventory, and replacing it was not asked for."""


class CrawlInterrupted(KeyboardInterrupt):
    """The user stopped the crawl (Ctrl-C); the message says how to resume it."""


@dataclass
class CrawlProgress:
    """Where a crawl is; the one object handed to the `progress` callback, updated in place."""

    queries: int = 0
    """C-FIND requests sent."""
    answers: int = 0
    """Matches received (pending responses), at every level."""
    window: str = ""
    """What the current query lists: a Study Date range, a study of the listing, ..."""
    timeout: float = DEFAULT_TIMEOUT
    """The DIMSE timeout the current query runs under."""
    waiting: bool = False
    """True while a query awaits its next response."""
    since: float = field(default_factory=time.monotonic)
    """:func:`time.monotonic` of the last request sent or response received."""

    def waited(self) -> float:
        """Seconds the current query has waited for its next response (0 when not waiting)."""
        return time.monotonic() - self.since if self.waiting else 0.0


@dataclass
class CrawlReport:
    """What the crawl found and what it could not resolve."""

    studies: int = 0
    series: int = 0
    instances: int = 0
    queries: int = 0
    truncated: int = 0
    """Response sets found truncated (and split, where possible)."""
    undated_studies: list[str] = field(default_factory=list)
    undated_queries: int = 0
    """Queries spent looking for studies without a Study Date (by Patient ID prefix)."""
    problems: list[str] = field(default_factory=list)
    """What is still incomplete: the inventory is PARTIAL if this is not empty."""
    warnings: list[str] = field(default_factory=list)
    """Peer behaviour that limits what can be proven (e.g. a character it takes as a wildcard)."""
    written: list[WrittenInstance] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing was left truncated."""
        return not self.problems


class StudyFinder:
    """Study Root C-FIND on one kept association; counts queries and truncated answers.

    `cap` treats a response set of that many matches as truncated (a peer's silent limit).
    `timeout` is the connection, ACSE, DIMSE and network timeout; `progress` is called with
    :attr:`state` after every request sent and every response received.
    """

    def __init__(
        self,
        peer: Peer,
        calling_ae: str,
        cap: int | None,
        timeout: float,
        progress: Callable[[CrawlProgress], None] | None = None,
    ) -> None:
        self.peer, self.cap, self.timeout = peer, cap, timeout
        ae = AE(ae_title=calling_ae)
        ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        ae.add_requested_context(STUDY_ROOT_FIND)
        self.ae = ae
        self.assoc: Any = None
        self.truncated = 0
        self.last_status: int | None = None
        """Final status of the last query (None: no final response)."""
        self.state = CrawlProgress(timeout=timeout)
        self._notify = progress or (lambda _: None)

    @property
    def queries(self) -> int:
        """C-FIND requests sent."""
        return self.state.queries

    def _associate(self) -> Any:
        if self.assoc is None or not self.assoc.is_established:
            self.assoc = self.peer.associate(self.ae, error=CrawlError, what="Study Root FIND")
        return self.assoc

    def find(
        self, level: str, keys: dict[str, str], returns: tuple[str, ...], window: str = ""
    ) -> tuple[list[Dataset], bool]:
        """Matches, and whether the response set is complete.

        `window` names the query in progress reports and errors.

        Raises
        ------
        CrawlError
            If the peer gives no final response (no answer within the DIMSE timeout, or an
            abort), or a failure status other than Out of Resources (PS3.4 C.4.1.1.4).
        """
        q = Dataset()
        q.QueryRetrieveLevel = level
        for kw in returns:
            setattr(q, kw, keys.get(kw, ""))
        for kw, v in keys.items():
            setattr(q, kw, v)
        assoc = self._associate()
        state = self.state
        state.queries += 1
        state.window = window or f"{level} {keys}"
        state.waiting, state.since = True, time.monotonic()
        self._notify(state)
        found: list[Dataset] = []
        final = None
        for status, ident in assoc.send_c_find(q, STUDY_ROOT_FIND):
            if not status:  # no response: the association was aborted or timed out
                final = None
                break
            code = int(status.Status)
            if is_pending(code):
                state.since = time.monotonic()
                if ident is not None:
                    found.append(ident)
                    state.answers += 1
                self._notify(state)
                continue
            final = code
        state.waiting = False
        self._notify(state)
        self.last_status = final
        if final is None:
            raise CrawlError(self._no_final(state, len(found)))
        if is_failure(final) and final not in _OUT_OF_RESOURCES:
            raise CrawlError(
                f"{self.peer}: the C-FIND ({state.window}) failed with status "
                f"0x{final:04X}{_meaning(final)} (PS3.4 C.4.1.1.4)"
            )
        complete = final == Status.SUCCESS and (self.cap is None or len(found) < self.cap)
        if not complete:
            self.truncated += 1
        return found, complete

    def _no_final(self, state: CrawlProgress, answers: int) -> str:
        """Why a C-FIND ended without a final response, for the error message."""
        # not str.format: the window names Patient ID prefixes, which may hold "{" or "}"
        query = f"the C-FIND ({state.window}) after {answers} answers"
        if time.monotonic() - state.since >= _TIMED_OUT * self.timeout:
            return (
                f"{self.peer}: no answer to {query} within {self.timeout:g} s (the DIMSE "
                "timeout): the peer accepted the association but stopped answering; a busy "
                "archive may need a longer --timeout"
            )
        return f"{self.peer}: the peer aborted the association during {query}"

    def close(self) -> None:
        """Release the association, if one is open."""
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()

    def abort(self) -> None:
        """Abort the association, if one is open (A-ABORT).

        For a crawl that ends on an error or Ctrl-C: it must not wait for a silent peer to
        answer a release.
        """
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.abort()


def _meaning(code: int) -> str:
    known = {int(s): s for s in Status}.get(code)
    return f" ({known.meaning.rstrip('.')})" if known is not None else ""


def _attrs(ds: Dataset, keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kw in keys:
        v = ds.get(kw)
        if v is None or v == "":
            continue
        out[kw] = str(v) if not isinstance(v, (int, float)) else v
    return out


def _day(d: datetime.date) -> str:
    return d.strftime("%Y%m%d")


def crawl(
    peer: Peer,
    out: str | Path,
    *,
    calling_ae: str = "DICOM_INV_SCU",
    cap: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_records: int | None = None,
    progress: Callable[[CrawlProgress], None] | None = None,
    scope: Mapping[str, str] | None = None,
    undated: bool = True,
    replace: bool = False,
) -> CrawlReport:
    """List the archive at `peer` by Study Root C-FIND and write an Inventory into `out`.

    `scope` (flat Study-level keys, ``{keyword: query string}``) restricts the listing to the
    studies the peer matches to it, and is recorded as the inventory's Scope of Inventory
    (PS3.3 C.38.2.1); a re-run (resume) must give the same scope.

    Parameters
    ----------
    timeout : float
        Seconds to wait for a connection, an association answer and each C-FIND response.
    progress : callable, optional
        Called with the crawl's :class:`CrawlProgress` after every request and response.
    undated : bool
        Look for studies without a Study Date when the listing of all studies is truncated:
        by Patient ID prefix, up to 92 queries (one per character) per prefix whose answer is
        truncated, at every length the Patient IDs share (hundreds of queries for Patient IDs
        such as ``P0-00001``). False skips that search; then the inventory is PARTIAL if the
        listing of all studies was truncated, since such studies may be missing.
    replace : bool
        Replace the inventory `out` already holds. Without it, a folder holding a finished
        inventory (``*.dcm`` files and no unfinished crawl) is refused; an unfinished crawl
        (its ``crawl.sqlite``) is resumed either way.

    Raises
    ------
    CrawlOutputExists
        If `out` holds a finished inventory and `replace` is False (nothing is asked of the
        peer).
    CrawlError
        If the peer cannot be queried (the first refusal, silence or failure ends the crawl), or
        a Study Date/Time key of `scope` is not a DICOM date or time, single or range
        (PS3.4 C.2.2.2.5).
    CrawlInterrupted
        On Ctrl-C: the association is aborted, no inventory file is left in `out`, and what was
        listed is kept in ``crawl.sqlite`` for a re-run to resume.
    """
    keys = _Scope.of(scope)
    out_dir = Path(out)
    if not replace and _holds_inventory(out_dir):
        raise CrawlOutputExists(
            f"--out {out_dir} already holds an inventory; give --replace to replace it (the "
            "new one is moved in only when whole), or choose another folder"
        )
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    state = out_dir / STATE
    db = sqlite3.connect(state, isolation_level=None)
    listed = 0
    try:
        return _crawl(
            peer,
            out_dir,
            db,
            keys,
            scope,
            calling_ae,
            cap,
            timeout,
            max_records,
            progress,
            undated,
        )
    except KeyboardInterrupt:
        listed = _listed(db)
        raise CrawlInterrupted(
            f"{listed} studies listed so far are kept in {state}: the same command resumes "
            "from there"
        ) from None
    except CrawlError as exc:
        listed = _listed(db)
        if listed:
            raise CrawlError(
                f"{exc}. {state} keeps the {listed} studies listed so far: the same command "
                f"resumes from there (delete {state} to start afresh)"
            ) from exc
        raise
    finally:
        db.close()
        if created and listed == 0 and not any(out_dir.glob("*.dcm")):
            _remove_state(out_dir)  # nothing to resume, nothing written: leave no folder


def _listed(db: sqlite3.Connection) -> int:
    try:
        return _count(db, "studies")
    except sqlite3.Error:
        return 0


def _remove_state(out_dir: Path) -> None:
    for name in (STATE, f"{STATE}-journal"):
        (out_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        out_dir.rmdir()  # only if empty


def _holds_inventory(out_dir: Path) -> bool:
    """True if `out_dir` holds a finished inventory: ``*.dcm`` files and no unfinished crawl."""
    if not out_dir.is_dir() or not any(out_dir.glob("*.dcm")):
        return False
    state = out_dir / STATE
    if not state.exists():
        return True  # an inventory of another making
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
        try:
            written = db.execute("SELECT value FROM state WHERE key='written'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return True  # no crawl state to resume
    return written is not None


def _crawl(
    peer: Peer,
    out_dir: Path,
    db: sqlite3.Connection,
    keys: _Scope,
    scope: Mapping[str, str] | None,
    calling_ae: str,
    cap: int | None,
    timeout: float,
    max_records: int | None,
    progress: Callable[[CrawlProgress], None] | None,
    undated: bool,
) -> CrawlReport:
    db.executescript(_SCHEMA)
    if db.execute("SELECT value FROM state WHERE key='written'").fetchone() is not None:
        for table in ("studies", "series", "instances", "state", "problems", "warnings"):
            db.execute(f"DELETE FROM {table}")  # a finished crawl: list the archive afresh
    finder = StudyFinder(peer, calling_ae, cap, timeout, progress)
    report = CrawlReport()
    try:
        if db.execute("SELECT value FROM state WHERE key='listed'").fetchone() is None:
            db.execute("DELETE FROM problems")
            db.execute("DELETE FROM warnings")
            _list_studies(finder, db, keys, undated)
            db.execute("INSERT OR REPLACE INTO state VALUES ('listed', '1')")
        todo = [r[0] for r in db.execute("SELECT uid FROM studies WHERE done = 0 ORDER BY uid")]
        for i, uid in enumerate(todo):
            _list_study(finder, db, uid, f"study {i + 1}/{len(todo)}")
        report.queries, report.truncated = finder.queries, finder.truncated
    except BaseException:
        finder.abort()  # a refusal, silence or Ctrl-C: waiting for a release helps no one
        raise
    finder.close()
    report.problems = [r[0] for r in db.execute("SELECT what FROM problems ORDER BY rowid")]
    report.warnings = [r[0] for r in db.execute("SELECT what FROM warnings ORDER BY rowid")]
    spent = db.execute("SELECT value FROM state WHERE key='undated_queries'").fetchone()
    report.undated_queries = int(spent[0]) if spent else 0
    report.undated_studies = [
        r[0]
        for r in db.execute(
            "SELECT uid FROM studies WHERE json_extract(attrs, '$.StudyDate') IS NULL"
        )
    ]
    report.studies, report.series, report.instances = (
        _count(db, t) for t in ("studies", "series", "instances")
    )
    now = datetime.datetime.now()
    header = InventoryHeader(
        sop_instance_uid=generate_uid(),
        inventory_level=InventoryLevel.INSTANCE,
        content_date=now.strftime("%Y%m%d"),
        content_time=now.strftime("%H%M%S"),
        completion_status=(
            InventoryCompletionStatus.COMPLETE
            if not report.problems
            else InventoryCompletionStatus.PARTIAL
        ),
        inventory_purpose=f"Crawled by Study Root C-FIND from {peer}",
        inventory_instance_description=(
            "; ".join(report.problems + report.warnings)[:1024]
            if report.problems or report.warnings
            else None
        ),
        equipment=Equipment(manufacturer="dicom-inventory", software_versions=("0.1.0",)),
        scope=ScopeOfInventory.from_keys(scope) if scope else None,
    )
    staging = out_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by a crawl killed while writing
    try:
        written = write_inventory(
            staging,
            header,
            _records(db, peer, now.strftime("%Y%m%d%H%M%S")),
            max_records=max_records,
        )
        with _uninterrupted():
            report.written = _move_in(written, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    db.execute("INSERT OR REPLACE INTO state VALUES ('written', '1')")
    return report


def _count(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _move_in(written: list[WrittenInstance], out_dir: Path) -> list[WrittenInstance]:
    """Replace the inventory in `out_dir` by the `written` one.

    Old files go first, then the new leaves come in, the root last: no root ever names a leaf
    that is not there.
    """
    for old in out_dir.glob("*.dcm"):
        old.unlink()
    moved = {}
    for w in [*written[1:], *written[:1]]:
        assert w.path is not None  # written to files, not to a stream
        moved[w.sop_instance_uid] = replace(w, path=w.path.replace(out_dir / w.path.name))
    return [moved[w.sop_instance_uid] for w in written]


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block ends (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
    if held:
        raise KeyboardInterrupt


def _problem(db: sqlite3.Connection, what: str) -> None:
    db.execute("INSERT INTO problems VALUES (?)", (what,))


def _date(text: str, key: str) -> datetime.date:
    try:
        return datetime.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise CrawlError(
            f"scope {key}={text!r}: expected a DICOM date YYYYMMDD, single or range A-B, A- or "
            f"-B (PS3.4 C.2.2.2.5)"
        ) from None


@dataclass(frozen=True)
class _Scope:
    """The scope's keys as the study queries use them."""

    keys: dict[str, str]
    """Keys every study query carries (those with a value other than ``*``)."""
    empty: tuple[str, ...] = ()
    """Keys of empty value matching, matched here on the answers (returned, not matched)."""
    first: datetime.date = _FIRST_DAY
    last: datetime.date = field(
        default_factory=lambda: datetime.date.today() + datetime.timedelta(days=366)
    )
    """The Study Date range the date splits stay in."""

    @classmethod
    def of(cls, scope: Mapping[str, str] | None) -> _Scope:
        keys = {k: str(v) for k, v in (scope or {}).items() if str(v) != _UNIVERSAL}
        empty = tuple(k for k, v in keys.items() if v == "")
        keys = {k: v for k, v in keys.items() if v != ""}
        out = cls(keys, empty)
        date = keys.get("StudyDate")
        if date is None:
            return out
        lo, dash, hi = date.partition("-")
        first = _date(lo, "StudyDate") if lo else out.first
        last = _date(hi, "StudyDate") if hi else (out.last if dash else first)
        if not (lo or hi):
            raise CrawlError(f"scope StudyDate={date!r}: an open range on both ends")
        return cls(keys, empty, max(first, out.first), min(last, out.last))

    def query(self, **split: str) -> dict[str, str]:
        """The keys of a study query: the scope's, with a split's keys (inside the scope)."""
        return {**self.keys, **split}

    def returns(self) -> tuple[str, ...]:
        return _STUDY_KEYS + tuple(k for k in self.empty if k not in _STUDY_KEYS)


def _keep(
    db: sqlite3.Connection, found: list[Dataset], scope: _Scope, only_undated: bool = False
) -> int:
    n = 0
    for ds in found:
        uid = str(ds.get("StudyInstanceUID", ""))
        if not is_valid_uid(uid):
            continue
        if any(ds.get(k) not in (None, "") for k in scope.empty):
            continue  # outside the scope: the key must have no value (empty value matching)
        attrs = _attrs(ds, _STUDY_KEYS)
        if only_undated and attrs.get("StudyDate"):
            continue
        n += db.execute(
            "INSERT OR IGNORE INTO studies (uid, attrs) VALUES (?, ?)", (uid, json.dumps(attrs))
        ).rowcount
    return n


def _list_studies(
    f: StudyFinder, db: sqlite3.Connection, scope: _Scope, undated: bool = True
) -> None:
    found, complete = f.find("STUDY", scope.query(), scope.returns(), "studies")
    _keep(db, found, scope)
    if complete:
        return
    if "StudyDate" not in scope.empty:  # truncated: split by Study Date
        if scope.first <= scope.last:
            _by_date(f, db, scope, scope.first, scope.last)
    if "StudyDate" in scope.keys:
        return  # studies without a Study Date match no date, single or range (C.2.2.2.5)
    if "PatientID" in scope.keys:
        _problem(db, "studies without a Study Date in the scope: response set truncated")
        return
    if not undated:
        _problem(
            db,
            "studies without a Study Date not looked for (--no-undated): the listing of all "
            "studies was truncated and a Study Date range matches none of them (PS3.4 C.2.2.2.5)",
        )
        return
    _search_undated(f, db, scope)


def _by_date(
    f: StudyFinder,
    db: sqlite3.Connection,
    scope: _Scope,
    lo: datetime.date,
    hi: datetime.date,
) -> None:
    dates = f"{_day(lo)}-{_day(hi)}"
    found, complete = f.find(
        "STUDY", scope.query(StudyDate=dates), scope.returns(), f"studies of {dates}"
    )
    _keep(db, found, scope)
    if complete:
        return
    if lo == hi:
        _by_time(f, db, scope, lo, 0, 86399)
        return
    days = (hi - lo).days + 1
    step = max(1, -(-days // SPLIT))
    start = lo
    while start <= hi:
        end = min(hi, start + datetime.timedelta(days=step - 1))
        _by_date(f, db, scope, start, end)
        start = end + datetime.timedelta(days=1)


def _hms(s: int) -> str:
    return f"{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}"


def _by_time(
    f: StudyFinder, db: sqlite3.Connection, scope: _Scope, day: datetime.date, lo: int, hi: int
) -> None:
    if "StudyTime" in scope.keys:  # the scope's own time key: a split would leave it
        _problem(db, f"more studies on {_day(day)} in the scope than the peer returns at once")
        return
    keys = scope.query(StudyDate=_day(day), StudyTime=f"{_hms(lo)}-{_hms(hi)}")
    window = f"studies of {_day(day)} {keys['StudyTime']}"
    found, complete = f.find("STUDY", keys, scope.returns(), window)
    _keep(db, found, scope)
    if complete:
        return
    if lo == hi:
        _problem(db, f"more studies on {_day(day)} at {_hms(lo)} than the peer returns at once")
        return
    step = max(1, -(-(hi - lo + 1) // SPLIT))
    for start in range(lo, hi + 1, step):
        _by_time(f, db, scope, day, start, min(hi, start + step - 1))


@dataclass
class _PrefixSearch:
    """What the search by Patient ID prefix learned of the peer's matching, as it goes."""

    ignores_case: bool = False
    """The peer matched a prefix to a Patient ID that differs from it in case only."""
    odd: list[str] = field(default_factory=list)
    """Prefixes whose truncated answer named no Patient ID starting with them."""
    queries: int = 0


def _same_start(pid: str, prefix: str) -> bool:
    return pid.upper().startswith(prefix.upper())


def _undated(
    f: StudyFinder, db: sqlite3.Connection, scope: _Scope, prefix: str, seen: _PrefixSearch
) -> None:
    for ch in PREFIX_ALPHABET:
        if not prefix and ch == " ":
            continue  # leading spaces of an LO value are not significant (PS3.5 Table 6.2-1)
        if seen.ignores_case and ch.islower():
            continue  # the upper-case prefix matched these Patient IDs too
        window = f"undated studies of Patient ID {prefix}{ch}*"
        before = f.queries
        found, complete = f.find(
            "STUDY", scope.query(PatientID=f"{prefix}{ch}*"), scope.returns(), window
        )
        seen.queries += f.queries - before
        _keep(db, found, scope, only_undated=True)
        ids = [str(ds.get("PatientID", "")) for ds in found]
        if any(not i.startswith(prefix + ch) and _same_start(i, prefix + ch) for i in ids):
            seen.ignores_case = True  # e.g. Orthanc: 'p*' matches 'P0-1'
        if complete:
            continue
        if ch.islower() and seen.ignores_case:
            continue  # the same answer as the upper-case prefix's, which is searched
        if not ids or any(not _same_start(i, prefix + ch) for i in ids):
            # A truncated answer naming no Patient ID that starts with the prefix: the peer
            # picks candidates by a looser rule than it matches (Orthanc: SQL LIKE, which
            # ignores case and takes '%' and '_' as wildcards), so a longer prefix cannot
            # shorten the answer.
            seen.odd.append(prefix + ch)
        elif len(prefix) >= 63:  # PS3.5 6.2: LO is at most 64 characters
            _problem(db, f"Patient IDs starting {prefix + ch!r}: still truncated")
        else:
            _undated(f, db, scope, prefix + ch, seen)


def _search_undated(f: StudyFinder, db: sqlite3.Connection, scope: _Scope) -> None:
    """List the studies without a Study Date by Patient ID prefix; record its cost and limits."""
    seen = _PrefixSearch()
    _undated(f, db, scope, "", seen)
    db.execute("INSERT OR REPLACE INTO state VALUES ('undated_queries', ?)", (str(seen.queries),))
    if seen.odd:
        listed = ", ".join(repr(p) for p in seen.odd)
        db.execute(
            "INSERT INTO warnings VALUES (?)",
            (
                f"Patient ID prefixes {listed}: the peer ends its answer to each as truncated "
                "while naming no Patient ID that starts with it, so a longer prefix cannot "
                "narrow it down (Orthanc picks its candidates with SQL LIKE, which ignores case "
                "and takes % and _ as wildcards, stops at its limit, then keeps none of them); "
                "studies without a Study Date of Patient IDs starting with these may be missing",
            ),
        )


def _list_study(f: StudyFinder, db: sqlite3.Connection, uid: str, window: str) -> None:
    series, complete = f.find("SERIES", {"StudyInstanceUID": uid}, _SERIES_KEYS, window)
    if not complete:
        _problem(db, f"series of study {uid}: response set truncated")
    rows_se, rows_inst = [], []
    for se in series:
        se_uid = str(se.get("SeriesInstanceUID", ""))
        if not is_valid_uid(se_uid):
            continue
        rows_se.append((se_uid, uid, json.dumps(_attrs(se, _SERIES_KEYS))))
        images, ok = f.find(
            "IMAGE", {"StudyInstanceUID": uid, "SeriesInstanceUID": se_uid}, _IMAGE_KEYS, window
        )
        if not ok:
            _problem(db, f"instances of series {se_uid}: response set truncated")
        else:
            stated = _int(se.get("NumberOfSeriesRelatedInstances"))
            if stated is not None and stated > len(images):
                _problem(
                    db,
                    f"instances of series {se_uid}: {len(images)} listed, the peer's Number of "
                    f"Series Related Instances (0020,1209) says {stated}",
                )
        for im in images:
            sop = str(im.get("SOPInstanceUID", ""))
            if is_valid_uid(sop):
                rows_inst.append((sop, se_uid, json.dumps(_attrs(im, _IMAGE_KEYS))))
    db.execute("BEGIN")
    db.executemany("INSERT OR REPLACE INTO series VALUES (?,?,?)", rows_se)
    db.executemany("INSERT OR REPLACE INTO instances VALUES (?,?,?)", rows_inst)
    db.execute("UPDATE studies SET done = 1 WHERE uid = ?", (uid,))
    db.execute("COMMIT")


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _records(db: sqlite3.Connection, peer: Peer, when: str) -> Iterator[StudyRecord]:
    studies = db.execute("SELECT uid, attrs FROM studies ORDER BY uid").fetchall()
    for uid, attrs in studies:
        a = json.loads(attrs)
        series = []
        for se_uid, se_attrs in db.execute(
            "SELECT uid, attrs FROM series WHERE study = ? ORDER BY uid", (uid,)
        ).fetchall():
            s = json.loads(se_attrs)
            instances = [
                InstanceRecord(
                    sop_class_uid=json.loads(i_attrs).get("SOPClassUID", ""),
                    sop_instance_uid=i_uid,
                    instance_number=_int(json.loads(i_attrs).get("InstanceNumber")),
                )
                for i_uid, i_attrs in db.execute(
                    "SELECT uid, attrs FROM instances WHERE series = ? ORDER BY uid", (se_uid,)
                )
            ]
            instances = [i for i in instances if is_valid_uid(i.sop_class_uid)]
            if instances:
                series.append(
                    SeriesRecord(
                        series_instance_uid=se_uid,
                        modality=s.get("Modality") or "OT",
                        series_number=_int(s.get("SeriesNumber")),
                        series_description=s.get("SeriesDescription"),
                        instances=instances,
                    )
                )
        if not series:
            continue
        yield StudyRecord(
            study_instance_uid=uid,
            item_inventory_datetime=when,
            patient_id=a.get("PatientID"),
            patient_name=a.get("PatientName"),
            patient_birth_date=a.get("PatientBirthDate"),
            patient_sex=a.get("PatientSex"),
            study_date=a.get("StudyDate"),
            study_time=a.get("StudyTime"),
            accession_number=a.get("AccessionNumber"),
            study_id=a.get("StudyID"),
            study_description=a.get("StudyDescription"),
            number_of_study_related_series=_int(a.get("NumberOfStudyRelatedSeries")),
            number_of_study_related_instances=_int(a.get("NumberOfStudyRelatedInstances")),
            retrieve_ae_title=(peer.ae_title,),
            series=series,
        )
