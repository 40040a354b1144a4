"""fetch shows its progress and ends cleanly on Ctrl-C (issue 21).

A real ``dicom-inventory fetch`` child fetches from a slow HTTP server on 127.0.0.1 (each GET
waits before it answers) with several workers; SIGINT arrives while objects are in flight. It
must end with exit 130 and ``error: interrupted`` (no worker traceback), leave no staging
folder and no partial object under a final name, and a re-run must take what is already there
and fetch the rest.
"""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scu.fetch import FetchPolicy, fetch_inventory

from tests.cli.terminal import Terminal
from tests.scu.test_fetch_hostile import SERIES, STUDY, _blob, _inventory, _obj, _serve

#: Seconds the slow server waits before each answer: a few records are always in flight.
_DELAY = 0.3
_N = 24
_WORKERS = 4


def _slow(objects: dict[str, bytes]) -> type[http.server.BaseHTTPRequestHandler]:
    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            time.sleep(_DELAY)
            body = objects.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Slow


def _sops() -> list[str]:
    return [f"2.25.10.1.{k}" for k in range(1, _N + 1)]


def _local(folder: Path, n: int) -> Path:
    """An inventory in `folder` of `n` records, each linking to an object in ``files/``."""
    (folder / "files").mkdir()
    records = []
    for sop in _sops()[:n]:
        obj = _obj(sop)
        (folder / "files" / f"{sop}.dcm").write_bytes(obj)
        records.append((sop, _blob(f"./files/{sop}.dcm", len(obj))))
    return _inventory(folder, records)


def _fetch_cmd(inv: Path, out: Path, url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dicom_inventory",
        "fetch",
        str(inv),
        "--out",
        str(out),
        "--workers",
        str(_WORKERS),
        "--allow-url",
        f"{url}/",
    ]


def _objects(out: Path) -> list[Path]:
    folder = out / STUDY / SERIES
    return sorted(folder.glob("*.dcm")) if folder.is_dir() else []


@pytest.mark.parametrize("signals", [1, 2], ids=["ctrl-c", "ctrl-c-twice"])
def test_ctrl_c_ends_cleanly_and_a_rerun_continues(tmp_path: Path, signals: int) -> None:
    objects = {f"{sop}.dcm": _obj(sop) for sop in _sops()}
    out = tmp_path / "out"
    with _serve(_slow(objects)) as url:
        inv = _inventory(
            tmp_path,
            [(sop, _blob(f"{url}/{sop}.dcm", len(objects[f"{sop}.dcm"]))) for sop in _sops()],
        )
        child = subprocess.Popen(
            _fetch_cmd(inv, out, url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not _objects(out) and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # wait until the first objects are in place
            assert child.poll() is None, child.communicate()
            before = len(_objects(out))
            for _ in range(signals):
                child.send_signal(signal.SIGINT)
                time.sleep(_DELAY / 3)
            stdout, stderr = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == ExitCode.INTERRUPTED, stdout + stderr
        assert "Traceback" not in stderr and "Exception" not in stderr, stderr
        assert "error: interrupted" in stderr, stderr
        assert not list(out.glob(".fetch-*")), list(out.iterdir())  # the staging folder is gone
        done = _objects(out)
        # stopped at once: the records in flight may end, the queued ones are not fetched
        assert 0 < len(done) <= before + _WORKERS, (before, done)
        for p in done:  # each object under its final name is whole
            assert pydicom.dcmread(p).SOPInstanceUID == p.name.removesuffix(".dcm")
        again = subprocess.run(
            _fetch_cmd(inv, out, url), capture_output=True, text=True, timeout=120
        )
    assert again.returncode == ExitCode.OK, again.stdout + again.stderr
    assert f"fetched {_N - len(done)} " in again.stdout, again.stdout
    assert f"already there {len(done)}," in again.stdout, again.stdout
    assert len(_objects(out)) == _N and not list(out.glob(".fetch-*"))


def test_an_interrupted_run_raises_and_leaves_no_staging_folder(tmp_path: Path) -> None:
    """The library: KeyboardInterrupt from the progress callback stops the run, cleanly."""
    objects = {sop: _obj(sop) for sop in _sops()[:12]}
    out = tmp_path / "out"
    seen: list[str] = []

    def stop(result: object) -> None:
        seen.append(str(result))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with _serve(_slow(objects)) as url:
        inv = _inventory(
            tmp_path,
            [(sop, _blob(f"{url}/{sop}", len(objects[sop]))) for sop in objects],
        )
        policy = FetchPolicy(allow_urls=(f"{url}/",))
        try:
            fetch_inventory([inv], out, workers=4, progress=stop, policy=policy)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the interrupt was swallowed")
    assert not list(out.glob(".fetch-*")), list(out.iterdir())
    assert len(_objects(out)) < len(objects)
    assert not [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".dcm")]


def test_the_total_counts_each_instance_record_of_the_tree_once(tmp_path: Path) -> None:
    inv = _local(tmp_path, 7)
    totals: list[int] = []
    s = fetch_inventory([inv, inv], tmp_path / "out", total=totals.append)
    assert totals == [7] and s.fetched == 7  # a file named twice is one tree, counted once


def test_the_progress_display_shows_the_total_and_rates(tmp_path: Path) -> None:
    """On a terminal, the display names instances, their rate, MB/s and the total."""
    inv = _local(tmp_path, 5)
    term = Terminal("fetch", inv, "--out", tmp_path / "o")
    assert term.finish() == ExitCode.OK, term.text
    assert "/5" in term.text, term.text  # done/total
    assert "instances/s" in term.text and "MB/s" in term.text, term.text
    assert "fetched 5 " in term.text, term.text


def test_ctrl_c_at_a_terminal_while_the_display_draws(tmp_path: Path) -> None:
    """SIGINT to the process group, as the terminal sends it, with the progress bar drawn."""
    objects = {f"{sop}.dcm": _obj(sop) for sop in _sops()}
    out = tmp_path / "out"
    with _serve(_slow(objects)) as url:
        inv = _inventory(
            tmp_path,
            [(sop, _blob(f"{url}/{sop}.dcm", len(objects[f"{sop}.dcm"]))) for sop in _sops()],
        )
        term = Terminal(*_fetch_cmd(inv, out, url)[3:])
        term.wait_for(term.shows(f"/{_N}"), "the bar with its total")
        term.wait_for(lambda: bool(_objects(out)), "a first object")
        term.ctrl_c()
        code = term.finish()
    assert code == ExitCode.INTERRUPTED, term.text
    assert "Traceback" not in term.text and "error: interrupted" in term.text, term.text
    assert "the same command again fetches the rest" in term.text, term.text
    assert not list(out.glob(".fetch-*")), list(out.iterdir())
