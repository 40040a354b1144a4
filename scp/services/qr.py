"""Inventory Query/Retrieve SCP: FIND, GET and MOVE of the inventories a node keeps (PS3.4 JJ).

The information model is one level (JJ.2): the keys are attributes of the Inventory IE. The
key table of JJ.2 could not be read (services digest §3), so the keys here are those the
standard's other texts name (PS3.3 F.5.48 INVENTORY record keys, PS3.17 YYYY.4.1): SOP Instance
UID (unique key, single UID or list), Content Date/Time (range), Inventory Purpose (wildcard),
Inventory Level, Inventory Completion Status, Transaction UID (UID list), plus return keys
Total Number of Study Records, Number of Study Records in Instance and Scope of Inventory
Sequence. A Query/Retrieve Level in the identifier "shall not be present" (JJ.3.2): it is
ignored (lenient), as the conformance statement will say.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pydicom
from dicom_inventory.scope import query_text
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.production.scope import ScopeError, key_matcher
from dicom_inventory.scp.services.decode import (
    DECODE_STATUSES,
    DecodeFailure,
    Service,
    decoded,
)
from dicom_inventory.scp.stores.inventories import InventoryStore, StoredInventory
from dicom_inventory.scp.wire import retrieve_failure
from dicom_inventory.status import Status
from pydicom.dataset import Dataset

__all__ = [
    "MATCHING_KEYS",
    "RETURN_KEYS",
    "handle_find",
    "handle_get",
    "handle_move",
    "inventory_response",
    "matching_inventories",
]

LOG = logging.getLogger("dicom_inventory.scp")

#: Matching keys of Inventory FIND/GET/MOVE and how they match (PS3.4 C.2.2.2).
MATCHING_KEYS = {
    "SOPInstanceUID": "list of UIDs",
    "ContentDate": "single value, range",
    "ContentTime": "single value, range",
    "InventoryPurpose": "single value, wildcard",
    "InventoryLevel": "single value",
    "InventoryCompletionStatus": "single value",
    "TransactionUID": "list of UIDs",
}
#: Further return keys.
RETURN_KEYS = (
    "TotalNumberOfStudyRecords",
    "NumberOfStudyRecordsInInstance",
    "ScopeOfInventorySequence",
    "InventoryInstanceDescription",
    "SOPClassUID",
)


#: Statuses of Inventory FIND / MOVE / GET, with the condition that triggers each.
INVENTORY_QR_STATUSES: tuple[tuple[Status, str], ...] = (
    (Status.PENDING, "A match (FIND) or a sub-operation under way (MOVE, GET)."),
    (Status.SUCCESS, "All matches returned, or all sub-operations completed."),
    (
        Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
        "A matching key value that is not valid for its matching type (e.g. a malformed range "
        "or UID); a MOVE or GET without SOP Instance UID or Transaction UID; a key with a VR, "
        "VM or value its definition does not allow, or an unknown Specific Character Set "
        "(Offending Element names it).",
    ),
    (Status.CANCEL, "The SCU sent C-CANCEL."),
    (
        Status.MOVE_DESTINATION_UNKNOWN,
        "C-MOVE to an AE title that is not a configured peer (answered by pynetdicom).",
    ),
    *DECODE_STATUSES,
)


def matching_inventories(
    store: InventoryStore, criteria: Mapping[str, str]
) -> list[StoredInventory]:
    """The inventories in `store` matching every criterion, in the store's order.

    `criteria` maps keywords to query text; keys of :data:`MATCHING_KEYS` match by their VR
    (PS3.4 C.2.2.2: UID lists, date/time ranges, wildcards), other keys only select what is
    returned. Inventory FIND and the DICOMweb search (PS3.18 12) both answer through this.

    Raises
    ------
    ScopeError
        If a value is not valid for its key's matching type (a malformed range or UID).
    """
    matchers = []
    for kw, text in criteria.items():
        if kw in MATCHING_KEYS:
            m = key_matcher(kw, text)
            if m is not None:
                matchers.append((kw, m))
    return [inv for inv in store.inventories() if all(m(inv.value(kw)) for kw, m in matchers)]


def _find(
    identifier: Dataset, store: InventoryStore
) -> tuple[list[StoredInventory], list[str]] | Status:
    """The stored inventories matching `identifier`, and the keys to return."""
    keys = []
    criteria: dict[str, str] = {}
    for elem in identifier:
        kw = elem.keyword
        if kw in ("QueryRetrieveLevel", "SpecificCharacterSet", ""):
            continue  # Q/R Level shall not be present (JJ.3.2): ignored
        keys.append(kw)
        if kw in MATCHING_KEYS and elem.VR != "SQ":
            criteria[kw] = query_text(elem.value)
    try:
        return matching_inventories(store, criteria), keys
    except ScopeError:
        return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS


def inventory_response(inv: StoredInventory, keys: Iterable[str]) -> Dataset:
    """The attributes `keys` of `inv`, as one Inventory FIND response or search result.

    A key the store does not keep is returned empty (zero length), as C-FIND does.
    """
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    for kw in keys:
        if kw == "ScopeOfInventorySequence":
            # the standard form, as stored (PS3.3 C.38.2.1)
            scope = inv.header.scope
            ds.ScopeOfInventorySequence = [scope.to_dataset()] if scope and scope.to_item() else []
        else:
            value = inv.value(kw)
            setattr(ds, kw, value)  # None: an empty (zero-length) return key
    return ds


def handle_find(
    event: Any, store: InventoryStore
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """Inventory FIND (JJ.3.1): one pending response per matching inventory in `store`."""
    identifier = decoded(event, Service.INVENTORY_FIND)
    if isinstance(identifier, DecodeFailure):
        yield from identifier.answers(Service.INVENTORY_FIND)
        return
    found = _find(identifier, store)
    if isinstance(found, Status):
        yield int(found), None
        return
    invs, keys = found
    for inv in invs:
        if event.is_cancelled:
            yield int(Status.CANCEL), None
            return
        yield int(Status.PENDING), inventory_response(inv, keys)


_RECORDS = 0x00080423  # Inventoried Studies Sequence: the records, last big element
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def transfer_dataset(path: Path) -> Dataset:
    """The inventory at `path` as a Dataset pynetdicom sends without re-encoding its records.

    pydicom parses every item of a sequence when it reads a file, and encodes them one by one
    when pynetdicom sends it: about 15,000 records/s, minutes for a large inventory. For the
    Explicit VR Little Endian files this node writes, the header is read by pydicom (up to
    (0008,0423)), the records are kept as one raw element (pydicom writes raw elements as
    they are), and the trailing elements are read from the tail. Any other file (another
    transfer syntax, another layout) is read with :func:`pydicom.dcmread`.
    """
    from pydicom.dataelem import RawDataElement
    from pydicom.filereader import read_dataset, read_partial
    from pydicom.tag import Tag
    from pydicom.uid import ExplicitVRLittleEndian

    with open(path, "rb") as f:
        ds = read_partial(f, stop_when=lambda tag, vr, length: tag == _RECORDS)
        start = f.tell()
        head = f.read(12)
        data = f.read()
    if (
        ds.file_meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian
        or head[:4] != b"\x08\x00\x23\x04"
        or head[4:6] != b"SQ"
        or head[8:12] != b"\xff\xff\xff\xff"
    ):
        return pydicom.dcmread(path)
    at = data.rfind(_SEQ_END, max(0, len(data) - 65536))
    while at >= 0:
        tail = data[at + 8 :]
        try:
            trailing = read_dataset(io.BytesIO(tail), False, True)
        except Exception:  # not the end of the records: an item's own delimiter
            trailing = None
        if trailing is not None and all(t > _RECORDS for t in trailing.keys()):
            ds[_RECORDS] = RawDataElement(
                Tag(_RECORDS), "SQ", 0xFFFFFFFF, data[:at], start + 12, False, True
            )
            for tag in trailing.keys():
                ds[tag] = trailing.get_item(tag)
            return ds
        at = data.rfind(_SEQ_END, max(0, len(data) - 65536), at)
    return pydicom.dcmread(path)


#: Keys that name what an Inventory MOVE / GET retrieves: SOP Instance UID, the unique key of
#: the single-level model (PS3.4 JJ.3.2), or, as this node also allows, the Transaction UID of
#: an Inventory Creation (every instance that transaction produced).
RETRIEVE_KEYS = ("SOPInstanceUID", "TransactionUID")


def _retrieve(event: Any, store: InventoryStore) -> Iterator[Any]:
    identifier = decoded(event, Service.INVENTORY_RETRIEVE)
    if isinstance(identifier, DecodeFailure):
        yield from identifier.answers(Service.INVENTORY_RETRIEVE)
        return
    if not any(query_text(identifier.get(k)).strip() for k in RETRIEVE_KEYS):
        # a retrieve without its unique key fails, as the archive's own retrieve does: never
        # every inventory, never Success with zero sub-operations (PS3.4 C.4.2.1.4, JJ.3.2)
        LOG.info("Inventory retrieve without SOP Instance UID or Transaction UID: 0xA900")
        yield from retrieve_failure(int(Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS))
        return
    found = _find(identifier, store)
    if isinstance(found, Status):
        yield from retrieve_failure(int(found))
        return
    invs, _ = found
    yield len(invs)
    for inv in invs:
        if event.is_cancelled:
            yield int(Status.CANCEL), None
            return
        yield int(Status.PENDING), transfer_dataset(inv.path)


def handle_get(event: Any, store: InventoryStore) -> Iterator[Any]:
    """Inventory GET (JJ.3.3): C-STORE sub-operations on the same association."""
    yield from _retrieve(event, store)


def handle_move(event: Any, config: NodeConfig, store: InventoryStore) -> Iterator[Any]:
    """Inventory MOVE (JJ.3.2): C-STORE sub-operations to a configured destination."""
    peer = config.peer(event.move_destination)
    if peer is None:
        yield None, None  # unknown destination: pynetdicom answers 0xA801
        return
    yield peer.host, peer.port
    yield from _retrieve(event, store)
