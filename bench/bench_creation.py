"""Benchmark of the Inventory Creation path against a Study Root C-FIND listing (issue 6).

One run, one server (``dicom-inventory serve`` as its own process, over loopback), one
archive of N synthetic instances (index rows bulk-loaded into SQLite, as in
``bench_production.py``; N = 1,000,000 by default):

* **inventory path**: time from the N-ACTION (Initiate, level INSTANCE, whole archive) to the
  final N-EVENT-REPORT, then to every Inventory SOP Instance retrieved by Inventory GET;
* **baseline**: listing the same archive by Study Root C-FIND from the same server, study ->
  series -> instance, the way migration tools do it today;
* the ratio baseline / inventory path                                    [target >= 50x]

The clients are raw pynetdicom in this process. ``--cfind-sample F`` lists only a fraction F of
the studies by C-FIND and extrapolates linearly (the figure printed says so).

With ``--postgres`` the same instances are COPY-loaded into a throwaway PostgreSQL server and
the node serves them from there (``repository = "postgresql://..."``): the time to the final
event (11) is then PostgreSQL's.

Usage::

    python bench/bench_creation.py                        # 1,000,000 instances
    python bench/bench_creation.py --instances 100000     # quicker
    python bench/bench_creation.py --postgres --cfind-sample 0.01
"""

from __future__ import annotations

import argparse
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_production import fill_index, synthetic_entries  # noqa: E402
from dicom_inventory import iter_inventory  # noqa: E402
from dicom_inventory.uid import generate_uid  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom import AE, build_role, evt  # noqa: E402
from pynetdicom.sop_class import (  # noqa: E402
    InventoryCreation,
    InventoryGet,
    InventoryStorage,
    StudyRootQueryRetrieveInformationModelFind,
)

WELL_KNOWN = "1.2.840.10008.5.1.4.1.1.201.1.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"server did not start on {port}")


