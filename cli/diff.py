"""The ``diff`` command: two inventories, or one and a live archive (``dicom:AE@HOST:PORT``)."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from dicom_inventory.cli.crawl import crawl_progress, timeout_option
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.options import calling_option, err, tls_options, to_peer
from dicom_inventory.cli.web import inventory_sources, web_options

if TYPE_CHECKING:
    from dicom_inventory.scu.diff import SideStatus

__all__ = ["diff"]


@dataclass(frozen=True)
class _Access:
    """How the sides are reached: DICOMweb credentials, and the DIMSE settings of a crawl."""

    token_file: Path | None
    ca_cert: Path | None
    calling_ae: str
    timeout: float


def _side(
    spec: str,
    work: Path,
    name: str,
    access: _Access,
    scope: dict[str, str] | None = None,
) -> tuple[list[Path], SideStatus | None]:
    """An inventory file or DICOMweb URL, or ``dicom:AE@HOST:PORT`` crawled now.

    A live archive is listed within `scope` (the other side's Scope of Inventory, flat keys):
    studies it holds under another scope are then neither extra nor missing. With its files
    comes, for a live archive, its status: complete or not, and the crawl's problems (``None``
    for files: the comparison reads their Inventory Completion Status).
    """
    from dicom_inventory.scu.diff import SideStatus
    from dicom_inventory.scu.web import is_url

    if is_url(spec):
        return inventory_sources([spec], work / name, access.token_file, access.ca_cert), None
    if spec.startswith("dicom:"):
        from dicom_inventory.enum import InventoryCompletionStatus as Completion
        from dicom_inventory.scu.crawl import crawl

        with crawl_progress(f"{name} {spec}: ") as show:
            report = crawl(
                to_peer(spec.removeprefix("dicom:"), label=spec),
                work / name,
                scope=scope,
                calling_ae=access.calling_ae,
                timeout=access.timeout,
                progress=show,
            )
        if not report.complete:
            err.print(
                f"[yellow]warning[/] {spec}: listing incomplete (PARTIAL): what it does not "
                f"list cannot be compared: {'; '.join(report.problems)}",
                highlight=False,
            )
        status = SideStatus(
            (Completion.COMPLETE if report.complete else Completion.PARTIAL).value,
            list(report.problems),
            f"live archive {spec.removeprefix('dicom:')}, listed now by Study Root C-FIND",
        )
        return [Path(w.path) for w in report.written[:1] if w.path is not None], status
    path = Path(spec)
    if not path.exists():
        raise click.BadParameter(f"{spec}: no such file (or use dicom:AE@HOST:PORT or a URL)")
    return [path], None


def _scopekeys(paths: list[Path], spec: str) -> dict[str, str] | None:
    """The Scope of Inventory of the first inventory in `paths`, as flat Study-level keys.

    ``None`` for universal matching; a RELATIONAL scope below the study level cannot be asked
    of a live archive by study queries, so it is named in a warning and not applied.
    """
    from dicom_inventory import read_header
    from rich.markup import escape

    scope = read_header(paths[0]).scope if paths else None
    if scope is None or scope.is_universal:
        return None
    if scope.query_retrieve_level not in (None, "STUDY"):
        err.print(
            f"[yellow]warning[/] {escape(spec)}: its scope ({escape(scope.describe())}) is at "
            f"{scope.query_retrieve_level} level: the live archive is listed whole",
            highlight=False,
        )
        return None
    err.print(
        f"listing the live archive within the scope of {spec}: {scope.describe()}",
        highlight=False,
        markup=False,
    )
    return {**scope.direct, **scope.keys}


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the report as one self-contained HTML page with a chart to this file.",
)
@web_options
@calling_option
@tls_options
@timeout_option
def diff(
    source: str,
    destination: str,
    fmt: str,
    html_file: Path | None,
    token_file: Path | None,
    ca_cert: Path | None,
    calling_ae: str,
    timeout: float,
) -> None:
    """Compare two inventories (files or DICOMweb URLs), or one with a live archive.

    A live archive is dicom:AE@HOST:PORT (crawled now by Study Root C-FIND as --calling-ae,
    over TLS with --tls/--tls-ca), listed within the other side's Scope of Inventory; two
    inventories are compared within the overlap of their scopes. A side whose listing is
    PARTIAL (Inventory Completion Status, or a truncated crawl) proves no absence: what only
    the other side lists is "not listed", not missing. Exit 0: identical; 1: differences;
    2: bad input; 3: no difference found, but a side is PARTIAL (incomplete, not comparable);
    4: the live archive refused, could not be reached or stayed silent for --timeout seconds;
    130: interrupted.
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.crawl import CrawlError
    from dicom_inventory.scu.diff import diff_inventories

    access = _Access(token_file, ca_cert, calling_ae, timeout)
    with tempfile.TemporaryDirectory(prefix="dicom-inventory-diff-") as tmp:
        try:
            live_a, live_b = (x.startswith("dicom:") for x in (source, destination))
            if live_a and not live_b:  # the file side first: its scope restricts the crawl
                b, status_b = _side(destination, Path(tmp), "destination", access)
                a, status_a = _side(source, Path(tmp), "source", access, _scopekeys(b, destination))
            else:
                a, status_a = _side(source, Path(tmp), "source", access)
                scope = _scopekeys(a, source) if live_b and not live_a else None
                b, status_b = _side(destination, Path(tmp), "destination", access, scope)
            report = diff_inventories(
                a, b, workdir=tmp, source_status=status_a, destination_status=status_b
            )
        except (InventoryError, CrawlError) as exc:
            fail(exc)
    click.echo(report.to_json() if fmt == "json" else report.to_text())
    if html_file is not None:
        from dicom_inventory.scu.pages import render_diff_html

        try:
            render_diff_html(report, html_file)
        except OSError as exc:
            fail(f"{html_file}: cannot write the HTML page: {exc.strerror or exc}")
        err.print(f"HTML page -> {html_file}", highlight=False, markup=False)
    if report.differs:
        sys.exit(ExitCode.FINDINGS)
    if not report.comparable:  # done in part: a side's absences prove nothing
        err.print(f"[bold yellow]{report.verdict_line()}[/]", highlight=False)
        sys.exit(ExitCode.PARTIAL)
    sys.exit(ExitCode.OK)
