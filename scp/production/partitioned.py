"""Partitioned, resumable inventory production, in process or on Dask (issue 5).

The studies are cut into key ranges (:meth:`Repository.study_key_bounds`). Each range becomes
its own Inventory SOP Instance (or a small tree of them, with ``max_records``), written by any
worker; a root then incorporates every partition (PS3.3 C.38.1.1.5, C.38.2.3: each reference
repeats the partition's own references). Partitions are ``PARTIAL`` (their subtree does not
fulfil the whole Scope, PS3.17 YYYY.3.3.2.1); the root is ``COMPLETE``.

Resume: the state of a run lives in ``production.json`` in the output folder. A partition is
recorded there only once its files are complete, so a re-run after an interruption skips the
finished partitions, redoes the unfinished one from scratch (its partial files are removed by
the encoder on failure, or overwritten), and writes the root last: no record is duplicated or
dropped.

Workers open their own repository from a picklable factory (e.g.
``functools.partial(Archive, path)``), so the same code runs in process, on a
``LocalCluster`` (``dask="local"``) or on an existing cluster (``dask="tcp://host:port"``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dicom_inventory.encode import InventoryWriter, write_inventory
from dicom_inventory.enum import InventoryCompletionStatus, InventoryLevel
from dicom_inventory.errors import InventoryError
from dicom_inventory.model import Equipment, InventoryHeader, InventoryReference, StudyRecord
from dicom_inventory.read import read_header
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.production.base_uri import inventory_end_points, store_folder
from dicom_inventory.scp.production.produce import study_records
from dicom_inventory.scp.production.scope import parse_scope
from dicom_inventory.scp.stores.repository import Repository, opened
from dicom_inventory.uid import generate_uid
from pydicom.uid import ExplicitVRLittleEndian

__all__ = [
    "PartitionResult",
    "SchedulerUnreachable",
    "check_scheduler",
    "close_partial",
    "produce_partitioned",
]

STATE_FILE = "production.json"
#: Seconds :func:`check_scheduler` waits for a Dask scheduler to accept a connection.
SCHEDULER_CONNECT_TIMEOUT = 5.0
#: The port of a Dask scheduler address that names none (Dask's own default).
DEFAULT_SCHEDULER_PORT = 8786
#: Seconds between two progress reports of a partition running on Dask.
PROGRESS_EVERY = 1.0
_EQUIPMENT = Equipment(manufacturer="dicom-inventory", software_versions=("0.1.0",))


class SchedulerUnreachable(ConnectionError):
    """The Dask scheduler production was asked to run on does not answer (a peer error)."""


@dataclass
class PartitionResult:
    """What one partition wrote."""

    index: int
    root_uid: str
    paths: list[str]
    study_records: int
    records: int
    references: list[list[Any]]  # the partition root's own references, nested: [uid, [...]]


def _refs(h: InventoryHeader) -> list[list[Any]]:
    def conv(r: InventoryReference) -> list[Any]:
        return [r.sop_instance_uid, [conv(c) for c in r.incorporated]]

    return [conv(r) for r in h.incorporated]


def _to_refs(items: list[list[Any]]) -> tuple[InventoryReference, ...]:
    return tuple(InventoryReference(uid, incorporated=_to_refs(sub)) for uid, sub in items)


def _produce_partition(
    factory: Callable[[], Repository],
    out_dir: str,
    header: dict[str, Any],
    index: int,
    after: str | None,
    upto: str | None,
    max_records: int | None,
    transfer_syntax: str,
    retrieve_ae_title: str | None,
    *,
    progress: Callable[[int], None] | None = None,
) -> PartitionResult:
    """Write one partition; runs in a worker (arguments are plain, picklable values).

    `progress` is called with the number of study records written so far in this partition
    (on Dask, a :class:`_ProgressFile`); it may raise to stop the partition (its files are
    then removed).
    """
    with opened(factory) as repo:
        scope = parse_scope(header.pop("scope_keys"))
        h = InventoryHeader(**header)
        # where the worker's repository keeps its files: the partition's Stored Instance
        # Base URI (PS3.17 YYYY.7.2); the root holds no records and names none
        store = store_folder(repo) if h.inventory_level.has_instances else None
        h.study_access_end_points = inventory_end_points(store)
        records = study_records(
            repo,
            scope,
            h.inventory_level,
            as_of=h.content_date + h.content_time,
            after=after,
            upto=upto,
            retrieve_ae_title=retrieve_ae_title,
            store=store,
        )
        if progress is not None:
            records = _counted(records, progress)
        part_dir = Path(out_dir) / f"part-{index:05d}"
        # an unfinished earlier attempt (killed before the encoder could clean up) leaves
        # files with other UIDs: start the partition from an empty folder
        shutil.rmtree(part_dir, ignore_errors=True)
        written = write_inventory(
            part_dir, h, records, max_records=max_records, transfer_syntax=transfer_syntax
        )
        root = written[0]
        assert root.path is not None
        return PartitionResult(
            index,
            root.sop_instance_uid,
            [str(w.path) for w in written],
            root.total_number_of_study_records,
            sum(w.number_of_records for w in written),
            _refs(read_header(root.path)),
        )


def _counted(
    records: Iterator[StudyRecord], progress: Callable[[int], None]
) -> Iterator[StudyRecord]:
    for n, record in enumerate(records, 1):
        yield record
        progress(n)


def produce_partitioned(
    factory: Callable[[], Repository],
    out_dir: str | os.PathLike[str],
    *,
    level: InventoryLevel | str,
    scope: Mapping[str, str] | None = None,
    partitions: int = 4,
    max_records: int | None = None,
    dask: str | None = None,
    purpose: str | None = None,
    transaction_uid: str | None = None,
    retrieve_ae_title: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    fail_after: int | None = None,
    root_uid: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, list[PartitionResult]]:
    """Produce an inventory in key-range partitions; return the root's path and the partitions.

    Parameters
    ----------
    factory : callable
        Makes a Repository; must be picklable when `dask` is used.
    dask : str, optional
        ``None``: in process. ``"local"``: a LocalCluster of two workers. Otherwise the address
        of a Dask scheduler.
    fail_after : int, optional
        Testing aid: stop with an error after this many partitions are done (simulates a crash).
    root_uid : str, optional
        SOP Instance UID of the root (a caller that must find the root after a crash chooses
        it in advance); a fresh UID otherwise.
    progress : callable, optional
        Called with the number of study records written so far: first with those of the
        partitions an earlier run finished, then in process after each record (finished
        partitions plus the current one), on Dask about once a second (finished partitions
        plus what the running ones wrote, which they report in small files beside their
        folders, ``.part-NNNNN.progress``, removed at the end). A plain
        callable (the caller's display, never this module's). In process, it may raise to
        interrupt production; the run then resumes later from the finished partitions.

    Interrupted (``KeyboardInterrupt``, Ctrl-C), production stops where it is: finished
    partitions stay recorded in ``production.json`` (the folder is marked unfinished, and the
    same call resumes it), the partition in progress leaves no file. Dask workers of a
    ``"local"`` cluster ignore SIGINT (a terminal sends it to the whole process group):
    they are stopped by this process, so that their tracebacks never reach the terminal;
    on a scheduler, the run's tasks are cancelled.
    """
    level = InventoryLevel(level)
    parsed = parse_scope(scope)  # refuse a bad scope before anything is written
    if dask is not None:
        check_scheduler(dask)  # an unreachable scheduler: refused before anything is written
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    fresh = not state_path.exists()
    params = {
        "level": level.value,
        "scope": dict(parsed.keys),
        "partitions": partitions,
        "max_records": max_records,
    }
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if state["params"] != params:
            raise InventoryError(
                f"{out} holds an unfinished production with other parameters "
                f"({state['params']}); use another --out folder or remove {state_path}"
            )
    else:
        with opened(factory) as repo:
            bounds = repo.study_key_bounds(partitions)
        now = datetime.datetime.now()
        state = {
            "params": params,
            "root_uid": root_uid or generate_uid(),
            "purpose": purpose,
            "transaction_uid": transaction_uid,
            "transfer_syntax": transfer_syntax,
            "content_date": now.strftime("%Y%m%d"),
            "content_time": now.strftime("%H%M%S"),
            # the offset of every date and time in the instances (PS3.3 C.12.1.1.8)
            "utc_offset": now.astimezone().strftime("%z"),
            "ranges": [[a, b] for a, b in zip([None, *bounds], [*bounds, None], strict=True)],
            "done": {},
        }
        _save(state_path, state)
    header = {
        "sop_instance_uid": "",
        "inventory_level": level,
        "content_date": state["content_date"],
        "content_time": state["content_time"],
        "timezone_offset_from_utc": state.get("utc_offset"),
        "inventory_purpose": purpose,
        "transaction_uid": transaction_uid,
        "completion_status": InventoryCompletionStatus.PARTIAL,
        "equipment": _EQUIPMENT,
        "scope": ScopeOfInventory.from_keys(parsed.keys) if parsed.keys else None,
    }
    todo = [(i, r) for i, r in enumerate(state["ranges"]) if str(i) not in state["done"]]
    n_ranges = len(state["ranges"])

    def args(i: int, rng: list[str | None]) -> tuple[Any, ...]:
        h = dict(
            header,
            sop_instance_uid=generate_uid(),
            scope_keys=dict(parsed.keys),
            inventory_instance_description=(
                f"Partition {i + 1} of {n_ranges} of the inventory whose root is "
                f"{state['root_uid']}: Study Instance UIDs after {rng[0] or '(start)'} "
                f"up to {rng[1] or '(end)'}"
            ),
        )
        return (
            factory,
            str(out),
            h,
            i,
            rng[0],
            rng[1],
            max_records,
            transfer_syntax,
            retrieve_ae_title,
        )

    def record(result: PartitionResult) -> None:
        state["done"][str(result.index)] = asdict(result)
        _save(state_path, state)
        if (
            fail_after is not None
            and len(state["done"]) >= fail_after
            and len(state["done"]) < n_ranges
        ):
            raise InventoryError(f"stopped after {fail_after} partitions (fail_after)")

    finished = sum(int(d["study_records"]) for d in state["done"].values())
    if progress is not None:
        progress(finished)
    if dask is None:
        for i, rng in todo:
            before = sum(int(d["study_records"]) for d in state["done"].values())
            step = None if progress is None else (lambda n, b=before: progress(b + n))
            record(_produce_partition(*args(i, rng), progress=step))
    else:

        def record_and_count(result: PartitionResult) -> None:
            nonlocal finished
            record(result)
            finished += result.study_records

        def running(n: int) -> None:  # records written so far by the unfinished partitions
            if progress is not None:
                progress(finished + n)

        try:
            _run_on_dask(dask, [args(i, rng) for i, rng in todo], record_and_count, running)
        except SchedulerUnreachable:
            if fresh:  # nothing was produced: leave no unfinished production behind
                state_path.unlink(missing_ok=True)
                if created:
                    with contextlib.suppress(OSError):
                        out.rmdir()
            raise

    results = [PartitionResult(**state["done"][str(i)]) for i in range(n_ranges)]
    return _write_root(out, state, results, InventoryCompletionStatus.COMPLETE)


def close_partial(out_dir: str | os.PathLike[str]) -> tuple[Path, list[PartitionResult]] | None:
    """End an interrupted production with what it finished: a PARTIAL root over the done partitions.

    For a cancelled Inventory Creation that retains its instances (PS3.4 KK.2.2.2, Retain
    Instances): the root's Completion Status is PARTIAL, since its tree does not cover the
    whole Scope (PS3.17 YYYY.3.3.2.1). Returns None (and removes the state) when no partition
    had finished, i.e. there is nothing to keep.
    """
    out = Path(out_dir)
    state_path = out / STATE_FILE
    if not state_path.exists():
        return None
    state = json.loads(state_path.read_text())
    done = [PartitionResult(**state["done"][k]) for k in sorted(state["done"], key=int)]
    if not done:
        state_path.unlink()
        return None
    return _write_root(out, state, done, InventoryCompletionStatus.PARTIAL)


def _write_root(
    out: Path,
    state: dict[str, Any],
    results: list[PartitionResult],
    status: InventoryCompletionStatus,
) -> tuple[Path, list[PartitionResult]]:
    params = state["params"]
    n_ranges = len(state["ranges"])
    kept = [r for r in results if r.study_records or n_ranges == 1]
    root_header = InventoryHeader(
        sop_instance_uid=state["root_uid"],
        inventory_level=InventoryLevel(params["level"]),
        content_date=state["content_date"],
        content_time=state["content_time"],
        timezone_offset_from_utc=state.get("utc_offset"),
        completion_status=status,
        inventory_purpose=state.get("purpose"),
        transaction_uid=state.get("transaction_uid"),
        scope=ScopeOfInventory.from_keys(params["scope"]) if params["scope"] else None,
        equipment=_EQUIPMENT,
        incorporated=tuple(
            InventoryReference(r.root_uid, incorporated=_to_refs(r.references)) for r in kept
        ),
    )
    root_path = out / f"{state['root_uid']}.dcm"
    with InventoryWriter(
        root_path,
        root_header,
        transfer_syntax=state.get("transfer_syntax", ExplicitVRLittleEndian),
        incorporated_study_records=sum(r.study_records for r in kept),
    ) as w:
        w.close()
    for r in results:  # empty partitions are not incorporated: remove their files
        if r not in kept:
            for p in r.paths:
                Path(p).unlink(missing_ok=True)
    (out / STATE_FILE).unlink()
    return root_path, kept


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written state


class _ProgressFile:
    """A partition's progress on a Dask worker: its record count, in a file beside its folder.

    Picklable (a path), and written at most once per :data:`PROGRESS_EVERY` seconds, by
    rename (never half-written): the driver reads it while the partition runs. The output
    folder is shared with the workers already, since they write the partitions into it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = 0.0

    def __call__(self, n: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(n))
        os.replace(tmp, self.path)

    def read(self) -> int:
        """The count last written; 0 before the first."""
        try:
            return int(self.path.read_text() or 0)
        except (OSError, ValueError):
            return 0


