"""Benchmark of retrieving a large inventory over DICOMweb against Inventory GET (DIMSE).

One run, one node (``dicom-inventory serve`` as its own process, with its DICOMweb origin
server on), one archive of N synthetic instances (index rows bulk-loaded into SQLite, as in
``bench_production.py``; N = 1,000,000 by default), one INSTANCE-level inventory produced by
Inventory Creation (``bench_creation.inventory_path``) and split into a tree by
``[limits] max_records``. The same stored tree is then retrieved to disk, path after path:

* **Inventory GET** (DIMSE): C-GET by SOP Instance UID, level by level (the root, then what
  it incorporates), raw pynetdicom on one association;
* **HTTP, Part 10**: ``GET {base}/inventories/{uid}`` for every instance of the tree with
  ``Accept: multipart/related; type="application/dicom"``, each body streamed to disk with
  httpx (``iter_bytes``) as it comes (multipart framing included);
* **HTTP, DICOM JSON**: the same with ``Accept: application/dicom+json`` (the default);
* **WebClient**: our user agent, ``WebClient(base).retrieve_tree(root, dir)``: walks the tree,
  streams each Part 10 part to its file and checks it (header read, tree resolved).

Per path: seconds, MB written, MB/s, records/s (every study, series and instance record of
the tree), the time against Inventory GET's, and the peak RSS of the node and of this process
during that path (VmHWM, reset through ``/proc/PID/clear_refs`` before each path). Checks:
every Part 10 instance that came over HTTP has the same data set bytes (after the file meta)
as the one Inventory GET delivered, and the root's DICOM JSON reads (pydicom) as the same
data set as the root's Part 10.

Usage::

    python bench/bench_web.py                          # 1,000,000 instances
    python bench/bench_web.py --instances 20000        # quicker
    python bench/bench_web.py --max-records 100000 --keep /tmp/web-run
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import httpx  # noqa: E402
import pydicom  # noqa: E402
from bench_creation import _free_port, _wait, inventory_path  # noqa: E402
from bench_production import fill_index  # noqa: E402
from dicom_inventory import iter_inventory  # noqa: E402
from dicom_inventory.media import DICOM, DICOM_JSON, MULTIPART_RELATED, dataset_from_json  # noqa: E402
from dicom_inventory.multipart import MultipartReader, boundary_of  # noqa: E402
from dicom_inventory.read import read_header  # noqa: E402
from dicom_inventory.scu.web import WebClient  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom import AE, build_role, evt  # noqa: E402
from pynetdicom.sop_class import InventoryGet, InventoryStorage  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

PART10 = f'{MULTIPART_RELATED}; type="{DICOM}"'
_MB = 1_000_000
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- memory
def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


@dataclass
class Memory:
    """Peak RSS of a few processes over one path: VmHWM, reset before the path starts."""

    pids: dict[str, int]
    resettable: bool = True

    def reset(self) -> dict[str, float]:
        """Reset the peaks (Linux: ``echo 5 > /proc/PID/clear_refs``); the RSS now, MB."""
        for pid in self.pids.values():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                self.resettable = False  # then the peak is over the process's life
        return {k: _status_kb(pid, "VmRSS") / 1024 for k, pid in self.pids.items()}

    def peaks(self) -> dict[str, float]:
        """The peak RSS of each process since the last reset, MB."""
        return {k: _status_kb(pid, "VmHWM") / 1024 for k, pid in self.pids.items()}


# --------------------------------------------------------------------------- the paths
def dimse_tree(port: int, root: str, out: Path) -> list[Path]:
    """Inventory GET of `root` and everything it incorporates, one C-GET per tree level."""
    out.mkdir(parents=True, exist_ok=True)
    received: list[Path] = []

    def keep(event: Any) -> int:
        target = out / f"{event.request.AffectedSOPInstanceUID}.dcm"
        with target.open("wb") as f:
            f.write(event.encoded_dataset(include_meta=True))
        received.append(target)
        return 0

    scu = AE(ae_title="BENCH")
    scu.acse_timeout = scu.dimse_timeout = scu.network_timeout = 600
    scu.maximum_pdu_size = 0
    for context in (InventoryGet, InventoryStorage):
        scu.add_requested_context(context)
    role = build_role(InventoryStorage, scp_role=True)  # C-GET: we are the Storage SCP
    handlers = [(evt.EVT_C_STORE, keep)]
    assoc = scu.associate(
        "127.0.0.1", port, ae_title="INV_SCP", ext_neg=[role], evt_handlers=handlers
    )
    if not assoc.is_established:
        raise SystemExit("Inventory GET: association rejected")
    wanted = [root]
    try:
        while wanted:
            start = len(received)
            identifier = Dataset()
            identifier.SOPInstanceUID = wanted
            final = [s.Status for s, _ in assoc.send_c_get(identifier, InventoryGet)][-1]
            if final != 0 or len(received) - start != len(wanted):
                raise SystemExit(f"Inventory GET of {len(wanted)} instances: status {final:#06x}")
            level = received[start:]
            wanted = [ref.sop_instance_uid for p in level for ref in read_header(p).incorporated]
    finally:
        assoc.release()
    return received


def http_bodies(base: str, uids: list[str], accept: str, out: Path, suffix: str) -> int:
    """GET every ``/inventories/{uid}`` with `accept`, each body streamed to a file; bytes."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with httpx.Client(base_url=base, timeout=600) as client:
        for uid in uids:
            with (
                client.stream("GET", f"/inventories/{uid}", headers={"Accept": accept}) as r,
                (out / f"{uid}{suffix}").open("wb") as f,
            ):
                if r.status_code != 200:
                    r.read()
                    raise SystemExit(f"GET {uid} ({accept}): {r.status_code} {r.text[:200]}")
                for chunk in r.iter_bytes():
                    written += f.write(chunk)
    return written


