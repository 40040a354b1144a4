"""``testkit scp``: a battery of checks against a vendor's Inventory SCP, over real associations.

The checks are a registry (:mod:`dicom_inventory.conformance.testkit.registry`): one function
each, with its id, the section it judges and when it applies; what one check establishes (the
contexts the SCP accepted, a finished inventory, what was retrieved) reaches later checks only
as a fact the runner records. Most checks talk through our SCU
(:mod:`dicom_inventory.scu.client`), which reads what pynetdicom's primitives drop ((0000,1005)
with 0xB010); Repository Query is judged through the kit's own recording peer
(:mod:`~dicom_inventory.conformance.testkit.recorder`) on one association, so that every
response on the wire counts. The kit listens on its own AE for the N-EVENT-REPORTs: the SCP
must know that AE title, host and port.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_inventory.conformance.testkit.recorder import Exchange, RecordingAssociation
from dicom_inventory.conformance.testkit.registry import (
    Facts,
    Registry,
    Verdict,
    failed,
    judged,
    not_applicable,
    passed,
)
from dicom_inventory.conformance.testkit.report import Outcome, Report
from dicom_inventory.read import iter_inventory, read_header, resolve_tree
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.production.scope import ScopeError, parse_scope
from dicom_inventory.scu.client import (
    EventListener,
    InventoryEvent,
    PeerAborted,
    SCUError,
    inventory_find,
    move_inventory,
    new_transaction_uid,
    retrieve_inventory,
    send_action,
)
from dicom_inventory.scu.crawl import CrawlError, StudyFinder
from dicom_inventory.scu.peer import Peer
from dicom_inventory.status import Status, is_failure
from dicom_inventory.uid import (
    INVENTORY_CREATION,
    INVENTORY_FIND,
    INVENTORY_GET,
    INVENTORY_MOVE,
    INVENTORY_STORAGE,
    REPOSITORY_QUERY,
    STUDY_ROOT_FIND,
    VERIFICATION,
)
from dicom_inventory.validate import Severity, validate_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

__all__ = ["CHECKS", "ScpKit", "run_scp_battery"]

EXPLICIT, IMPLICIT, DEFLATED = (
    str(ExplicitVRLittleEndian),
    str(ImplicitVRLittleEndian),
    str(DeflatedExplicitVRLittleEndian),
)
_CLASSES = (
    INVENTORY_CREATION,
    INVENTORY_STORAGE,
    INVENTORY_FIND,
    INVENTORY_MOVE,
    INVENTORY_GET,
    REPOSITORY_QUERY,
)
#: Event Information an event 11 must carry (PS3.4 Table KK.2-2, KK.2.3.1.1).
_EVENT_11_REQUIRED = (
    "TransactionUID",
    "TransactionStatus",
    "ReferencedSOPClassUID",
    "ReferencedSOPInstanceUID",
    "TotalNumberOfStudyRecords",
)
#: Not a DA value nor a range: refused with a failure (PS3.7 C, 0x0115 Invalid argument value).
_INVALID_DATE = "2020010"
#: Scope of Inventory keys tried one matching type at a time (PS3.4 C.2.2.2, KK.2.2.1.1).
SCOPE_TYPES = ("SINGLE", "WILDCARD", "RANGE", "UID-LIST")
_LEVELS = ("STUDY", "SERIES", "INSTANCE")
#: Records per Repository Query page asked for first; fewer if the archive is smaller.
_PAGE = 10


@dataclass
class ScpKit:
    """Where the SCP is and how the kit presents itself."""

    peer: Peer
    calling_ae: str = "INV_TESTKIT"
    listen_port: int = 11114
    timeout: float = 60.0
    """Longest wait for the final event of one inventory (seconds)."""
    dimse_timeout: float = 10.0
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="testkit-")))


class _Run:
    """One run of the battery: the kit's settings and the event listener it opens.

    The listener is opened once, on first use. Holds resources, not results: results travel
    as facts.
    """

    def __init__(self, kit: ScpKit) -> None:
        self.kit = kit
        self._listener: EventListener | None = None
        self._listen_error: SCUError | None = None

    def listener(self) -> EventListener:
        """The kit's N-EVENT-REPORT listener; :class:`SCUError` (an ERROR) if it cannot listen."""
        if self._listener is None and self._listen_error is None:
            try:
                self._listener = EventListener(
                    self.kit.calling_ae,
                    self.kit.listen_port,
                    timeout=self.kit.dimse_timeout,
                    store_into=self.kit.work / "moved",
                )
            except SCUError as exc:
                self._listen_error = SCUError(
                    f"the kit cannot listen for events on port {self.kit.listen_port}: {exc}"
                )
        if self._listen_error is not None:
            raise self._listen_error
        assert self._listener is not None
        return self._listener

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()


