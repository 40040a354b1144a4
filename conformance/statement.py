"""The PS3.2 conformance statement of a node, built from its :class:`NodeConfig`.

Everything the statement claims is read from the objects the node itself runs with: the
presentation contexts (:mod:`dicom_inventory.scp.contexts`), the limits, the peers, TLS, the
matching keys of each service and the status tables kept next to the handlers that return them
(``N_ACTION_STATUSES``, ``C_STORE_STATUSES``, ...). Sections follow the PS3.2 Annex A outline
(Overview, Introduction, Networking, Media Interchange, Character Sets, Security, Annexes);
Inventory-specific content goes into the SOP-specific conformance of each service.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, fields

import pynetdicom
from dicom_inventory import __version__
from dicom_inventory.assumptions import ASSUMPTIONS
from dicom_inventory.attributes import INSTANCE_PATH, SERIES_PATH, STUDY_PATH, attribute
from dicom_inventory.conformance.document import Items, Para, Section, Table
from dicom_inventory.enum import ContainerFileType, InventoryLevel
from dicom_inventory.scp.config import Limits, NodeConfig
from dicom_inventory.scp.contexts import ContextSpec, accepted_contexts, proposed_contexts
from dicom_inventory.scp.production.scope import SUPPORTED_KEYS
from dicom_inventory.scp.services.creation import (
    EVENT_ATTRIBUTES,
    N_ACTION_STATUSES,
    SUPPORTED_CHARACTER_SETS,
    SUPPORTED_MECHANISMS,
)
from dicom_inventory.scp.services.qr import INVENTORY_QR_STATUSES, MATCHING_KEYS, RETURN_KEYS
from dicom_inventory.scp.services.storage import C_STORE_STATUSES
from dicom_inventory.scp.services.studyroot import (
    LEVEL_KEYS,
    REPOSITORY_QUERY_STATUSES,
    STUDY_ROOT_STATUSES,
)
from dicom_inventory.status import Status
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
from pydicom.datadict import tag_for_keyword
from pydicom.uid import UID

__all__ = [
    "LIMIT_DESCRIPTIONS",
    "RECORD_ATTRIBUTES",
    "Product",
    "build_statement",
    "sop_class_roles",
]

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

#: What each limit means, for the Configuration table (a test keeps it complete).
LIMIT_DESCRIPTIONS: dict[str, str] = {
    "max_associations": "Simultaneous associations accepted.",
    "max_pdu": "Maximum PDU length received (bytes).",
    "acse_timeout": "Association request (ARTIM, TLS handshake included) and release timeout (s).",
    "dimse_timeout": "DIMSE message timeout (s).",
    "network_timeout": "Idle association, or a PDU stalled half-way, timeout (s).",
    "max_jobs": "Inventory Creation jobs producing at the same time.",
    "max_pending_jobs": "Jobs accepted and not finished; beyond it an Initiate gets 0x0213.",
    "production_pace": "Rest after each study record (s): low-priority production.",
    "partitions": "Key-range partitions per inventory, each resumable after a crash.",
    "max_records": "Study records per Inventory SOP Instance before splitting (none: no cap).",
    "event_attempts": "Attempts to deliver one N-EVENT-REPORT.",
    "event_backoff": "First delay between delivery attempts (s), doubled after each failure.",
    "event_max_backoff": "Longest delay between delivery attempts (s).",
    "retention_days": "Days a produced inventory is kept (its Expiration DateTime).",
    "repository_query_limit": "Most records in one Repository Query response set.",
    "job_lease": "Seconds a node's claim on a running job lasts unless renewed; nodes sharing "
    "a job store take over a job whose claim lapsed.",
}

#: The attributes produced inventory records may carry, by record level (a test produces an
#: inventory of a synthetic archive and checks that every attribute it holds is listed here).
RECORD_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Study": (
        "StudyInstanceUID", "ItemInventoryDateTime", "PatientID", "IssuerOfPatientID",
        "PatientName", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
        "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName",
        "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
        "StudyUpdateDateTime", "RetrieveAETitle", "RemovedFromOperationalUse",
        "ReasonForRemovalCodeSequence", "OriginalAttributesSequence",
        "InventoriedSeriesSequence",
    ),
    "Series": (
        "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "SeriesDate",
        "SeriesTime", "BodyPartExamined", "Laterality", "RemovedFromOperationalUse",
        "ReasonForRemovalCodeSequence", "OriginalAttributesSequence",
        "InventoriedInstancesSequence",
    ),
    "Instance": (
        "SOPClassUID", "SOPInstanceUID", "InstanceNumber", "InstanceAvailability",
        "RemovedFromOperationalUse", "ReasonForRemovalCodeSequence",
        "OriginalAttributesSequence", "FileAccessSequence",
    ),
    "File Access item": (
        "FileAccessURI", "ContainerFileType", "FilenameInContainer", "FileOffsetInContainer",
        "FileLengthInContainer", "StoredInstanceTransferSyntaxUID",
    ),
}  # fmt: skip

_RECORD_PATHS = {
    "Study": STUDY_PATH,
    "Series": SERIES_PATH,
    "Instance": INSTANCE_PATH,
    "File Access item": (*INSTANCE_PATH, "FileAccessSequence"),
}

#: The File Access container types our inventories use (PS3.3 C.38.1.2.8).
CONTAINER_DESCRIPTIONS: dict[str, str] = {
    ContainerFileType.ZIP.value: "ZIP file (ISO 21320-1); the member is named by Filename in Container.",
    ContainerFileType.TAR.value: "POSIX ustar archive; the member is named, and located by offset and length.",
    ContainerFileType.GZIP.value: "A single object compressed with gzip.",
    ContainerFileType.TARGZIP.value: "A gzip-compressed ustar archive; offsets count in the inflated TAR.",
    ContainerFileType.BLOB.value: "Objects concatenated in one file, located by offset and length; a plain "
    "file is described as a BLOB holding one object at offset 0.",
}

_SERVICE_NAMES = {
    "verification": "Verification",
    "inventory_creation": "Inventory Creation",
    "inventory_storage": "Inventory Storage",
    "inventory_query_retrieve": "Inventory Query/Retrieve",
    "repository_query": "Repository Query",
    "archive_storage": "Archive Storage",
    "study_root_query_retrieve": "Study Root Query/Retrieve",
}


@dataclass(frozen=True)
class Product:
    """What the statement is about (cover page and revision history)."""

    name: str = "dicom-inventory"
    version: str = __version__
    vendor: str = "The dicom-inventory project"
    date: str = ""


def _name(uid: str) -> str:
    return str(UID(uid).name)


def _yn(flag: bool) -> str:
    return "Yes" if flag else "No"


def _tag(keyword: str) -> str:
    t = tag_for_keyword(keyword)
    return "" if t is None else f"({t >> 16:04X},{t & 0xFFFF:04X})"


def _category(uid: str) -> str:
    if uid == VERIFICATION:
        return "Verification"
    if uid == INVENTORY_CREATION:
        return "Workflow Management (Storage Management)"
    if uid in (INVENTORY_FIND, INVENTORY_MOVE, INVENTORY_GET, REPOSITORY_QUERY):
        return "Query/Retrieve"
    if uid in (STUDY_ROOT_FIND, STUDY_ROOT_MOVE, STUDY_ROOT_GET):
        return "Query/Retrieve"
    return "Transfer"


def sop_class_roles(config: NodeConfig) -> dict[str, tuple[bool, bool]]:
    """SOP Class UID -> (node is SCU, node is SCP), from the contexts alone."""
    roles: dict[str, tuple[bool, bool]] = {}
    for cx in accepted_contexts(config):
        scu, scp = roles.get(cx.abstract_syntax, (False, False))
        roles[cx.abstract_syntax] = (scu or cx.node_scu, scp or cx.node_scp)
    for cx in proposed_contexts(config):
        scu, scp = roles.get(cx.abstract_syntax, (False, False))
        roles[cx.abstract_syntax] = (scu or cx.node_scu, scp or cx.node_scp)
    return roles


def _level_keys(id: str, title: str) -> Table:
    """The keys the one hierarchical query engine matches, by level (both services use it)."""
    rows = [[lv, k, _tag(k)] for lv, ks in LEVEL_KEYS.items() for k in ks]
    return Table(id, title, ["Level", "Attribute", "Tag"], rows)


def _statuses(id: str, title: str, table: Iterable[tuple[Status, str]]) -> Table:
    kind = {0: "Success", 0xFF: "Pending", 0xB0: "Warning", 0xFE: "Cancel"}
    rows = []
    for status, condition in table:
        code = int(status)
        k = "Success" if code == 0 else kind.get(code >> 8, "Failure")
        rows.append([k, f"{code:04X}", status.name.replace("_", " ").capitalize(), condition])
    return Table(id, title, ["Service Status", "Code (hex)", "Further Meaning", "Behavior"], rows)


def _context_rows(contexts: Iterable[ContextSpec]) -> list[list[str]]:
    rows = []
    storage = [
        cx
        for cx in contexts
        if _category(cx.abstract_syntax) == "Transfer" and cx.abstract_syntax != INVENTORY_STORAGE
    ]
    for cx in contexts:
        if cx in storage:
            continue
        role = " and ".join(r for r, f in (("SCP", cx.node_scp), ("SCU", cx.node_scu)) if f)
        ext = (
            "Relational-queries"
            if cx.relational_queries
            else "SCP/SCU Role Selection"
            if cx.node_scu
            else "None"
        )
        rows.append(
            [
                _name(cx.abstract_syntax),
                cx.abstract_syntax,
                ", ".join(_name(t) for t in cx.transfer_syntaxes),
                ", ".join(cx.transfer_syntaxes),
                role,
                ext,
            ]
        )
    if storage:
        cx = storage[0]
        role = " and ".join(r for r, f in (("SCP", cx.node_scp), ("SCU", cx.node_scu)) if f)
        rows.append(
            [
                f"Every Storage SOP Class of Table 'archive-storage-classes' ({len(storage)})",
                "see that table",
                "Every transfer syntax pynetdicom knows (objects are kept as received)",
                f"{len(cx.transfer_syntaxes)} UIDs",
                role,
                "SCP/SCU Role Selection" if cx.node_scu else "None",
            ]
        )
    return rows


_CONTEXT_HEAD = [
    "Abstract Syntax Name",
    "Abstract Syntax UID",
    "Transfer Syntax Names",
    "Transfer Syntax UIDs",
    "Role",
    "Extended Negotiation",
]


def build_statement(config: NodeConfig, product: Product | None = None) -> Section:
    """The whole statement as a document tree (its root section holds the title).

    Parameters
    ----------
    config
        The configuration the node runs with; every claim is read from it.
    product
        What the statement is about; ``Product()`` when omitted, dated today unless
        :attr:`Product.date` is set.

    Returns
    -------
    Section
        The root section: a cover paragraph, then one section per part of the PS3.2 Annex A
        outline (A.1 Overview, A.3 Introduction, A.4 Networking, A.5 Media Interchange,
        A.6 Support of Character Sets, A.7 Security, A.8 Annexes); the table of contents
        (A.2) is made by the renderers from the section tree.
    """
    product = product or Product()
    date = product.date or datetime.date.today().isoformat()
    doc = Section("statement", f"DICOM Conformance Statement: {product.name} {product.version}")
    doc.add(
        Para(f"{product.vendor}. Document date {date}. Generated from the node's configuration.")
    )
    doc.sections.extend(
        [
            _overview(config, product),
            _introduction(product, date),
            _networking(config),
            _media_interchange(),
            _character_sets(),
            _security(config),
            _annexes(),
        ]
    )
    return doc


# --------------------------------------------------------------------------- A.1 overview
def _overview(config: NodeConfig, product: Product) -> Section:
    """The Conformance Statement Overview, with the Network and Media Services tables.

    PS3.2 A.1. The archive's many Storage SOP Classes are summed up in one row.
    """
    roles = sop_class_roles(config)
    ov = Section("overview", "Conformance Statement Overview")
    ov.add(
        Para(
            f"{product.name} is an archive node that implements the DICOM Inventory services "
            "(PS3.3 A.88, PS3.4 KK and JJ, C.6.4): it produces inventories of the archive on "
            "request (Inventory Creation), keeps and serves them (Inventory Storage, FIND, "
            "MOVE, GET), answers Repository Query, and serves the archive's own objects."
        )
    )
    non_storage = [u for u in roles if _category(u) != "Transfer" or u == INVENTORY_STORAGE]
    n_storage = len(roles) - len(non_storage)
    rows = [[_category(u), _name(u), _yn(roles[u][0]), _yn(roles[u][1])] for u in non_storage]
    if n_storage:
        archive = [
            cx
            for cx in accepted_contexts(config)
            if cx.service in ("archive_storage", "study_root_query_retrieve")
            and cx.abstract_syntax not in non_storage
        ]
        cx = archive[0]
        rows.append(
            [
                "Transfer",
                f"Storage SOP Classes of the archive ({n_storage})",
                _yn(cx.node_scu),
                _yn(cx.node_scp),
            ]
        )
    ov.add(
        Table(
            "network-services",
            "Network Services",
            ["Category", "SOP Class", "User of Service (SCU)", "Provider of Service (SCP)"],
            rows,
        )
    )
    ov.add(
        Table(
            "media-services",
            "Media Services",
            ["Media Storage Application Profile", "Write Files (FSC or FSU)", "Read Files (FSR)"],
            [["None", "No", "No"]],
        )
    )
    return ov


# --------------------------------------------------------------------------- A.3 introduction
def _introduction(product: Product, date: str) -> Section:
    """The Introduction: revision history, audience, remarks, terms, references.

    PS3.2 A.3 (A.3.1 Revision History, A.3.2 Audience, A.3.3 Remarks, A.3.4 Terms and
    Definitions, A.3.7 References).
    """
    intro = Section("introduction", "Introduction")
    intro.sub(
        "revision-history",
        "Revision History",
        Table(
            "revisions",
            "Revision History",
            ["Document Version", "Date", "Description"],
            [[product.version, date, "Generated from the running configuration"]],
        ),
    )
    intro.sub(
        "audience",
        "Audience",
        Para(
            "Integrators of PACS, VNA and migration systems who know DICOM and the Inventory services."
        ),
    )
    intro.sub(
        "remarks",
        "Remarks",
        Para(
            "This statement is generated from the configuration the node runs with, so it "
            "describes this installation; `dicom-inventory conformance-statement --check` "
            "compares it with the node's behaviour. Conformance to the statement does not by "
            "itself guarantee interoperation."
        ),
    )
    intro.sub(
        "terms",
        "Terms and Definitions",
        Items(
            [
                "Inventory: a non-patient SOP Instance listing studies, series and instances of a repository (PS3.3 A.88).",
                "Transaction: one Inventory Creation request, identified by its Transaction UID (PS3.4 KK).",
                "Record Key: an opaque key that orders Repository Query responses and lets a query continue (PS3.4 C.6.4).",
            ]
        ),
    )
    intro.sub(
        "references",
        "References",
        Items(
            [
                "PS3.2 Conformance (Annex A outline)",
                "PS3.3 A.88 Inventory IOD, C.38 Inventory modules",
                "PS3.4 KK Storage Management Service Class (Inventory Creation)",
                "PS3.4 JJ Inventory Query/Retrieve, GG Non-Patient Object Storage, C.6.4 Repository Query",
                "PS3.7 Message Exchange (status codes, role selection)",
                "PS3.15 Security Profiles (TLS)",
                "PS3.17 YYYY Inventories (informative)",
            ]
        ),
    )
    return intro


# --------------------------------------------------------------------------- A.4 networking
def _networking(config: NodeConfig) -> Section:
    """Networking: implementation model, AE specification, network interfaces, configuration.

    PS3.2 A.4 (A.4.1 to A.4.4).
    """
    net = Section("networking", "Networking")
    net.sections.extend(
        [
            _implementation_model(config),
            _ae_specification(config),
            _network_interfaces(config),
            _configuration(config),
        ]
    )
    if config.http is not None:
        net.sections.append(_dicomweb(config))
    return net


def _dicomweb(config: NodeConfig) -> Section:
    """The DICOMweb origin server: transactions, media types, parameters, statuses.

    PS3.18 12 (Non-Patient Instance service, ``/inventories``), 8.9 (Retrieve Capabilities),
    8.3.4 (search parameters), 10.6 (Repository Query over the Search transaction, when
    ``[http] repository_query``); the facts are the table the server's routes are built from.
    """
    from dicom_inventory.scp.web.resources import (
        HTTP_STATUSES,
        REPOSITORY_QUERY_PARAMETERS,
        SEARCH_PARAMETERS,
        transactions,
    )

    http = config.http
    assert http is not None
    web = Section("dicomweb", "DICOMweb Services (PS3.18)")
    base = (
        http.public_url
        or f"{http.scheme}://{http.bind_address or config.bind_address}:{http.port}{http.prefix}"
    )
    web.add(
        Para(
            f"The node is an origin server of the Non-Patient Instance service for Inventory SOP "
            f"Instances (PS3.18 12) at {base}, in the same process and over the same inventories "
            "as Inventory FIND/GET/MOVE. The Capabilities Description (OPTIONS, PS3.18 8.9) is a "
            "WADL document (application/vnd.sun.wadl+xml). Bodies are streamed: an inventory is "
            "never held in memory. Retrieve URL (0008,1190) in event 11 and in Store responses "
            "names the instance's resource, <base>/inventories/{uid}."
        ),
        Table(
            "dicomweb-transactions",
            "DICOMweb Transactions",
            ["Transaction", "Method", "Resource", "Media Types", "Support"],
            [
                [
                    t.name,
                    t.method,
                    t.path,
                    ", ".join(r.name for r in t.representations) or "application/vnd.sun.wadl+xml",
                    "required" if t.required else "optional (offered)",
                ]
                for t in transactions(http)
            ],
        ),
        Table(
            "dicomweb-search-parameters",
            "Search Query Parameters",
            ["Parameter", "Support"],
            [[k, v] for k, v in SEARCH_PARAMETERS.items()],
        ),
        Para(
            f"A search response holds at most {http.max_results} results (limit is capped there); "
            "when more remain, Warning: 299 says 'There are additional results that can be "
            "requested'. application/dicom is sent in the stored transfer syntax (transfer-syntax=*) "
            "or re-encoded into Explicit VR Little Endian (the default); other transfer syntaxes are "
            "not offered (406). Store keeps an inventory unchanged (no coercion) once it validates."
        ),
    )
    if http.repository_query:
        web.add(
            Table(
                "dicomweb-repository-query-parameters",
                "Repository Query Parameters (PS3.18 10.6, 8.3.4)",
                ["Parameter", "Support"],
                [[k, v] for k, v in REPOSITORY_QUERY_PARAMETERS.items()],
            ),
            Para(
                "Repository Query over the Search transaction (PS3.18 10.6) is the DIMSE "
                "Repository Query of this node (PS3.4 C.6.4), on its repository: the same "
                "matching, the same Record Key (0008,041B) values and order, removed entities "
                "returned with Removed From Operational Use (C.6.4.5.4). /series and /instances "
                "are relational (PS3.18 Table 10.6.1-1). Record Key is OB, sent as InlineBinary "
                "(base64) in DICOM JSON and the Native DICOM Model; PriorRecordKey takes that "
                "base64 text (an assumption: the text of PS3.18 10.6.1.2.4 was not available "
                "to us). A response holds at most "
                f"{config.limits.repository_query_limit} records "
                "(limits.repository_query_limit; limit, which stands for Maximum Number of "
                "Records, is capped there); when more remain, Warning: 299 says 'There are "
                "additional results that can be requested' and the client continues with "
                "PriorRecordKey set to the last Record Key. offset counts the matches after "
                "PriorRecordKey (PS3.18 8.3.4.4.1). A PriorRecordKey that is not base64 or not a "
                "Record Key of this node at the resource's level gets 400 (PS3.4 C.6.4.5.3; "
                "0xA710 over DIMSE). A Record Key is its entity's UIDs, so it stays a "
                "continuation point for as long as the node runs, even after the entity is "
                "deleted (the lifetime PS3.17 YYYY.2.2 asks the statement to give)."
            ),
        )
    web.add(
        Table(
            "dicomweb-statuses",
            "HTTP Statuses",
            ["Status", "Reason", "When"],
            [[str(code), reason, when] for code, reason, when in HTTP_STATUSES],
        ),
    )
    return web


def _implementation_model(config: NodeConfig) -> Section:
    """The Implementation Model: data flow, functional definition and sequencing of the AE.

    PS3.2 A.4.1 (A.4.1.1 Application Data Flow, A.4.1.2 Functional Definition of AEs,
    A.4.1.3 Sequencing of Real-World Activities, the last only with Inventory Creation).
    """
    sv = config.services
    model = Section("implementation-model", "Implementation Model")
    flows = []
    if sv.inventory_creation:
        flows.append(
            "A requester asks for an inventory (N-ACTION); the node produces it in the background and reports progress and the result (N-EVENT-REPORT) on a new association."
        )
    if sv.inventory_query_retrieve:
        flows.append("Requesters find and retrieve inventories (Inventory FIND, GET, MOVE).")
    if sv.inventory_storage:
        flows.append(
            "Other systems send inventories (Inventory Storage); each is validated before it is kept."
        )
    if sv.repository_query:
        flows.append("Requesters page through the archive's records (Repository Query).")
    if sv.archive_storage or sv.study_root_query_retrieve:
        flows.append(
            "Modalities and archives store patient objects; clients query and retrieve them (Study Root)."
        )
    model.sub("data-flow", "Application Data Flow", Items(flows))
    model.sub(
        "functional-definition",
        "Functional Definition of AEs",
        Para(
            f"One Application Entity, {config.ae_title}, accepts associations on port {config.port} and initiates associations to deliver events and C-MOVE sub-operations."
        ),
    )
    if sv.inventory_creation:
        model.sub(
            "sequencing",
            "Sequencing of Real-World Activities",
            Items(
                [
                    "The requester sends N-ACTION Initiate (11) and gets an immediate answer.",
                    "While the job runs, the node sends Inventory Status events (12) at the Requested Status Interval and on Request Status.",
                    "At the end it sends Inventory Terminated with Instances (11) or without Instances (13).",
                    "The requester retrieves the root instance and the instances it incorporates by Inventory GET or MOVE.",
                ]
            ),
        )
    return model


def _ae_specification(config: NodeConfig) -> Section:
    """The specification of the node's one Application Entity.

    PS3.2 A.4.2 (AE Specifications): SOP Classes, Association Policies, Association Initiation
    Policy and Association Acceptance Policy (A.4.2.1.1 to A.4.2.1.4).
    """
    spec = Section("ae-specification", f"{config.ae_title} Application Entity Specification")
    spec.sections.extend(
        [
            _sop_classes(config),
            _association_policies(config),
            _association_initiation(config),
            _association_acceptance(config),
        ]
    )
    return spec


def _sop_classes(config: NodeConfig) -> Section:
    """Every SOP Class of the AE with the roles taken in it.

    PS3.2 A.4.2.1.1 (SOP Classes).
    """
    return Section(
        "sop-classes",
        "SOP Classes",
        [
            Table(
                "sop-classes",
                f"SOP Classes for {config.ae_title}",
                ["SOP Class Name", "SOP Class UID", "SCU", "SCP"],
                [
                    [_name(u), u, _yn(scu), _yn(scp)]
                    for u, (scu, scp) in sop_class_roles(config).items()
                ],
            )
        ],
    )


def _association_policies(config: NodeConfig) -> Section:
    """Application context, number of associations, asynchronous nature, implementation.

    PS3.2 A.4.2.1.2 (Association Policies: A.4.2.1.2.1 General, A.4.2.1.2.2 Number of
    Associations, A.4.2.1.2.3 Asynchronous Nature, A.4.2.1.2.4 Implementation Identifying
    Information).
    """
    pol = Section("association-policies", "Association Policies")
    pol.sub(
        "general",
        "General",
        Table(
            "application-context",
            "DICOM Application Context",
            ["Application Context Name"],
            [[APPLICATION_CONTEXT]],
        ),
    )
    pol.sub(
        "number-of-associations",
        "Number of Associations",
        Table(
            "associations-acceptor",
            "Number of Associations as an Association Acceptor",
            ["Maximum number of simultaneous associations"],
            [[str(config.limits.max_associations)]],
        ),
        Table(
            "associations-initiator",
            "Number of Associations as an Association Initiator",
            ["Maximum number of simultaneous associations"],
            [["1 per event delivery and 1 per C-MOVE operation"]],
        ),
    )
    pol.sub(
        "asynchronous-nature",
        "Asynchronous Nature",
        Table(
            "asynchronous",
            "Asynchronous Nature",
            ["Maximum number of outstanding asynchronous transactions"],
            [["1 (no asynchronous operations window is negotiated)"]],
        ),
    )
    pol.sub(
        "implementation-information",
        "Implementation Identifying Information",
        Table(
            "implementation",
            "DICOM Implementation Class and Version",
            ["Implementation Class UID", "Implementation Version Name"],
            [
                [
                    str(pynetdicom.PYNETDICOM_IMPLEMENTATION_UID),
                    str(pynetdicom.PYNETDICOM_IMPLEMENTATION_VERSION),
                ]
            ],
        ),
    )
    return pol


def _association_initiation(config: NodeConfig) -> Section:
    """The contexts the node proposes and the activities it initiates associations for.

    PS3.2 A.4.2.1.3 (Association Initiation Policy): sending Inventory Creation event
    reports and C-MOVE sub-operations.
    """
    sv, lim = config.services, config.limits
    proposed = proposed_contexts(config)
    init = Section("association-initiation", "Association Initiation Policy")
    if proposed:
        init.add(
            Table(
                "proposed-contexts",
                "Proposed Presentation Contexts",
                _CONTEXT_HEAD,
                _context_rows(proposed),
            )
        )
    if sv.inventory_creation:
        init.sub(
            "activity-events",
            "Activity: Send Inventory Creation Event Reports",
            Para(
                "Events go to the requester on a new association, to the address of the configured "
                "peer with its AE title (Remote AE table), with the node in the SCP role of "
                "Inventory Creation (SCP/SCU Role Selection). A refused or failed delivery is "
                f"retried up to {lim.event_attempts} times, the delay starting at "
                f"{lim.event_backoff:g} s and doubling up to {lim.event_max_backoff:g} s; "
                "undelivered events survive a restart."
            ),
        )
    if sv.inventory_query_retrieve or sv.study_root_query_retrieve:
        init.sub(
            "activity-move",
            "Activity: C-MOVE Sub-operations",
            Para(
                "C-MOVE destinations are the configured peers only; the objects go on a new association to the peer's address."
            ),
        )
    return init


def _storage_contexts(contexts: Iterable[ContextSpec]) -> list[ContextSpec]:
    """The archive's Storage contexts among `contexts` (Transfer, but not Inventory Storage)."""
    return [
        cx
        for cx in contexts
        if _category(cx.abstract_syntax) == "Transfer" and cx.abstract_syntax != INVENTORY_STORAGE
    ]


