"""Repository Query over QIDO-RS (PS3.18 10.6, 8.3.4.4.1; PS3.4 C.6.4) on a real node process.

The archive of the ``served`` node holds 12 studies x 2 series x 3 instances. The client is
plain httpx and every result is decoded with pydicom's ``Dataset.from_json``; the reference is
the same node's DIMSE Repository Query, asked with raw pynetdicom on an association that
negotiated relational-queries (PS3.4 C.5.1.1.2), so that IMAGE level needs no parent UIDs.
Record Key (0008,041B) is OB: InlineBinary (base64) in DICOM JSON, and PriorRecordKey carries
that base64 text (our assumption, PS3.18 10.6.1.2.4 not being available to us).
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicom_inventory.conformance import build_statement
from dicom_inventory.scp import backends
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import HTTP, load_config
from dicom_inventory.scp.web.app import web_app
from dicom_inventory.scp.web.capabilities import capabilities_document
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pydicom.dataset import Dataset
from pynetdicom.sop_class import RepositoryQuery

from tests.scp.raw_peer import relational_negotiation
from tests.scp.services.test_studyroot import _associate
from tests.scp.web.conftest import Served

MORE = "There are additional results that can be requested"
NS = "{http://dicom.nema.org/PS3.19/models/NativeDICOM}"
WADL = "{http://wadl.dev.java.net/2009/02}"
PENDING = (0xFF00, 0xFF01)
Page = list[tuple[str, bytes]]


# ------------------------------------------------------------------------------ DIMSE reference
def _dimse_pages(served: Served, keys: dict[str, Any], page_size: int) -> list[list[Dataset]]:
    """A Repository Query chain with raw pynetdicom to its end: each page's identifiers."""
    assoc = _associate(served.dimse_port, relational_negotiation(RepositoryQuery))
    pages: list[list[Dataset]] = []
    prior: bytes | None = None
    try:
        while True:
            q = Dataset()
            for k, v in keys.items():
                setattr(q, k, v)
            q.RecordKey = b""
            q.MaximumNumberOfRecords = page_size
            if prior is not None:
                q.PriorRecordKey = prior
            found: list[Dataset] = []
            for status, ident in assoc.send_c_find(q, RepositoryQuery):
                if status.Status in PENDING:
                    found.append(ident)
                    continue
                final = int(status.Status)
                break  # 0xB001 is final (PS3.4 C.6.4): nothing follows it
            pages.append(found)
            if final != 0xB001:
                assert final == 0x0000
                return pages
            prior = bytes(found[-1].RecordKey)
    finally:
        assoc.release()


def _dimse_status(served: Served, level: str, prior: bytes) -> int:
    """The final status of one Repository Query with this Prior Record Key."""
    assoc = _associate(served.dimse_port, relational_negotiation(RepositoryQuery))
    q = Dataset()
    q.QueryRetrieveLevel = level
    q.SOPInstanceUID = ""
    q.RecordKey = b""
    q.PriorRecordKey = prior
    try:
        statuses = [int(s.Status) for s, _ in assoc.send_c_find(q, RepositoryQuery)]
    finally:
        assoc.release()
    return statuses[-1]


def _dimse_instances(served: Served, page_size: int = 5) -> Page:
    keys = {"QueryRetrieveLevel": "IMAGE", "StudyInstanceUID": "", "SOPInstanceUID": ""}
    return [
        (str(d.SOPInstanceUID), bytes(d.RecordKey))
        for page in _dimse_pages(served, keys, page_size)
        for d in page
    ]


@pytest.fixture(scope="module")
def dimse_instances(served: Served) -> Page:
    return _dimse_instances(served)


# ------------------------------------------------------------------------------ the web client
def _results(r: httpx.Response) -> list[Dataset]:
    assert r.headers["content-type"].startswith("application/dicom+json"), r.text
    return [Dataset.from_json(item) for item in r.json()]


def _web_pages(
    client: httpx.Client, resource: str, limit: int, **params: str
) -> Iterator[tuple[httpx.Response, list[Dataset]]]:
    """A chain of searches with PriorRecordKey = the last result's InlineBinary, to its end."""
    prior: str | None = None
    while True:
        asked = {**params, "includefield": "RecordKey", "limit": str(limit)}
        if prior is not None:
            asked["PriorRecordKey"] = prior
        r = client.get(resource, params=asked)
        if r.status_code == 204:
            return
        assert r.status_code == 200, r.text
        found = _results(r)
        yield r, found
        if MORE not in r.headers.get("warning", ""):
            return
        prior = r.json()[-1]["0008041B"]["InlineBinary"]


