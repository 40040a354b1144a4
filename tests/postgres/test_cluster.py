"""Two ``serve`` processes on one PostgreSQL: a job is worked on by one node, survives that
node's death (the other takes it over when the lease lapses), and the requester gets exactly
one final event (issue 18; the lease contract is in scp/stores/jobs.py)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from dicom_inventory import iter_inventory, read_header, validate_file
from dicom_inventory.scp.postgres import PostgresArchive
from dicom_inventory.scp.postgres.throwaway import PostgresServer
from dicom_inventory.uid import generate_uid

from tests.scp.raw_peer import Requester, free_port, wait_listening
from tests.scp.test_crash import _serve


def _config(path: Path, name: str, port: int, url: str, shared: Path, req: Requester) -> Path:
    path.write_text(
        f"""
ae_title = "INV_SCP"
node_id = "{name}"
port = {port}
archive = "{shared / "files"}"
inventories = "{shared / "inventories"}"
repository = "{url}"
[limits]
production_pace = 0.1
partitions = 4
job_lease = 2
event_backoff = 0.2
[peers.REQ]
ae_title = "{req.ae_title}"
host = "127.0.0.1"
port = {req.port}
"""
    )
    return path


def _job(url: str, txn: str) -> tuple[str, str | None, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT state, owner, study_records FROM inventory_jobs WHERE transaction_uid = %s",
            (txn,),
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.url(pg_server.new_database().rsplit("=", 1)[1])


def test_a_job_survives_the_death_of_its_node(pg_url: str, tmp_path: Path) -> None:
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.archive.synth import synthesize

    with Archive(tmp_path / "seed", create=True) as seed:
        synthesize(seed, studies=40, series_per_study=1, instances_per_series=2)
        with PostgresArchive(pg_url) as pg:
            pg.load(seed)
    requester = Requester().listen()
    ports = {"node-a": free_port(), "node-b": free_port()}
    logs = {n: tmp_path / f"{n}.log" for n in ports}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, port in ports.items():
            cfg = _config(tmp_path / f"{name}.toml", name, port, pg_url, tmp_path, requester)
            procs[name] = _serve(cfg, logs[name])
            wait_listening(port)
        txn = generate_uid()
        assert requester.initiate(ports["node-a"], txn, "SERIES").Status == 0x0000
        deadline = time.monotonic() + 30
        while True:  # node-a holds the job and has produced part of it
            state, owner, done = _job(pg_url, txn)
            if owner == "node-a" and done >= 4:
                break
            assert time.monotonic() < deadline, logs["node-a"].read_text()
            time.sleep(0.05)
        procs["node-a"].send_signal(signal.SIGKILL)
        procs["node-a"].wait(timeout=10)
        assert _job(pg_url, txn)[0] == "PROCESSING"

        _, (etype, ev, _) = requester.until_final(timeout=90)
        assert etype == 11 and ev.TransactionStatus == "COMPLETE", logs["node-b"].read_text()
        assert ev.TotalNumberOfStudyRecords == 40
        assert _job(pg_url, txn)[0] == "COMPLETE"
        time.sleep(1.5)  # a second final event would have arrived by now
        assert requester.events.empty()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        requester.close()
    assert "taking over orphaned inventory job" in logs["node-b"].read_text()
    folder = tmp_path / "inventories" / txn
    files = sorted(folder.rglob("*.dcm"))
    assert len(files) == 5  # root + 4 partitions: nothing duplicated
    for f in files:
        assert [x for x in validate_file(f) if x.severity.name == "ERROR"] == [], f
    root = folder / f"{ev.ReferencedSOPInstanceUID}.dcm"
    assert read_header(root).completion_status.value == "COMPLETE"
    uids = [st.study_instance_uid for st in iter_inventory(root)]
    assert len(uids) == len(set(uids)) == 40
    with psycopg.connect(pg_url) as conn:
        finals = conn.execute(
            "SELECT count(*), count(delivered) FROM inventory_events"
            " WHERE transaction_uid = %s AND event_type IN (11, 13)",
            (txn,),
        ).fetchone()
    assert finals == (1, 1)


def test_a_cancel_sent_to_another_node_stops_the_job(pg_url: str, tmp_path: Path) -> None:
    """The wish is recorded in the shared job store; the node producing reads it there."""
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.archive.synth import synthesize
    from dicom_inventory.scp.config import load_config
    from dicom_inventory.scp.server import InventoryNode

    with Archive(tmp_path / "seed", create=True) as seed:
        synthesize(seed, studies=30, series_per_study=1, instances_per_series=1)
        with PostgresArchive(pg_url) as pg:
            pg.load(seed)
    requester = Requester().listen()
    nodes = []
    try:
        for name in ("node-a", "node-b"):
            config = load_config(
                archive=tmp_path / "files",
                inventories=tmp_path / "inventories",
                repository=pg_url,
                node_id=name,
                port=0,
                ae_title="INV_SCP",
                peers={
                    "R": {
                        "ae_title": requester.ae_title,
                        "host": "127.0.0.1",
                        "port": requester.port,
                    }
                },  # fmt: skip
                limits={"production_pace": 0.1, "partitions": 2, "event_backoff": 0.2},
            )
            node = InventoryNode(config)
            node.start()
            nodes.append(node)
        a, b = nodes
        txn = generate_uid()
        assert requester.initiate(a.port, txn, "STUDY").Status == 0x0000
        deadline = time.monotonic() + 20
        while _job(pg_url, txn)[1] != "node-a":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert requester.control(b.port, 13, txn, RetainInstances="NO").Status == 0x0000
        _, (etype, ev, _) = requester.until_final(timeout=30)
        assert etype == 13 and ev.TransactionStatus == "CANCELED"
        assert _job(pg_url, txn)[0] == "CANCELED"
    finally:
        for node in nodes:
            node.stop()
        requester.close()
    assert not (tmp_path / "inventories" / txn).exists()
