"""Search of ``/inventories`` on a real node process (PS3.18 12, 8.3.4; PS3.4 C.2.2.2).

The node holds one produced tree (root, partition roots and leaves) and whatever the Store
tests add; counts are taken within the tree's Transaction UID. The client is httpx.
"""

from __future__ import annotations

import email.parser
import email.policy

import httpx
from lxml import etree

from tests.scp.web.conftest import Served

NS = "{http://dicom.nema.org/PS3.19/models/NativeDICOM}"


def _uids(r: httpx.Response) -> list[str]:
    return [res["00080018"]["Value"][0] for res in r.json()]


def test_every_inventory_with_the_default_return_keys(served: Served, client: httpx.Client) -> None:
    r = client.get("/inventories")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/dicom+json")
    uids = _uids(r)
    assert {served.root_uid, *served.leaves} <= set(uids)
    first = r.json()[0]
    for tag in ("00080016", "00080018", "00080023", "00080403", "00081195", "00081190"):
        assert tag in first, tag
    assert first["00081190"]["Value"][0] == served.url(f"/inventories/{uids[0]}")
    assert "warning" not in r.headers


def test_matching_by_keyword_tag_uid_list_range_and_wildcard(
    served: Served, client: httpx.Client
) -> None:
    some = sorted(served.leaves)[:2]
    assert _uids(client.get("/inventories", params={"SOPInstanceUID": served.root_uid})) == [
        served.root_uid
    ]
    # a UID list is comma-separated (PS3.18 8.3.4.1), the attribute may be named by tag
    assert sorted(_uids(client.get("/inventories", params={"00080018": ",".join(some)}))) == some
    txn = str(served.event.TransactionUID)
    assert len(_uids(client.get("/inventories", params={"TransactionUID": txn}))) == 1 + len(
        served.leaves
    )
    everything = len(served.leaves) + 1
    tree = {"TransactionUID": txn}
    after = {**tree, "ContentDate": "19000101-"}
    assert len(_uids(client.get("/inventories", params=after))) == everything
    assert client.get("/inventories", params={"ContentDate": "-19000101"}).status_code == 204
    wildcard = {**tree, "InventoryPurpose": "te*"}
    assert len(_uids(client.get("/inventories", params=wildcard))) == everything
    r = client.get("/inventories", params={"InventoryLevel": "SERIES"})
    assert r.status_code == 204 and r.content == b""


def test_paging_with_limit_offset_and_the_299_warning(served: Served, client: httpx.Client) -> None:
    tree = {"TransactionUID": str(served.event.TransactionUID)}
    whole = _uids(client.get("/inventories", params=tree))
    assert len(whole) >= 3
    r = client.get("/inventories", params={**tree, "limit": "2"})
    assert _uids(r) == whole[:2]
    warning = r.headers["warning"]
    assert (
        warning.startswith("299 ")
        and "There are additional results that can be requested" in warning
    )
    r = client.get("/inventories", params={**tree, "limit": "2", "offset": "2"})
    assert _uids(r) == whole[2:4]
    last = client.get("/inventories", params={**tree, "offset": str(len(whole) - 1)})
    assert _uids(last) == whole[-1:] and "warning" not in last.headers
    gone = client.get("/inventories", params={**tree, "offset": str(len(whole))})
    assert gone.status_code == 204


def test_includefield_and_unsupported_keys(served: Served, client: httpx.Client) -> None:
    r = client.get(
        "/inventories",
        params={"SOPInstanceUID": served.root_uid, "includefield": "ScopeOfInventorySequence"},
    )
    assert "00080400" in r.json()[0]  # Scope of Inventory Sequence, not a default return key
    assert "00080400" not in client.get("/inventories").json()[0]
    # a known attribute that is not a matching key: returned, not matched, and warned about
    r = client.get("/inventories", params={"PatientID": "nobody"})
    assert r.status_code == 200 and "00100020" in r.json()[0]
    assert "not supported for matching: PatientID" in r.headers["warning"]
    r = client.get("/inventories", params={"fuzzymatching": "true"})
    assert "fuzzymatching parameter is not supported" in r.headers["warning"]


def test_bad_parameters_are_400_naming_them(served: Served, client: httpx.Client) -> None:
    for params, words in (
        ({"limit": "-1"}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"NoSuchKeyword": "1"}, "NoSuchKeyword"),
        ({"ContentDate": "2024-13"}, "ContentDate"),
        ({"SOPInstanceUID": "1.2.x"}, "SOPInstanceUID"),
        ({"fuzzymatching": "maybe"}, "fuzzymatching"),
        ({"includefield": "Nonsense"}, "Nonsense"),
    ):
        r = client.get("/inventories", params=params)
        assert r.status_code == 400, params
        assert words in r.text and "Traceback" not in r.text


def test_xml_results_are_one_native_dicom_model_part_each(
    served: Served, client: httpx.Client
) -> None:
    r = client.get(
        "/inventories",
        params={"limit": "3"},
        headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
    )
    assert r.status_code == 200
    raw = f"Content-Type: {r.headers['content-type']}\r\n\r\n".encode() + r.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = list(message.iter_parts())
    assert len(parts) == 3
    doc = etree.fromstring(parts[0].get_payload(decode=True))
    assert doc.find(f"{NS}DicomAttribute[@tag='00080018']/{NS}Value") is not None
    assert client.get("/inventories", headers={"Accept": "application/dicom"}).status_code == 406
