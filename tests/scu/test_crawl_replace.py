"""crawl into an --out that holds an inventory: refused unless --replace, as ``create`` does;
an unfinished crawl there resumes; a failed crawl says what crawl.sqlite is for.

Against the listing SCP of tests/scu/find_peers.py (real sockets on 127.0.0.1).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scu.crawl import CrawlError, CrawlOutputExists, crawl
from dicom_inventory.scu.peer import Peer
from dicom_inventory.uid import STUDY_ROOT_FIND
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from tests.scp.raw_peer import free_port
from tests.scu.find_peers import listing_scp


def _cli(port: int, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dicom_inventory", "crawl", "--peer", f"PACS@127.0.0.1:{port}"]
    cmd += ["--out", str(out), "--timeout", "5", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_a_finished_inventory_is_refused_without_replace(tmp_path: Path) -> None:
    out = tmp_path / "inv"
    with listing_scp() as port:
        first = _cli(port, out)
        assert first.returncode == 0, first.stderr
        kept = sorted(out.glob("*.dcm"))
        again = _cli(port, out)
        assert again.returncode == ExitCode.USAGE, again.stderr  # before: 0, replaced silently
        assert "--replace" in again.stderr and "Traceback" not in again.stderr
        assert sorted(out.glob("*.dcm")) == kept
        replaced = _cli(port, out, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert len(list(out.glob("*.dcm"))) == 1 and sorted(out.glob("*.dcm")) != kept


def test_an_inventory_of_another_making_is_refused_too(tmp_path: Path) -> None:
    out = tmp_path / "inv"
    out.mkdir()
    (out / "2.25.1.dcm").write_bytes(b"made by create")
    with listing_scp() as port, pytest.raises(CrawlOutputExists, match="--replace"):
        crawl(Peer("PACS", "127.0.0.1", port), out)
    assert (out / "2.25.1.dcm").read_bytes() == b"made by create"


def test_an_unfinished_crawl_resumes_without_replace(tmp_path: Path) -> None:
    """A --replace crawl stopped half-way: its crawl.sqlite is unfinished, the old inventory
    still there; the same command (with or without --replace) resumes."""
    out = tmp_path / "inv"
    with listing_scp() as port:
        crawl(Peer("PACS", "127.0.0.1", port), out)
        db = sqlite3.connect(out / "crawl.sqlite")
        db.execute("DELETE FROM state WHERE key = 'written'")  # as if stopped before the end
        db.execute("UPDATE studies SET done = 0")
        db.commit()
        db.close()
        report = crawl(Peer("PACS", "127.0.0.1", port), out)
    assert report.complete and report.studies == 3


@contextmanager
def _failing_after_listing() -> Iterator[int]:
    """Lists one study, then fails every SERIES query with 0xC000; yields its port."""

    def handle(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        if event.identifier.QueryRetrieveLevel == "STUDY":
            ds = Dataset()
            ds.StudyInstanceUID, ds.PatientID, ds.StudyDate = "2.25.9100.1", "P1", "20200101"
            yield 0xFF00, ds
            return
        yield 0xC000, None

    ae = AE(ae_title="PACS")
    ae.add_supported_context(STUDY_ROOT_FIND)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, handle)]
    )
    assert server is not None  # block=False: the server runs in its own thread
    try:
        yield port
    finally:
        server.shutdown()


def test_a_failed_crawl_says_what_crawl_sqlite_is_for(tmp_path: Path) -> None:
    out = tmp_path / "inv"
    with _failing_after_listing() as port, pytest.raises(CrawlError) as failed:
        crawl(Peer("PACS", "127.0.0.1", port), out, timeout=5)
    message = str(failed.value)
    assert "0xC000" in message
    assert str(out / "crawl.sqlite") in message and "resumes" in message


def test_a_crawl_failing_before_listing_anything_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "inv"
    done = _cli(free_port(), out)
    assert done.returncode == ExitCode.PEER
    assert not out.exists()  # before: a folder holding only crawl.sqlite