def _association_acceptance(config: NodeConfig) -> Section:
    """Who may associate, the accepted contexts, and the SOP-specific conformance of each service.

    PS3.2 A.4.2.1.4 (Association Acceptance Policy), with one SOP Specific Conformance
    subsection per configured service.
    """
    sv = config.services
    accepted = accepted_contexts(config)
    acc = Section("association-acceptance", "Association Acceptance Policy")
    acc.add(
        Para(
            "Associations are accepted "
            + (
                f"only from the calling AE titles {', '.join(config.accepted_calling_ae_titles)}"
                if config.accepted_calling_ae_titles
                else "from any calling AE title"
            )
            + (
                ", whatever AE title they call"
                if config.accept_any_called_ae_title
                else f", only when called as {config.ae_title} (otherwise A-ASSOCIATE-RJ "
                "called-AE-title-not-recognized, PS3.8 9.3.4)"
            )
            + f", up to {config.limits.max_associations} at a time."
        ),
        Table(
            "accepted-contexts",
            "Accepted Presentation Contexts",
            _CONTEXT_HEAD,
            _context_rows(accepted),
        ),
    )
    storage = _storage_contexts(accepted)
    if storage:
        acc.add(
            Table(
                "archive-storage-classes",
                "Storage SOP Classes of the archive",
                ["SOP Class Name", "SOP Class UID"],
                [[_name(cx.abstract_syntax), cx.abstract_syntax] for cx in storage],
            )
        )
    conformance = (
        (sv.verification, _verification_conformance),
        (sv.inventory_creation, _inventory_creation_conformance),
        (sv.inventory_storage, _inventory_storage_conformance),
        (sv.inventory_query_retrieve, _inventory_qr_conformance),
        (sv.repository_query, _repository_query_conformance),
        (sv.study_root_query_retrieve, _study_root_conformance),
        (sv.archive_storage, _archive_storage_conformance),
    )
    acc.sections.extend(section(config.limits) for offered, section in conformance if offered)
    return acc


