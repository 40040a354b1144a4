r"""The archive side: Study Root Q/R of the patient objects, and Repository Query (PS3.4 C.6).

One hierarchical query engine over any :class:`Repository` serves both:

* **Study Root C-FIND / C-GET / C-MOVE** (PS3.4 C.6.2) of the archive's own objects, so that
  the Retrieve AE Title written into inventory records is real. Entities removed from
  operational use are hidden from these, by policy (PS3.4 C.6.4.5.4 allows it).
* **Repository Query** (PS3.4 C.6.4): the same C-FIND on the Study Root model, plus Record Key
  (0008,041B) ordering, Prior Record Key (0008,041C) continuation and Maximum Number of Records
  (0008,0429). Every entity is returned whatever its Removed from Operational Use value
  (C.6.4.5.4). A response set that reaches the SCU's or the node's limit ends with the Warning
  **0xB001 as its final response**, as C.6.4 specifies, never followed by 0x0000 (see
  :mod:`dicom_inventory.scp.wire`); an unusable Prior Record Key gets 0xA710 (C.6.4.5.3).
  The DICOMweb origin server offers the same query over HTTP (PS3.18 10.6,
  :mod:`dicom_inventory.scp.web.repository`) through :func:`prior_record_key`,
  :func:`record_limit`, :func:`iter_matches` and :func:`repository_response`: one engine, one
  Record Key format.

Record Key: the UIDs of the entity and its parents joined by ``\`` (ASCII, OB padded with a
NUL to even length), e.g. ``study\series\sop`` at IMAGE level. Records come in ascending order of
that key, the repository's own order, so a key stays a valid continuation point for as long as
the entity exists, and even after it is deleted (continuation is "after this key").

Matching is by VR as Q/R matching (PS3.4 C.2.2.2, :func:`~dicom_inventory.scp.production.scope.key_matcher`):
single value, wildcard (PN case-insensitive), range for DA/TM/DT, UID lists. Keys of the query
level and the levels above it are matched.

Relational and hierarchical queries (PS3.4 C.4.1.3, C.6.4.6.2): on an association that accepted
the relational-queries SOP Class Extended Negotiation for the SOP class (C.5.1.1.2, answered by
:func:`dicom_inventory.scp.server.handle_sop_extended`), a query below STUDY level need not give
the parent UIDs (Relational Search, C.4.1.3.2), which is what lets a Repository Query chain page
over every instance of the archive. Without it the query is hierarchical (C.4.1.2.1, C.4.1.3.1.1):
it must give a single Study Instance UID (and, at IMAGE level, a single Series Instance UID),
otherwise it is refused with 0xA900 before anything is matched.

File access (PS3.3 Table C.38.2-2, Stored File Access Macro): at IMAGE level a Repository Query
returns, for the keys the SCU asks for, File Access URI, Container File Type, Filename in
Container (ZIP, TAR, TARGZIP), File Offset / File Length in Container (BLOB, TAR, TARGZIP; for a
TARGZIP, in the decompressed TAR stream) and Stored Instance Transfer Syntax UID of the
instance's first stored copy (:func:`dicom_inventory.scp.production.file_access`); a value the
archive does not have (e.g. the offset of a ZIP member) is returned empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydicom
from dicom_inventory.encode import file_access_attributes
from dicom_inventory.scope import query_text
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.contexts import RELATIONAL_QUERIES_ACCEPTED
from dicom_inventory.scp.production import file_access
from dicom_inventory.scp.production.scope import ScopeError, key_matcher
from dicom_inventory.scp.services.decode import (
    DECODE_STATUSES,
    DecodeFailure,
    Service,
    decoded,
)
from dicom_inventory.scp.stores.repository import (
    STUDY_KEYWORDS,
    InstanceEntry,
    Repository,
    SeriesEntry,
    StudyEntry,
    opened,
)
from dicom_inventory.scp.wire import B001_PLACEHOLDER, retrieve_failure
from dicom_inventory.status import Status
from dicom_inventory.uid import REPOSITORY_QUERY, STUDY_ROOT_FIND, is_valid_uid
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

__all__ = [
    "LEVEL_KEYS",
    "Match",
    "Query",
    "handle_repository_find",
    "handle_study_find",
    "handle_study_get",
    "handle_study_move",
    "hierarchical_query_error",
    "iter_matches",
    "parse_query",
    "prior_record_key",
    "record_key",
    "record_limit",
    "relational_queries_negotiated",
    "repository_response",
]

LOG = logging.getLogger("dicom_inventory.scp")

#: Statuses of Repository Query, with the condition that triggers each (PS3.4 C.6.4).
REPOSITORY_QUERY_STATUSES: tuple[tuple[Status, str], ...] = (
    (Status.PENDING, "A matching record."),
    (Status.SUCCESS, "The last record was returned."),
    (
        Status.PARTIAL_RESULTS,
        "The response set reached Maximum Number of Records or the node's own limit "
        "(limits.repository_query_limit) and more records remain: the final response; continue "
        "with Prior Record Key. Never followed by another response.",
    ),
    (
        Status.INVALID_PRIOR_RECORD_KEY,
        "Prior Record Key does not identify a continuation point (PS3.4 C.6.4.5.3).",
    ),
    (
        Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
        "Query/Retrieve Level missing or unknown, a key value invalid for its matching type, or "
        "a query below STUDY level without a single Study (and Series) Instance UID on an "
        "association that did not negotiate relational-queries (PS3.4 C.4.1.3.1.1, C.5.1.1.2); "
        "a key with a VR, VM or value its definition does not allow (Offending Element).",
    ),
    (Status.CANCEL, "The SCU sent C-CANCEL."),
    *DECODE_STATUSES,
)
#: Statuses of the archive's Study Root FIND / MOVE / GET.
STUDY_ROOT_STATUSES: tuple[tuple[Status, str], ...] = (
    (Status.PENDING, "A match (FIND) or a sub-operation under way (MOVE, GET)."),
    (Status.SUCCESS, "All matches returned, or all sub-operations completed."),
    (
        Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
        "Query/Retrieve Level missing or unknown, a key value invalid for its matching type, "
        "a retrieve without the unique key of its level, or a C-FIND below STUDY level without "
        "a single Study (and Series) Instance UID on an association that did not negotiate "
        "relational-queries (PS3.4 C.4.1.3.1.1, C.5.1.1.2).",
    ),
    (Status.CANCEL, "The SCU sent C-CANCEL."),
    (
        Status.MOVE_DESTINATION_UNKNOWN,
        "C-MOVE to an AE title that is not a configured peer (answered by pynetdicom).",
    ),
    *DECODE_STATUSES,
)
_DEPTH = {"STUDY": 1, "SERIES": 2, "IMAGE": 3}
#: Keys matched at each level (unique key first); others are return keys only.
LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    # every study attribute a repository gives, and two the repository computes
    "STUDY": ("StudyInstanceUID", *STUDY_KEYWORDS, "ModalitiesInStudy", "StudyUpdateDateTime"),
    "SERIES": (
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "SeriesDate",
        "SeriesTime",
        "BodyPartExamined",
    ),
    "IMAGE": ("SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ContentDate", "ContentTime"),
}
_UNIQUE = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
_NOT_KEYS = {
    "QueryRetrieveLevel",
    "SpecificCharacterSet",
    "RecordKey",
    "PriorRecordKey",
    "MaximumNumberOfRecords",
}


@dataclass
class Query:
    """A parsed Study Root identifier."""

    level: str
    keys: list[str]
    """Requested keys, in request order (returned in every response)."""
    matchers: dict[str, dict[str, Callable[[Any], bool]]] = field(default_factory=dict)
    """Per level: keyword -> matcher (universal keys have none)."""
    study_uids: list[str] | None = None
    """The Study Instance UIDs asked for (single value or list), to go straight to them."""


@dataclass
class Match:
    """One matching entity with its parents."""

    key: tuple[str, ...]
    study: StudyEntry
    series: SeriesEntry | None = None
    instance: InstanceEntry | None = None


def parse_query(identifier: Dataset) -> Query:
    """Check a Study Root identifier (PS3.4 C.6.2.1).

    Raises
    ------
    ScopeError
        For a missing or unknown Query/Retrieve Level or an invalid key value.
    """
    level = query_text(identifier.get("QueryRetrieveLevel")).strip()
    if level not in _DEPTH:
        raise ScopeError(f"Query/Retrieve Level {level!r}: expected STUDY, SERIES or IMAGE")
    q = Query(level, [])
    allowed = [lv for lv in _DEPTH if _DEPTH[lv] <= _DEPTH[level]]
    for elem in identifier:
        kw = elem.keyword
        if kw == "RecordKey":
            q.keys.append(kw)  # returned (and the responses ordered by it, C.6.4.5.1)
        if not kw or kw in _NOT_KEYS:
            continue
        q.keys.append(kw)
        if elem.VR == "SQ":
            continue
        owner = next((lv for lv in allowed if kw in LEVEL_KEYS[lv]), None)
        if owner is None:
            continue  # a return key only (or a key of a lower level: not matched)
        m = key_matcher(kw, query_text(elem.value))
        if m is not None:
            q.matchers.setdefault(owner, {})[kw] = m
            if kw == "StudyInstanceUID":
                q.study_uids = sorted(set(query_text(elem.value).split("\\")))
    return q


def record_key(key: Sequence[str]) -> bytes:
    r"""The Record Key (OB) of an entity: its UIDs and its parents', ``\``-joined, even length."""
    raw = "\\".join(key).encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def parse_record_key(value: bytes, level: str) -> tuple[str, ...]:
    """The UIDs of a Prior Record Key, checked against the level.

    Raises
    ------
    ValueError
        If it is not a Record Key of this node at this level.
    """
    try:
        parts = tuple(bytes(value).rstrip(b"\0").decode("ascii").split("\\"))
    except UnicodeDecodeError as exc:
        raise ValueError("not ASCII") from exc
    if len(parts) != _DEPTH[level] or not all(is_valid_uid(p) for p in parts):
        raise ValueError(f"not a {level} record key of this node")
    return parts


