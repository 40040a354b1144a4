"""``dicom-inventory archive ...``: the embedded archive (ingest, update, synth, info)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.cli.options import err, out, progress

__all__ = ["archive", "create"]


def _target(study: str | None, series: str | None, instance: str | None) -> tuple[str, str]:
    """The one (level, UID) named by --study, --series or --instance."""
    given = [
        (lvl, uid)
        for lvl, uid in (("STUDY", study), ("SERIES", series), ("INSTANCE", instance))
        if uid
    ]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --study, --series, --instance")
    return given[0]


def _target_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--study / --series / --instance: which entity a command acts on (see _target)."""
    for name, dest, help_ in (
        ("--instance", "instance_uid", "SOP Instance UID"),
        ("--series", "series_uid", "Series Instance UID"),
        ("--study", "study_uid", "Study Instance UID"),
    ):
        f = click.option(name, dest, help=help_)(f)
    return f


def _pairs(items: tuple[str, ...], option: str) -> dict[str, str]:
    """KEYWORD=VALUE options as a dict."""
    pairs = {}
    for item in items:
        keyword, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"{option} {item!r}: expected KEYWORD=VALUE")
        pairs[keyword.strip()] = value
    return pairs


def _where(f: Callable[..., Any]) -> Callable[..., Any]:
    """--archive DIR / --repository URL: which archive a command works on."""
    f = click.option(
        "--repository",
        default=None,
        metavar="postgresql://...",
        help="The archive index in PostgreSQL (default: $DICOM_INVENTORY_DSN, else the "
        "embedded archive); --archive then holds only the files it keeps.",
    )(f)
    return click.option(
        "--archive",
        "directory",
        type=click.Path(path_type=Path),
        default=None,
        help="The embedded archive's folder (index and stored files).",
    )(f)


@click.group()
def archive() -> None:
    """The archive: the embedded one (a folder with a SQLite index) or one in PostgreSQL."""


@archive.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@_where
@click.option("--copy", is_flag=True, help="Copy files and containers into the archive's store/.")
def ingest(
    sources: tuple[Path, ...], directory: Path | None, repository: str | None, copy: bool
) -> None:
    """Index DICOM files from folders and containers (ZIP, TAR, TAR.GZ, GZIP, BLOB).

    One bad item never ends the run: each file or member that cannot be indexed is reported
    on stderr, one line each (``skipped SOURCE[!MEMBER]: why``), the rest is indexed, and the
    command exits 3 (done in part) when anything was skipped, 0 otherwise. A SOURCE that does
    not exist is a usage error: the command names every missing one on one line and exits 2
    before it indexes anything or creates the archive (a mistyped path is fixed and the
    command run again; indexing is idempotent).

    On a terminal a progress bar counts the files read (a first pass lists the folders to
    know their number), with the objects indexed, the rate and the time left. Stopped with
    Ctrl-C, the index keeps every batch committed before (it is never left half-written):
    the same command run again indexes the rest.
    """
    from dicom_inventory.cli.exits import fail
    from dicom_inventory.scp.archive import IngestError
    from dicom_inventory.scp.archive.ingest import count_files
    from dicom_inventory.scp.backends import open_archive

    missing = [str(s) for s in sources if not s.exists()]
    if missing:
        fail(
            f"no such file or folder: {', '.join(missing)} (nothing ingested; expected DICOM "
            "files, folders or containers)",
            ExitCode.USAGE,
        )

    with open_archive(directory, repository, create=True) as a:
        total = None
        if err.is_terminal:  # the first pass is only worth its cost for a bar to show
            with progress("counting files"):
                total = count_files(sources)
        found_so_far = skipped = 0
        with progress("indexing", total=total, unit="files") as (display, task):

            def tick(found: object) -> None:
                nonlocal found_so_far, skipped
                found_so_far += 1
                skipped += isinstance(found, IngestError)
                display.update(
                    task, description=f"indexing: {found_so_far:,} objects, {skipped:,} skipped"
                )
                if isinstance(found, IngestError):
                    _skipped_line(found)

            report = a.ingest(
                sources, copy=copy, progress=tick, on_file=lambda: display.advance(task)
            )
        counts = a.counts()
    out.print(
        f"added {report.added}, already indexed {report.known}, skipped "
        f"{len(report.errors)}; archive holds {counts['studies']} studies, "
        f"{counts['series']} series, {counts['instances']} instances",
        highlight=False,
    )
    if report.errors:
        sys.exit(ExitCode.PARTIAL)


