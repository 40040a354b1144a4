"""What the origin server offers, as one table: resources, transactions, parameters, media.

Two services: the Non-Patient Instance service for inventories (``/inventories``, PS3.18 12)
and, when ``[http] repository_query`` is on, Repository Query over the Search transaction of the
Studies service (``/studies``, ``/series``, ``/instances`` and the study's and series' own,
PS3.18 10.6, Table 10.6.1-1), answered by the node's Repository Query engine (PS3.4 C.6.4).

The routes of :mod:`~dicom_inventory.scp.web.app`, the Capabilities Description it answers
OPTIONS with (:mod:`~dicom_inventory.scp.web.capabilities`, PS3.18 8.9, Annex H) and the
conformance statement all read :func:`transactions`, so none can offer what the others do not
name. The table follows from the ``[http]`` configuration alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicom_inventory.media import DICOM, DICOM_JSON, DICOM_XML, MULTIPART_RELATED
from dicom_inventory.scp.config import HTTP
from dicom_inventory.scp.services.qr import MATCHING_KEYS, RETURN_KEYS
from dicom_inventory.scp.services.studyroot import LEVEL_KEYS
from dicom_inventory.scp.web.negotiate import Representation
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

__all__ = [
    "HTTP_STATUSES",
    "REPOSITORY_QUERY_PARAMETERS",
    "REPOSITORY_QUERY_RESOURCES",
    "RETRIEVE_REPRESENTATIONS",
    "SEARCH_PARAMETERS",
    "SEARCH_REPRESENTATIONS",
    "STORE_REPRESENTATIONS",
    "Transaction",
    "transactions",
]

#: Transfer syntaxes an ``application/dicom`` part can be sent in: as stored (``*``), or
#: re-encoded into Explicit VR Little Endian, the default (PS3.18 8.7.3.5.2).
PART10_TRANSFER_SYNTAXES = (
    str(ExplicitVRLittleEndian),
    str(ImplicitVRLittleEndian),
    str(DeflatedExplicitVRLittleEndian),
)

#: Retrieve (PS3.18 12, Table 12.1.3-1): DICOM JSON is the default, then Part 10 instances in
#: multipart/related, then the Native DICOM Model in multipart/related; a bare
#: ``application/dicom`` (one instance, no multipart) for user agents such as ``curl -o``.
RETRIEVE_REPRESENTATIONS = (
    Representation(DICOM_JSON),
    Representation(MULTIPART_RELATED, DICOM, PART10_TRANSFER_SYNTAXES),
    Representation(MULTIPART_RELATED, DICOM_XML),
    Representation(DICOM, None, PART10_TRANSFER_SYNTAXES),
)
#: Search results: DICOM JSON (default) or one Native DICOM Model part per result.
SEARCH_REPRESENTATIONS = (
    Representation(DICOM_JSON),
    Representation(MULTIPART_RELATED, DICOM_XML),
)
#: Store request bodies and the Store response (its Status Report, PS3.18 10.5.3).
STORE_REPRESENTATIONS = (
    Representation(DICOM_JSON),
    Representation(DICOM_XML),
)

#: The query parameters both searches treat alike (PS3.18 8.3.3.1, 8.3.4.2, 8.3.4.5, 8.3.4.6).
_COMMON_PARAMETERS: dict[str, str] = {
    "fuzzymatching": "accepted; only literal matching is performed (Warning 299 when true)",
    "emptyvaluematching": "accepted; not applied (Warning 299 when true)",
    "multiplevaluematching": "accepted; not applied (Warning 299 when true)",
    "accept": "media types, instead of the Accept header (PS3.18 8.3.3.1)",
    "charset": "character sets; only UTF-8 is sent",
}
#: Search query parameters besides attribute matching (PS3.18 8.3.4), with what each does.
SEARCH_PARAMETERS: dict[str, str] = {
    "{attributeID}={value}": "attribute matching by keyword or tag (ggggeeee) on "
    + ", ".join(MATCHING_KEYS)
    + " (PS3.4 C.2.2.2: UID lists, date and time ranges, wildcards)",
    "includefield": "more return attributes, by keyword or tag, comma-separated or repeated; "
    "'all': " + ", ".join(RETURN_KEYS),
    "limit": "most results in the response (at most [http] max_results)",
    "offset": "results to skip",
    **_COMMON_PARAMETERS,
}

#: Repository Query over QIDO-RS: each Search resource (PS3.18 Table 10.6.1-1) and the
#: Query/Retrieve Level it queries. All Series and All Instances are relational: they need no
#: parent UIDs; the study's (and series') own put the path's UIDs in as single-value keys.
REPOSITORY_QUERY_RESOURCES: dict[str, str] = {
    "/studies": "STUDY",
    "/series": "SERIES",
    "/instances": "IMAGE",
    "/studies/{study}/series": "SERIES",
    "/studies/{study}/series/{series}/instances": "IMAGE",
    "/studies/{study}/instances": "IMAGE",
}
#: Query parameters of Repository Query over QIDO-RS (PS3.18 8.3.4, 10.6; PS3.4 C.6.4).
REPOSITORY_QUERY_PARAMETERS: dict[str, str] = {
    "{attributeID}={value}": "attribute matching by keyword or tag (ggggeeee), as Repository "
    "Query matches (PS3.4 C.2.2.2: UID lists comma-separated, date and time ranges, wildcards), "
    "on the keys of the resource's level and the levels above it: "
    + "; ".join(f"{level}: {', '.join(keys)}" for level, keys in LEVEL_KEYS.items()),
    "includefield": "more return attributes, by keyword or tag, comma-separated or repeated; "
    "RecordKey (0008041B) asks for Record Key; 'all': every key of the level and above, Record "
    "Key, and at instance level File Access URI",
    "RecordKey": "with an empty value: return Record Key (0008,041B), OB, as InlineBinary "
    "(base64) in DICOM JSON; results always come in Record Key order (PS3.4 C.6.4.5.1)",
    "PriorRecordKey": "continue after this Record Key (0008,041C): the base64 text of a Record "
    "Key's InlineBinary (an assumption: PS3.18 10.6.1.2.4 was not available to us); one that "
    "is not a Record Key of this node at the resource's level: 400 (PS3.4 C.6.4.5.3, the "
    "DIMSE status 0xA710). Returns Record Key in every result",
    "limit": "Maximum Number of Records (0008,0429) (PS3.18 8.3.4.4.1), at most the node's "
    "limits.repository_query_limit; absent or 0: that limit",
    "offset": "matches to skip, counted after PriorRecordKey when both are given "
    "(PS3.18 8.3.4.4.1)",
    **_COMMON_PARAMETERS,
}

#: Every HTTP status the origin server answers with, and when (PS3.18 8.5, 10.5.3).
HTTP_STATUSES: tuple[tuple[int, str, str], ...] = (
    (200, "OK", "Retrieve, Search with results, Capabilities; Store: every part stored."),
    (202, "Accepted", "Store: some parts stored, the others in Failed SOP Sequence."),
    (
        204,
        "No Content",
        "Search, Repository Query: nothing matches (or the offset is past the last result).",
    ),
    (
        400,
        "Bad Request",
        "A query parameter, Accept value or UID that does not parse; a broken multipart body; "
        "a PriorRecordKey that is not a Record Key of this node (PS3.4 C.6.4.5.3). The "
        "plain-text body names it.",
    ),
    (401, "Unauthorized", "A bearer token is configured and the request lacks it (RFC 6750)."),
    (
        404,
        "Not Found",
        "No inventory with that SOP Instance UID; an unknown resource; Repository Query on an "
        "application built without a repository.",
    ),
    (
        405,
        "Method Not Allowed",
        "A method the resource does not offer (Allow names those it does).",
    ),
    (
        406,
        "Not Acceptable",
        "No offered media type or transfer syntax is acceptable, or the request has no Accept "
        "header field (PS3.18 8.7.5).",
    ),
    (409, "Conflict", "Store: no part stored (Failed SOP Sequence says why, per part)."),
    (
        415,
        "Unsupported Media Type",
        'Store: the body is not multipart/related; type="application/dicom".',
    ),
    (500, "Internal Server Error", "An inventory cannot be read; the node's log has the details."),
)


@dataclass(frozen=True)
class Transaction:
    """One transaction on one resource (PS3.18 12, 8.9)."""

    name: str
    method: str
    path: str
    """Relative to the service's base URI, e.g. ``/inventories/{uid}``."""
    representations: tuple[Representation, ...]
    parameters: tuple[str, ...] = ()
    required: bool = True
    """Required of every NPI origin server (PS3.18 12: Retrieve Capabilities, Retrieve,
    Search); ``False``: optional (Store, Repository Query)."""


