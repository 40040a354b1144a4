"""The Inventory SCP node: pynetdicom AE, presentation contexts, event handlers.

Services (the handlers are in :mod:`dicom_inventory.scp.services`): Verification (C-ECHO,
health); Inventory Storage SCP (PS3.4 GG, :mod:`~dicom_inventory.scp.services.storage`), which
validates every received inventory; Inventory FIND/GET/MOVE over the inventories the node keeps
(PS3.4 JJ, :mod:`~dicom_inventory.scp.services.qr`); Inventory Creation (PS3.4 KK,
:mod:`~dicom_inventory.scp.services.creation`); Repository Query (PS3.4 C.6.4) and the archive's
own Storage SCP and Study Root FIND/GET/MOVE (:mod:`~dicom_inventory.scp.services.studyroot`).
Relational queries of Repository Query and Study Root FIND are answered on an association that
negotiated them (SOP Class Extended Negotiation, PS3.4 C.5.1.1.2, :func:`handle_sop_extended`);
otherwise those queries are hierarchical (C.4.1.3.1.1).

Handlers are plain functions bound with pynetdicom's ``evt`` mechanism; the node class only
wires configuration and the three stores a vendor implements (:mod:`dicom_inventory.scp.stores`:
repository, inventory store, job store) to the AE (pynetdicom apps are the model). Without
stores of its own, the node serves the embedded archive (:mod:`dicom_inventory.scp.archive`).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from dicom_inventory.scp import backends
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.contexts import (
    accepted_contexts,
    proposed_contexts,
    restrict_roles,
    scu_only_classes,
    sop_class_extended_response,
)
from dicom_inventory.scp.guard import (
    AssociationGuard,
    GuardedAssociationServer,
    install_peer_log_filter,
)
from dicom_inventory.scp.services.creation import InventoryCreation
from dicom_inventory.scp.services.notify import EventSender
from dicom_inventory.scp.services.qr import handle_find, handle_get, handle_move
from dicom_inventory.scp.services.responses import requestor
from dicom_inventory.scp.services.storage import handle_store
from dicom_inventory.scp.services.studyroot import (
    handle_repository_find,
    handle_study_find,
    handle_study_get,
    handle_study_move,
)
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.scp.stores.jobs import JobStore
from dicom_inventory.scp.stores.repository import Repository
from dicom_inventory.scp.tls import server_context
from dicom_inventory.scp.wire import WireFixes, quiet_placeholder_warning
from dicom_inventory.status import Status
from dicom_inventory.uid import (
    INVENTORY_STORAGE,
    REPOSITORY_QUERY,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
)
from pynetdicom import AE, evt

__all__ = ["InventoryNode", "handle_echo", "handle_sop_extended"]

LOG = logging.getLogger("dicom_inventory.scp")


def handle_sop_extended(event: Any, config: NodeConfig) -> dict[str, bytes]:
    """``evt.EVT_SOP_EXTENDED``: the SOP Class Extended Negotiation answer (PS3.7 D.3.3.5).

    Relational-queries is accepted for Repository Query and Study Root FIND when the requester
    asks for it (PS3.4 C.5.1.1.2, C.6.4.6.2); pynetdicom puts the returned items in the
    A-ASSOCIATE-AC, where the C-FIND handlers read them back
    (:func:`~dicom_inventory.scp.services.studyroot.relational_queries_negotiated`).
    """
    answer = sop_class_extended_response(config, event.app_info)
    if answer:
        LOG.info(
            "extended negotiation from %s: relational-queries %s",
            requestor(event),
            ", ".join(f"{uid}={info.hex()}" for uid, info in sorted(answer.items())),
        )
    return answer


def handle_echo(event: Any) -> int:
    """C-ECHO: the node is alive."""
    return int(Status.SUCCESS)


def _find(
    event: Any,
    config: NodeConfig,
    factory: Callable[[], Repository],
    inventories: InventoryStore,
) -> Any:
    """C-FIND dispatch by SOP Class: Inventory FIND, Study Root, Repository Query."""
    uid = event.request.AffectedSOPClassUID
    if uid == REPOSITORY_QUERY:
        return handle_repository_find(event, config, factory)
    if uid == STUDY_ROOT_FIND:
        return handle_study_find(event, config, factory)
    return handle_find(event, inventories)


def _get(
    event: Any,
    config: NodeConfig,
    factory: Callable[[], Repository],
    inventories: InventoryStore,
) -> Any:
    if event.request.AffectedSOPClassUID == STUDY_ROOT_GET:
        return handle_study_get(event, config, factory)
    return handle_get(event, inventories)


def _move(
    event: Any,
    config: NodeConfig,
    factory: Callable[[], Repository],
    inventories: InventoryStore,
) -> Any:
    if event.request.AffectedSOPClassUID == STUDY_ROOT_MOVE:
        return handle_study_move(event, config, factory)
    return handle_move(event, config, inventories)


def _log_association(event: Any) -> None:
    """What each association did, in the node's log (accepted, released, aborted)."""
    assoc = event.assoc
    name = event.event.name
    if name == "EVT_ACCEPTED":
        classes = sorted({str(cx.abstract_syntax) for cx in assoc.accepted_contexts})
        LOG.info(
            "association from %s accepted: %d context(s) %s",
            requestor(event),
            len(classes),
            ", ".join(classes[:6]),
        )
    else:
        LOG.info(
            "association from %s %s",
            requestor(event),
            "released" if name == "EVT_RELEASED" else "aborted",
        )