def web_client_tree(base: str, root: str, out: Path) -> list[Path]:
    """Our user agent: the whole tree as checked Part 10 files."""
    with WebClient(base, timeout=600) as web:
        return web.retrieve_tree(root, out)


# --------------------------------------------------------------------------- checks
def _skip_meta(f: Any) -> None:
    """Position `f` (a Part 10 file) after its File Meta Information (group 0002, PS3.10)."""
    f.seek(132)
    while (head := f.read(8))[:2] == b"\x02\x00":
        if head[4:6] in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR"):
            f.seek(int.from_bytes(f.read(4), "little"), os.SEEK_CUR)
        else:
            f.seek(int.from_bytes(head[6:8], "little"), os.SEEK_CUR)
    f.seek(-len(head), os.SEEK_CUR)


def dataset_digest(path: Path) -> str:
    """SHA-256 of the data set bytes of a Part 10 file (the file meta skipped)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        _skip_meta(f)
        while data := f.read(_CHUNK):
            h.update(data)
    return h.hexdigest()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while data := f.read(_CHUNK):
            yield data


def part10_of(body: Path, target: Path) -> Path:
    """The single ``application/dicom`` part of a saved multipart body, streamed to a file."""
    with body.open("rb") as f:
        boundary = f.readline().strip()[2:].decode("ascii")  # the first delimiter line
    parts = MultipartReader(_chunks(body), boundary_of(f"{PART10}; boundary={boundary}")).parts()
    n = 0
    for headers, chunks in parts:
        if not headers.get("content-type", "").startswith(DICOM):
            raise SystemExit(f"{body}: a part of type {headers.get('content-type')!r}")
        with target.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        n += 1
    if n != 1:
        raise SystemExit(f"{body}: {n} parts, expected one")
    return target


def check(dimse: dict[str, Path], work: Path, root: str) -> list[str]:
    """Compare what HTTP delivered with what Inventory GET delivered; the findings."""
    problems: list[str] = []
    want = {uid: dataset_digest(p) for uid, p in dimse.items()}
    extracted = work / "http-part10-extracted"
    extracted.mkdir(exist_ok=True)
    for uid, digest in want.items():
        body = work / "http-part10" / f"{uid}.multipart"
        part = part10_of(body, extracted / f"{uid}.dcm")
        if dataset_digest(part) != digest:
            problems.append(f"multipart Part 10 of {uid} differs from Inventory GET's")
        part.unlink()
        if dataset_digest(work / "webclient" / f"{uid}.dcm") != digest:
            problems.append(f"WebClient's {uid}.dcm differs from Inventory GET's")
    got = dataset_from_json((work / "http-json" / f"{root}.json").read_bytes())[0]
    expected = pydicom.dcmread(dimse[root])
    del expected.file_meta
    if got != expected and got.to_json_dict() != expected.to_json_dict():
        problems.append("the root's DICOM JSON is not the data set of its Part 10")
    for uid in want:
        with (work / "http-json" / f"{uid}.json").open("rb") as f:
            f.seek(-2, os.SEEK_END)
            if f.read() != b"}]":
                problems.append(f"the DICOM JSON body of {uid} does not end the array")
    return problems


# --------------------------------------------------------------------------- the run
@dataclass
class Row:
    path: str
    seconds: float
    nbytes: int
    peak: dict[str, float]
    """Peak RSS during the path, MB, by process (``node``, ``bench``)."""
    before: dict[str, float]
    """RSS when the path started, MB."""

    def rss(self, who: str) -> str:
        return f"{self.peak[who]:,.0f} (+{self.peak[who] - self.before[who]:,.0f})"


def measure(memory: Memory, name: str, run: Callable[[], int]) -> Row:
    before = memory.reset()
    t0 = time.perf_counter()
    nbytes = run()
    seconds = time.perf_counter() - t0
    peaks = memory.peaks()
    print(f"  {name}: {seconds:.2f} s, {nbytes / _MB:,.1f} MB", flush=True)
    return Row(name, seconds, nbytes, peaks, before)


def _sizes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def _find_root(files: list[Path]) -> str:
    headers = {p.stem: read_header(p) for p in files}
    referenced = {ref.sop_instance_uid for h in headers.values() for ref in h.incorporated}
    [root] = [uid for uid in headers if uid not in referenced]
    return root


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the node, then wait for it; SIGKILL if it is still there after 2 minutes."""
    proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=120)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def run(args: argparse.Namespace, work: Path) -> None:
    archive = work / "archive"
    t = time.perf_counter()
    fill_index(archive, args.instances)
    print(f"archive: {args.instances:,} instances indexed in {time.perf_counter() - t:.1f} s")
    port, listen, http_port = _free_port(), _free_port(), _free_port()
    config = work / "node.toml"
    config.write_text(
        f'ae_title = "INV_SCP"\nport = {port}\narchive = "{archive}"\n'
        f"[limits]\nmax_records = {args.max_records}\ndimse_timeout = 600\n"
        f"network_timeout = 600\n"
        f'[peers.BENCH]\nae_title = "BENCH"\nhost = "127.0.0.1"\nport = {listen}\n'
        f"[http]\nport = {http_port}\n"
    )
    base = f"http://127.0.0.1:{http_port}/dicomweb"
    exe = shutil.which("dicom-inventory")
    cmd = [exe] if exe else [sys.executable, "-m", "dicom_inventory"]
    with (work / "serve.log").open("wb") as log:
        proc = subprocess.Popen([*cmd, "serve", "--config", str(config)], stdout=log, stderr=log)
    try:
        _wait(port)
        _wait(http_port)
        produce, by_txn, n = inventory_path(port, listen, work / "created")
        created = sorted((work / "created").glob("*.dcm"))
        root = _find_root(created)
        print(
            f"inventory: {n:,} instance records in {len(created)} instances, produced in "
            f"{produce:.1f} s (N-ACTION -> event 11); Inventory GET by Transaction UID "
            f"{by_txn:.2f} s"
        )
        if n != args.instances:
            raise SystemExit(f"the inventory lists {n:,} instances, expected {args.instances:,}")
        memory = Memory({"node": proc.pid, "bench": os.getpid()})
        rows: list[Row] = []
        tree: list[Path] = []

        def dimse() -> int:
            tree.extend(dimse_tree(port, root, work / "dimse"))
            return _sizes(tree)

        rows.append(measure(memory, "Inventory GET (DIMSE)", dimse))
        uids = [p.stem for p in tree]
        records = sum(
            1 + len(st.series) + sum(len(se.instances) for se in st.series)
            for st in iter_inventory(work / "dimse" / f"{root}.dcm")
        )
        for name, accept, folder, suffix in (
            ("HTTP, Part 10 (multipart)", PART10, "http-part10", ".multipart"),
            ("HTTP, DICOM JSON", DICOM_JSON, "http-json", ".json"),
        ):
            get = functools.partial(http_bodies, base, uids, accept, work / folder, suffix)
            rows.append(measure(memory, name, get))
        rows.append(
            measure(
                memory,
                "HTTP, WebClient.retrieve_tree",
                lambda: _sizes(web_client_tree(base, root, work / "webclient")),
            )
        )
        problems = check({p.stem: p for p in tree}, work, root)
    finally:
        _stop(proc)
    report(args, rows, records, len(tree), memory.resettable, problems)