def prior_record_key(identifier: Dataset, level: str) -> tuple[str, ...] | None:
    """Where a Repository Query continues: after its Prior Record Key (PS3.4 C.6.4.5.3).

    ``None`` when the identifier has no Prior Record Key (0008,041C), or an empty one: the
    query starts at the first record. DIMSE and DICOMweb (PS3.18 10.6, which hands the key
    over as query parameter) both read it here, so one key format serves both.

    Raises
    ------
    ValueError
        If the value is not a Record Key of this node at `level` (the SCP answers 0xA710, the
        origin server 400).
    """
    prior = identifier.get("PriorRecordKey")
    return parse_record_key(prior, level) if prior else None


def record_limit(identifier: Dataset, config: NodeConfig) -> int:
    """Records in one Repository Query response set (PS3.4 C.6.4).

    Maximum Number of Records (0008,0429) of the identifier, capped by the node's
    ``limits.repository_query_limit``; absent or 0: the node's limit. Over DICOMweb the
    ``limit`` query parameter is this attribute (PS3.18 8.3.4.4.1).
    """
    limit = config.limits.repository_query_limit
    asked = identifier.get("MaximumNumberOfRecords")
    return min(limit, int(asked)) if asked else limit


def _before(uid: str) -> str:
    """The greatest string below `uid` that no UID lies between (for an inclusive start)."""
    return uid[:-1] + chr(ord(uid[-1]) - 1) + "~"


