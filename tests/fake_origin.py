"""A small DICOMweb origin server for /inventories with seeded faults, for judging judges.

Written on the standard library's ``http.server`` (not Starlette, not our origin server), so
the user agent and the DICOMweb test kit are tried against a second, independent server. It
serves the Part 10 files of one folder: Retrieve (multipart Part 10, DICOM JSON, XML parts),
Search by SOP Instance UID with limit/offset and Warning 299, OPTIONS. Faults, each named:

* ``wrong_media_type`` -- Retrieve answers Part 10 bytes labelled ``application/octet-stream``;
* ``paging_without_warning`` -- a search cut by ``limit`` says nothing about the rest;
* ``broken_boundary`` -- the closing multipart delimiter is missing;
* ``no_406`` -- an unacceptable Accept gets 200 with the default representation;
* ``flaky`` -- the first ``flaky_count`` requests answer 503 (retries must get through);
* ``truncated`` -- Retrieve bodies stop half way (connection closed).
"""

from __future__ import annotations

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
)
BOUNDARY = "fake-origin-boundary"


class FakeOrigin:
    """Serve the inventories in `folder` at ``http://127.0.0.1:PORT/dicomweb``."""

    def __init__(self, folder: Path, faults: set[str] | None = None, flaky_count: int = 2) -> None:
        self.files = {
            pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
            for p in sorted(folder.glob("*.dcm"))
        }
        self.faults = set(faults or ())
        unknown = self.faults - set(FAULTS)
        assert not unknown, unknown
        self.flaky_left = flaky_count
        self.requests = 0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_OPTIONS(self) -> None:  # noqa: N802
                if origin._flaky(self):
                    return
                body = (
                    b'<?xml version="1.0"?><application xmlns="http://wadl.dev.java.net/2009/02">'
                    b'<resources base="/dicomweb/"><resource path="inventories">'
                    b'<method name="GET"/></resource><resource path="inventories/{uid}">'
                    b'<method name="GET"/></resource></resources></application>'
                )
                origin._send(self, 200, "application/vnd.sun.wadl+xml", body)

            def do_GET(self) -> None:  # noqa: N802
                if origin._flaky(self):
                    return
                url = urlsplit(self.path)
                if url.path.rstrip("/") == "/dicomweb/inventories":
                    origin._search(self, parse_qsl(url.query))
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

    def _search(self, h: BaseHTTPRequestHandler, params: list[tuple[str, str]]) -> None:
        q = dict(params)
        uids = sorted(self.files)
        if "SOPInstanceUID" in q:
            wanted = set(q["SOPInstanceUID"].split(","))
            uids = [u for u in uids if u in wanted]
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 1000))
        page = uids[offset : offset + limit]
        if not page:
            self._send(h, 204, "application/dicom+json", b"")
            return
        results = []
        for u in page:
            ds = pydicom.dcmread(self.files[u], stop_before_pixels=True)
            results.append(
                {
                    "00080016": {"vr": "UI", "Value": [str(ds.SOPClassUID)]},
                    "00080018": {"vr": "UI", "Value": [u]},
                    "00081190": {"vr": "UR", "Value": [f"{self.base}/inventories/{u}"]},
                }
            )
        headers = {}
        if offset + len(page) < len(uids) and "paging_without_warning" not in self.faults:
            headers["Warning"] = '299 fake "There are additional results that can be requested"'
        self._send(h, 200, "application/dicom+json", json.dumps(results).encode(), headers)

    def _retrieve(self, h: BaseHTTPRequestHandler, uid: str) -> None:
        path = self.files.get(uid)
        if path is None:
            self._send(h, 404, "text/plain", b"no such inventory\n")
            return
        accept = h.headers.get("Accept", "application/dicom+json")
        data = path.read_bytes()
        cut = "truncated" in self.faults
        if "application/dicom+json" in accept or accept in ("*/*", ""):
            body = json.dumps([pydicom.dcmread(path).to_json_dict()]).encode()
            self._send(h, 200, "application/dicom+json", body, cut=cut)
            return
        if "application/dicom+xml" in accept:
            from dicom_inventory.media import iter_xml

            part, ptype = b"".join(iter_xml(path)), "application/dicom+xml"
        elif 'type="application/dicom"' in accept or "type=application/dicom" in accept:
            part, ptype = data, "application/dicom"
        elif "no_406" in self.faults:
            body = json.dumps([pydicom.dcmread(path).to_json_dict()]).encode()
            self._send(h, 200, "application/dicom+json", body)
            return
        else:
            self._send(h, 406, "text/plain", b"not acceptable\n")
            return
        closing = b"" if "broken_boundary" in self.faults else f"--{BOUNDARY}--\r\n".encode()
        body = f"--{BOUNDARY}\r\nContent-Type: {ptype}\r\n\r\n".encode() + part + b"\r\n" + closing
        ctype = f'multipart/related; type="{ptype}"; boundary={BOUNDARY}'
        if "wrong_media_type" in self.faults:
            ctype = "application/octet-stream"
        self._send(h, 200, ctype, body, cut=cut)
