"""fetch: the linked files of a real inventory of the embedded archive (folders, ZIP, TAR,
TAR.GZ, GZIP, BLOB), checked, brought up to date with --apply-updates, safely; and over HTTP
from a real server on loopback."""

from __future__ import annotations

import functools
import http.server
import tarfile
import threading
import zipfile
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory, iter_inventory
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.model import FileAccess
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.production import produce
from dicom_inventory.scu.fetch import FetchPolicy, fetch_inventory


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fetch")
    with Archive(base / "archive", create=True) as a:
        synthesize(a, studies=10, series_per_study=2, instances_per_series=2)
        (root,) = produce(a, base / "inv", level="INSTANCE")
    assert root.path is not None
    return Path(root.path)


def _archive(produced: Path) -> FetchPolicy:
    """The links of a produced inventory name the archive's files (absolute file: URIs)."""
    return FetchPolicy(allow_roots=(produced.parent.parent / "archive",))


def test_fetch_every_container_type_and_resume(produced: Path, tmp_path: Path) -> None:
    kinds = {
        str(getattr(fa.container_type, "value", fa.container_type))
        for st in iter_inventory(produced)
        for se in st.series
        for i in se.instances
        for fa in i.file_access
    }
    assert {"ZIP", "TAR", "TARGZIP", "GZIP", "BLOB"} <= kinds
    out = tmp_path / "out"
    s = fetch_inventory([produced], out, policy=_archive(produced))
    assert (s.fetched, s.failed, s.no_link) == (40, 0, 0), s.failures
    files = list(out.rglob("*.dcm"))
    assert len(files) == 40
    for f in files:
        ds = pydicom.dcmread(f)
        assert f.stem == ds.SOPInstanceUID and f.parent.name == ds.SeriesInstanceUID
    again = fetch_inventory([produced], out, policy=_archive(produced))  # resume
    assert not [p for p in out.iterdir() if p.name.startswith(".fetch-")]  # staging removed
    assert (again.fetched, again.skipped) == (0, 40)