def _ok(matchers: dict[str, Callable[[Any], bool]] | None, values: Any) -> bool:
    if not matchers:
        return True
    for kw, m in matchers.items():
        v = values(kw)
        if isinstance(v, list):  # multi-valued (ModalitiesInStudy): any value may match
            if not any(m(query_text(x)) for x in v):
                return False
        elif not m(query_text(v)):
            return False
    return True


def _study_value(st: StudyEntry) -> Callable[[str], Any]:
    def get(kw: str) -> Any:
        if kw == "StudyInstanceUID":
            return st.study_instance_uid
        if kw == "StudyUpdateDateTime":
            return st.update_datetime
        return st.attributes.get(kw)

    return get


def _series_value(se: SeriesEntry) -> Callable[[str], Any]:
    return lambda kw: se.series_instance_uid if kw == "SeriesInstanceUID" else se.attributes.get(kw)


def _instance_value(inst: InstanceEntry) -> Callable[[str], Any]:
    def get(kw: str) -> Any:
        if kw == "SOPInstanceUID":
            return inst.sop_instance_uid
        if kw == "SOPClassUID":
            return inst.sop_class_uid
        return inst.attributes.get(kw)

    return get


def iter_matches(
    repo: Repository,
    q: Query,
    *,
    after: tuple[str, ...] | None = None,
    include_removed: bool = True,
) -> Iterator[Match]:
    """Matching entities in ascending Record Key order, strictly after `after`."""
    depth = _DEPTH[q.level]
    start = after[0] if after else None
    studies: Iterator[StudyEntry]
    if q.study_uids is not None:  # unique key given: go to those studies only
        first = start if start is not None and depth == 1 else None
        studies = (
            st
            for uid in q.study_uids
            if (start is None or uid >= start) and uid != first
            for st in repo.iter_studies(after=_before(uid), upto=uid)
        )
    elif start is not None and depth > 1:
        studies = repo.iter_studies(after=_before(start))  # the prior study itself, then on
    else:
        studies = repo.iter_studies(after=start)
    for st in studies:
        if st.removed and not include_removed:
            continue
        if not _ok(q.matchers.get("STUDY"), _study_value(st)):
            continue
        if depth == 1:
            yield Match((st.study_instance_uid,), st)
            continue
        in_prior_study = after is not None and st.study_instance_uid == after[0]
        for se in repo.iter_series(st.study_instance_uid):
            if in_prior_study and depth == 2 and se.series_instance_uid <= after[1]:  # type: ignore[index]
                continue
            if in_prior_study and depth == 3 and se.series_instance_uid < after[1]:  # type: ignore[index]
                continue
            if se.removed and not include_removed:
                continue
            if not _ok(q.matchers.get("SERIES"), _series_value(se)):
                continue
            if depth == 2:
                yield Match((st.study_instance_uid, se.series_instance_uid), st, se)
                continue
            in_prior_series = in_prior_study and se.series_instance_uid == after[1]  # type: ignore[index]
            for inst in repo.iter_instances(se.series_instance_uid):
                if in_prior_series and inst.sop_instance_uid <= after[2]:  # type: ignore[index]
                    continue
                if inst.removed and not include_removed:
                    continue
                if not _ok(q.matchers.get("IMAGE"), _instance_value(inst)):
                    continue
                yield Match(
                    (st.study_instance_uid, se.series_instance_uid, inst.sop_instance_uid),
                    st,
                    se,
                    inst,
                )


