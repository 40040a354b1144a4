"""Retrieve of ``/inventories/{uid}`` from a real node process (PS3.18 12, 8.7).

The client is httpx (and curl) written here, not our SCU; each representation is read back
with plain pydicom, lxml or the standard library's email parser and compared with what
Inventory GET over DIMSE returned for the same instance.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import subprocess

import httpx
import pydicom
from lxml import etree
from pydicom.dataset import Dataset

from tests.conftest import require_tool
from tests.scp.web.conftest import Served, dimse_dataset

NS = "{http://dicom.nema.org/PS3.19/models/NativeDICOM}"


def _parts(response: httpx.Response) -> list[tuple[str, bytes]]:
    """The parts of a multipart/related body, by the standard library (RFC 2046)."""
    raw = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode() + response.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    return [(p.get_content_type(), p.get_payload(decode=True)) for p in message.iter_parts()]


def test_event_11_names_the_root_at_this_server(served: Served) -> None:
    # PS3.4 KK.2.3.1.1: Retrieve AE Title and / or Retrieve URL; the URL is the NPI resource
    assert served.event.RetrieveAETitle == "INV_SCP"
    assert served.event.RetrieveURL == served.url(f"/inventories/{served.root_uid}")


def test_default_is_dicom_json_and_equals_the_dimse_instance(
    served: Served, client: httpx.Client
) -> None:
    r = client.get(f"/inventories/{served.root_uid}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/dicom+json")
    body = r.json()
    assert isinstance(body, list) and len(body) == 1  # PS3.18 F.2.1: an array of data sets
    assert Dataset.from_json(body[0]) == dimse_dataset(served)
    # and member by member, against pydicom's own JSON of the DIMSE instance
    assert body[0] == json.loads(json.dumps(dimse_dataset(served).to_json_dict()))


def test_multipart_application_dicom_parts_are_the_dimse_instance(
    served: Served, client: httpx.Client
) -> None:
    r = client.get(
        f"/inventories/{served.root_uid}",
        headers={"Accept": 'multipart/related; type="application/dicom"'},
    )
    assert r.status_code == 200
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/related") and 'type="application/dicom"' in ctype
    [(part_type, data)] = _parts(r)
    assert part_type == "application/dicom"
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"  # the default (8.7.3.5.2)
    del ds.file_meta
    assert ds == dimse_dataset(served)


def test_implicit_vr_on_request_is_re_encoded_when_not_stored_so(
    served: Served, client: httpx.Client
) -> None:
    r = client.get(
        f"/inventories/{served.root_uid}",
        headers={
            "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'
        },
    )
    # stored in Explicit VR Little Endian: only it (or *) can be sent
    assert r.status_code == 406
    r = client.get(
        f"/inventories/{served.root_uid}",
        params={"accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
    )
    assert r.status_code == 200  # the accept query parameter replaces the header (8.3.3.1)


def test_native_dicom_model_xml_holds_every_attribute_and_record(
    served: Served, client: httpx.Client
) -> None:
    # the root of a split tree holds references only: the leaf with the most records
    leaf = max(
        served.leaves, key=lambda u: len(dimse_dataset(served, u).InventoriedStudiesSequence)
    )
    r = client.get(
        f"/inventories/{leaf}",
        headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
    )
    assert r.status_code == 200
    [(part_type, data)] = _parts(r)
    assert part_type == "application/dicom+xml"
    root = etree.fromstring(data)
    assert root.tag == NS + "NativeDicomModel"
    ref = dimse_dataset(served, leaf)
    assert len(ref.InventoriedStudiesSequence) > 1
    tags = [a.get("tag") for a in root.findall(NS + "DicomAttribute")]
    assert tags == [f"{e.tag:08X}" for e in ref]  # every top-level attribute, in tag order
    uid = root.find(f"{NS}DicomAttribute[@tag='00080018']/{NS}Value")
    assert uid is not None and uid.text == leaf
    records = root.findall(f"{NS}DicomAttribute[@tag='00080423']/{NS}Item")
    assert len(records) == len(ref.InventoriedStudiesSequence)
    assert [i.get("number") for i in records] == [str(n + 1) for n in range(len(records))]
    first = records[0].find(f"{NS}DicomAttribute[@tag='0020000D']/{NS}Value")
    assert first is not None
    assert first.text == ref.InventoriedStudiesSequence[0].StudyInstanceUID
    # and read back whole by our reader of the Native DICOM Model
    from dicom_inventory.media import dataset_from_xml

    assert dataset_from_xml(data) == ref


def test_every_leaf_in_json_equals_the_dimse_leaf(served: Served, client: httpx.Client) -> None:
    for uid in served.leaves:
        r = client.get(f"/inventories/{uid}", headers={"Accept": "application/dicom+json"})
        assert Dataset.from_json(r.json()[0]) == dimse_dataset(served, uid), uid


def test_curl_downloads_the_part10_file(served: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    curl = require_tool("curl")
    out = tmp_path / "root.dcm"
    done = subprocess.run(
        [
            curl,
            "-sS",
            "-f",
            "-H",
            "Accept: application/dicom",
            "-o",
            str(out),
            served.url(f"/inventories/{served.root_uid}"),
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    ds = pydicom.dcmread(out)
    del ds.file_meta
    assert ds == dimse_dataset(served)


def test_nothing_acceptable_is_406_and_says_what_is_offered(
    served: Served, client: httpx.Client
) -> None:
    for accept in (
        "image/png",
        'multipart/related; type="application/pdf"',
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50",
        "application/dicom+json; q=0",
    ):
        r = client.get(f"/inventories/{served.root_uid}", headers={"Accept": accept})
        assert r.status_code == 406, accept
        assert "application/dicom+json" in r.text
    r = client.get(f"/inventories/{served.root_uid}", headers={"Accept": "text/html;q=x"})
    assert r.status_code == 400


def test_a_request_without_accept_is_406(served: Served) -> None:
    """PS3.18 8.7.5: no Accept header field, no payload; ``*/*`` asks for the default."""
    with httpx.Client(base_url=served.base, timeout=30) as bare:
        for path in (f"/inventories/{served.root_uid}", "/inventories"):
            request = bare.build_request("GET", path)
            del request.headers["accept"]
            r = bare.send(request)
            assert r.status_code == 406, path
            assert "8.7.5" in r.text and "Traceback" not in r.text
            request = bare.build_request("GET", path, params={"accept": "application/dicom+json"})
            del request.headers["accept"]
            assert bare.send(request).status_code == 406  # the parameter needs the header too


def test_quality_and_server_order_choose(served: Served, client: httpx.Client) -> None:
    accept = 'application/dicom+json; q=0.5, multipart/related; type="application/dicom+xml"'
    r = client.get(f"/inventories/{served.root_uid}", headers={"Accept": accept})
    assert 'type="application/dicom+xml"' in r.headers["content-type"]
    r = client.get(f"/inventories/{served.root_uid}", headers={"Accept": "*/*"})
    assert r.headers["content-type"].startswith("application/dicom+json")


