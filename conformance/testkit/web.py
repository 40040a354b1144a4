"""``testkit dicomweb``: judge another vendor's ``/inventories`` origin server (PS3.18 12).

The checks are a registry (:mod:`dicom_inventory.conformance.testkit.registry`), as in the
DIMSE kits: one function each, with its id, the section it judges and when it applies; what
one check establishes (the inventories the server lists, the inventory under test, its Part 10
bytes) reaches later checks only as a fact. Every request is a plain HTTP request of the kit's
own (httpx), so that what the server sends is judged as sent; only Retrieve in Part 10 and the
tree walk go through our user agent (:class:`~dicom_inventory.scu.web.WebClient`), whose
streaming multipart reader and checks are the ones a migration tool relies on.

What the kit judges, and where the standard says so:

* **Retrieve Capabilities** (PS3.18 8.9, Annex H): a WADL document naming ``inventories`` and
  ``inventories/{uid}`` with GET (PS3.18 12: Retrieve Capabilities, Retrieve and Search are
  required of every NPI origin server, Store is optional).
* **Search** (PS3.18 12, 8.3.4): DICOM JSON results with SOP Class UID Inventory Storage;
  attribute matching by keyword, by tag and by UID list (8.3.4.1); ``limit``/``offset`` with
  ``Warning: 299`` while more results remain (8.3.4.4); the Native DICOM Model in
  ``multipart/related`` (the other search media type, 8.7.4); 204 when nothing matches and 400
  for a parameter that does not parse (the Search status codes).
* **Retrieve** (PS3.18 12, media types of Table 12.1.3-1): Part 10 in ``multipart/related`` (or
  a bare ``application/dicom``) that our validator accepts (PS3.3 A.88, C.38), DICOM JSON and
  the Native DICOM Model equal to it, ``*/*`` choosing the default (DICOM JSON, 8.7.7), 406
  for a request without an Accept header field (8.7.5), 404 for an unknown UID, and the whole
  tree of incorporated inventories (PS3.3 C.38.1.1.5) retrievable and valid as a set.
* **Repository Query over QIDO-RS** (optional, PS3.18 10.6; PS3.4 C.6.4), when the
  Capabilities Description offers ``studies``: Record Key / PriorRecordKey paging.
* **Store** (optional, only with ``store=True``: the kit then leaves one small synthetic
  inventory on the server) and the **bearer token** (with a token: 401 without it, RFC 6750 3).

Error bodies are searched for stack traces: a server must say what was wrong, not how it
crashed. The kit holds one JSON or XML representation in memory to compare it with the Part 10
instance: give ``uid`` (a small inventory) when the server's first one is large.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pydicom
from dicom_inventory.conformance.testkit.registry import (
    Facts,
    Registry,
    Verdict,
    failed,
    judged,
    passed,
)
from dicom_inventory.conformance.testkit.report import Report
from dicom_inventory.encode import write_inventory
from dicom_inventory.enum import InventoryLevel
from dicom_inventory.errors import InventoryError
from dicom_inventory.media import (
    DICOM,
    DICOM_JSON,
    DICOM_XML,
    MULTIPART_RELATED,
    dataset_from_json,
    dataset_from_xml,
)
from dicom_inventory.model import InventoryHeader
from dicom_inventory.multipart import (
    MultipartError,
    MultipartReader,
    boundary_of,
    iter_multipart,
    new_boundary,
)
from dicom_inventory.scu.web import WebClient, WebError, is_url, split_url
from dicom_inventory.synthetic import synthetic_studies
from dicom_inventory.uid import INVENTORY_STORAGE, generate_uid, is_valid_uid
from dicom_inventory.validate import Finding, Severity, validate_file, validate_files
from lxml import etree
from pydicom.dataset import Dataset

__all__ = ["CHECKS", "WebKit", "run_web_battery"]

WADL_NS = "http://wadl.dev.java.net/2009/02"
_WADL = "application/vnd.sun.wadl+xml"
_XML_PARTS = f'{MULTIPART_RELATED}; type="{DICOM_XML}"'
#: Search pages the kit follows at most (it judges paging, it does not list an archive).
_MAX_PAGES = 20
#: Findings, differences or results quoted as evidence at most.
_EVIDENCE = 8
_TRACES = ("Traceback (most recent call last)", "\tat java.", "   at System.")


@dataclass
class WebKit:
    """Where the origin server is and how the kit talks to it.

    Parameters
    ----------
    url : str
        The service's base URI (``https://host/dicomweb``), or its ``/inventories`` resource.
    uid : str, optional
        The inventory to retrieve; default: the first one Search lists.
    token : str, optional
        Bearer token sent with every request (and then checked to be required).
    verify : bool or str
        TLS verification: ``True``, a CA bundle path, or ``False``.
    timeout : float
        Seconds to connect and between bytes.
    store : bool
        Also judge Store, which leaves a small synthetic inventory on the server.

    Raises
    ------
    ValueError
        For a URL that is not ``http(s)://`` or a `uid` that is not a UID.
    """

    url: str
    uid: str | None = None
    token: str | None = None
    verify: bool | str = True
    timeout: float = 30.0
    store: bool = False
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="testkit-web-")))
    base: str = field(init=False, default="")
    """The service's base URI, without ``/inventories``."""

    def __post_init__(self) -> None:
        if not is_url(self.url):
            raise ValueError(f"{self.url!r}: expected an http:// or https:// URL")
        if self.uid is not None and not is_valid_uid(self.uid):
            raise ValueError(f"{self.uid!r} is not a valid SOP Instance UID (PS3.5 9.1)")
        url = self.url.rstrip("/")
        self.base = split_url(url)[0] if url.endswith("/inventories") else url


