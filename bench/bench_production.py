"""Benchmark of the embedded archive and inventory production (issue 5).

Prints, in one run:

* ingest rate, files/s (headers only), from a folder of real small images;
* production rate, instance records/s, from an index of N synthetic instances bulk-loaded
  into SQLite (no files needed; N = 1,000,000 by default)                     [< 30 s for 1M]
* peak RSS of the production process                                            [< 300 MB]
* the speed-up of ``--dask local`` (2 workers) over in-process, same partitions;
* the time to find the studies of a narrow scope (one patient, a worklist of 100 Study
  Instance UIDs) with the archive's filter in its query, and by a walk over every study;
* with ``--postgres``: the same N instances loaded into a throwaway PostgreSQL server with
  COPY (load rate), and the same production figures read from it, beside SQLite's.
  Targets (issue 18): PostgreSQL within 1.5x of SQLite's rate, RSS < 300 MB per process,
  Dask speed-up >= 1.6x with 2 workers.

Usage::

    python bench/bench_production.py                      # 1,000,000 instances
    python bench/bench_production.py --instances 200000   # quicker
    python bench/bench_production.py --postgres --instances 10000000
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dicom_inventory.enum import ContainerFileType
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.objects import make_image, to_part10
from dicom_inventory.scp.backends import open_archive
from dicom_inventory.scp.stores.repository import (
    InstanceEntry,
    SeriesEntry,
    StoredFile,
    StudyEntry,
)


def synthetic_entries(
    n_instances: int, per_series: int = 50, per_study: int = 4
) -> Iterator[tuple[StudyEntry, Any]]:
    """Synthetic repository entries, 200 instances a study, one stored location each."""
    now = "20261124120000"
    n_series = n_instances // per_series
    for s in range(n_series // per_study):
        st = f"1.2.826.0.1.3680043.10.543.9.{s + 1}"
        study = StudyEntry(
            st,
            {
                "PatientID": f"P{s // 3:07d}",
                "PatientName": "Doe^Jane",
                "StudyDate": "20240102",
                "AccessionNumber": f"A{s:08d}",
            },
            now,
            per_study,
            per_study * per_series,
        )

        def series(st: str = st, s: int = s) -> Iterator[tuple[SeriesEntry, Any]]:
            for j in range(per_study):
                se = f"{st}.{j + 1}"
                yield (
                    SeriesEntry(se, {"Modality": "CT", "SeriesNumber": 1}),
                    (
                        InstanceEntry(
                            f"{se}.{k + 1}",
                            "1.2.840.10008.5.1.4.1.1.2",
                            {"InstanceNumber": k + 1},
                            (
                                StoredFile(
                                    f"/archive/{s}/{j}.tar",
                                    "1.2.840.10008.1.2.1",
                                    ContainerFileType.TAR,
                                    f"{k + 1}.dcm",
                                    512 + k * 4096,
                                    3584,
                                ),
                            ),
                        )
                        for k in range(per_series)
                    ),
                )

        yield study, series()


def fill_index(directory: Path, n_instances: int, per_series: int = 50, per_study: int = 4) -> None:
    """Index rows for `n_instances` instances (no files), bulk-loaded into a SQLite archive."""
    with Archive(directory, create=True) as a:
        a.load_entries(synthetic_entries(n_instances, per_series, per_study))


def child(args: argparse.Namespace) -> None:
    """In a fresh process: produce from the index; print JSON with time and peak RSS."""
    from dicom_inventory.scp.production import produce
    from dicom_inventory.scp.production.partitioned import produce_partitioned

    out = Path(args.child_out)
    factory = functools.partial(open_archive, Path(args.child_archive), args.child_repository)
    t = time.perf_counter()
    if args.mode == "single":
        with factory() as a:
            written = produce(a, out, level="INSTANCE")
        records = sum(w.number_of_records for w in written)
    else:
        _, parts = produce_partitioned(
            factory,
            out,
            level="INSTANCE",
            partitions=4,
            dask="local" if args.mode == "dask" else None,
        )
        records = sum(p.records for p in parts)
    dt = time.perf_counter() - t
    rss = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    print(json.dumps({"seconds": dt, "records": records, "rss_mb": rss}))


def run_child(
    mode: str, archive: Path, out: Path, repository: str | None = None
) -> dict[str, float]:
    r = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--child-archive",
            str(archive),
            "--child-out",
            str(out),
            *(["--child-repository", repository] if repository else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--ingest-files", type=int, default=2000)
    ap.add_argument("--child", dest="mode", default=None)
    ap.add_argument("--child-archive")
    ap.add_argument("--child-out")
    ap.add_argument("--child-repository", default=None)
    ap.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    args = ap.parse_args()
    if args.mode:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        for i in range(args.ingest_files):
            (src / f"{i}.dcm").write_bytes(
                to_part10(
                    make_image(
                        study_uid=f"1.2.3.{i // 100}",
                        series_uid=f"1.2.3.{i // 100}.{i // 10}",
                        sop_uid=f"1.2.3.{i // 100}.{i // 10}.{i}",
                        instance_number=i,
                    )
                )
            )
        with Archive(root / "ingest", create=True) as a:
            t = time.perf_counter()
            report = a.ingest([src])
            ingest_rate = report.added / (time.perf_counter() - t)
        t = time.perf_counter()
        fill_index(root / "big", args.instances)
        fill_s = time.perf_counter() - t
        single, sqlite_rows = _production(root / "big", root / "sqlite", "")
        with Archive(root / "big") as a:
            sqlite_rows += _scope_rows(a, "")
        pg_rows = _postgres(args, root, single) if args.postgres else []
    rows = [
        ("ingest (headers only, plain files)", f"{ingest_rate:,.0f} files/s", ""),
        ("index rows generated", f"{args.instances:,} instances", f"{fill_s:.0f} s"),
        *sqlite_rows,
        *pg_rows,
    ]
    width = max(len(r[0]) for r in rows)
    print(f"dicom-inventory production benchmark, Python {sys.version.split()[0]}")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>22}  {note}")


def _scope_rows(repo: Any, label: str) -> list[tuple[str, str, str]]:
    """Time finding the studies of narrow scopes with the archive's filter and without it."""
    from dicom_inventory.scp.production.scope import parse_scope

    rows = []
    worklist = "\\".join(f"1.2.826.0.1.3680043.10.543.9.{7 * k + 1}" for k in range(100))
    for name, keys in (
        ("one patient", {"PatientID": "P0000123"}),
        ("a worklist of 100 studies", {"StudyInstanceUID": worklist}),
    ):
        scope = parse_scope(keys)
        times = []
        for walk in (
            lambda narrowing=scope.narrowing: repo.iter_filtered_studies(narrowing),
            lambda: repo.iter_studies(),
        ):
            t = time.perf_counter()
            found = [s for s in walk() if scope.matches(s.attributes, s.study_instance_uid)]
            times.append(time.perf_counter() - t)
        rows.append(
            (
                f"{label}scope of {name}: studies found",
                f"{len(found):,} in {times[0] * 1000:,.1f} ms",
                f"full walk {times[1]:,.2f} s ({times[1] / times[0]:,.0f}x)",
            )
        )
    return rows