def transactions(http: HTTP) -> list[Transaction]:
    """The transactions this configuration offers, in the Capabilities Description's order."""
    offered = [
        Transaction("Retrieve Capabilities", "OPTIONS", "/", ()),
        Transaction("Retrieve Capabilities", "OPTIONS", "/inventories", ()),
        Transaction(
            "Search", "GET", "/inventories", SEARCH_REPRESENTATIONS, tuple(SEARCH_PARAMETERS)
        ),
        Transaction("Retrieve", "GET", "/inventories/{uid}", RETRIEVE_REPRESENTATIONS, ("accept",)),
        Transaction("Retrieve Capabilities", "OPTIONS", "/inventories/{uid}", ()),
    ]
    if http.store:
        offered.append(
            Transaction(
                "Store",
                "POST",
                "/inventories",
                (Representation(MULTIPART_RELATED, DICOM),) + STORE_REPRESENTATIONS,
                required=False,
            )
        )
    if http.repository_query:
        for path in REPOSITORY_QUERY_RESOURCES:
            offered.append(
                Transaction(
                    "Repository Query",
                    "GET",
                    path,
                    SEARCH_REPRESENTATIONS,
                    tuple(REPOSITORY_QUERY_PARAMETERS),
                    required=False,
                )
            )
            offered.append(Transaction("Retrieve Capabilities", "OPTIONS", path, ()))
    return offered