def _response(q: Query, m: Match, config: NodeConfig, repository_query: bool) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = q.level
    getters = [_study_value(m.study)]
    if m.series is not None:
        getters.append(_series_value(m.series))
    if m.instance is not None:
        getters.append(_instance_value(m.instance))
    entity = m.instance or m.series or m.study
    fa = file_access(m.instance.files[0]) if m.instance and m.instance.files else None
    derived: dict[str, Any] = {
        "NumberOfStudyRelatedSeries": m.study.number_of_series,
        "NumberOfStudyRelatedInstances": m.study.number_of_instances,
        "RetrieveAETitle": config.ae_title,
    }
    if repository_query:
        derived["RemovedFromOperationalUse"] = "Y" if entity.removed else "N"
        derived["RecordKey"] = record_key(m.key)
        if fa is not None:
            # the Stored File Access Macro (PS3.3 Table C.38.2-2): with the member of a
            # ZIP/TAR/TARGZIP and the byte range of a BLOB (1C), so that the link can be followed
            derived.update(file_access_attributes(fa))
    keys = list(q.keys)
    if fa is not None and "FileAccessURI" in keys:
        # A File Access URI comes with the attributes Table C.38.2-2 makes required with it
        # (Container File Type, Stored Instance Transfer Syntax UID, the member name or byte
        # range its container needs), asked for or not: a link that cannot be followed is no
        # answer. Only values the archive has are added.
        keys += [kw for kw in _FILE_ACCESS_COMPANIONS if kw in derived and kw not in keys]
    for kw in [*keys, _UNIQUE["STUDY"], *([_UNIQUE["SERIES"]] if m.series else [])]:
        if kw in ds:
            continue
        if kw in derived:
            value = derived[kw]
        else:
            value = next((v for g in reversed(getters) if (v := g(kw)) is not None), None)
        try:
            setattr(ds, kw, value)
        except (TypeError, ValueError):
            setattr(ds, kw, None)
    if m.instance is not None:
        ds.SOPInstanceUID = m.instance.sop_instance_uid
    return ds


