"""An Inventory SCU written with raw pynetdicom (not our scu package), wrong in one chosen way.

Without a fault it does what PS3.4 KK and C.6.4 ask: a fresh Transaction UID, events answered
0x0000, the whole tree retrieved by Inventory GET, Repository Query paged to its final 0x0000.
Each fault breaks one of these, so that ``testkit scu`` can be shown to fail it.
"""

from __future__ import annotations

import queue
import warnings
from pathlib import Path

from dicom_inventory.read import read_header
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import RepositoryQuery

from tests.scp.raw_peer import Requester

FAULTS = {
    "bad-txn-uid": "Initiate with a Transaction UID that is not a valid UID",
    "no-emm": "empty value matching in the scope without naming it in Extended Matching Mechanisms",
    "direct-key": "a scope key directly in the Scope of Inventory item, not in a matching sequence",
    "refuse-events": "every N-EVENT-REPORT answered 0x0110",
    "root-only": "only the root of a split inventory retrieved",
    "qr-level": "Query/Retrieve Level put into the Inventory GET identifier",
    "control-unknown": "Request Status for a transaction never initiated",
    "act-on-refused": "after a refused Initiate, Request Status for that transaction",
    "rq-stop": "Repository Query stopped after the first partial page",
    "gives-up": "stops listening for events 1 s after the Initiate",
}


def run_fake_scu(kit_port: int, requester: Requester, out: Path, fault: str | None) -> None:
    """One request (or one Repository Query harvest with the rq- faults) against the kit."""
    assert fault is None or fault in FAULTS, fault
    if fault is not None and fault.startswith("rq-"):
        _harvest(kit_port, requester.ae_title, stop_early=fault == "rq-stop")
        return
    requester.event_status = 0x0110 if fault == "refuse-events" else 0x0000
    txn = "1.2.3.04" if fault == "bad-txn-uid" else generate_uid()
    with warnings.catch_warnings():  # pydicom warns about the invalid UID on purpose
        warnings.simplefilter("ignore")
        # A range and a UID list need no Extended Matching Mechanisms (baseline, C.2.2.2):
        # every request carries one of each; the faults add what is wrong.
        scope: dict[str, object] = {
            "RangeMatchingSequence": [{"StudyDate": "19000101"}, {"StudyDate": ""}],
        }
        if fault == "no-emm":  # empty value matching is beyond the baseline (C.2.2.2.7)
            scope["EmptyValueMatchingSequence"] = [{"AccessionNumber": ""}]
        elif fault == "direct-key":
            scope["PatientID"] = "*"
        status = int(requester.initiate(kit_port, txn, scope=scope).Status)
    if status != 0x0000:
        if fault == "act-on-refused":
            requester.control(kit_port, 12, txn)
        return
    if fault == "control-unknown":
        requester.control(kit_port, 12, generate_uid())
    try:
        _, (event_type, info, _) = requester.until_final(1.0 if fault == "gives-up" else 60)
    except queue.Empty:
        requester.close()  # gone: the kit's final event finds nobody listening
        return
    if event_type != 11 or fault == "refuse-events":
        return
    wanted = [str(info.ReferencedSOPInstanceUID)]
    while wanted:
        q = Dataset()
        q.SOPInstanceUID = wanted if len(wanted) > 1 else wanted[0]
        if fault == "qr-level":
            q.QueryRetrieveLevel = "IMAGE"
        files = requester.c_get(kit_port, q, out)
        if fault == "root-only":
            return
        wanted = [ref.sop_instance_uid for f in files for ref in read_header(f).incorporated]


def _harvest(kit_port: int, ae_title: str, stop_early: bool) -> None:
    """Repository Query at STUDY level, with Record Key, following Prior Record Key."""
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(RepositoryQuery)
    prior: bytes | None = None
    while True:
        assoc = ae.associate("127.0.0.1", kit_port, ae_title="INV_SCP")
        assert assoc.is_established
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = ""
        q.RecordKey = b""
        if prior is not None:
            q.PriorRecordKey = prior
        last, final = None, None
        for status, ident in assoc.send_c_find(q, RepositoryQuery):
            code = int(status.Status)
            if code in (0xFF00, 0xFF01):
                last = bytes(ident.RecordKey)
                continue
            final = code
            break  # 0xB001 is final (PS3.4 C.6.4); pynetdicom would wait for more
        if final == 0xB001:
            assoc.abort()
        else:
            assoc.release()
        if final != 0xB001 or stop_early:
            return
        prior = last
