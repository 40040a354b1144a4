"""The Retrieve Capabilities transaction: the origin server describes itself (PS3.18 8.9).

The Capabilities Description (PS3.18 Annex H) is a WADL document
(``application/vnd.sun.wadl+xml``, the default) listing each resource, its methods, their
query parameters and the media types of their requests and responses. It is written from the
one table of :mod:`~dicom_inventory.scp.web.resources`, which the routes and the conformance
statement also read. ``OPTIONS`` on any resource of the service answers it, with an ``Allow``
header naming that resource's methods.
"""

from __future__ import annotations

import re

from dicom_inventory.scp.config import HTTP
from dicom_inventory.scp.web.resources import transactions
from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["WADL", "WADL_NS", "capabilities_document", "capabilities_response"]

WADL = "application/vnd.sun.wadl+xml"
WADL_NS = "http://wadl.dev.java.net/2009/02"
#: A path template of the table (``{uid}``, ``{study}``, ``{series}``); the table's paths hold
#: no other regular-expression characters.
_TEMPLATE = re.compile(r"\{(\w+)\}")


def _names(resource: str, path: str) -> bool:
    """Whether the request `path` names `resource` (``/studies/{study}/series``: any UID)."""
    return re.fullmatch(_TEMPLATE.sub("[^/]+", resource), path) is not None


def capabilities_document(http: HTTP, base: str) -> bytes:
    """The WADL Capabilities Description of the service at `base` (PS3.18 Annex H)."""
    app = etree.Element(f"{{{WADL_NS}}}application", nsmap={None: WADL_NS})
    doc = etree.SubElement(app, f"{{{WADL_NS}}}doc", title="dicom-inventory")
    doc.text = (
        "DICOM Inventory origin server: the Non-Patient Instance service for Inventory SOP "
        "Instances (PS3.18 12)"
        + ("; Repository Query over Search (PS3.18 10.6)" if http.repository_query else "")
    )
    resources = etree.SubElement(app, f"{{{WADL_NS}}}resources", base=base + "/")
    by_path: dict[str, etree._Element] = {}
    ids: set[str] = set()
    for t in transactions(http):
        path = t.path.lstrip("/")
        res = by_path.get(path)
        if res is None:
            res = etree.SubElement(resources, f"{{{WADL_NS}}}resource", path=path)
            for name in _TEMPLATE.findall(path):  # {uid}, {study}, {series}
                etree.SubElement(
                    res,
                    f"{{{WADL_NS}}}param",
                    name=name,
                    style="template",
                    type="xs:string",
                    required="true",
                )
            by_path[path] = res
        method = etree.SubElement(res, f"{{{WADL_NS}}}method", name=t.method)
        if t.name not in ids:  # WADL ids are XML ids: unique in the document
            method.set("id", t.name.replace(" ", ""))
            ids.add(t.name)
        mdoc = etree.SubElement(method, f"{{{WADL_NS}}}doc")
        mdoc.text = t.name + ("" if t.required else " (optional)")
        if t.parameters or (t.method == "POST"):
            req = etree.SubElement(method, f"{{{WADL_NS}}}request")
            for p in t.parameters:
                etree.SubElement(req, f"{{{WADL_NS}}}param", name=p, style="query")
            if t.method == "POST":
                etree.SubElement(
                    req,
                    f"{{{WADL_NS}}}representation",
                    mediaType=t.representations[0].name,
                )
        resp = etree.SubElement(method, f"{{{WADL_NS}}}response")
        reps = t.representations if t.method != "POST" else t.representations[1:]
        if t.method == "OPTIONS":
            etree.SubElement(resp, f"{{{WADL_NS}}}representation", mediaType=WADL)
        for r in reps:
            etree.SubElement(resp, f"{{{WADL_NS}}}representation", mediaType=r.name)
    document: bytes = etree.tostring(app, xml_declaration=True, encoding="utf-8", pretty_print=True)
    return document


def capabilities_response(request: Request, http: HTTP, base: str) -> Response:
    """Answer ``OPTIONS``: the Capabilities Description and the resource's ``Allow``."""
    path = request.url.path.removeprefix(http.prefix) or "/"
    methods = sorted({t.method for t in transactions(http) if _names(t.path, path)} | {"OPTIONS"})
    return Response(
        capabilities_document(http, base),
        media_type=WADL,
        headers={"Allow": ", ".join(methods)},
    )
