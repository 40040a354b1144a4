"""The Inventory SCP node: pynetdicom AE, presentation contexts, event handlers.

Services: Verification (C-ECHO, health); Inventory Storage SCP (non-patient storage, PS3.4
GG) that validates every received inventory with the IOD validator and refuses a
non-conformant one with 0xA900, so it is never silently accepted; Inventory FIND/GET/MOVE over
the inventories the node keeps (PS3.4 JJ, :mod:`dicom_inventory.scp.qr`); Inventory Creation
(PS3.4 KK, :mod:`dicom_inventory.scp.creation`); Repository Query (PS3.4 C.6.4) and the
archive's own Storage SCP and Study Root FIND/GET/MOVE (:mod:`dicom_inventory.scp.studyroot`).
Relational queries of Repository Query and Study Root FIND are answered on an association that
negotiated them (SOP Class Extended Negotiation, PS3.4 C.5.1.1.2, :func:`handle_sop_extended`);
otherwise those queries are hierarchical (C.4.1.3.1.1).

Handlers are plain functions bound with pynetdicom's ``evt`` mechanism; the node class only
wires configuration to the AE (pynetdicom apps are the model).
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dicom_inventory.errors import InventoryReadError
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.contexts import (
    accepted_contexts,
    proposed_contexts,
    restrict_roles,
    scu_only_classes,
    sop_class_extended_response,
)
from dicom_inventory.scp.creation import InventoryCreation, repository_factory
from dicom_inventory.scp.notify import EventSender
from dicom_inventory.scp.qr import handle_find, handle_get, handle_move
from dicom_inventory.scp.repository import Repository
from dicom_inventory.scp.studyroot import (
    handle_repository_find,
    handle_study_find,
    handle_study_get,
    handle_study_move,
)
from dicom_inventory.scp.wire import WireFixes, quiet_placeholder_warning
from dicom_inventory.status import Status
from dicom_inventory.uid import (
    INVENTORY_STORAGE,
    REPOSITORY_QUERY,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
)
from dicom_inventory.validate import Severity, Validator
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt

__all__ = ["C_STORE_STATUSES", "InventoryNode", "TRANSFER_SYNTAXES"]

LOG = logging.getLogger("dicom_inventory.scp")

#: Transfer syntaxes accepted for Inventory Storage and Verification.
TRANSFER_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]


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


def _status(code: Status, comment: str | None = None) -> Dataset:
    ds = Dataset()
    ds.Status = int(code)
    if comment:
        ds.ErrorComment = comment[:64]  # LO: 64 characters (PS3.7 C.4)
    return ds


def handle_sop_extended(event: Any, config: NodeConfig) -> dict[str, bytes]:
    """``evt.EVT_SOP_EXTENDED``: the SOP Class Extended Negotiation answer (PS3.7 D.3.3.5).

    Relational-queries is accepted for Repository Query and Study Root FIND when the requester
    asks for it (PS3.4 C.5.1.1.2, C.6.4.6.2); pynetdicom puts the returned items in the
    A-ASSOCIATE-AC, where the C-FIND handlers read them back
    (:func:`~dicom_inventory.scp.studyroot.relational_queries_negotiated`).
    """
    answer = sop_class_extended_response(config, event.app_info)
    if answer:
        LOG.info(
            "extended negotiation from %s: relational-queries %s",
            _peer(event),
            ", ".join(f"{uid}={info.hex()}" for uid, info in sorted(answer.items())),
        )
    return answer


def handle_echo(event: Any) -> int:
    """C-ECHO: the node is alive."""
    return int(Status.SUCCESS)


def handle_store(event: Any, config: NodeConfig) -> Dataset | int:
    """C-STORE of an Inventory SOP Instance: validate, then keep it (PS3.4 GG, B.2.3).

    A received inventory with validator *errors* is refused with 0xA900 (Data Set does not
    match SOP Class) and an Error Comment naming the first finding; warnings do not block.
    """
    # the Storage contexts are also accepted for C-GET sub-operations (the node as SCU), so a
    # C-STORE of a service the configuration does not offer is refused here
    if event.request.AffectedSOPClassUID != INVENTORY_STORAGE:
        if not config.services.archive_storage:
            return _status(Status.SOP_CLASS_NOT_SUPPORTED, "this node does not store objects")
        return _store_patient_object(event, config)
    if not config.services.inventory_storage:
        return _status(Status.SOP_CLASS_NOT_SUPPORTED, "this node does not store inventories")
    folder = config.inventories
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(event.encoded_dataset(include_meta=True))
        try:
            errors = [f for f in Validator().file(tmp) if f.severity is Severity.ERROR]
        except InventoryReadError as exc:
            LOG.warning("refused an unreadable inventory from %s: %s", _peer(event), exc)
            return _status(Status.CANNOT_UNDERSTAND, f"unreadable: {exc.message}")
        uid = str(event.request.AffectedSOPInstanceUID)
        if errors:
            first = errors[0]
            LOG.warning(
                "refused inventory %s from %s: %d error(s), first %s %s: %s",
                uid,
                _peer(event),
                len(errors),
                first.rule,
                first.path,
                first.message,
            )
            return _status(
                Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
                f"{len(errors)} IOD error(s): {first.rule} {first.path}",
            )
        target = folder / f"{uid}.dcm"
        if not target.resolve().parent == folder.resolve():  # a UID never escapes the folder
            return _status(Status.CANNOT_UNDERSTAND, "invalid SOP Instance UID")
        os.replace(tmp, target)
        tmp = ""
        LOG.info("stored inventory %s from %s", uid, _peer(event))
        return int(Status.SUCCESS)
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)


def _store_patient_object(event: Any, config: NodeConfig) -> Dataset | int:
    """C-STORE of a patient object into the embedded archive (its Storage SCP, PS3.4 B)."""
    from dicom_inventory.scp.archive import Archive, ArchiveError

    uid = str(event.request.AffectedSOPInstanceUID)
    try:
        with Archive(config.archive, create=True) as archive:
            report = archive.receive(event.encoded_dataset(include_meta=True), uid)
    except ArchiveError as exc:
        return _status(Status.CANNOT_UNDERSTAND, str(exc))
    except OSError as exc:
        LOG.error("cannot keep %s from %s: %s", uid, _peer(event), exc)
        return _status(Status.OUT_OF_RESOURCES, "cannot write the object")
    if report.errors:
        return _status(Status.CANNOT_UNDERSTAND, report.errors[0].message)
    LOG.info("stored %s from %s", uid, _peer(event))
    return int(Status.SUCCESS)


def _find(event: Any, config: NodeConfig, factory: Callable[[], Repository]) -> Any:
    """C-FIND dispatch by SOP Class: Inventory FIND, Study Root, Repository Query."""
    uid = event.request.AffectedSOPClassUID
    if uid == REPOSITORY_QUERY:
        return handle_repository_find(event, config, factory)
    if uid == STUDY_ROOT_FIND:
        return handle_study_find(event, config, factory)
    return handle_find(event, config)


def _get(event: Any, config: NodeConfig, factory: Callable[[], Repository]) -> Any:
    if event.request.AffectedSOPClassUID == STUDY_ROOT_GET:
        return handle_study_get(event, config, factory)
    return handle_get(event, config)


def _move(event: Any, config: NodeConfig, factory: Callable[[], Repository]) -> Any:
    if event.request.AffectedSOPClassUID == STUDY_ROOT_MOVE:
        return handle_study_move(event, config, factory)
    return handle_move(event, config)


def _log_association(event: Any) -> None:
    """What each association did, in the node's log (accepted, released, aborted)."""
    assoc = event.assoc
    name = event.event.name
    if name == "EVT_ACCEPTED":
        classes = sorted({str(cx.abstract_syntax) for cx in assoc.accepted_contexts})
        LOG.info(
            "association from %s accepted: %d context(s) %s",
            _peer(event),
            len(classes),
            ", ".join(classes[:6]),
        )
    else:
        LOG.info(
            "association from %s %s",
            _peer(event),
            "released" if name == "EVT_RELEASED" else "aborted",
        )


