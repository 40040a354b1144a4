"""Benchmarks of the migration tools (issue 7): export, diff, fetch, crawl.

Figures printed, each with its baseline from the same run:

* **export**: rows/s to Parquet and CSV from a 1,000,000-instance inventory (split into several
  instances), next to the rate of only reading the records into rows (the reader's ceiling);
  target >= 300,000 rows/s to Parquet;
* **diff**: two 1,000,000-instance inventories (the destination lacks 1 % of the studies),
  wall time and peak RSS of the diff process plus its two loader processes;
  target < 20 s and < 500 MB;
* **fetch**: MB/s reading the linked files out of the embedded archive's containers (ZIP, TAR,
  TAR.GZ, GZIP, BLOB), checked, written to a folder;
* **crawl**: instances/s listing a real Orthanc (``LimitFindResults`` set, so the crawl must
  split) by Study Root C-FIND, next to the inventory path on the same objects (our node:
  N-ACTION, events, Inventory GET, through our SCU).

Usage::

    python bench/bench_scu.py                      # 1,000,000 instances for export and diff
    python bench/bench_scu.py --instances 200000   # quicker
    python bench/bench_scu.py --only crawl
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dicom_inventory import write_inventory  # noqa: E402
from dicom_inventory.enum import InventoryLevel  # noqa: E402
from dicom_inventory.model import InventoryHeader  # noqa: E402
from dicom_inventory.read import iter_inventory  # noqa: E402
from dicom_inventory.rows import iter_rows  # noqa: E402
from dicom_inventory.scu.export import export_inventory  # noqa: E402
from dicom_inventory.synthetic import synthetic_studies  # noqa: E402
from dicom_inventory.uid import generate_uid  # noqa: E402

SERIES, PER_SERIES = 4, 25  # 100 instances per study


def _inventory(out: Path, studies: int, seed: int = 1) -> Path:
    header = InventoryHeader(
        sop_instance_uid=generate_uid(),
        inventory_level=InventoryLevel.INSTANCE,
        content_date="20261201",
        content_time="120000",
    )
    written = write_inventory(
        out,
        header,
        synthetic_studies(
            studies, series_per_study=SERIES, instances_per_series=PER_SERIES, seed=seed
        ),
        max_records=2000,
    )
    assert written[0].path is not None
    return Path(written[0].path)


def bench_export(work: Path, instances: int) -> None:
    studies = instances // (SERIES * PER_SERIES)
    t = time.perf_counter()
    root = _inventory(work / "inv", studies)
    print(
        f"setup: {studies * SERIES * PER_SERIES:,} instances written in {time.perf_counter() - t:.1f} s"
    )
    t = time.perf_counter()
    n = sum(1 for _ in iter_rows(iter_inventory(root)))
    read = n / (time.perf_counter() - t)
    print(f"export baseline: typed records into rows (iter_rows)  {read:>10,.0f} rows/s")
    for fmt in ("parquet", "csv", "jsonl"):
        for workers in (1, None):
            t = time.perf_counter()
            rows = export_inventory([root], work / f"out.{fmt}", fmt, workers=workers)
            dt = time.perf_counter() - t
            size = (work / f"out.{fmt}").stat().st_size / 1e6
            label = "1 process" if workers == 1 else "workers  "
            print(
                f"export {fmt:<8} {label} {rows:,} rows in {dt:5.1f} s  {rows / dt:>10,.0f} rows/s"
                f"  ({rows / dt / read:.2f}x the typed reading rate; {size:,.0f} MB)"
                + ("   [target >= 300,000 rows/s]" if fmt == "parquet" else "")
            )


_DIFF = """
import json, resource, sys, time
from dicom_inventory.scu.diff import diff_inventories
t = time.perf_counter()
r = diff_inventories([sys.argv[1]], [sys.argv[2]], workdir=sys.argv[3])
dt = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the (large) bench process
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": dt, "a": r.source_records, "b": r.destination_records,
  "missing": r.missing, "extra": r.extra, "different": r.different, "self_kb": hwm,
  "child_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def bench_diff(work: Path, instances: int) -> None:
    studies = instances // (SERIES * PER_SERIES)
    a = _inventory(work / "a", studies)
    b = _inventory(work / "b", studies - studies // 100)  # same seed: a prefix of a's studies
    done = subprocess.run(
        [sys.executable, "-c", _DIFF, str(a), str(b), str(work)],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(done.stdout)
    # the two loaders run at the same time: count the larger one twice
    peak = (r["self_kb"] + 2 * r["child_kb"]) / 1024
    print(
        f"diff: {r['a']:,} vs {r['b']:,} rows in {r['seconds']:.1f} s"
        f" ({(r['a'] + r['b']) / r['seconds']:,.0f} rows/s);"
        f" missing {r['missing']:,}, extra {r['extra']:,}, different {r['different']:,};"
        f" peak RSS <= {peak:,.0f} MB (diff {r['self_kb'] / 1024:,.0f} MB + 2 x loader"
        f" {r['child_kb'] / 1024:,.0f} MB)   [target < 20 s, < 500 MB]"
    )


def bench_fetch(work: Path, studies: int) -> None:
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.archive.synth import synthesize
    from dicom_inventory.scp.production import produce
    from dicom_inventory.scu.fetch import FetchPolicy, fetch_inventory

    with Archive(work / "archive", create=True) as arch:
        synthesize(
            arch, studies=studies, series_per_study=2, instances_per_series=10, image_size=256
        )
        (root,) = produce(arch, work / "finv", level="INSTANCE")
    policy = FetchPolicy(allow_roots=(work / "archive",))  # links are absolute file: URIs
    assert root.path is not None
    for workers in (1, 4):
        out = work / f"fetched{workers}"
        t = time.perf_counter()
        s = fetch_inventory([root.path], out, workers=workers, policy=policy)
        dt = time.perf_counter() - t
        print(
            f"fetch ({workers} worker(s)): {s.fetched:,} objects, {s.bytes / 1e6:,.1f} MB in"
            f" {dt:.1f} s: {s.bytes / 1e6 / dt:,.1f} MB/s, {s.fetched / dt:,.0f} objects/s"
            f" (failed {s.failed})"
        )
    out = work / "updated"
    t = time.perf_counter()
    s = fetch_inventory([root.path], out, workers=4, apply_updates=True, policy=policy)
    dt = time.perf_counter() - t
    print(
        f"fetch --apply-updates: {s.fetched:,} objects ({s.updated:,} updated) in {dt:.1f} s:"
        f" {s.bytes / 1e6 / dt:,.1f} MB/s"
    )


def bench_crawl(work: Path, studies: int) -> None:
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.archive.objects import make_image, to_part10
    from dicom_inventory.scp.config import load_config
    from dicom_inventory.scp.server import InventoryNode
    from dicom_inventory.scu.client import EventListener
    from dicom_inventory.scu.crawl import crawl
    from dicom_inventory.scu.peer import Peer
    from dicom_inventory.scu.request import TransactionStore, request_inventory

    from tests.scp.raw_peer import free_port
    from tests.scu.orthanc import Orthanc

    binary = shutil.which("Orthanc", path="/usr/sbin:/usr/bin") or shutil.which("Orthanc")
    if binary is None:
        print("crawl: skipped (no Orthanc; apt-get install orthanc)")
        return
    objects = work / "objects"
    objects.mkdir()
    for s in range(studies):
        for j in range(2):
            for k in range(5):
                ds = make_image(
                    study_uid=f"2.25.9{s}",
                    series_uid=f"2.25.9{s}.{j}",
                    sop_uid=f"2.25.9{s}.{j}.{k}",
                    patient_id=f"P{s % 50:04d}",
                    study_date=f"20{10 + s % 15:02d}{1 + s % 12:02d}{1 + s % 28:02d}",
                    modality="CT",
                    instance_number=k + 1,
                )
                (objects / f"{s}.{j}.{k}.dcm").write_bytes(to_part10(ds))
    n = studies * 10
    orthanc = Orthanc(binary, work / "orthanc", LimitFindResults=100, LimitFindInstances=0)
    try:
        t = time.perf_counter()
        for f in sorted(objects.iterdir()):
            orthanc.upload(f.read_bytes())
        print(f"setup: {n:,} instances uploaded to Orthanc in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        report = crawl(Peer("ORTHANC", "127.0.0.1", orthanc.dicom_port), work / "crawl")
        dt_crawl = time.perf_counter() - t
    finally:
        orthanc.stop()
    print(
        f"crawl of Orthanc (LimitFindResults=100): {report.instances:,} instances,"
        f" {report.queries:,} queries ({report.truncated} truncated) in {dt_crawl:.1f} s:"
        f" {report.instances / dt_crawl:,.0f} instances/s; complete={report.complete}"
    )
    with Archive(work / "ours", create=True) as arch:
        arch.ingest([objects])
    listen = free_port()
    config = load_config(
        archive=work / "ours",
        port=0,
        ae_title="INV_SCP",
        peers={"BENCH": {"ae_title": "BENCH", "host": "127.0.0.1", "port": listen}},
    )
    node = InventoryNode(config)
    node.start()
    store = TransactionStore(work / "state")
    listener = EventListener("BENCH", listen)
    try:
        t = time.perf_counter()
        outcome = request_inventory(
            Peer("INV_SCP", "127.0.0.1", node.port),
            "INSTANCE",
            store=store,
            listener=listener,
            out=work / "requested",
            calling_ae="BENCH",
            timeout=600,
        )
        dt_inv = time.perf_counter() - t
    finally:
        listener.close()
        store.close()
        node.stop()
    assert outcome.files
    print(
        f"inventory path on the same {n:,} instances (our node, N-ACTION -> events -> GET):"
        f" {dt_inv:.2f} s: {n / dt_inv:,.0f} instances/s; crawl takes {dt_crawl / dt_inv:.0f}x"
        " as long"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--fetch-studies", type=int, default=200)
    ap.add_argument("--crawl-studies", type=int, default=300)
    ap.add_argument("--only", choices=["export", "diff", "fetch", "crawl"], default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scu-") as tmp:
        work = Path(tmp)
        for name, run in (
            ("export", lambda w: bench_export(w, args.instances)),
            ("diff", lambda w: bench_diff(w, args.instances)),
            ("fetch", lambda w: bench_fetch(w, args.fetch_studies)),
            ("crawl", lambda w: bench_crawl(w, args.crawl_studies)),
        ):
            if args.only in (None, name):
                (work / name).mkdir()
                run(work / name)
    print(
        f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )


if __name__ == "__main__":
    main()