def _verification_conformance(lim: Limits) -> Section:
    """SOP Specific Conformance of the Verification SCP (the health check).

    PS3.2 A.4.2.1.4 (SOP Specific Conformance); PS3.4 A.
    """
    return Section(
        "verification",
        "SOP Specific Conformance: Verification",
        [
            _statuses(
                "verification-statuses",
                "Verification Statuses",
                [(Status.SUCCESS, "Always, while the node runs (the health check).")],
            )
        ],
    )


def _inventory_creation_conformance(lim: Limits) -> Section:
    """SOP Specific Conformance of the Inventory Creation SCP.

    PS3.2 A.4.2.1.4 (SOP Specific Conformance); PS3.4 KK: levels, Scope of Inventory keys
    and matching, action and event types, N-ACTION statuses, splitting and retention.
    """
    s = Section("inventory-creation", "SOP Specific Conformance: Inventory Creation SCP")
    s.add(
        Para(
            "N-ACTION requests go to the well-known Storage Management SOP Instance "
            "1.2.840.10008.5.1.4.1.1.201.1.1 and are answered at once; accepted jobs are "
            "durable (kept in the archive's database), resumed after a restart, and "
            f"produced at most {lim.max_jobs} at a time."
        ),
        Table(
            "inventory-levels",
            "Supported Inventory Levels",
            ["Inventory Level"],
            [[lv.value] for lv in InventoryLevel],
        ),
        Table(
            "scope-keys",
            "Scope of Inventory Keys Supported for Matching",
            ["Attribute", "Tag", "Matching"],
            [[k, _tag(k), m] for k, m in SUPPORTED_KEYS.items()],
        ),
        Para(
            "Scope of Inventory keys are read and written inside the matching sequences of "
            "PS3.3 Table C.38.2-1: a date or time range in Range Matching Sequence (0008,0410) "
            "as two Items, the beginning then the end of each range, an open end empty (the "
            "layout of PS3.3 C.38.2.1.1.3 is assumed); a list of UIDs in List of UID Matching "
            "Sequence (0008,0411); a key that matches only an empty value in Empty Value "
            "Matching Sequence (0008,0412); single values and wild cards in General Matching "
            "Sequence (0008,0413). Range and List of UID matching are baseline and need no "
            "Extended Matching Mechanisms. Extended Matching Mechanisms (0008,040F) applied: "
            f"{', '.join(SUPPORTED_MECHANISMS)} (its code is assumed); any other value is "
            "refused with 0x0212. A key attribute directly in the Scope item, a key below "
            "the Study level, or a matching sequence not as Table C.38.2-1 writes it is "
            "refused with 0x0115, naming it; an unsupported key gets 0xB010 and is left out "
            "of the recorded scope. Specific Character Set in the Scope item: "
            f"{', '.join(repr(c) for c in SUPPORTED_CHARACTER_SETS)}."
        ),
        Table(
            "action-types",
            "Action Types",
            ["Action Type ID", "Action", "Behavior"],
            [
                ["11", "Initiate", "Starts a job; the Transaction UID must be new."],
                ["12", "Request Status", "Answered by an Inventory Status event (12)."],
                [
                    "13",
                    "Cancel",
                    "Stops the job; Retain Instances YES keeps what was produced.",
                ],
                ["14", "Pause", "Pauses a running job at the next study record."],
                ["15", "Resume", "Resumes a paused job."],
            ],
        ),
        Table(
            "event-types",
            "Event Types Sent",
            ["Event Type ID", "Event", "Event Information"],
            [
                [
                    str(k),
                    {
                        11: "Inventory Terminated with Instances",
                        12: "Inventory Status",
                        13: "Inventory Terminated without Instances",
                    }[k],
                    ", ".join(
                        "RetrieveURL (while the DICOMweb origin server runs)"
                        if a == "RetrieveURL"
                        else a
                        for a in v
                    ),
                ]
                for k, v in EVENT_ATTRIBUTES.items()
            ],
        ),
        _statuses("n-action-statuses", "N-ACTION Statuses", N_ACTION_STATUSES),
        Para(
            "Splitting: "
            + (
                f"an inventory is split into instances of at most {lim.max_records} study records"
                if lim.max_records
                else "an inventory is split by key-range partition"
            )
            + f" ({lim.partitions} partitions), all incorporated by one root instance (PS3.3 C.38.2.3). "
            f"Produced inventories are kept {lim.retention_days:g} days (Expiration DateTime) and then removed."
        ),
    )
    return s