def repository_response(q: Query, m: Match, config: NodeConfig) -> Dataset:
    """The Repository Query response of one match (PS3.4 C.6.4.5).

    The requested keys, Record Key (0008,041B) when asked for, Removed From Operational Use
    (C.6.4.5.4) when asked for, and at IMAGE level the Stored File Access Macro of the
    instance's first stored copy; the C-FIND SCP and the DICOMweb origin server send the same.
    """
    return _response(q, m, config, repository_query=True)


_FILE_ACCESS_COMPANIONS = (
    "ContainerFileType",
    "FilenameInContainer",
    "FileOffsetInContainer",
    "FileLengthInContainer",
    "StoredInstanceTransferSyntaxUID",
)


def relational_queries_negotiated(assoc: Any, sop_class_uid: str) -> bool:
    """Whether `assoc` accepted relational-queries for `sop_class_uid` (PS3.4 C.5.1.1.2).

    pynetdicom keeps the A-ASSOCIATE-AC of an association as ``assoc.acceptor.primitive``; its
    SOP Class Extended Negotiation sub-items are ``assoc.acceptor.sop_class_extended``
    ({SOP Class UID: service-class-application-information}), the same on both sides of the
    association. Byte 1 of that information is relational-queries (Table C.5-1): 1 = supported.
    """
    info = assoc.acceptor.sop_class_extended.get(sop_class_uid)
    return info is not None and bytes(info)[:1] == RELATIONAL_QUERIES_ACCEPTED


def hierarchical_query_error(identifier: Dataset, level: str) -> str | None:
    """Why `identifier` is not a hierarchical query at `level`, or ``None`` if it is one.

    Without relational-queries, a query below STUDY level gives a single value of the unique key
    of each level above the Query/Retrieve Level (PS3.4 C.4.1.2.1, Hierarchical Search Method
    C.4.1.3.1.1): a single Study Instance UID for SERIES, and a single Series Instance UID too
    for IMAGE.
    """
    for upper in (lv for lv in _DEPTH if _DEPTH[lv] < _DEPTH[level]):
        key = _UNIQUE[upper]
        value = query_text(identifier.get(key)).strip()
        if not value or "\\" in value or not is_valid_uid(value):
            return (
                f"{key} {value!r} at {level} level: a single UID is needed for each level above "
                "the query level unless relational-queries was negotiated "
                "(PS3.4 C.4.1.3.1.1, C.5.1.1.2)"
            )
    return None


def _parsed_or_status(event: Any, identifier: Dataset) -> Query | Status:
    try:
        return parse_query(identifier)
    except ScopeError as exc:
        LOG.info("refused query from %s: %s", event.assoc.requestor.ae_title, exc)
        return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS


def _query_or_status(event: Any, identifier: Dataset, sop_class_uid: str) -> Query | Status:
    """A C-FIND identifier parsed, and checked hierarchical unless relational was negotiated."""
    q = _parsed_or_status(event, identifier)
    if isinstance(q, Status):
        return q
    if not relational_queries_negotiated(event.assoc, sop_class_uid):
        why = hierarchical_query_error(identifier, q.level)
        if why is not None:
            LOG.info("refused query from %s: %s", event.assoc.requestor.ae_title, why)
            return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    return q


