"""The node over a PostgreSQL archive: the command line fills it, Inventory Creation answers.

The requester is raw pynetdicom (tests.scp.raw_peer); the archive index and the job store
live in a throwaway PostgreSQL server; the inventory retrieved by Inventory GET lists exactly
the archive's instances and validates.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dicom_inventory import iter_inventory, validate_file
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.postgres import PostgresArchive
from dicom_inventory.scp.postgres.throwaway import PostgresServer
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.uid import generate_uid
from pydicom.dataset import Dataset

from tests.scp.raw_peer import Requester


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    dsn = pg_server.new_database()
    return pg_server.url(dsn.rsplit("=", 1)[1])


def test_archive_commands_work_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    made = _cli(
        "archive", "synth", "--repository", pg_url, "--archive", str(tmp_path / "files"),
        "--studies", "5", "--series-per-study", "2", "--instances-per-series", "2",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    info = _cli("archive", "info", "--repository", pg_url)
    assert info.returncode == 0, info.stderr
    assert "instances  20" in info.stdout
    bad = _cli("archive", "info", "--repository", "mysql://x/y")
    assert bad.returncode == 2 and "expected a PostgreSQL URL" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_inventory_creation_over_a_postgresql_archive(pg_url: str, tmp_path: Path) -> None:
    files = tmp_path / "files"
    made = _cli(
        "archive", "synth", "--repository", pg_url, "--archive", str(files),
        "--studies", "12", "--series-per-study", "2", "--instances-per-series", "3",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    requester = Requester().listen()
    config = load_config(
        archive=files,
        repository=pg_url,
        port=0,
        ae_title="INV_SCP",
        peers={
            "REQ": {"ae_title": requester.ae_title, "host": "127.0.0.1", "port": requester.port}
        },
        limits={"acse_timeout": 5, "dimse_timeout": 5, "event_backoff": 0.2, "partitions": 3},
    )
    node = InventoryNode(config)
    node.start()
    try:
        txn = generate_uid()
        assert requester.initiate(node.port, txn, "INSTANCE").Status == 0x0000
        _, (etype, ev, _) = requester.until_final()
        assert etype == 11 and ev.TransactionStatus == "COMPLETE"
        assert ev.TotalNumberOfStudyRecords == 12
        query = Dataset()
        query.TransactionUID = txn
        got = requester.c_get(node.port, query, tmp_path / "got")
    finally:
        node.stop()
        requester.close()
    assert len(got) == 4  # the root and 3 partitions
    for f in got:
        assert [x for x in validate_file(f) if x.severity.name == "ERROR"] == [], f
    root = tmp_path / "got" / f"{ev.ReferencedSOPInstanceUID}.dcm"
    listed = {
        inst.sop_instance_uid
        for st in iter_inventory(root)
        for se in st.series
        for inst in se.instances
    }
    with PostgresArchive(pg_url) as pg:
        stored = {
            i.sop_instance_uid
            for st in pg.iter_studies()
            for se in pg.iter_series(st.study_instance_uid)
            for i in pg.iter_instances(se.series_instance_uid)
        }
    assert listed == stored and len(stored) == 72
    # the transaction and its delivered events are in PostgreSQL, not in a SQLite file
    with psycopg.connect(pg_url) as conn:
        (state,) = conn.execute(
            "SELECT state FROM inventory_jobs WHERE transaction_uid = %s", (txn,)
        ).fetchone()
        delivered = conn.execute(
            "SELECT count(*) FROM inventory_events WHERE transaction_uid = %s"
            " AND delivered IS NOT NULL",
            (txn,),
        ).fetchone()
    assert state == "COMPLETE" and delivered[0] >= 1
    assert not list(files.rglob("*.sqlite"))
