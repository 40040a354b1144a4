"""The Store transaction of ``/inventories`` (optional of NPI origin servers, PS3.18 12).

The request body is ``multipart/related; type="application/dicom"``, one Part 10 Inventory
per part (PS3.18 10.5.1.2). Each part is streamed into a file in the inventory store's
incoming folder and accepted by the same rule as Inventory Storage over DIMSE
(:func:`~dicom_inventory.scp.services.storage.keep_inventory`: our validator's errors refuse
it). The response is the Store Instances Response Module (PS3.18 10.5.3, Table 10.5.3-1) in
DICOM JSON or XML: Referenced SOP Sequence for what was stored, with its Retrieve URL; Failed
SOP Sequence with Failure Reason (0008,1197) for what was not. HTTP status: 200 all stored,
202 some stored, 409 none stored, 415 for a body that is not ``application/dicom`` parts, 400
for a broken multipart body.

Nothing is coerced: a stored inventory is kept byte for byte, so no Warning Reason
(0008,1196) and no Original Attributes Sequence item is ever needed.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from dicom_inventory.media import DICOM, DICOM_JSON, MULTIPART_RELATED, xml_document
from dicom_inventory.multipart import MultipartError, MultipartReader, boundary_of
from dicom_inventory.read import read_header
from dicom_inventory.scp.config import NodeConfig
from dicom_inventory.scp.services.storage import keep_inventory
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.scp.web.resources import STORE_REPRESENTATIONS
from dicom_inventory.status import Status
from dicom_inventory.uid import INVENTORY_STORAGE
from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["store_response"]


class _Bridge:
    """Feeds the request's async body to the (threaded) multipart reader, chunk by chunk."""

    def __init__(self, stream: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop

    def __iter__(self) -> Iterator[bytes]:
        while True:
            future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            chunk = future.result()
            if chunk is None:
                return
            yield chunk

    async def _next(self) -> bytes | None:
        try:
            return await self._stream.__anext__()
        except StopAsyncIteration:
            return None


def _store_parts(
    chunks: _Bridge, boundary: str, config: NodeConfig, store: InventoryStore, sender: str
) -> list[tuple[str, str, Status, str | None]]:
    """Receive every part; ``(SOP Class UID, SOP Instance UID, status, comment)`` per part."""
    outcomes: list[tuple[str, str, Status, str | None]] = []
    for headers, body in MultipartReader(chunks, boundary).parts():
        part_type = headers.get("content-type", "").split(";")[0].strip().lower()
        fd, name = tempfile.mkstemp(dir=store.incoming(), prefix=".", suffix=".part")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in body:
                    f.write(chunk)
            if part_type != DICOM:
                outcomes.append(("", "", Status.SOP_CLASS_NOT_SUPPORTED, f"part is {part_type!r}"))
                continue
            try:
                header = read_header(tmp)
                cls, uid = str(INVENTORY_STORAGE), header.sop_instance_uid
            except Exception:
                cls, uid = "", ""
            if not config.services.inventory_storage:
                outcomes.append((cls, uid, Status.SOP_CLASS_NOT_SUPPORTED, "no storage"))
                continue
            status, comment = keep_inventory(tmp, None, store, sender)
            outcomes.append((cls, uid, status, comment))
        finally:
            tmp.unlink(missing_ok=True)
    return outcomes


def _report(outcomes: list[tuple[str, str, Status, str | None]], base: str) -> Dataset:
    """The Store Instances Response Module (PS3.18 10.5.3, Table 10.5.3-1)."""
    ds = Dataset()
    stored, failed = [], []
    for cls, uid, status, _comment in outcomes:
        item = Dataset()
        item.ReferencedSOPClassUID = cls or None
        item.ReferencedSOPInstanceUID = uid or None
        if status is Status.SUCCESS:
            item.RetrieveURL = f"{base}/inventories/{uid}"
            stored.append(item)
        else:
            item.FailureReason = int(status)
            failed.append(item)
    if stored:
        ds.ReferencedSOPSequence = stored
    if failed:
        ds.FailedSOPSequence = failed
    return ds


async def store_response(
    request: Request, config: NodeConfig, store: InventoryStore, base: str
) -> Response:
    """Answer ``POST /inventories`` (the Store transaction)."""
    from dicom_inventory.scp.web.app import WebError, negotiated

    content_type = request.headers.get("content-type", "")
    media, *_ = content_type.split(";")
    part_type = ""
    for param in content_type.split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.strip().lower() == "type":
            part_type = v.strip().strip('"').lower()
    if media.strip().lower() != MULTIPART_RELATED or part_type not in ("", DICOM):
        raise WebError(
            415,
            f'Content-Type {content_type!r}: expected multipart/related; type="{DICOM}" '
            "(PS3.18 10.5.1.2)",
        )
    rep, _ = negotiated(request, STORE_REPRESENTATIONS)
    try:
        boundary = boundary_of(content_type)
        bridge = _Bridge(request.stream().__aiter__(), asyncio.get_running_loop())
        peer = f"{request.client.host}:{request.client.port}" if request.client else "?"
        outcomes = await run_in_threadpool(_store_parts, bridge, boundary, config, store, peer)
    except MultipartError as exc:
        raise WebError(400, f"multipart body: {exc}") from None
    if not outcomes:
        raise WebError(400, "the multipart body has no part")
    report = _report(outcomes, base)
    ok = sum(1 for *_, status, _c in outcomes if status is Status.SUCCESS)
    code = 200 if ok == len(outcomes) else 202 if ok else 409
    if rep.media_type == DICOM_JSON:
        body = json.dumps(report.to_json_dict(), separators=(",", ":")).encode()
    else:
        body = xml_document(report)
    return Response(body, status_code=code, media_type=rep.content_type())
