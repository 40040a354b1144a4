"""``testkit scp``: a battery of tests against a vendor's Inventory SCP, over real associations.

Built on our SCU (:mod:`dicom_inventory.scu.client`), which reads what pynetdicom's primitives
drop ((0000,1005) with 0xB010) and treats 0xB001 as final. The kit listens on its own AE for
the N-EVENT-REPORTs: the SCP must know that AE title, host and port.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_inventory.conformance.testkit.report import Outcome, Report, TestResult
from dicom_inventory.read import iter_inventory, read_header, resolve_tree
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.scope import ScopeError, parse_scope
from dicom_inventory.scu.client import (
    EventListener,
    InventoryEvent,
    PeerAborted,
    SCUError,
    inventory_find,
    move_inventory,
    new_transaction_uid,
    repository_query,
    retrieve_inventory,
    send_action,
)
from dicom_inventory.scu.crawl import CrawlError, StudyFinder
from dicom_inventory.scu.peer import Peer
from dicom_inventory.status import is_failure
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

__all__ = ["ScpKit", "run_scp_battery"]

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


def _timed(
    report: Report, id: str, title: str, section: str, fn: Callable[[], tuple[Outcome, list[str]]]
) -> TestResult:
    t0 = time.monotonic()
    try:
        outcome, evidence = fn()
    except PeerAborted as exc:  # it answered, by abort: the test ran and the SCP failed it
        outcome, evidence = (
            Outcome.FAIL,
            [
                str(exc),
                "an SCP that accepts a SOP class must answer its requests (PS3.7 D.3.3.2)",
            ],
        )
    except (SCUError, OSError, ValueError, KeyError, AttributeError) as exc:
        outcome, evidence = Outcome.ERROR, [f"{type(exc).__name__}: {exc}"]
    return report.add(TestResult(id, title, section, outcome, evidence, time.monotonic() - t0))


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


def _events(
    listener: EventListener, txn: str, timeout: float
) -> tuple[list[InventoryEvent], InventoryEvent | None]:
    seen: list[InventoryEvent] = []
    try:
        final = listener.wait(txn, timeout, seen.append)
    except SCUError:
        return seen, None
    return [e for e in seen if e is not final], final


#: Not a DA value nor a range: refused with a failure (PS3.7 C, 0x0115 Invalid argument value).
_INVALID_DATE = "2020010"


def _status_text(code: int) -> str:
    return f"0x{code:04X}"


def run_scp_battery(kit: ScpKit) -> Report:
    """Run every test; return the report (tests whose service is missing are not applicable)."""
    report = Report("scp", str(kit.peer))
    state: dict[str, Any] = {}

    def negotiate() -> tuple[Outcome, list[str]]:
        acc = _negotiate(kit)
        state["accepted"] = acc
        ev = [
            f"{UID(u).name}: {', '.join(sorted(UID(t).name for t in acc.get(u, ()))) or 'rejected'}"
            for u in (VERIFICATION, *_CLASSES)
        ]
        ok = INVENTORY_CREATION in acc and IMPLICIT in acc[INVENTORY_CREATION]
        if not ok:
            ev.insert(
                0,
                "Inventory Creation is not accepted in Implicit VR Little Endian, the default transfer syntax (PS3.5 10.1)",
            )
        return (Outcome.PASS if ok else Outcome.FAIL), ev

    _timed(
        report,
        "A-NEGOTIATE",
        "Inventory SOP classes negotiated (each in Explicit, Implicit and Deflated Explicit VR LE)",
        "PS3.4 KK.3, JJ.3, C.6.4; PS3.5 10.1",
        negotiate,
    )
    acc: dict[str, set[str]] = state.get("accepted", {})

    def echo() -> tuple[Outcome, list[str]]:
        if VERIFICATION not in acc:
            return Outcome.NOT_APPLICABLE, ["Verification not accepted"]
        ae = AE(ae_title=kit.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = kit.dimse_timeout
        ae.add_requested_context(VERIFICATION)
        assoc = ae.associate(kit.peer.host, kit.peer.port, ae_title=kit.peer.ae_title)
        status = assoc.send_c_echo() if assoc.is_established else None
        if assoc.is_established:
            assoc.release()
        code = int(status.Status) if status is not None and "Status" in status else None
        return (Outcome.PASS if code == 0 else Outcome.FAIL), [
            f"C-ECHO status {code if code is None else _status_text(code)}"
        ]

    _timed(report, "E-ECHO", "C-ECHO answered with Success", "PS3.4 A", echo)
    if INVENTORY_CREATION not in acc:
        for tid in (
            "C-INITIATE-STUDY",
            "C-INITIATE-SERIES",
            "C-INITIATE-INSTANCE",
            "C-UNSUPPORTED-KEY",
            "C-INVALID-KEY",
            "C-BAD-LEVEL",
            "C-DUPLICATE",
            "C-CANCEL",
            "C-PAUSE-RESUME",
            *(f"C-SCOPE-{kind}" for kind in SCOPE_TYPES),
        ):
            report.add(
                TestResult(
                    tid,
                    "Inventory Creation",
                    "PS3.4 KK",
                    Outcome.NOT_APPLICABLE,
                    ["Inventory Creation not negotiated"],
                )
            )
        _retrieval_tests(kit, report, acc, state)  # Repository Query may stand alone
        return report

    try:
        listener = EventListener(
            kit.calling_ae,
            kit.listen_port,
            timeout=kit.dimse_timeout,
            store_into=kit.work / "moved",
        )
    except SCUError as exc:
        report.add(
            TestResult(
                "C-LISTEN", "the kit listens for events", "PS3.4 KK.2.3", Outcome.ERROR, [str(exc)]
            )
        )
        return report
    try:
        _creation_tests(kit, report, listener, state)
        _retrieval_tests(kit, report, acc, state)  # R-MOVE stores into the listener
        _scope_tests(kit, report, listener, acc, state)
    finally:
        listener.close()
    return report


def _creation_tests(
    kit: ScpKit, report: Report, listener: EventListener, state: dict[str, Any]
) -> None:
    for level in ("STUDY", "SERIES", "INSTANCE"):

        def initiate(level: str = level) -> tuple[Outcome, list[str]]:
            t0 = time.monotonic()
            txn, result = _initiate(kit, level)
            ev = [
                f"N-ACTION Initiate ({level}): {_status_text(result.status)} {result.comment or ''}".rstrip()
            ]
            if result.status == 0x0212:
                return Outcome.NOT_APPLICABLE, [*ev, f"level {level} not supported (0x0212)"]
            if result.status != 0x0000:
                return Outcome.FAIL, [*ev, "expected 0x0000 for a request without scope keys"]
            seen, final = _events(listener, txn, kit.timeout)
            ev += [f"event {e.event_type} {e.info.get('TransactionStatus', '')}" for e in seen]
            if final is None:
                why = [
                    f"event {e.event_type} arrived without Transaction UID (0008,1195)"
                    for e in listener.unmatched
                    if not e.transaction_uid
                ]
                return Outcome.FAIL, [
                    *why,
                    *ev,
                    f"no final N-EVENT-REPORT (11 or 13) for {txn} within {kit.timeout:g} s",
                ]
            ev.append(
                f"final event {final.event_type} {final.info.get('TransactionStatus', '')}, "
                f"{time.monotonic() - t0:.1f} s after the Initiate"
            )
            problems = []
            for e in (*seen, final):
                if str(e.info.get("TransactionUID", "")) != txn:
                    problems.append(
                        f"event {e.event_type}: Transaction UID {e.info.get('TransactionUID')!r}, expected {txn}"
                    )
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
                state.setdefault("finished", {})[level] = final
            late, _ = _events(listener, txn, 0.5)
            if late:
                problems.append(f"{len(late)} event(s) after the final one")
            return (Outcome.FAIL if problems else Outcome.PASS), problems + ev

        _timed(
            report,
            f"C-INITIATE-{level}",
            f"Initiate at level {level}: accepted, events, final event complete",
            "PS3.4 KK.2.2, KK.2.3, Table KK.2-2",
            initiate,
        )

    def unsupported() -> tuple[Outcome, list[str]]:
        _, result = _initiate(kit, "STUDY", {"PatientComments": "x*"})
        ev = [
            f"Initiate with Patient Comments (0010,4000) as scope key: {_status_text(result.status)}"
        ]
        listed = [f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in result.unsupported_keys]
        if result.status == 0xB010:
            ok = 0x00104000 in result.unsupported_keys
            return (Outcome.PASS if ok else Outcome.FAIL), [
                *ev,
                f"Attribute Identifier List (0000,1005): {', '.join(listed) or 'missing'}",
            ]
        if result.status == 0x0000:
            return Outcome.FAIL, [
                *ev,
                "expected 0xB010: a key not supported for matching was silently ignored",
            ]
        return Outcome.FAIL, [*ev, "expected 0xB010 (or acceptance if the key is supported)"]

    _timed(
        report,
        "C-UNSUPPORTED-KEY",
        "an unsupported scope key gets the warning 0xB010 listing it",
        "PS3.4 KK.2.2.3",
        unsupported,
    )

    def invalid_value() -> tuple[Outcome, list[str]]:
        txn, result = _initiate(kit, "STUDY", {"StudyDate": _INVALID_DATE})
        ev = [
            f"Initiate with Study Date {_INVALID_DATE!r} (7 digits): {_status_text(result.status)}"
        ]
        if result.status == 0xB010 and 0x00080020 in result.unsupported_keys:
            _events(listener, txn, kit.timeout)
            return Outcome.NOT_APPLICABLE, [*ev, "Study Date is not supported for matching"]
        if is_failure(result.status):
            return Outcome.PASS, ev
        _events(listener, txn, kit.timeout)
        return Outcome.FAIL, [
            *ev,
            "expected a failure status: the value is neither a date nor a range (PS3.5 6.2 DA, "
            "PS3.4 C.2.2.2.5)",
        ]

    _timed(
        report,
        "C-INVALID-KEY",
        "a scope key with an invalid value is refused with a failure status",
        "PS3.4 KK.2.2.3, C.2.2.2.5; PS3.7 10.1.4.1.10",
        invalid_value,
    )

    def bad_level() -> tuple[Outcome, list[str]]:
        _, result = _initiate(kit, "PATIENT")
        ev = [f"Initiate at level PATIENT: {_status_text(result.status)}"]
        ok = is_failure(result.status)
        return (Outcome.PASS if ok else Outcome.FAIL), ev + (
            []
            if ok
            else ["expected a failure status: PATIENT is not an Inventory Level (C.38.1.1.3)"]
        )

    _timed(
        report,
        "C-BAD-LEVEL",
        "an invalid Inventory Level is refused",
        "PS3.4 KK.2.2.3, PS3.3 C.38.1.1.3",
        bad_level,
    )

    def duplicate() -> tuple[Outcome, list[str]]:
        txn, first = _initiate(kit, "STUDY")
        _events(listener, txn, kit.timeout)
        _, again = _initiate(kit, "STUDY", uid=txn)
        ev = [
            f"first Initiate {_status_text(first.status)}, same Transaction UID again {_status_text(again.status)}"
        ]
        ok = again.status not in (0x0000, 0xB010)
        return (Outcome.PASS if ok else Outcome.FAIL), ev + (
            [] if ok else ["a reused Transaction UID was accepted"]
        )

    _timed(report, "C-DUPLICATE", "a reused Transaction UID is refused", "PS3.4 KK.2.2", duplicate)

    def cancel() -> tuple[Outcome, list[str]]:
        txn, result = _initiate(kit, "INSTANCE")
        info = Dataset()
        info.TransactionUID = txn
        info.RetainInstances = "NO"
        c = send_action(kit.peer, 13, info, calling_ae=kit.calling_ae, timeout=kit.dimse_timeout)
        seen, final = _events(listener, txn, kit.timeout)
        ev = [
            f"Initiate {_status_text(result.status)}, Cancel {_status_text(c.status)}",
            *(f"event {e.event_type}" for e in seen),
        ]
        if final is None:
            return Outcome.FAIL, [*ev, "no final event after Cancel"]
        ev.append(f"final event {final.event_type} {final.info.get('TransactionStatus', '')}")
        if c.status == 0x0110 and final.event_type == 11:
            return Outcome.NOT_APPLICABLE, [*ev, "the job finished before the Cancel arrived"]
        ok = (
            c.status == 0x0000
            and final.event_type == 13
            and final.info.get("TransactionStatus") == "CANCELED"
        )
        return (Outcome.PASS if ok else Outcome.FAIL), ev + (
            [] if ok else ["expected 0x0000 and event 13 with Transaction Status CANCELED"]
        )

    _timed(
        report,
        "C-CANCEL",
        "Cancel ends the job with event 13, CANCELED",
        "PS3.4 KK.2.2, KK.2.3",
        cancel,
    )

    def pause_resume() -> tuple[Outcome, list[str]]:
        txn, result = _initiate(kit, "INSTANCE")
        info = Dataset()
        info.TransactionUID = txn
        p = send_action(kit.peer, 14, info, calling_ae=kit.calling_ae, timeout=kit.dimse_timeout)
        ev = [f"Initiate {_status_text(result.status)}, Pause {_status_text(p.status)}"]
        if p.status in (0x0123, 0x0211):  # no such action / unrecognized operation
            _events(listener, txn, kit.timeout)
            return Outcome.NOT_APPLICABLE, [*ev, "Pause is not supported (optional)"]
        if p.status == 0x0110:
            _events(listener, txn, kit.timeout)
            return Outcome.NOT_APPLICABLE, [*ev, "the job finished before the Pause arrived"]
        paused: list[InventoryEvent] = []
        deadline = time.monotonic() + kit.timeout
        while not paused and time.monotonic() < deadline:
            seen, final = _events(listener, txn, min(2.0, kit.timeout))
            paused = [e for e in seen if e.info.get("TransactionStatus") == "PAUSED"]
            if final is not None:
                return Outcome.NOT_APPLICABLE if not paused else Outcome.FAIL, [
                    *ev,
                    f"final event {final.event_type} before or while paused",
                ]
        r = send_action(kit.peer, 15, info, calling_ae=kit.calling_ae, timeout=kit.dimse_timeout)
        ev += [f"event 12 PAUSED: {'yes' if paused else 'no'}", f"Resume {_status_text(r.status)}"]
        seen, final = _events(listener, txn, kit.timeout)
        ev += [f"event {e.event_type} {e.info.get('TransactionStatus', '')}" for e in seen]
        ok = bool(paused) and r.status == 0x0000 and final is not None and final.event_type == 11
        if final is not None:
            ev.append(f"final event {final.event_type} {final.info.get('TransactionStatus', '')}")
        return (Outcome.PASS if ok else Outcome.FAIL), ev + (
            [] if ok else ["expected event 12 PAUSED, Resume 0x0000, then event 11"]
        )

    _timed(
        report,
        "C-PAUSE-RESUME",
        "Pause reports PAUSED; Resume finishes the job (where Pause is supported)",
        "PS3.4 KK.2.2, KK.2.3",
        pause_resume,
    )


def _retrieval_tests(
    kit: ScpKit, report: Report, acc: dict[str, set[str]], state: dict[str, Any]
) -> None:
    final = state.get("finished", {}).get("INSTANCE") or next(
        iter(state.get("finished", {}).values()), None
    )

    def get() -> tuple[Outcome, list[str]]:
        if INVENTORY_GET not in acc or final is None:
            return Outcome.NOT_APPLICABLE, [
                "no Inventory GET, or no finished inventory to retrieve"
            ]
        root = str(final.info.ReferencedSOPInstanceUID)
        ae_title = str(final.info.get("RetrieveAETitle") or kit.peer.ae_title)
        out = kit.work / "get"
        files = retrieve_inventory(
            Peer(ae_title, kit.peer.host, kit.peer.port),
            root,
            out,
            calling_ae=kit.calling_ae,
            timeout=kit.dimse_timeout * 6,
        )
        tree = resolve_tree(out / f"{root}.dcm")
        errors = [
            f"{p.name}: {f.rule} {f.message}"
            for p in out.glob("*.dcm")
            for f in validate_file(p)
            if f.severity is Severity.ERROR
        ]
        total = read_header(tree.path).total_number_of_study_records
        ev = [
            f"{len(files)} instance(s) retrieved, root {root}",
            f"root Total Number of Study Records {total}, event 11 said {final.info.get('TotalNumberOfStudyRecords')}",
        ]
        state["retrieved_total"] = total
        state["retrieved_root"] = tree.path
        state["retrieved_files"] = len(list(out.glob("*.dcm")))
        problems = errors[:20]
        if total != final.info.get("TotalNumberOfStudyRecords"):
            problems.append("the root's total differs from the event's")
        return (Outcome.FAIL if problems else Outcome.PASS), problems + ev

    _timed(
        report,
        "R-GET",
        "the inventory retrieved by Inventory GET, whole tree, valid",
        "PS3.4 JJ, PS3.3 A.88, C.38.2.3",
        get,
    )

    def move() -> tuple[Outcome, list[str]]:
        if INVENTORY_MOVE not in acc or final is None:
            return Outcome.NOT_APPLICABLE, ["no Inventory MOVE, or no finished inventory"]
        root = str(final.info.ReferencedSOPInstanceUID)
        ae_title = str(final.info.get("RetrieveAETitle") or kit.peer.ae_title)
        try:
            files = move_inventory(
                Peer(ae_title, kit.peer.host, kit.peer.port),
                root,
                kit.calling_ae,
                kit.work / "moved",
                calling_ae=kit.calling_ae,
                timeout=kit.dimse_timeout * 6,
            )
        except SCUError as exc:
            if "0xA801" in str(exc):
                return Outcome.NOT_APPLICABLE, [
                    str(exc),
                    f"configure {kit.calling_ae} (this host, port {kit.listen_port}) as a move "
                    "destination to run this test",
                ]
            return Outcome.FAIL, [str(exc)]
        got = state.get("retrieved_files")
        ev = [f"{len(files)} instance(s) moved to {kit.calling_ae}"]
        if got is not None and len(files) != got:
            return Outcome.FAIL, [*ev, f"Inventory GET gave {got}"]
        return Outcome.PASS, ev

    _timed(
        report,
        "R-MOVE",
        "the inventory moved by Inventory MOVE to the kit, whole tree",
        "PS3.4 JJ, C.4.2",
        move,
    )

    def find() -> tuple[Outcome, list[str]]:
        if INVENTORY_FIND not in acc or final is None:
            return Outcome.NOT_APPLICABLE, ["no Inventory FIND, or no finished inventory"]
        root = str(final.info.ReferencedSOPInstanceUID)
        found = inventory_find(
            kit.peer,
            {"SOPInstanceUID": root, "InventoryLevel": ""},
            calling_ae=kit.calling_ae,
            timeout=kit.dimse_timeout,
        )
        uids = [str(d.get("SOPInstanceUID", "")) for d in found]
        ok = uids == [root]
        return (Outcome.PASS if ok else Outcome.FAIL), [
            f"FIND by SOP Instance UID {root}: {len(uids)} match(es) {uids[:3]}"
        ]

    _timed(
        report,
        "Q-FIND",
        "Inventory FIND by SOP Instance UID returns exactly that inventory",
        "PS3.4 JJ.2",
        find,
    )

    def paging() -> tuple[Outcome, list[str]]:
        if REPOSITORY_QUERY not in acc:
            return Outcome.NOT_APPLICABLE, ["Repository Query not negotiated"]
        keys: list[str] = []
        pages = []
        problems: list[str] = []
        for page in repository_query(
            kit.peer,
            "STUDY",
            {"StudyInstanceUID": ""},
            max_records=10,
            calling_ae=kit.calling_ae,
            timeout=kit.dimse_timeout,
        ):
            pages.append(f"{len(page.records)}{' (0xB001)' if page.partial else ''}")
            keys += [str(r.get("StudyInstanceUID", "")) for r in page.records]
            if len(page.records) > 10:
                problems.append(
                    f"a page of {len(page.records)} records: Maximum Number of Records was 10"
                )
            keyless = sum(1 for r in page.records if not r.get("RecordKey"))
            if keyless:
                problems.append(
                    f"{keyless} record(s) without the Record Key (0008,041B) the query asked for "
                    "(C.6.4.1.1, C.6.4.5.1)"
                )
        repeated = len(keys) - len(set(keys))
        state["rq_studies"] = len(set(keys))
        ev = [
            f"{len(pages)} page(s): {', '.join(pages[:20])}",
            f"{len(keys)} record(s), {repeated} repeated",
        ]
        if repeated:
            problems.append(f"{repeated} record(s) returned twice across pages")
        if not keys and not problems:
            return Outcome.NOT_APPLICABLE, [*ev, "no study returned: nothing to page through"]
        return (Outcome.FAIL if problems else Outcome.PASS), problems + ev

    _timed(
        report,
        "Q-RQ-PAGING",
        "Repository Query pages (Maximum Number of Records 10) return every study once, each with its Record Key",
        "PS3.4 C.6.4.5",
        paging,
    )

    def counts() -> tuple[Outcome, list[str]]:
        total = state.get("retrieved_total")
        if total is None or "INSTANCE" not in state.get("finished", {}):
            return Outcome.NOT_APPLICABLE, ["needs a retrieved whole-archive inventory"]
        studies, source = state.get("rq_studies"), "Repository Query"
        if studies is None and STUDY_ROOT_FIND in acc:
            studies, final = _study_root_count(kit)
            source = "Study Root C-FIND"
            if final != 0x0000:
                return Outcome.NOT_APPLICABLE, [
                    f"Study Root C-FIND ended with 0x{final:04X} after {studies} studies: "
                    "the archive's count is unknown (a result cap?)"
                ]
        if studies is None:
            return Outcome.NOT_APPLICABLE, ["neither Repository Query nor Study Root C-FIND"]
        ok = total == studies
        return (Outcome.PASS if ok else Outcome.FAIL), [
            f"inventory: {total} study records; {source}: {studies} studies"
        ]

    _timed(
        report,
        "R-COUNTS",
        "the inventory lists as many studies as Repository Query (or Study Root C-FIND) of the archive",
        "PS3.4 KK.2.1, C.6.4, C.6.2",
        counts,
    )


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


#: Scope of Inventory keys tried one matching type at a time (PS3.4 C.2.2.2, KK.2.2.1.1).
SCOPE_TYPES = ("SINGLE", "WILDCARD", "RANGE", "UID-LIST")


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


def _scope_tests(
    kit: ScpKit,
    report: Report,
    listener: EventListener,
    acc: dict[str, set[str]],
    state: dict[str, Any],
) -> None:
    """C-SCOPE-*: an inventory scoped by one key lists exactly the studies of the whole-archive
    inventory that the key matches (matched here by PS3.4 C.2.2.2 rules)."""
    whole: list[dict[str, str]] | None = None
    root = state.get("retrieved_root")
    if root is not None:
        whole = [
            {
                "StudyInstanceUID": st.study_instance_uid,
                "PatientID": st.patient_id or "",
                "StudyDate": st.study_date or "",
            }
            for st in iter_inventory(root)
        ]
    for kind in SCOPE_TYPES:

        def scoped(kind: str = kind) -> tuple[Outcome, list[str]]:
            if whole is None or INVENTORY_GET not in acc:
                return Outcome.NOT_APPLICABLE, [
                    "needs the whole-archive inventory (R-GET) to know what should match"
                ]
            keys = _scope_keys(kind, whole)
            if keys is None:
                return Outcome.NOT_APPLICABLE, [f"the archive has no value for a {kind} key"]
            try:
                scope = parse_scope(keys)
            except ScopeError as exc:
                return Outcome.ERROR, [f"the kit built an invalid key {keys}: {exc}"]
            expected = {
                s["StudyInstanceUID"] for s in whole if scope.matches(s, s["StudyInstanceUID"])
            }
            txn, result = _initiate(kit, "STUDY", keys)
            ev = [f"Initiate STUDY with {keys}: {_status_text(result.status)}"]
            if result.status == 0xB010:
                _events(listener, txn, kit.timeout)
                return Outcome.NOT_APPLICABLE, [
                    *ev,
                    "the key is not supported for matching, and 0xB010 says so (allowed)",
                ]
            if result.status != 0x0000:
                return Outcome.FAIL, [*ev, "expected 0x0000, or 0xB010 naming the key"]
            _, final = _events(listener, txn, kit.timeout)
            if final is None or final.event_type != 11:
                return Outcome.FAIL, [*ev, "no event 11 for the scoped inventory"]
            out = kit.work / f"scope-{kind.lower()}"
            retrieve_inventory(
                Peer(
                    str(final.info.get("RetrieveAETitle") or kit.peer.ae_title),
                    kit.peer.host,
                    kit.peer.port,
                ),
                str(final.info.ReferencedSOPInstanceUID),
                out,
                calling_ae=kit.calling_ae,
                timeout=kit.dimse_timeout * 6,
            )
            got = {
                st.study_instance_uid
                for st in iter_inventory(out / f"{final.info.ReferencedSOPInstanceUID}.dcm")
            }
            missing, extra = sorted(expected - got), sorted(got - expected)
            ev.append(
                f"{len(got)} studies listed; {len(expected)} of the {len(whole)} in the "
                "whole-archive inventory match"
            )
            if missing:
                ev.append(f"matching studies not listed: {', '.join(missing[:3])}")
            if extra:
                ev.append(f"studies listed that do not match: {', '.join(extra[:3])}")
            return (Outcome.FAIL if missing or extra else Outcome.PASS), ev

        _timed(
            report,
            f"C-SCOPE-{kind}",
            f"a scope key of matching type {kind.lower().replace('-', ' ')} selects exactly the "
            "matching studies",
            "PS3.4 KK.2.2.1.1, C.2.2.2",
            scoped,
        )