def _inventory_storage_conformance(lim: Limits) -> Section:
    """SOP Specific Conformance of the Inventory Storage SCP.

    PS3.2 A.4.2.1.4 (SOP Specific Conformance); PS3.4 GG: validation and C-STORE statuses.
    """
    return Section(
        "inventory-storage",
        "SOP Specific Conformance: Inventory Storage SCP",
        [
            Para(
                "Each received inventory is validated against the Inventory IOD before it is kept; one with errors is refused. Received inventories are kept unmodified and served by Inventory Q/R."
            ),
            _statuses("c-store-statuses", "C-STORE Statuses", C_STORE_STATUSES),
        ],
    )


def _inventory_qr_conformance(lim: Limits) -> Section:
    """SOP Specific Conformance of the Inventory FIND, MOVE and GET SCP.

    PS3.2 A.4.2.1.4 (SOP Specific Conformance); PS3.4 JJ: matching and return keys, what a
    retrieve names, statuses.
    """
    return Section(
        "inventory-qr",
        "SOP Specific Conformance: Inventory FIND, MOVE and GET SCP",
        [
            Table(
                "inventory-keys",
                "Inventory FIND Matching Keys",
                ["Attribute", "Tag", "Matching"],
                [[k, _tag(k), m] for k, m in MATCHING_KEYS.items()],
            ),
            Table(
                "inventory-return-keys",
                "Inventory FIND Return Keys",
                ["Attribute", "Tag"],
                [[k, _tag(k)] for k in RETURN_KEYS],
            ),
            Para(
                "C-GET needs the SCU to offer Inventory Storage with SCP/SCU Role Selection. A "
                "MOVE or GET names what it retrieves by SOP Instance UID, the unique key (PS3.4 "
                "JJ.3.2), or by Transaction UID, which retrieves a whole produced tree; without "
                "either, or with a malformed value, it fails with 0xA900 and nothing is sent."
            ),
            _statuses("inventory-qr-statuses", "Inventory Q/R Statuses", INVENTORY_QR_STATUSES),
        ],
    )


