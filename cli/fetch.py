"""The ``fetch`` command: the stored files an inventory links to, checked and brought up to date."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.options import err, out, progress
from dicom_inventory.cli.web import inventory_sources, web_options
from rich.progress import Progress, TaskID

if TYPE_CHECKING:
    from dicom_inventory.scu.fetch import FetchResult

__all__ = ["fetch"]

_MB: Final = 1e6
_TICK: Final = 1e-3  # seconds: the shortest time a rate is divided by


def _http_prefixes(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """The --allow-url values, each an http(s)://host[:port][/path] prefix."""
    from urllib.parse import urlsplit

    for url in value:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise click.BadParameter(f"{url!r} is not an http(s)://host[:port][/path] prefix")
    return value


class _Shown:
    """What the progress display shows: instances done of the total, and the MB/s fetched.

    The display's own rate column counts instances; the bytes rate goes in the description.
    """

    def __init__(self, p: Progress, task: TaskID) -> None:
        self.p, self.task = p, task
        self.start = time.monotonic()
        self.bytes = 0

    def total(self, n: int) -> None:
        self.start = time.monotonic()  # the records are counted: fetching starts
        self.p.update(self.task, total=n, description="fetching")

    def step(self, r: FetchResult) -> None:
        self.bytes += r.size if r.status == "fetched" else 0
        mb = self.bytes / _MB
        rate = mb / max(time.monotonic() - self.start, _TICK)
        self.p.update(self.task, advance=1, description=f"fetching {mb:,.1f} MB, {rate:,.1f} MB/s")


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY...")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--apply-updates", is_flag=True, help="Write the archive's current values into the objects."
)
@click.option("--workers", type=int, default=4, show_default=True)
@click.option(
    "--allow-root",
    "allow_roots",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A folder links may name files in (repeatable). Always allowed: the inventory's folder.",
)
@click.option(
    "--allow-url",
    "allow_urls",
    multiple=True,
    metavar="URL",
    callback=_http_prefixes,
    help="An http(s)://host[:port][/path] prefix links may start with (repeatable).",
)
@click.option(
    "--allow-any", is_flag=True, help="Follow every link: no allow-list (trusted inventories only)."
)
@click.option(
    "--ignore-base-uris",
    is_flag=True,
    help="Do not allow what the inventory's own Stored Instance Base URIs name (untrusted inventories).",
)
@click.option(
    "--max-object-size",
    type=click.IntRange(min=1),
    default=None,
    metavar="BYTES",
    help="Most bytes read for an object without a declared length, or a container over http "
    "[default: 2 GiB].",
)
@web_options
def fetch(
    sources: tuple[str, ...],
    out_dir: Path,
    apply_updates: bool,
    workers: int,
    allow_roots: tuple[Path, ...],
    allow_urls: tuple[str, ...],
    allow_any: bool,
    ignore_base_uris: bool,
    max_object_size: int | None,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Fetch the stored files the records link to, checked (and brought up to date).

    INVENTORY is a file or a DICOMweb URL (https://host/dicomweb/inventories/UID).

    Links are followed only under the inventory's folder, its Stored Instance Base URIs and
    the --allow-root/--allow-url given (see docs/migration-vendors.md, "What an untrusted
    inventory can make fetch touch"). No token is sent with a link.
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.fetch import DEFAULT_MAX_OBJECT_SIZE, FetchPolicy, fetch_inventory

    policy = FetchPolicy(
        allow_roots=allow_roots,
        allow_urls=allow_urls,
        allow_any=allow_any,
        trust_base_uris=not ignore_base_uris,
        max_object_size=max_object_size or DEFAULT_MAX_OBJECT_SIZE,
        verify=str(ca_cert) if ca_cert is not None else True,
    )
    with tempfile.TemporaryDirectory(prefix="dicom-inventory-fetch-") as tmp:
        try:
            paths = inventory_sources(sources, Path(tmp), token_file, ca_cert)
        except InventoryError as exc:
            fail(exc)
        # total=0 until the records are counted: the display has its M/N and ETA columns
        with progress("counting records", total=0, unit="instances") as (p, task):
            shown = _Shown(p, task)
            try:
                s = fetch_inventory(
                    paths,
                    out_dir,
                    apply_updates=apply_updates,
                    workers=workers,
                    progress=shown.step,
                    policy=policy,
                    total=shown.total,
                )
            except (InventoryError, OSError) as exc:
                fail(exc)
            except KeyboardInterrupt:
                p.stop()
                err.print(
                    f"the objects in {out_dir} are whole; the same command again fetches the rest",
                    highlight=False,
                    markup=False,
                )
                raise
    out.print(
        f"fetched {s.fetched} ({s.bytes / _MB:.1f} MB), already there {s.skipped}, updated {s.updated}, "
        f"no link {s.no_link}, failed {s.failed}",
        highlight=False,
    )
    for f in s.failures[:50]:
        err.print(f"  failed {f.sop_instance_uid}: {f.error}", highlight=False, markup=False)
    if s.failed > 50:
        err.print(f"  ... and {s.failed - 50} more failures", highlight=False)
    sys.exit(ExitCode.FINDINGS if s.failed else ExitCode.OK)