def _skipped_line(found: Any) -> None:
    """One line on stderr for an item ingest skipped: ``skipped SOURCE[!MEMBER]: why``."""
    where = f"{found.source}{'!' + found.member if found.member else ''}"
    err.print(
        f"skipped {where}: {found.message}",
        highlight=False,
        markup=False,
        soft_wrap=True,  # one line per failure, whatever the terminal's width
    )


@archive.command()
@_where
@_target_options
@click.option("--set", "assignments", multiple=True, required=True, metavar="KEYWORD=VALUE")
@click.option(
    "--by",
    "changed_by",
    default="dicom-inventory",
    show_default=True,
    help="Modifying System recorded with the change.",
)
@click.option(
    "--reason", type=click.Choice(["CORRECT", "COERCE"]), default="CORRECT", show_default=True
)
def update(
    directory: Path | None,
    repository: str | None,
    study_uid: str | None,
    series_uid: str | None,
    instance_uid: str | None,
    assignments: tuple[str, ...],
    changed_by: str,
    reason: str,
) -> None:
    """Change metadata in the database only; the stored files keep their values.

    KEYWORD is an attribute the archive records at the level of --study, --series or
    --instance; VALUE must be valid for its VR (PS3.5 Table 6.2-1: a date of the calendar,
    the maximum length, the character repertoire, one value unless the attribute takes
    several). Anything else is refused (exit 2) and nothing is changed: every inventory made
    afterwards carries the value. An empty VALUE removes it.
    """
    from dicom_inventory.scp.backends import open_archive

    values = _pairs(assignments, "--set")
    level, uid = _target(study_uid, series_uid, instance_uid)
    with open_archive(directory, repository) as a:
        a.update(level, uid, values, changed_by=changed_by, reason=reason)
    out.print(
        f"updated {level.lower()} {uid}: {', '.join(values)} (stored files unchanged)",
        highlight=False,
    )


@archive.command()
@_where
@_target_options
@click.option(
    "--reason",
    type=click.Choice(["113001", "113037", "113038", "113039"]),
    default="113001",
    show_default=True,
    help="Rejection reason (DCM codes: quality, patient safety, worklist, retention).",
)
def remove(
    directory: Path | None,
    repository: str | None,
    study_uid: str | None,
    series_uid: str | None,
    instance_uid: str | None,
    reason: str,
) -> None:
    """Flag a study, series or instance as removed from operational use (kept, flagged Y)."""
    from dicom_inventory.scp.backends import open_archive

    level, uid = _target(study_uid, series_uid, instance_uid)
    with open_archive(directory, repository) as a:
        a.remove(level, uid, reason)
    out.print(f"{level.lower()} {uid} removed from operational use ({reason})", highlight=False)