def _peer(event: Any) -> str:
    req = event.assoc.requestor
    return f"{req.ae_title}@{req.address}:{req.port}"


class InventoryNode:
    """An Inventory node on the network, configured by a :class:`NodeConfig`.

    Parameters
    ----------
    config : NodeConfig
        What the node does and where.
    repository : callable, optional
        Makes the :class:`Repository` that inventories are produced from (a vendor's own
        database adapter); by default the embedded archive at ``config.archive``.
    """

    def __init__(
        self, config: NodeConfig, repository: Callable[[], Repository] | None = None
    ) -> None:
        self.config = config
        self.repository = repository or repository_factory(config)
        self.wire = WireFixes()
        quiet_placeholder_warning()
        self.creation: InventoryCreation | None = None
        self.events: EventSender | None = None
        lim = config.limits
        ae = AE(ae_title=config.ae_title)
        ae.maximum_associations = lim.max_associations
        ae.maximum_pdu_size = lim.max_pdu
        ae.acse_timeout = lim.acse_timeout
        ae.dimse_timeout = lim.dimse_timeout
        ae.network_timeout = lim.network_timeout
        if config.accepted_calling_ae_titles:
            ae.require_calling_aet = list(config.accepted_calling_ae_titles)
        # exactly what the configuration offers, as the conformance statement tabulates it
        for cx in accepted_contexts(config):
            ae.add_supported_context(
                cx.abstract_syntax, list(cx.transfer_syntaxes), **cx.pynetdicom_roles()
            )
        for cx in proposed_contexts(config):
            if cx.abstract_syntax == INVENTORY_STORAGE:  # C-MOVE sub-operations
                ae.add_requested_context(cx.abstract_syntax, list(cx.transfer_syntaxes))
        self.ae = ae
        self.server: Any = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """Server-side TLS context from the configuration, if TLS is configured."""
        tls = self.config.tls
        if tls is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls.certificate, tls.private_key)
        if tls.ca_certificates is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(tls.ca_certificates)
        return ctx

    def start(self, block: bool = False) -> Any:
        """Start listening (and resume unfinished jobs); with `block`, serve until stopped."""
        self.creation = InventoryCreation(self.config, self.repository, self.wire)
        self.events = EventSender(self.config, self.creation.store)
        self.creation.start()
        self.events.start()
        handlers: list[Any] = [
            (evt.EVT_DIMSE_SENT, self.wire.on_sent),
            (evt.EVT_REQUESTED, restrict_roles, [scu_only_classes(self.config)]),
            (evt.EVT_SOP_EXTENDED, handle_sop_extended, [self.config]),
            (evt.EVT_ACCEPTED, _log_association),
            (evt.EVT_RELEASED, _log_association),
            (evt.EVT_ABORTED, _log_association),
            (evt.EVT_N_ACTION, self.creation.handle_n_action),
            (evt.EVT_C_ECHO, handle_echo),
            (evt.EVT_C_STORE, handle_store, [self.config]),
            (evt.EVT_C_FIND, _find, [self.config, self.repository]),
            (evt.EVT_C_GET, _get, [self.config, self.repository]),
            (evt.EVT_C_MOVE, _move, [self.config, self.repository]),
        ]
        address = (self.config.bind_address, self.config.port)
        self.server = self.ae.start_server(
            address, block=block, evt_handlers=handlers, ssl_context=self.ssl_context()
        )
        return self.server

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop accepting associations, checkpoint running jobs, stop event delivery."""
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        if self.creation is not None:
            self.creation.stop()
        if self.events is not None:
            self.events.stop()
