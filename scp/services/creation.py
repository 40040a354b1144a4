"""Inventory Creation SCP (Storage Management Service Class, PS3.4 KK.2): actions and jobs.

Flow: an N-ACTION (:meth:`InventoryCreation.handle_n_action`) is checked and answered at once;
an accepted Initiate becomes a durable job (:mod:`dicom_inventory.scp.stores.jobs`) that worker
threads produce with :func:`~dicom_inventory.scp.production.partitioned.produce_partitioned` into a
staging folder of the node's inventory store (:mod:`dicom_inventory.scp.stores.inventories`);
the finished inventory is published there (where Inventory Q/R finds it) and the outcome is queued as an N-EVENT-REPORT, which
:mod:`dicom_inventory.scp.services.notify` delivers on a new association.

Statuses (PS3.4 KK.2.2.3 and PS3.7 Annex C): :data:`N_ACTION_STATUSES`, each with the condition
that triggers it; the conformance statement prints that table (the choices the standard leaves
open are listed in ``docs/standard-notes.md``).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dicom_inventory.enum import ExtendedMatchingMechanism, InventoryLevel
from dicom_inventory.read import read_header
from dicom_inventory.scope import (
    ScopeOfInventory,
    check_scope_item,
    dataset_mapping,
    query_text,
)
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.production.partitioned import (
    STATE_FILE,
    close_partial,
    produce_partitioned,
)
from dicom_inventory.scp.production.scope import SUPPORTED_KEYS, ScopeError, parse_scope
from dicom_inventory.scp.services.decode import DecodeFailure, Service, decoded
from dicom_inventory.scp.services.responses import requestor, status_dataset
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.scp.stores.jobs import TERMINAL_STATES, Job, JobStore
from dicom_inventory.scp.stores.repository import Repository
from dicom_inventory.scp.wire import WireFixes
from dicom_inventory.status import Status
from dicom_inventory.uid import (
    INVENTORY_STORAGE,
    STORAGE_MANAGEMENT_SOP_INSTANCE,
    generate_uid,
    is_valid_uid,
)
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info

__all__ = [
    "EVENT_ATTRIBUTES",
    "EVENT_STATUS",
    "EVENT_TERMINATED_WITH_INSTANCES",
    "EVENT_TERMINATED_WITHOUT_INSTANCES",
    "InventoryCreation",
    "N_ACTION_STATUSES",
    "SUPPORTED_CHARACTER_SETS",
    "SUPPORTED_MECHANISMS",
]

LOG = logging.getLogger("dicom_inventory.scp")

#: Event Type IDs of Table KK.2-2.
EVENT_TERMINATED_WITH_INSTANCES = 11
EVENT_STATUS = 12
EVENT_TERMINATED_WITHOUT_INSTANCES = 13

#: Specific Character Sets accepted in Scope of Inventory (others: 0x0212, KK.2.2.3).
#: The Event Information each event type carries (Table KK.2-2; conditional ones when set).
EVENT_ATTRIBUTES: dict[int, tuple[str, ...]] = {
    11: (
        "TransactionUID",
        "TransactionStatus",
        "TransactionStatusComment",
        "ReferencedSOPClassUID",
        "ReferencedSOPInstanceUID",
        "RetrieveAETitle",
        "RetrieveURL",
        "FileAccessURI",
        "ContainerFileType",
        "FileOffsetInContainer",
        "FileLengthInContainer",
        "StoredInstanceTransferSyntaxUID",
        "ExpirationDateTime",
        "TotalNumberOfStudyRecords",
    ),
    12: (
        "TransactionUID",
        "TransactionStatus",
        "TransactionStatusComment",
        "TotalNumberOfStudyRecords",
    ),
    13: ("TransactionUID", "TransactionStatus", "TransactionStatusComment"),
}
#: Every status the N-ACTION handler returns, with the condition that triggers it.
N_ACTION_STATUSES: tuple[tuple[Status, str], ...] = (
    (Status.SUCCESS, "Accepted: the job runs in the background; events follow."),
    (
        Status.ATTRIBUTE_LIST_WARNING,
        "Accepted, but scope keys not supported for matching were dropped; they are listed in "
        "Attribute Identifier List (0000,1005).",
    ),
    (
        Status.MISTYPED_ARGUMENT,
        "Inventory Level, a Specific Character Set or an Extended Matching Mechanism of the "
        "scope is not supported, or the Action Information names a Specific Character Set "
        "that is not a defined term.",
    ),
    (
        Status.RESOURCE_LIMITATION,
        "Too many jobs accepted and not finished (limits.max_pending_jobs), or an Action "
        "Information past the decoder's limits (deflated past 4 MiB, over 100,000 elements and "
        "items, or 16 nested sequences; scp.services.decode).",
    ),
    (
        Status.NOT_AUTHORIZED,
        "The calling AE is not a configured peer (events could not reach it), or is not the AE "
        "that initiated the transaction it acts on.",
    ),
    (
        Status.INVALID_ARGUMENT_VALUE,
        "Transaction UID missing, invalid, reused by an Initiate or unknown; Scope of Inventory "
        "Sequence missing or with more than one item; a key attribute directly in the Scope item "
        "or a matching sequence not as PS3.3 Table C.38.2-1 writes it; an invalid scope value or "
        "range; Retain Instances not YES/NO; an Action Information that cannot be decoded "
        "(truncated, unknown VR, corrupt item or delimiter) or has an attribute with a VR, VM "
        "or value its definition does not allow (PS3.7 C.5.10); the Error Comment names the "
        "tag and what was expected.",
    ),
    (
        Status.PROCESSING_FAILURE,
        "Pause, Resume or Cancel of a transaction already COMPLETE, FAILURE or CANCELED.",
    ),
    (Status.NO_SUCH_ACTION, "An Action Type ID other than 11 to 15."),
    (
        Status.NO_SUCH_SOP_INSTANCE,
        "Requested SOP Instance UID is not the well-known Storage Management SOP Instance.",
    ),
)
SUPPORTED_CHARACTER_SETS = ("", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192")

_INITIATE, _STATUS, _CANCEL, _PAUSE, _RESUME = 11, 12, 13, 14, 15
#: Extended Matching Mechanisms this SCP applies (others: 0x0212, PS3.4 KK.2.2.3).
SUPPORTED_MECHANISMS = (ExtendedMatchingMechanism.EMPTY_VALUE.value,)


class _Stop(Exception):
    """Raised inside production at a checkpoint: PAUSE, CANCEL or SHUTDOWN."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _scope_refusal(item: Dataset) -> Dataset | None:
    """The failure an Initiate gets for its Scope item, or ``None`` if the item is acceptable.

    * A Specific Character Set or an Extended Matching Mechanisms term this SCP does not
      support: 0x0212 Mistyped argument, naming it (PS3.4 KK.2.2.3).
    * A key attribute directly in the item, or a matching sequence that breaks Table C.38.2-1
      / KK.2-1 (:func:`~dicom_inventory.scope.check_scope_item`): 0x0115 Invalid argument
      value. Not 0xB010: that warning starts production without the key, so a misplaced key
      would silently widen the scope the SCU asked for; and not 0x0212, which KK.2.2.3 keeps for
      character sets, mechanisms and the level. The SCU learns what to fix from the comment.
    """
    charset = query_text(item.get("SpecificCharacterSet"))
    for term in charset.split("\\"):
        if term.strip() not in SUPPORTED_CHARACTER_SETS:
            return status_dataset(
                Status.MISTYPED_ARGUMENT, f"Specific Character Set {term!r} not supported"
            )
    for term in query_text(item.get("ExtendedMatchingMechanisms")).split("\\"):
        if term.strip() and term.strip() not in SUPPORTED_MECHANISMS:
            return status_dataset(
                Status.MISTYPED_ARGUMENT,
                f"Extended Matching Mechanisms {term.strip()!r} not supported (supported: "
                f"{', '.join(SUPPORTED_MECHANISMS)}; PS3.4 KK.2.2.3)",
            )
    try:
        problems = check_scope_item(dataset_mapping(item), values=True)
    except (AttributeError, TypeError, ValueError) as exc:
        return status_dataset(
            Status.INVALID_ARGUMENT_VALUE, f"Scope of Inventory item unreadable: {exc}"
        )
    if problems:
        first = problems[0]
        return status_dataset(Status.INVALID_ARGUMENT_VALUE, f"{first.path}: {first.message}")
    return None