class InventoryNode:
    """An Inventory node on the network, configured by a :class:`NodeConfig`.

    Parameters
    ----------
    config : NodeConfig
        What the node does and where.
    repository : callable, optional
        Makes the :class:`~dicom_inventory.scp.stores.repository.Repository` that
        inventories are produced from (a vendor's own database adapter); by default the
        archive the configuration names (:mod:`dicom_inventory.scp.backends`).
    inventories : InventoryStore, optional
        Where the node keeps the inventories it produces and receives; by default the folder
        ``config.inventories``.
    jobs : JobStore, optional
        Where the node keeps its Inventory Creation transactions and their events (the caller
        closes it); by default the configured archive's (SQLite or PostgreSQL), or
        ``jobs.sqlite`` in the inventories folder when `repository` is given.
    """

    def __init__(
        self,
        config: NodeConfig,
        repository: Callable[[], Repository] | None = None,
        inventories: InventoryStore | None = None,
        jobs: JobStore | None = None,
    ) -> None:
        self.config = config
        # our archives (embedded or PostgreSQL) receive patient objects too; a vendor's
        # archive has its own Storage SCP, so the node offers it only over ours
        self.receive = backends.receiver(config) if repository is None else None
        self.repository = repository or backends.repository_factory(config)
        self._own_inventories = inventories is None
        self._reopen_inventories = False
        self.inventories = inventories or backends.inventory_store(config)
        self._jobs = jobs
        self.jobs: JobStore | None = jobs
        self.wire = WireFixes()
        quiet_placeholder_warning()
        install_peer_log_filter()  # a peer's malformed PDU: one warning line, no traceback
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
        # a request calling another AE title: A-ASSOCIATE-RJ called-AE-title-not-recognized
        ae.require_called_aet = not config.accept_any_called_ae_title
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
        self.web: Any = None
        """The DICOMweb origin server (:class:`~dicom_inventory.scp.web.server.WebServer`)
        while the node runs with an ``[http]`` section."""

    def ssl_context(self) -> ssl.SSLContext | None:
        """Server-side TLS context from the configuration, if TLS is configured."""
        tls = self.config.tls
        if tls is None:
            return None
        return server_context(
            tls.certificate,
            tls.private_key,
            ca_certificates=tls.ca_certificates,
            client_certificate_required=tls.client_certificate_required,
            minimum_version=tls.minimum_version,
        )

    def start(self, block: bool = False) -> Any:
        """Start listening (and resume unfinished jobs); with `block`, serve until stopped."""
        if self.jobs is None:
            self.jobs = backends.job_store(self.config)
        if self._reopen_inventories:  # closed by an earlier stop()
            self.inventories = backends.inventory_store(self.config)
            self._reopen_inventories = False
        if self.config.http is not None:
            from dicom_inventory.scp.web.server import WebServer

            self.web = WebServer(self.config, self.inventories, self.repository)
            self.web.start()
        self.creation = InventoryCreation(
            self.config,
            self.repository,
            self.wire,
            self.jobs,
            self.inventories,
            web_url=(lambda: self.web.base_url) if self.web is not None else None,
        )
        self.events = EventSender(self.config, self.jobs)
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
            (evt.EVT_C_STORE, handle_store, [self.config, self.inventories, self.receive]),
            (evt.EVT_C_FIND, _find, [self.config, self.repository, self.inventories]),
            (evt.EVT_C_GET, _get, [self.config, self.repository, self.inventories]),
            (evt.EVT_C_MOVE, _move, [self.config, self.repository, self.inventories]),
        ]
        address = (self.config.bind_address, self.config.port)
        lim = self.config.limits
        # every connection passes the guard before pynetdicom's state machine sees it
        guard = AssociationGuard(lim.acse_timeout, lim.network_timeout, lim.max_associations)
        self.server = self.ae.make_server(
            address,
            evt_handlers=handlers,
            ssl_context=self.ssl_context(),
            server_class=GuardedAssociationServer,
            guard=guard,
        )
        if block:
            self.server.serve_forever()
            return None
        threading.Thread(
            target=self.server.serve_forever, name="inventory-acceptor", daemon=True
        ).start()
        return self.server

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server.server_address[1])

    @property
    def web_url(self) -> str | None:
        """The DICOMweb service's base URI while it runs, else ``None``."""
        return self.web.base_url if self.web is not None else None

    def _end_associations(self, server: Any) -> bool:
        """Abort the associations `server` accepted, wait for their handlers; say if all ended."""
        running = [a for a in server.active_associations if a.is_alive()]
        for assoc in running:
            assoc.abort()
        wait = self.config.limits.dimse_timeout
        for assoc in running:
            assoc.join(wait)
        return not any(a.is_alive() for a in running)

    def stop(self) -> None:
        """Stop accepting, end the associations, checkpoint jobs, stop events, close stores.

        In that order: the stores close only once nothing that uses them runs any more (an
        association's handler, a production worker, the event sender); whatever still runs
        after its timeout keeps its store open, with a warning, rather than failing in it.
        """
        handlers_done = True
        if self.server is not None:
            server, self.server = self.server, None
            server.shutdown()  # no new connections
            handlers_done = self._end_associations(server)
        if self.web is not None:
            self.web.stop()
            self.web = None
        if self.creation is not None:
            self.creation.stop()
        if self.events is not None:
            self.events.stop()
        sender_busy = self.events is not None and self.events.is_alive()
        busy = sender_busy or not handlers_done
        if self._jobs is None and self.jobs is not None and not busy:  # ours
            self.jobs.close()
            self.jobs = None
        elif sender_busy:
            # a delivery outlived the sender's stop timeout: closing the store under it would
            # lose the record of a delivered event (sent again after a restart)
            LOG.warning("event delivery still running at stop: the job store is left open")
        elif not handlers_done:
            LOG.warning("an association's handler still runs at stop: the stores are left open")
            return
        close = getattr(self.inventories, "close", None)
        if self._own_inventories and close is not None:  # ours, with a connection
            close()
            self._reopen_inventories = True