class _Run:
    """One run of the battery: the kit's settings and its HTTP connection pool."""

    def __init__(self, kit: WebKit) -> None:
        self.kit = kit
        headers = {"User-Agent": "dicom-inventory testkit"}
        if kit.token:
            headers["Authorization"] = f"Bearer {kit.token}"
        self.http = httpx.Client(
            base_url=kit.base, headers=headers, verify=kit.verify, timeout=kit.timeout
        )

    def get(self, path: str, accept: str | None, **params: Any) -> httpx.Response:
        """``GET`` with exactly this Accept header field (``None``: none at all)."""
        request = self.http.build_request("GET", path, params=params or None)
        if accept is None:
            del request.headers["accept"]
        else:
            request.headers["accept"] = accept
        return self.http.send(request)

    def client(self) -> WebClient:
        """Our user agent on the same service, without retries (a retry would hide a fault)."""
        return WebClient(
            self.kit.base,
            token=self.kit.token,
            verify=self.kit.verify,
            timeout=self.kit.timeout,
            retries=0,
        )

    def close(self) -> None:
        self.http.close()


def _broken(exc: BaseException) -> Verdict | None:
    """A response the server broke off (or a connection it dropped on a request): a FAIL."""
    if isinstance(exc, httpx.RemoteProtocolError):
        return failed(f"the server broke the exchange off: {exc}")
    return None


#: The battery, in the order it runs. A request that cannot be made (refused connection,
#: timeout) is an ERROR, neither pass nor fail; a response broken off by the server is a FAIL.
CHECKS: Registry[_Run] = Registry("dicomweb", errors=(httpx.HTTPError, OSError), on_error=_broken)


def run_web_battery(kit: WebKit) -> Report:
    """Run every check against the origin server at ``kit.url``; return the report."""
    run = _Run(kit)
    try:
        return CHECKS.run(run, Report("dicomweb", kit.base))
    finally:
        run.close()


# -- helpers -----------------------------------------------------------------------------------
def _media(response: httpx.Response) -> str:
    ctype: str = response.headers.get("content-type", "")
    return ctype.split(";")[0].strip().lower()


def _seen(response: httpx.Response) -> str:
    """One line of evidence: the request and what came back."""
    ctype = response.headers.get("content-type", "no Content-Type")
    return f"{response.request.method} {response.request.url} -> {response.status_code} ({ctype})"


def _traces(response: httpx.Response) -> list[str]:
    """A problem when an error body shows a stack trace."""
    text = response.text
    if any(t in text for t in _TRACES):
        return [f"the {response.status_code} body shows a stack trace; it must say what was wrong"]
    return []


def _results(response: httpx.Response) -> list[Dataset]:
    """The DICOM JSON results of a search response (204: none); _Unanswered otherwise."""
    return [] if response.status_code == 204 else _datasets(response, DICOM_JSON)


