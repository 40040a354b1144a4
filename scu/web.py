"""The DICOMweb user agent for inventories (PS3.18 12): search, retrieve, store, capabilities.

dicomweb-client covers the study, series and instance resources but not ``/inventories``
(and refuses ``application/dicom`` on its generic path), so this is a small client of our own
on httpx: one :class:`WebClient` per service base URI. Every transfer streams: a retrieved
inventory goes part by part to ``<uid>.dcm.part`` next to its final name, is checked to be a
readable Inventory with the SOP Instance UID asked for, and only then renamed; a multi-GB
inventory never sits in memory. Connection errors, timeouts and 5xx answers are retried with
exponential back-off (``Retry-After`` honoured); 4xx answers are not (the message says why).

:func:`split_url` takes an inventory's URL apart (``https://host/dicomweb/inventories/{uid}``);
:meth:`WebClient.retrieve_tree` follows a split inventory's references (PS3.3 C.38.1.1.5), so
``export``, ``diff`` and ``fetch`` accept a URL wherever they accept a file.
:meth:`WebClient.repository_query` pages through an archive's studies, series or instances
over QIDO-RS with Record Key / Prior Record Key (PS3.18 10.6, PS3.4 C.6.4), the HTTP twin of
the DIMSE Repository Query.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from dicom_inventory.errors import InventoryError, InventoryReadError
from dicom_inventory.media import DICOM, DICOM_JSON, MULTIPART_RELATED, dataset_from_json
from dicom_inventory.multipart import (
    MultipartError,
    MultipartReader,
    boundary_of,
    iter_multipart,
    new_boundary,
)
from dicom_inventory.read import read_header, resolve_tree
from dicom_inventory.uid import is_valid_uid
from pydicom.dataset import Dataset

__all__ = ["SearchPage", "WebClient", "WebError", "is_url", "split_url"]

_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_CHUNK = 1 << 20


class WebError(InventoryError):
    """A DICOMweb request failed: the message names the URL, the status and the reason."""


def is_url(text: str) -> bool:
    """Whether `text` is an ``http://`` or ``https://`` URL."""
    return text.startswith(("http://", "https://"))


