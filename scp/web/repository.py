r"""Repository Query over DICOMweb: the Search transaction of the Studies service (PS3.18 10.6).

``GET /studies``, ``/series``, ``/instances`` (All Studies / Series / Instances, relational:
no parent UIDs needed, PS3.18 Table 10.6.1-1) and ``/studies/{study}/series``,
``/studies/{study}/series/{series}/instances``, ``/studies/{study}/instances`` (the path's UIDs
become single-value keys). The query parameters become a Study Root identifier, which the
node's one Repository Query engine answers (:mod:`dicom_inventory.scp.services.studyroot`,
PS3.4 C.6.4): the same matching, the same Record Key (0008,041B) order and format, the same
continuation and limit, every entity whatever its Removed From Operational Use (C.6.4.5.4).

What we read
    PS3.18 10.6.3.3 (and 10.6.3.3.2): "If either Prior Record Key (0008,041C) or Record Key
    (0008,041B) is present in the request and the origin server supports these attributes,
    then the responses are ordered as defined in Section C.6.4"; Tables 10.6.3-3/-4/-5 for
    the attributes of each result. PS3.18 8.3.4.4.1: for a Repository Query, ``limit`` is
    Maximum Number of Records (0008,0429); with a Prior Record Key the matches counted are
    those after the record it names, and ``offset`` is subtracted from them; no result: 204;
    more remain: ``Warning: 299 ... There are additional results that can be requested``.
    PS3.4 C.6.4.5.1 (order by Record Key), C.6.4.5.3 (continue after Prior Record Key; an
    unusable one fails with 0xA710), C.6.4.5.4 (removed entities); PS3.17 YYYY.2.2 (Record
    Key values are opaque to the SCU).

What we assumed (PS3.18 10.6.1.2.4 itself was not available to us; the issue summarises it
as "Record Key / Prior Record Key paging on studies, series, instances with limit as Maximum
Number of Records")

    * Record Key is OB, so in DICOM JSON it is ``InlineBinary`` (base64, PS3.18 F.2.7). The
      ``PriorRecordKey`` query parameter carries that same base64 text: a client continues
      with ``PriorRecordKey=`` the ``InlineBinary`` of the last result's Record Key. Read
      tolerantly: ``+`` turned into a space by form decoding, the URL-safe alphabet
      (``-``, ``_``) and missing padding are accepted. One that does not decode, or is not a
      Record Key of this node at the resource's level: 400 naming PS3.4 C.6.4.5.3.
    * Record Key is asked for by ``includefield=RecordKey`` (or ``0008041B``, or ``all``) or
      by ``RecordKey=`` with an empty value (a non-empty one is refused: matching on it is not
      defined); a request with ``PriorRecordKey`` gets it too. Results come in Record Key order
      whether or not it is asked for.
    * ``offset`` is honoured with or without ``PriorRecordKey``; with both, it counts the
      matches after the prior record (PS3.18 8.3.4.4.1). ``limit=0``, like Maximum Number of
      Records 0 over DIMSE, means the node's limit.
    * Attributes of a level below the resource's are not returned (PS3.18 10.6.3.3.2 says so
      for series); given as match keys they do not restrict the results and a 299 warning names
      them, as for any other attribute the engine does not match on.

The page is read from the repository in a worker thread (never on the event loop), at most
``limits.repository_query_limit`` entries; the body is written result by result as it is sent.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.production.scope import ScopeError
from dicom_inventory.scp.services.studyroot import (
    LEVEL_KEYS,
    Query,
    iter_matches,
    parse_query,
    prior_record_key,
    record_limit,
    repository_response,
)
from dicom_inventory.scp.stores.repository import Repository, opened
from dicom_inventory.scp.web.resources import REPOSITORY_QUERY_RESOURCES, SEARCH_REPRESENTATIONS
from dicom_inventory.scp.web.search import (
    FLAGS,
    LIMIT_REDUCED,
    MORE_RESULTS,
    NOT_LITERAL,
    NOT_MATCHED,
    SearchError,
    attribute_keyword,
    count_parameter,
    flag_on,
    results_response,
)
from dicom_inventory.uid import is_valid_uid
from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "DEFAULT_RETURN_KEYS",
    "RepositorySearch",
    "decode_prior_record_key",
    "parse_repository_search",
    "repository_query_response",
]

LOG = logging.getLogger("dicom_inventory.scp.web")

_LEVELS = ("STUDY", "SERIES", "IMAGE")
#: Returned in every result, by level: the attributes of PS3.18 Tables 10.6.3-3 (study),
#: 10.6.3-4 (series) and 10.6.3-5 (instance) that the repository keeps or the engine computes.
#: A result carries the defaults of its level and of the levels above it (PS3.18 10.6.3.3.2
#: asks for the study's with All Series), and Removed From Operational Use (PS3.4 C.6.4.5.4).
DEFAULT_RETURN_KEYS: dict[str, tuple[str, ...]] = {
    "STUDY": (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    "SERIES": ("Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber"),
    "IMAGE": ("SOPClassUID", "SOPInstanceUID", "InstanceNumber"),
}
#: What ``includefield=all`` adds beyond the level keys: what the engine computes.
_COMPUTED = ("RetrieveAETitle", "RemovedFromOperationalUse", "RecordKey")
#: The path's templates and the unique keys they fill in.
_PATH_KEYS = {"study": "StudyInstanceUID", "series": "SeriesInstanceUID"}
_SET_BY_SERVER = ("QueryRetrieveLevel", "SpecificCharacterSet")


@dataclass
class RepositorySearch:
    """A Repository Query search request, as the Study Root identifier the engine reads."""

    identifier: Dataset
    """Query/Retrieve Level, match and return keys, Prior Record Key, Maximum Number of
    Records: what a C-FIND of Repository Query would carry (PS3.4 C.6.4)."""
    offset: int = 0
    warnings: list[str] = field(default_factory=list)
    """Texts for ``Warning: 299`` headers (PS3.18 8.3.4)."""


def decode_prior_record_key(text: str) -> bytes:
    """The Record Key a ``PriorRecordKey`` query parameter names.

    Assumed (PS3.18 10.6.1.2.4 unread): the value is the base64 text of the Record Key's
    ``InlineBinary`` in DICOM JSON. ``+`` read as a space (form decoding), the URL-safe
    alphabet and missing ``=`` padding are accepted.

    Raises
    ------
    SearchError
        If the text is not base64 (PS3.4 C.6.4.5.3: not a point of continuation).
    """
    cleaned = text.strip().replace(" ", "+").translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SearchError(
            f"PriorRecordKey={text!r}: expected the base64 text of a Record Key (0008,041B), the "
            "InlineBinary of a result's Record Key; it names no point of continuation "
            "(PS3.4 C.6.4.5.3, DIMSE status 0xA710)"
        ) from None


def _element(keyword: str, value: str | None) -> DataElement:
    """An identifier element; values as a C-FIND SCU writes them (not checked by pydicom)."""
    vr = str(dictionary_VR(keyword)).split(" or ")[0]
    try:
        return DataElement(Tag(keyword), vr, value, validation_mode=pydicom_config.IGNORE)
    except (TypeError, ValueError) as exc:
        raise SearchError(f"{keyword}={value!r}: not a value of VR {vr} ({exc})") from None


def _levels(level: str) -> tuple[str, ...]:
    return _LEVELS[: _LEVELS.index(level) + 1]


def _included(value: str, level: str) -> list[str]:
    """The keywords an ``includefield`` value names; ``all``: every key of the level and up."""
    out: list[str] = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        if item != "all":
            out.append(attribute_keyword(item, "includefield"))
            continue
        out += [kw for lv in _levels(level) for kw in LEVEL_KEYS[lv]]
        out += [*_COMPUTED, *(["FileAccessURI"] if level == "IMAGE" else [])]
    return out


def parse_repository_search(
    params: list[tuple[str, str]], resource: str, path_uids: dict[str, str], cap: int
) -> RepositorySearch:
    """The Study Root identifier of a Repository Query search (PS3.18 8.3.4, 10.6; PS3.4 C.6.4).

    Parameters
    ----------
    params : list of (str, str)
        The query parameters, in request order.
    resource : str
        The resource of :data:`~dicom_inventory.scp.web.resources.REPOSITORY_QUERY_RESOURCES`,
        e.g. ``/studies/{study}/series``: it sets the Query/Retrieve Level.
    path_uids : dict
        The path's templates and values (``{"study": "1.2.3"}``).
    cap : int
        The node's ``limits.repository_query_limit``; a larger ``limit`` is reduced to it.

    Raises
    ------
    SearchError
        For an unknown attribute, a UID in the path that is not one, a value invalid for its VR,
        a bad ``limit``/``offset``/flag, a non-empty ``RecordKey`` or a ``PriorRecordKey`` that
        is not base64.
    """
    level = REPOSITORY_QUERY_RESOURCES[resource]
    matched = {kw for lv in _levels(level) for kw in LEVEL_KEYS[lv]}
    below = {kw for lv in _LEVELS if lv not in _levels(level) for kw in LEVEL_KEYS[lv]}
    if level != "IMAGE":
        below.add("FileAccessURI")
    returned = [kw for lv in _levels(level) for kw in DEFAULT_RETURN_KEYS[lv]]
    returned.append("RemovedFromOperationalUse")
    values: dict[str, str] = {}
    for name, uid in path_uids.items():
        if not is_valid_uid(uid):
            raise SearchError(f"{uid!r} in the path is not a valid UID (PS3.5 9.1)")
        values[_PATH_KEYS[name]] = uid
    search = RepositorySearch(Dataset())
    prior = b""
    limit = 0
    flagged: list[str] = []
    for name, value in params:
        lname = name.lower()
        if lname == "includefield":
            returned += _included(value, level)
        elif lname == "limit":
            limit = count_parameter(value, "limit")
        elif lname == "offset":
            search.offset = count_parameter(value, "offset")
        elif lname in FLAGS:
            flagged += [lname] if flag_on(name, value) else []
        elif lname in ("accept", "charset"):
            continue  # content negotiation
        elif "." in name:
            raise SearchError(f"{name}: matching inside sequences is not supported here")
        else:
            kw = attribute_keyword(name, "attribute matching")
            if kw == "PriorRecordKey":
                prior = decode_prior_record_key(value)
            elif kw == "MaximumNumberOfRecords":  # what limit stands for (PS3.18 8.3.4.4.1)
                limit = count_parameter(value, name)
            elif kw == "RecordKey" and value:
                raise SearchError(
                    f"{name}={value!r}: Record Key is returned, not matched (PS3.4 C.6.4.5.1); "
                    "give it empty to have it returned, and PriorRecordKey to continue after it"
                )
            elif kw == "RecordKey":
                returned.append(kw)
            elif kw in _SET_BY_SERVER:
                raise SearchError(f"{name}: set by the resource and the server, not by a query")
            elif kw in values:
                raise SearchError(f"{name}: given twice or in the path; give one value (a,b: list)")
            else:
                values[kw] = value.replace(",", "\\") if dictionary_VR(kw) == "UI" else value
    if flagged:
        search.warnings.append(NOT_LITERAL.format(", ".join(flagged)))
    ignored = [kw for kw, v in values.items() if v and kw not in matched]
    if ignored:
        search.warnings.append(NOT_MATCHED.format(", ".join(ignored)))
    if limit > cap:
        search.warnings.append(LIMIT_REDUCED.format(cap))
    ds = search.identifier
    ds.QueryRetrieveLevel = level
    if prior:
        returned.append("RecordKey")  # the client continues from the last one
        ds.PriorRecordKey = prior
    if limit:
        ds.MaximumNumberOfRecords = limit
    for kw in dict.fromkeys(returned):
        if kw not in below and kw not in values:
            ds.add(_element(kw, None))
    for kw, text in values.items():
        if kw not in below:
            ds.add(_element(kw, text))
    return search


def _page(
    factory: Callable[[], Repository],
    q: Query,
    config: NodeConfig,
    after: tuple[str, ...] | None,
    offset: int,
    limit: int,
) -> tuple[list[Dataset], bool]:
    """The results from `offset` on, at most `limit`, and whether more match (worker thread)."""
    with opened(factory) as repo:
        matches = iter_matches(repo, q, after=after, include_removed=True)
        window = list(islice(matches, offset, offset + limit + 1))
        return [repository_response(q, m, config) for m in window[:limit]], len(window) > limit


async def repository_query_response(
    request: Request, config: NodeConfig, factory: Callable[[], Repository], resource: str
) -> Response:
    """Answer ``GET <resource>?...``: Repository Query over QIDO-RS (PS3.18 10.6, PS3.4 C.6.4).

    Parameters
    ----------
    request : Request
        The search request; its path parameters are the resource's UIDs.
    config : NodeConfig
        The node's configuration (AE title, ``limits.repository_query_limit``).
    factory : callable
        Opens the node's repository, as for Repository Query over DIMSE.
    resource : str
        The resource's template path, e.g. ``/studies/{study}/series``.
    """
    from dicom_inventory.scp.web.app import WebError, negotiated

    cap = config.limits.repository_query_limit
    try:
        search = parse_repository_search(
            request.query_params.multi_items(), resource, dict(request.path_params), cap
        )
        q = parse_query(search.identifier)
    except ScopeError as exc:
        raise WebError(400, f"{exc} (PS3.4 C.2.2.2)") from None
    except SearchError as exc:
        raise WebError(400, str(exc)) from None
    try:
        after = prior_record_key(search.identifier, q.level)
    except ValueError as exc:
        LOG.info("invalid PriorRecordKey from %s: %s", request.client, exc)
        raise WebError(
            400,
            f"PriorRecordKey: {exc}; it names no point of continuation for this search "
            "(PS3.4 C.6.4.5.3, DIMSE status 0xA710): give the Record Key of a result of the "
            f"same resource ({resource})",
        ) from None
    rep, _ = negotiated(request, SEARCH_REPRESENTATIONS)
    limit = record_limit(search.identifier, config)
    page, more = await run_in_threadpool(_page, factory, q, config, after, search.offset, limit)
    if more:
        search.warnings.append(MORE_RESULTS)
    return results_response(page, rep, search.warnings, request.url.netloc)