def report(
    args: argparse.Namespace,
    rows: list[Row],
    records: int,
    n_files: int,
    resettable: bool,
    problems: list[str],
) -> None:
    dimse = rows[0].seconds
    head = [
        "path",
        "s",
        "MB",
        "MB/s",
        "records/s",
        "time / Inventory GET",
        "node peak RSS",
        "bench peak RSS",
    ]
    body = [
        [
            r.path,
            f"{r.seconds:.2f}",
            f"{r.nbytes / _MB:,.1f}",
            f"{r.nbytes / _MB / r.seconds:,.1f}",
            f"{records / r.seconds:,.0f}",
            f"{r.seconds / dimse:.2f}x",
            r.rss("node"),
            r.rss("bench"),
        ]
        for r in rows
    ]
    title = (
        f"{args.instances:,} instances, {records:,} records (study + series + instance) in "
        f"{n_files} Inventory SOP Instances (max_records {args.max_records:,})"
    )
    table = Table(*head, title=title)
    for line in body:
        table.add_row(*line)
    Console(width=150).print(table)
    print(
        "peak RSS in MB (+ growth over the RSS at the start of the path); "
        + ("peaks reset before each path" if resettable else "peaks over each process's life")
    )
    print(
        "checks: "
        + (
            "every HTTP Part 10 data set is byte-identical to Inventory GET's; the root's JSON"
            " reads as its Part 10"
            if not problems
            else "; ".join(problems)
        )
    )
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for line in body:
        print("| " + " | ".join(line) + " |")
    if problems:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--max-records", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (else a temp dir)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
