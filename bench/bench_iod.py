"""Benchmark of the Inventory IOD library: encode, read and validate rates, memory.

Prints, in one run (issue 4 targets in brackets, one core):

* our encode rate, records/s                                  [>= 200,000]
* the same inventory built with pydicom's object model, records/s, and the ratio [>= 30x]
* our read rate (raw data sets and typed records), records/s [>= 300,000]
* validate rate, records/s                                    [>= 100,000]
* peak RSS of a separate process that writes, reads and validates 5,000,000 records
  streaming                                                   [< 200 MB]

Records are study + series + instance records; the synthetic inventory nests 1:4:50
(study:series:instance). Usage::

    python bench/bench_iod.py                 # 1,000,000 instance records, 5,000,000 for RSS
    python bench/bench_iod.py --instances 200000 --rss-instances 1000000   # quicker
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    InventoryReader,
    InventoryWriter,
    StudyRecord,
    synthetic_studies,
)

SERIES, INSTANCES = 4, 50
PER_STUDY = 1 + SERIES * (1 + INSTANCES)  # records per study record


def header() -> InventoryHeader:
    return InventoryHeader(
        sop_instance_uid="2.25.42",
        inventory_level=InventoryLevel.INSTANCE,
        content_date="20261124",
        content_time="120000",
        inventory_purpose="benchmark",
    )


def materialized(n_studies: int, seed: int = 0) -> list[StudyRecord]:
    out = []
    for st in synthetic_studies(
        n_studies, series_per_study=SERIES, instances_per_series=INSTANCES, seed=seed
    ):
        out.append(
            dataclasses.replace(
                st, series=[dataclasses.replace(s, instances=list(s.instances)) for s in st.series]
            )
        )
    return out


def bench_encode(path: Path, block: list[StudyRecord], repeat: int) -> tuple[float, int]:
    """Encode `block` `repeat` times into one file; return (seconds, records)."""
    t = time.perf_counter()
    with InventoryWriter(path, header()) as w:
        for _ in range(repeat):
            for st in block:
                w.write_study(st)
        written = w.close()
    return time.perf_counter() - t, written.number_of_records


def bench_pydicom(block: list[StudyRecord]) -> tuple[float, int]:
    """Build the same records with pydicom's Dataset/Sequence and write them with dcmwrite."""
    from pydicom import Dataset, dcmwrite
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    t = time.perf_counter()
    n = 0
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.201.1"
    ds.SOPInstanceUID = "2.25.43"
    ds.ContentDate, ds.ContentTime, ds.Manufacturer = "20261124", "120000", "bench"
    ds.ScopeOfInventorySequence = Sequence()
    ds.InventoryPurpose, ds.InventoryLevel = "benchmark", "INSTANCE"
    ds.IncorporatedInventoryInstanceSequence = Sequence()
    studies = Sequence()
    for st in block:
        s = Dataset()
        s.StudyDate, s.StudyTime, s.AccessionNumber = (
            st.study_date,
            st.study_time,
            st.accession_number,
        )
        s.RetrieveAETitle = list(st.retrieve_ae_title or ())
        s.ModalitiesInStudy = list(st.modalities_in_study or ())
        s.ItemInventoryDateTime, s.StudyUpdateDateTime = (
            st.item_inventory_datetime,
            st.study_update_datetime,
        )
        series = Sequence()
        for se in st.series:
            x = Dataset()
            x.Modality, x.SeriesInstanceUID, x.SeriesNumber = (
                se.modality,
                se.series_instance_uid,
                se.series_number,
            )
            x.SeriesDescription = se.series_description
            insts = Sequence()
            for i in se.instances:  # type: ignore[union-attr]
                d = Dataset()
                d.SOPClassUID, d.SOPInstanceUID = i.sop_class_uid, i.sop_instance_uid
                d.InstanceAvailability = str(i.instance_availability.value)  # type: ignore[union-attr]
                fa = i.file_access[0]
                f = Dataset()
                f.FileAccessURI = fa.uri
                f.ContainerFileType = str(getattr(fa.container_type, "value", fa.container_type))
                if fa.filename_in_container:
                    f.FilenameInContainer = fa.filename_in_container
                if fa.offset is not None:
                    f.FileOffsetInContainer = fa.offset
                if fa.length is not None:
                    f.FileLengthInContainer = fa.length
                f.StoredInstanceTransferSyntaxUID = fa.transfer_syntax_uid
                d.FileAccessSequence = Sequence([f])
                d.InstanceNumber = i.instance_number
                insts.append(d)
                n += 1
            x.InventoriedInstancesSequence = insts
            series.append(x)
            n += 1
        s.InventoriedSeriesSequence = series
        s.StudyDescription, s.PatientName, s.PatientID = (
            st.study_description,
            st.patient_name,
            st.patient_id,
        )
        s.PatientBirthDate, s.PatientSex = st.patient_birth_date, st.patient_sex
        s.StudyInstanceUID, s.StudyID = st.study_instance_uid, st.study_id
        s.NumberOfStudyRelatedSeries = st.number_of_study_related_series
        s.NumberOfStudyRelatedInstances = st.number_of_study_related_instances
        studies.append(s)
        n += 1
    ds.InventoriedStudiesSequence = studies
    ds.InventoryCompletionStatus = "COMPLETE"
    ds.NumberOfStudyRecordsInInstance = len(block)
    ds.TotalNumberOfStudyRecords = len(block)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return time.perf_counter() - t, n


