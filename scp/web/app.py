"""The DICOMweb origin server of the node: the Non-Patient Instance service for inventories.

An ASGI application (Starlette) over the node's own inventory store, the one Inventory
FIND/GET/MOVE read (:mod:`dicom_inventory.scp.services.qr`): ``/inventories`` and
``/inventories/{uid}`` under the service's base URI (PS3.18 12.1.1, Table 12.1.1-1).

* **Retrieve Capabilities** (``OPTIONS``, PS3.18 8.9): the Capabilities Description
  (:mod:`~dicom_inventory.scp.web.capabilities`).
* **Retrieve** (``GET /inventories/{uid}``): DICOM JSON (default), Part 10 or Native DICOM
  Model parts in ``multipart/related``, or a bare ``application/dicom``; chosen by the
  ``accept`` query parameter or the Accept header (406 when nothing fits). Every body is
  streamed from the file record by record (:mod:`dicom_inventory.media`): a multi-GB inventory
  never sits in memory.
* **Search** (``GET /inventories?...``, :mod:`~dicom_inventory.scp.web.search`).
* **Store** (``POST /inventories``, optional, :mod:`~dicom_inventory.scp.web.store`).
* **Repository Query** over the Search transaction of ``/studies``, ``/series``,
  ``/instances`` and the study's and series' own (optional, PS3.18 10.6, PS3.4 C.6.4,
  :mod:`~dicom_inventory.scp.web.repository`), over the node's repository.

Errors are plain-text bodies saying what was expected (never a stack trace; the node's log has
the details), with the status codes of PS3.18 8.5. With a bearer token configured, every
request needs it (RFC 6750), checked in :class:`BearerToken` before any handler runs.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from dicom_inventory.errors import InventoryError
from dicom_inventory.media import (
    DICOM,
    DICOM_JSON,
    DICOM_XML,
    iter_json,
    iter_part10,
    iter_xml,
)
from dicom_inventory.multipart import iter_multipart, new_boundary
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.services.qr import matching_inventories
from dicom_inventory.scp.stores.inventories import InventoryStore, StoredInventory
from dicom_inventory.scp.stores.repository import Repository
from dicom_inventory.scp.web.capabilities import capabilities_response
from dicom_inventory.scp.web.negotiate import Representation, choose, parse_accept
from dicom_inventory.scp.web.resources import RETRIEVE_REPRESENTATIONS, transactions
from dicom_inventory.uid import is_valid_uid
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BearerToken", "WebError", "negotiated", "web_app"]

LOG = logging.getLogger("dicom_inventory.scp.web")


class WebError(HTTPException):
    """An HTTP error answered with a plain-text explanation (PS3.18 8.5)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail, headers)


def negotiated(
    request: Request, offered: tuple[Representation, ...]
) -> tuple[Representation, dict[str, str]]:
    """The representation `request` accepts, and the parameters of the range that chose it.

    The ``accept`` query parameter, when present, replaces the Accept header (PS3.18 8.3.3.1);
    it does not replace the need for the header: a request without an Accept header field (or
    with an empty one) is answered 406, as PS3.18 8.7.5 and 8.7.7 require of a request whose
    response has a payload. ``*/*`` chooses the default representation (8.7.7).

    Raises
    ------
    WebError
        400 for an Accept value that does not parse; 406 without an Accept header field or when
        nothing offered is acceptable.
    """
    if not any(v.strip() for v in request.headers.getlist("accept")):
        raise WebError(
            406,
            "the request has no Accept header field, which PS3.18 8.7.5 requires of a request "
            f"with a response payload; send Accept: */* for the default ({offered[0].name})",
        )
    values = request.query_params.getlist("accept") or request.headers.getlist("accept")
    try:
        ranges = parse_accept(values)
    except ValueError as exc:
        raise WebError(400, f"Accept: {exc}") from None
    chosen = choose(list(offered), ranges)
    if chosen is None:
        names = ", ".join(rep.name for rep in offered)
        raise WebError(406, f"none of the accepted media types is offered here; offered: {names}")
    rep, media_range = chosen
    return rep, dict(media_range.params) if media_range is not None else {}