@archive.command()
@_where
@click.option("--studies", type=click.IntRange(1), default=10, show_default=True)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Goes into the UIDs and Accession Numbers made (at most 8 digits).",
)
@click.option("--series-per-study", type=click.IntRange(1), default=3, show_default=True)
@click.option("--instances-per-series", type=click.IntRange(1), default=4, show_default=True)
def synth(
    directory: Path | None,
    repository: str | None,
    studies: int,
    seed: int,
    series_per_study: int,
    instances_per_series: int,
) -> None:
    """Build a synthetic archive: real small images in every container type, with updates.

    The same seed gives the same archive; running it again on the same archive adds nothing
    and records no database-only update twice. On a terminal a progress bar follows each
    step (images written, indexed, updates made) with its rate and time left. Stopped with
    Ctrl-C, it leaves complete files only and a consistent index: run it again to finish.
    """
    from dicom_inventory.scp.archive.synth import check_counts, synthesize
    from dicom_inventory.scp.backends import open_archive

    check_counts(studies, seed, series_per_study, instances_per_series)  # before any folder
    total = studies * series_per_study * instances_per_series
    steps = {"writing": "writing images", "indexing": "indexing", "updating": "updating"}
    with (
        open_archive(directory, repository, create=True) as a,
        progress(steps["writing"], total=total, unit="instances") as (display, task),
    ):
        shown = ["writing"]

        def step(name: str, done: int, of: int) -> None:
            if name != shown[0]:  # a new step: its own count, total, rate and time left
                shown[0] = name
                unit = "updates" if name == "updating" else "instances"
                display.reset(task, total=of, completed=done, description=steps[name], unit=unit)
            else:
                display.update(task, completed=done)

        r = synthesize(
            a,
            studies=studies,
            seed=seed,
            series_per_study=series_per_study,
            instances_per_series=instances_per_series,
            progress=step,
        )
        counts = a.counts()
    out.print(
        f"made {r.studies} studies, {r.instances} instances ({r.ingest.added} new, "
        f"{r.ingest.known} already indexed), {r.updates} database-only updates "
        f"({r.already} already made); archive holds {counts['instances']} instances",
        highlight=False,
    )


@archive.command()
@_where
def info(directory: Path | None, repository: str | None) -> None:
    """Counts of the archive's index."""
    from dicom_inventory.scp.backends import open_archive

    with open_archive(directory, repository) as a:
        for name, n in a.counts().items():
            out.print(f"{name:10} {n}", highlight=False)


@click.command()
@_where
@click.option(
    "--level",
    type=click.Choice(["STUDY", "SERIES", "INSTANCE"], case_sensitive=False),
    required=True,
    help="Inventory Level (PS3.3 C.38.1.1.1), any case.",
)
@click.option(
    "--scope",
    "scope_keys",
    multiple=True,
    metavar="KEYWORD=VALUE",
    help="Scope of Inventory key (PS3.4 C.2.2.2 matching); repeat for more.",
)
@click.option(
    "--max-records",
    type=click.IntRange(1),
    default=None,
    help="Split into instances of at most this many records.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Replace the inventory --out already holds: the new tree is produced beside it and "
    "swapped in only when complete (without it, such a folder is refused).",
)
@click.option("--purpose", default=None, help="Inventory Purpose (0008,0401).")
@click.option("--retrieve-ae-title", default=None, help="Retrieve AE Title of the archive.")
@click.option("--deflate", is_flag=True, help="Deflated Explicit VR Little Endian.")
@click.option(
    "--partitions",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Study key ranges, each one Inventory instance (or subtree) under a root; a re-run "
    "after an interruption resumes from the last completed partition.",
)
@click.option(
    "--dask",
    "dask_address",
    default=None,
    metavar="local|tcp://HOST:PORT",
    help="Run the partitions on Dask: a local 2-worker cluster or a scheduler.",
)
def create(
    directory: Path | None,
    repository: str | None,
    level: str,
    scope_keys: tuple[str, ...],
    max_records: int | None,
    out_dir: Path,
    replace: bool,
    purpose: str | None,
    retrieve_ae_title: str | None,
    deflate: bool,
    partitions: int,
    dask_address: str | None,
) -> None:
    """Produce an inventory of the archive: a root incorporating one part per partition.

    An --out folder that already holds a finished inventory is refused (usage error) unless
    --replace is given. An inventory is the record of what an archive held at one time (a
    migration is proven against it), so it is never overwritten by accident; and a root
    left beside the leaves of another production would point at instances that no longer
    exist (PS3.3 C.38.1.1.5). With --replace the new tree is produced in a staging folder
    beside --out (``.NAME.replacing``, resumed if the run is interrupted), and only once it
    is complete is it swapped in and the old tree removed: at no moment does --out hold a
    root whose leaves are missing. A folder holding an unfinished production (its
    ``production.json``) is resumed, as before.

    On a terminal a progress bar counts the study records written against the archive's
    number of studies (without --scope; with one, the count and rate only), with the rate
    and time left; on Dask it moves as each partition finishes. Stopped with Ctrl-C, the
    command exits 130: an --out folder being produced keeps its finished partitions, marked
    unfinished by its ``production.json`` (the same command resumes them), and a --replace
    run removes its staging folder and leaves the inventory it was replacing untouched.
    """
    import functools

    from dicom_inventory.scp.backends import open_archive
    from dicom_inventory.scp.production.partitioned import produce_partitioned
    from dicom_inventory.scp.production.scope import parse_scope
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    scope = _pairs(scope_keys, "--scope")
    parse_scope(scope)  # a bad scope is refused before anything is shown or written
    ts = DeflatedExplicitVRLittleEndian if deflate else ExplicitVRLittleEndian

    with open_archive(directory, repository) as a:  # a missing archive: reported before work
        total = None if scope else a.counts()["studies"]
    target = _create_target(out_dir, replace)
    try:
        with progress("creating", total=total, unit="studies") as (display, task):
            root, parts = produce_partitioned(
                functools.partial(open_archive, directory, repository),
                target,
                level=level,
                scope=scope,
                partitions=partitions,
                max_records=max_records,
                dask=dask_address,
                purpose=purpose,
                retrieve_ae_title=retrieve_ae_title,
                transfer_syntax=ts,
                progress=lambda n: display.update(task, completed=n),
            )
    except KeyboardInterrupt:
        if target != out_dir:
            _abandon(target)
        raise
    if target != out_dir:
        _swap_in(target, out_dir)
    click.echo(
        f"{_moved(root, target, out_dir)}  root of {len(parts)} partition(s), "
        f"{sum(p.study_records for p in parts)} study records"
    )
    for p in parts:
        for path in p.paths:
            click.echo(_moved(Path(path), target, out_dir))


