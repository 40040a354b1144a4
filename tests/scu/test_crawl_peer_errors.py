"""crawl ends, with the peer's reason and exit 4, when the peer refuses or stays silent.

Each case runs the real command in a child process against a real socket on 127.0.0.1: a PACS
that rejects our calling AE title, a listener that never answers, an SCP that accepts the
association and never answers the C-FIND, and nothing listening. Before the fix, a silent peer
kept the crawl waiting one DIMSE timeout per date window, for hours, with no output; Ctrl-C
then waited for the association release.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dicom_inventory import validate_file
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scu.crawl import CrawlError, CrawlProgress, crawl
from dicom_inventory.scu.peer import Peer

from tests.scp.raw_peer import free_port
from tests.scu.find_peers import (
    ARCHIVE,
    failing_scp,
    listing_scp,
    mute_listener,
    rejecting_scp,
    silent_find_scp,
)

#: A guard against a hang only (the command is expected to end within seconds of --timeout).
HANG = 60


def _crawl_cli(port: int, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dicom_inventory", "crawl"]
    cmd += ["--peer", f"PACS@127.0.0.1:{port}", "--out", str(out), "--timeout", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HANG)


def _ends_with_peer_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == ExitCode.PEER, done.stdout + done.stderr
    # lstrip: cli/options.progress ends with a newline even when stderr is not a terminal
    assert done.stderr.lstrip().startswith("error:"), done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_a_rejected_calling_ae_title_ends_the_crawl_with_the_reason(tmp_path: Path) -> None:
    with rejecting_scp() as port:
        done = _crawl_cli(port, tmp_path / "inv", "--calling-ae", "NOT_KNOWN")
    message = _ends_with_peer_error(done)
    assert "Calling AE title not recognised" in message
    assert "NOT_KNOWN" in message  # which title to register at the PACS
    assert not list((tmp_path / "inv").glob("*.dcm"))


def test_a_listener_that_never_answers_ends_the_crawl_after_the_timeout(tmp_path: Path) -> None:
    with mute_listener() as (port, _connected):
        message = _ends_with_peer_error(_crawl_cli(port, tmp_path / "inv"))
    assert "within 2" in message


def test_a_peer_silent_on_c_find_ends_the_crawl_after_the_timeout(tmp_path: Path) -> None:
    with silent_find_scp() as (port, _asked):
        message = _ends_with_peer_error(_crawl_cli(port, tmp_path / "inv"))
    assert "no answer to the C-FIND" in message and "within 2 s" in message
    assert not list((tmp_path / "inv").glob("*.dcm"))  # no inventory, PARTIAL or otherwise


def test_nothing_listening_ends_the_crawl(tmp_path: Path) -> None:
    message = _ends_with_peer_error(_crawl_cli(free_port(), tmp_path / "inv"))
    assert "connection refused" in message


def test_the_library_stops_at_the_first_silent_query(tmp_path: Path) -> None:
    seen: list[CrawlProgress] = []
    with silent_find_scp() as (port, _asked), pytest.raises(CrawlError, match="C-FIND"):
        crawl(Peer("PACS", "127.0.0.1", port), tmp_path / "inv", timeout=1, progress=seen.append)
    assert seen[-1].queries == 1  # no second query, no new association per date window


def test_a_failure_status_ends_the_crawl_instead_of_splitting_it(tmp_path: Path) -> None:
    """0xC000 (Unable to process) is no truncation: a narrower query does not help."""
    seen: list[CrawlProgress] = []
    with failing_scp(0xC000) as port, pytest.raises(CrawlError, match="0xC000"):
        crawl(Peer("PACS", "127.0.0.1", port), tmp_path / "inv", progress=seen.append)
    assert seen[-1].queries == 1


def test_a_finished_crawl_run_again_asks_the_archive_again(tmp_path: Path) -> None:
    """crawl.sqlite resumes an unfinished crawl only: a finished one is not replayed."""
    with listing_scp() as port:
        first = crawl(Peer("PACS", "127.0.0.1", port), tmp_path / "inv")
    assert first.complete
    with pytest.raises(CrawlError, match="connection refused"):  # the archive is gone
        crawl(Peer("PACS", "127.0.0.1", free_port()), tmp_path / "inv", timeout=2, replace=True)
    assert first.written[0].path is not None and first.written[0].path.exists()  # kept


def test_the_inventory_replaces_the_last_one_and_any_half_written_one(tmp_path: Path) -> None:
    """What a crawl killed while writing (SIGKILL: nothing could clean up) left is not kept."""
    out = tmp_path / "inv"
    (out / ".crawl-writing").mkdir(parents=True)
    (out / ".crawl-writing" / "2.25.1.dcm").write_bytes(b"half")
    (out / "2.25.2.dcm").write_bytes(b"an older inventory")
    with listing_scp() as port:
        report = crawl(Peer("PACS", "127.0.0.1", port), out, replace=True)
    assert [w.path for w in report.written] == sorted(out.glob("*.dcm"))
    assert not (out / ".crawl-writing").exists()


def test_a_tree_is_moved_in_whole(tmp_path: Path) -> None:
    with listing_scp() as port:
        report = crawl(Peer("PACS", "127.0.0.1", port), tmp_path / "inv", max_records=4)
    root = report.written[0].path
    assert len(report.written) > 1 and root is not None
    assert sorted(w.path for w in report.written) == sorted((tmp_path / "inv").glob("*.dcm"))
    assert [f for f in validate_file(root) if f.severity.name == "ERROR"] == []


def test_progress_counts_queries_answers_and_names_the_window(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []

    def record(p: CrawlProgress) -> None:
        seen.append((p.queries, p.answers, p.window))

    with listing_scp() as port:
        report = crawl(Peer("PACS", "127.0.0.1", port), tmp_path / "inv", progress=record)
    assert report.complete and report.instances == sum(
        len(sops) for series in ARCHIVE.values() for sops in series.values()
    )
    queries, answers, _ = seen[-1]
    assert queries == report.queries
    studies = len(ARCHIVE)
    series = sum(len(s) for s in ARCHIVE.values())
    assert answers == studies + series + report.instances  # every pending response counted
    windows = [w for _, _, w in seen]
    assert any(w.startswith("studies") for w in windows)
    assert f"study {studies}/{studies}" in " ".join(windows)
    assert [q for q, _, _ in seen] == sorted(q for q, _, _ in seen)


def test_the_terminal_shows_what_the_crawl_waits_for(tmp_path: Path) -> None:
    """Under a terminal, the one progress display names the query and the wait."""
    main, child = pty.openpty()
    cmd = [sys.executable, "-m", "dicom_inventory", "crawl", "--timeout", "3"]
    with silent_find_scp() as (port, _asked):
        proc = subprocess.Popen(
            [*cmd, "--peer", f"PACS@127.0.0.1:{port}", "--out", str(tmp_path / "inv")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=child,
            env={**os.environ, "TERM": "xterm", "COLUMNS": "160"},
        )
        os.close(child)
        screen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        proc.wait(timeout=HANG)
    os.close(main)
    text = screen.decode(errors="replace")
    assert proc.returncode == ExitCode.PEER, text
    assert "1 queries" in text and "waiting" in text, text


def _interrupt(port: int, waiting: threading.Event, out: Path) -> tuple[int, str, str]:
    """Run crawl, SIGINT it once `waiting` is set (it waits for the peer); its exit and output."""
    cmd = [sys.executable, "-m", "dicom_inventory", "crawl", "--timeout", "60"]
    proc = subprocess.Popen(
        [*cmd, "--peer", f"PACS@127.0.0.1:{port}", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.wait(HANG), "the crawl never reached the peer"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=HANG)
    finally:
        proc.kill()
    return proc.returncode, stdout, stderr


def test_ctrl_c_while_the_association_is_pending_ends_cleanly(tmp_path: Path) -> None:
    with mute_listener() as (port, connected):
        code, stdout, stderr = _interrupt(port, connected, tmp_path / "inv")
    assert code == ExitCode.INTERRUPTED, stdout + stderr
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr


def test_ctrl_c_ends_the_crawl_cleanly_and_leaves_no_inventory(tmp_path: Path) -> None:
    out = tmp_path / "inv"
    with silent_find_scp() as (port, asked):
        code, stdout, stderr = _interrupt(port, asked, out)
    assert code == ExitCode.INTERRUPTED, stdout + stderr
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
    assert "interrupted" in stderr and "crawl.sqlite" in stderr  # how to resume
    assert not list(out.glob("*.dcm"))  # nothing that looks like a finished inventory
    assert not list(out.glob(".*"))  # no staging left behind
