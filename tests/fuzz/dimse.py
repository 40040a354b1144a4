"""The DIMSE side of the fuzz harness: a raw peer, the services it fuzzes and their seeds.

The raw peer sends request primitives whose data set (Identifier, Action Information, the
C-STORE data set) is given as bytes, exactly as mutated: pynetdicom's own ``send_c_find`` would
re-encode a ``Dataset``. Every request waits for its final response at most the peer's DIMSE
timeout (no response is a hang). The node's log is watched for tracebacks: a handler that
raises is answered by pynetdicom with a generic failure (0xC311, 0xC411, 0xC511, 0xC211, 0x0110)
without an Error Comment and a logged traceback, which the oracle counts as a failure.

Services (one per bound handler, :mod:`dicom_inventory.scp.contexts`): ``find``, ``get`` and
``move`` (Inventory FIND/GET/MOVE, PS3.4 JJ), ``repository-query`` (PS3.4 C.6.4), ``studyroot-
find``/``-get``/``-move`` (PS3.4 C.6.2), ``action`` (Inventory Creation N-ACTION 11-15, PS3.4
KK.2.2; the reproducer's name begins with the Action Type ID) and ``store`` (Inventory Storage
C-STORE, PS3.4 GG).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from dicom_inventory import InventoryLevel, encode_inventory, synthetic_studies
from dicom_inventory.status import Status
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.dimse_primitives import C_FIND, C_GET, C_MOVE, C_STORE, N_ACTION
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryFind,
    InventoryGet,
    InventoryMove,
    InventoryStorage,
    RepositoryQuery,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tests.fuzz.corpus import header
from tests.fuzz.oracle import Outcome
from tests.scp.raw_peer import WELL_KNOWN, raw_item

__all__ = [
    "GENERIC_FAILURES",
    "SERVICES",
    "Answer",
    "RawPeer",
    "Service",
    "TracebackWatch",
    "encoded",
    "judge_answer",
]

#: What pynetdicom answers when a handler raises (its default "unable to process" statuses).
GENERIC_FAILURES = frozenset({0xC311, 0xC411, 0xC511, 0xC211, 0x0110})
_FINAL_PENDING = {int(Status.PENDING), int(Status.PENDING_WARNING)}
MOVE_DESTINATION = "STORESCP"


def encoded(attrs: dict[str, Any]) -> bytes:
    """A data set written attribute by attribute (lists of dicts are sequences), in Explicit
    VR Little Endian: the bytes the mutators work on."""
    return bytes(encode(raw_item(attrs), False, True) or b"")


@dataclass(frozen=True)
class Service:
    """One DIMSE service of the node, and the good data sets the fuzz starts from."""

    name: str
    sop_class: str
    seeds: Callable[[dict[str, str]], list[bytes]]
    """Good data sets, given the node's known UIDs (``inventory``, ``transaction``)."""


def _find_seeds(uids: dict[str, str]) -> list[bytes]:
    return [
        encoded(
            {
                "SOPInstanceUID": "",
                "ContentDate": "20200101-",
                "InventoryLevel": "",
                "InventoryPurpose": "*",
                "InventoryCompletionStatus": "",
                "ScopeOfInventorySequence": [],
            }
        ),
        encoded({"SOPInstanceUID": [uids["inventory"], "2.25.1"], "TransactionUID": ""}),
    ]


def _get_seeds(uids: dict[str, str]) -> list[bytes]:
    return [encoded({"SOPInstanceUID": uids["inventory"]}), encoded({"TransactionUID": "2.25.5"})]


def _rq_seeds(uids: dict[str, str]) -> list[bytes]:
    return [
        encoded(
            {
                "QueryRetrieveLevel": "STUDY",
                "StudyInstanceUID": "",
                "PatientID": "*",
                "StudyDate": "20000101-20301231",
                "MaximumNumberOfRecords": 2,
                "ModalitiesInStudy": "",
            }
        ),
        encoded(
            {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "", "PriorRecordKey": b"\0\0\0\1"}
        ),
    ]


def _study_root_seeds(uids: dict[str, str]) -> list[bytes]:
    return [
        encoded({"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "", "PatientName": "D*"}),
        encoded(
            {
                "QueryRetrieveLevel": "SERIES",
                "StudyInstanceUID": uids["study"],
                "SeriesInstanceUID": "",
                "Modality": "",
            }
        ),
        encoded(
            {
                "QueryRetrieveLevel": "IMAGE",
                "SOPInstanceUID": "",
                "StudyInstanceUID": uids["study"],
                "SeriesInstanceUID": "",
            }
        ),
    ]


def _action_seeds(uids: dict[str, str]) -> list[bytes]:
    return [
        encoded(
            {
                "TransactionUID": "2.25.31",
                "InventoryLevel": "STUDY",
                "ScopeOfInventorySequence": [{"GeneralMatchingSequence": [{"PatientID": "P*"}]}],
                "InventoryPurpose": "fuzz",
                "RequestedStatusInterval": 5,
            }
        ),
        encoded({"TransactionUID": uids["transaction"]}),
    ]


def _store_seeds(uids: dict[str, str]) -> list[bytes]:
    data = encode_inventory(
        header(InventoryLevel.SERIES, "2.25.777"),
        synthetic_studies(2, series_per_study=1, level=InventoryLevel.SERIES),
    )
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    return [data[meta_end:]]


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("find", str(InventoryFind), _find_seeds),
        Service("get", str(InventoryGet), _get_seeds),
        Service("move", str(InventoryMove), _get_seeds),
        Service("repository-query", str(RepositoryQuery), _rq_seeds),
        Service(
            "studyroot-find", str(StudyRootQueryRetrieveInformationModelFind), _study_root_seeds
        ),
        Service("studyroot-get", str(StudyRootQueryRetrieveInformationModelGet), _study_root_seeds),
        Service(
            "studyroot-move", str(StudyRootQueryRetrieveInformationModelMove), _study_root_seeds
        ),
        Service("action", str(InventoryCreation), _action_seeds),
        Service("store", str(InventoryStorage), _store_seeds),
    )
}