def _repository_query_conformance(lim: Limits) -> Section:
    """SOP Specific Conformance of the Repository Query SCP.

    PS3.2 A.4.2.1.4 (SOP Specific Conformance); the items PS3.4 C.6.4.6.2 asks a Repository
    Query SCP to state: keys, relational search, matching, paging, Record Key lifetime, file
    access.
    """
    return Section(
        "repository-query",
        "SOP Specific Conformance: Repository Query SCP",
        [
            _level_keys("repository-keys", "Repository Query Keys"),
            Para(
                "Record Key (0008,041B) orders the responses; Prior Record Key continues after a "
                "record; Maximum Number of Records is honoured up to the node's own limit of "
                f"{lim.repository_query_limit} records per response set. A set that stops early "
                "ends with 0xB001 as its final response, never followed by another response, as "
                "PS3.4 C.6.4 specifies. Note for SCUs built on pynetdicom 3.0: its C-FIND SCU "
                "waits for a further response after 0xB001 until its DIMSE timeout. A Record Key "
                "does not expire: a continuation returns the records after it in the "
                "repository's order, so it stays valid even after its record was deleted. "
                "Removed entities are returned, flagged with Removed from Operational Use."
            ),
            Items(
                [
                    # the items PS3.4 C.6.4.6.2 asks a Repository Query SCP to state
                    "Keys: the Repository Query Keys table lists the keys matched and returned "
                    "at each level; no Sequence key is matched.",
                    "Relational Search is supported, with the relational-queries SOP Class "
                    "Extended Negotiation (PS3.4 C.5.1.1.2) that C.6.4.6.2 requires: a proposed "
                    "relational-queries byte of 1 is answered 1, of 0 answered 0. On such an "
                    "association a SERIES or IMAGE query needs no parent UIDs (this is how an "
                    "SCU pages over the whole repository); on any other association queries are "
                    "hierarchical: a single Study Instance UID (and at IMAGE level a single "
                    "Series Instance UID) or the failure 0xA900. The Study Root FIND SCP does "
                    "the same.",
                    "Combined date-time matching, fuzzy semantic matching of person names, "
                    "timezone query adjustment, empty value matching and multiple value "
                    "matching are not offered by extended negotiation (the one-byte answer "
                    "leaves them 0).",
                    "Person names (PN) match case-insensitively (Unicode case folding), for "
                    "every PN key; other values match case-sensitively.",
                    "Specific Character Set: queries are decoded with their own Specific "
                    "Character Set (any pydicom decodes); responses are encoded in ISO_IR 192. "
                    "Timezone Offset From UTC is not used in matching: DA, TM and DT values are "
                    "compared as given.",
                    f"At most {lim.repository_query_limit} records per response set (the SCU's "
                    "Maximum Number of Records is honoured below that); a set that stops early "
                    "ends with 0xB001.",
                    "A Record Key stays valid indefinitely (see above).",
                    "File access: at IMAGE level File Access URI (0008,0409) is a file: URI "
                    "of the instance's first stored copy. When it is asked for, the attributes "
                    "Table C.38.2-2 requires with it come too: Container File Type (ZIP, TAR, "
                    "TARGZIP, GZIP, or BLOB for a plain file at offset 0), Filename in Container "
                    "for ZIP, TAR and TARGZIP, File Offset and Length in Container where the "
                    "archive knows them (BLOB, TAR, TARGZIP; for TARGZIP in the inflated TAR), "
                    "and Stored Instance Transfer Syntax UID. Metadata Sequence (0008,041D) and "
                    "Updated Metadata Sequence (0008,041E) are not used: responses carry the "
                    "archive's current values, which may differ from those in the stored file.",
                ]
            ),
            _statuses(
                "repository-query-statuses", "Repository Query Statuses", REPOSITORY_QUERY_STATUSES
            ),
        ],
    )