def _web_instances(client: httpx.Client, limit: int) -> Page:
    return [
        (str(d.SOPInstanceUID), bytes(d.RecordKey))
        for _, found in _web_pages(client, "/instances", limit)
        for d in found
    ]


# ------------------------------------------------------------------------------ the tests
def test_paging_all_instances_gives_the_dimse_records_in_the_same_order(
    served: Served, client: httpx.Client, dimse_instances: Page
) -> None:
    """limit=5 and PriorRecordKey through /instances: the 72 instances, with the same Record
    Keys in the same order as DIMSE Repository Query (PS3.4 C.6.4.5.1, C.6.4.5.3), and Warning
    299 on every page but the last (PS3.18 8.3.4.4.1)."""
    pages = list(_web_pages(client, "/instances", 5))
    assert [len(found) for _, found in pages] == [5] * 14 + [2]
    for r, _ in pages[:-1]:
        assert r.headers["warning"] == f'299 127.0.0.1:{served.http_port} "{MORE}"'
    assert "warning" not in pages[-1][0].headers
    web = [(str(d.SOPInstanceUID), bytes(d.RecordKey)) for _, found in pages for d in found]
    assert len(dimse_instances) == len(set(dimse_instances)) == 72
    assert web == dimse_instances
    # ordered by Record Key as the node orders it: UID by UID, study first (the ordering
    # method is the SCP's own, PS3.4 C.6.4.5.1 note 2), not byte by byte
    keys = [tuple(k.rstrip(b"\0").split(b"\\")) for _, k in web]
    assert keys == sorted(keys)
    # the InlineBinary text itself is base64 of the DIMSE bytes
    first = pages[0][0].json()[0]["0008041B"]
    assert first["vr"] == "OB"
    assert base64.b64decode(first["InlineBinary"]) == dimse_instances[0][1]


@settings(max_examples=15, deadline=None)
@given(page_size=st.integers(min_value=1, max_value=80))
def test_any_page_size_gives_the_same_full_ordered_list(served: Served, page_size: int) -> None:
    """Whatever limit a client pages with, the chain of PriorRecordKey searches returns every
    instance once, in Record Key order (PS3.4 C.6.4.5.3: as if in a single transaction)."""
    with httpx.Client(base_url=served.base, timeout=30) as client:
        whole = _web_instances(client, 1000)
        assert len(whole) == 72
        assert _web_instances(client, page_size) == whole


def test_bad_prior_record_key_is_400_where_dimse_says_a710(
    served: Served, client: httpx.Client, dimse_instances: Page
) -> None:
    study_key = dimse_instances[0][1].split(b"\\")[0]
    for text, raw in (
        ("!!not base64!!", None),
        ("abc", None),  # base64 cannot end with one lone character
        (base64.b64encode(b"no such key\0").decode(), b"no such key\0"),
        (base64.b64encode(study_key).decode(), study_key),  # a STUDY key at IMAGE level
    ):
        r = client.get("/instances", params={"PriorRecordKey": text})
        assert r.status_code == 400, text
        assert "PS3.4 C.6.4.5.3" in r.text and "Traceback" not in r.text
        if raw is not None:
            assert _dimse_status(served, "IMAGE", raw) == 0xA710
    # the URL-safe alphabet and a '+' read as a space are the same key
    key = dimse_instances[9][1]
    text = base64.b64encode(key).decode()
    for variant in (text, text.rstrip("="), text.replace("+", "-").replace("/", "_")):
        r = client.get("/instances", params={"PriorRecordKey": variant, "limit": "1"})
        assert _results(r)[0].SOPInstanceUID == dimse_instances[10][0]