def _progress_file(out_dir: str, index: int) -> _ProgressFile:
    return _ProgressFile(Path(out_dir) / f".part-{index:05d}.progress")


def check_scheduler(address: str, timeout: float = SCHEDULER_CONNECT_TIMEOUT) -> None:
    """Refuse a Dask scheduler address nothing answers at, within `timeout` seconds.

    Dask's own client waits its connect timeout (30 s by default) and then fails with a
    generic message; a connection tried first names the address and why at once. ``"local"``
    (a cluster of our own) and transports other than TCP (``tcp://``, ``tls://``, or no
    scheme) are left to Dask.

    Raises
    ------
    InventoryError
        `address` is not an address (``HOST[:PORT]``, optionally ``tcp://``/``tls://``).
    SchedulerUnreachable
        Nothing accepts a TCP connection there.
    """
    if address == "local":
        return
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return
        host, port = parse_host_port(location, default_port=DEFAULT_SCHEDULER_PORT)
    except ValueError as exc:
        raise InventoryError(
            f"Dask scheduler {address!r}: expected local or tcp://HOST:PORT ({exc})"
        ) from exc
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__  # a timeout has no strerror
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address}: {why} (is a scheduler running "
            "there, e.g. `dask scheduler`? nothing was written)"
        ) from exc