def bench_read(path: Path) -> dict[str, float]:
    out = {}
    t = time.perf_counter()
    with InventoryReader(path) as r:
        n = sum(1 for _ in r.raw_studies())
    out["read_raw_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with InventoryReader(path) as r:
        for _ in r.studies():
            pass
    out["read_typed_s"] = time.perf_counter() - t
    out["studies"] = n
    return out


def bench_validate(path: Path) -> float | None:
    try:
        from dicom_inventory.validate import validate_file  # type: ignore[attr-defined]
    except ImportError:
        return None
    t = time.perf_counter()
    findings = list(validate_file(path))
    dt = time.perf_counter() - t
    errors = [f for f in findings if str(getattr(f.severity, "value", f.severity)) == "error"]
    if errors:
        print(f"  (validator reported {len(errors)} errors, first: {errors[0]})")
    return dt


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB.

    Linux's VmHWM, which starts afresh at exec (``ru_maxrss`` would include the parent's
    memory at fork time); ``ru_maxrss`` elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(n_instances: int, out_dir: str) -> None:
    """In a fresh process: write, read and validate `n_instances` streaming; print peak RSS."""
    from dicom_inventory import write_inventory

    n_studies = n_instances // (SERIES * INSTANCES)
    t = time.perf_counter()
    (w,) = write_inventory(
        out_dir,
        header(),
        synthetic_studies(n_studies, series_per_study=SERIES, instances_per_series=INSTANCES),
    )
    t_write = time.perf_counter() - t
    rss_write = peak_rss_mb()
    t = time.perf_counter()
    with InventoryReader(w.path) as r:
        for _ in r.studies():
            pass
    t_read = time.perf_counter() - t
    rss_read = peak_rss_mb()
    t_val = bench_validate(w.path)
    rss_all = peak_rss_mb()
    print(
        json.dumps(
            {
                "records": w.number_of_records,
                "bytes": os.path.getsize(w.path),
                "write_s": t_write,
                "read_s": t_read,
                "validate_s": t_val,
                "peak_rss_mb_after_write": rss_write,
                "peak_rss_mb_after_read": rss_read,
                "peak_rss_mb": rss_all,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--rss-instances", type=int, default=5_000_000)
    ap.add_argument(
        "--baseline-studies", type=int, default=100, help="studies for the pydicom baseline"
    )
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_instances, args.rss_child)
        return

    block_studies = 500  # 100,000 instance records materialized, encoded repeatedly
    repeat = max(1, args.instances // (block_studies * SERIES * INSTANCES))
    print(
        f"dicom-inventory IOD benchmark: {repeat * block_studies * SERIES * INSTANCES:,} instance records "
        f"(1:{SERIES}:{INSTANCES}), Python {sys.version.split()[0]}, one core"
    )
    block = materialized(block_studies)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.dcm"
        enc_s, n = bench_encode(path, block, repeat)
        size = path.stat().st_size
        base_block = block[: args.baseline_studies]
        base_s, base_n = bench_pydicom(base_block)
        ours_small_s, ours_small_n = bench_encode(Path(tmp) / "small.dcm", base_block, 1)
        rd = bench_read(path)
        val_s = bench_validate(path)
        enc_rate = n / enc_s
        base_rate = base_n / base_s
        rows = [
            ("records in file", f"{n:,}", ""),
            ("file size", f"{size / 1e6:,.1f} MB", f"{size / n:.0f} B/record"),
            ("encode (ours)", f"{enc_rate:,.0f} rec/s", ">= 200,000"),
            (
                "encode (pydicom Dataset + dcmwrite)",
                f"{base_rate:,.0f} rec/s",
                f"{base_n:,} records",
            ),
            (
                "encode ratio, same records, same run",
                f"{(ours_small_n / ours_small_s) / base_rate:.1f}x",
                ">= 30x",
            ),
            ("read raw data sets", f"{n / rd['read_raw_s']:,.0f} rec/s", ">= 300,000"),
            ("read typed records", f"{n / rd['read_typed_s']:,.0f} rec/s", ""),
            (
                "validate",
                f"{n / val_s:,.0f} rec/s" if val_s else "n/a (no validator)",
                ">= 100,000",
            ),
        ]
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--rss-child",
                tmp,
                "--rss-instances",
                str(args.rss_instances),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rss = json.loads(child.stdout.strip().splitlines()[-1])
        rows.append(
            (
                f"peak RSS, {rss['records']:,} records write+read+validate",
                f"{rss['peak_rss_mb']:.0f} MB",
                "< 200 MB",
            )
        )
        rows.append(
            (
                "  (of which write / read / validate s)",
                f"{rss['write_s']:.0f} / {rss['read_s']:.0f} / {rss['validate_s'] or 0:.0f}",
                "",
            )
        )
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:>22}  {target}")


if __name__ == "__main__":
    main()
