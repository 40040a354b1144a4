"""The Stored Instance Base URIs (0008,0407) the producer writes (PS3.17 YYYY.7.2): Inventory
level in Study Access End Points Sequence (0008,0421) (PS3.3 C.38.1) for the archive's store/,
Series level for a series whose files lie elsewhere, none where a base would name the root."""

from __future__ import annotations

from pathlib import Path

from dicom_inventory import iter_inventory, read_header
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.model import FileAccess, InstanceRecord
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.production import produce
from dicom_inventory.scp.production.base_uri import folder_uri, series_base_uri, store_folder

_CT = "1.2.840.10008.5.1.4.1.1.2"


def _inst(*uris: str) -> InstanceRecord:
    links = tuple(FileAccess(uri=u, container_type=ContainerFileType.BLOB) for u in uris)
    return InstanceRecord(sop_class_uid=_CT, sop_instance_uid="2.25.1", file_access=links)


def test_series_base_uri(tmp_path: Path) -> None:
    store = tmp_path / "store"
    inside = (store / "a" / "1.dcm").as_uri()
    elsewhere = [(tmp_path / "src" / d / "1.dcm").as_uri() for d in ("x y", "z")]
    assert series_base_uri([_inst(inside)], store) is None  # the inventory's base covers it
    assert series_base_uri([_inst(*elsewhere)], store) == folder_uri(tmp_path / "src")
    assert folder_uri(tmp_path / "src").endswith("/src/")  # merged at a segment boundary
    one = series_base_uri([_inst(elsewhere[0])], None)  # no inventory-level base
    assert one == (tmp_path / "src" / "x y").as_uri() + "/" and "%20" in one
    assert series_base_uri([_inst("file:///a/1.dcm"), _inst("file:///b/2.dcm")], None) is None
    assert series_base_uri([_inst("https://pacs.example.org/1.dcm")], None) is None
    assert series_base_uri([_inst()], store) is None


def test_the_inventory_names_the_store_of_its_archive(tmp_path: Path) -> None:
    with Archive(tmp_path / "archive", create=True) as a:
        assert store_folder(a) is None  # nothing stored yet: no folder, no base
        synthesize(a, studies=2, series_per_study=1, instances_per_series=2)
        store = store_folder(a)
        assert store == (tmp_path / "archive" / "store").absolute()
        (inst,) = produce(a, tmp_path / "inv", level="INSTANCE")
        (study,) = produce(a, tmp_path / "study", level="STUDY")
    assert inst.path is not None and study.path is not None
    ep = read_header(inst.path).study_access_end_points
    assert ep is not None and ep.stored_instance_base_uri == store.as_uri() + "/"
    # no links at STUDY level: nothing to name, the encoding is as before
    assert read_header(study.path).study_access_end_points is None
    for st in iter_inventory(inst.path):
        assert st.stored_instance_base_uri is None
        assert all(se.stored_instance_base_uri is None for se in st.series)
