"""The file targets of the fuzz harness: each takes an input on disk and a work folder.

* ``reader`` -- :class:`~dicom_inventory.InventoryReader` (typed studies, then the header),
  :func:`~dicom_inventory.read_header` and :func:`~dicom_inventory.iter_inventory` (the tree
  of incorporated instances followed);
* ``validate`` -- :func:`~dicom_inventory.validate_files` (per file and across the set);
* ``export-csv`` / ``export-parquet`` -- :func:`dicom_inventory.scu.export.export_inventory`
  (roots followed through their trees, one worker);
* ``ingest`` -- :meth:`dicom_inventory.scp.archive.Archive.ingest` of a folder holding the
  mutated file or container *and* one valid object: the valid one must be indexed (one bad
  item never aborts the run, issue 20), and an inventory of the archive must then be produced
  (ingest validates what production needs: nothing indexed may block ``create``).

An input is a single file, or a folder packed as ``*.tree.tar.gz`` / ``*.folder.tar`` (a tree
of inventories, or an ingest folder with names and file types git cannot hold) -- see
:func:`stage`.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from dicom_inventory import (
    InventoryError,
    InventoryLevel,
    InventoryReader,
    iter_inventory,
    read_header,
    validate_files,
)
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.production.produce import produce
from dicom_inventory.scu.export import export_inventory

from tests.fuzz.oracle import Lost

__all__ = ["FILE_TARGETS", "GOOD_STUDY_UID", "good_object", "stage"]

#: Study Instance UID of the valid object put beside every ingest input.
GOOD_STUDY_UID = "2.25.7000000000000000000000000000001"


def good_object() -> bytes:
    """One small valid image, the witness that ingest goes on past a bad item."""
    return to_part10(
        make_image(
            study_uid=GOOD_STUDY_UID,
            series_uid=GOOD_STUDY_UID + ".1",
            sop_uid=GOOD_STUDY_UID + ".1.1",
        )
    )


#: Suffixes of a packed folder (tar keeps non-UTF-8 names, FIFOs and symbolic links).
FOLDER_SUFFIXES = (".tree.tar.gz", ".folder.tar", ".folder.tar.gz")


def stage(source: Path, work: Path, name: str = "input.dcm", *, unzip: bool = True) -> Path:
    """Put the input `source` into a fresh folder under `work`; return what to start from.

    A packed folder (:data:`FOLDER_SUFFIXES`) is extracted: the start is its ``root.dcm`` if
    it has one, else the folder. Any other file is copied as `name`; with `unzip`, a ``.gz``
    file is inflated first (large reproducers are kept gzipped).
    """
    folder = work / "in"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if source.name.endswith(FOLDER_SUFFIXES):
        with tarfile.open(source) as t:
            t.extractall(folder, filter="fully_trusted")  # our own files: FIFOs on purpose
        root = folder / "root.dcm"
        return root if root.exists() else folder
    target = folder / name
    if unzip and source.suffix == ".gz":
        with gzip.open(source) as f, target.open("wb") as out:
            shutil.copyfileobj(f, out)
    else:
        shutil.copyfile(source, target)
    return target


def _reader(path: Path, work: Path) -> None:
    with InventoryReader(path) as r:
        for _ in r.studies():
            pass
        _ = r.header
    read_header(path)
    for _ in iter_inventory(path):
        pass


def _validate(path: Path, work: Path) -> None:
    # the file and any inventories beside it (a tree): checks per file and across the set
    folder = path.parent if path.is_file() else path
    for _ in validate_files(sorted(folder.glob("*.dcm"))):
        pass


def _export(fmt: str) -> Callable[[Path, Path], None]:
    def run(path: Path, work: Path) -> None:
        out = work / f"out.{fmt}"
        out.unlink(missing_ok=True)
        export_inventory([path], out, fmt, workers=1)

    return run


def _ingest(path: Path, work: Path) -> None:
    folder = path if path.is_dir() else path.parent
    (folder / "zz-good.dcm").write_bytes(good_object())
    archive = work / "archive"
    if archive.exists():
        shutil.rmtree(archive)
    with Archive(archive, create=True) as a:
        report = a.ingest([folder])
        studies = [s.study_instance_uid for s in a.iter_studies()]
        if GOOD_STUDY_UID not in studies:
            raise Lost(f"the valid object beside the input was not indexed ({report})")
        try:
            produce(a, work / "inventory", level=InventoryLevel.INSTANCE)
        except InventoryError as exc:
            raise Lost(f"create fails on what ingest indexed: {exc}") from exc


#: Target name -> function(input path, work folder).
FILE_TARGETS: dict[str, Callable[[Path, Path], None]] = {
    "reader": _reader,
    "validate": _validate,
    "export-csv": _export("csv"),
    "export-parquet": _export("parquet"),
    "ingest": _ingest,
}
