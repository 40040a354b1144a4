"""``testkit scu``: the kit acts as an Inventory SCP, with faults at will, and judges a vendor's SCU.

The kit is our own node (:class:`~dicom_inventory.scp.server.InventoryNode`) over a small
synthetic archive, with its request handlers wrapped: every request the SCU sends is recorded
with the answer it got, and the N-EVENT-REPORTs with the SCU's answers come from the node's own
outbox. The faults bend what the node does, one scenario each:

``slow-events``
    production is paced so that the final event comes about `event_delay` seconds after the
    Initiate (the SCU must keep listening; Requested Status Interval gets event 12s meanwhile);
``failure``
    every Initiate is refused with `failure_status` (the SCU must not act on the transaction);
``split``
    the inventory is split every `split_records` study records into a tree of instances
    (PS3.3 C.38.2.3: the SCU must retrieve every instance, not only the root);
``partial-pages``
    Repository Query answers at most `page_records` records per response set, ending with
    0xB001 (PS3.4 C.6.4: the SCU must continue with Prior Record Key to the final 0x0000).

When the SCU is done (or the time is up), :meth:`ScuKitNode.report` judges what was recorded.
"""

from __future__ import annotations

import datetime
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dicom_inventory.conformance.testkit.registry import (
    Facts,
    Registry,
    Verdict,
    failed,
    not_applicable,
    passed,
)
from dicom_inventory.conformance.testkit.report import Report
from dicom_inventory.scope import check_scope_item, dataset_mapping
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import NodeConfig, load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scp.services.decode import (
    DecodeFailure,
    FailureKind,
    Service,
    request_dataset,
)
from dicom_inventory.scp.wire import B001_PLACEHOLDER
from dicom_inventory.scu.peer import Peer
from dicom_inventory.status import Status, is_failure, is_pending
from dicom_inventory.uid import (
    INVENTORY_FIND,
    INVENTORY_GET,
    INVENTORY_MOVE,
    REPOSITORY_QUERY,
    STORAGE_MANAGEMENT_SOP_INSTANCE,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    is_valid_uid,
)
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import evt

__all__ = ["CHECKS", "FAULTS", "Request", "ScuKit", "ScuKitNode"]

#: The faults the kit can switch on, and what each one does to the SCU under test.
FAULTS = {
    "slow-events": "the final event comes about --event-delay seconds after the Initiate",
    "failure": "every Initiate is refused with --failure-status",
    "split": "the inventory is split into a tree of instances (--split-records per instance)",
    "partial-pages": "Repository Query answers in partial pages ending with 0xB001",
}
_INITIATE, _CANCEL = 11, 13
_LEVELS = ("STUDY", "SERIES", "INSTANCE")
_INVENTORY_QR = (INVENTORY_FIND, INVENTORY_GET, INVENTORY_MOVE)


@dataclass
class ScuKit:
    """How the kit serves, and where the SCU under test receives its events.

    Parameters
    ----------
    peer : Peer
        The SCU under test: its AE title, and the host and port where it listens for
        N-EVENT-REPORTs (and C-MOVE sub-operations).
    ae_title, port : str, int
        The kit's own AE title and port (0: any free port, see :attr:`ScuKitNode.port`).
    faults : frozenset of str
        Names from :data:`FAULTS`.
    """

    peer: Peer
    ae_title: str = "INV_TESTKIT"
    port: int = 11112
    faults: frozenset[str] = frozenset()
    failure_status: int = 0x0213
    """Status every Initiate gets with the ``failure`` fault (PS3.4 Table KK.2.2.3-1)."""
    event_delay: float = 10.0
    """With ``slow-events``: seconds from the Initiate to the final event, roughly."""
    split_records: int = 3
    """With ``split``: study records per Inventory SOP Instance."""
    page_records: int = 3
    """With ``partial-pages``: records per Repository Query response set."""
    studies: int = 12
    """Studies in the kit's synthetic archive."""
    event_attempts: int = 6
    """Attempts to deliver each event before giving it up (0.5 s apart, doubling)."""
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="testkit-scu-")))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}: expected {', '.join(FAULTS)}")
        if not is_failure(self.failure_status):
            raise ValueError(
                f"failure status 0x{self.failure_status:04X} is not a failure "
                "(0x01xx, 0x02xx, 0xAxxx or 0xCxxx; PS3.7 C)"
            )

    def node_config(self) -> NodeConfig:
        """The configuration of the kit's node, with the faults applied."""
        limits: dict[str, Any] = {
            "event_backoff": 0.5,
            "event_attempts": self.event_attempts,
            "dimse_timeout": 30,
        }
        if "slow-events" in self.faults:
            limits["production_pace"] = self.event_delay / max(1, self.studies)
        if "split" in self.faults:
            limits["max_records"] = self.split_records
        if "partial-pages" in self.faults:
            limits["repository_query_limit"] = self.page_records
        return load_config(
            archive=self.work / "archive",
            port=self.port,
            ae_title=self.ae_title,
            peers={
                "SCU": {
                    "ae_title": self.peer.ae_title,
                    "host": self.peer.host,
                    "port": self.peer.port,
                }
            },
            limits=limits,
        )


