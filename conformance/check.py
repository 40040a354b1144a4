"""``conformance-statement --check``: compare a statement with a running node's behaviour.

The node is probed over real associations: every presentation context the statement says is
accepted (abstract syntax x transfer syntax, the node's role), a sample of contexts it does
not claim (they must be rejected), C-ECHO, and a harmless Inventory FIND. Every difference is
a :class:`Difference`; none means the statement tells the truth about what was probed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_inventory.scp.config import SUPPORTED_TRANSFER_SYNTAXES, NodeConfig, Services
from dicom_inventory.scp.contexts import accepted_contexts
from dicom_inventory.scu.client import SCUError
from dicom_inventory.scu.peer import Peer, nodelay
from dicom_inventory.status import Status, is_pending
from dicom_inventory.uid import INVENTORY_FIND, REPOSITORY_QUERY, VERIFICATION
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE, build_role

__all__ = ["Difference", "check_node"]

#: Contexts no configuration of ours accepts: the node must reject them.
UNCLAIMED_SAMPLES = (
    ("1.2.840.10008.5.1.4.31", str(ExplicitVRLittleEndian)),  # Modality Worklist FIND
    ("1.2.840.10008.5.1.4.1.2.1.1", str(ExplicitVRLittleEndian)),  # Patient Root FIND
    ("1.2.840.10008.5.1.4.1.1.201.2", str(JPEGBaseline8Bit)),  # Inventory FIND in JPEG
)
#: Storage classes probed for the archive (all of them would be 120 more contexts).
_ARCHIVE_SAMPLE = (
    "1.2.840.10008.5.1.4.1.1.2",
    "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.7",
)
_MAX_CONTEXTS = 120
#: The SOP classes of the node's own services (every one on in the default configuration).
_NODE_CLASSES = tuple(
    dict.fromkeys(
        cx.abstract_syntax
        for cx in accepted_contexts(
            NodeConfig(archive=Path("."), inventories=Path("."), services=Services())
        )
        if cx.service not in ("archive_storage",)
        and not (cx.service == "study_root_query_retrieve" and cx.node_scu and not cx.node_scp)
    )
)  # PS3.8: at most 128 presentation contexts per association


@dataclass(frozen=True)
class Difference:
    """One way the node differs from its statement."""

    what: str
    claimed: str
    observed: str

    def __str__(self) -> str:
        return f"{self.what}: the statement says {self.claimed}, the node {self.observed}"


@dataclass
class _Seen:
    """What the node answered to proposed contexts, over one or more associations."""

    accepted: dict[tuple[str, str], tuple[bool, bool]] = field(default_factory=dict)
    """(abstract, transfer syntax) -> roles the node took: (as SCP, as SCU)."""
    rejected: set[tuple[str, str]] = field(default_factory=set)
    failures: list[Difference] = field(default_factory=list)


def _probe_contexts(
    peer: Peer,
    calling_ae: str,
    timeout: float,
    pairs: list[tuple[str, str]],
    role_selection: bool,
) -> _Seen:
    """Propose `pairs` and record what the node did with each.

    The pairs are proposed one context each, up to 120 per association (PS3.8 9.3.2). With
    `role_selection`, every class is proposed with SCP/SCU Role Selection offering both roles
    (PS3.7 D.3.3.4), otherwise in the default roles (the requester SCU, the node SCP). An
    association that fails is one difference; the others are probed all the same.
    """
    seen = _Seen()
    for start in range(0, len(pairs), _MAX_CONTEXTS):
        ae = AE(ae_title=calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        chunk = pairs[start : start + _MAX_CONTEXTS]
        for abstract, ts in chunk:
            ae.add_requested_context(abstract, [ts])
        ext: list[Any] = (
            [build_role(uid, scu_role=True, scp_role=True) for uid in sorted({a for a, _ in chunk})]
            if role_selection
            else []
        )
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title, ext_neg=ext)
        answered = {
            (str(cx.abstract_syntax), str(cx.transfer_syntax[0])) for cx in assoc.rejected_contexts
        }
        if assoc.is_established:
            for cx in assoc.accepted_contexts:
                # the requester's roles, seen from the node: requester SCU = node SCP
                seen.accepted[(str(cx.abstract_syntax), str(cx.transfer_syntax[0]))] = (
                    bool(cx.as_scu),
                    bool(cx.as_scp),
                )
            assoc.release()
        elif not answered:  # refused or silent: nothing learnt about these contexts
            how = "refused the association" if assoc.is_rejected else "did not answer"
            seen.failures.append(
                Difference(
                    f"association proposing {len(chunk)} context(s) "
                    f"({'with' if role_selection else 'without'} role selection) to {peer}",
                    "accepted",
                    how,
                )
            )
            continue
        seen.rejected |= answered  # an association whose every context was rejected counts too
    return seen


def check_node(
    config: NodeConfig, peer: Peer, *, calling_ae: str = "CS_CHECK", timeout: float = 10.0
) -> list[Difference]:
    """Probe `peer` and list every difference from the statement of `config`.

    Contexts are probed twice: in the default roles, where exactly the classes the node is SCP
    of must be accepted, and with role selection, where each accepted class must come back
    with exactly the roles the statement tabulates (PS3.2 A.4.2.1.4, PS3.7 D.3.3.4).
    """
    claimed: dict[tuple[str, str], tuple[bool, bool]] = {}
    for cx in accepted_contexts(config):
        if cx.service in (
            "archive_storage",
            "study_root_query_retrieve",
        ) and cx.abstract_syntax.startswith("1.2.840.10008.5.1.4.1.1."):
            if cx.abstract_syntax not in _ARCHIVE_SAMPLE:
                continue
            pairs = [(cx.abstract_syntax, str(ExplicitVRLittleEndian))]
        else:
            pairs = [(cx.abstract_syntax, ts) for ts in cx.transfer_syntaxes]
        for p in pairs:
            claimed.setdefault(p, (cx.node_scp, cx.node_scu))
    # everything any configuration of ours could offer, minus what this one claims, must be
    # rejected: a node offering more than its statement says is as wrong as one offering less
    candidates = [(uid, ts) for uid in _NODE_CLASSES for ts in SUPPORTED_TRANSFER_SYNTAXES.values()]
    unclaimed = [p for p in candidates + list(UNCLAIMED_SAMPLES) if p not in claimed]
    default = _probe_contexts(peer, calling_ae, timeout, [*claimed, *unclaimed], False)
    if not default.accepted and not default.rejected:
        # no association got through: nothing else can be probed, one difference says so
        how = default.failures[0].observed if default.failures else "did not answer"
        return [Difference(f"association with {peer}", "accepted", how)]
    roles = _probe_contexts(peer, calling_ae, timeout, list(claimed), True)
    out = [*default.failures, *roles.failures]
    for (abstract, ts), (as_scp, as_scu) in claimed.items():
        what = f"context {abstract} with {ts}"
        if as_scp and (abstract, ts) in default.rejected:
            out.append(Difference(what, "accepted", "rejected it"))
        elif not as_scp and (abstract, ts) in default.accepted:
            out.append(
                Difference(
                    f"{what} in the default roles (the node as SCP)",
                    "not accepted: the node is only SCU of it (C-GET sub-operations)",
                    "accepted it",
                )
            )
        if (abstract, ts) in roles.rejected:
            out.append(Difference(f"{what} with role selection", "accepted", "rejected it"))
        elif (abstract, ts) in roles.accepted:
            got_scp, got_scu = roles.accepted[(abstract, ts)]
            for role, claim, got in (("SCP", as_scp, got_scp), ("SCU", as_scu, got_scu)):
                if claim != got:
                    out.append(
                        Difference(
                            f"{what}: the node's {role} role",
                            "offered" if claim else "not offered",
                            "accepted it" if got else "refused it",
                        )
                    )
    for abstract, ts in unclaimed:
        if (abstract, ts) in default.accepted:
            out.append(Difference(f"context {abstract} with {ts}", "not supported", "accepted it"))
    if config.services.verification:
        out.extend(_echo(peer, calling_ae, timeout))
    if config.services.inventory_query_retrieve:
        out.extend(_find(peer, calling_ae, timeout))
    out.extend(_limits(config, peer, calling_ae, timeout))
    return out


#: Association limits above this are not probed (that many associations held at once).
_MAX_PROBED_ASSOCIATIONS = 32


def _limits(config: NodeConfig, peer: Peer, calling_ae: str, timeout: float) -> list[Difference]:
    """The limits the statement claims, where a probe can see them without changing the node.

    These are the maximum PDU it receives (A-ASSOCIATE-AC, PS3.8 D.1), the records in one
    Repository Query response set (PS3.4 C.6.4.6.2) and the associations it accepts at once.
    Job limits are not probed: that would create inventories on the node.
    """
    lim = config.limits
    out: list[Difference] = []
    uid = (
        VERIFICATION
        if config.services.verification
        else accepted_contexts(config)[0].abstract_syntax
    )
    assoc = _assoc(peer, calling_ae, timeout, uid)
    if assoc.is_established:
        pdu = int(assoc.acceptor.maximum_length)
        assoc.release()
        if pdu != lim.max_pdu:
            out.append(
                Difference("maximum PDU length received", f"{lim.max_pdu}", f"announces {pdu}")
            )
    if config.services.repository_query:
        out.extend(_repository_query_limit(peer, calling_ae, timeout, lim.repository_query_limit))
    if lim.max_associations <= _MAX_PROBED_ASSOCIATIONS:
        out.extend(_association_limit(peer, calling_ae, timeout, uid, lim.max_associations))
    return out


def _repository_query_limit(
    peer: Peer, calling_ae: str, timeout: float, limit: int
) -> list[Difference]:
    from dicom_inventory.conformance.testkit.recorder import RecordingAssociation

    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = ""
    q.MaximumNumberOfRecords = limit + 1  # asking for more than the statement's maximum
    try:
        with RecordingAssociation(
            peer, REPOSITORY_QUERY, calling_ae=calling_ae, timeout=timeout, grace=0.2
        ) as assoc:
            ex = assoc.find(q)
    except SCUError as exc:
        return [Difference("Repository Query", "answered", str(exc))]
    if len(ex.records) > limit:
        return [
            Difference(
                "records in one Repository Query response set",
                f"at most {limit}",
                f"sent {len(ex.records)}",
            )
        ]
    return []


def _association_limit(
    peer: Peer, calling_ae: str, timeout: float, uid: str, limit: int
) -> list[Difference]:
    held: list[Any] = []
    try:
        for _ in range(limit):
            assoc = _assoc(peer, calling_ae, timeout, uid)
            if not assoc.is_established:
                return [
                    Difference(
                        "associations at the same time",
                        f"{limit} accepted",
                        f"refused number {len(held) + 1}",
                    )
                ]
            held.append(assoc)
        extra = _assoc(peer, calling_ae, timeout, uid)
        if extra.is_established:
            extra.release()
            return [
                Difference(
                    "associations at the same time",
                    f"at most {limit}",
                    f"accepted number {limit + 1}",
                )
            ]
        return []
    finally:
        for assoc in held:
            assoc.release()


def _assoc(peer: Peer, calling_ae: str, timeout: float, uid: str) -> Any:
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(uid)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    if assoc.is_established:
        nodelay(assoc)
    return assoc


def _echo(peer: Peer, calling_ae: str, timeout: float) -> list[Difference]:
    assoc = _assoc(peer, calling_ae, timeout, VERIFICATION)
    if not assoc.is_established:
        return [Difference("C-ECHO", "answered with 0x0000", "refused the association")]
    status = assoc.send_c_echo()
    assoc.release()
    code = int(status.Status) if status and "Status" in status else None
    if code != 0:
        return [
            Difference(
                "C-ECHO",
                "answered with 0x0000",
                "no status" if code is None else f"answered 0x{code:04X}",
            )
        ]
    return []


def _find(peer: Peer, calling_ae: str, timeout: float) -> list[Difference]:
    """An Inventory FIND that matches nothing in particular: every response well-formed."""
    assoc = _assoc(peer, calling_ae, timeout, INVENTORY_FIND)
    if not assoc.is_established:
        return [Difference("Inventory FIND", "answered", "refused the association")]
    q = Dataset()
    q.SOPInstanceUID = ""
    q.InventoryLevel = ""
    statuses, bad = [], 0
    for status, ident in assoc.send_c_find(q, INVENTORY_FIND):
        if not status:
            break
        statuses.append(int(status.Status))
        if is_pending(status.Status) and (ident is None or "SOPInstanceUID" not in ident):
            bad += 1
    assoc.release()
    out = []
    if not statuses or statuses[-1] != Status.SUCCESS:
        out.append(
            Difference(
                "Inventory FIND",
                "a final 0x0000",
                f"ended with 0x{statuses[-1]:04X}" if statuses else "sent no final response",
            )
        )
    if bad:
        out.append(
            Difference(
                "Inventory FIND", "SOP Instance UID in each match", f"{bad} match(es) without it"
            )
        )
    return out
