"""A small Inventory SCP in raw pynetdicom that can be made wrong in one way at a time.

It holds 12 studies; each Initiate writes a split inventory of the studies its scope keys
(Patient ID, Study Date, Study Instance UID) match, and Repository Query lists the same 12
studies, so that without faults it passes the test kit. Faults:

* ``no-b010``: an unsupported scope key is accepted with 0x0000 instead of 0xB010;
* ``key-failure``: an unsupported scope key gets the failure 0x0212 instead of 0xB010;
* ``scope-ignored``: supported scope keys are accepted and then not applied;
* ``no-txn-uid``: the events lack Transaction UID;
* ``wrong-counts``: event 11 announces 13 study records (the root says 12);
* ``rq-repeat``: Repository Query repeats the last record of a page on the next one;
* ``rq-stops-early``: Repository Query ends its first page with 0x0000, as if complete;
* ``rq-trailing-success``: a page ends with 0xB001 and then 0x0000 (stock pynetdicom);
* ``no-events``: no N-EVENT-REPORT is ever sent.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    read_header,
    synthetic_studies,
    write_inventory,
)
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.production.scope import ScopeError, parse_scope
from dicom_inventory.scp.wire import B001_PLACEHOLDER, WireFixes
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryFind,
    InventoryGet,
    InventoryStorage,
    RepositoryQuery,
    Verification,
)

from tests.scp.raw_peer import WELL_KNOWN, free_port, get_files, study_page

SUPPORTED_SCOPE = {"PatientID", "StudyDate", "StudyInstanceUID"}


class FakeSCP:
    def __init__(self, folder: Path, kit_ae: str, kit_port: int, faults: set[str]) -> None:
        self.folder = folder
        self.records = list(synthetic_studies(12, series_per_study=1, instances_per_series=2))
        self.studies = sorted(r.study_instance_uid for r in self.records)
        self.files: dict[str, Path] = {}
        self.roots: dict[str, str] = {}  # transaction -> root SOP Instance UID
        self.kit_ae, self.kit_port, self.faults = kit_ae, kit_port, faults
        self.txns: dict[str, str] = {}  # uid -> state
        self.wire = WireFixes()
        ae = AE(ae_title="FAKE_SCP")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        for sop in (Verification, InventoryCreation, InventoryFind, InventoryGet, RepositoryQuery):
            ae.add_supported_context(sop)
        ae.add_supported_context(InventoryStorage, scu_role=True, scp_role=True)
        self.port = free_port()
        self.server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_DIMSE_SENT, self.wire.on_sent),
                (evt.EVT_C_ECHO, lambda e: 0x0000),
                (evt.EVT_N_ACTION, self.on_action),
                (evt.EVT_C_FIND, self.on_find),
                (evt.EVT_C_GET, self.on_get),
            ],
        )

    # -- Inventory Creation -----------------------------------------------------------------
    def on_action(self, event: Any) -> tuple[int, Dataset | None]:
        info, action = event.action_information, int(event.request.ActionTypeID)
        uid = str(info.get("TransactionUID", ""))
        if action == 13:
            if self.txns.get(uid) != "PROCESSING":
                return 0x0110, None
            self.txns[uid] = "CANCELED"
            threading.Thread(
                target=self.send, args=(uid, 13, {"TransactionStatus": "CANCELED"})
            ).start()
            return 0x0000, None
        if action != 11:
            return 0x0123, None
        if str(info.get("InventoryLevel", "")) not in ("STUDY", "SERIES", "INSTANCE"):
            return 0x0212, None
        if uid in self.txns:
            return 0x0115, None
        # the standard form: keys inside the matching sequences (PS3.3 C.38.2.1)
        items = list(info.ScopeOfInventorySequence)
        flat = ScopeOfInventory.from_dataset(items[0]).keys if items else {}
        unsupported = [int(tag_for_keyword(k) or 0) for k in flat if k not in SUPPORTED_SCOPE]
        if unsupported and "key-failure" in self.faults:
            return 0x0212, None
        keys = {k: v for k, v in flat.items() if k in SUPPORTED_SCOPE}
        try:
            parse_scope(keys)
        except ScopeError:
            return 0x0115, None  # Invalid argument value
        self.txns[uid] = "PROCESSING"
        self.roots[uid] = self.write(uid, {} if "scope-ignored" in self.faults else keys)
        threading.Thread(target=self.produce, args=(uid, str(info.InventoryLevel))).start()
        if unsupported and "no-b010" not in self.faults:
            self.wire.attribute_identifier_list(event, unsupported)
            return 0xB010, None
        return 0x0000, None

    def write(self, uid: str, keys: dict[str, str]) -> str:
        """The inventory of the studies matching `keys`, split every 5 records; its root UID."""
        scope = parse_scope(keys)
        chosen = [  # fresh records: a record's series are read once
            r
            for r in synthetic_studies(12, series_per_study=1, instances_per_series=2)
            if scope.matches(
                {"PatientID": r.patient_id, "StudyDate": r.study_date}, r.study_instance_uid
            )
        ]
        header = InventoryHeader(
            generate_uid(),
            InventoryLevel.INSTANCE,
            content_date="20261201",
            content_time="120000",
            scope=ScopeOfInventory.from_keys(keys) if keys else None,
        )
        written = write_inventory(self.folder / uid, header, iter(chosen), max_records=5)
        for w in written:
            assert w.path is not None
            self.files[read_header(w.path).sop_instance_uid] = w.path
        return str(header.sop_instance_uid)

    def produce(self, uid: str, level: str) -> None:
        time.sleep(0.3 if level != "INSTANCE" else 1.0)  # time for a Cancel to arrive
        self.send(uid, 12, {"TransactionStatus": "PROCESSING", "TotalNumberOfStudyRecords": 6})
        if self.txns.get(uid) != "PROCESSING":
            return
        self.txns[uid] = "COMPLETE"
        self.send(
            uid,
            11,
            {
                "TransactionStatus": "COMPLETE",
                "ReferencedSOPClassUID": InventoryStorage,
                "ReferencedSOPInstanceUID": self.roots[uid],
                "RetrieveAETitle": "FAKE_SCP",
                "TotalNumberOfStudyRecords": read_header(
                    self.files[self.roots[uid]]
                ).total_number_of_study_records
                + (1 if "wrong-counts" in self.faults else 0),
            },
        )

    def send(self, uid: str, event_type: int, attrs: dict[str, Any]) -> None:
        if "no-events" in self.faults:
            return
        ds = Dataset()
        if "no-txn-uid" not in self.faults:
            ds.TransactionUID = uid
        for k, v in attrs.items():
            setattr(ds, k, v)
        ae = AE(ae_title="FAKE_SCP")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.add_requested_context(InventoryCreation)
        assoc = ae.associate(
            "127.0.0.1",
            self.kit_port,
            ae_title=self.kit_ae,
            ext_neg=[build_role(InventoryCreation, scu_role=False, scp_role=True)],
        )
        if assoc.is_established:
            assoc.send_n_event_report(ds, event_type, InventoryCreation, WELL_KNOWN)
            assoc.release()

    # -- Q/R -------------------------------------------------------------------------------------
    def on_find(self, event: Any) -> Any:
        q = event.identifier
        if event.request.AffectedSOPClassUID == RepositoryQuery:
            stock = "rq-trailing-success" in self.faults
            for status, ident in study_page(
                self.studies,
                q,
                back=1 if "rq-repeat" in self.faults else 0,
                partial=0xB001 if stock else B001_PLACEHOLDER,
            ):
                if status in (0xB001, B001_PLACEHOLDER) and "rq-stops-early" in self.faults:
                    return  # pynetdicom ends with 0x0000: "complete"
                yield status, ident
            return
        wanted = str(q.get("SOPInstanceUID", "") or "")
        for uid in self.files:
            if wanted and uid != wanted:
                continue
            ident = Dataset()
            ident.SOPInstanceUID = uid
            ident.InventoryLevel = "INSTANCE"
            yield 0xFF00, ident

    def on_get(self, event: Any) -> Any:
        yield from get_files(self.files, event.identifier)

    def close(self) -> None:
        self.server.shutdown()