def test_apply_updates_records_the_replaced_values(produced: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    s = fetch_inventory([produced], out, apply_updates=True, policy=_archive(produced))
    assert s.failed == 0 and s.updated > 0
    stale = {}
    for st in iter_inventory(produced):
        for se in st.series:
            for inst in se.instances:
                kws = {
                    k for r in (st, se, inst) for oa in r.original_attributes for k in oa.modified
                }
                if kws:
                    stale[inst.sop_instance_uid] = (kws, st, se)
    assert stale
    for f in out.rglob("*.dcm"):
        ds = pydicom.dcmread(f)
        if ds.SOPInstanceUID not in stale:
            assert "OriginalAttributesSequence" not in ds
            continue
        kws, st, se = stale[ds.SOPInstanceUID]
        if "PatientID" in kws:
            assert ds.PatientID == st.patient_id  # the archive's current value
        if "Modality" in kws:
            assert ds.Modality == se.modality
        item = ds.OriginalAttributesSequence[-1]  # PS3.3 C.12.1.1.9
        old = item.ModifiedAttributesSequence[0]
        assert set(kw for kw in kws if kw in old) and item.ModifyingSystem
        assert item.ReasonForTheAttributeModification in ("COERCE", "CORRECT")
        for kw in kws & {"PatientID", "Modality"}:
            assert old[kw].value != ds[kw].value


def test_apply_updates_names_the_archives_recorded_change(produced: Path, tmp_path: Path) -> None:
    """Each new Original Attributes item carries who changed what, when and why as the archive
    recorded it in the record's item (PS3.3 C.12.1.1.9), not this tool and the time of fetch."""
    out = tmp_path / "out"
    s = fetch_inventory([produced], out, apply_updates=True, policy=_archive(produced))
    assert s.failed == 0 and s.updated > 0
    recorded = {}  # SOP Instance UID -> {keyword: the record's Original Attributes item}
    for st in iter_inventory(produced):
        for se in st.series:
            for inst in se.instances:
                for r in (st, se, inst):
                    for oa in r.original_attributes:
                        for kw in oa.modified:
                            recorded.setdefault(inst.sop_instance_uid, {})[kw] = oa
    checked = 0
    for f in out.rglob("*.dcm"):
        ds = pydicom.dcmread(f)
        for item in ds.get("OriginalAttributesSequence", []):
            for kw in item.ModifiedAttributesSequence[0].keys():
                oa = recorded[ds.SOPInstanceUID][pydicom.datadict.keyword_for_tag(kw)]
                assert item.ModifyingSystem == oa.modifying_system != "dicom-inventory fetch"
                assert item.AttributeModificationDateTime == oa.modification_datetime
                assert item.ReasonForTheAttributeModification == str(
                    getattr(oa.reason, "value", oa.reason)
                )
                assert item.SourceOfPreviousValues == (oa.source_of_previous_values or "")
                checked += 1
    assert checked > 0


def test_apply_updates_falls_back_to_ours_where_the_inventory_says_nothing(
    tmp_path: Path,
) -> None:
    """An item the inventory gives without Modifying System, DateTime or Reason: ours fill in."""
    from dicom_inventory.model import (
        InstanceRecord,
        OriginalAttributes,
        SeriesRecord,
        StudyRecord,
    )
    from dicom_inventory.scu.fetch import MODIFYING_SYSTEM, _apply

    ds = make_image(study_uid="2.25.20", series_uid="2.25.20.1", sop_uid="2.25.20.1.1")
    ds.PatientID = "OLD"
    oa = OriginalAttributes({"PatientID": "OLD"}, "", "", "", "ARCHIVE-A")
    inst = InstanceRecord("1.2.840.10008.5.1.4.1.1.2", "2.25.20.1.1")
    se = SeriesRecord("2.25.20.1", "CT", instances=[inst])
    st = StudyRecord("2.25.20", "20261124100000", patient_id="NEW", original_attributes=(oa,))
    assert _apply(ds, st, se, inst) == ("PatientID",)
    (item,) = ds.OriginalAttributesSequence
    assert ds.PatientID == "NEW" and item.ModifiedAttributesSequence[0].PatientID == "OLD"
    assert item.ModifyingSystem == MODIFYING_SYSTEM
    assert item.ReasonForTheAttributeModification == "COERCE"
    assert len(item.AttributeModificationDateTime) == 14
    assert item.SourceOfPreviousValues == "ARCHIVE-A"


def _one_record_inventory(tmp_path: Path, fa: FileAccess, sop: str) -> Path:
    from dicom_inventory.model import InstanceRecord, SeriesRecord, StudyRecord

    st = StudyRecord(
        study_instance_uid="2.25.10",
        item_inventory_datetime="20261124100000",
        patient_id="P",
        patient_name="A^B",
        series=[
            SeriesRecord(
                series_instance_uid="2.25.10.1",
                modality="CT",
                instances=[InstanceRecord("1.2.840.10008.5.1.4.1.1.2", sop, file_access=(fa,))],
            )
        ],
    )
    h = InventoryHeader(
        "2.25.77", InventoryLevel.INSTANCE, content_date="20261124", content_time="100000"
    )
    p = tmp_path / "inv.dcm"
    p.write_bytes(encode_inventory(h, [st]))
    return p


def test_hostile_member_names_never_write_outside_out(tmp_path: Path) -> None:
    obj = to_part10(make_image(study_uid="2.25.10", series_uid="2.25.10.1", sop_uid="2.25.10.1.1"))
    # a ZIP member named to escape, and an absolute one
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../escaped.dcm", obj)
    inv = _one_record_inventory(
        tmp_path,
        FileAccess(
            z.as_uri(),
            ContainerFileType.ZIP,
            "../../escaped.dcm",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
        ),
        "2.25.10.1.1",
    )
    out = tmp_path / "deep" / "out"
    s = fetch_inventory([inv], out)
    assert s.fetched == 1
    written = [p for p in tmp_path.rglob("*.dcm") if p.name != "inv.dcm"]
    assert written == [out / "2.25.10" / "2.25.10.1" / "2.25.10.1.1.dcm"]


def test_symlink_in_tar_is_refused(tmp_path: Path) -> None:
    t = tmp_path / "evil.tar"
    with tarfile.open(t, "w") as tf:
        info = tarfile.TarInfo("a.dcm")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    inv = _one_record_inventory(
        tmp_path,
        FileAccess(
            t.as_uri(), ContainerFileType.TAR, "a.dcm", transfer_syntax_uid="1.2.840.10008.1.2.1"
        ),
        "2.25.10.1.1",
    )
    s = fetch_inventory([inv], tmp_path / "out")
    assert s.failed == 1 and "refused" in (s.failures[0].error or "")
    assert not list((tmp_path / "out").rglob("*.dcm"))


def test_wrong_object_is_reported_not_written(tmp_path: Path) -> None:
    obj = to_part10(make_image(study_uid="2.25.10", series_uid="2.25.10.1", sop_uid="2.25.10.1.99"))
    f = tmp_path / "x.dcm"
    f.write_bytes(obj)
    inv = _one_record_inventory(
        tmp_path,
        FileAccess(
            f.as_uri(),
            ContainerFileType.BLOB,
            offset=0,
            length=len(obj),
            transfer_syntax_uid="1.2.840.10008.1.2.1",
        ),
        "2.25.10.1.1",
    )
    s = fetch_inventory([inv], tmp_path / "out")
    assert s.failed == 1 and "SOP Instance UID" in (s.failures[0].error or "")


def test_fetch_over_http_from_a_real_server(tmp_path: Path) -> None:
    objs = [
        to_part10(make_image(study_uid="2.25.10", series_uid="2.25.10.1", sop_uid=f"2.25.10.1.{k}"))
        for k in (1, 2)
    ]
    blob = tmp_path / "www" / "store.blob"
    blob.parent.mkdir()
    blob.write_bytes(b"".join(objs))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(blob.parent))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
            pass

    server = Quiet(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/store.blob"
        fa = FileAccess(
            url,
            ContainerFileType.BLOB,
            offset=len(objs[0]),
            length=len(objs[1]),
            transfer_syntax_uid="1.2.840.10008.1.2.1",
        )
        inv = _one_record_inventory(tmp_path, fa, "2.25.10.1.2")
        refused = fetch_inventory([inv], tmp_path / "refused")  # no base URI names the host
        s = fetch_inventory(
            [inv], tmp_path / "out", policy=FetchPolicy(allow_urls=(f"{url[: url.rindex('/')]}/",))
        )
    finally:
        server.shutdown()
        server.server_close()
    assert refused.failed == 1 and "outside the allowed" in (refused.failures[0].error or "")
    assert s.fetched == 1, s.failures
    got = pydicom.dcmread(tmp_path / "out" / "2.25.10" / "2.25.10.1" / "2.25.10.1.2.dcm")
    assert got.SOPInstanceUID == "2.25.10.1.2"