def _study_root_conformance(lim: Limits) -> Section:
    """SOP Specific Conformance of the archive's Study Root Query/Retrieve SCP.

    PS3.2 A.4.2.1.4 (SOP Specific Conformance); PS3.4 C: keys by level and statuses.
    """
    return Section(
        "study-root",
        "SOP Specific Conformance: Study Root Query/Retrieve SCP",
        [
            _level_keys("study-root-keys", "Study Root Matching Keys"),
            _statuses("study-root-statuses", "Study Root Statuses", STUDY_ROOT_STATUSES),
        ],
    )


def _archive_storage_conformance(lim: Limits) -> Section:
    """SOP Specific Conformance of the archive's Storage SCP.

    PS3.2 A.4.2.1.4 (SOP Specific Conformance); PS3.4 B: no coercion, C-STORE statuses.
    """
    return Section(
        "archive-storage",
        "SOP Specific Conformance: Archive Storage SCP",
        [
            Para(
                "Objects are kept as received (no coercion) and indexed; a second object with a known SOP Instance UID is indexed as another location of it."
            ),
            _statuses("archive-store-statuses", "C-STORE Statuses", C_STORE_STATUSES),
        ],
    )


def _network_interfaces(config: NodeConfig) -> Section:
    """The physical network interface and the address the node listens on.

    PS3.2 A.4.3 (A.4.3.1 Physical Network Interface, A.4.3.3 IPv4 and IPv6 Support).
    """
    iface = Section("network-interfaces", "Network Interfaces")
    iface.sub(
        "physical",
        "Physical Network Interface",
        Para(
            "DICOM V3.0 TCP/IP Network Communication Support (PS3.8 10.2), over the TCP/IP stack of the host and any physical network it offers (Ethernet in practice)."
        ),
    )
    iface.sub(
        "ip",
        "IPv4 and IPv6 Support",
        Para(f"The node listens on {config.bind_address}:{config.port}."),
    )
    return iface


