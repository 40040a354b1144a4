"""The Search transaction of ``/inventories`` (PS3.18 12, query parameters of PS3.18 8.3.4).

Attribute matching ``{attributeID}={value}`` names an attribute by keyword or by tag
(``ggggeeee``) and matches as Inventory FIND does (one matching function,
:func:`~dicom_inventory.scp.services.qr.matching_inventories`, PS3.4 C.2.2.2): UID lists
(comma-separated here, PS3.18 8.3.4.1), date and time ranges, wildcards. A known attribute
that is not a matching key does not restrict the results; it is returned (empty if not kept)
and named in a ``Warning: 299`` header. ``includefield`` adds return attributes (``all``:
every kept one); ``limit`` and ``offset`` page through the results in the store's order,
with ``Warning: 299 ... There are additional results that can be requested`` when more
remain; the server caps ``limit`` at ``[http] max_results``. ``fuzzymatching``,
``emptyvaluematching`` and ``multiplevaluematching`` are accepted; only literal matching is
performed, which a 299 warning says when one is ``true``. No match: 204 No Content; a
parameter that does not parse: 400 naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from dicom_inventory.media import DICOM_JSON, DICOM_XML, xml_document
from dicom_inventory.multipart import iter_multipart, new_boundary
from dicom_inventory.scp.config import HTTP
from dicom_inventory.scp.production.scope import ScopeError
from dicom_inventory.scp.services.qr import (
    MATCHING_KEYS,
    RETURN_KEYS,
    inventory_response,
    matching_inventories,
)
from dicom_inventory.scp.stores.inventories import InventoryStore, StoredInventory
from dicom_inventory.scp.web.negotiate import Representation
from dicom_inventory.scp.web.resources import SEARCH_REPRESENTATIONS
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

__all__ = [
    "DEFAULT_RETURN_KEYS",
    "FLAGS",
    "LIMIT_REDUCED",
    "MORE_RESULTS",
    "NOT_LITERAL",
    "NOT_MATCHED",
    "SearchError",
    "SearchQuery",
    "attribute_keyword",
    "count_parameter",
    "flag_on",
    "json_array_body",
    "parse_search",
    "results_response",
    "search_response",
    "warning",
]

#: Returned for every result (PS3.18 12 names no NPI return keys for inventories; these are
#: the Inventory IE keys of Inventory FIND, PS3.4 JJ.2, and the SOP Class / Instance UIDs).
DEFAULT_RETURN_KEYS: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "ContentDate",
    "ContentTime",
    "InventoryPurpose",
    "InventoryInstanceDescription",
    "InventoryLevel",
    "InventoryCompletionStatus",
    "TransactionUID",
    "TotalNumberOfStudyRecords",
    "NumberOfStudyRecordsInInstance",
)
_ALL_KEYS = tuple(dict.fromkeys(DEFAULT_RETURN_KEYS + tuple(MATCHING_KEYS) + RETURN_KEYS))
#: Matching flags accepted and not applied (PS3.18 8.3.4.2, 8.3.4.5, 8.3.4.6).
FLAGS = ("fuzzymatching", "emptyvaluematching", "multiplevaluematching")
_CONTROL = {"includefield", "limit", "offset", "accept", "charset", *FLAGS}
#: The texts of the ``Warning: 299`` headers of both searches (PS3.18 8.3.4).
MORE_RESULTS = "There are additional results that can be requested"
NOT_LITERAL = "The {} parameter is not supported. Only literal matching has been performed."
NOT_MATCHED = "The following attributes are not supported for matching: {}"
LIMIT_REDUCED = "The limit is reduced to {}."
_XML_PART = {"Content-Type": f"{DICOM_XML}; charset=utf-8"}


def warning(text: str, service: str) -> str:
    """A ``Warning`` header value of code 299 (PS3.18 8.3.4, RFC 7234 5.5)."""
    return f'299 {service} "{text}"'


def flag_on(name: str, value: str) -> bool:
    """Whether a matching flag is ``true``; SearchError for anything but true/false."""
    on = {"true": True, "false": False}.get(value.lower())
    if on is None:
        raise SearchError(f"{name}={value!r}: expected true or false (PS3.18 8.3.4)")
    return on


class SearchError(ValueError):
    """A search parameter that does not parse; the message names it."""


@dataclass
class SearchQuery:
    """A parsed search request."""

    criteria: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    warnings: list[str] = field(default_factory=list)


def attribute_keyword(name: str, where: str) -> str:
    """The keyword of an attribute named by keyword or ``ggggeeee`` tag."""
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        keyword = keyword_for_tag(int(name, 16))
        if not keyword:
            raise SearchError(f"{where}: tag {name} is not in the DICOM dictionary")
        return keyword
    if tag_for_keyword(name) is None:
        raise SearchError(f"{where}: {name!r} is neither a DICOM keyword nor a tag (ggggeeee)")
    return name


def count_parameter(value: str, name: str) -> int:
    """The unsigned integer of ``limit``/``offset`` (PS3.18 8.3.4.4); SearchError otherwise."""
    if not value.isdigit():
        raise SearchError(f"{name}={value!r}: expected a non-negative integer (PS3.18 8.3.4)")
    return int(value)


def parse_search(params: list[tuple[str, str]], http: HTTP) -> SearchQuery:
    """Parse the query parameters of a search request (PS3.18 8.3.4).

    Raises
    ------
    SearchError
        For an unknown attribute, a bad ``limit``/``offset`` or a flag that is not a boolean.
    """
    q = SearchQuery()
    keys = list(DEFAULT_RETURN_KEYS)
    unsupported: list[str] = []
    for name, value in params:
        lname = name.lower()
        if lname == "includefield":
            for item in filter(None, (v.strip() for v in value.split(","))):
                if item == "all":
                    keys += _ALL_KEYS
                else:
                    keys.append(attribute_keyword(item, "includefield"))
        elif lname == "limit":
            q.limit = count_parameter(value, "limit")
        elif lname == "offset":
            q.offset = count_parameter(value, "offset")
        elif lname in FLAGS:
            if flag_on(name, value):
                q.warnings.append(NOT_LITERAL.format(lname))
        elif lname in _CONTROL:
            continue  # accept / charset: content negotiation
        else:
            if "." in name:
                raise SearchError(
                    f"{name}: matching on attributes inside sequences is not supported here"
                )
            kw = attribute_keyword(name, "attribute matching")
            keys.append(kw)
            if kw in MATCHING_KEYS:
                text = value.replace(",", "\\") if str(dictionary_VR(kw)) == "UI" else value
                if kw in q.criteria:
                    raise SearchError(f"{name}: given twice; give one value (a UID list: a,b)")
                q.criteria[kw] = text
            else:
                unsupported.append(kw)
    if unsupported:
        q.warnings.append(NOT_MATCHED.format(", ".join(unsupported)))
    if q.limit is None or q.limit > http.max_results:
        if q.limit is not None:
            q.warnings.append(LIMIT_REDUCED.format(http.max_results))
        q.limit = http.max_results
    q.keys = list(dict.fromkeys(keys))
    return q


def _result(inv: StoredInventory, keys: list[str], base: str) -> Dataset:
    ds = inventory_response(inv, keys)
    ds.RetrieveURL = f"{base}/inventories/{inv.header.sop_instance_uid}"
    return ds


def json_array_body(results: list[Dataset]) -> Iterator[bytes]:
    """Results as one DICOM JSON array (PS3.18 F.2), written object by object."""
    yield b"["
    for i, ds in enumerate(results):
        text = json.dumps(ds.to_json_dict(), ensure_ascii=False, separators=(",", ":"))
        yield ((b"," if i else b"") + text.encode("utf-8"))
    yield b"]"


async def search_response(
    request: Request, http: HTTP, store: InventoryStore, base: str
) -> Response:
    """Answer ``GET /inventories?...``."""
    from dicom_inventory.scp.web.app import WebError, negotiated

    try:
        q = parse_search(request.query_params.multi_items(), http)
    except SearchError as exc:
        raise WebError(400, str(exc)) from None
    rep, _ = negotiated(request, SEARCH_REPRESENTATIONS)
    try:
        found = await run_in_threadpool(matching_inventories, store, q.criteria)
    except ScopeError as exc:
        raise WebError(400, f"{exc} (PS3.4 C.2.2.2)") from None
    assert q.limit is not None
    page = found[q.offset : q.offset + q.limit]
    if q.offset + len(page) < len(found):
        q.warnings.append(MORE_RESULTS)
    results = [_result(inv, q.keys, base) for inv in page]
    return results_response(results, rep, q.warnings, request.url.netloc)


def _xml_part(ds: Dataset) -> Iterator[bytes]:
    yield xml_document(ds)  # written as the body is sent, in the response's worker thread


def results_response(
    results: list[Dataset], rep: Representation, warnings: list[str], service: str
) -> Response:
    """A search's answer: 204 without results, else DICOM JSON or Native DICOM Model parts.

    Each text of `warnings` goes out as a ``Warning: 299`` header (PS3.18 8.3.4); the body is
    written result by result as it is sent. ``/inventories`` search and Repository Query over
    QIDO-RS (:mod:`~dicom_inventory.scp.web.repository`) answer with it.
    """
    response: Response
    if not results:
        response = Response(status_code=204)
    elif rep.media_type == DICOM_JSON:
        response = StreamingResponse(json_array_body(results), media_type=rep.content_type())
    else:
        boundary = new_boundary()
        body = iter_multipart(((_XML_PART, _xml_part(ds)) for ds in results), boundary)
        response = StreamingResponse(body, media_type=rep.content_type(boundary))
    for text in warnings:
        response.headers.append("warning", warning(text, service))
    return response