def _run_on_dask(
    address: str,
    jobs: list[tuple[Any, ...]],
    record: Callable[[PartitionResult], None],
    running: Callable[[int], None],
) -> None:
    """Run the partition `jobs` on Dask; `record` each result, report `running` counts.

    `running` is called about once a second with the records the unfinished partitions have
    written so far (read from their :class:`_ProgressFile`), and after each result.
    """
    from dask.distributed import Client, wait

    cluster = _local_cluster() if address == "local" else None
    try:
        client = Client(cluster if cluster is not None else address)
    except (OSError, TimeoutError) as exc:  # something answers there, not a scheduler
        if cluster is not None:
            cluster.close()
        raise SchedulerUnreachable(f"no Dask scheduler at {address}: {exc}") from exc
    futures: list[Any] = []
    files = {job[3]: _progress_file(job[1], job[3]) for job in jobs}  # job[3]: the index
    try:
        for job in jobs:
            files[job[3]].path.unlink(missing_ok=True)
            futures.append(
                client.submit(_produce_partition, *job, progress=files[job[3]], pure=False)
            )
        pending = set(futures)
        while pending:
            try:
                done, pending = wait(pending, timeout=PROGRESS_EVERY, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            for fut in done:
                result = fut.result()
                record(result)
                files.pop(result.index).path.unlink(missing_ok=True)
            running(sum(f.read() for f in files.values()))
    except BaseException:
        # interrupted (or a partition failed): what the workers still run is of no use
        with _quiet_dask():
            if cluster is not None:  # our own workers: stopped mid-task, and not to say so
                client.run(_quiet_dask_logs, on_error="ignore")
            client.cancel(futures)
            client.close()
            if cluster is not None:
                cluster.close()
        raise
    finally:
        for f in files.values():
            f.path.unlink(missing_ok=True)
    client.close()
    if cluster is not None:
        cluster.close()


def _local_cluster() -> Any:
    """A LocalCluster of two worker processes that ignore SIGINT.

    Ctrl-C in a terminal sends SIGINT to every process of the foreground group, the worker
    processes included: each would print its own ``KeyboardInterrupt`` traceback. Started
    with SIGINT ignored (a disposition kept through fork and exec, and Python then installs
    no handler of its own), they leave it to this process, which stops them. The price: a
    Ctrl-C during the cluster's start (a second or two) is ignored; one after it is not. (A
    blocked signal would not be lost, but the signal mask is reset for spawned processes.)
    """
    import signal
    import threading

    from dask.distributed import LocalCluster

    def start() -> Any:
        return LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )

    if threading.current_thread() is not threading.main_thread():
        return start()  # signal handlers are the main thread's (a node's job runs elsewhere)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)


def _quiet_dask_logs() -> None:
    """In a worker of our own cluster being stopped: no log of the stop (lost heartbeats)."""
    import logging

    logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Stop a cluster after an interruption without its warnings (tasks lost, workers killed).

    Those warnings are the expected consequences of the stop the user asked for; errors are
    still logged.
    """
    import logging

    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
