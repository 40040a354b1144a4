"""Benchmark: what the progress display costs ``create`` (issue 21).

Produces the same index (N synthetic instances, bulk-loaded into SQLite as in
``bench_production.py``) in 4 partitions in process, in a fresh process each time, three ways:

* no callback (``progress=None``): the baseline;
* a bare callback (``progress=counter``): the library's side of the cost;
* the CLI's display: :func:`dicom_inventory.cli.options.progress` drawn on a real
  pseudo-terminal (the child's stderr is a pty, so rich draws as on a user's screen), with
  the callback ``create`` gives it (one ``update`` per study record).

Prints records per CPU second for each (the process's CPU time, all threads, the display's
own refresh thread included: wall time on a shared machine measures the neighbours), best of
`--repeat` runs alternated, and the cost in per cent of the baseline; the target is
"negligible" (under 3 %). Wall-clock records/s are shown beside it.

Usage::

    python bench/bench_progress.py                      # 100,000 instances
    python bench/bench_progress.py --instances 1000000
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_production import fill_index  # the same synthetic index (run from bench/)

MODES = ("none", "callback", "display")
#: Seconds the idle display is measured for; calls to ``update`` timed.
IDLE_SECONDS, UPDATES = 5.0, 100_000


def parts() -> None:
    """In a fresh process on a pty: the display's two costs, measured apart; print JSON.

    The refresh thread's CPU per second of display (rich redraws 10 times a second), and the
    time of one ``update`` call (``create`` makes one per study record).
    """
    from dicom_inventory.cli.options import progress

    with progress("creating", total=UPDATES, unit="studies") as (display, task):
        cpu = time.process_time()
        time.sleep(IDLE_SECONDS)
        idle = (time.process_time() - cpu) / IDLE_SECONDS
        t = time.perf_counter()
        for n in range(UPDATES):
            display.update(task, completed=n)
        per_call = (time.perf_counter() - t) / UPDATES
    print(json.dumps({"idle_cpu_per_s": idle, "update_s": per_call}), flush=True)


def child(mode: str, archive: Path, out: Path) -> None:
    """In a fresh process: produce with `mode` of progress; print JSON (seconds, records)."""
    from dicom_inventory.cli.options import progress
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.production.partitioned import produce_partitioned

    factory = functools.partial(Archive, archive)
    with Archive(archive) as a:
        total = a.counts()["studies"]
    calls = 0

    def counter(n: int) -> None:
        nonlocal calls
        calls += 1

    t, cpu = time.perf_counter(), time.process_time()
    if mode == "display":
        with progress("creating", total=total, unit="studies") as (display, task):
            _, parts = produce_partitioned(
                factory,
                out,
                level="INSTANCE",
                partitions=4,
                progress=lambda n: display.update(task, completed=n),
            )
    else:
        _, parts = produce_partitioned(
            factory,
            out,
            level="INSTANCE",
            partitions=4,
            progress=counter if mode == "callback" else None,
        )
    dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
    records = sum(p.records for p in parts)
    print(json.dumps({"seconds": dt, "cpu": dcpu, "records": records}), flush=True)


def run_child(mode: str, archive: Path, out: Path) -> dict[str, float]:
    """Run :func:`child` with its stderr on a pseudo-terminal (read and dropped here)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(archive), str(out)],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    while proc.poll() is None:  # drain the display so that the child never blocks on it
        if select.select([master], [], [], 0.1)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                break
    stdout, _ = proc.communicate()
    os.close(master)
    if proc.returncode:
        raise SystemExit(f"child {mode} failed ({proc.returncode})")
    return json.loads(stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--instances", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=3, metavar=("MODE", "ARCHIVE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, archive, out = args.child
        if mode == "parts":
            parts()
        else:
            child(mode, Path(archive), Path(out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        fill_index(root / "arch", args.instances)
        print(f"index of {args.instances:,} instances in {time.perf_counter() - t:.1f} s")
        best: dict[str, float] = {}
        wall: dict[str, float] = {}
        for r in range(args.repeat):
            for mode in MODES:
                res = run_child(mode, root / "arch", root / f"{mode}-{r}")
                best[mode] = max(best.get(mode, 0.0), res["records"] / res["cpu"])
                wall[mode] = max(wall.get(mode, 0.0), res["records"] / res["seconds"])
        costs = run_child("parts", root, root)
        print(
            f"display alone: refresh thread {costs['idle_cpu_per_s'] * 100:.2f} % of a core, "
            f"one update {costs['update_s'] * 1e6:.1f} us "
            f"(create: one per study record; {args.instances // 200:,} study records here)"
        )
        base = best["none"]
        print(f"{'progress':<10} {'records/CPU s':>14} {'cost':>7} {'records/s (wall)':>17}")
        for mode in MODES:
            cost = (base - best[mode]) / base * 100
            print(f"{mode:<10} {best[mode]:>14,.0f} {cost:>6.1f}% {wall[mode]:>17,.0f}")


if __name__ == "__main__":
    main()
