"""Durability: SIGKILL the real ``dicom-inventory serve`` process in the middle of an
Inventory Creation job, start it again, and check that the job resumes, the requester gets
exactly one final event, and no inventory instance is lost or duplicated (issue 6)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dicom_inventory import iter_inventory, read_header, validate_file
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.jobs import SQLiteJobStore as JobStore
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.uid import generate_uid

from tests.scp.raw_peer import Requester, free_port, wait_listening, write_node_toml


def _serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("dicom-inventory")
    cmd = [exe] if exe else [sys.executable, "-m", "dicom_inventory"]
    with log.open("ab") as f:
        return subprocess.Popen([*cmd, "serve", "--config", str(config)], stdout=f, stderr=f)


def test_sigkill_in_the_middle_of_a_job_then_restart(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=32, series_per_study=1, instances_per_series=2)
    requester = Requester().listen()
    port = free_port()
    config = write_node_toml(
        tmp_path,
        archive,
        port,
        (requester.ae_title, requester.port),
        {"production_pace": 0.12, "partitions": 8, "event_backoff": 0.2},
    )
    log = tmp_path / "serve.log"
    proc = _serve(config, log)
    try:
        wait_listening(port)
        txn = generate_uid()
        assert requester.initiate(port, txn, "SERIES").Status == 0x0000
        state = archive / "inventories" / ".jobs" / txn / "production.json"
        deadline = time.monotonic() + 30
        while not (state.exists() and len(json.loads(state.read_text())["done"]) >= 2):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        done_at_kill = len(json.loads(state.read_text())["done"])
        assert done_at_kill < 8  # really killed in the middle

        proc = _serve(config, log)  # same port, same archive
        wait_listening(port)
        _, (etype, ev, _) = requester.until_final(timeout=60)
        assert etype == 11 and ev.TransactionStatus == "COMPLETE", log.read_text()
        assert ev.TotalNumberOfStudyRecords == 32
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        requester.close()
    assert "resuming inventory job" in log.read_text()
    folder = archive / "inventories" / txn
    files = sorted(folder.rglob("*.dcm"))
    assert len(files) == 9  # root + 8 partitions: nothing duplicated, nothing left over
    assert not (archive / "inventories" / ".jobs" / txn).exists()
    for f in files:
        assert [x for x in validate_file(f) if x.severity.name == "ERROR"] == []
    root = folder / f"{ev.ReferencedSOPInstanceUID}.dcm"
    assert read_header(root).completion_status.value == "COMPLETE"
    uids = [st.study_instance_uid for st in iter_inventory(root)]
    assert len(uids) == len(set(uids)) == 32
    # exactly one final event was queued and delivered; the job is COMPLETE in the database
    store = JobStore(archive / "index.sqlite")
    try:
        finals = [e for e in store.events(txn) if e["event_type"] in (11, 13)]
        assert len(finals) == 1 and finals[0]["delivered"]
        job = store.get(txn)
        assert job is not None and job.state == "COMPLETE"
    finally:
        store.close()
    assert requester.events.empty()  # no second final event arrived


def test_sigterm_checkpoints_the_job_and_the_next_start_finishes_it(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=24, series_per_study=1, instances_per_series=1)
    requester = Requester().listen()
    port = free_port()
    config = tmp_path / "node.toml"
    config.write_text(
        f'ae_title = "INV_SCP"\nport = {port}\narchive = "{archive}"\n'
        "[limits]\nproduction_pace = 0.1\npartitions = 4\nevent_backoff = 0.2\n"
        f'[peers.REQ]\nae_title = "{requester.ae_title}"\nhost = "127.0.0.1"\n'
        f"port = {requester.port}\n"
    )
    log = tmp_path / "serve.log"
    proc = _serve(config, log)
    try:
        wait_listening(port)
        txn = generate_uid()
        assert requester.initiate(port, txn, "STUDY").Status == 0x0000
        state = archive / "inventories" / ".jobs" / txn / "production.json"
        deadline = time.monotonic() + 30
        while not (state.exists() and json.loads(state.read_text())["done"]):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - t < 10  # checkpointed at the next study, not run to the end
        assert "checkpointed for shutdown" in log.read_text()
        store = JobStore(archive / "index.sqlite")
        job = store.get(txn)
        store.close()
        assert job is not None and job.state == "PROCESSING" and state.exists()

        proc = _serve(config, log)
        wait_listening(port)
        _, (etype, ev, _) = requester.until_final(timeout=60)
        assert etype == 11 and ev.TotalNumberOfStudyRecords == 24
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        requester.close()
    root = archive / "inventories" / txn / f"{ev.ReferencedSOPInstanceUID}.dcm"
    uids = [st.study_instance_uid for st in iter_inventory(root)]
    assert len(uids) == len(set(uids)) == 24