def _uids(results: list[Dataset]) -> list[str]:
    return [str(r.get("SOPInstanceUID", "")) for r in results]


def _more(response: httpx.Response) -> bool:
    """Whether a ``Warning: 299`` header says more results can be requested (8.3.4.4)."""
    return any(
        w.strip().startswith("299") and "additional results" in w.lower()
        for w in response.headers.get_list("warning")
    )


def _parts(response: httpx.Response) -> Iterator[tuple[dict[str, str], bytes]]:
    """The parts of a ``multipart/related`` response, each read whole (small bodies only)."""
    reader = MultipartReader(response.iter_bytes(), boundary_of(response.headers["content-type"]))
    for headers, body in reader.parts():
        yield headers, b"".join(body)


class _Unanswered(Exception):
    """A response that is not the representation asked for; the message says how."""


def _datasets(response: httpx.Response, media: str) -> list[Dataset]:
    """The datasets of a 200 response in `media`: DICOM JSON, or Native DICOM Model parts.

    Raises
    ------
    _Unanswered
        For another status or media type, a body that does not parse, or a part of another type.
    """
    if response.status_code != 200 or _media(response) != media.split(";")[0]:
        raise _Unanswered("; ".join([f"expected 200 {media}", *_traces(response)]))
    try:
        if media == DICOM_JSON:
            return dataset_from_json(response.content)
        found = []
        for headers, body in _parts(response):
            ptype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ptype != DICOM_XML:
                raise _Unanswered(f"a part of type {ptype!r}, expected {DICOM_XML}")
            found.append(dataset_from_xml(body))
        return found
    except (MultipartError, KeyError) as exc:
        raise _Unanswered(f"the multipart body does not parse: {exc}") from None
    except (ValueError, etree.XMLSyntaxError) as exc:
        raise _Unanswered(f"the body is not {media}: {exc}") from None


def _finding(f: Finding) -> str:
    where = f" in {Path(f.file).name}" if f.file else ""
    return f"{f.rule}{where} at {f.path}: {f.message} ({f.section})"


def _differences(a: Dataset, b: Dataset, where: str = "") -> Iterator[str]:
    """Where `a` and `b` differ, element by element, items recursively (names the tags)."""
    for tag in sorted(set(a.keys()) | set(b.keys())):
        name = f"{where}({tag.group:04X},{tag.element:04X})"
        if tag not in a or tag not in b:
            yield f"{name} only in the {'Part 10 instance' if tag in b else 'representation'}"
            continue
        x, y = a[tag], b[tag]
        if x.VR == "SQ" and y.VR == "SQ":
            if len(x.value) != len(y.value):
                yield f"{name}: {len(x.value)} items, {len(y.value)} in the Part 10 instance"
                continue
            for i, (p, q) in enumerate(zip(x.value, y.value, strict=True)):
                yield from _differences(p, q, f"{name}[{i}].")
        elif x.value != y.value:
            yield f"{name}: {str(x.value)[:60]!r}, Part 10 instance {str(y.value)[:60]!r}"


def _compared(ds: Dataset, facts: Facts, evidence: list[str]) -> Verdict:
    """Judge a representation's dataset against the Part 10 instance retrieved before.

    Without that instance (W-RETRIEVE-PART10 failed) only its SOP Instance UID is judged.
    """
    uid = str(ds.get("SOPInstanceUID", ""))
    if uid != facts["subject"]:
        return failed(*evidence, f"SOP Instance UID {uid!r}, expected {facts['subject']}")
    if "part10" not in facts:
        return passed(*evidence, "not compared: no Part 10 instance (see W-RETRIEVE-PART10)")
    reference = pydicom.dcmread(facts["part10"])
    del reference.file_meta
    found = []
    for d in _differences(ds, reference):
        found.append(d)
        if len(found) == _EVIDENCE:
            found.append("... (more differences)")
            break
    if found:
        return failed("differs from the Part 10 instance:", *found, *evidence)
    return passed(*evidence, "equal to the Part 10 instance, element by element")


