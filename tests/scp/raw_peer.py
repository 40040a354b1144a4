"""An independent Inventory Creation requester written with raw pynetdicom (not our SCU).

It sends N-ACTIONs and listens, on its own port, for the N-EVENT-REPORTs the node sends on a
new association; it records the command set of every response it receives (EVT_DIMSE_RECV),
so tests can see what is on the wire, e.g. (0000,1005) that pynetdicom's primitives drop.
"""

from __future__ import annotations

import queue
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryGet,
    InventoryMove,
    InventoryStorage,
    RepositoryQuery,
    StudyRootQueryRetrieveInformationModelFind,
)

WELL_KNOWN = "1.2.840.10008.5.1.4.1.1.201.1.1"


def raw_item(attrs: dict[str, Any]) -> Dataset:
    """A data set written attribute by attribute with plain pydicom, as another vendor's SCU
    would: a list of dicts is a sequence of items. The Scope of Inventory item in the standard
    form is spelled out by the test, e.g. ``{"GeneralMatchingSequence": [{"PatientID": "P*"}]}``
    (PS3.3 C.38.2.1), so that the test, not our library, says what goes on the wire."""
    ds = Dataset()
    for k, v in attrs.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            v = [raw_item(x) for x in v]
        setattr(ds, k, v)
    return ds


def write_node_toml(
    folder: Path,
    archive: Path,
    port: int,
    requester: tuple[str, int],
    limits: dict[str, float],
    extra: str = "",
) -> Path:
    """Write ``folder/node.toml`` for a ``dicom-inventory serve`` child and return its path.

    The node is ``INV_SCP`` on `port` over `archive`, with the `limits` given and one peer,
    ``REQ``: the test's requester (AE title, port on 127.0.0.1) its events go to; `extra` is
    appended (more sections).
    """
    config = folder / "node.toml"
    config.write_text(
        f'ae_title = "INV_SCP"\nport = {port}\narchive = "{archive}"\n[limits]\n'
        + "".join(f"{k} = {v}\n" for k, v in limits.items())
        + f'[peers.REQ]\nae_title = "{requester[0]}"\nhost = "127.0.0.1"\nport = {requester[1]}\n'
        + extra
    )
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on port {port}")
        time.sleep(0.05)


