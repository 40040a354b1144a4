"""The presentation contexts a node accepts and proposes, from its configuration alone.

One place for what the node negotiates: :class:`~dicom_inventory.scp.server.InventoryNode`
adds exactly these contexts to its pynetdicom AE, and the conformance-statement generator
(:mod:`dicom_inventory.conformance`) tabulates exactly these, so the statement cannot claim a
SOP class, role or transfer syntax the node does not negotiate (PS3.2 A.4.2.1.4).
"""

from __future__ import annotations

from dataclasses import dataclass

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
from pynetdicom import ALL_TRANSFER_SYNTAXES, StoragePresentationContexts

__all__ = ["ContextSpec", "accepted_contexts", "proposed_contexts"]


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

    def pynetdicom_roles(self) -> dict[str, bool]:
        """``add_supported_context`` keywords: the roles the *requester* may take."""
        return {"scu_role": self.node_scp, "scp_role": self.node_scu}


def accepted_contexts(config: NodeConfig) -> list[ContextSpec]:
    """The contexts the node accepts as association acceptor, in a stable order."""
    sv, ts = config.services, config.services.transfer_syntaxes
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
            out.append(ContextSpec(uid, ts, "inventory_query_retrieve"))
    if sv.repository_query:
        out.append(ContextSpec(REPOSITORY_QUERY, ts, "repository_query"))
    if sv.study_root_query_retrieve:
        for uid in (STUDY_ROOT_FIND, STUDY_ROOT_MOVE, STUDY_ROOT_GET):
            out.append(ContextSpec(uid, ts, "study_root_query_retrieve"))
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