@dataclass
class Request:
    """One request the SCU sent, and what the kit answered."""

    at: float
    calling_ae: str
    command: str
    """``N-ACTION``, ``C-FIND``, ``C-GET`` or ``C-MOVE``."""
    sop_class: str
    data: Dataset | None
    action_type: int | None = None
    sop_instance: str | None = None
    status: int | None = None
    comment: str = ""
    returned: list[Dataset] = field(default_factory=list)
    """The identifiers of the pending responses (C-FIND)."""
    refused_by_fault: bool = False
    wall: float = field(default_factory=time.time)
    """When it arrived (seconds since the epoch)."""

    def text(self, key: str) -> str:
        """The text value of `key` in the request's data set (empty if absent)."""
        value = None if self.data is None else self.data.get(key)
        return "" if value is None else str(value).strip()

    def describe(self) -> str:
        """The request in one line: command, SOP class, action and status."""
        what = f"{self.command} {self.action_type}" if self.action_type else self.command
        status = "no final response" if self.status is None else f"0x{self.status:04X}"
        return f"{what} ({UID(self.sop_class).name}) from {self.calling_ae}: {status}"


def _decoded(event: Any, service: Service) -> Dataset | None:
    """The request data set as the node's one decoder reads it; ``None`` if it cannot be read.

    Never pynetdicom's lazy ``event.identifier``, which inflates a deflated data set unbounded;
    the node's own handler answers an undecodable request.
    """
    service = _SERVICE_OF_CLASS.get(str(event.context.abstract_syntax), service)
    ds = request_dataset(event, service)
    if not isinstance(ds, DecodeFailure):
        return ds
    if ds.kind not in (FailureKind.INVALID, FailureKind.CHARSET):
        return None
    # Well-formed bytes (inflated within the decoder's bound) with a value the node refuses:
    # the kit reads them as sent, to judge the client's request by its own rules.
    try:
        lazy = (
            event.action_information if service is Service.INVENTORY_CREATION else event.identifier
        )
        lazy.walk(lambda _ds, _elem: None)  # every value converted now, inside the try
        return cast(Dataset, lazy)
    except Exception:  # noqa: BLE001 - anything pydicom raises: judged as undecodable
        return None


#: Classes other than the Inventory ones a client may use on the kit's node, by service.
_SERVICE_OF_CLASS = {
    str(REPOSITORY_QUERY): Service.REPOSITORY_QUERY,
    str(STUDY_ROOT_FIND): Service.STUDY_ROOT_FIND,
    str(STUDY_ROOT_GET): Service.STUDY_ROOT_RETRIEVE,
    str(STUDY_ROOT_MOVE): Service.STUDY_ROOT_RETRIEVE,
}


