"""Benchmark of the typed export (issue 21): rows/s and peak RSS, before and after.

The same synthetic INSTANCE inventory (``synthetic_studies``, split into several instances
like ``bench/bench_scu.py``) is exported to Parquet (and CSV, JSON Lines) in a child process
per run, once with the exporter of this checkout and once with ``scu/export.py`` of an older
revision (default: the last one with the untyped schema), loaded from ``git show``. Each
child prints its rows/s (wall clock, and per second of its own CPU time, which a loaded
machine disturbs less) and its peak RSS (``VmHWM``); one process (``--workers 1``) by
default, so the figures are the exporter's own, not a pool's.

Usage::

    python bench/bench_export_types.py                        # 200,000 instances
    python bench/bench_export_types.py --instances 1000000 --formats parquet
    python bench/bench_export_types.py --before-rev e5c96f2 --workers 2
    python bench/bench_export_types.py --repeat 3          # best of 3, alternating
"""

from __future__ import annotations

import argparse
import json
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
from dicom_inventory.synthetic import synthetic_studies  # noqa: E402
from dicom_inventory.uid import generate_uid  # noqa: E402

SERIES, PER_SERIES = 4, 25  # 100 instances per study
#: The last revision whose export wrote untyped (text and integer) columns.
BEFORE_REV = "e5c96f2"

_CHILD = """
import importlib.util, json, sys, time
module, root, out, fmt, workers = sys.argv[1:6]
if module == "-":
    from dicom_inventory.scu import export
else:
    spec = importlib.util.spec_from_file_location("export_before", module)
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
t, cpu = time.perf_counter(), time.process_time()
rows = export.export_inventory([root], out, fmt, workers=int(workers))
dt, cpu = time.perf_counter() - t, time.process_time() - cpu
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"rows": rows, "seconds": dt, "cpu": cpu, "rss_kb": hwm}))
"""


def _inventory(out: Path, studies: int) -> Path:
    header = InventoryHeader(
        sop_instance_uid=generate_uid(),
        inventory_level=InventoryLevel.INSTANCE,
        content_date="20261201",
        content_time="120000",
    )
    written = write_inventory(
        out,
        header,
        synthetic_studies(studies, series_per_study=SERIES, instances_per_series=PER_SERIES),
        max_records=2000,
    )
    assert written[0].path is not None
    return Path(written[0].path)


def _run(module: str, root: Path, out: Path, fmt: str, workers: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, module, str(root), str(out), fmt, str(workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    result["mb"] = out.stat().st_size / 1e6
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=200_000)
    ap.add_argument("--formats", default="parquet,csv,jsonl")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--before-rev", default=BEFORE_REV)
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs of each, alternating; the best is shown"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = Path(tmp)
        before = work / "export_before.py"
        before.write_text(
            subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{args.before_rev}:scu/export.py"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        studies = args.instances // (SERIES * PER_SERIES)
        t = time.perf_counter()
        root = _inventory(work / "inv", studies)
        print(
            f"setup: {studies * SERIES * PER_SERIES:,} instances in {time.perf_counter() - t:.1f} s"
        )
        for fmt in args.formats.split(","):
            labelled = ((f"before ({args.before_rev})", str(before)), ("typed", "-"))
            best: dict[str, dict[str, float]] = {}
            for _ in range(args.repeat):  # alternating, so both see the same machine load
                for label, module in labelled:
                    r = _run(module, root, work / f"out.{fmt}", fmt, args.workers)
                    if label not in best or r["cpu"] < best[label]["cpu"]:
                        best[label] = r
            for label, _ in labelled:
                r = best[label]
                print(
                    f"export {fmt:<8} {label:<17} {r['rows']:,.0f} rows  "
                    f"{r['rows'] / r['seconds']:>9,.0f} rows/s ({r['rows'] / r['cpu']:>7,.0f} per CPU s)"
                    f"  peak RSS {r['rss_kb'] / 1024:4.0f} MB"
                    f"  file {r['mb']:6.1f} MB"
                )


if __name__ == "__main__":
    main()
