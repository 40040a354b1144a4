"""fetch against a hostile inventory and a hostile staging folder (issue 20).

Each case is one class of defect seen on main: a link planted in the output folder, a bad
record that ended the whole run, and a link that makes fetch read a file or a host it was not
meant to touch. Real files, real symlinks and FIFOs, real HTTP servers on 127.0.0.1, the real
CLI in a subprocess; no mocks.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pytest
from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.enum import ContainerFileType
from dicom_inventory.model import (
    AccessEndPoints,
    FileAccess,
    InstanceRecord,
    SeriesRecord,
    StudyRecord,
)
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scu.fetch import FetchPolicy, FetchSummary, fetch_inventory

from tests.scp.raw_peer import free_port

STUDY, SERIES = "2.25.10", "2.25.10.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


def _obj(sop: str) -> bytes:
    return to_part10(make_image(study_uid=STUDY, series_uid=SERIES, sop_uid=sop))


def _blob(uri: str, length: int | None, offset: int = 0) -> FileAccess:
    return FileAccess(
        uri, ContainerFileType.BLOB, offset=offset, length=length, transfer_syntax_uid=EXPLICIT_LE
    )


def _inventory(
    folder: Path,
    records: Sequence[tuple[str, FileAccess]],
    *,
    base_uri: str | None = None,
    series_base_uri: str | None = None,
) -> Path:
    """An INSTANCE-level inventory at ``folder/inv.dcm``, one record per (SOP UID, link)."""
    st = StudyRecord(
        study_instance_uid=STUDY,
        item_inventory_datetime="20261124100000",
        patient_id="P",
        patient_name="A^B",
        series=[
            SeriesRecord(
                series_instance_uid=SERIES,
                modality="CT",
                stored_instance_base_uri=series_base_uri,
                instances=[InstanceRecord(CT, sop, file_access=(fa,)) for sop, fa in records],
            )
        ],
    )
    h = InventoryHeader(
        "2.25.77",
        InventoryLevel.INSTANCE,
        content_date="20261124",
        content_time="100000",
        study_access_end_points=(
            AccessEndPoints(stored_instance_base_uri=base_uri) if base_uri else None
        ),
    )
    p = folder / "inv.dcm"
    p.write_bytes(encode_inventory(h, [st]))
    return p


def _good(folder: Path, sop: str) -> tuple[str, FileAccess]:
    """A record whose link is a real object in `folder` (beside the inventory)."""
    obj = _obj(sop)
    f = folder / f"{sop}.dcm"
    f.write_bytes(obj)
    return sop, _blob(f.as_uri(), len(obj))


def _target(out: Path, sop: str) -> Path:
    return out / STUDY / SERIES / f"{sop}.dcm"


def _errors(s: FetchSummary) -> dict[str, str]:
    return {f.sop_instance_uid: f.error or "" for f in s.failures}


# ----------------------------------------------------------------- writing outside the out folder
def test_a_planted_part_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    inv = _inventory(tmp_path, [_good(tmp_path, "2.25.10.1.1")])
    out = tmp_path / "out"
    (out / STUDY / SERIES).mkdir(parents=True)
    (out / STUDY / SERIES / "2.25.10.1.1.dcm.part").symlink_to(victim)
    s = fetch_inventory([inv], out)
    assert victim.read_bytes() == b"precious"  # main wrote the object through the link
    assert s.fetched == 1, s.failures
    got = _target(out, "2.25.10.1.1")
    assert not got.is_symlink() and pydicom.dcmread(got).SOPInstanceUID == "2.25.10.1.1"


def test_a_planted_study_folder_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inv = _inventory(tmp_path, [_good(tmp_path, "2.25.10.1.1")])
    out = tmp_path / "out"
    out.mkdir()
    (out / STUDY).symlink_to(elsewhere, target_is_directory=True)
    s = fetch_inventory([inv], out)
    assert list(elsewhere.rglob("*")) == []  # main wrote elsewhere/<series>/<sop>.dcm
    assert s.failed == 1 and "symbolic link" in _errors(s)["2.25.10.1.1"]


def test_a_planted_series_folder_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inv = _inventory(tmp_path, [_good(tmp_path, "2.25.10.1.1")])
    out = tmp_path / "out"
    (out / STUDY).mkdir(parents=True)
    (out / STUDY / SERIES).symlink_to(elsewhere, target_is_directory=True)
    s = fetch_inventory([inv], out)
    assert list(elsewhere.rglob("*")) == []
    assert s.failed == 1 and "symbolic link" in _errors(s)["2.25.10.1.1"]


def test_a_planted_final_symlink_is_a_failure_not_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside.dcm"
    outside.write_bytes(b"not yours")
    inv = _inventory(tmp_path, [_good(tmp_path, "2.25.10.1.1")])
    out = tmp_path / "out"
    (out / STUDY / SERIES).mkdir(parents=True)
    _target(out, "2.25.10.1.1").symlink_to(outside)
    s = fetch_inventory([inv], out)
    assert (s.skipped, s.failed) == (0, 1)  # main: "skipped", the link taken for the object
    assert "symbolic link" in _errors(s)["2.25.10.1.1"]
    assert outside.read_bytes() == b"not yours"


# ----------------------------------------------------------------- one bad record, the rest fetched
def _uv_cases(tmp_path: Path) -> list[tuple[str, FileAccess, str]]:
    real = tmp_path / "real.dcm"
    obj = _obj("2.25.10.1.90")
    real.write_bytes(obj)
    uri = real.as_uri()
    return [
        ("nul", _blob(f"file://{tmp_path}/a%00b.dcm", 10), "NUL"),
        ("offset-2^63", _blob(uri, 10, offset=2**63), "beyond the end"),
        ("offset-2^64-1", _blob(uri, 10, offset=2**64 - 1), "beyond the end"),
        ("length-2^63", _blob(uri, 2**63), "larger than the limit"),
        ("length-2^64-1", _blob(uri, 2**64 - 1, offset=0), "larger than the limit"),
        ("offset+length", _blob(uri, len(obj), offset=2**64 - 2), "beyond the end"),
    ]


@pytest.mark.parametrize("case", range(6), ids=["nul", "o63", "o64", "l63", "l64", "o+l"])
def test_one_bad_local_link_fails_alone(tmp_path: Path, case: int) -> None:
    name, fa, why = _uv_cases(tmp_path)[case]
    bad = "2.25.10.1.90"
    inv = _inventory(
        tmp_path,
        [_good(tmp_path, "2.25.10.1.1"), (bad, fa), _good(tmp_path, "2.25.10.1.2")],
    )
    s = fetch_inventory([inv], tmp_path / "out")
    assert (s.fetched, s.failed) == (2, 1), (name, s.failures)
    assert why in _errors(s)[bad], (name, s.failures)


class _Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        pass


@contextmanager
def _serve(
    handler: type[http.server.BaseHTTPRequestHandler] | functools.partial[object],
) -> Iterator[str]:
    server = _Quiet(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _files(folder: Path) -> functools.partial[object]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    return functools.partial(Handler, directory=str(folder))


def test_refused_and_missing_http_links_fail_alone(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    obj = _obj("2.25.10.1.3")
    (www / "3.dcm").write_bytes(obj)
    closed = free_port()
    with _serve(_files(www)) as url:
        inv = _inventory(
            tmp_path,
            [
                _good(tmp_path, "2.25.10.1.1"),
                ("2.25.10.1.80", _blob(f"http://127.0.0.1:{closed}/x.dcm", 10)),
                ("2.25.10.1.81", _blob(f"{url}/missing.dcm", 10)),
                ("2.25.10.1.3", _blob(f"{url}/3.dcm", len(obj))),
            ],
        )
        policy = FetchPolicy(allow_urls=(f"http://127.0.0.1:{closed}/", f"{url}/"))
        s = fetch_inventory([inv], tmp_path / "out", policy=policy)
    assert (s.fetched, s.failed) == (2, 2), s.failures
    errors = _errors(s)
    assert "2.25.10.1.80" in errors and "404" in errors["2.25.10.1.81"]


def test_one_uid_twice_with_four_workers_fetches_it_once(tmp_path: Path) -> None:
    sop, fa = _good(tmp_path, "2.25.10.1.1")
    others = [_good(tmp_path, f"2.25.10.1.{k}") for k in range(2, 6)]
    inv = _inventory(tmp_path, [(sop, fa)] * 8 + others)
    out = tmp_path / "out"
    s = fetch_inventory([inv], out, workers=4)
    assert (s.fetched, s.failed) == (5, 7), s.failures
    assert all("more than one record" in f.error for f in s.failures if f.error)
    assert pydicom.dcmread(_target(out, sop)).SOPInstanceUID == sop
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(
        f"2.25.10.1.{k}.dcm" for k in range(1, 6)
    )  # no temporary left behind


def test_the_cli_finishes_reports_each_failure_and_exits_1(tmp_path: Path) -> None:
    real = tmp_path / "real.dcm"
    real.write_bytes(b"x" * 100)
    inv = _inventory(
        tmp_path,
        [
            _good(tmp_path, "2.25.10.1.1"),
            ("2.25.10.1.90", _blob(f"file://{tmp_path}/a%00b.dcm", 10)),
            ("2.25.10.1.91", _blob(real.as_uri(), 10, offset=2**64 - 1)),
            ("2.25.10.1.92", _blob(f"http://127.0.0.1:{free_port()}/x", 10)),
        ],
    )
    done = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "fetch", str(inv), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == ExitCode.FINDINGS, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "fetched 1 " in done.stdout and "failed 3" in done.stdout
    for uid in ("2.25.10.1.90", "2.25.10.1.91", "2.25.10.1.92"):
        assert f"failed {uid}:" in done.stderr
    assert "outside the allowed" in done.stderr  # the http link: no base URI names its host


# ----------------------------------------------------------------- trust boundaries
def test_the_cli_allow_list_options(tmp_path: Path) -> None:
    store, inv_dir = tmp_path / "store", tmp_path / "inv"
    store.mkdir()
    inv_dir.mkdir()
    inv = _inventory(inv_dir, [_good(store, "2.25.10.1.1")])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "dicom_inventory", "fetch", str(inv), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    refused = run("--out", str(tmp_path / "a"))
    assert refused.returncode == ExitCode.FINDINGS and "outside the allowed" in refused.stderr
    allowed = run("--out", str(tmp_path / "b"), "--allow-root", str(store))
    assert allowed.returncode == ExitCode.OK and "fetched 1 " in allowed.stdout, allowed.stderr
    bad = run("--out", str(tmp_path / "c"), "--allow-url", "store.example.org")
    assert bad.returncode == ExitCode.USAGE and "--allow-url" in bad.stderr


def test_a_link_outside_the_allowed_roots_is_refused(tmp_path: Path) -> None:
    inv_dir = tmp_path / "inv"
    inv_dir.mkdir()
    store = tmp_path / "store"
    store.mkdir()
    sop, fa = _good(store, "2.25.10.1.1")
    inside = _good(inv_dir, "2.25.10.1.2")
    (inv_dir / "sneaky").symlink_to(store, target_is_directory=True)
    via_link = "2.25.10.1.3"
    obj = _obj(via_link)
    (store / "3.dcm").write_bytes(obj)
    records = [
        (sop, fa),
        inside,
        (via_link, _blob((inv_dir / "sneaky" / "3.dcm").as_uri(), len(obj))),
        ("2.25.10.1.4", _blob(f"./../store/{sop}.dcm", len(_obj(sop)))),
    ]
    inv = _inventory(inv_dir, records)
    s = fetch_inventory([inv], tmp_path / "out")
    assert (s.fetched, s.failed) == (1, 3), s.failures
    for uid in (sop, via_link, "2.25.10.1.4"):
        assert "outside the allowed roots/hosts" in _errors(s)[uid]
    allowed = fetch_inventory([inv], tmp_path / "out2", policy=FetchPolicy(allow_roots=(store,)))
    assert allowed.fetched == 3  # 2.25.10.1.4 names sop's file: the wrong object
    anything = fetch_inventory([inv], tmp_path / "out3", policy=FetchPolicy(allow_any=True))
    assert anything.fetched == 3


def test_the_stored_instance_base_uri_is_allowed_and_resolves_relative_links(
    tmp_path: Path,
) -> None:
    inv_dir = tmp_path / "inv"
    inv_dir.mkdir()
    store = tmp_path / "store"
    (store / "a").mkdir(parents=True)
    sop, _ = _good(store / "a", "2.25.10.1.1")
    n = len(_obj(sop))
    inv = _inventory(
        inv_dir,
        [(sop, _blob(f"./{sop}.dcm", n))],
        base_uri=store.as_uri() + "/",
        series_base_uri=(store / "a").as_uri(),  # the series' base wins (PS3.17 YYYY.7.2)
    )
    s = fetch_inventory([inv], tmp_path / "out")
    assert s.fetched == 1, s.failures
    strict = fetch_inventory([inv], tmp_path / "out2", policy=FetchPolicy(trust_base_uris=False))
    assert strict.failed == 1 and "outside the allowed" in strict.failures[0].error  # type: ignore[operator]


def test_non_regular_files_are_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.dcm"
    os.mkfifo(fifo)
    inv = _inventory(
        tmp_path,
        [
            ("2.25.10.1.70", _blob(fifo.as_uri(), None)),
            ("2.25.10.1.71", _blob("file:///dev/zero", None)),
            _good(tmp_path, "2.25.10.1.1"),
        ],
    )
    s = fetch_inventory([inv], tmp_path / "out", policy=FetchPolicy(allow_any=True))
    assert (s.fetched, s.failed) == (1, 2), s.failures
    assert all("not a regular file" in (f.error or "") for f in s.failures)


class _Redirect(http.server.BaseHTTPRequestHandler):
    to = ""

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        self.send_response(302)
        self.send_header("Location", self.to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    body = b""

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def test_http_outside_the_base_and_redirects_out_of_it_are_never_requested(
    tmp_path: Path,
) -> None:
    obj = _obj("2.25.10.1.1")

    class Other(_Counting):
        hits: list[str] = []
        body = obj

    with _serve(Other) as other:

        class Hop(_Redirect):
            to = f"{other}/1.dcm"

        with _serve(Hop) as base:
            inv = _inventory(
                tmp_path,
                [
                    ("2.25.10.1.1", _blob(f"{other}/1.dcm", len(obj))),
                    ("2.25.10.1.2", _blob("./1.dcm", len(obj))),  # base/1.dcm -> other
                ],
                base_uri=f"{base}/",
            )
            s = fetch_inventory([inv], tmp_path / "out")
    assert s.failed == 2, s.failures
    assert Other.hits == []  # neither the link nor the redirect reached the other host
    errors = _errors(s)
    assert "outside the allowed" in errors["2.25.10.1.1"]
    assert "redirect" in errors["2.25.10.1.2"] and "outside the allowed" in errors["2.25.10.1.2"]


class _Endless(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()  # no length: the body ends when the connection does
        try:
            while True:
                self.wfile.write(b"\0" * 65536)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_an_endless_http_body_stops_at_the_cap(tmp_path: Path) -> None:
    with _serve(_Endless) as url:
        inv = _inventory(
            tmp_path,
            [
                ("2.25.10.1.60", _blob(f"{url}/x.dcm", 1000)),
                ("2.25.10.1.61", FileAccess(f"{url}/y.dcm", transfer_syntax_uid=EXPLICIT_LE)),
            ],
            base_uri=f"{url}/",
        )
        s = fetch_inventory([inv], tmp_path / "out", policy=FetchPolicy(max_object_size=1 << 20))
    assert s.failed == 2, s.failures
    errors = _errors(s)
    assert "not a readable DICOM object" in errors["2.25.10.1.60"]  # 1000 bytes kept, then stop
    assert "larger than" in errors["2.25.10.1.61"] and str(1 << 20) in errors["2.25.10.1.61"]
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


# ----------------------------------------------------------------- bombs (peak RSS of the CLI)
_BOMB = 512 << 20  # inflated size; the link's File Length in Container says 1 KiB


def _bomb(path: Path, kind: str) -> FileAccess:
    """A GZIP or a ZIP whose one object inflates to `_BOMB` zero bytes, linked as 1 KiB."""
    block = b"\0" * (1 << 20)
    if kind == "GZIP":
        z = zlib.compressobj(9, zlib.DEFLATED, 31)  # the gzip wrapper
        with path.open("wb") as f:
            for _ in range(_BOMB >> 20):
                f.write(z.compress(block))
            f.write(z.flush())
        return FileAccess(
            path.as_uri(), ContainerFileType.GZIP, length=1024, transfer_syntax_uid=EXPLICIT_LE
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("bomb.dcm", "w", force_zip64=True) as m:
            for _ in range(_BOMB >> 20):
                m.write(block)
    return FileAccess(
        path.as_uri(),
        ContainerFileType.ZIP,
        "bomb.dcm",
        length=1024,
        transfer_syntax_uid=EXPLICIT_LE,
    )


@pytest.mark.parametrize("kind", ["GZIP", "ZIP"])
def test_a_bomb_keeps_fetch_small(tmp_path: Path, kind: str) -> None:
    bomb = tmp_path / f"bomb.{kind.lower()}"
    fa = _bomb(bomb, kind)
    assert bomb.stat().st_size < 2 << 20
    inv = _inventory(tmp_path, [("2.25.10.1.50", fa), _good(tmp_path, "2.25.10.1.1")])
    code = (
        "import resource, subprocess, sys; "
        f"d = subprocess.run([sys.executable, '-m', 'dicom_inventory', 'fetch', {str(inv)!r}, "
        f"'--out', {str(tmp_path / 'o')!r}], capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, d.returncode); "
        "print(d.stdout); print(d.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    first, rest = done.stdout.split("\n", 1)
    rss_kib, rc = (int(x) for x in first.split())
    print(f"{kind} bomb ({_BOMB >> 20} MiB inflated): fetch peak RSS {rss_kib // 1024} MiB")
    assert rc == ExitCode.FINDINGS, rest
    assert "Traceback" not in rest and "failed 2.25.10.1.50:" in rest and "fetched 1 " in rest
    assert rss_kib < 300 * 1024, rss_kib  # generous: python + imports is ~80 MiB