class ScuKitNode:
    """The kit's SCP on the network: records what the SCU does, then judges it."""

    def __init__(self, kit: ScuKit, on_request: Callable[[Request], None] | None = None) -> None:
        self.kit = kit
        self.on_request = on_request
        self.requests: list[Request] = []
        self.associations: list[str] = []
        self._lock = threading.Lock()
        self._open: dict[tuple[int, int], Request] = {}
        self._last = time.monotonic()
        self._kept: dict[str, list[dict[str, Any]]] = {}
        self.config = kit.node_config()
        if not (self.config.archive / "index.sqlite").exists():
            with Archive(self.config.archive, create=True) as a:
                synthesize(a, studies=kit.studies, series_per_study=2, instances_per_series=2)
        self.node = InventoryNode(self.config)

    # -- serving ------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen; the SCU may start."""
        server = self.node.start()
        for event, wrap in (
            (evt.EVT_N_ACTION, self._n_action),
            (evt.EVT_C_FIND, self._c_find),
            (evt.EVT_C_GET, self._retrieve),
            (evt.EVT_C_MOVE, self._retrieve),
        ):
            handler, args = server.get_handlers(event)
            server.bind(event, wrap, [handler, args or []])
        server.bind(evt.EVT_DIMSE_SENT, self._sent)
        server.bind(evt.EVT_ACCEPTED, self._association)
        server.bind(evt.EVT_REJECTED, self._association)

    @property
    def port(self) -> int:
        """The port the kit listens on."""
        return self.node.port

    def stop(self) -> None:
        """Stop serving (the recording, events included, stays for :meth:`report`)."""
        with self._lock:
            requests = list(self.requests)
        if self.node.creation is not None:
            self._kept = {txn: self.events(txn) for txn, _ in self._accepted_initiates(requests)}
        self.node.stop()

    def events(self, txn: str) -> list[dict[str, Any]]:
        """The N-EVENT-REPORTs of a transaction with their delivery state (the node's outbox)."""
        if txn in self._kept or self.node.jobs is None:
            return self._kept.get(txn, [])
        return self.node.jobs.events(txn)

    def _record(
        self, event: Any, command: str, data: Dataset | None, *, track: bool = False, **kw: Any
    ) -> Request:
        """Record a request; with `track`, its final response is matched in :meth:`_sent`."""
        req = event.request
        sop_class = getattr(req, "AffectedSOPClassUID", None) or getattr(
            req, "RequestedSOPClassUID", ""
        )
        rec = Request(
            time.monotonic(),
            str(event.assoc.requestor.ae_title).strip(),
            command,
            str(sop_class),
            data,
            **kw,
        )
        with self._lock:
            self.requests.append(rec)
            if track:
                self._open[(id(event.assoc), int(req.MessageID))] = rec
            self._last = rec.at
        return rec

    def _done(self, rec: Request) -> None:
        with self._lock:
            self._last = time.monotonic()
        if self.on_request is not None:
            self.on_request(rec)

    def _association(self, event: Any) -> None:
        assoc = event.assoc
        calling = str(assoc.requestor.ae_title).strip()
        if event.event.name == "EVT_REJECTED":
            line = f"{calling}: association rejected"
        else:
            classes = sorted({UID(str(cx.abstract_syntax)).name for cx in assoc.accepted_contexts})
            line = f"{calling}: accepted {', '.join(classes)}"
        with self._lock:
            self.associations.append(line)
            self._last = time.monotonic()

    def _n_action(self, event: Any, handler: Callable[..., Any], args: list[Any]) -> Any:
        req = event.request
        info = _decoded(event, Service.INVENTORY_CREATION) if req.ActionInformation else None
        rec = self._record(
            event,
            "N-ACTION",
            info,
            action_type=int(req.ActionTypeID),
            sop_instance=str(req.RequestedSOPInstanceUID),
        )
        if "failure" in self.kit.faults and rec.action_type == _INITIATE:
            status = Dataset()
            status.Status = self.kit.failure_status
            status.ErrorComment = "test kit fault 'failure': this request is refused"
            rec.refused_by_fault = True
            reply: tuple[Dataset, Any] = (status, None)
        else:
            reply = handler(event, *args)
        rec.status = int(reply[0].Status)
        rec.comment = str(reply[0].get("ErrorComment", ""))
        self._done(rec)
        return reply

    def _c_find(self, event: Any, handler: Callable[..., Any], args: list[Any]) -> Iterator[Any]:
        rec = self._record(event, "C-FIND", _decoded(event, Service.INVENTORY_FIND))
        for status, ident in handler(event, *args):
            code = int(status) if isinstance(status, int) else int(status.Status)
            if is_pending(code):
                if ident is not None:
                    rec.returned.append(ident)
            else:  # the node's 0xB001 goes out as a placeholder the wire fix rewrites
                rec.status = 0xB001 if code == B001_PLACEHOLDER else code
                self._done(rec)
            yield status, ident
        if rec.status is None:  # the handler ended: pynetdicom sends 0x0000
            rec.status = 0x0000
            self._done(rec)

    def _retrieve(self, event: Any, handler: Callable[..., Any], args: list[Any]) -> Iterator[Any]:
        command = "C-MOVE" if event.event.name == "EVT_C_MOVE" else "C-GET"
        self._record(event, command, _decoded(event, Service.INVENTORY_RETRIEVE), track=True)
        yield from handler(event, *args)  # the final status comes in _sent

    def _sent(self, event: Any) -> None:
        msg = event.message
        if type(msg).__name__ not in ("C_GET_RSP", "C_MOVE_RSP"):
            return
        cs = msg.command_set
        code = int(cs.Status)
        if is_pending(code):
            return
        with self._lock:
            rec = self._open.pop((id(event.assoc), int(cs.MessageIDBeingRespondedTo)), None)
        if rec is not None:
            rec.status = code
            self._done(rec)

    # -- progress -----------------------------------------------------------------------------
    def idle(self) -> float:
        """Seconds since the SCU last sent or was answered anything."""
        with self._lock:
            return time.monotonic() - self._last

    def finished(self) -> bool:
        """Whether a scenario has reached its end.

        The end is a refused Initiate, an event given up, event 11 followed by a retrieval, or
        a Repository Query page answered.

        :meth:`wait` adds quiet seconds after this, so that the SCU's further requests (the rest
        of a split tree, say) still count.
        """
        with self._lock:
            requests = list(self.requests)
        if any(
            r.action_type == _INITIATE and r.status is not None and is_failure(r.status)
            for r in requests
        ):  # refused (by a fault, or for a malformed request): nothing follows
            return True
        retrieving = bool(self._retrieved(requests))
        for txn, _ in self._accepted_initiates(requests):
            events = self.events(txn)
            if any(e["given_up"] for e in events):
                return True
            if retrieving and any(e["event_type"] == 11 and e["delivered"] for e in events):
                return True  # retrieval has begun; the idle time lets the rest of the tree come
        return any(
            r.command == "C-FIND" and r.sop_class == REPOSITORY_QUERY and r.status is not None
            for r in requests
        )  # a page answered: the idle time lets the next pages of the chain come

    def wait(self, timeout: float, idle: float = 2.0) -> bool:
        """Wait until :meth:`finished` and `idle` quiet seconds, or `timeout`; True if finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.finished() and self.idle() >= idle:
                return True
            time.sleep(0.2)
        return False

    # -- what was seen ------------------------------------------------------------------------
    @staticmethod
    def _accepted_initiates(requests: list[Request]) -> list[tuple[str, Request]]:
        return [
            (r.text("TransactionUID"), r)
            for r in requests
            if r.command == "N-ACTION"
            and r.action_type == _INITIATE
            and r.status is not None
            and not is_failure(r.status)
        ]

    def _tree(self, txn: str) -> set[str]:
        """The SOP Instance UIDs of the inventory produced for `txn` (root and parts)."""
        store = self.node.inventories
        folder = store.published(txn)
        if folder is None:
            return set()
        return {s.header.sop_instance_uid for s in store.inventories() if folder in s.path.parents}

    @staticmethod
    def _retrieved(requests: list[Request]) -> set[str]:
        """Inventory SOP Instance UIDs asked for by Inventory GET/MOVE that completed (0x0000)."""
        got: set[str] = set()
        for r in requests:
            if r.command in ("C-GET", "C-MOVE") and r.sop_class in _INVENTORY_QR and r.status == 0:
                got |= set(_uid_list(r.data))
        return got

    def report(self) -> Report:
        """Judge what the SCU did (call after :meth:`wait`, before or after :meth:`stop`)."""
        with self._lock:
            requests = list(self.requests)
        faults = ", ".join(sorted(self.kit.faults)) or "none"
        return CHECKS.run(
            _Seen(self, requests), Report("scu", f"{self.kit.peer} (faults: {faults})")
        )


def _uid_list(data: Dataset | None) -> list[str]:
    if data is None or "SOPInstanceUID" not in data:
        return []
    value = data.SOPInstanceUID
    values = [value] if isinstance(value, str) else list(value or [])
    return [str(v).strip() for v in values if str(v).strip()]


# -- the checks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Seen:
    """What the kit saw of the SCU: the node (its outbox, trees, faults) and every request."""

    node: ScuKitNode
    requests: list[Request]


#: The checks of the SCU kit, in the order they judge what was recorded.
CHECKS: Registry[_Seen] = Registry("scu")


@CHECKS.check(
    "U-ASSOCIATE",
    "the SCU associates and negotiates the classes it uses",
    "PS3.7 D.3.3; PS3.4 KK.1",
    applies="always",
)
def _associate(seen: _Seen, facts: Facts) -> Verdict:
    ev = list(seen.node.associations[:20])
    if not any("accepted" in a for a in seen.node.associations):
        return failed("no association was accepted: the SCU never talked to the kit", *ev)
    return passed(*ev)


@CHECKS.check(
    "U-INITIATE",
    "each Initiate is well formed: well-known instance, fresh Transaction UID, level, scope",
    "PS3.4 KK.2.2.1, KK.2.2.2, Table KK.2-1, PS3.3 C.38.2.1",
    applies="the SCU sent an Initiate",
)
def _initiate(seen: _Seen, facts: Facts) -> Verdict:
    initiates = [r for r in seen.requests if r.command == "N-ACTION" and r.action_type == _INITIATE]
    if not initiates:
        return not_applicable("the SCU sent no Initiate (Action Type ID 11)")
    ev: list[str] = []
    bad = False
    txns: set[str] = set()
    for r in initiates:
        problems = []
        if r.sop_instance != STORAGE_MANAGEMENT_SOP_INSTANCE:
            problems.append(
                f"Requested SOP Instance UID {r.sop_instance}, expected the well-known "
                f"{STORAGE_MANAGEMENT_SOP_INSTANCE}"
            )
        txn = r.text("TransactionUID")
        if r.data is None:
            problems.append("no Action Information")
        elif not txn:
            problems.append("Transaction UID (0008,1195) missing (Type 1)")
        elif not is_valid_uid(txn):
            problems.append(f"Transaction UID (0008,1195) {txn} is not a valid UID (PS3.5 9.1)")
        elif txn in txns:
            problems.append(f"Transaction UID {txn} reused: each request needs a fresh one")
        txns.add(txn)
        if r.data is not None and r.text("InventoryLevel") not in _LEVELS:
            problems.append(
                f"Inventory Level (0008,0403) {r.text('InventoryLevel') or '(empty)'}: expected "
                f"one of {', '.join(_LEVELS)}"
            )
        # The scope's structure by the rules the validator and our SCP apply: keys inside
        # their matching sequences; Extended Matching Mechanisms naming what goes beyond the
        # baseline of C.2.2.2 (KK.2.2.2). Range and List of UID matching are baseline.
        items = (r.data.get("ScopeOfInventorySequence") or []) if r.data is not None else []
        if len(items) > 1:
            problems.append(
                f"Scope of Inventory Sequence has {len(items)} items; zero or one is allowed "
                "(PS3.3 C.38.2.1.1.1)"
            )
        for item in items[:1]:
            problems += [
                f"{p.path}: {p.message}"
                for p in check_scope_item(dataset_mapping(item), values=True)
            ]
        if r.data is not None and "ScopeOfInventorySequence" not in r.data:
            problems.append(
                "Scope of Inventory Sequence (0008,0400) missing (Type 2: may be empty)"
            )
        ev.append(f"{r.describe()} {r.comment}".rstrip() + f", Transaction UID {txn or '-'}")
        ev += [f"  {p}" for p in problems]
        bad = bad or bool(problems)
    return failed(*ev) if bad else passed(*ev)


@CHECKS.check(
    "U-CONTROL",
    "Request Status, Cancel, Pause and Resume name a transaction the kit accepted",
    "PS3.4 KK.2.2.2, Table KK.2-1",
    applies="the SCU sent Request Status, Cancel, Pause or Resume",
)
def _control(seen: _Seen, facts: Facts) -> Verdict:
    requests = seen.requests
    accepted = {txn for txn, _ in ScuKitNode._accepted_initiates(requests)}
    refused = {r.text("TransactionUID") for r in requests if r.refused_by_fault}
    controls = [
        r
        for r in requests
        if r.command == "N-ACTION"
        and r.action_type != _INITIATE
        and r.text("TransactionUID") not in refused  # U-FAILURE judges those
    ]
    if not controls:
        return not_applicable("the SCU sent no Request Status, Cancel, Pause or Resume")
    ev: list[str] = []
    problems = 0
    for r in controls:
        ev.append(r.describe())
        txn = r.text("TransactionUID")
        if r.action_type not in (12, 13, 14, 15):
            ev.append(f"  Action Type ID {r.action_type}: expected 11 to 15")
        elif txn not in accepted:
            ev.append(f"  Transaction UID {txn or '(missing)'} is not one the kit accepted")
        elif r.action_type == _CANCEL and not r.text("RetainInstances"):
            ev.append("  Cancel without Retain Instances (0008,0415), which is Type 1")
        else:
            continue
        problems += 1
    return failed(*ev) if problems else passed(*ev)


@CHECKS.check(
    "U-EVENT-ACK",
    "the SCU takes every N-EVENT-REPORT on its listening AE and answers 0x0000",
    "PS3.4 KK.2.3; PS3.7 10.1.1",
    applies="the kit accepted an Initiate (so it sent events)",
)
def _event_ack(seen: _Seen, facts: Facts) -> Verdict:
    initiates = ScuKitNode._accepted_initiates(seen.requests)
    if not initiates:
        return not_applicable("no Initiate was accepted, so no event was sent")
    ev: list[str] = []
    bad = False
    for txn, r in initiates:
        for e in seen.node.events(txn):
            status = json.loads(e["info"]).get("TransactionStatus", "")
            what = f"event {e['event_type']} {status}".rstrip() + f" ({txn})"
            if e["delivered"]:
                after = datetime.datetime.fromisoformat(e["delivered"]).timestamp() - r.wall
                ev.append(
                    f"{what}: answered 0x0000 at the first attempt, about {max(0, after):.0f} s "
                    "after the Initiate"
                    if not e["attempts"]
                    else f"{what}: answered 0x0000 after {e['attempts'] + 1} attempts"
                )
            elif e["attempts"]:
                bad = True
                ev.append(
                    f"{what}: not delivered after {e['attempts']} attempt(s): {e['last_error']}"
                    + (" (given up)" if e["given_up"] else "")
                )
            else:
                ev.append(f"{what}: not yet sent")
    return failed(*ev) if bad else passed(*ev)


@CHECKS.check(
    "U-RETRIEVE",
    "after event 11 the SCU retrieves the whole inventory, every instance of a split tree",
    "PS3.4 KK.2.3.1.1, JJ.3; PS3.3 C.38.2.3",
    applies="the kit delivered an event 11",
)
def _retrieve(seen: _Seen, facts: Facts) -> Verdict:
    requests, node = seen.requests, seen.node
    got = ScuKitNode._retrieved(requests)
    gets = [
        r for r in requests if r.command in ("C-GET", "C-MOVE") and r.sop_class in _INVENTORY_QR
    ]
    finished = []
    for txn, _ in ScuKitNode._accepted_initiates(requests):
        events = node.events(txn)
        if any(e["event_type"] == 11 and e["delivered"] for e in events):
            finished.append(txn)
    if not finished:
        return not_applicable("no event 11 was delivered, so there was nothing to retrieve")
    ev: list[str] = []
    bad = False
    for txn in finished:
        tree = node._tree(txn)
        missing = sorted(tree - got)
        ev.append(
            f"{txn}: {len(tree)} instance(s) in the tree, {len(tree) - len(missing)} retrieved"
        )
        if missing:
            bad = True
            ev.append(
                f"  not retrieved: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
                + (
                    " (nothing at all over DIMSE: a File Access URI cannot be judged here)"
                    if len(missing) == len(tree)
                    else ""
                )
            )
    ev += [f"{r.describe()}: {len(_uid_list(r.data))} UID(s)" for r in gets[:10]]
    return failed(*ev) if bad else passed(*ev)


@CHECKS.check(
    "U-QR-IDENTIFIER",
    "Inventory FIND/GET/MOVE identifiers: no Query/Retrieve Level; GET/MOVE by SOP Instance UID",
    "PS3.4 JJ.3.1, JJ.3.2, JJ.3.3",
    applies="the SCU sent Inventory FIND, GET or MOVE",
)
def _identifiers(seen: _Seen, facts: Facts) -> Verdict:
    qr = [r for r in seen.requests if r.sop_class in _INVENTORY_QR]
    if not qr:
        return not_applicable("the SCU sent no Inventory FIND, GET or MOVE")
    ev: list[str] = []
    bad = False
    for r in qr:
        ev.append(r.describe())
        if r.data is not None and "QueryRetrieveLevel" in r.data:
            bad = True
            ev.append(
                f"  Query/Retrieve Level {r.text('QueryRetrieveLevel') or '(empty)'} is present: "
                "it shall not be (JJ.3.2)"
            )
        if r.command != "C-FIND":
            uids = _uid_list(r.data)
            invalid = [u for u in uids if not is_valid_uid(u)]
            if not uids or invalid:
                bad = True
                ev.append(
                    "  SOP Instance UID (0008,0018), the unique key, "
                    + (
                        f"holds invalid UIDs {', '.join(invalid[:3])}"
                        if invalid
                        else "is missing or empty"
                    )
                )
    return failed(*ev) if bad else passed(*ev)


@CHECKS.check(
    "U-FAILURE",
    "after a failure status the SCU does not act on the refused transaction",
    "PS3.4 KK.2.2.3 (Failure: the SCP is not processing the request)",
    applies="run with the 'failure' fault, and the SCU sent an Initiate",
)
def _failure(seen: _Seen, facts: Facts) -> Verdict:
    if "failure" not in seen.node.kit.faults:
        return not_applicable("run with the 'failure' fault to test this")
    requests = seen.requests
    refused = [r for r in requests if r.refused_by_fault]
    if not refused:
        return not_applicable("the SCU sent no Initiate")
    ev: list[str] = []
    bad = False
    for r in refused:
        txn = r.text("TransactionUID")
        later = [
            q
            for q in requests
            if q.at > r.at and q.command == "N-ACTION" and q.text("TransactionUID") == txn
        ]
        ev.append(f"Initiate {txn} refused with 0x{r.status or 0:04X}")
        if later:
            bad = True
            ev += [f"  then {q.describe()} for the refused transaction" for q in later]
        else:
            ev.append("  nothing more was sent for this transaction")
    if len(refused) > 1:
        ev.append(
            f"{len(refused) - 1} further Initiate(s) (U-INITIATE judges their Transaction UIDs)"
        )
    return failed(*ev) if bad else passed(*ev)


@CHECKS.check(
    "U-RQ-PAGING",
    "after a partial page (0xB001) the SCU continues with Prior Record Key to the final 0x0000",
    "PS3.4 C.6.4.5.1, C.6.4.5.3",
    applies="the SCU sent Repository Query and got a partial page (the 'partial-pages' fault)",
)
def _paging(seen: _Seen, facts: Facts) -> Verdict:
    rq = [r for r in seen.requests if r.command == "C-FIND" and r.sop_class == REPOSITORY_QUERY]
    if not rq:
        return not_applicable("the SCU sent no Repository Query")
    if not any(r.status == Status.PARTIAL_RESULTS for r in rq):
        return not_applicable(
            f"{len(rq)} Repository Query request(s), none answered with a partial page "
            "(the 'partial-pages' fault makes them partial)"
        )
    chains: list[list[Request]] = []
    for r in rq:  # a chain starts with a request without Prior Record Key
        if r.data is None or "PriorRecordKey" not in r.data or not chains:
            chains.append([r])
        else:
            chains[-1].append(r)
    ev: list[str] = []
    bad = False
    for chain in chains:
        sizes = ", ".join(
            f"{len(r.returned)}" + (f" (0x{r.status:04X})" if r.status is not None else "")
            for r in chain
        )
        ev.append(f"chain of {len(chain)} request(s): {sizes}")
        keys: list[bytes] = []
        for i, r in enumerate(chain):
            if i and r.data is not None:
                prior = bytes(r.data.PriorRecordKey or b"")
                if prior not in keys:
                    bad = True
                    ev.append(
                        f"  request {i + 1}: Prior Record Key {prior.hex() or '(empty)'} is not a "
                        "Record Key the kit returned in this chain"
                    )
                elif prior != keys[-1]:
                    ev.append(f"  request {i + 1}: resumed from an earlier Record Key (allowed)")
            if (
                r.status == Status.PARTIAL_RESULTS
                and r.data is not None
                and "RecordKey" not in r.data
            ):
                bad = True
                ev.append(
                    f"  request {i + 1}: Record Key (0008,041B) not asked for, so the pages are "
                    "unordered and cannot be continued (C.6.4.5.1)"
                )
            keys += [bytes(d.RecordKey) for d in r.returned if "RecordKey" in d]
        if chain[-1].status == Status.PARTIAL_RESULTS:
            bad = True
            ev.append(
                "  stopped after a partial page (0xB001): the rest of the repository was never "
                "asked for"
            )
    return failed(*ev) if bad else passed(*ev)
