"""Benchmark of ``summary`` (issue 21): records/s and peak RSS on a synthetic inventory.

The inventory is written by ``dicom-inventory sample`` (split into instances of at most
``--max-records`` records, a root and its leaves), then summarized three ways, each in a child
process whose peak RSS (VmHWM, from ``/proc/self/status``) is printed:

* **read**: only the byte-level rows the summary asks for
  (:func:`~dicom_inventory.rows.iter_raw_rows` over :func:`~dicom_inventory.read.tree_paths`),
  the reader's ceiling for these columns;
* **summary**: :func:`~dicom_inventory.scu.summary.summarize`, the figures only;
* **summary + HTML**: the figures and the self-contained page with its charts
  (:func:`~dicom_inventory.scu.pages.render_summary_html`);
* **summary, N workers**: the files of the tree read by N processes (``--workers``, default 2)
  and the runs merged; its peak RSS is the parent's (each worker's is about the one-process
  figure).

Memory must not grow with the records (counters and a top-N heap): run it at two sizes and
compare the peaks.

Usage::

    python bench/bench_summary.py                       # 200,000 instances
    python bench/bench_summary.py --instances 1000000
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

SERIES, PER_SERIES = 4, 50  # 200 instances per study, as `sample` makes them by default

_CHILD = r"""
import json, sys, time
from pathlib import Path
mode, root, out = sys.argv[1], sys.argv[2], sys.argv[3]
from dicom_inventory import InventoryReader, iter_raw_rows, tree_paths
from dicom_inventory.scu.summary import _COLUMNS, summarize
from dicom_inventory.scu.pages import render_summary_html
t = time.perf_counter()  # imports done: the rate is of the work alone
if mode == "read":
    n = 0
    for path in tree_paths([root]):
        with InventoryReader(path) as r:
            for _ in iter_raw_rows(r, _COLUMNS):
                n += 1
elif mode.startswith("workers"):
    s = summarize([root], workers=int(mode[len("workers"):]))
    n = s.rows
else:
    s = summarize([root])
    n = s.rows
    if mode == "html":
        render_summary_html(s, out)
seconds = time.perf_counter() - t
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"rows": n, "seconds": seconds, "vmhwm_kb": hwm}))
"""


def _run(mode: str, root: Path, out: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(root), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Write the sample, summarize it three ways, print rates and peaks."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=200_000)
    ap.add_argument("--max-records", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    studies = max(1, args.instances // (SERIES * PER_SERIES))
    with tempfile.TemporaryDirectory(prefix="bench-summary-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "dicom_inventory", "sample", "--out", str(work / "inv")]
            + ["--studies", str(studies), "--series-per-study", str(SERIES)]
            + ["--instances-per-series", str(PER_SERIES)]
            + ["--max-records", str(args.max_records)],
            check=True,
            capture_output=True,
            text=True,
        )
        root = Path(done.stdout.split()[0])  # `sample` prints the root first
        files = sorted((work / "inv").glob("*.dcm"))
        size = sum(f.stat().st_size for f in files)
        print(
            f"setup: {studies * SERIES * PER_SERIES:,} instances, {len(files)} files, "
            f"{size / 1e6:,.0f} MB, written in {time.perf_counter() - t:.1f} s"
        )
        modes = (
            ("read", "read rows only"),
            ("summary", "summary"),
            ("html", "summary + HTML"),
            (f"workers{args.workers}", f"summary, {args.workers} workers"),
        )
        for mode, label in modes:
            r = _run(mode, root, work / "summary.html")
            print(
                f"{label:<20} {r['rows']:>12,.0f} rows  {r['rows'] / r['seconds']:>10,.0f} rows/s"
                f"  {r['seconds']:>7.1f} s  peak RSS {r['vmhwm_kb'] / 1024:>6.0f} MB"
            )


if __name__ == "__main__":
    main()
