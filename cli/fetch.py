"""The ``fetch`` command: the stored files an inventory links to, checked and brought up to date."""

from __future__ import annotations

import logging
import os
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.options import err, out, progress
from dicom_inventory.cli.web import inventory_sources, web_options
from rich.progress import Progress, TaskID

if TYPE_CHECKING:
    from dicom_inventory.scu.fetch import FetchResult, FetchSummary

__all__ = ["fetch"]

_MB: Final = 1e6
_TICK: Final = 1e-3  # seconds: the shortest time a rate is divided by
#: Failure reasons listed at most (each with its count); ``-v`` lists every record.
MAX_REASONS_SHOWN: Final = 20
#: How the allow-list's refusal of a link begins (:mod:`dicom_inventory.scu.fetch`).
_OUTSIDE: Final = "outside the allowed roots/hosts"


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
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Records fetched at the same time.",
)
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

    Failures are listed one line per reason, with the number of records and where their
    links are; links outside the allowed folders or hosts are counted per folder or host with
    the --allow-root or --allow-url that allows them. -v lists every record.
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
    _report_failures(s, per_record=logging.getLogger().isEnabledFor(logging.INFO))
    sys.exit(ExitCode.FINDINGS if s.failed else ExitCode.OK)


def _say(text: str) -> None:
    """One line on stderr, whatever the terminal's width (a path is copied from it whole)."""
    err.print(text, highlight=False, markup=False, soft_wrap=True)


def _report_failures(s: FetchSummary, *, per_record: bool) -> None:
    """The failures: one line per reason, with its count; with ``-v``, one line per record.

    A hundred records that link under the same folder fail for the same reason: one line says
    so, with the option that allows the folder. Reasons are shown most frequent first, at most
    :data:`MAX_REASONS_SHOWN` of them.
    """
    if per_record:
        for f in s.failures:
            _say(f"  failed {f.sop_instance_uid}: {f.error}")
    groups = _failure_groups(s.failures)
    if per_record:  # each record has its line already: only the counts of shared reasons
        groups = [(n, line) for n, line in groups if n > 1]
    for _, line in groups[:MAX_REASONS_SHOWN]:
        _say(f"  {line}")
    if len(groups) > MAX_REASONS_SHOWN:
        _say(f"  ... and {len(groups) - MAX_REASONS_SHOWN} more reasons (-v shows every record)")
    if s.failed > len(s.failures):
        _say(f"  ... and {s.failed - len(s.failures)} more failures, not kept")
    if not per_record and any(n > 1 for n, _ in groups):
        _say("  (-v shows every record and why it failed)")


def _records(n: int, verb: str = "") -> str:
    """``1 record links``, ``2 records link``: `n` records, and `verb` agreeing with it."""
    if not verb:
        return f"{n} record{'s' if n != 1 else ''}"
    return f"{n} record {verb}s" if n == 1 else f"{n} records {verb}"


def _failure_groups(failures: list[FetchResult]) -> list[tuple[int, str]]:
    """One line per reason of `failures`, with its number of records, most frequent first.

    Links refused by the allow-list are grouped by where they point (the folder they share,
    or the scheme, host and port), with the option that allows it. Other failures are grouped
    by their reason without the link they name, followed by where those links are. A reason
    only one record has is that record's own line, ``failed UID: why``.
    """
    refused_files: dict[str, list[FetchResult]] = defaultdict(list)
    refused_urls: dict[str, list[FetchResult]] = defaultdict(list)
    reasons: dict[str, list[tuple[str, FetchResult]]] = defaultdict(list)
    for f in failures:
        error = f.error or "failed"
        where, sep, why = error.partition(": ")
        if not sep or not _is_link(where):
            where, why = "", error
        if why.startswith(_OUTSIDE) and "://" in where:
            refused_urls[_origin(where)].append(f)
        elif why.startswith(_OUTSIDE) and where:
            refused_files[where].append(f)
        else:
            reasons[why].append((where, f))
    lines: list[tuple[list[FetchResult], str]] = []
    for folder, paths in _folders(list(refused_files)).items():
        group = [f for path in paths for f in refused_files[path]]
        lines.append(
            (
                group,
                f"{_records(len(group), 'link')} under {folder}, outside the allowed roots: "
                f"add --allow-root {shlex.quote(folder)}",
            )
        )
    for origin, group in refused_urls.items():
        lines.append(
            (
                group,
                f"{_records(len(group), 'link')} to {origin}, outside the allowed hosts: "
                f"add --allow-url {shlex.quote(origin)}",
            )
        )
    for why, found in reasons.items():
        linked = sorted({_origin(w) if "://" in w else w for w, _ in found if w})
        under = ""
        if linked and all("://" not in w for w in linked):
            under = f" (links under {', '.join(_folders(linked))})"
        elif linked:
            under = f" (links to {', '.join(linked)})"
        lines.append(([f for _, f in found], f"{_records(len(found))}: {why}{under}"))
    lines.sort(key=lambda line: -len(line[0]))
    return [
        (1, f"failed {group[0].sop_instance_uid}: {group[0].error}")
        if len(group) == 1
        else (len(group), text)
        for group, text in lines
    ]


def _is_link(text: str) -> bool:
    """Whether the part of an error before its first ``: `` names the link (a path or URL)."""
    return text.startswith(("/", "'", '"')) or "://" in text or Path(text).is_absolute()


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of `url` (quotes around it removed)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip("'\""))
    return f"{parts.scheme}://{parts.netloc}"


def _folders(paths: list[str]) -> dict[str, list[str]]:
    """`paths` by the folder they lie under: the folder they share, if any.

    Paths that share no folder but the file system's root are split by their first folder
    (``/mnt/...``, ``/srv/...``), each part under the folder its paths share.
    """
    if not paths:
        return {}
    parents = [os.path.dirname(p.strip("'\"")) for p in paths]
    common = os.path.commonpath(parents)
    if Path(common).parent != Path(common):  # not the root of the file system
        return {common: paths}
    by_top: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path, parent in zip(paths, parents, strict=True):
        by_top[Path(parent).parts[:2]].append(path)
    if len(by_top) == 1:  # files in the root folder itself
        return {common: paths}
    folders: dict[str, list[str]] = {}
    for group in by_top.values():
        folders.update(_folders(group))
    return folders