class TracebackWatch(logging.Handler):
    """Collects the last line of every traceback logged (by our code or by pynetdicom)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            where = traceback.extract_tb(exc.__traceback__)
            at = (
                f" (at {where[-1].filename.rsplit('/', 2)[-2:]}:{where[-1].lineno})"
                if where
                else ""
            )
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]
            self.lines.append(f"{last}{at}")
        elif "Traceback (most recent call last)" in record.getMessage():
            self.lines.append(record.getMessage().strip().splitlines()[-1][:300])

    def __enter__(self) -> TracebackWatch:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


@dataclass
class Answer:
    """What the node answered one request: every status, or why there was none."""

    statuses: list[int] = field(default_factory=list)
    problem: str | None = None
    """``hang`` (no final response within the timeout) or ``abort`` (association gone)."""
    comment: str | None = None
    """Error Comment (0000,0902) of the final response."""


class RawPeer:
    """An association (re-made when lost) on which data sets go out as given bytes."""

    def __init__(self, port: int, timeout: float = 10.0, *, implicit: bool = False) -> None:
        self.port = port
        self.timeout = timeout
        self.ts = str(ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian)
        self.assoc: Any = None
        self.msg_id = 0

    def _connect(self) -> Any:
        ae = AE(ae_title="FUZZER")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        for s in SERVICES.values():
            ae.add_requested_context(s.sop_class, [self.ts])
        ae.add_requested_context(Verification, [self.ts])
        assoc = ae.associate("127.0.0.1", self.port, ae_title="INV_SCP")
        if not assoc.is_established:
            raise ConnectionError(f"association to port {self.port} not established")
        return assoc

    @property
    def live(self) -> Any:
        if self.assoc is None or not self.assoc.is_established:
            self.assoc = self._connect()
        return self.assoc

    def _context_id(self, uid: str) -> int:
        for cx in self.live.accepted_contexts:
            if str(cx.abstract_syntax) == uid:
                return int(cx.context_id)
        raise LookupError(f"{uid} not accepted")

    def send(self, service: str, data: bytes, action_type: int = 11) -> Answer:
        """Send one request of `service` with `data`; collect statuses until the final one."""
        s = SERVICES[service]
        req: Any
        if service == "action":
            req = N_ACTION()
            req.RequestedSOPClassUID = s.sop_class
            req.RequestedSOPInstanceUID = WELL_KNOWN
            req.ActionTypeID = action_type
            req.ActionInformation = BytesIO(data)
        elif service == "store":
            req = C_STORE()
            req.AffectedSOPClassUID = s.sop_class
            req.AffectedSOPInstanceUID = "2.25.777"
            req.Priority = 2
            req.DataSet = BytesIO(data)
        else:
            kind = "find" if service.endswith("query") else service.rsplit("-", 1)[-1]
            req = {"find": C_FIND, "get": C_GET, "move": C_MOVE}[kind]()
            req.AffectedSOPClassUID = s.sop_class
            req.Priority = 2
            req.Identifier = BytesIO(data)
            if service.endswith("move"):
                req.MoveDestination = MOVE_DESTINATION
        assoc = self.live
        self.msg_id += 1
        req.MessageID = self.msg_id
        answer = Answer()
        cx_id = self._context_id(s.sop_class)
        # pause the reactor while waiting, as pynetdicom's own send_*() do
        assoc._reactor_checkpoint.clear()
        while not assoc._is_paused:
            time.sleep(0.0001)
        try:
            assoc.dimse.send_msg(req, cx_id)
            while True:
                _, rsp = assoc.dimse.get_msg(block=True)
                if rsp is None:
                    answer.problem = "abort" if not assoc.is_established else "hang"
                    break
                status = getattr(rsp, "Status", None)
                if status is None:  # a request (a C-GET sub-operation): not offered, ignored
                    continue
                answer.statuses.append(int(status))
                if int(status) not in _FINAL_PENDING:
                    answer.comment = getattr(rsp, "ErrorComment", None) or None
                    break
        finally:
            assoc._reactor_checkpoint.set()
        if answer.problem is not None:
            self.close(abort=True)
        return answer

    def echo(self) -> int:
        status = self.live.send_c_echo()
        return int(getattr(status, "Status", -1))

    def close(self, *, abort: bool = False) -> None:
        if self.assoc is not None:
            if abort:
                self.assoc.abort()
            elif self.assoc.is_established:
                self.assoc.release()
        self.assoc = None


def judge_answer(target: str, answer: Answer, tracebacks: list[str]) -> Outcome:
    """The DIMSE oracle: a final response with a status, and no traceback in the node."""
    if answer.problem is not None:
        return Outcome(target, failure=f"{answer.problem}: no final response", kind=answer.problem)
    final = answer.statuses[-1] if answer.statuses else None
    if tracebacks:
        return Outcome(
            target,
            failure=f"0x{final or 0:04X} with traceback: {tracebacks[-1]}",
            kind="traceback",
        )
    if final in GENERIC_FAILURES and not answer.comment:
        # a deliberate status says why (e.g. 0x0110 for Cancel of a finished transaction,
        # PS3.4 KK.2.2.3); pynetdicom's answer for a handler that raised says nothing
        return Outcome(target, failure=f"0x{final:04X} (generic failure)", kind="generic")
    return Outcome(target, refused=None if final is None else f"0x{final:04X}")