def _configuration(config: NodeConfig) -> Section:
    """The local and remote AE titles and every configurable parameter with its value.

    PS3.2 A.4.4 (A.4.4.1 AE Title/Presentation Address Mapping, A.4.4.2 Parameters).
    """
    sv, lim, ae = config.services, config.limits, config.ae_title
    cfg = Section("configuration", "Configuration")
    cfg.add(
        Para(
            "Everything below is set in the node's TOML configuration file (see `dicom-inventory serve --config`)."
        )
    )
    cfg.add(
        Table(
            "local-ae-titles",
            "Application Entity Configuration",
            ["Application Entity", "Default AE Title", "Default TCP/IP Port"],
            [[f"{ae} (Inventory node)", ae, str(config.port)]],
        )
    )
    peers = [[name, p.ae_title, p.host, str(p.port)] for name, p in sorted(config.peers.items())]
    cfg.add(
        Table(
            "remote-ae-titles",
            "Remote AE Title/Presentation Address Mapping",
            ["Peer", "AE Title", "Host", "Port"],
            peers or [["(none configured)", "", "", ""]],
        )
    )
    defaults = Limits()
    cfg.add(
        Table(
            "parameters",
            "Configuration Parameters",
            ["Parameter", "Configurable", "Value", "Default Value", "Description"],
            [
                [
                    f"limits.{f.name}",
                    "Yes",
                    str(getattr(lim, f.name)),
                    str(getattr(defaults, f.name)),
                    LIMIT_DESCRIPTIONS.get(f.name, ""),
                ]
                for f in fields(Limits)
            ]
            + [
                [
                    "services.transfer_syntaxes",
                    "Yes",
                    ", ".join(_name(t) for t in sv.transfer_syntaxes),
                    "Explicit VR Little Endian, Implicit VR Little Endian, Deflated Explicit VR Little Endian",
                    "Transfer syntaxes of the Inventory, Verification and query contexts, preferred first. "
                    "The Query/Retrieve contexts (Inventory FIND/MOVE/GET, Repository Query, Study Root "
                    "FIND/MOVE/GET) never take Deflated Explicit VR Little Endian: pynetdicom inflates "
                    "their identifiers without a bound before the node sees them.",
                ]
            ]
            + [
                [f"services.{name}", "Yes", _yn(bool(getattr(sv, name))), "Yes", title]
                for name, title in _SERVICE_NAMES.items()
            ],
        )
    )
    return cfg


# --------------------------------------------------------------------------- A.5 media
def _media_interchange() -> Section:
    """No DICOM media; the File Access links of the inventories and their container types.

    PS3.2 A.5 (Media Interchange), with the file access of PS3.17 YYYY.7.
    """
    return Section(
        "media-interchange",
        "Media Interchange and File Access",
        [
            Para(
                "The node does not read or write DICOM media (PS3.10 file-sets). Its inventories link the archive's stored files, which a client may read directly (PS3.17 YYYY.7): the File Access URIs are file: URIs (absolute, percent-encoded paths on the archive's file system), described with the container types below. Each inventory names the folder they lie under as its Stored Instance Base URI (0008,0407): the archive's store at Inventory level (Study Access End Points Sequence), a series' own folder for files stored elsewhere (PS3.17 YYYY.7.2). The N-EVENT-REPORT of a finished inventory also carries a File Access URI of the root instance itself."
            ),
            Table(
                "containers",
                "Container File Types Used in File Access",
                ["Container File Type", "Meaning"],
                [[k, v] for k, v in CONTAINER_DESCRIPTIONS.items()],
            ),
        ],
    )