def test_study_date_range_matches_as_dimse(served: Served, client: httpx.Client) -> None:
    dates = sorted(str(d.StudyDate) for d in _results(client.get("/studies")))
    assert len(dates) == 12
    cut = dates[5]
    for text in (f"-{cut}", f"{cut}-", f"{dates[2]}-{dates[8]}"):
        web = [
            str(d.StudyInstanceUID)
            for d in _results(client.get("/studies", params={"StudyDate": text}))
        ]
        keys = {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "", "StudyDate": text}
        dimse = [str(d.StudyInstanceUID) for page in _dimse_pages(served, keys, 100) for d in page]
        assert web == dimse and 0 < len(web) < 12, text


def test_no_match_is_204(served: Served, client: httpx.Client) -> None:
    for resource, params in (
        ("/studies", {"StudyDate": "19000101-19000102"}),
        ("/studies/1.2.3.999/series", {}),
        ("/instances", {"SOPInstanceUID": "1.2.3.999"}),
    ):
        r = client.get(resource, params=params)
        assert r.status_code == 204 and r.content == b"", resource


def test_record_key_is_returned_when_asked_for(
    served: Served, client: httpx.Client, dimse_instances: Page
) -> None:
    study = dimse_instances[0][0].rsplit(".", 2)[0]
    for params in ({"includefield": "RecordKey"}, {"includefield": "0008041B"}, {"RecordKey": ""}):
        r = client.get("/studies", params=params)
        found = r.json()
        assert all(item["0008041B"]["vr"] == "OB" for item in found), params
        assert (
            base64.b64decode(found[0]["0008041B"]["InlineBinary"]).rstrip(b"\0") == study.encode()
        )
    assert "0008041B" not in client.get("/studies").json()[0]
    r = client.get("/studies", params={"RecordKey": "something"})
    assert r.status_code == 400 and "PriorRecordKey" in r.text


def test_the_study_and_series_resources(
    served: Served, client: httpx.Client, dimse_instances: Page
) -> None:
    sop = dimse_instances[0][0]
    series = sop.rsplit(".", 1)[0]
    study = series.rsplit(".", 1)[0]
    in_study = [u for u, _ in dimse_instances if u.startswith(study + ".")]
    assert len(in_study) == 6
    r = client.get(f"/studies/{study}/series")
    assert [str(d.SeriesInstanceUID) for d in _results(r)] == [f"{study}.1", f"{study}.2"]
    r = client.get(f"/studies/{study}/series/{series}/instances")
    assert [str(d.SOPInstanceUID) for d in _results(r)] == in_study[:3]
    r = client.get(f"/studies/{study}/instances")
    assert [str(d.SOPInstanceUID) for d in _results(r)] == in_study
    # All Series / All Instances are relational (PS3.18 Table 10.6.1-1): 24 series
    series_all = _results(client.get("/series"))
    assert len(series_all) == 24 and series_all[0].StudyDate  # with the study's attributes
    assert client.get("/studies/not-a-uid/series").status_code == 400


def test_offset_with_and_without_prior_record_key(
    served: Served, client: httpx.Client, dimse_instances: Page
) -> None:
    def uids(**params: str) -> list[str]:
        return [str(d.SOPInstanceUID) for d in _results(client.get("/instances", params=params))]

    every = [u for u, _ in dimse_instances]
    assert uids(offset="10", limit="5") == every[10:15]
    prior = base64.b64encode(dimse_instances[4][1]).decode()
    # offset counts the matches after the prior record (PS3.18 8.3.4.4.1)
    assert uids(PriorRecordKey=prior, offset="3", limit="5") == every[8:13]
    assert client.get("/instances", params={"offset": "72"}).status_code == 204


def test_limit_is_capped_and_removed_flag_returned(served: Served, client: httpx.Client) -> None:
    r = client.get("/instances", params={"limit": "100000"})
    assert "The limit is reduced to 1000." in r.headers["warning"]
    found = _results(r)
    assert len(found) == 72
    assert {str(d.RemovedFromOperationalUse) for d in found} == {"N"}


def test_xml_results_carry_the_record_key(served: Served, client: httpx.Client) -> None:
    r = client.get(
        "/series",
        params={"limit": "3", "includefield": "RecordKey"},
        headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
    )
    assert r.status_code == 200 and MORE in r.headers["warning"]
    raw = f"Content-Type: {r.headers['content-type']}\r\n\r\n".encode() + r.content
    parts = list(email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw).iter_parts())
    assert len(parts) == 3
    doc = etree.fromstring(parts[0].get_payload(decode=True))
    inline = doc.find(f"{NS}DicomAttribute[@tag='0008041B']/{NS}InlineBinary")
    assert inline is not None and base64.b64decode(inline.text).count(b"\\") == 1