def _production(
    archive: Path, out: Path, label: str, url: str | None = None, baseline: float | None = None
) -> tuple[dict[str, float], list[tuple[str, str, str]]]:
    """Produce one pass, 4 partitions in process and on Dask; the one pass and the rows."""
    single = run_child("single", archive, out / "single", url)
    local = run_child("partitions", archive, out / "parts", url)
    dask = run_child("dask", archive, out / "dask", url)
    rate = single["records"] / single["seconds"]
    note = f"{single['seconds']:.1f} s for {single['records']:,} records (target < 30 s for 1M)"
    if baseline is not None:
        note = f"takes {baseline / rate:.2f}x SQLite's time (target <= 1.5x)"
    speed_up = f"speed-up {local['seconds'] / dask['seconds']:.2f}x over in process"
    if baseline is not None:
        speed_up += f" (target >= 1.6x); driver RSS {dask['rss_mb']:.0f} MB"
    return single, [
        (f"{label}production, one pass", f"{rate:,.0f} rec/s", note),
        (f"{label}peak RSS, one pass", f"{single['rss_mb']:.0f} MB", "< 300 MB"),
        (f"{label}production, 4 partitions in process", f"{local['seconds']:.1f} s", ""),
        (
            f"{label}production, 4 partitions on Dask local (2 workers)",
            f"{dask['seconds']:.1f} s",
            speed_up,
        ),
    ]


def _postgres(
    args: argparse.Namespace, root: Path, sqlite_single: dict[str, float]
) -> list[tuple[str, str, str]]:
    """Load the same instances into a throwaway PostgreSQL and measure production from it."""
    from dicom_inventory.scp.postgres import PostgresArchive
    from dicom_inventory.scp.postgres.throwaway import PostgresServer, find_bin

    bin_dir = find_bin()
    if bin_dir is None:
        return [("PostgreSQL", "not installed", "apt-get install postgresql")]
    server = PostgresServer(bin_dir)
    server.start()
    try:
        url = server.url(server.new_database().rsplit("=", 1)[1])
        t = time.perf_counter()
        with PostgresArchive(url) as pg:
            counts = pg.load_entries(synthetic_entries(args.instances))
        load_s = time.perf_counter() - t
        baseline = sqlite_single["records"] / sqlite_single["seconds"]
        _, rows = _production(root / "pgfiles", root / "pg", "PostgreSQL: ", url, baseline)
        with PostgresArchive(url) as pg:
            rows += _scope_rows(pg, "PostgreSQL: ")
    finally:
        server.stop()
    return [
        (
            "PostgreSQL: COPY load",
            f"{counts['instances'] / load_s:,.0f} instances/s",
            f"{load_s:.0f} s for {counts['instances']:,} instances and their files",
        ),
        *rows,
    ]


if __name__ == "__main__":
    main()
