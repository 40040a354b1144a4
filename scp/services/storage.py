"""Storage SCP of the node: Inventory Storage (PS3.4 GG) and the archive's own (PS3.4 B).

Every received inventory is validated with the IOD validator, and a non-conformant one is
refused with 0xA900, so it is never silently accepted; what passes goes to the node's
:class:`~dicom_inventory.scp.stores.inventories.InventoryStore`. Patient objects go to the
archive's receiver, when the configuration offers it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dicom_inventory.errors import InventoryReadError
from dicom_inventory.read import read_header
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.services.responses import requestor, status_dataset
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.status import Status
from dicom_inventory.uid import INVENTORY_STORAGE, is_valid_uid
from dicom_inventory.validate import Finding, Severity, Validator
from pydicom.dataset import Dataset

__all__ = ["C_STORE_STATUSES", "handle_store", "keep_inventory"]

LOG = logging.getLogger("dicom_inventory.scp")


#: Every status the C-STORE handler returns, with the condition that triggers it.
C_STORE_STATUSES: tuple[tuple[Status, str], ...] = (
    (Status.SUCCESS, "Stored (an Inventory: it validated without errors; warnings do not block)."),
    (
        Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
        "An Inventory with validator errors (PS3.3 A.88); the Error Comment names the first.",
    ),
    (
        Status.CANNOT_UNDERSTAND,
        "An object that cannot be read, or whose SOP Instance UID is not a valid UID.",
    ),
    (Status.OUT_OF_RESOURCES, "The object cannot be written (disk full, permissions)."),
    (
        Status.SOP_CLASS_NOT_SUPPORTED,
        "A storage service the configuration does not offer ([services]); the context is "
        "accepted only for C-GET sub-operations.",
    ),
)


def handle_store(
    event: Any,
    config: NodeConfig,
    inventories: InventoryStore,
    receive: Callable[[bytes, str], None] | None = None,
) -> Dataset | int:
    """C-STORE: an Inventory is validated, then kept in `inventories` (PS3.4 GG, B.2.3).

    A received inventory with validator *errors* is refused with 0xA900 (Data Set does not
    match SOP Class) and an Error Comment naming the first finding; warnings do not block.
    Any other object goes to `receive` when the node offers the archive's Storage SCP
    (``[services] archive_storage``): it raises :class:`ValueError` for an object it refuses
    and :class:`OSError` when it cannot write.
    """
    # the Storage contexts are also accepted for C-GET sub-operations (the node as SCU), so a
    # C-STORE of a service the configuration does not offer is refused here
    if event.request.AffectedSOPClassUID != INVENTORY_STORAGE:
        if not config.services.archive_storage:
            return status_dataset(
                Status.SOP_CLASS_NOT_SUPPORTED, "this node does not store objects"
            )
        return _store_patient_object(event, receive)
    if not config.services.inventory_storage:
        return status_dataset(
            Status.SOP_CLASS_NOT_SUPPORTED, "this node does not store inventories"
        )
    fd, tmp = tempfile.mkstemp(dir=inventories.incoming(), prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(event.encoded_dataset(include_meta=True))
        status, comment = keep_inventory(
            Path(tmp), str(event.request.AffectedSOPInstanceUID), inventories, requestor(event)
        )
        return int(status) if comment is None else status_dataset(status, comment)
    finally:
        Path(tmp).unlink(missing_ok=True)


def keep_inventory(
    tmp: Path, uid: str | None, inventories: InventoryStore, sender: str
) -> tuple[Status, str | None]:
    """Validate the received Inventory file `tmp` and keep it; the status to answer, and why.

    The one acceptance rule of Inventory Storage (PS3.4 GG) and the DICOMweb Store transaction:
    validator errors refuse it (0xA900, naming the first), warnings do not; an unreadable file
    or an invalid SOP Instance UID is 0xC000; a store that cannot write, 0xA700. `uid` is the
    SOP Instance UID the request names (C-STORE), ``None`` to take the file's. On success the
    store owns the file (it is moved); otherwise the caller removes it.
    """
    errors = 0  # counted, not kept: memory stays flat whatever the number of findings
    first: Finding | None = None
    try:
        for finding in Validator().file(tmp):
            if finding.severity is Severity.ERROR:
                errors += 1
                first = first or finding
        if uid is None:
            uid = read_header(tmp).sop_instance_uid
    except InventoryReadError as exc:
        LOG.warning("refused an unreadable inventory from %s: %s", sender, exc)
        return Status.CANNOT_UNDERSTAND, f"unreadable: {exc.message}"
    if first is not None:
        LOG.warning(
            "refused inventory %s from %s: %d error(s), first %s %s: %s",
            uid,
            sender,
            errors,
            first.rule,
            first.path,
            first.message,
        )
        return (
            Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
            f"{errors} IOD error(s): {first.rule} {first.path}",
        )
    if not is_valid_uid(uid):  # it names the stored object
        return Status.CANNOT_UNDERSTAND, "invalid SOP Instance UID"
    try:
        inventories.keep(tmp, uid)
    except OSError as exc:
        LOG.error("cannot keep inventory %s from %s: %s", uid, sender, exc)
        return Status.OUT_OF_RESOURCES, "cannot write the inventory"
    LOG.info("stored inventory %s from %s", uid, sender)
    return Status.SUCCESS, None


def _store_patient_object(
    event: Any, receive: Callable[[bytes, str], None] | None
) -> Dataset | int:
    """C-STORE of a patient object into the archive (its Storage SCP, PS3.4 B)."""
    if receive is None:
        return status_dataset(
            Status.SOP_CLASS_NOT_SUPPORTED, "this archive does not receive objects"
        )
    uid = str(event.request.AffectedSOPInstanceUID)
    try:
        receive(event.encoded_dataset(include_meta=True), uid)
    except ValueError as exc:
        return status_dataset(Status.CANNOT_UNDERSTAND, str(exc))
    except OSError as exc:
        LOG.error("cannot keep %s from %s: %s", uid, requestor(event), exc)
        return status_dataset(Status.OUT_OF_RESOURCES, "cannot write the object")
    LOG.info("stored %s from %s", uid, requestor(event))
    return int(Status.SUCCESS)
