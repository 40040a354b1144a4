"""Store (``POST /inventories``) on a real node process (PS3.18 12, 10.5).

Bodies are framed by hand here (RFC 2387), not by our multipart writer.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pydicom
from dicom_inventory import InventoryHeader, InventoryLevel, synthetic_studies, write_inventory
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset

from tests.scp.web.conftest import Served

BOUNDARY = "test-boundary-7d1"


def _body(*parts: tuple[str, bytes]) -> bytes:
    out = b""
    for ctype, data in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _post(client: httpx.Client, body: bytes, ctype: str | None = None) -> httpx.Response:
    return client.post(
        "/inventories",
        content=body,
        headers={
            "Content-Type": ctype
            or f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
        },
    )


def _inventory(tmp_path: Path, uid: str) -> bytes:
    header = InventoryHeader(
        sop_instance_uid=uid,
        inventory_level=InventoryLevel.STUDY,
        content_date="20261203",
        content_time="120000",
    )  # type: ignore[arg-type]
    [written] = write_inventory(tmp_path, header, synthetic_studies(3, level=InventoryLevel.STUDY))
    return Path(written.path).read_bytes()


def test_store_validates_keeps_and_serves_it(
    served: Served, client: httpx.Client, tmp_path: Path
) -> None:
    uid = str(generate_uid())
    data = _inventory(tmp_path, uid)
    r = _post(client, _body(("application/dicom", data)))
    assert r.status_code == 200, r.text
    report = Dataset.from_json(r.json())
    [item] = report.ReferencedSOPSequence
    assert item.ReferencedSOPInstanceUID == uid
    assert item.RetrieveURL == served.url(f"/inventories/{uid}")
    assert "FailedSOPSequence" not in report
    got = client.get(f"/inventories/{uid}", headers={"Accept": "application/dicom"})
    assert got.status_code == 200
    assert pydicom.dcmread(io.BytesIO(got.content)) == pydicom.dcmread(io.BytesIO(data))
    assert client.get("/inventories", params={"SOPInstanceUID": uid}).status_code == 200


def test_an_invalid_inventory_is_refused_with_its_failure_reason(
    served: Served, client: httpx.Client, tmp_path: Path
) -> None:
    good_uid, bad_uid = str(generate_uid()), str(generate_uid())
    bad = pydicom.dcmread(io.BytesIO(_inventory(tmp_path / "b", bad_uid)))
    del bad.InventoryLevel  # Type 1 (PS3.3 C.38.1)
    buf = io.BytesIO()
    bad.save_as(buf, enforce_file_format=True)
    r = _post(
        client,
        _body(
            ("application/dicom", _inventory(tmp_path / "g", good_uid)),
            ("application/dicom", buf.getvalue()),
        ),
    )
    assert r.status_code == 202  # some stored (PS3.18 10.5.3)
    report = Dataset.from_json(r.json())
    assert [i.ReferencedSOPInstanceUID for i in report.ReferencedSOPSequence] == [good_uid]
    [failed] = report.FailedSOPSequence
    assert failed.ReferencedSOPInstanceUID == bad_uid
    assert failed.FailureReason == 0xA900  # Data Set does not match SOP Class
    assert client.get(f"/inventories/{bad_uid}").status_code == 404
    r = _post(client, _body(("application/dicom", b"not dicom at all")))
    assert r.status_code == 409  # none stored
    assert Dataset.from_json(r.json()).FailedSOPSequence[0].FailureReason == 0xC000


def test_wrong_media_and_broken_bodies(served: Served, client: httpx.Client) -> None:
    r = _post(client, b"{}", "application/json")
    assert r.status_code == 415 and "multipart/related" in r.text
    r = _post(client, b"--other\r\n\r\nx\r\n--other--\r\n")
    assert r.status_code == 400 and "boundary" in r.text
    r = _post(client, f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\nabc".encode())
    assert r.status_code == 400 and "closing" in r.text
    r = _post(client, b"x", 'multipart/related; type="application/dicom"')
    assert r.status_code == 400
    assert "Traceback" not in r.text