def _tag_of(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    return int(tag) if tag is not None else 0


class InventoryCreation:
    """The Inventory Creation SCP of one node: action handler, job workers, state.

    Parameters
    ----------
    config : NodeConfig
        The node's configuration (limits, folders, peers).
    repository : callable
        Makes a :class:`Repository`; called in worker threads (and must be picklable if
        production runs on Dask).
    wire : WireFixes
        Where the 0xB010 Attribute Identifier List is handed to the send hook.
    jobs : JobStore
        The transactions and their outbox (owned by the caller, who closes it).
    inventories : InventoryStore
        Where the produced inventories are staged and published.
    web_url : callable, optional
        Returns the base URI of the node's DICOMweb origin server while it runs: event 11 then
        names the root instance's resource there in Retrieve URL (0008,1190, KK.2.3.1.1).
    """

    def __init__(
        self,
        config: NodeConfig,
        repository: Callable[[], Repository],
        wire: WireFixes,
        jobs: JobStore,
        inventories: InventoryStore,
        web_url: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        self.web_url = web_url
        self.repository = repository
        self.wire = wire
        self.store = jobs
        self.inventories = inventories
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, config.limits.max_jobs), thread_name_prefix="inventory-job"
        )
        self._wanted: dict[str, str] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._closing = False
        self.owner = config.owner
        self._watch_stop = threading.Event()
        self._watcher = threading.Thread(
            target=self._watch, name="inventory-job-leases", daemon=True
        )

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Resume the jobs a previous run left PROCESSING, and watch for orphaned ones.

        A job this node (``node_id``) held before a crash is taken back at once; a job of
        another node sharing the job store is taken over when that node's lease lapses.
        """
        for job in self.store.jobs("PROCESSING"):
            if job.owner in (None, self.owner) or (job.lease_until or 0) < time.time():
                LOG.info("resuming inventory job %s", job.transaction_uid)
                self._submit(job.transaction_uid)
        self.sweep_expired()
        self._watcher.start()

    def _watch(self) -> None:
        """Take over the PROCESSING jobs whose holder stopped renewing (a dead node)."""
        period = max(0.2, self.config.limits.job_lease / 3)
        while not self._watch_stop.wait(period):
            try:
                for job in self.store.orphans(time.time()):
                    with self._lock:
                        mine = job.transaction_uid in self._running
                    if not mine:
                        LOG.info("taking over orphaned inventory job %s", job.transaction_uid)
                        self._submit(job.transaction_uid)
            except Exception:  # the watcher must outlive a database hiccup
                LOG.exception("inventory job lease watcher")

    def stop(self, timeout: float = 30.0) -> None:
        """Checkpoint running jobs (they resume at the next start) and stop the workers."""
        with self._lock:
            self._closing = True
            for uid in self._running:
                self._wanted[uid] = "SHUTDOWN"
        self._watch_stop.set()
        if self._watcher.is_alive():
            self._watcher.join(timeout)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def sweep_expired(self) -> int:
        """Remove produced inventories past their Expiration DateTime; return how many."""
        # both sides in microseconds: at whole seconds an inventory could outlive its
        # Expiration DateTime by up to a second (and the expiry test caught it doing so)
        now = datetime.datetime.now().isoformat(timespec="microseconds")
        removed = 0
        for job in self.store.jobs(*TERMINAL_STATES):
            if job.expires and job.expires < now and self.inventories.remove(job.transaction_uid):
                removed += 1
        return removed

    # -- N-ACTION -------------------------------------------------------------------------------
    def handle_n_action(self, event: Any) -> tuple[Dataset, Dataset | None]:
        """``evt.EVT_N_ACTION`` handler (PS3.4 KK.2.2.3)."""
        req = event.request
        requester = str(event.assoc.requestor.ae_title).strip()
        if str(req.RequestedSOPInstanceUID) != STORAGE_MANAGEMENT_SOP_INSTANCE:
            return status_dataset(
                Status.NO_SUCH_SOP_INSTANCE,
                f"send to the well-known instance {STORAGE_MANAGEMENT_SOP_INSTANCE}",
            ), None
        action = req.ActionTypeID
        if action not in (_INITIATE, _STATUS, _CANCEL, _PAUSE, _RESUME):
            return status_dataset(
                Status.NO_SUCH_ACTION, f"action type {action}: expected 11 to 15"
            ), None
        # decoded and checked in one place, before anything here reads it (services.decode)
        info = decoded(event, Service.INVENTORY_CREATION, f"N-ACTION {action}")
        if isinstance(info, DecodeFailure):
            return info.response(Service.INVENTORY_CREATION), None
        if "TransactionUID" not in info:
            return status_dataset(
                Status.INVALID_ARGUMENT_VALUE, "Transaction UID (0008,1195) missing"
            ), None
        uid = query_text(info.get("TransactionUID"))
        if not is_valid_uid(uid):
            return status_dataset(
                Status.INVALID_ARGUMENT_VALUE, f"Transaction UID (0008,1195) invalid: {uid!r}"
            ), None
        if action == _INITIATE:
            status = self._initiate(event, info, uid, requester)
        else:
            status = self._control(action, info, uid, requester)
        LOG.info(
            "N-ACTION %d from %s for transaction %s: 0x%04X %s",
            action,
            requester,
            uid,
            int(status.Status),
            status.get("ErrorComment", ""),
        )
        return status, None

    def _initiate(self, event: Any, info: Dataset, uid: str, requester: str) -> Dataset:
        level = query_text(info.get("InventoryLevel"))
        if level not in {lv.value for lv in InventoryLevel}:
            return status_dataset(
                Status.MISTYPED_ARGUMENT,
                f"Inventory Level {level!r}: expected STUDY, SERIES or INSTANCE",
            )
        if "ScopeOfInventorySequence" not in info:
            return status_dataset(
                Status.INVALID_ARGUMENT_VALUE,
                "Scope of Inventory Sequence (0008,0400) missing (Type 2)",
            )
        items = list(info.ScopeOfInventorySequence or [])
        if len(items) > 1:
            return status_dataset(
                Status.INVALID_ARGUMENT_VALUE,
                f"Scope of Inventory Sequence has {len(items)} items; zero or one is allowed "
                "(PS3.3 C.38.2.1.1.1)",
            )
        refused = _scope_refusal(items[0]) if items else None
        if refused is not None:
            return refused
        scope = ScopeOfInventory.from_dataset(items[0]) if items else ScopeOfInventory()
        keys: dict[str, str] = {}
        unsupported: list[int] = []
        for kw, value in scope.keys.items():
            if kw in SUPPORTED_KEYS:
                keys[kw] = value
            else:
                unsupported.append(_tag_of(kw))
        try:
            parse_scope(keys)
        except ScopeError as exc:
            return status_dataset(Status.INVALID_ARGUMENT_VALUE, str(exc))
        if self.config.peer(requester) is None:
            # the events go out on a new association (PS3.4 KK.2.2.2 / KK.2.3): the node must
            # know the requester's port, which its association does not tell; say what to add
            LOG.warning(
                "N-ACTION from %s refused: no peer to send its events to; add to the node's "
                "config file: [peers.%s] ae_title = %s, host = %s, port = <its event port, "
                "e.g. the --listen-port of dicom-inventory request, default 11113>",
                requestor(event),
                requester,
                json.dumps(requester),
                json.dumps(str(event.assoc.requestor.address)),
            )
            return status_dataset(
                Status.NOT_AUTHORIZED, f"no [peers.{requester}] in the node's config for events"
            )
        if self.store.active_count() >= self.config.limits.max_pending_jobs:
            return status_dataset(
                Status.RESOURCE_LIMITATION,
                f"{self.config.limits.max_pending_jobs} inventory jobs already pending",
            )
        interval = info.get("RequestedStatusInterval")
        purpose = info.get("InventoryPurpose")
        created = self.store.create(
            uid,
            requester,
            level,
            keys,
            None if purpose is None else str(purpose),
            None if interval in (None, "") else int(interval),
            generate_uid(),
        )
        if not created:
            return status_dataset(Status.INVALID_ARGUMENT_VALUE, "Transaction UID already used")
        self._submit(uid)
        if unsupported:
            # KK.2.2.3: the warning lists the keys in Attribute Identifier List (0000,1005)
            self.wire.attribute_identifier_list(event, unsupported)
            return status_dataset(
                Status.ATTRIBUTE_LIST_WARNING,
                f"{len(unsupported)} scope key(s) not supported: not applied",
            )
        return status_dataset(Status.SUCCESS)

    def _control(self, action: int, info: Dataset, uid: str, requester: str) -> Dataset:
        job = self.store.get(uid)
        if job is None:
            return status_dataset(Status.INVALID_ARGUMENT_VALUE, "unknown Transaction UID")
        if job.requester != requester:
            return status_dataset(Status.NOT_AUTHORIZED, f"transaction belongs to {job.requester}")
        if action == _STATUS:
            interval = info.get("RequestedStatusInterval")
            if interval not in (None, ""):
                self.store.set_interval(uid, int(interval))
            # KK.2.3.2: every Request Status is answered by an Inventory Status event
            self.store.queue_event(uid, EVENT_STATUS, self._status_info(job))
            return status_dataset(Status.SUCCESS)
        if job.state in TERMINAL_STATES:
            return status_dataset(Status.PROCESSING_FAILURE, f"transaction already {job.state}")
        if action == _CANCEL:
            retain = query_text(info.get("RetainInstances"))
            if retain not in ("YES", "NO"):
                return status_dataset(
                    Status.INVALID_ARGUMENT_VALUE,
                    f"Retain Instances (0008,0415) {retain!r}: expected YES or NO",
                )
            self.store.want(uid, "CANCEL", retain=retain == "YES")
            if job.state == "PAUSED":
                self._submit(uid)  # the worker applies the cancel at once
            else:
                self._ask(uid, "CANCEL")
            return status_dataset(Status.SUCCESS)
        if action == _PAUSE:
            if job.state == "PROCESSING":
                self.store.want(uid, "PAUSE")
                self._ask(uid, "PAUSE")
            return status_dataset(Status.SUCCESS)
        # _RESUME
        if job.state == "PAUSED":
            self.store.transition(
                uid,
                "PROCESSING",
                event=(EVENT_STATUS, self._status_info(job, state="PROCESSING")),
            )
            self._submit(uid)
        return status_dataset(Status.SUCCESS)

    def _ask(self, uid: str, why: str) -> None:
        """Tell this node's worker of `uid` to stop at its next checkpoint (if it runs here).

        A wish for a job another node runs is in the job store only (that node reads it).
        """
        with self._lock:
            if uid in self._running:
                self._wanted[uid] = why

    # -- events -----------------------------------------------------------------------------------
    def _status_info(
        self, job: Job, state: str | None = None, comment: str | None = None
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "TransactionUID": job.transaction_uid,
            "TransactionStatus": state or job.state,
            "TotalNumberOfStudyRecords": job.study_records,
        }
        if comment or job.comment:
            info["TransactionStatusComment"] = (comment or job.comment or "")[:1024]
        return info

    def _terminated_info(
        self, job: Job, state: str, root: Path, study_records: int, expires: str, comment: str
    ) -> dict[str, Any]:
        """Event 11 (Table KK.2-2): the root instance and how to get it."""
        header = read_header(root)
        dt = datetime.datetime.fromisoformat(expires).strftime("%Y%m%d%H%M%S")
        web: dict[str, Any] = {}
        if self.web_url is not None:  # the NPI resource of the root (PS3.18 12.1.1)
            web["RetrieveURL"] = f"{self.web_url()}/inventories/{header.sop_instance_uid}"
        return {
            "TransactionUID": job.transaction_uid,
            "TransactionStatus": state,
            "TransactionStatusComment": comment,
            "ReferencedSOPClassUID": str(INVENTORY_STORAGE),
            "ReferencedSOPInstanceUID": header.sop_instance_uid,
            "RetrieveAETitle": self.config.ae_title,
            **web,
            # The root file itself, described as our inventories describe plain files: a BLOB
            # holding one object at offset 0 (standard-notes Q7)
            "FileAccessURI": root.resolve().as_uri(),
            "ContainerFileType": "BLOB",
            "FileOffsetInContainer": 0,
            "FileLengthInContainer": root.stat().st_size,
            "StoredInstanceTransferSyntaxUID": str(read_file_meta_info(root).TransferSyntaxUID),
            "ExpirationDateTime": dt,
            "TotalNumberOfStudyRecords": study_records,
        }

    # -- production -------------------------------------------------------------------------------
    def _submit(self, uid: str) -> None:
        with self._lock:
            if self._closing:
                return
            if uid in self._running:
                return
            self._running.add(uid)
            self._wanted.pop(uid, None)  # a stale wish of an earlier run
        self._executor.submit(self._run, uid)

    def _checkpoint(self, uid: str) -> Callable[[int], None]:
        pace = self.config.limits.production_pace
        last_save = last_status = time.monotonic()

        def check(done: int) -> None:
            nonlocal last_save, last_status
            if pace:
                time.sleep(pace)
            with self._lock:
                why = self._wanted.get(uid)
            if why is not None:
                raise _Stop(why)
            now = time.monotonic()
            if now - last_save >= 0.5:
                self.store.progress(uid, done)
                last_save = now
                current = self.store.get(uid)  # the interval may change (Request Status)
                if current is not None and current.wanted in ("PAUSE", "CANCEL"):
                    raise _Stop(current.wanted)  # asked on another node sharing the store
                interval = current.status_interval if current else None
                if current and interval and now - last_status >= interval:
                    self.store.queue_event(uid, EVENT_STATUS, self._status_info(current))
                    last_status = now

        return check

    def _run(self, uid: str) -> None:
        try:
            self._produce(uid)
        except Exception:  # never let a worker die silently
            LOG.exception("inventory job %s failed", uid)
            job = self.store.get(uid)
            if job is not None and job.state not in TERMINAL_STATES:
                self.inventories.discard(uid)
                self.store.transition(
                    uid,
                    "FAILURE",
                    comment="internal error; see the node's log",
                    event=(
                        EVENT_TERMINATED_WITHOUT_INSTANCES,
                        self._status_info(job, "FAILURE", "internal error; see the node's log"),
                    ),
                )
        finally:
            self.store.release(uid, self.owner)
            with self._lock:
                self._running.discard(uid)
                if self._wanted.get(uid) != "SHUTDOWN":
                    self._wanted.pop(uid, None)

    def _produce(self, uid: str) -> None:
        job = self.store.get(uid)
        if job is None or job.state in TERMINAL_STATES:
            return
        if not self._holds(uid):
            LOG.info("inventory job %s is held by %s", uid, job.owner)
            return
        # the lease is renewed by a heartbeat, not by production progress: a scan that finds
        # nothing in scope for minutes must not look like a dead node
        stop_beat = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(uid, stop_beat), name="inventory-job-lease", daemon=True
        )
        beat.start()
        try:
            self._produce_held(uid, job)
        finally:
            stop_beat.set()
            beat.join()

    def _holds(self, uid: str) -> bool:
        """Take or renew this node's lease on the job; False if another node holds it."""
        return self.store.claim(uid, self.owner, self.config.limits.job_lease, time.time())

    def _heartbeat(self, uid: str, stop: threading.Event) -> None:
        while not stop.wait(max(0.1, self.config.limits.job_lease / 3)):
            try:
                held = self._holds(uid)
            except Exception:  # a database hiccup: try again at the next beat
                LOG.exception("renewing the lease of inventory job %s", uid)
                continue
            if not held:
                LOG.warning("inventory job %s: lease lost; stopping here", uid)
                self._ask(uid, "LOST")
                return

    def _produce_held(self, uid: str, job: Job) -> None:
        if job.wanted:
            self._ask(uid, job.wanted)  # a wish recorded before a restart
        final = self.inventories.published(uid)
        if final is None:
            staging = self.inventories.staging(uid)
            staged_root = staging / f"{job.root_uid}.dcm"
            done_before = staged_root.exists() and not (staging / STATE_FILE).exists()
            if not done_before:
                if job.wanted == "CANCEL" or self._wanted.get(uid) == "CANCEL":
                    self._cancel(job)
                    return
                try:
                    produce_partitioned(
                        self.repository,
                        staging,
                        level=job.level,
                        scope=job.scope,
                        partitions=self.config.limits.partitions,
                        max_records=self.config.limits.max_records,
                        purpose=job.purpose,
                        transaction_uid=job.transaction_uid,
                        retrieve_ae_title=self.config.ae_title,
                        root_uid=job.root_uid,
                        progress=self._checkpoint(uid),
                    )
                except _Stop as stop:
                    self._stopped(uid, stop.why)
                    return
            final = self.inventories.publish(uid)  # Q/R sees all of the inventory or none
        self._finish(job, "COMPLETE", final, final / f"{job.root_uid}.dcm", "inventory complete")

    def _finish(self, job: Job, state: str, folder: Path, root: Path, comment: str) -> None:
        if not self._holds(job.transaction_uid):  # another node took over: it finishes
            LOG.warning("inventory job %s: lease lost before its end", job.transaction_uid)
            return
        # sweep before the final event is queued: a requester that sees the event also sees
        # the expired inventories gone (the event thread could otherwise overtake the sweep)
        self.sweep_expired()
        header = read_header(root)
        n = header.total_number_of_study_records or 0
        expires = (
            datetime.datetime.now() + datetime.timedelta(days=self.config.limits.retention_days)
        ).isoformat(timespec="microseconds")
        self.store.transition(
            job.transaction_uid,
            state,
            comment=comment,
            study_records=n,
            expires=expires,
            event=(
                EVENT_TERMINATED_WITH_INSTANCES,
                self._terminated_info(job, state, root, n, expires, comment),
            ),
        )
        LOG.info(
            "inventory job %s %s: %d study records in %s", job.transaction_uid, state, n, folder
        )

    def _stopped(self, uid: str, why: str) -> None:
        job = self.store.get(uid)
        assert job is not None
        if why == "SHUTDOWN":
            LOG.info("inventory job %s checkpointed for shutdown", uid)
            return
        if why == "LOST":
            LOG.warning("inventory job %s: lease lost to %s; stopped here", uid, job.owner)
            return
        if why == "PAUSE":
            self.store.transition(
                uid, "PAUSED", event=(EVENT_STATUS, self._status_info(job, "PAUSED"))
            )
            return
        self._cancel(job)

    def _cancel(self, job: Job) -> None:
        if not self._holds(job.transaction_uid):
            LOG.warning("inventory job %s: lease lost before its cancel", job.transaction_uid)
            return
        job = self.store.get(job.transaction_uid) or job
        uid = job.transaction_uid
        kept = close_partial(self.inventories.staging(uid)) if job.retain else None
        if kept is not None:
            final = self.inventories.publish(uid)
            self._finish(
                job,
                "CANCELED",
                final,
                final / kept[0].name,
                "canceled; the finished part is kept (Completion Status PARTIAL)",
            )
            return
        self.inventories.discard(uid)
        comment = "canceled" if not job.retain else "canceled before any part was finished"
        self.store.transition(
            job.transaction_uid,
            "CANCELED",
            comment=comment,
            event=(EVENT_TERMINATED_WITHOUT_INSTANCES, self._status_info(job, "CANCELED", comment)),
        )
