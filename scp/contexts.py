"""The presentation contexts a node accepts and proposes, from its configuration alone.

One place for what the node negotiates: :class:`~dicom_inventory.scp.server.InventoryNode`
adds exactly these contexts to its pynetdicom AE, and the conformance-statement generator
(:mod:`dicom_inventory.conformance`) tabulates exactly these, so the statement cannot claim a
SOP class, role or transfer syntax the node does not negotiate (PS3.2 A.4.2.1.4). The SOP Class
Extended Negotiation the node accepts (relational-queries, PS3.4 C.5.1.1.2) is decided here too
(:func:`sop_class_extended_response`), from the same contexts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.uid import (
    INVENTORY_CREATION,
    INVENTORY_FIND,
    INVENTORY_GET,
    INVENTORY_MOVE,
    INVENTORY_STORAGE,
    REPOSITORY_QUERY,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    VERIFICATION,
)
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pynetdicom import ALL_TRANSFER_SYNTAXES, StoragePresentationContexts

__all__ = [
    "RELATIONAL_QUERIES_ACCEPTED",
    "RELATIONAL_QUERIES_REFUSED",
    "ContextSpec",
    "accepted_contexts",
    "proposed_contexts",
    "query_retrieve_syntaxes",
    "relational_query_classes",
    "restrict_roles",
    "scu_only_classes",
    "sop_class_extended_response",
]

#: Service-class-application-information of a C-FIND SOP Class Extended Negotiation sub-item in
#: the A-ASSOCIATE-AC (PS3.4 C.5.1.1.2, Table C.5-1): byte 1, relational-queries, 1 = supported.
#: One byte only: the missing sub-fields of a longer request count as 0 (C.5.1.1.2), so
#: combined date-time, fuzzy person name matching and the others are not accepted.
RELATIONAL_QUERIES_ACCEPTED = b"\x01"
#: The same sub-item with byte 1 = 0: relational queries not supported on this association.
RELATIONAL_QUERIES_REFUSED = b"\x00"


@dataclass(frozen=True)
class ContextSpec:
    """One presentation context: abstract syntax, transfer syntaxes, the node's roles, and why."""

    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]
    service: str
    """The :class:`~dicom_inventory.scp.config.Services` field it belongs to."""
    node_scp: bool = True
    """The node acts as SCP of this SOP class (the default role of an acceptor)."""
    node_scu: bool = False
    """The node acts as SCU on an association the peer requested: C-GET sub-operations, which
    need SCP/SCU Role Selection by the requester (PS3.7 D.3.3.4)."""
    relational_queries: bool = False
    """A C-FIND SOP class for which the node accepts the relational-queries SOP Class Extended
    Negotiation (PS3.4 C.5.1.1.2) and then answers relational queries (C.4.1.3.2); without that
    negotiation its queries are hierarchical (C.4.1.3.1.1). Repository Query must support the
    negotiation if it supports relational search (PS3.4 C.6.4.6.2)."""

    def pynetdicom_roles(self) -> dict[str, bool]:
        """``add_supported_context`` keywords: the roles the *requester* may take."""
        return {"scu_role": self.node_scp, "scp_role": self.node_scu}


def query_retrieve_syntaxes(transfer_syntaxes: tuple[str, ...]) -> tuple[str, ...]:
    """The configured transfer syntaxes less Deflated: those of the Query/Retrieve contexts.

    pynetdicom 3.0 inflates a C-FIND / C-GET / C-MOVE identifier without a bound before any
    handler of the node runs, so a few kilobytes of deflated zeros become gigabytes in memory;
    an identifier is too short for deflate to gain anything. The node therefore never offers
    Deflated Explicit VR Little Endian for FIND, MOVE, GET or Repository Query, as DCMTK's
    dcmqrscp by default does not (the reasoning: :mod:`dicom_inventory.scp.services.decode`).
    """
    return tuple(t for t in transfer_syntaxes if t != DeflatedExplicitVRLittleEndian)