# -- Retrieve Capabilities -----------------------------------------------------------------------
@CHECKS.check(
    "W-CAPABILITIES",
    "Retrieve Capabilities: a WADL description naming inventories and inventories/{uid}",
    "PS3.18 8.9, Annex H, 12",
    applies="always",
    provides=("store_offered", "repository_query_offered"),
)
def capabilities(run: _Run, facts: Facts) -> Verdict:
    r = run.http.options("/", headers={"Accept": f"{_WADL}, application/xml;q=0.9"})
    ev = [_seen(r)]
    if r.status_code != 200:
        return failed(*ev, "expected 200 with the Capabilities Description (PS3.18 8.9)")
    try:
        root = etree.fromstring(r.content, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        return failed(*ev, f"the body is not XML (a WADL document is expected): {exc}")
    methods: dict[str, set[str]] = {}
    for res in root.iter(f"{{{WADL_NS}}}resource"):
        path = str(res.get("path", "")).strip("/")
        methods.setdefault(path, set()).update(
            str(m.get("name", "")).upper() for m in res.findall(f"{{{WADL_NS}}}method")
        )
    ev += [f"resource {p}: {', '.join(sorted(m))}" for p, m in sorted(methods.items()) if p]
    uid_paths = [p for p in methods if p.startswith("inventories/{")]
    problems = []
    if _media(r) not in (_WADL, "application/xml", "text/xml"):
        problems.append(f"Content-Type {_media(r)!r}, expected {_WADL} (PS3.18 8.9)")
    if "GET" not in methods.get("inventories", set()):
        problems.append("no resource 'inventories' with GET (Search, PS3.18 12)")
    if not any("GET" in methods[p] for p in uid_paths):
        problems.append("no resource 'inventories/{uid}' with GET (Retrieve, PS3.18 12)")
    offered = "POST" in methods.get("inventories", set()) | set().union(
        *(methods[p] for p in uid_paths)
    )
    rq = "GET" in methods.get("studies", set())
    return judged(problems, ev, store_offered=offered, repository_query_offered=rq)


# -- Search ------------------------------------------------------------------------------------
@CHECKS.check(
    "W-SEARCH",
    "Search of /inventories: DICOM JSON results, each an Inventory with its SOP Instance UID",
    "PS3.18 12, 8.3.4, 8.7.4; PS3.4 GG.3",
    applies="always",
    provides=("listed", "subject"),
)
def search(run: _Run, facts: Facts) -> Verdict:
    listed: list[str] = []
    ev: list[str] = []
    problems: list[str] = []
    offset = 0
    for _ in range(_MAX_PAGES):
        r = run.get("/inventories", DICOM_JSON, **({"offset": str(offset)} if offset else {}))
        ev.append(_seen(r))
        try:
            page = _results(r)
        except _Unanswered as exc:
            return failed(*ev, f"{exc} (or 204 with no result)")
        for ds in page:
            uid = str(ds.get("SOPInstanceUID", ""))
            if not is_valid_uid(uid):
                problems.append(f"a result without a valid SOP Instance UID (0008,0018): {uid!r}")
            if str(ds.get("SOPClassUID", "")) != INVENTORY_STORAGE:
                problems.append(
                    f"result {uid}: SOP Class UID {ds.get('SOPClassUID', 'missing')}, "
                    f"expected Inventory Storage {INVENTORY_STORAGE}"
                )
        listed += _uids(page)
        if not page or not _more(r):
            break
        offset += len(page)
    if len(set(listed)) != len(listed):
        problems.append("the same inventory is listed twice")
    ev.append(f"{len(listed)} inventor{'y' if len(listed) == 1 else 'ies'} listed")
    subject = run.kit.uid or (listed[0] if listed else None)
    if run.kit.uid and run.kit.uid not in listed:
        ev.append(f"the inventory given ({run.kit.uid}) is not among them")
    done: dict[str, Any] = {"listed": listed}
    if subject is not None:
        done["subject"] = subject
    else:
        ev.append("the server holds no inventory: the Retrieve checks cannot run")
    return judged(problems[:_EVIDENCE], ev, **done)


def _two_listed(run: _Run, facts: Facts) -> str | None:
    if len(facts["listed"]) < 2:
        return "the server lists fewer than 2 inventories"
    return None


@CHECKS.check(
    "W-SEARCH-MATCH",
    "Attribute matching by keyword, by tag (ggggeeee) and by UID list",
    "PS3.18 8.3.4.1; PS3.4 C.2.2.2.2",
    applies="the server lists an inventory",
    needs=("listed", "subject"),
)
def search_match(run: _Run, facts: Facts) -> Verdict:
    subject: str = facts["subject"]
    listed: list[str] = facts["listed"]
    tries = [("SOPInstanceUID", subject, {subject}), ("00080018", subject, {subject})]
    others = [u for u in listed if u != subject][:1]
    if others:
        tries.append(("SOPInstanceUID", f"{subject},{others[0]}", {subject, others[0]}))
    ev: list[str] = []
    problems: list[str] = []
    for attribute, value, wanted in tries:
        r = run.get("/inventories", DICOM_JSON, **{attribute: value})
        ev.append(_seen(r))
        try:
            got = set(_uids(_results(r)))
        except _Unanswered as exc:
            problems.append(f"{attribute}={value}: {exc}")
            continue
        if got != wanted:
            problems.append(f"{attribute}={value}: got {sorted(got)}, expected {sorted(wanted)}")
    return judged(problems, ev)


@CHECKS.check(
    "W-SEARCH-PAGING",
    "limit and offset page the results, with Warning 299 while more remain",
    "PS3.18 8.3.4.4",
    applies="the server lists at least 2 inventories",
    needs=("listed",),
    when=_two_listed,
)
def search_paging(run: _Run, facts: Facts) -> Verdict:
    listed: list[str] = facts["listed"]
    ev: list[str] = []
    problems: list[str] = []
    paged: list[str] = []
    for offset in range(min(len(listed), _MAX_PAGES)):
        r = run.get("/inventories", DICOM_JSON, limit="1", offset=str(offset))
        try:
            page = _uids(_results(r))
        except _Unanswered as exc:
            problems.append(f"limit=1 offset={offset}: {exc}")
            continue
        last = offset == len(listed) - 1
        ev.append(f"{_seen(r)}: {len(page)} result(s), Warning 299 {'yes' if _more(r) else 'no'}")
        if len(page) != 1:
            problems.append(f"limit=1 offset={offset}: {len(page)} results, expected 1")
        if not last and not _more(r):
            problems.append(
                f"limit=1 offset={offset}: {len(listed) - offset - 1} more remain but no "
                "'Warning: 299 ... additional results' header says so (PS3.18 8.3.4.4)"
            )
        if last and _more(r):
            problems.append(f"limit=1 offset={offset}: the last page still warns of more")
        paged += page
    if len(listed) <= _MAX_PAGES and sorted(paged) != sorted(listed):
        problems.append("paging one by one does not list the same inventories as one search")
    return judged(problems, ev)


@CHECKS.check(
    "W-SEARCH-XML",
    'Search results as multipart/related; type="application/dicom+xml"',
    "PS3.18 8.7.4, 12; PS3.19 A.1",
    applies="the server lists an inventory",
    needs=("subject",),
)
def search_xml(run: _Run, facts: Facts) -> Verdict:
    subject: str = facts["subject"]
    r = run.get("/inventories", _XML_PARTS, SOPInstanceUID=subject)
    try:
        uids = _uids(_datasets(r, _XML_PARTS))
    except _Unanswered as exc:
        return failed(_seen(r), str(exc))
    problems = (
        [] if uids == [subject] else [f"results {uids}, expected the one inventory {subject}"]
    )
    return judged(problems, [_seen(r)])


@CHECKS.check(
    "W-SEARCH-NONE",
    "a search that matches nothing is answered 204 No Content",
    "PS3.18 12 (Search status codes), 8.3.4",
    applies="always",
)
def search_none(run: _Run, facts: Facts) -> Verdict:
    r = run.get("/inventories", DICOM_JSON, SOPInstanceUID=generate_uid())
    ev = [_seen(r)]
    if r.status_code == 204:
        return passed(*ev)
    return failed(*ev, "expected 204 No Content for a search without results", *_traces(r))


@CHECKS.check(
    "W-SEARCH-BAD",
    "a query parameter that does not parse is answered 400, without a stack trace",
    "PS3.18 12 (Search status codes), 8.3.4.4",
    applies="always",
)
def search_bad(run: _Run, facts: Facts) -> Verdict:
    r = run.get("/inventories", DICOM_JSON, limit="ten")
    ev = [_seen(r), f"body: {r.text.strip()[:200]!r}"]
    problems = _traces(r)
    if r.status_code != 400:
        problems.append("expected 400 Bad Request for limit=ten")
    return judged(problems, ev)


# -- Retrieve ----------------------------------------------------------------------------------
@CHECKS.check(
    "W-RETRIEVE-PART10",
    "Retrieve as application/dicom: the Inventory asked for, accepted by the validator",
    "PS3.18 12, 8.7.3.1; PS3.3 A.88, C.38",
    applies="the server lists an inventory (or --uid is given)",
    needs=("subject",),
    provides=("part10",),
)
def retrieve_part10(run: _Run, facts: Facts) -> Verdict:
    subject: str = facts["subject"]
    with run.client() as client:
        try:
            path = client.retrieve(subject, run.kit.work / "part10")
        except WebError as exc:
            return failed(str(exc))
    ev = [f"GET {run.kit.base}/inventories/{subject}: {path.stat().st_size:,} bytes of Part 10"]
    try:
        findings = list(validate_file(path))
    except InventoryError as exc:
        return failed(*ev, f"the instance does not read to its end: {exc}")
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    ev.append(f"validator: {len(errors)} error(s), {len(warnings)} warning(s)")
    ev += [f"warning: {_finding(f)}" for f in warnings[:_EVIDENCE]]
    return judged((f"error: {_finding(f)}" for f in errors[:_EVIDENCE]), ev, part10=path)


@CHECKS.check(
    "W-RETRIEVE-JSON",
    "Retrieve as application/dicom+json: one object equal to the Part 10 instance",
    "PS3.18 12, 8.7.3.2; PS3.18 F.2",
    applies="the server lists an inventory (compared with the Part 10 instance when it was retrieved)",
    needs=("subject",),
)
def retrieve_json(run: _Run, facts: Facts) -> Verdict:
    return _retrieved_as(run, facts, DICOM_JSON)


@CHECKS.check(
    "W-RETRIEVE-XML",
    'Retrieve as multipart/related; type="application/dicom+xml": equal to the Part 10 instance',
    "PS3.18 12, 8.7.3.2; PS3.19 A.1",
    applies="the server lists an inventory (compared with the Part 10 instance when it was retrieved)",
    needs=("subject",),
)
def retrieve_xml(run: _Run, facts: Facts) -> Verdict:
    return _retrieved_as(run, facts, _XML_PARTS)


def _retrieved_as(run: _Run, facts: Facts, media: str) -> Verdict:
    """Retrieve the subject in `media`: one dataset, equal to the Part 10 instance."""
    r = run.get(f"/inventories/{facts['subject']}", media)
    ev = [_seen(r)]
    try:
        found = _datasets(r, media)
    except _Unanswered as exc:
        return failed(*ev, str(exc))
    if len(found) != 1:
        return failed(*ev, f"{len(found)} datasets in the body, expected 1")
    return _compared(found[0], facts, ev)


@CHECKS.check(
    "W-RETRIEVE-DEFAULT",
    "Accept: */* chooses the default media type, application/dicom+json",
    "PS3.18 8.7.7, Table 12.1.3-1",
    applies="the server lists an inventory",
    needs=("subject",),
)
def retrieve_default(run: _Run, facts: Facts) -> Verdict:
    r = run.get(f"/inventories/{facts['subject']}", "*/*")
    ev = [_seen(r)]
    if r.status_code == 200 and _media(r) == DICOM_JSON:
        return passed(*ev)
    return failed(*ev, f"expected 200 {DICOM_JSON}, the default for */*", *_traces(r))


@CHECKS.check(
    "W-RETRIEVE-NO-ACCEPT",
    "a request without an Accept header field is answered 406 Not Acceptable",
    "PS3.18 8.7.5, 8.7.7",
    applies="the server lists an inventory",
    needs=("subject",),
)
def retrieve_no_accept(run: _Run, facts: Facts) -> Verdict:
    r = run.get(f"/inventories/{facts['subject']}", None)
    ev = [_seen(r)]
    problems = _traces(r)
    if r.status_code != 406:
        problems.append(
            "expected 406: the response to a request without an Accept header field shall be "
            "406 (PS3.18 8.7.5)"
        )
    return judged(problems, ev)


@CHECKS.check(
    "W-RETRIEVE-UNACCEPTABLE",
    "an Accept naming no offered media type gets 406 or the default media type, nothing else",
    "PS3.18 8.3.3.1, 8.7.7; RFC 7231 6.5.6",
    applies="the server lists an inventory",
    needs=("subject",),
)
def retrieve_unacceptable(run: _Run, facts: Facts) -> Verdict:
    r = run.get(f"/inventories/{facts['subject']}", "image/png")
    ev = [_seen(r)]
    if r.status_code == 406:
        return judged(_traces(r), [*ev, "406 Not Acceptable"])
    if r.status_code == 200 and _media(r) == DICOM_JSON:
        return passed(*ev, "the default media type (PS3.18 8.3.3.1)")
    return failed(*ev, f"expected 406, or 200 in the default {DICOM_JSON}")


@CHECKS.check(
    "W-RETRIEVE-404",
    "an unknown SOP Instance UID is answered 404 Not Found, without a stack trace",
    "PS3.18 8.5, 12",
    applies="always",
)
def retrieve_unknown(run: _Run, facts: Facts) -> Verdict:
    r = run.get(f"/inventories/{generate_uid()}", DICOM_JSON)
    ev = [_seen(r)]
    problems = _traces(r)
    if r.status_code != 404:
        problems.append("expected 404 Not Found")
    return judged(problems, ev)


@CHECKS.check(
    "W-RETRIEVE-TREE",
    "every incorporated inventory is retrievable, and the tree is whole and valid",
    "PS3.3 C.38.1.1.5, C.38.2.3; PS3.18 12",
    applies="Retrieve in Part 10 worked",
    needs=("subject", "part10"),
)
def retrieve_tree(run: _Run, facts: Facts) -> Verdict:
    subject: str = facts["subject"]
    with run.client() as client:
        try:
            files = client.retrieve_tree(subject, run.kit.work / "tree")
            ev = [f"{len(files)} instance(s) in the tree of {subject}"]
            errors = [f for f in validate_files(files) if f.severity is Severity.ERROR]
        except WebError as exc:
            return failed(str(exc))
        except InventoryError as exc:  # a missing or circular reference, an unreadable leaf
            return failed(f"the tree is not whole: {exc}")
    ev.append(f"validator over the set: {len(errors)} error(s)")
    return judged((f"error: {_finding(f)}" for f in errors[:_EVIDENCE]), ev)


# -- Repository Query over QIDO-RS (optional) -------------------------------------------------
@CHECKS.check(
    "W-RQ-PAGING",
    "Repository Query on /studies: pages of limit=2 continued by PriorRecordKey list every "
    "study once, each with its Record Key, Warning 299 on every page but the last",
    "PS3.18 10.6, 10.6.3.3, 8.3.4.4; PS3.4 C.6.4.5.1, C.6.4.5.3",
    applies="the Capabilities Description offers GET on studies",
    needs=("repository_query_offered",),
    when=lambda run, facts: (
        None
        if facts["repository_query_offered"]
        else "the Capabilities Description offers no GET on studies (Repository Query is optional)"
    ),
)
def repository_query_paging(run: _Run, facts: Facts) -> Verdict:
    whole = run.get("/studies", DICOM_JSON, includefield="RecordKey")
    ev = [_seen(whole)]
    try:
        everything = [str(d.get("StudyInstanceUID", "")) for d in _results(whole)]
    except _Unanswered as exc:
        return failed(*ev, str(exc))
    problems: list[str] = []
    paged: list[str] = []
    with run.client() as client:
        try:
            for n, page in enumerate(client.repository_query("STUDY", page_size=2)):
                if n == _MAX_PAGES:
                    ev.append(f"stopped after {_MAX_PAGES} pages")
                    break
                if not all(d.get("RecordKey") for d in page.results):
                    problems.append(f"page {n + 1}: a result without Record Key (0008,041B)")
                if len(page.results) > 2:
                    problems.append(f"page {n + 1}: {len(page.results)} results for limit=2")
                paged += [str(d.get("StudyInstanceUID", "")) for d in page.results]
        except WebError as exc:
            problems.append(str(exc))
    ev.append(f"{len(everything)} studies in one response, {len(paged)} paged by 2")
    if len(set(paged)) != len(paged):
        problems.append("a study is listed twice across pages (PS3.4 C.6.4.5.3)")
    if not _more(whole) and len(paged) < _MAX_PAGES * 2 and sorted(paged) != sorted(everything):
        problems.append("the pages do not list the studies one response lists")
    return judged(problems, ev)


# -- Store (optional) --------------------------------------------------------------------------
def _store_asked(run: _Run, facts: Facts) -> str | None:
    if not run.kit.store:
        return "not asked for (--store): the kit writes to a server only when told to"
    if not facts.get("store_offered"):
        return "the Capabilities Description offers no POST on inventories (Store is optional)"
    return None


def _post(run: _Run, body: bytes) -> httpx.Response:
    boundary = new_boundary()
    content = b"".join(iter_multipart([({"Content-Type": DICOM}, [body])], boundary))
    return run.http.post(
        "/inventories",
        content=content,
        headers={
            "Content-Type": f'{MULTIPART_RELATED}; type="{DICOM}"; boundary={boundary}',
            "Accept": DICOM_JSON,
        },
    )


def _sample(folder: Path) -> tuple[str, Path]:
    """A small valid synthetic inventory with a new SOP Instance UID."""
    now = datetime.now()
    header = InventoryHeader(
        sop_instance_uid=generate_uid(),
        inventory_level=InventoryLevel.SERIES,
        content_date=now.strftime("%Y%m%d"),
        content_time=now.strftime("%H%M%S"),
        inventory_purpose="dicom-inventory testkit",
    )
    studies = synthetic_studies(
        2,
        series_per_study=1,
        instances_per_series=1,
        level=InventoryLevel.SERIES,
        item_inventory_datetime=header.content_date + header.content_time,
    )
    [written] = write_inventory(folder, header, studies)
    assert written.path is not None
    return header.sop_instance_uid, Path(written.path)


@CHECKS.check(
    "W-STORE",
    "Store: a valid inventory is stored (200) and retrievable; a non-DICOM part is refused",
    "PS3.18 12, 10.5.3",
    applies="--store is given and the server offers Store",
    needs=("store_offered",),
    when=_store_asked,
)
def store(run: _Run, facts: Facts) -> Verdict:
    uid, path = _sample(run.kit.work / "store")
    r = _post(run, path.read_bytes())
    ev = [_seen(r)]
    problems: list[str] = []
    if r.status_code != 200:
        problems += ["expected 200 for one valid inventory", *_traces(r)]
    else:
        try:
            report = Dataset.from_json(json.loads(r.content))
            stored = [str(i.ReferencedSOPInstanceUID) for i in report.ReferencedSOPSequence]
        except (ValueError, AttributeError) as exc:
            stored = []
            problems.append(f"the response is not a Store Instances Response in JSON: {exc}")
        if stored and uid not in stored:
            problems.append(f"Referenced SOP Sequence lists {stored}, not {uid} (10.5.3)")
        back = run.get(f"/inventories/{uid}", DICOM_JSON)
        ev.append(_seen(back))
        if back.status_code != 200:
            problems.append(f"the stored inventory {uid} cannot be retrieved")
    junk = _post(run, b"\0" * 128 + b"this is not a DICOM file")
    ev.append(f"{_seen(junk)} for a part that is not DICOM")
    if junk.status_code not in (400, 409):
        problems.append(f"a part that is not DICOM got {junk.status_code}, expected 409 (or 400)")
    problems += _traces(junk)
    return judged(problems, ev)


# -- security ----------------------------------------------------------------------------------
@CHECKS.check(
    "W-AUTH",
    "with a bearer token: a request without it is answered 401 with WWW-Authenticate: Bearer",
    "RFC 6750 3",
    applies="a token is given",
    when=lambda run, facts: None if run.kit.token else "no token given (--token-file)",
)
def auth(run: _Run, facts: Facts) -> Verdict:
    with httpx.Client(verify=run.kit.verify, timeout=run.kit.timeout) as anonymous:
        r = anonymous.get(f"{run.kit.base}/inventories", headers={"Accept": DICOM_JSON})
    ev = [_seen(r), f"WWW-Authenticate: {r.headers.get('www-authenticate', 'none')}"]
    problems = _traces(r)
    if r.status_code != 401:
        problems.append("expected 401 Unauthorized without the token")
    elif not r.headers.get("www-authenticate", "").lower().startswith("bearer"):
        problems.append("a 401 needs WWW-Authenticate: Bearer ... (RFC 6750 3)")
    return judged(problems, ev)