def _aborted(exc: BaseException) -> Verdict | None:
    """An abort answering a request: the check ran and the SCP failed it (PS3.7 D.3.3.2)."""
    if isinstance(exc, PeerAborted):
        return failed(
            str(exc), "an SCP that accepts a SOP class must answer its requests (PS3.7 D.3.3.2)"
        )
    return None


#: The battery, in the order it runs.
CHECKS: Registry[_Run] = Registry(
    "scp", errors=(SCUError, OSError, ValueError, KeyError, AttributeError), on_error=_aborted
)


def run_scp_battery(kit: ScpKit) -> Report:
    """Run every check; return the report.

    Checks whose service is missing are not applicable.
    """
    run = _Run(kit)
    try:
        return CHECKS.run(run, Report("scp", str(kit.peer)))
    finally:
        run.close()


def _status_text(code: int) -> str:
    return f"0x{code:04X}"


def _accepted(facts: Facts) -> dict[str, set[str]]:
    acc: dict[str, set[str]] = facts.get("accepted", {})
    return acc


_When = Callable[[_Run, Facts], "str | None"]


def _negotiated(*uids: str) -> _When:
    """``when``: the SCP accepted every one of `uids` in A-NEGOTIATE."""

    def when(run: _Run, facts: Facts) -> str | None:
        missing = [UID(u).name for u in uids if u not in _accepted(facts)]
        return f"{', '.join(missing)} not negotiated" if missing else None

    return when


def _finished(facts: Facts) -> InventoryEvent | None:
    """The final event 11 of a whole-archive inventory (INSTANCE level preferred)."""
    for level in ("INSTANCE", "SERIES", "STUDY"):
        if f"finished.{level}" in facts:
            final: InventoryEvent = facts[f"finished.{level}"]
            return final
    return None


def _has_finished(*uids: str) -> _When:
    negotiated = _negotiated(*uids)

    def when(run: _Run, facts: Facts) -> str | None:
        why: str | None = negotiated(run, facts)
        if why is None and _finished(facts) is None:
            why = "no finished inventory to work on (C-INITIATE-* did not complete one)"
        return why

    return when