class Requester:
    """Raw pynetdicom SCU of Inventory Creation with an event listener."""

    def __init__(self, ae_title: str = "REQUESTER", port: int | None = None) -> None:
        self.ae_title = ae_title
        self.port = port or free_port()
        self.events: queue.Queue[tuple[int, Dataset, str]] = queue.Queue()
        self.commands: list[Dataset] = []
        self.server: Any = None
        self.event_status = 0x0000

    # -- listening for events ----------------------------------------------------------------
    def listen(self) -> Requester:
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        # the node takes the SCP role for N-EVENT-REPORT (role selection, as Storage Commitment)
        ae.add_supported_context(InventoryCreation, scu_role=False, scp_role=True)

        def on_report(event: Any) -> tuple[int, None]:
            ds = event.event_information
            self.events.put(
                (int(event.request.EventTypeID), ds, str(event.request.AffectedSOPInstanceUID))
            )
            return self.event_status, None

        self.server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)],
        )
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    def next_event(self, timeout: float = 20.0) -> tuple[int, Dataset, str]:
        return self.events.get(timeout=timeout)

    def until_final(
        self, timeout: float = 30.0
    ) -> tuple[list[tuple[int, Dataset, str]], tuple[int, Dataset, str]]:
        """Events up to the first 11 or 13: (status events, final event)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next_event(max(0.1, deadline - time.monotonic()))
            if ev[0] in (11, 13):
                return seen, ev
            seen.append(ev)

    # -- requests -----------------------------------------------------------------------------
    def action(
        self,
        node_port: int,
        action_type: int,
        info: Dataset | None,
        called: str = "INV_SCP",
        instance: str = WELL_KNOWN,
    ) -> Dataset:
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        ae.add_requested_context(InventoryCreation)

        def on_recv(event: Any) -> None:
            self.commands.append(event.message.command_set)

        assoc = ae.associate(
            "127.0.0.1", node_port, ae_title=called, evt_handlers=[(evt.EVT_DIMSE_RECV, on_recv)]
        )
        assert assoc.is_established
        try:
            status, _ = assoc.send_n_action(info, action_type, InventoryCreation, instance)
        finally:
            assoc.release()
        return status

    def initiate(
        self,
        node_port: int,
        uid: str,
        level: str = "INSTANCE",
        scope: dict[str, Any] | None = None,
        interval: int | None = None,
        **extra: Any,
    ) -> Dataset:
        ds = Dataset()
        ds.TransactionUID = uid
        ds.InventoryLevel = level
        ds.ScopeOfInventorySequence = [raw_item(scope)] if scope else []
        ds.InventoryPurpose = "test"
        if interval is not None:
            ds.RequestedStatusInterval = interval
        for k, v in extra.items():
            setattr(ds, k, v)
        return self.action(node_port, 11, ds)

    def control(self, node_port: int, action_type: int, uid: str, **extra: Any) -> Dataset:
        ds = Dataset()
        ds.TransactionUID = uid
        for k, v in extra.items():
            setattr(ds, k, v)
        return self.action(node_port, action_type, ds)

    # -- retrieval ------------------------------------------------------------------------------
    def c_get(
        self, node_port: int, query: Dataset, out: Path, called: str = "INV_SCP"
    ) -> list[Path]:
        received: list[Path] = []

        def on_store(event: Any) -> int:
            path = out / f"{event.request.AffectedSOPInstanceUID}.dcm"
            path.write_bytes(event.encoded_dataset(include_meta=True))
            received.append(path)
            return 0x0000

        out.mkdir(parents=True, exist_ok=True)
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
        ae.add_requested_context(InventoryGet)
        ae.add_requested_context(InventoryStorage)
        assoc = ae.associate(
            "127.0.0.1",
            node_port,
            ae_title=called,
            ext_neg=[build_role(InventoryStorage, scp_role=True)],
            evt_handlers=[(evt.EVT_C_STORE, on_store)],
        )
        assert assoc.is_established
        statuses = [s.Status for s, _ in assoc.send_c_get(query, InventoryGet)]
        assoc.release()
        assert statuses[-1] == 0x0000, [hex(s) for s in statuses]
        return received

    def c_move(self, node_port: int, query: Dataset, destination: str) -> list[int]:
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
        ae.add_requested_context(InventoryMove)
        assoc = ae.associate("127.0.0.1", node_port, ae_title="INV_SCP")
        assert assoc.is_established
        statuses = [int(s.Status) for s, _ in assoc.send_c_move(query, destination, InventoryMove)]
        assoc.release()
        return statuses


def start_storescp(
    storescp: str, port: int, out: Path, ae_title: str = "STORESCP"
) -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [storescp, "-pm", "-aet", ae_title, "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port)
    return proc


# -- handler pieces for the raw SCPs the tests build -------------------------------------------
def study_page(
    uids: list[str], q: Dataset, *, back: int = 0, partial: int = 0xB001
) -> Iterator[tuple[int, Any]]:
    """A Repository Query page over `uids` (PS3.4 C.6.4): Record Key = the index, `partial`
    when more remain. With the default 0xB001 it is what a stock pynetdicom SCP gives (which
    then adds its own 0x0000); a handler with :class:`~dicom_inventory.scp.wire.WireFixes`
    passes ``B001_PLACEHOLDER`` to end the page with 0xB001 alone. `back` > 0 restarts that
    many records early: a faulty SCP that repeats records."""
    start = int.from_bytes(bytes(q.PriorRecordKey), "big") + 1 if "PriorRecordKey" in q else 0
    if start:
        start -= back
    limit = int(q.get("MaximumNumberOfRecords") or 1000)
    for i in range(start, min(start + limit, len(uids))):
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.StudyInstanceUID = uids[i]
        ident.RecordKey = i.to_bytes(4, "big")
        yield 0xFF00, ident
    if start + limit < len(uids):
        yield partial, None  # more records remain


def get_files(files: dict[str, Path], identifier: Dataset) -> Iterator[Any]:
    """A C-GET handler's responses: the files named by SOP Instance UID (one or a list)."""
    uids = identifier.SOPInstanceUID
    uids = [uids] if isinstance(uids, str) else list(uids)
    yield len(uids)
    for uid in uids:
        yield 0xFF00, pydicom.dcmread(files[str(uid)])


__all__ = [
    "RepositoryQuery",
    "Requester",
    "StudyRootQueryRetrieveInformationModelFind",
    "WELL_KNOWN",
    "free_port",
    "get_files",
    "start_storescp",
    "study_page",
    "wait_listening",
]


# -- extended negotiation ----------------------------------------------------------------------
def relational_negotiation(sop_class_uid: str, info: bytes = b"\x01") -> Any:
    """A SOP Class Extended Negotiation sub-item asking for relational queries, as a raw SCU
    writes it: service-class-application-information byte 1 = 1 (PS3.4 C.5.1.1.2, Table C.5-1).
    Pass it in ``ae.associate(..., ext_neg=[...])``; `info` may ask for more (or less)."""
    from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

    item = SOPClassExtendedNegotiation()
    item.sop_class_uid = sop_class_uid
    item.service_class_application_information = info
    return item


__all__ += ["relational_negotiation"]
