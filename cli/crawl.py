"""The ``crawl`` command: an Inventory of an archive without Inventory services, by Study Root C-FIND."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.options import calling_option, err, out, peer_option, progress, to_peer

__all__ = ["crawl"]


@click.command()
@peer_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--cap",
    type=int,
    default=None,
    help="The peer's result limit, if it ends capped sets with Success.",
)
@calling_option
def crawl(peer: str, out_dir: Path, cap: int | None, calling_ae: str) -> None:
    """Build an Inventory of an archive without Inventory services, by Study Root C-FIND."""
    from dicom_inventory.scu.crawl import CrawlError
    from dicom_inventory.scu.crawl import crawl as run

    try:
        with progress("listing studies") as (p, task):
            report = run(
                to_peer(peer),
                out_dir,
                calling_ae=calling_ae,
                cap=cap,
                progress=lambda m: p.update(task, description=m),
            )
    except CrawlError as exc:
        fail(exc)
    out.print(
        f"{report.studies} studies ({len(report.undated_studies)} without Study Date), {report.series} series, "
        f"{report.instances} instances; {report.queries} queries, {report.truncated} truncated and split",
        highlight=False,
    )
    for w in report.written:
        out.print(f"  {w.path}", highlight=False)
    for w_ in report.warnings:
        err.print(f"[yellow]warning[/] {w_}", highlight=False)
    if report.problems:
        err.print("[bold yellow]INCOMPLETE[/] (the inventory says PARTIAL):")
        for p_ in report.problems:
            err.print(f"  {p_}", highlight=False)
        sys.exit(ExitCode.FINDINGS)