def inventory_path(port: int, listen_port: int, out: Path) -> tuple[float, float, int]:
    events: queue.Queue[Dataset] = queue.Queue()
    ae = AE(ae_title="BENCH")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 600
    ae.add_supported_context(InventoryCreation, scu_role=False, scp_role=True)

    def on_report(event: Any) -> tuple[int, None]:
        if event.request.EventTypeID in (11, 13):
            events.put(event.event_information)
        return 0, None

    server = ae.start_server(
        ("127.0.0.1", listen_port), block=False, evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)]
    )
    ae.add_requested_context(InventoryCreation)
    txn = generate_uid()
    ds = Dataset()
    ds.TransactionUID = txn
    ds.InventoryLevel = "INSTANCE"
    ds.ScopeOfInventorySequence = []
    t0 = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port, ae_title="INV_SCP")
    status, _ = assoc.send_n_action(ds, 11, InventoryCreation, WELL_KNOWN)
    assoc.release()
    assert status.Status == 0, hex(status.Status)
    final = events.get(timeout=3600)
    t1 = time.perf_counter()
    assert final.TransactionStatus == "COMPLETE", final
    server.shutdown()

    got = AE(ae_title="BENCH")
    got.acse_timeout = got.dimse_timeout = got.network_timeout = 600
    got.maximum_pdu_size = 0
    got.add_requested_context(InventoryGet)
    got.add_requested_context(InventoryStorage)
    out.mkdir(parents=True, exist_ok=True)

    def on_store(event: Any) -> int:
        (out / f"{event.request.AffectedSOPInstanceUID}.dcm").write_bytes(
            event.encoded_dataset(include_meta=True)
        )
        return 0

    assoc = got.associate(
        "127.0.0.1",
        port,
        ae_title="INV_SCP",
        ext_neg=[build_role(InventoryStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    q = Dataset()
    q.TransactionUID = txn
    statuses = [s.Status for s, _ in assoc.send_c_get(q, InventoryGet)]
    assoc.release()
    t2 = time.perf_counter()
    assert statuses[-1] == 0, statuses
    root = out / f"{final.ReferencedSOPInstanceUID}.dcm"
    n = sum(len(se.instances) for st in iter_inventory(root) for se in st.series)
    return t1 - t0, t2 - t1, n


def cfind_listing(port: int, sample: float) -> tuple[float, int, int]:
    ae = AE(ae_title="BENCH")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 600
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    model = StudyRootQueryRetrieveInformationModelFind
    t0 = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port, ae_title="INV_SCP")

    def find(level: str, **keys: str) -> list[Dataset]:
        q = Dataset()
        q.QueryRetrieveLevel = level
        for k, v in keys.items():
            setattr(q, k, v)
        return [i for s, i in assoc.send_c_find(q, model) if s and s.Status in (0xFF00, 0xFF01)]

    studies = find("STUDY", StudyInstanceUID="", PatientID="", StudyDate="")
    chosen = studies[: max(1, int(len(studies) * sample))]
    instances = 0
    for st in chosen:
        for se in find("SERIES", StudyInstanceUID=st.StudyInstanceUID, SeriesInstanceUID=""):
            instances += len(
                find(
                    "IMAGE",
                    StudyInstanceUID=st.StudyInstanceUID,
                    SeriesInstanceUID=se.SeriesInstanceUID,
                    SOPInstanceUID="",
                )
            )
    assoc.release()
    return time.perf_counter() - t0, instances, len(studies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--cfind-sample", type=float, default=1.0)
    parser.add_argument("--postgres", action="store_true", help="serve from PostgreSQL")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-creation-"))
    pg = None
    try:
        archive = work / "archive"
        t = time.perf_counter()
        repository = ""
        if args.postgres:
            from dicom_inventory.scp.postgres import PostgresArchive
            from dicom_inventory.scp.postgres.throwaway import PostgresServer, find_bin

            bin_dir = find_bin()
            if bin_dir is None:
                raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
            pg = PostgresServer(bin_dir)
            pg.start()
            url = pg.url(pg.new_database().rsplit("=", 1)[1])
            with PostgresArchive(url) as db:
                db.load_entries(synthetic_entries(args.instances))
            repository = f'repository = "{url}"\n'
        else:
            fill_index(archive, args.instances)
        where = "PostgreSQL (COPY)" if args.postgres else "SQLite"
        print(
            f"archive: {args.instances:,} instances indexed in {where} in "
            f"{time.perf_counter() - t:.1f} s"
        )
        port, listen = _free_port(), _free_port()
        config = work / "node.toml"
        config.write_text(
            f'ae_title = "INV_SCP"\nport = {port}\narchive = "{archive}"\n{repository}'
            f"[limits]\ndimse_timeout = 600\nnetwork_timeout = 600\n"
            f'[peers.BENCH]\nae_title = "BENCH"\nhost = "127.0.0.1"\nport = {listen}\n'
        )
        exe = shutil.which("dicom-inventory")
        cmd = [exe] if exe else [sys.executable, "-m", "dicom_inventory"]
        log = (work / "serve.log").open("wb")
        proc = subprocess.Popen([*cmd, "serve", "--config", str(config)], stdout=log, stderr=log)
        try:
            _wait(port)
            produce, retrieve, n = inventory_path(port, listen, work / "got")
            total = produce + retrieve
            print(
                f"inventory path: N-ACTION -> final event {produce:.1f} s; retrieval "
                f"{retrieve:.1f} s; total {total:.1f} s; {n:,} instance records "
                f"({n / total:,.0f} records/s)"
            )
            assert n == args.instances, n
            elapsed, listed, n_studies = cfind_listing(port, args.cfind_sample)
            if args.cfind_sample < 1.0:
                full = elapsed * n_studies / max(1, int(n_studies * args.cfind_sample))
                print(
                    f"C-FIND listing: {listed:,} instances of a {args.cfind_sample:.0%} sample "
                    f"in {elapsed:.1f} s -> {full:.0f} s extrapolated to the whole archive"
                )
            else:
                full = elapsed
                print(
                    f"C-FIND listing: {listed:,} instances in {elapsed:.1f} s "
                    f"({listed / elapsed:,.0f} instances/s)"
                )
                assert listed == args.instances, listed
            print(f"ratio C-FIND listing / inventory path: {full / total:.1f}x   [target >= 50x]")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            log.close()
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