def split_url(url: str) -> tuple[str, str | None]:
    """``(service base URI, SOP Instance UID or None)`` of an ``/inventories`` URL.

    Raises
    ------
    WebError
        If the URL does not end in ``/inventories`` or ``/inventories/{uid}``.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    head, sep, tail = path.rpartition("/inventories")
    if not sep or "/" in tail.lstrip("/"):
        raise WebError(
            f"{url}: expected a DICOMweb inventory URL, .../inventories/{{uid}} (PS3.18 12.1.1)"
        )
    uid = tail.lstrip("/") or None
    if uid is not None and not is_valid_uid(uid):
        raise WebError(f"{url}: {uid!r} is not a valid SOP Instance UID (PS3.5 9.1)")
    return f"{parts.scheme}://{parts.netloc}{head}", uid


@dataclass
class SearchPage:
    """One search response: the results and whether the server said more remain."""

    results: list[Dataset]
    more: bool
    warnings: list[str]


class WebClient:
    """A user agent of one DICOMweb service (its base URI, e.g. ``https://pacs/dicomweb``).

    Parameters
    ----------
    base_url : str
        The service's base URI.
    token : str, optional
        Sent as ``Authorization: Bearer <token>`` (RFC 6750).
    verify : bool or str
        TLS verification: ``True`` (system CAs), a CA bundle path, or ``False``.
    timeout : float
        Seconds to connect and between bytes.
    retries : int
        Attempts after the first on connection errors, timeouts and 5xx.
    backoff : float
        First delay between attempts, doubled each time (seconds).
    transport : httpx.BaseTransport, optional
        For tests of the client alone; normally the network.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        verify: bool | str = True,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "dicom-inventory"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            verify=verify,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> WebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------
    def _attempts(self) -> Iterator[int]:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            yield attempt
            time.sleep(delay)
            delay *= 2

    def _fail(self, response: httpx.Response, what: str) -> WebError:
        text = response.text.strip().splitlines()[0][:300] if response.text.strip() else ""
        return WebError(
            f"{what}: {response.request.url} answered {response.status_code} "
            f"{response.reason_phrase}" + (f": {text}" if text else "")
        )

    def _send(
        self, method: str, path: str, what: str, *, stream: bool = False, **kw: Any
    ) -> httpx.Response:
        """Send with retries; a 4xx is returned to the caller, a 5xx after the last attempt."""
        last: Exception | None = None
        for attempt in self._attempts():
            try:
                request = self._http.build_request(method, path, **kw)
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                last = exc
                if attempt == self.retries:
                    break
                continue
            if response.status_code in _RETRY_STATUSES and attempt < self.retries:
                wait = response.headers.get("retry-after", "")
                response.close()
                if wait.isdigit():
                    time.sleep(min(float(wait), 60.0))
                continue
            return response
        raise WebError(f"{what}: {self.base_url}{path}: {last}") from last

    # -- transactions ------------------------------------------------------------------------
    def capabilities(self) -> bytes:
        """Retrieve Capabilities (``OPTIONS /``, PS3.18 8.9): the Capabilities Description."""
        r = self._send("OPTIONS", "/", "Retrieve Capabilities")
        if r.status_code != 200:
            raise self._fail(r, "Retrieve Capabilities")
        return r.content

    def search_page(
        self,
        params: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> SearchPage:
        """One Search request of ``/inventories`` (PS3.18 12, 8.3.4)."""
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        if limit is not None:
            items.append(("limit", str(limit)))
        if offset:
            items.append(("offset", str(offset)))
        return self._search("/inventories", items, "Search")

    def _search(self, path: str, items: list[tuple[str, str]], what: str) -> SearchPage:
        """One GET of a search resource in DICOM JSON; 204 is an empty page (PS3.18 8.3.4)."""
        r = self._send("GET", path, what, params=items, headers={"Accept": DICOM_JSON})
        warnings = r.headers.get_list("warning")
        if r.status_code == 204:
            return SearchPage([], False, warnings)
        if r.status_code != 200:
            raise self._fail(r, what)
        try:
            results = dataset_from_json(r.content)
        except ValueError as exc:
            raise WebError(f"{what}: {r.request.url}: the body is not DICOM JSON: {exc}") from None
        more = any("additional results" in w for w in warnings)
        return SearchPage(results, more, warnings)

    def search(
        self, params: Mapping[str, str] | Iterable[tuple[str, str]], *, page_size: int | None = None
    ) -> Iterator[Dataset]:
        """Every search result, paging with ``offset`` while the server says more remain."""
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        offset = 0
        while True:
            page = self.search_page(items, limit=page_size, offset=offset)
            yield from page.results
            if not page.more or not page.results:
                return
            offset += len(page.results)

    def repository_query(
        self,
        level: str,
        params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        page_size: int | None = None,
        follow: bool = True,
    ) -> Iterator[SearchPage]:
        """Repository Query over QIDO-RS (PS3.18 10.6; PS3.4 C.6.4), page by page.

        `level` is ``STUDY``, ``SERIES`` or ``IMAGE`` (the All Studies / Series / Instances
        resources, relational). Each page asks for Record Key (0008,041B) and at most
        `page_size` records (``limit``, Maximum Number of Records); while the server answers
        ``Warning: 299 ... additional results`` and `follow` is true, the next page continues
        with ``PriorRecordKey`` = the last Record Key in base64, as its DICOM JSON
        ``InlineBinary`` carries it (our origin server's reading of PS3.18 10.6.1.2.4).

        Raises
        ------
        WebError
            On an HTTP failure, a body that is not DICOM JSON, or a page that says more
            remain but gives no Record Key to continue from.
        """
        resource = {"STUDY": "/studies", "SERIES": "/series", "IMAGE": "/instances"}.get(level)
        if resource is None:
            raise WebError(f"level {level!r}: expected STUDY, SERIES or IMAGE (PS3.4 C.6.4)")
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        items.append(("includefield", "RecordKey"))
        if page_size is not None:
            items.append(("limit", str(page_size)))
        prior: bytes | None = None
        while True:
            query = items + (
                [("PriorRecordKey", base64.b64encode(prior).decode())] if prior else []
            )
            page = self._search(resource, query, "Repository Query")
            yield page
            if not (follow and page.more and page.results):
                return
            prior = page.results[-1].get("RecordKey")
            if not prior:
                raise WebError(
                    f"Repository Query: {self.base_url}{resource} says more results remain but "
                    "gives no Record Key (0008,041B) to continue from (PS3.4 C.6.4.5.3)"
                )

    def retrieve(
        self,
        uid: str,
        out_dir: str | os.PathLike[str],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Retrieve ``/inventories/{uid}`` as Part 10 into ``out_dir/<uid>.dcm`` (streamed).

        ``progress`` is called with the bytes received so far. The file appears only once it
        is complete and reads as an Inventory with that SOP Instance UID.

        Raises
        ------
        WebError
            On an HTTP failure, a body that is not ``application/dicom`` parts, a broken
            multipart body, or a part that is not the inventory asked for.
        """
        if not is_valid_uid(uid):
            raise WebError(f"{uid!r} is not a valid SOP Instance UID (PS3.5 9.1)")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{uid}.dcm"
        tmp = target.with_name(target.name + ".part")
        accept = f'{MULTIPART_RELATED}; type="{DICOM}"; transfer-syntax=*'
        what = f"Retrieve {uid}"
        for attempt in self._attempts():
            r = self._send(
                "GET", f"/inventories/{uid}", what, stream=True, headers={"Accept": accept}
            )
            try:
                if r.status_code != 200:
                    r.read()
                    raise self._fail(r, what)
                try:
                    self._save_part(r, tmp, what, progress)
                    break
                except httpx.TransportError as exc:  # the body broke off: start again
                    if attempt == self.retries:
                        raise WebError(f"{what}: the body broke off: {exc}") from exc
            finally:
                r.close()
        try:
            got = read_header(tmp).sop_instance_uid
        except InventoryReadError as exc:
            tmp.unlink(missing_ok=True)
            raise WebError(f"{what}: the part is not a readable Inventory: {exc}") from None
        if got != uid:
            tmp.unlink(missing_ok=True)
            raise WebError(f"{what}: the server sent inventory {got} instead")
        tmp.replace(target)
        return target

    def _save_part(
        self, r: httpx.Response, tmp: Path, what: str, progress: Callable[[int], None] | None
    ) -> None:
        ctype = r.headers.get("content-type", "")
        media = ctype.split(";")[0].strip().lower()
        chunks = r.iter_bytes(_CHUNK)
        done = 0
        with open(tmp, "wb") as f:
            if media == DICOM:  # a bare instance
                parts: Iterator[tuple[dict[str, str], Iterator[bytes]]] = iter([({}, chunks)])
            elif media == MULTIPART_RELATED:
                try:
                    parts = MultipartReader(chunks, boundary_of(ctype)).parts()
                except MultipartError as exc:
                    raise WebError(f"{what}: {exc}") from None
            else:
                raise WebError(
                    f"{what}: Content-Type {ctype!r}, expected {MULTIPART_RELATED} or {DICOM}"
                )
            try:
                first = next(parts, None)
                if first is None:
                    raise WebError(f"{what}: the multipart body has no part")
                headers, body = first
                part_type = headers.get("content-type", DICOM).split(";")[0].strip().lower()
                if part_type != DICOM:
                    raise WebError(f"{what}: a part of type {part_type!r}, expected {DICOM}")
                for chunk in body:
                    f.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done)
                if next(parts, None) is not None:
                    raise WebError(f"{what}: more than one part for one inventory")
            except MultipartError as exc:
                raise WebError(f"{what}: {exc}") from None

    def retrieve_tree(
        self,
        uid: str,
        out_dir: str | os.PathLike[str],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[Path]:
        """Retrieve `uid` and every instance it incorporates, level by level (C.38.1.1.5).

        Instances already in `out_dir` (``<uid>.dcm``) are not asked for again. ``progress``
        is called with the bytes received so far over the whole tree. Returns the files of
        the tree, root first.
        """
        out = Path(out_dir)
        files: list[Path] = []
        wanted = [uid]
        seen: set[str] = set()
        before = 0

        def step(done: int) -> None:
            if progress is not None:
                progress(before + done)

        while wanted:
            level = []
            for u in wanted:
                if u in seen:
                    continue
                seen.add(u)
                path = out / f"{u}.dcm"
                if not path.exists():
                    path = self.retrieve(u, out, progress=step)
                    before += path.stat().st_size
                level.append(path)
            files += level
            wanted = [ref.sop_instance_uid for p in level for ref in read_header(p).incorporated]
        resolve_tree(files[0])  # the whole tree is here and acyclic
        return files

    def store(self, paths: Iterable[str | os.PathLike[str]]) -> tuple[int, Dataset]:
        """Store Part 10 inventories (``POST /inventories``); the HTTP status and the report.

        The body is streamed from the files.
        """
        boundary = new_boundary()

        def chunks(path: Path) -> Iterator[bytes]:
            with open(path, "rb") as f:
                while data := f.read(_CHUNK):
                    yield data

        files = [Path(p) for p in paths]
        body = iter_multipart([({"Content-Type": DICOM}, chunks(p)) for p in files], boundary)
        r = self._http.post(
            "/inventories",
            content=body,
            headers={
                "Content-Type": f'{MULTIPART_RELATED}; type="{DICOM}"; boundary={boundary}',
                "Accept": DICOM_JSON,
            },
        )
        if r.status_code not in (200, 202, 409):
            raise self._fail(r, "Store")
        try:
            return r.status_code, Dataset.from_json(json.loads(r.content))
        except ValueError as exc:
            raise WebError(f"Store: the response is not DICOM JSON: {exc}") from None