def _holds_tree(folder: Path) -> bool:
    """True if `folder` holds a finished inventory (files, and no unfinished production)."""
    from dicom_inventory.scp.production.partitioned import STATE_FILE

    if not folder.is_dir() or (folder / STATE_FILE).exists():
        return False
    return any(folder.glob("*.dcm")) or any(folder.glob("part-*"))


def _staging(out_dir: Path, what: str) -> Path:
    return out_dir.parent / f".{out_dir.name}.{what}"


def _create_target(out_dir: Path, replace: bool) -> Path:
    """Where ``create`` produces: `out_dir`, or (replacing a tree) a staging folder beside it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"--out {out_dir} is a file, not a folder")
    staging = _staging(out_dir, "replacing")
    if replace and not out_dir.exists() and _holds_tree(staging):
        _swap_in(staging, out_dir)  # a run stopped between the two renames of the swap
    if not _holds_tree(out_dir):
        return out_dir
    if not replace:
        raise click.UsageError(
            f"--out {out_dir} already holds an inventory; give --replace to replace it "
            "(the new one is produced beside it and swapped in when complete), "
            "or choose another folder"
        )
    return staging


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Run the block with SIGINT ignored: a file-system step that Ctrl-C must not cut in two."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _abandon(staging: Path) -> None:
    """Remove the staging folder of a --replace run the user stopped (Ctrl-C)."""
    with _uninterrupted():  # a second Ctrl-C must not leave half of it behind
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Put the complete tree in `staging` at `out_dir`; the old tree is removed only then.

    Ctrl-C waits for the swap: --out never stays without a tree between the two renames.
    """
    old = _staging(out_dir, "replaced")
    with _uninterrupted():
        shutil.rmtree(old, ignore_errors=True)  # left by a run stopped before its clean-up
        if out_dir.exists():
            out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)


def _moved(path: Path, staging: Path, out_dir: Path) -> Path:
    """`path` (written under `staging`) where it is now, under `out_dir`."""
    if staging == out_dir:
        return path
    return out_dir / Path(path).relative_to(staging)