def handle_study_find(
    event: Any, config: NodeConfig, factory: Callable[[], Repository]
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """Study Root C-FIND of the archive's objects (PS3.4 C.6.2); removed entities hidden.

    Relational only where relational-queries was negotiated, hierarchical otherwise (C.4.1.3).
    """
    identifier = decoded(event, Service.STUDY_ROOT_FIND)
    if isinstance(identifier, DecodeFailure):
        yield from identifier.answers(Service.STUDY_ROOT_FIND)
        return
    q = _query_or_status(event, identifier, STUDY_ROOT_FIND)
    if isinstance(q, Status):
        yield int(q), None
        return
    with opened(factory) as repo:
        for m in iter_matches(repo, q, include_removed=False):
            if event.is_cancelled:
                yield int(Status.CANCEL), None
                return
            yield int(Status.PENDING), _response(q, m, config, repository_query=False)


def handle_repository_find(
    event: Any, config: NodeConfig, factory: Callable[[], Repository]
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """Repository Query C-FIND (PS3.4 C.6.4): paged, ordered by Record Key, final 0xB001.

    Relational only where relational-queries was negotiated, hierarchical otherwise (C.6.4.6.2).
    """
    identifier = decoded(event, Service.REPOSITORY_QUERY)
    if isinstance(identifier, DecodeFailure):
        yield from identifier.answers(Service.REPOSITORY_QUERY)
        return
    q = _query_or_status(event, identifier, REPOSITORY_QUERY)
    if isinstance(q, Status):
        yield int(q), None
        return
    try:
        after = prior_record_key(identifier, q.level)
    except ValueError as exc:
        LOG.info("invalid Prior Record Key from %s: %s", event.assoc.requestor.ae_title, exc)
        yield int(Status.INVALID_PRIOR_RECORD_KEY), None
        return
    limit = record_limit(identifier, config)
    with opened(factory) as repo:
        sent = 0
        for m in iter_matches(repo, q, after=after, include_removed=True):
            if event.is_cancelled:
                yield int(Status.CANCEL), None
                return
            if sent >= limit:
                # more records remain: end with 0xB001 as the final response (C.6.4)
                yield B001_PLACEHOLDER, None
                return
            yield int(Status.PENDING), repository_response(q, m, config)
            sent += 1


def _instances(
    event: Any, factory: Callable[[], Repository]
) -> list[InstanceEntry] | Status | DecodeFailure:
    identifier = decoded(event, Service.STUDY_ROOT_RETRIEVE)
    if isinstance(identifier, DecodeFailure):
        return identifier
    q = _parsed_or_status(event, identifier)  # retrieves need only the unique key of their level
    if isinstance(q, Status):
        return q
    unique = _UNIQUE[q.level]
    if unique not in identifier or not query_text(identifier.get(unique)):
        return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS  # retrieve needs the unique key
    image = Query("IMAGE", ["SOPInstanceUID"], q.matchers)
    with opened(factory) as repo:
        found = [m.instance for m in iter_matches(repo, image, include_removed=False)]
    return [i for i in found if i is not None and i.files]


def _datasets(instances: list[InstanceEntry], event: Any) -> Iterator[tuple[int, Dataset | None]]:
    for inst in instances:
        if event.is_cancelled:
            yield int(Status.CANCEL), None
            return
        try:
            data = inst.files[0].read()
            yield int(Status.PENDING), pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            LOG.warning("cannot read stored %s: %s", inst.sop_instance_uid, exc)
            yield int(Status.PENDING), None  # counted as a failed sub-operation


def handle_study_get(
    event: Any, config: NodeConfig, factory: Callable[[], Repository]
) -> Iterator[Any]:
    """Study Root C-GET of the archive's objects (PS3.4 C.6.2, C.4.3)."""
    found = _instances(event, factory)
    if isinstance(found, DecodeFailure):
        yield from found.answers(Service.STUDY_ROOT_RETRIEVE)
        return
    if isinstance(found, Status):
        yield from retrieve_failure(int(found))
        return
    yield len(found)
    yield from _datasets(found, event)


def handle_study_move(
    event: Any, config: NodeConfig, factory: Callable[[], Repository]
) -> Iterator[Any]:
    """Study Root C-MOVE of the archive's objects to a configured destination (C.4.2)."""
    peer = config.peer(event.move_destination)
    if peer is None:
        yield None, None  # unknown destination: pynetdicom answers 0xA801
        return
    found = _instances(event, factory)
    if isinstance(found, DecodeFailure):
        yield peer.host, peer.port
        yield from found.answers(Service.STUDY_ROOT_RETRIEVE)
        return
    if isinstance(found, Status):
        yield peer.host, peer.port
        yield from retrieve_failure(int(found))
        return
    from pynetdicom.presentation import build_context

    classes = sorted({i.sop_class_uid for i in found})[:128]
    contexts = [
        build_context(
            c,
            list(
                dict.fromkeys(
                    [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
                    + [
                        f.transfer_syntax_uid
                        for i in found
                        for f in i.files[:1]
                        if i.sop_class_uid == c
                    ]
                )
            ),
        )
        for c in classes
    ]
    yield peer.host, peer.port, {"contexts": contexts}
    yield len(found)
    yield from _datasets(found, event)