def accepted_contexts(config: NodeConfig) -> list[ContextSpec]:
    """The contexts the node accepts as association acceptor, in a stable order.

    Inventory Creation and the storage contexts take the configured transfer syntaxes; the
    Query/Retrieve contexts those of :func:`query_retrieve_syntaxes` (never Deflated).
    """
    sv, ts = config.services, config.services.transfer_syntaxes
    qr_ts = query_retrieve_syntaxes(ts)
    out: list[ContextSpec] = []
    if sv.verification:
        out.append(ContextSpec(VERIFICATION, ts, "verification"))
    if sv.inventory_creation:
        out.append(ContextSpec(INVENTORY_CREATION, ts, "inventory_creation"))
    if sv.inventory_storage or sv.inventory_query_retrieve:
        # SCP role: receiving inventories; SCU role: C-GET sends them back on the same
        # association, which needs role selection by the requester
        out.append(
            ContextSpec(
                INVENTORY_STORAGE,
                ts,
                "inventory_storage" if sv.inventory_storage else "inventory_query_retrieve",
                node_scp=sv.inventory_storage,
                node_scu=sv.inventory_query_retrieve,
            )
        )
    if sv.inventory_query_retrieve:
        for uid in (INVENTORY_FIND, INVENTORY_MOVE, INVENTORY_GET):
            out.append(ContextSpec(uid, qr_ts, "inventory_query_retrieve"))
    if sv.repository_query:
        out.append(
            ContextSpec(REPOSITORY_QUERY, qr_ts, "repository_query", relational_queries=True)
        )
    if sv.study_root_query_retrieve:
        for uid in (STUDY_ROOT_FIND, STUDY_ROOT_MOVE, STUDY_ROOT_GET):
            out.append(
                ContextSpec(
                    uid,
                    qr_ts,
                    "study_root_query_retrieve",
                    relational_queries=uid == STUDY_ROOT_FIND,
                )
            )
    if sv.archive_storage or sv.study_root_query_retrieve:
        # patient objects in (C-STORE) and out (C-GET sub-operations), as they were stored
        for cx in StoragePresentationContexts:
            out.append(
                ContextSpec(
                    str(cx.abstract_syntax),
                    tuple(ALL_TRANSFER_SYNTAXES),
                    "archive_storage" if sv.archive_storage else "study_root_query_retrieve",
                    node_scp=sv.archive_storage,
                    node_scu=sv.study_root_query_retrieve,
                )
            )
    return out


def proposed_contexts(config: NodeConfig) -> list[ContextSpec]:
    """The contexts the node proposes as association requestor.

    N-EVENT-REPORTs go to the requester on a new association with the node in the SCP role of
    Inventory Creation (PS3.4 KK.2.3); C-MOVE sub-operations send Inventory Storage (and
    patient objects, proposed per object with its stored transfer syntax).
    """
    sv, ts = config.services, config.services.transfer_syntaxes
    out: list[ContextSpec] = []
    if sv.inventory_creation:
        out.append(
            ContextSpec(INVENTORY_CREATION, ts, "inventory_creation", node_scp=True, node_scu=False)
        )
    if sv.inventory_query_retrieve:
        out.append(
            ContextSpec(
                INVENTORY_STORAGE, ts, "inventory_query_retrieve", node_scp=False, node_scu=True
            )
        )
    return out


def relational_query_classes(config: NodeConfig) -> frozenset[str]:
    """The C-FIND SOP classes whose relational-queries negotiation the node accepts."""
    return frozenset(
        cx.abstract_syntax for cx in accepted_contexts(config) if cx.relational_queries
    )


def sop_class_extended_response(
    config: NodeConfig, requested: Mapping[str, bytes]
) -> dict[str, bytes]:
    """The SOP Class Extended Negotiation sub-items of the A-ASSOCIATE-AC (PS3.7 D.3.3.5).

    Parameters
    ----------
    config : NodeConfig
        The node's configuration: which SOP classes it offers.
    requested : mapping of str to bytes
        The requester's sub-items, SOP Class UID -> service-class-application-information.

    Returns
    -------
    dict of str to bytes
        One sub-item for each requested C-FIND SOP class of :func:`relational_query_classes`:
        relational-queries accepted (byte 1 = 1, PS3.4 C.5.1.1.2, Table C.5-1) when the
        requester asked for it, refused (0) otherwise. Other SOP classes get no sub-item: their
        extended behaviour (e.g. relational-retrieve, C.5.2.1) is not negotiated.
    """
    classes = relational_query_classes(config)
    return {
        str(uid): (
            RELATIONAL_QUERIES_ACCEPTED
            if bytes(info)[:1] == RELATIONAL_QUERIES_ACCEPTED
            else RELATIONAL_QUERIES_REFUSED
        )
        for uid, info in requested.items()
        if str(uid) in classes
    }


def scu_only_classes(config: NodeConfig) -> frozenset[str]:
    """SOP classes the node takes only the SCU role of, on associations it accepts.

    These are for C-GET sub-operations: Inventory Storage with storage off, patient objects
    with the archive's Storage SCP off.
    """
    return frozenset(
        cx.abstract_syntax for cx in accepted_contexts(config) if cx.node_scu and not cx.node_scp
    )


def restrict_roles(event: Any, scu_only: frozenset[str]) -> None:
    """``evt.EVT_REQUESTED`` handler: restrict the roles of SOP classes the node is only SCU of.

    Such a class is accepted where the requester takes the SCP role by SCP/SCU Role Selection,
    never in the default roles.

    Without a Role Selection item the requester is SCU and the acceptor SCP (PS3.7 D.3.3.4);
    pynetdicom would accept such a context even where the node does not offer the SCP role,
    so the class is withdrawn from this association's supported contexts before negotiation
    and the context is rejected (abstract syntax not supported), as the statement says.
    """
    roles = event.assoc.requestor.role_selection
    drop = {uid for uid in scu_only if uid not in roles or not roles[uid].scp_role}
    if drop:
        acceptor = event.assoc.acceptor
        acceptor.supported_contexts = [
            cx for cx in acceptor.supported_contexts if str(cx.abstract_syntax) not in drop
        ]