def test_unknown_and_invalid_uids(served: Served, client: httpx.Client) -> None:
    r = client.get("/inventories/1.2.3.999")
    assert r.status_code == 404 and "1.2.3.999" in r.text
    r = client.get("/inventories/not-a-uid")
    assert r.status_code == 400 and "UID" in r.text
    assert "Traceback" not in r.text


def test_capabilities_are_wadl_naming_every_transaction(
    served: Served, client: httpx.Client
) -> None:
    r = client.request("OPTIONS", "/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.sun.wadl+xml")
    wadl = etree.fromstring(r.content)
    ns = "{http://wadl.dev.java.net/2009/02}"
    paths = {res.get("path"): res for res in wadl.iter(ns + "resource")}
    assert {"", "inventories", "inventories/{uid}"} <= set(paths)
    methods = {m.get("name") for m in paths["inventories"].iter(ns + "method")}
    assert methods == {"GET", "POST", "OPTIONS"}
    media = {rep.get("mediaType") for rep in paths["inventories/{uid}"].iter(ns + "representation")}
    assert "application/dicom+json" in media
    assert 'multipart/related; type="application/dicom"' in media
    r = client.request("OPTIONS", f"/inventories/{served.root_uid}")
    assert r.headers["allow"] == "GET, OPTIONS"