def test_bad_parameters_are_400_naming_them(served: Served, client: httpx.Client) -> None:
    for params, words in (
        ({"limit": "-1"}, "limit"),
        ({"NoSuchKeyword": "1"}, "NoSuchKeyword"),
        ({"StudyDate": "2024-13"}, "StudyDate"),
        ({"InstanceNumber": "abc"}, "InstanceNumber"),
        ({"QueryRetrieveLevel": "STUDY"}, "QueryRetrieveLevel"),
        ({"includefield": "Nonsense"}, "Nonsense"),
    ):
        r = client.get("/instances", params=params)
        assert r.status_code == 400, params
        assert words in r.text and "Traceback" not in r.text


def test_capabilities_name_the_resources(served: Served, client: httpx.Client) -> None:
    r = client.request("OPTIONS", "/studies/1.2.3/series/1.2.3.4/instances")
    assert r.status_code == 200 and r.headers["allow"] == "GET, OPTIONS"
    wadl = etree.fromstring(r.content)
    paths = {res.get("path"): res for res in wadl.iter(WADL + "resource")}
    resource = paths["studies/{study}/series/{series}/instances"]
    assert [p.get("name") for p in resource.findall(WADL + "param")] == ["study", "series"]
    query = {p.get("name") for p in paths["instances"].iter(WADL + "param")}
    assert {"PriorRecordKey", "limit", "offset", "includefield"} <= query


# ------------------------------------------------------------------------------ in process
def _node(tmp_path: Path, **http: Any) -> tuple[Any, Any]:
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=3, series_per_study=1, instances_per_series=1)
        a.remove("STUDY", a.conn.execute("SELECT MIN(study_uid) FROM studies").fetchone()[0])
    config = load_config(archive=archive, http=HTTP(port=0, **http))
    return config, backends.repository_factory(config)


async def _get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as c:
        return await c.get(path)


def test_removed_entities_are_returned_flagged(tmp_path: Path) -> None:
    """Repository Query returns entities removed from operational use (PS3.4 C.6.4.5.4)."""
    config, factory = _node(tmp_path)
    app = web_app(config, None, base_url=lambda: "http://node", repository=factory)  # type: ignore[arg-type]
    found = _results(asyncio.run(_get(app, "/dicomweb/studies")))
    assert [str(d.RemovedFromOperationalUse) for d in found] == ["Y", "N", "N"]
    bare = web_app(config, None, base_url=lambda: "http://node")  # type: ignore[arg-type]
    assert asyncio.run(_get(bare, "/dicomweb/studies")).status_code == 404


def test_the_switch_the_routes_wadl_and_statement(tmp_path: Path) -> None:
    config, factory = _node(tmp_path, repository_query=False)
    app = web_app(config, None, base_url=lambda: "http://node", repository=factory)  # type: ignore[arg-type]
    assert asyncio.run(_get(app, "/dicomweb/studies")).status_code == 404
    assert config.http is not None
    assert b"studies" not in capabilities_document(config.http, "http://node")
    rows = build_statement(config).table("dicomweb-transactions").rows
    assert "Repository Query" not in {r[0] for r in rows}
    on = load_config(archive=tmp_path / "archive", http=HTTP(port=0))
    doc = build_statement(on)
    rows = doc.table("dicomweb-transactions").rows
    assert {r[2] for r in rows if r[0] == "Repository Query"} == {
        "/studies",
        "/series",
        "/instances",
        "/studies/{study}/series",
        "/studies/{study}/series/{series}/instances",
        "/studies/{study}/instances",
    }
    assert {r[4] for r in rows if r[0] == "Repository Query"} == {"optional (offered)"}
    params = dict(doc.table("dicomweb-repository-query-parameters").rows)  # type: ignore[arg-type]
    assert "base64" in params["PriorRecordKey"] and "PS3.4 C.6.4.5.3" in params["PriorRecordKey"]
    text = " ".join(
        getattr(b, "text", "") for s in doc.walk() if s.id == "dicomweb" for b in s.blocks
    )
    assert "1000 records" in text and "InlineBinary" in text
