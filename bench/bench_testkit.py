"""Benchmark of the connectathon test kit (issue 9): the whole ``testkit scp`` battery against
our own node on a 10,000-instance archive, in one process. Target: under 2 minutes.

The archive's index is bulk-loaded into SQLite (as in ``bench_production.py``); the node
runs with its default configuration (4 partitions, no record cap) plus the kit as a peer.

Usage::

    python bench/bench_testkit.py                  # 10,000 instances
    python bench/bench_testkit.py --instances 2000 --max-records 7
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_production import fill_index  # noqa: E402
from dicom_inventory.conformance.testkit import Outcome, ScpKit, run_scp_battery  # noqa: E402
from dicom_inventory.scp.config import load_config  # noqa: E402
from dicom_inventory.scp.server import InventoryNode  # noqa: E402
from dicom_inventory.scu.peer import Peer  # noqa: E402

from tests.scp.raw_peer import free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=10_000)
    ap.add_argument("--max-records", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-kit-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        fill_index(work / "archive", args.instances, per_series=10, per_study=2)
        print(f"setup: index of {args.instances:,} instances in {time.perf_counter() - t:.1f} s")
        listen = free_port()
        limits = {"max_records": args.max_records} if args.max_records else {}
        config = load_config(
            archive=work / "archive",
            port=0,
            ae_title="INV_SCP",
            peers={"KIT": {"ae_title": "INV_TESTKIT", "host": "127.0.0.1", "port": listen}},
            limits={"event_backoff": 0.2, **limits},
        )
        node = InventoryNode(config)
        node.start()
        try:
            t = time.perf_counter()
            report = run_scp_battery(
                ScpKit(
                    Peer("INV_SCP", "127.0.0.1", node.port), listen_port=listen, work=work / "kit"
                )
            )
            dt = time.perf_counter() - t
        finally:
            node.stop()
        for r in report.results:
            print(
                f"  {r.outcome.value:<15} {r.id:<20} {r.seconds:6.2f} s  {r.evidence[0][:90] if r.evidence else ''}"
            )
        summary = ", ".join(f"{report.count(o)} {o.value}" for o in Outcome)
        print(
            f"testkit scp battery, {args.instances:,} instances: {dt:.1f} s ({summary})   [target < 120 s]"
        )


if __name__ == "__main__":
    main()
