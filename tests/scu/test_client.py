"""scu/client.py on its own, against raw pynetdicom peers written here (not our node).

Each peer is a few lines of stock pynetdicom: an N-ACTION SCP answering one status, an SCP that
rejects or aborts, a C-FIND SCP, and an SCU that sends N-EVENT-REPORTs to :class:`EventListener`
with SCP/SCU Role Selection (the sender takes the SCP role, PS3.4 KK.2.3).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dicom_inventory.scu.client import (
    ActionResult,
    EventListener,
    InventoryEvent,
    PeerAborted,
    SCUError,
    inventory_find,
    new_transaction_uid,
    repository_query,
    send_action,
)
from dicom_inventory.scu.peer import Peer
from dicom_inventory.uid import (
    INVENTORY_CREATION,
    INVENTORY_FIND,
    REPOSITORY_QUERY,
    STORAGE_MANAGEMENT_SOP_INSTANCE,
    is_valid_uid,
)
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt

from tests.scp.raw_peer import free_port, study_page

SCP_AE = "RAW_SCP"
SCU_AE = "TEST_SCU"
TIMEOUT = 3.0


# ------------------------------------------------------------------------------ raw peers
class RawSCP:
    """A stock pynetdicom SCP of Inventory Creation, Inventory FIND and Repository Query.

    `on_action` and `on_find` are the handlers; (0000,1005) of an N-ACTION-RSP, which
    pynetdicom's primitive cannot carry, is added to the encoded command set through
    ``EVT_DIMSE_SENT`` when `attribute_list` is set.
    """

    def __init__(
        self,
        on_action: Callable[[Any], Any] | None = None,
        on_find: Callable[[Any], Any] | None = None,
        attribute_list: list[int] | None = None,
        contexts: tuple[str, ...] = (INVENTORY_CREATION, INVENTORY_FIND, REPOSITORY_QUERY),
        **ae_settings: Any,
    ) -> None:
        self.actions: list[tuple[int, Dataset | None, str, str]] = []
        self.queries: list[Dataset] = []
        self.attribute_list = attribute_list
        self._on_action = on_action or (lambda event: (0x0000, None))
        self._on_find = on_find
        ae = AE(ae_title=SCP_AE)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        for key, value in ae_settings.items():
            setattr(ae, key, value)
        for sop in contexts:
            ae.add_supported_context(sop)
        self.port = free_port()
        self.peer = Peer(SCP_AE, "127.0.0.1", self.port)
        self.server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_N_ACTION, self.action),
                (evt.EVT_C_FIND, self.find),
                (evt.EVT_DIMSE_SENT, self.sent),
            ],
        )

    def action(self, event: Any) -> Any:
        rq = event.request
        info = event.action_information if rq.ActionInformation is not None else None
        self.actions.append(
            (
                int(rq.ActionTypeID),
                info,
                str(rq.RequestedSOPClassUID),
                str(rq.RequestedSOPInstanceUID),
            )
        )
        return self._on_action(event)

    def find(self, event: Any) -> Iterator[Any]:
        self.queries.append(event.identifier)
        assert self._on_find is not None
        yield from self._on_find(event)

    def sent(self, event: Any) -> None:
        msg = event.message
        if type(msg).__name__ == "N_ACTION_RSP" and self.attribute_list:
            msg.command_set.add_new(0x00001005, "AT", self.attribute_list)
            msg._set_command_group_length()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def raw_scp() -> Iterator[Callable[..., RawSCP]]:
    started: list[RawSCP] = []

    def start(**kwargs: Any) -> RawSCP:
        scp = RawSCP(**kwargs)
        started.append(scp)
        return scp

    yield start
    for scp in started:
        scp.close()


def status(code: int, comment: str | None = None) -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment is not None:
        ds.ErrorComment = comment
    return ds


def initiate(uid: str = "2.25.1") -> Dataset:
    ds = Dataset()
    ds.TransactionUID = uid
    ds.InventoryLevel = "STUDY"
    return ds


def send_events(
    port: int, events: list[tuple[int, dict[str, Any]]], called: str = SCU_AE
) -> list[int]:
    """A raw SCU sending N-EVENT-REPORTs in the SCP role (role selection); their statuses."""
    ae = AE(ae_title=SCP_AE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    ae.add_requested_context(INVENTORY_CREATION)
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title=called,
        ext_neg=[build_role(INVENTORY_CREATION, scu_role=False, scp_role=True)],
    )
    assert assoc.is_established
    codes = []
    try:
        for etype, info in events:
            ds = Dataset()
            for k, v in info.items():
                setattr(ds, k, v)
            rsp, _ = assoc.send_n_event_report(
                ds, etype, INVENTORY_CREATION, STORAGE_MANAGEMENT_SOP_INSTANCE
            )
            codes.append(int(rsp.Status))
    finally:
        assoc.release()
    return codes


@pytest.fixture
def listener() -> Iterator[EventListener]:
    lst = EventListener(SCU_AE, free_port(), bind="127.0.0.1", timeout=TIMEOUT)
    yield lst
    lst.close()


def listener_port(lst: EventListener) -> int:
    return int(lst.server.server_address[1])


# ------------------------------------------------------------------------------ ActionResult
@pytest.mark.parametrize(
    ("code", "accepted"),
    [(0x0000, True), (0xB010, True), (0x0110, False), (0x0213, False), (0xC123, False)],
)
def test_action_result_accepted_is_success_or_the_scope_warning(code: int, accepted: bool) -> None:
    assert ActionResult(code).accepted is accepted


def test_action_result_describe_gives_code_words_comment_and_keys() -> None:
    assert ActionResult(0x0000).describe() == "0x0000 accepted"
    assert ActionResult(0x0213, "12 jobs").describe() == (
        "0x0213 resource limitation: the SCP has too many jobs: 12 jobs"
    )
    warned = ActionResult(0xB010, unsupported_keys=[0x00080090, 0x00100010])
    assert warned.describe().startswith("0xB010 accepted, but some scope keys")
    assert warned.describe().endswith(" ((0008,0090), (0010,0010))")
    assert ActionResult(0xC123).describe() == "0xC123 failure"  # a code without words


def test_inventory_event_transaction_uid_and_final() -> None:
    info = Dataset()
    info.TransactionUID = "2.25.9"
    assert [InventoryEvent(t, info, 0.0).final for t in (11, 12, 13)] == [True, False, True]
    assert InventoryEvent(12, info, 0.0).transaction_uid == "2.25.9"
    assert InventoryEvent(12, Dataset(), 0.0).transaction_uid == ""


def test_new_transaction_uid_is_a_fresh_valid_uid() -> None:
    uids = {new_transaction_uid() for _ in range(50)}
    assert len(uids) == 50
    assert all(is_valid_uid(u) and len(u) <= 64 for u in uids)


# ------------------------------------------------------------------------------ send_action
def test_send_action_success_reaches_the_well_known_instance(raw_scp: Any) -> None:
    scp = raw_scp()
    result = send_action(scp.peer, 1, initiate("2.25.77"), calling_ae=SCU_AE, timeout=TIMEOUT)
    assert result == ActionResult(0x0000, None, [])
    assert result.accepted and result.describe() == "0x0000 accepted"
    ((action_type, info, sop_class, instance),) = scp.actions
    assert action_type == 1 and sop_class == INVENTORY_CREATION
    assert instance == STORAGE_MANAGEMENT_SOP_INSTANCE
    assert info is not None and info.TransactionUID == "2.25.77"


def test_send_action_warning_b010_reads_the_attribute_identifier_list(raw_scp: Any) -> None:
    scp = raw_scp(on_action=lambda e: (0xB010, None), attribute_list=[0x00080090])
    result = send_action(scp.peer, 1, initiate(), calling_ae=SCU_AE, timeout=TIMEOUT)
    assert result.status == 0xB010 and result.accepted
    assert result.unsupported_keys == [0x00080090]
    assert result.describe().endswith("(0008,0090))")


def test_send_action_warning_b010_with_several_unsupported_keys(raw_scp: Any) -> None:
    scp = raw_scp(on_action=lambda e: (0xB010, None), attribute_list=[0x00080090, 0x00080080])
    result = send_action(scp.peer, 1, initiate(), calling_ae=SCU_AE, timeout=TIMEOUT)
    assert result.unsupported_keys == [0x00080090, 0x00080080]


def test_send_action_failure_keeps_the_error_comment(raw_scp: Any) -> None:
    scp = raw_scp(on_action=lambda e: (status(0x0213, "too many jobs"), None))
    result = send_action(scp.peer, 1, initiate(), calling_ae=SCU_AE, timeout=TIMEOUT)
    assert result.status == 0x0213 and not result.accepted
    assert result.comment == "too many jobs"
    assert result.describe() == (
        "0x0213 resource limitation: the SCP has too many jobs: too many jobs"
    )


def test_send_action_to_a_scp_rejecting_the_association_raises_scu_error(raw_scp: Any) -> None:
    scp = raw_scp(require_calling_aet=["SOMEONE_ELSE"])
    with pytest.raises(SCUError, match="association rejected") as info:
        send_action(scp.peer, 1, initiate(), calling_ae=SCU_AE, timeout=TIMEOUT)
    assert not isinstance(info.value, PeerAborted)
    # the peer's own words (PS3.8 7.1.1.9) and what to check
    assert "Rejected Permanent, Service User, Calling AE title not recognised" in str(info.value)
    assert repr(SCU_AE) in str(info.value)
    assert str(scp.peer) in str(info.value) and scp.actions == []


def test_send_action_to_nothing_listening_raises_scu_error() -> None:
    peer = Peer(SCP_AE, "127.0.0.1", free_port())
    with pytest.raises(SCUError, match="connection refused, or no answer within"):
        send_action(peer, 1, initiate(), calling_ae=SCU_AE, timeout=TIMEOUT)


def test_send_action_to_a_scp_that_aborts_raises_peer_aborted(raw_scp: Any) -> None:
    def abort(event: Any) -> tuple[int, None]:
        event.assoc.abort()
        return 0x0000, None

    scp = raw_scp(on_action=abort)
    with pytest.raises(PeerAborted, match="aborted the association"):
        send_action(scp.peer, 1, initiate(), calling_ae=SCU_AE, timeout=TIMEOUT)
    assert len(scp.actions) == 1


def _stalling_scp(raw_scp: Callable[..., RawSCP], release: threading.Event) -> RawSCP:
    def stall(event: Any) -> tuple[int, None]:
        release.wait(5)
        return 0x0000, None

    return raw_scp(on_action=stall)


def test_send_action_without_a_response_in_time_raises_scu_error(raw_scp: Any) -> None:
    release = threading.Event()
    scp = _stalling_scp(raw_scp, release)
    started = time.monotonic()
    try:
        with pytest.raises(SCUError):
            send_action(scp.peer, 1, initiate(), calling_ae=SCU_AE, timeout=0.5)
    finally:
        release.set()
    assert time.monotonic() - started < 3


def test_send_action_timeout_is_not_reported_as_the_peer_aborting(raw_scp: Any) -> None:
    release = threading.Event()
    scp = _stalling_scp(raw_scp, release)
    try:
        with pytest.raises(SCUError) as info:
            send_action(scp.peer, 1, initiate(), calling_ae=SCU_AE, timeout=0.5)
    finally:
        release.set()
    assert not isinstance(info.value, PeerAborted)
    assert "no response to the N-ACTION within 0.5 s" in str(info.value)


# ------------------------------------------------------------------------------ EventListener
def test_event_listener_receives_events_until_the_final_one(listener: EventListener) -> None:
    txn = "2.25.500"
    seen: list[InventoryEvent] = []
    codes = send_events(
        listener_port(listener),
        [
            (12, {"TransactionUID": txn, "TransactionStatus": "IN PROGRESS"}),
            (12, {"TransactionUID": "2.25.999", "TransactionStatus": "IN PROGRESS"}),
            (11, {"TransactionUID": txn, "TransactionStatus": "COMPLETE"}),
        ],
    )
    assert codes == [0x0000, 0x0000, 0x0000]
    final = listener.wait(txn, timeout=TIMEOUT, on_event=seen.append)
    assert final.event_type == 11 and final.final
    assert final.transaction_uid == txn and final.info.TransactionStatus == "COMPLETE"
    assert [(e.event_type, e.final) for e in seen] == [(12, False), (11, True)]
    assert seen[-1] is final and final.received <= time.time()
    # the other transaction's event is kept aside for diagnosis
    assert [e.transaction_uid for e in listener.unmatched] == ["2.25.999"]


def test_event_listener_final_canceled_event(listener: EventListener) -> None:
    txn = "2.25.501"
    send_events(
        listener_port(listener), [(13, {"TransactionUID": txn, "TransactionStatus": "CANCELED"})]
    )
    final = listener.wait(txn, timeout=TIMEOUT)
    assert final.event_type == 13 and final.final


def test_event_listener_accept_only_refuses_unknown_transactions(listener: EventListener) -> None:
    listener.accept_only(lambda uid: uid == "2.25.600")
    codes = send_events(
        listener_port(listener),
        [
            (12, {"TransactionUID": "2.25.601", "TransactionStatus": "IN PROGRESS"}),
            (11, {"TransactionUID": "2.25.600", "TransactionStatus": "COMPLETE"}),
        ],
    )
    assert codes == [0x0110, 0x0000]
    assert listener.wait("2.25.600", timeout=TIMEOUT).event_type == 11
    assert listener.unmatched == []  # the refused one was never queued


def test_event_listener_wait_times_out_without_a_final_event(listener: EventListener) -> None:
    send_events(
        listener_port(listener),
        [(12, {"TransactionUID": "2.25.700", "TransactionStatus": "IN PROGRESS"})],
    )
    started = time.monotonic()
    with pytest.raises(SCUError, match="no final event for 2.25.700"):
        listener.wait("2.25.700", timeout=0.3)
    assert time.monotonic() - started < 2


def test_event_listener_on_a_port_in_use_raises_scu_error(listener: EventListener) -> None:
    with pytest.raises(SCUError, match="cannot listen for events"):
        EventListener("OTHER", listener_port(listener), bind="127.0.0.1", timeout=TIMEOUT)


# ------------------------------------------------------------------------------ inventory_find
def _two_inventories(event: Any) -> Iterator[tuple[int, Dataset]]:
    for uid in ("2.25.11", "2.25.12"):
        ident = Dataset()
        ident.QueryRetrieveLevel = "INVENTORY"
        ident.SOPInstanceUID = uid
        yield 0xFF00, ident


def test_inventory_find_returns_every_pending_identifier(raw_scp: Any) -> None:
    scp = raw_scp(on_find=_two_inventories)
    found = inventory_find(
        scp.peer,
        {"QueryRetrieveLevel": "INVENTORY", "SOPInstanceUID": ""},
        calling_ae=SCU_AE,
        timeout=TIMEOUT,
    )
    assert [str(d.SOPInstanceUID) for d in found] == ["2.25.11", "2.25.12"]
    (query,) = scp.queries
    assert query.QueryRetrieveLevel == "INVENTORY" and query.SOPInstanceUID == ""


def test_inventory_find_failure_status_raises_scu_error(raw_scp: Any) -> None:
    def refuse(event: Any) -> Iterator[tuple[int, None]]:
        yield 0xA700, None

    scp = raw_scp(on_find=refuse)
    with pytest.raises(SCUError, match="ended with 0xA700"):
        inventory_find(scp.peer, {"QueryRetrieveLevel": "INVENTORY"}, timeout=TIMEOUT)


def test_inventory_find_against_a_scp_without_it_raises_scu_error(raw_scp: Any) -> None:
    scp = raw_scp(contexts=(INVENTORY_CREATION,))
    with pytest.raises(SCUError, match="accepted no presentation context for Inventory FIND"):
        inventory_find(scp.peer, {"QueryRetrieveLevel": "INVENTORY"}, timeout=TIMEOUT)


# ------------------------------------------------------------------------------ repository_query
UIDS = [f"2.25.{8000 + i}" for i in range(5)]


def test_repository_query_follows_partial_pages_with_prior_record_key(raw_scp: Any) -> None:
    # stock pynetdicom: after the handler's 0xB001 it sends its own 0x0000 as well
    scp = raw_scp(on_find=lambda e: study_page(UIDS, e.identifier))
    pages = list(
        repository_query(
            scp.peer, "STUDY", {"StudyInstanceUID": ""}, max_records=2, timeout=TIMEOUT
        )
    )
    assert [p.status for p in pages] == [0xB001, 0xB001, 0x0000]
    assert [p.partial for p in pages] == [True, True, False]
    assert [str(r.StudyInstanceUID) for p in pages for r in p.records] == UIDS
    assert ["PriorRecordKey" in q for q in scp.queries] == [False, True, True]
    assert all(int(q.MaximumNumberOfRecords) == 2 for q in scp.queries)


def test_repository_query_without_follow_gives_one_page(raw_scp: Any) -> None:
    scp = raw_scp(on_find=lambda e: study_page(UIDS, e.identifier))
    (page,) = repository_query(scp.peer, "STUDY", {}, max_records=3, follow=False, timeout=TIMEOUT)
    assert page.partial and len(page.records) == 3 and len(scp.queries) == 1


def test_repository_query_invalid_prior_record_key_is_named(raw_scp: Any) -> None:
    def pages(event: Any) -> Iterator[tuple[int, Any]]:
        if "PriorRecordKey" in event.identifier:
            yield 0xA710, None
        else:
            yield from study_page(UIDS, event.identifier)

    scp = raw_scp(on_find=pages)
    got = repository_query(scp.peer, "STUDY", {}, max_records=2, timeout=TIMEOUT)
    assert len(next(got).records) == 2
    with pytest.raises(
        SCUError, match=r"0xA710 \(Failure: Prior Record Key does not identify a continuation point"
    ):
        next(got)