# -- helpers ---------------------------------------------------------------------------------
def _negotiate(kit: ScpKit) -> dict[str, set[str]]:
    """SOP Class UID -> transfer syntaxes the SCP accepted (one context per pair)."""
    ae = AE(ae_title=kit.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = kit.dimse_timeout
    for uid in (VERIFICATION, *_CLASSES):
        for ts in (EXPLICIT, IMPLICIT, DEFLATED):
            ae.add_requested_context(uid, [ts])
    ae.add_requested_context(STUDY_ROOT_FIND, [EXPLICIT, IMPLICIT])  # R-COUNTS without RQ
    assoc = ae.associate(kit.peer.host, kit.peer.port, ae_title=kit.peer.ae_title)
    if not assoc.is_established:
        raise SCUError(f"{kit.peer}: association refused or no answer")
    accepted: dict[str, set[str]] = {}
    for cx in assoc.accepted_contexts:
        accepted.setdefault(str(cx.abstract_syntax), set()).add(str(cx.transfer_syntax[0]))
    assoc.release()
    return accepted


def _initiate(
    kit: ScpKit, level: str, scope: dict[str, str] | None = None, uid: str | None = None
) -> tuple[str, Any]:
    info = Dataset()
    txn = uid or new_transaction_uid()
    info.TransactionUID = txn
    info.InventoryLevel = level
    # the standard form (PS3.3 C.38.2.1): each key in the matching sequence of its type
    # no validation: C-INVALID-KEY sends an invalid value on purpose
    items = [] if not scope else [ScopeOfInventory.from_keys(scope).to_dataset(validate=False)]
    info.ScopeOfInventorySequence = items
    info.InventoryPurpose = "dicom-inventory testkit"
    return txn, send_action(
        kit.peer, 11, info, calling_ae=kit.calling_ae, timeout=kit.dimse_timeout
    )


def _control(kit: ScpKit, action: int, txn: str, **attributes: str) -> Any:
    """Send control action `action` for transaction `txn`, with its other Action Information.

    The actions are 13 Cancel, 14 Pause and 15 Resume (PS3.4 Table KK.2-1).
    """
    info = Dataset()
    info.TransactionUID = txn
    for keyword, value in attributes.items():
        setattr(info, keyword, value)
    return send_action(kit.peer, action, info, calling_ae=kit.calling_ae, timeout=kit.dimse_timeout)


def _events(
    listener: EventListener, txn: str, timeout: float
) -> tuple[list[InventoryEvent], InventoryEvent | None]:
    seen: list[InventoryEvent] = []
    try:
        final = listener.wait(txn, timeout, seen.append)
    except SCUError:
        return seen, None
    return [e for e in seen if e is not final], final


def _retrieve_peer(kit: ScpKit, final: InventoryEvent) -> Peer:
    """Where event 11 says the inventory is retrieved from (KK.2.3.1.1), on the SCP's host."""
    return Peer(
        str(final.info.get("RetrieveAETitle") or kit.peer.ae_title), kit.peer.host, kit.peer.port
    )


_CREATION = _negotiated(INVENTORY_CREATION)


# -- association ------------------------------------------------------------------------------
@CHECKS.check(
    "A-NEGOTIATE",
    "Inventory SOP classes negotiated (each in Explicit, Implicit and Deflated Explicit VR LE)",
    "PS3.4 KK.3, JJ.3, C.6.4; PS3.5 10.1",
    applies="always",
    provides=("accepted",),
)
def negotiate(run: _Run, facts: Facts) -> Verdict:
    acc = _negotiate(run.kit)
    ev = [
        f"{UID(u).name}: {', '.join(sorted(UID(t).name for t in acc.get(u, ()))) or 'rejected'}"
        for u in (VERIFICATION, *_CLASSES)
    ]
    problems = []
    if INVENTORY_CREATION not in acc or IMPLICIT not in acc[INVENTORY_CREATION]:
        problems.append(
            "Inventory Creation is not accepted in Implicit VR Little Endian, the default "
            "transfer syntax (PS3.5 10.1)"
        )
    return judged(problems, ev, accepted=acc)


@CHECKS.check(
    "E-ECHO",
    "C-ECHO answered with Success",
    "PS3.4 A",
    applies="the SCP accepts Verification",
    when=_negotiated(VERIFICATION),
)
def echo(run: _Run, facts: Facts) -> Verdict:
    kit = run.kit
    ae = AE(ae_title=kit.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = kit.dimse_timeout
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate(kit.peer.host, kit.peer.port, ae_title=kit.peer.ae_title)
    status = assoc.send_c_echo() if assoc.is_established else None
    if assoc.is_established:
        assoc.release()
    code = int(status.Status) if status is not None and "Status" in status else None
    ev = f"C-ECHO status {'none' if code is None else _status_text(code)}"
    return passed(ev) if code == 0 else failed(ev)


# -- Inventory Creation -----------------------------------------------------------------------
def _initiate_check(level: str) -> None:
    @CHECKS.check(
        f"C-INITIATE-{level}",
        f"Initiate at level {level}: accepted, events, final event complete",
        "PS3.4 KK.2.2, KK.2.3, Table KK.2-2",
        applies="the SCP accepts Inventory Creation",
        provides=(f"finished.{level}",),
        when=_CREATION,
    )
    def initiate(run: _Run, facts: Facts) -> Verdict:
        kit, listener = run.kit, run.listener()
        t0 = time.monotonic()
        txn, result = _initiate(kit, level)
        ev = [
            f"N-ACTION Initiate ({level}): {_status_text(result.status)} "
            f"{result.comment or ''}".rstrip()
        ]
        if result.status == Status.MISTYPED_ARGUMENT:
            return not_applicable(*ev, f"level {level} not supported (0x0212)")
        if result.status != Status.SUCCESS:
            return failed(*ev, "expected 0x0000 for a request without scope keys")
        seen, final = _events(listener, txn, kit.timeout)
        ev += [f"event {e.event_type} {e.info.get('TransactionStatus', '')}" for e in seen]
        if final is None:
            why = [
                f"event {e.event_type} arrived without Transaction UID (0008,1195)"
                for e in listener.unmatched
                if not e.transaction_uid
            ]
            return failed(
                *why,
                *ev,
                f"no final N-EVENT-REPORT (11 or 13) for {txn} within {kit.timeout:g} s",
            )
        ev.append(
            f"final event {final.event_type} {final.info.get('TransactionStatus', '')}, "
            f"{time.monotonic() - t0:.1f} s after the Initiate"
        )
        problems = []
        for e in (*seen, final):
            if str(e.info.get("TransactionUID", "")) != txn:
                problems.append(
                    f"event {e.event_type}: Transaction UID "
                    f"{e.info.get('TransactionUID') or 'missing'}, expected {txn}"
                )
        done: dict[str, Any] = {}
        if final.event_type == 11:
            missing = [k for k in _EVENT_11_REQUIRED if k not in final.info]
            if missing:
                problems.append(f"event 11 lacks {', '.join(missing)} (Table KK.2-2)")
            if "RetrieveAETitle" not in final.info and "RetrieveURL" not in final.info:
                problems.append(
                    "event 11 has neither Retrieve AE Title nor Retrieve URL (KK.2.3.1.1)"
                )
            if str(final.info.get("ReferencedSOPClassUID", "")) != INVENTORY_STORAGE:
                problems.append("event 11 Referenced SOP Class UID is not Inventory Storage")
            if "ReferencedSOPInstanceUID" in final.info:
                done[f"finished.{level}"] = final
        late, _ = _events(listener, txn, 0.5)
        if late:
            problems.append(f"{len(late)} event(s) after the final one")
        return judged(problems, ev, **done)


for _level in _LEVELS:
    _initiate_check(_level)


@CHECKS.check(
    "C-UNSUPPORTED-KEY",
    "an unsupported scope key gets the warning 0xB010 listing it",
    "PS3.4 KK.2.2.3",
    applies="the SCP accepts Inventory Creation",
    when=_CREATION,
)
def unsupported_key(run: _Run, facts: Facts) -> Verdict:
    _, result = _initiate(run.kit, "STUDY", {"PatientComments": "x*"})
    ev = [f"Initiate with Patient Comments (0010,4000) as scope key: {_status_text(result.status)}"]
    listed = [f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in result.unsupported_keys]
    if result.status == Status.ATTRIBUTE_LIST_WARNING:
        ev.append(f"Attribute Identifier List (0000,1005): {', '.join(listed) or 'missing'}")
        return passed(*ev) if 0x00104000 in result.unsupported_keys else failed(*ev)
    if result.status == Status.SUCCESS:
        return failed(*ev, "expected 0xB010: a key not supported for matching was silently ignored")
    return failed(*ev, "expected 0xB010 (or acceptance if the key is supported)")


@CHECKS.check(
    "C-INVALID-KEY",
    "a scope key with an invalid value is refused with a failure status",
    "PS3.4 KK.2.2.3, C.2.2.2.5; PS3.7 10.1.4.1.10",
    applies="the SCP accepts Inventory Creation and matches Study Date",
    when=_CREATION,
)
def invalid_key(run: _Run, facts: Facts) -> Verdict:
    kit, listener = run.kit, run.listener()
    txn, result = _initiate(kit, "STUDY", {"StudyDate": _INVALID_DATE})
    ev = [f"Initiate with Study Date {_INVALID_DATE} (7 digits): {_status_text(result.status)}"]
    if result.status == Status.ATTRIBUTE_LIST_WARNING and 0x00080020 in result.unsupported_keys:
        _events(listener, txn, kit.timeout)
        return not_applicable(*ev, "Study Date is not supported for matching")
    if is_failure(result.status):
        return passed(*ev)
    _events(listener, txn, kit.timeout)
    return failed(
        *ev,
        "expected a failure status: the value is neither a date nor a range (PS3.5 6.2 DA, "
        "PS3.4 C.2.2.2.5)",
    )


@CHECKS.check(
    "C-BAD-LEVEL",
    "an invalid Inventory Level is refused",
    "PS3.4 KK.2.2.3, PS3.3 C.38.1.1.3",
    applies="the SCP accepts Inventory Creation",
    when=_CREATION,
)
def bad_level(run: _Run, facts: Facts) -> Verdict:
    _, result = _initiate(run.kit, "PATIENT")
    ev = f"Initiate at level PATIENT: {_status_text(result.status)}"
    if is_failure(result.status):
        return passed(ev)
    return failed(ev, "expected a failure status: PATIENT is not an Inventory Level (C.38.1.1.3)")


@CHECKS.check(
    "C-DUPLICATE",
    "a reused Transaction UID is refused",
    "PS3.4 KK.2.2",
    applies="the SCP accepts Inventory Creation",
    when=_CREATION,
)
def duplicate(run: _Run, facts: Facts) -> Verdict:
    kit, listener = run.kit, run.listener()
    txn, first = _initiate(kit, "STUDY")
    _events(listener, txn, kit.timeout)
    _, again = _initiate(kit, "STUDY", uid=txn)
    ev = (
        f"first Initiate {_status_text(first.status)}, same Transaction UID again "
        f"{_status_text(again.status)}"
    )
    if again.status not in (Status.SUCCESS, Status.ATTRIBUTE_LIST_WARNING):
        return passed(ev)
    return failed(ev, "a reused Transaction UID was accepted")


@CHECKS.check(
    "C-CANCEL",
    "Cancel ends the job with event 13, CANCELED",
    "PS3.4 KK.2.2, KK.2.3",
    applies="the SCP accepts Inventory Creation (not applicable if the job ends first)",
    when=_CREATION,
)
def cancel(run: _Run, facts: Facts) -> Verdict:
    kit, listener = run.kit, run.listener()
    txn, result = _initiate(kit, "INSTANCE")
    c = _control(kit, 13, txn, RetainInstances="NO")
    seen, final = _events(listener, txn, kit.timeout)
    ev = [
        f"Initiate {_status_text(result.status)}, Cancel {_status_text(c.status)}",
        *(f"event {e.event_type}" for e in seen),
    ]
    if final is None:
        return failed(*ev, "no final event after Cancel")
    ev.append(f"final event {final.event_type} {final.info.get('TransactionStatus', '')}")
    if c.status == Status.PROCESSING_FAILURE and final.event_type == 11:
        return not_applicable(*ev, "the job finished before the Cancel arrived")
    if (
        c.status == Status.SUCCESS
        and final.event_type == 13
        and final.info.get("TransactionStatus") == "CANCELED"
    ):
        return passed(*ev)
    return failed(*ev, "expected 0x0000 and event 13 with Transaction Status CANCELED")


@CHECKS.check(
    "C-PAUSE-RESUME",
    "Pause reports PAUSED; Resume finishes the job (where Pause is supported)",
    "PS3.4 KK.2.2, KK.2.3",
    applies="the SCP accepts Inventory Creation and supports Pause (optional)",
    when=_CREATION,
)
def pause_resume(run: _Run, facts: Facts) -> Verdict:
    kit, listener = run.kit, run.listener()
    txn, result = _initiate(kit, "INSTANCE")
    p = _control(kit, 14, txn)
    ev = [f"Initiate {_status_text(result.status)}, Pause {_status_text(p.status)}"]
    if p.status in (
        Status.NO_SUCH_ACTION,
        Status.UNRECOGNIZED_OPERATION,
    ):  # no such action / unrecognized operation
        _events(listener, txn, kit.timeout)
        return not_applicable(*ev, "Pause is not supported (optional)")
    if p.status == Status.PROCESSING_FAILURE:
        _events(listener, txn, kit.timeout)
        return not_applicable(*ev, "the job finished before the Pause arrived")
    paused: list[InventoryEvent] = []
    deadline = time.monotonic() + kit.timeout
    while not paused and time.monotonic() < deadline:
        seen, final = _events(listener, txn, min(2.0, kit.timeout))
        paused = [e for e in seen if e.info.get("TransactionStatus") == "PAUSED"]
        if final is not None:
            why = f"final event {final.event_type} before or while paused"
            return failed(*ev, why) if paused else not_applicable(*ev, why)
    r = _control(kit, 15, txn)
    ev += [f"event 12 PAUSED: {'yes' if paused else 'no'}", f"Resume {_status_text(r.status)}"]
    seen, final = _events(listener, txn, kit.timeout)
    ev += [f"event {e.event_type} {e.info.get('TransactionStatus', '')}" for e in seen]
    if final is not None:
        ev.append(f"final event {final.event_type} {final.info.get('TransactionStatus', '')}")
    if paused and r.status == Status.SUCCESS and final is not None and final.event_type == 11:
        return passed(*ev)
    return failed(*ev, "expected event 12 PAUSED, Resume 0x0000, then event 11")


# -- retrieval --------------------------------------------------------------------------------
@CHECKS.check(
    "R-GET",
    "the inventory retrieved by Inventory GET, whole tree, valid",
    "PS3.4 JJ, PS3.3 A.88, C.38.2.3",
    applies="the SCP accepts Inventory GET and finished an inventory",
    provides=("retrieved_total", "retrieved_root", "retrieved_files"),
    when=_has_finished(INVENTORY_GET),
)
def get(run: _Run, facts: Facts) -> Verdict:
    kit, final = run.kit, _finished(facts)
    assert final is not None
    root = str(final.info.ReferencedSOPInstanceUID)
    out = kit.work / "get"
    files = retrieve_inventory(
        _retrieve_peer(kit, final),
        root,
        out,
        calling_ae=kit.calling_ae,
        timeout=kit.dimse_timeout * 6,
    )
    tree = resolve_tree(out / f"{root}.dcm")
    problems = [
        f"{p.name}: {f.rule} {f.message}"
        for p in out.glob("*.dcm")
        for f in validate_file(p)
        if f.severity is Severity.ERROR
    ][:20]
    total = read_header(tree.path).total_number_of_study_records
    announced = final.info.get("TotalNumberOfStudyRecords")
    if total != announced:
        problems.append("the root's total differs from the event's")
    return judged(
        problems,
        [
            f"{len(files)} instance(s) retrieved, root {root}",
            f"root Total Number of Study Records {total}, event 11 said {announced}",
        ],
        retrieved_total=total,
        retrieved_root=tree.path,
        retrieved_files=len(list(out.glob("*.dcm"))),
    )


@CHECKS.check(
    "R-MOVE",
    "the inventory moved by Inventory MOVE to the kit, whole tree",
    "PS3.4 JJ, C.4.2",
    applies="the SCP accepts Inventory MOVE, finished an inventory and knows the kit's AE",
    when=_has_finished(INVENTORY_MOVE),
)
def move(run: _Run, facts: Facts) -> Verdict:
    kit, final = run.kit, _finished(facts)
    assert final is not None
    run.listener()  # the moved instances arrive there
    try:
        files = move_inventory(
            _retrieve_peer(kit, final),
            str(final.info.ReferencedSOPInstanceUID),
            kit.calling_ae,
            kit.work / "moved",
            calling_ae=kit.calling_ae,
            timeout=kit.dimse_timeout * 6,
        )
    except SCUError as exc:
        if "0xA801" in str(exc):
            return not_applicable(
                str(exc),
                f"configure {kit.calling_ae} (this host, port {kit.listen_port}) as a move "
                "destination to run this check",
            )
        return failed(str(exc))
    got = facts.get("retrieved_files")
    ev = f"{len(files)} instance(s) moved to {kit.calling_ae}"
    if got is not None and len(files) != got:
        return failed(ev, f"Inventory GET gave {got}")
    return passed(ev)


@CHECKS.check(
    "Q-FIND",
    "Inventory FIND by SOP Instance UID returns exactly that inventory",
    "PS3.4 JJ.2",
    applies="the SCP accepts Inventory FIND and finished an inventory",
    when=_has_finished(INVENTORY_FIND),
)
def find(run: _Run, facts: Facts) -> Verdict:
    kit, final = run.kit, _finished(facts)
    assert final is not None
    root = str(final.info.ReferencedSOPInstanceUID)
    found = inventory_find(
        kit.peer,
        {"SOPInstanceUID": root, "InventoryLevel": ""},
        calling_ae=kit.calling_ae,
        timeout=kit.dimse_timeout,
    )
    uids = [str(d.get("SOPInstanceUID", "")) for d in found]
    ev = f"FIND by SOP Instance UID {root}: {len(uids)} match(es) {', '.join(uids[:3])}"
    return passed(ev) if uids == [root] else failed(ev)


# -- Repository Query -------------------------------------------------------------------------
def _rq_query(max_records: int, prior: bytes | None) -> Dataset:
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = ""
    q.RecordKey = b""
    q.MaximumNumberOfRecords = max_records
    if prior is not None:
        q.PriorRecordKey = prior
    return q


def _rq_pages(run: _Run, max_records: int) -> list[Exchange]:
    """Every page of a STUDY-level Repository Query with `max_records`, on one association.

    The association goes through the recording peer; the query is continued with Prior Record
    Key (PS3.4 C.6.4.5.3).
    """
    kit = run.kit
    relational = SOPClassExtendedNegotiation()
    relational.sop_class_uid = REPOSITORY_QUERY
    relational.service_class_application_information = b"\x01"
    pages: list[Exchange] = []
    prior: bytes | None = None
    asked: set[bytes] = set()  # Prior Record Keys sent: one asked again means no progress
    with RecordingAssociation(
        kit.peer,
        REPOSITORY_QUERY,
        calling_ae=kit.calling_ae,
        timeout=kit.dimse_timeout,
        ext_neg=[relational],
    ) as assoc:
        while True:  # to the final 0x0000, however large the archive (R-COUNTS counts them)
            ex = assoc.find(_rq_query(max_records, prior))
            pages.append(ex)
            if (
                ex.final != Status.PARTIAL_RESULTS
                or not ex.records
                or "RecordKey" not in ex.records[-1]
            ):
                break
            prior = bytes(ex.records[-1].RecordKey)
            if prior in asked:  # the SCP went round: its repeated records are the evidence
                break
            asked.add(prior)
    return pages


def _page_text(ex: Exchange) -> str:
    final = "none" if ex.final is None else _status_text(ex.final)
    return f"{len(ex.records)} then {final}"


@CHECKS.check(
    "Q-RQ-PAGING",
    "Repository Query pages (Maximum Number of Records 10, fewer on a small archive) return "
    "every study once, each with its Record Key",
    "PS3.4 C.6.4.5",
    applies="the SCP accepts Repository Query and holds at least 2 studies",
    provides=("rq_studies", "rq_pages"),
    when=_negotiated(REPOSITORY_QUERY),
)
def rq_paging(run: _Run, facts: Facts) -> Verdict:
    pages = _rq_pages(run, _PAGE)
    first = pages[0]
    ev = [
        f"Maximum Number of Records {_PAGE}: {len(pages)} page(s): {', '.join(_page_text(p) for p in pages[:20])}"
    ]
    problems: list[str] = []
    limit = _PAGE
    if len(pages) == 1 and first.final == Status.SUCCESS and len(first.records) <= _PAGE:
        # complete in one response set: page again with a smaller limit, or nothing is judged
        if len(first.records) < 2:
            return not_applicable(
                *ev,
                f"the archive lists {len(first.records)} study: too few to page through",
                rq_studies=len(first.records),
            )
        limit = max(1, len(first.records) // 2)
        pages = _rq_pages(run, limit)
        ev.append(
            f"Maximum Number of Records {limit}: {len(pages)} page(s): "
            + ", ".join(_page_text(p) for p in pages[:20])
        )
        cut = pages[0]
        if (
            len(pages) == 1
            and cut.final == Status.SUCCESS
            and len(cut.records) < len(first.records)
        ):
            problems.append(
                f"with Maximum Number of Records {limit} the response set ended with 0x0000 "
                f"after {len(cut.records)} records, though {len(first.records)} match: a "
                "response set cut at the limit must end with 0xB001 (PS3.4 C.6.4)"
            )
            pages, limit = [first], _PAGE
    keys: list[str] = []
    for n, ex in enumerate(pages, 1):
        keys += [str(r.get("StudyInstanceUID", "")) for r in ex.records]
        if len(ex.records) > limit:
            problems.append(
                f"page {n}: {len(ex.records)} records; Maximum Number of Records was {limit}"
            )
        keyless = sum(1 for r in ex.records if not r.get("RecordKey"))
        if keyless:
            problems.append(
                f"page {n}: {keyless} record(s) without the Record Key (0008,041B) the query "
                "asked for (C.6.4.1.1, C.6.4.5.1)"
            )
        if ex.final not in (Status.SUCCESS, Status.PARTIAL_RESULTS):
            problems.append(
                f"page {n} ended with {'no final response' if ex.final is None else _status_text(ex.final)}"
            )
    repeated = len(keys) - len(set(keys))
    ev.append(f"{len(keys)} record(s), {repeated} repeated")
    if repeated:
        problems.append(f"{repeated} record(s) returned twice across pages")
    return judged(problems, ev, rq_studies=len(set(keys)), rq_pages=pages)


@CHECKS.check(
    "Q-RQ-FINAL",
    "each Repository Query response set ends with exactly one final response (0xB001 or "
    "0x0000), nothing after it on the association",
    "PS3.4 C.6.4.1.1, C.6.4.5",
    applies="Q-RQ-PAGING paged through the archive",
    needs=("rq_pages",),
)
def rq_final(run: _Run, facts: Facts) -> Verdict:
    pages: list[Exchange] = facts["rq_pages"]
    problems = []
    for n, ex in enumerate(pages, 1):
        if ex.after_final:
            after = ", ".join(_status_text(c) for c in ex.after_final)
            problems.append(
                f"page {n} (Message ID {ex.message_id}): after its final "
                f"{_status_text(ex.final or 0)} the SCP sent another C-FIND-RSP with {after}: "
                "a second final response, which an SCU keeping the association reads as the "
                "answer to its next request (a stock pynetdicom SCP does this after 0xB001)"
            )
        for responded_to, code in ex.stray:
            problems.append(
                f"page {n}: a C-FIND-RSP {_status_text(code)} for Message ID {responded_to}, "
                "which no open request has"
            )
    partial = sum(1 for ex in pages if ex.final == Status.PARTIAL_RESULTS)
    if not partial and not problems:
        return not_applicable("no response set ended with 0xB001: nothing paged")
    return judged(
        problems,
        [f"{len(pages)} response set(s) on one association, {partial} ended with 0xB001"],
    )


@CHECKS.check(
    "R-COUNTS",
    "the inventory lists as many studies as Repository Query (or Study Root C-FIND) of the archive",
    "PS3.4 KK.2.1, C.6.4, C.6.2",
    applies="R-GET retrieved a whole-archive INSTANCE inventory",
    needs=("retrieved_total", "finished.INSTANCE"),
)
def counts(run: _Run, facts: Facts) -> Verdict:
    total = facts["retrieved_total"]
    studies, source = facts.get("rq_studies"), "Repository Query"
    if studies is None and STUDY_ROOT_FIND in _accepted(facts):
        studies, final = _study_root_count(run.kit)
        source = "Study Root C-FIND"
        if final != Status.SUCCESS:
            return not_applicable(
                f"Study Root C-FIND ended with 0x{final:04X} after {studies} studies: "
                "the archive's count is unknown (a result cap?)"
            )
    if studies is None:
        return not_applicable("neither Repository Query nor Study Root C-FIND")
    ev = f"inventory: {total} study records; {source}: {studies} studies"
    return passed(ev) if total == studies else failed(ev)


def _study_root_count(kit: ScpKit) -> tuple[int, int]:
    """Studies listed by one Study Root C-FIND at STUDY level, and its final status (-1: none)."""
    finder = StudyFinder(kit.peer, kit.calling_ae, None, kit.dimse_timeout)
    try:
        found, _ = finder.find("STUDY", {}, ("StudyInstanceUID",))
    except CrawlError as exc:
        raise SCUError(str(exc)) from exc
    finally:
        finder.close()
    uids = {str(d.get("StudyInstanceUID", "")) for d in found}
    return len(uids), -1 if finder.last_status is None else finder.last_status


def _scope_keys(kind: str, studies: list[dict[str, str]]) -> dict[str, str] | None:
    """A key of matching type `kind` built from the archive's own values (None: no value)."""
    pids = sorted({s["PatientID"] for s in studies if s["PatientID"]})
    dates = sorted({s["StudyDate"] for s in studies if s["StudyDate"]})
    if kind == "SINGLE" and pids:
        return {"PatientID": pids[0]}
    if kind == "WILDCARD" and pids and len(pids[-1]) > 1:
        pid = pids[-1]
        patterns = [pid[:k] + "*" for k in range(len(pid) - 1, 0, -1)]
        patterns += ["*" + pid[-k:] for k in range(1, len(pid))]
        for pattern in patterns:  # one that selects some studies but not all, if there is one
            match = parse_scope({"PatientID": pattern})
            n = sum(1 for s in studies if match.matches(s, s["StudyInstanceUID"]))
            if 0 < n < len(studies):
                return {"PatientID": pattern}
        return {"PatientID": patterns[0]}
    if kind == "RANGE" and dates:
        return {"StudyDate": f"{dates[0]}-{dates[len(dates) // 2]}"}
    if kind == "UID-LIST" and len(studies) > 1:
        return {"StudyInstanceUID": "\\".join(s["StudyInstanceUID"] for s in studies[:2])}
    return None


def _whole(facts: Facts) -> list[dict[str, str]]:
    """The studies of the whole-archive inventory R-GET retrieved, with the keys tried."""
    return [
        {
            "StudyInstanceUID": st.study_instance_uid,
            "PatientID": st.patient_id or "",
            "StudyDate": st.study_date or "",
        }
        for st in iter_inventory(facts["retrieved_root"])
    ]


def _scope_check(kind: str) -> None:
    @CHECKS.check(
        f"C-SCOPE-{kind}",
        f"a scope key of matching type {kind.lower().replace('-', ' ')} selects exactly the "
        "matching studies",
        "PS3.4 KK.2.2.1.1, C.2.2.2",
        applies="R-GET retrieved a whole-archive inventory (to know what should match) and the "
        "archive has a value for such a key",
        needs=("retrieved_root",),
        when=_CREATION,
    )
    def scoped(run: _Run, facts: Facts) -> Verdict:
        """An inventory scoped by one key lists exactly the studies the key matches.

        These are the studies of the whole-archive inventory that the key matches (matched here
        by PS3.4 C.2.2.2 rules).
        """
        kit, listener = run.kit, run.listener()
        whole = _whole(facts)
        keys = _scope_keys(kind, whole)
        if keys is None:
            return not_applicable(f"the archive has no value for a {kind} key")
        try:
            scope = parse_scope(keys)
        except ScopeError as exc:
            return Verdict(Outcome.ERROR, [f"the kit built an invalid key {keys}: {exc}"])
        expected = {s["StudyInstanceUID"] for s in whole if scope.matches(s, s["StudyInstanceUID"])}
        txn, result = _initiate(kit, "STUDY", keys)
        shown = ", ".join(f"{k}={v}" for k, v in keys.items())
        ev = [f"Initiate STUDY with {shown}: {_status_text(result.status)}"]
        if result.status == Status.ATTRIBUTE_LIST_WARNING:
            _events(listener, txn, kit.timeout)
            return not_applicable(
                *ev, "the key is not supported for matching, and 0xB010 says so (allowed)"
            )
        if result.status != Status.SUCCESS:
            return failed(*ev, "expected 0x0000, or 0xB010 naming the key")
        _, final = _events(listener, txn, kit.timeout)
        if final is None or final.event_type != 11:
            return failed(*ev, "no event 11 for the scoped inventory")
        out = kit.work / f"scope-{kind.lower()}"
        root = str(final.info.ReferencedSOPInstanceUID)
        retrieve_inventory(
            _retrieve_peer(kit, final),
            root,
            out,
            calling_ae=kit.calling_ae,
            timeout=kit.dimse_timeout * 6,
        )
        got = {st.study_instance_uid for st in iter_inventory(out / f"{root}.dcm")}
        missing, extra = sorted(expected - got), sorted(got - expected)
        ev.append(
            f"{len(got)} studies listed; {len(expected)} of the {len(whole)} in the "
            "whole-archive inventory match"
        )
        problems = []
        if missing:
            problems.append(f"matching studies not listed: {', '.join(missing[:3])}")
        if extra:
            problems.append(f"studies listed that do not match: {', '.join(extra[:3])}")
        return judged(problems, ev)


for _kind in SCOPE_TYPES:
    _scope_check(_kind)