# --------------------------------------------------------------------------- A.6 character sets
def _character_sets() -> Section:
    """The character sets accepted, written and read.

    PS3.2 A.6 (Support of Character Sets).
    """
    return Section(
        "character-sets",
        "Support of Character Sets",
        [
            Table(
                "character-sets",
                "Character Sets",
                ["Use", "Specific Character Set"],
                [
                    [
                        "Accepted in Scope of Inventory",
                        ", ".join(c or "(none: ISO_IR 6)" for c in SUPPORTED_CHARACTER_SETS),
                    ],
                    ["Written in produced inventories", "ISO_IR 192 (UTF-8)"],
                    [
                        "Read in received inventories",
                        "Any that pydicom decodes, including ISO 2022 code extensions",
                    ],
                ],
            )
        ],
    )


# --------------------------------------------------------------------------- A.7 security
def _security(config: NodeConfig) -> Section:
    """TLS, the calling-AE allow-list and where the node may read and write.

    PS3.2 A.7 (Security), with the secure transport of PS3.15 B.1.
    """
    sec = Section("security", "Security")
    if config.tls is not None:
        sec.add(
            Para(
                "TLS is required on every association (PS3.15 B.1 secure transport, B.12 BCP 195: "
                f"TLS {config.tls.minimum_version[4:]} or later; TLS 1.2 cipher suites ECDHE with "
                "AES-GCM or ChaCha20-Poly1305; no compression, no renegotiation); the handshake "
                "must end within the ACSE timeout; the node presents its certificate"
                + (
                    " and requires a client certificate signed by the configured CA."
                    if config.tls.client_certificate_required
                    else " and verifies a client certificate against the configured CA when the "
                    "client sends one."
                    if config.tls.verify_clients
                    else "; client certificates are not required."
                )
            )
        )
    else:
        sec.add(
            Para(
                "No TLS is configured: associations are plain TCP. Use the [tls] settings to require TLS."
            )
        )
    sec.add(
        Para(
            (
                "Only the calling AE titles "
                + ", ".join(config.accepted_calling_ae_titles)
                + " are accepted."
                if config.accepted_calling_ae_titles
                else "Any calling AE title is accepted (no allow-list configured)."
            )
            + " Inventory Creation events go only to configured peers. No request can make the node read or write outside its archive and inventories folders."
        )
    )
    if config.http is not None:
        http = config.http
        sec.add(
            Para(
                "DICOMweb: "
                + (
                    "HTTPS only (TLS with the configured certificate, BCP 195 as the host's "
                    "OpenSSL implements it)"
                    if http.certfile
                    else "plain HTTP (no [http] certfile configured)"
                )
                + "; "
                + (
                    "every request needs the configured bearer token (RFC 6750), else 401"
                    if http.bearer_token_file
                    else "no authentication (no [http] bearer_token_file configured)"
                )
                + ". Error bodies are one line of plain text, never a stack trace."
            )
        )
    return sec


# --------------------------------------------------------------------------- A.8 annexes
def _annexes() -> Section:
    """IOD contents, readings of the standard, attribute mapping, coercion, private attributes.

    PS3.2 A.8 (Annexes: A.8.1 IOD Contents, A.8.2 Data Dictionary of Private Attributes),
    with the node's readings of the standard as an annex of its own.
    """
    ann = Section("annexes", "Annexes")
    ann.sections.extend(
        [
            _iod_contents(),
            _readings(),
            _attribute_mapping(),
            _coerced_fields(),
            _private_attributes(),
        ]
    )
    return ann


def _iod_contents() -> Section:
    """The modules of the Inventory IOD written and the attributes of each record level.

    PS3.2 A.8.1 (IOD Contents), A.8.1.1 (Created SOP Instances); PS3.3 A.88, C.38.1.
    """
    return Section(
        "iod-contents",
        "IOD Contents: Created SOP Instances",
        [
            Table(
                "inventory-iod",
                "Inventory IOD (PS3.3 A.88) Modules Written",
                ["IE", "Module", "Reference", "Usage"],
                [
                    [
                        "Inventory",
                        "Inventory",
                        "C.38.1",
                        "M: every record carries the archive's current values and the stored file's links",
                    ],
                    [
                        "Inventory",
                        "Inventory Creation",
                        "C.38.3",
                        "Transaction UID when produced for an N-ACTION",
                    ],
                    [
                        "Equipment",
                        "General Equipment",
                        "C.7.5.1",
                        "Manufacturer, Software Versions",
                    ],
                    ["Inventory", "SOP Common", "C.12.1", "M; ISO_IR 192"],
                ],
            ),
            Para(
                "Values the archive changed in its database but not in the stored file are written as the current value, with the stored value in the record's Original Attributes Sequence (PS3.3 C.12.1.1.9)."
            ),
            Table(
                "record-attributes",
                "Attributes of Inventory Records (filled when the archive holds a value)",
                ["Record", "Attribute", "Tag", "Type (PS3.3 C.38.1)"],
                [
                    [level, kw, _tag(kw), attribute(_RECORD_PATHS[level], kw).type]
                    for level, kws in RECORD_ATTRIBUTES.items()
                    for kw in kws
                ],
            ),
        ],
    )


def _readings() -> Section:
    """What the node does where the standard's text could not be read (the assumptions).

    PS3.2 A.8 (Annexes): an annex of the node's own, next to A.8.1.
    """
    return Section(
        "readings",
        "Readings of the Standard",
        [
            Para(
                "Where the text of the standard could not be read, the node does as follows "
                "(each choice is held in one place of the code; docs/standard-notes.md argues it)."
            ),
            Table(
                "assumptions",
                "Assumptions",
                ["#", "Question", "What the node does"],
                [[a.id, a.topic, a.behaviour] for a in ASSUMPTIONS],
            ),
        ],
    )


def _attribute_mapping() -> Section:
    """Where record values come from.

    PS3.2 A.8.1.3 (Attribute Mapping).
    """
    return Section(
        "attribute-mapping",
        "Attribute Mapping",
        [
            Para(
                "Every record attribute is the archive's current value, read through the Repository "
                "interface from the archive's database (not from the stored file). Retrieve AE Title "
                "is the node's AE title; File Access items are the stored locations of each "
                "instance, one per copy."
            )
        ],
    )


def _coerced_fields() -> Section:
    """No received object is coerced.

    PS3.2 A.8.1.4 (Coerced/Modified Fields).
    """
    return Section(
        "coerced-fields",
        "Coerced/Modified Fields",
        [Para("None: received objects and inventories are kept as received.")],
    )


def _private_attributes() -> Section:
    """No private attributes are written.

    PS3.2 A.8.2 (Data Dictionary of Private Attributes).
    """
    return Section(
        "private-attributes",
        "Data Dictionary of Private Attributes",
        [Para("None: the node writes no private attributes.")],
    )