async def _first(chunks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """Read the first chunk in a worker thread, so that a failure becomes an HTTP status."""
    first = await run_in_threadpool(next, chunks, b"")
    return first, chunks


def _chained(first: bytes, rest: Iterator[bytes], where: str) -> Iterator[bytes]:
    yield first
    try:
        yield from rest
    except Exception:  # the status line is gone: log, and let the connection break
        LOG.exception("streaming %s failed after the response started", where)
        raise


def _inventory(store: InventoryStore, uid: str) -> StoredInventory:
    if not is_valid_uid(uid):
        raise WebError(400, f"{uid!r} is not a valid SOP Instance UID (PS3.5 9.1)")
    found = matching_inventories(store, {"SOPInstanceUID": uid})
    if not found:
        raise WebError(404, f"no inventory {uid} on this server")
    return found[0]


def _retrieve_body(
    rep: Representation, params: dict[str, str], inv: StoredInventory
) -> tuple[Iterator[bytes], str]:
    """The body chunks and Content-Type of `inv` in representation `rep`."""
    path = inv.path
    if rep.media_type == DICOM_JSON:
        return iter_json(path), rep.content_type()
    stored = str(read_file_meta_info(path).TransferSyntaxUID)
    if rep.part_type is None and rep.media_type != DICOM:  # pragma: no cover - table fixed
        raise WebError(406, f"{rep.media_type} is not offered")
    wanted = params.get("transfer-syntax")
    ts = stored if wanted == "*" else (wanted or str(ExplicitVRLittleEndian))
    if ts not in (stored, str(ExplicitVRLittleEndian)):
        raise WebError(
            406,
            f"transfer-syntax={ts}: this inventory is stored in {stored} and can be sent in it "
            f"or in Explicit VR Little Endian ({ExplicitVRLittleEndian})",
        )
    if rep.media_type == DICOM:  # one bare instance
        return iter_part10(path, ts), f"{DICOM}; transfer-syntax={ts}"
    boundary = new_boundary()
    if rep.part_type == DICOM:
        part = ({"Content-Type": f"{DICOM}; transfer-syntax={ts}"}, iter_part10(path, ts))
        content_type = rep.content_type(boundary, ts)
    else:
        part = ({"Content-Type": f"{DICOM_XML}; charset=utf-8"}, iter_xml(path))
        content_type = rep.content_type(boundary)
    return iter_multipart([part], boundary), content_type


def web_app(
    config: NodeConfig,
    inventories: InventoryStore,
    *,
    base_url: Callable[[], str],
    token: str | None = None,
    repository: Callable[[], Repository] | None = None,
) -> ASGIApp:
    """The origin server's ASGI application.

    Parameters
    ----------
    config : NodeConfig
        The node's configuration; ``config.http`` must be set.
    inventories : InventoryStore
        The store Inventory FIND/GET/MOVE serve.
    base_url : callable
        Returns the service's public base URI (known once the server listens), for Retrieve
        URL values.
    token : str, optional
        The bearer token every request must carry.
    repository : callable, optional
        Opens the node's repository, for Repository Query (``[http] repository_query``); the
        node passes the factory its DIMSE Repository Query uses. Without it those resources
        answer 404.
    """
    from dicom_inventory.scp.web.repository import repository_query_response
    from dicom_inventory.scp.web.search import search_response
    from dicom_inventory.scp.web.store import store_response

    http = config.http
    if http is None:
        raise ValueError("web_app needs a configuration with an [http] section")

    async def options(request: Request) -> Response:
        return capabilities_response(request, http, base_url())

    async def retrieve(request: Request) -> Response:
        uid = request.path_params["uid"]
        inv = await run_in_threadpool(_inventory, inventories, uid)
        rep, params = negotiated(request, RETRIEVE_REPRESENTATIONS)
        try:
            chunks, content_type = await run_in_threadpool(_retrieve_body, rep, params, inv)
            first, rest = await _first(chunks)
        except InventoryError as exc:
            LOG.error("cannot read inventory %s (%s): %s", uid, inv.path, exc)
            raise WebError(500, f"inventory {uid} cannot be read on this server") from None
        except OSError as exc:
            LOG.error("cannot open inventory %s (%s): %s", uid, inv.path, exc)
            raise WebError(404, f"inventory {uid} is no longer on this server") from None
        return StreamingResponse(_chained(first, rest, uid), media_type=content_type)

    async def search(request: Request) -> Response:
        return await search_response(request, http, inventories, base_url())

    async def store(request: Request) -> Response:
        return await store_response(request, config, inventories, base_url())

    def repository_query(resource: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if repository is None:
                raise WebError(404, "Repository Query: this server was built without a repository")
            return await repository_query_response(request, config, repository, resource)

        return endpoint

    # the routes are the table the Capabilities Description and the statement also read
    handlers = {
        "Retrieve Capabilities": options,
        "Search": search,
        "Retrieve": retrieve,
        "Store": store,
    }
    prefix = http.prefix
    routes = [
        Route(
            prefix + t.path if t.path != "/" else prefix or "/",
            repository_query(t.path) if t.name == "Repository Query" else handlers[t.name],
            methods=[t.method],
        )
        for t in transactions(http)
    ]
    if prefix:  # the base URI with and without its trailing slash
        routes.append(Route(prefix + "/", options, methods=["OPTIONS"]))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(
            str(exc.detail) + "\n", status_code=exc.status_code, headers=exc.headers
        )

    async def internal_error(request: Request, exc: Exception) -> Response:
        LOG.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return PlainTextResponse("internal error; the server's log has the details\n", 500)

    app: ASGIApp = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    if token is not None:
        app = BearerToken(app, token)
    return app


class BearerToken:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``.

    Missing or wrong token: 401 with ``WWW-Authenticate: Bearer`` (RFC 6750 3), compared in
    constant time.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = ("Bearer " + token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with the right token; answer 401 without it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self._token):
            await self.app(scope, receive, send)
            return
        error = "invalid_token" if given else None
        challenge = 'Bearer realm="dicom-inventory"' + (f', error="{error}"' if error else "")
        response: Any = PlainTextResponse(
            "this server needs a bearer token (Authorization: Bearer ...)\n",
            status_code=401,
            headers={"WWW-Authenticate": challenge},
        )
        await response(scope, receive, send)
