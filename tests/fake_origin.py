"""A small DICOMweb origin server for /inventories with seeded faults, for judging judges.

Written on the standard library's ``http.server`` (not Starlette, not our origin server), so
the user agent and the DICOMweb test kit are tried against a second, independent server. It
serves the Part 10 files of one folder: Retrieve (multipart Part 10, DICOM JSON, XML parts),
Search by SOP Instance UID (keyword or tag, UID lists) with limit/offset and Warning 299, in
DICOM JSON or XML parts, OPTIONS; 204, 400, 404 and 406 where PS3.18 asks for them. Without a
fault it passes every check of ``testkit dicomweb``. Faults, each named:

* ``wrong_media_type`` -- Retrieve answers multipart bodies labelled ``application/octet-stream``;
* ``paging_without_warning`` -- a search cut by ``limit`` says nothing about the rest;
* ``broken_boundary`` -- the closing multipart delimiter is missing;
* ``no_406`` -- a request without an Accept header gets 200 with the default representation;
* ``flaky`` -- the first ``flaky_count`` requests answer 503 (retries must get through);
* ``truncated`` -- Retrieve bodies stop half way (connection closed);
* ``rq_without_record_key`` -- (with ``repository=True``) Repository Query results lack
  Record Key, so a client cannot continue.

With ``repository=True`` it also offers Repository Query on ``/studies`` (PS3.18 10.6): the
files' SOP Instance UIDs stand in for studies, Record Key is the UID's bytes (base64 in JSON),
``limit`` and ``PriorRecordKey`` page, ``Warning: 299`` says more remain.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pydicom

FAULTS = (
    "wrong_media_type",
    "paging_without_warning",
    "broken_boundary",
    "no_406",
    "flaky",
    "truncated",
    "rq_without_record_key",
)
BOUNDARY = "fake-origin-boundary"


class FakeOrigin:
    """Serve the inventories in `folder` at ``http://127.0.0.1:PORT/dicomweb``."""

    def __init__(
        self,
        folder: Path,
        faults: set[str] | None = None,
        flaky_count: int = 2,
        repository: bool = False,
    ) -> None:
        self.files = {
            pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
            for p in sorted(folder.glob("*.dcm"))
        }
        self.faults = set(faults or ())
        unknown = self.faults - set(FAULTS)
        assert not unknown, unknown
        self.flaky_left = flaky_count
        self.repository = repository
        self.requests = 0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_OPTIONS(self) -> None:  # noqa: N802
                if origin._flaky(self):
                    return
                studies = b'<resource path="studies"><method name="GET"/></resource>'
                body = (
                    b'<?xml version="1.0"?><application xmlns="http://wadl.dev.java.net/2009/02">'
                    b'<resources base="/dicomweb/"><resource path="inventories">'
                    b'<method name="GET"/></resource><resource path="inventories/{uid}">'
                    b'<method name="GET"/></resource>'
                    + (studies if origin.repository else b"")
                    + b"</resources></application>"
                )
                origin._send(self, 200, "application/vnd.sun.wadl+xml", body)

            def do_GET(self) -> None:  # noqa: N802
                if origin._flaky(self):
                    return
                url = urlsplit(self.path)
                if url.path.rstrip("/") == "/dicomweb/inventories":
                    origin._search(self, parse_qsl(url.query))
                elif url.path.rstrip("/") == "/dicomweb/studies" and origin.repository:
                    origin._studies(self, parse_qsl(url.query))
                elif url.path.startswith("/dicomweb/inventories/"):
                    origin._retrieve(self, url.path.rsplit("/", 1)[1])
                else:
                    origin._send(self, 404, "text/plain", b"no such resource\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/dicomweb"

    def __enter__(self) -> FakeOrigin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- behaviour -----------------------------------------------------------------------------
    def _flaky(self, h: BaseHTTPRequestHandler) -> bool:
        self.requests += 1
        if "flaky" in self.faults and self.flaky_left > 0:
            self.flaky_left -= 1
            self._send(h, 503, "text/plain", b"busy\n", {"Retry-After": "0"})
            return True
        return False

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        code: int,
        ctype: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        cut: bool = False,
    ) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            h.close_connection = True

    def _accept(self, h: BaseHTTPRequestHandler) -> str | None:
        """The Accept header, or ``None`` after answering 406 for a request without one."""
        accept = h.headers.get("Accept")
        if accept:
            return accept
        if "no_406" in self.faults:
            return "*/*"
        self._send(h, 406, "text/plain", b"an Accept header field is required\n")
        return None

    def _search(self, h: BaseHTTPRequestHandler, params: list[tuple[str, str]]) -> None:
        accept = self._accept(h)
        if accept is None:
            return
        q = dict(params)
        uids = sorted(self.files)
        wanted = q.get("SOPInstanceUID", q.get("00080018"))
        if wanted is not None:
            uids = [u for u in uids if u in set(wanted.split(","))]
        if not all(q.get(k, "0").isdigit() for k in ("offset", "limit")):
            self._send(h, 400, "text/plain", b"limit and offset are unsigned integers\n")
            return
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 1000))
        page = uids[offset : offset + limit]
        headers = {}
        if offset + len(page) < len(uids) and "paging_without_warning" not in self.faults:
            headers["Warning"] = '299 fake "There are additional results that can be requested"'
        if not page:
            self._send(h, 204, "application/dicom+json", b"")
            return
        results = [self._result(u) for u in page]
        if "application/dicom+xml" in accept:
            from dicom_inventory.media import xml_document

            parts = [xml_document(pydicom.Dataset.from_json(r)) for r in results]
            self._multipart(h, "application/dicom+xml", parts, headers)
            return
        body = json.dumps(results).encode()
        self._send(h, 200, "application/dicom+json", body, headers)

    def _studies(self, h: BaseHTTPRequestHandler, params: list[tuple[str, str]]) -> None:
        if self._accept(h) is None:
            return
        q = dict(params)
        uids = sorted(self.files)
        if "PriorRecordKey" in q:
            prior = base64.b64decode(q["PriorRecordKey"]).decode()
            uids = [u for u in uids if u > prior]
        limit = int(q.get("limit", 1000))
        page = uids[:limit]
        results = []
        for u in page:
            result: dict[str, Any] = {"0020000D": {"vr": "UI", "Value": [u]}}
            if "rq_without_record_key" not in self.faults:
                key = base64.b64encode(u.encode()).decode()
                result["0008041B"] = {"vr": "OB", "InlineBinary": key}
            results.append(result)
        headers = {}
        if len(uids) > limit:
            headers["Warning"] = '299 fake "There are additional results that can be requested"'
        if not page:
            self._send(h, 204, "application/dicom+json", b"")
            return
        self._send(h, 200, "application/dicom+json", json.dumps(results).encode(), headers)

    def _result(self, uid: str) -> dict[str, Any]:
        ds = pydicom.dcmread(self.files[uid], stop_before_pixels=True)
        return {
            "00080016": {"vr": "UI", "Value": [str(ds.SOPClassUID)]},
            "00080018": {"vr": "UI", "Value": [uid]},
            "00081190": {"vr": "UR", "Value": [f"{self.base}/inventories/{uid}"]},
        }

    def _multipart(
        self,
        h: BaseHTTPRequestHandler,
        ptype: str,
        parts: list[bytes],
        headers: dict[str, str] | None = None,
        cut: bool = False,
    ) -> None:
        body = b"".join(
            f"--{BOUNDARY}\r\nContent-Type: {ptype}\r\n\r\n".encode() + part + b"\r\n"
            for part in parts
        )
        if "broken_boundary" not in self.faults:
            body += f"--{BOUNDARY}--\r\n".encode()
        ctype = f'multipart/related; type="{ptype}"; boundary={BOUNDARY}'
        if "wrong_media_type" in self.faults:
            ctype = "application/octet-stream"
        self._send(h, 200, ctype, body, headers, cut=cut)

    def _retrieve(self, h: BaseHTTPRequestHandler, uid: str) -> None:
        path = self.files.get(uid)
        if path is None:
            self._send(h, 404, "text/plain", b"no such inventory\n")
            return
        accept = self._accept(h)
        if accept is None:
            return
        cut = "truncated" in self.faults
        if "application/dicom+json" in accept or accept.startswith("*/*"):
            body = json.dumps([pydicom.dcmread(path).to_json_dict()]).encode()
            self._send(h, 200, "application/dicom+json", body, cut=cut)
        elif "application/dicom+xml" in accept:
            from dicom_inventory.media import iter_xml

            self._multipart(h, "application/dicom+xml", [b"".join(iter_xml(path))], cut=cut)
        elif 'type="application/dicom"' in accept or "type=application/dicom" in accept:
            self._multipart(h, "application/dicom", [path.read_bytes()], cut=cut)
        else:
            self._send(h, 406, "text/plain", b"not acceptable\n")
