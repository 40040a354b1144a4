"""The ``summary`` command: what inventories hold, as tables in the terminal and an HTML page."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click
from dicom_inventory.cli.exits import fail
from dicom_inventory.cli.options import out, progress, workers_option
from dicom_inventory.cli.web import inventory_sources, web_options
from dicom_inventory.scu.workers import default_workers
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from dicom_inventory.scu.summary import Summary

__all__ = ["summary", "summary_tables"]


def _counts(
    title: str, what: str, columns: Mapping[str, Counter[str]], order: list[str]
) -> tuple[str, Table | None]:
    if not order:
        return title, None
    table = Table()
    table.add_column(what)
    for name in columns:
        table.add_column(name, justify="right")
    for key in order:
        table.add_row(key, *(f"{c[key]:,}" for c in columns.values()))
    return title, table


def _by_count(c: Counter[str]) -> list[str]:
    return [k for k, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]


def summary_tables(s: Summary) -> list[tuple[str, Table | None]]:
    """The summary as (heading, rich table) pairs in the terminal's order; no rows, no table."""
    tables = [
        _counts(
            "Modalities",
            "Modality",
            {"rows": s.modality_rows, "series": s.modality_series},
            _by_count(s.modality_series),
        ),
        _counts(
            "Study years",
            "Year",
            {"studies": s.year_studies, "rows": s.year_rows},
            sorted(s.year_studies),
        ),
        _counts(
            "Instance Availability",
            "Availability",
            {"instances": s.availability},
            _by_count(s.availability),
        ),
        _counts("Containers", "Container", {"instances": s.containers}, _by_count(s.containers)),
        _counts(
            f"Stale metadata ({s.stale_rows:,} rows)",
            "Attribute",
            {"rows": s.stale},
            _by_count(s.stale),
        ),
    ]
    largest = Table()
    for name in ("Study Instance UID", "Patient ID", "Study Date", "Modalities"):
        largest.add_column(name, overflow="fold")
    largest.add_column("Series", justify="right")
    largest.add_column("Instances", justify="right")
    for st in s.largest:
        largest.add_row(
            st.study_instance_uid,
            st.patient_id or "",
            st.study_date or "",
            ", ".join(st.modalities),
            f"{st.series:,}",
            f"{st.instances:,}",
        )
    tables.append(("Largest studies", largest if s.largest else None))
    incomplete = Table()
    incomplete.add_column("Study Instance UID", overflow="fold")
    incomplete.add_column("What disagrees", overflow="fold")
    for m in s.incomplete:
        incomplete.add_row(m.study_instance_uid, "\n".join(m.problems))
    heading = (
        f"Incomplete studies: {s.incomplete_studies:,} "
        f"({s.empty_series:,} series without instance records)"
    )
    tables.append((heading, incomplete if s.incomplete else None))
    return tables


def _study_total(paths: list[Path]) -> int | None:
    """The study records a single root announces (Total Number of Study Records), if any.

    The bar's total: with several files named (a root and its leaves, or several roots) there
    is no one header to trust, and the display shows the rate without a bar.
    """
    from dicom_inventory import read_header
    from dicom_inventory.errors import InventoryError

    if len(paths) != 1:
        return None
    try:
        total = read_header(paths[0]).total_number_of_study_records
    except InventoryError:
        return None  # summarize names the problem
    return total if isinstance(total, int) and total > 0 else None


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY...")
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write one self-contained HTML page with charts to this file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Terminal output: rich tables, or the figures as JSON.",
)
@click.option(
    "--top",
    type=click.IntRange(0, 10_000),
    default=10,
    show_default=True,
    help="How many of the largest and of the incomplete studies to list.",
)
@workers_option
@web_options
def summary(
    sources: tuple[str, ...],
    html_file: Path | None,
    fmt: str,
    top: int,
    workers: int | None,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Count what inventories hold (trees followed, each record once).

    Per modality, study year, Instance Availability and container type; stale metadata
    (attributes whose stored files still carry prior values); the largest studies; studies
    whose series or instance records disagree with their counts. INVENTORY is a file or a
    DICOMweb URL (https://host/dicomweb/inventories/UID).
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.summary import summarize

    with tempfile.TemporaryDirectory(prefix="dicom-inventory-summary-") as tmp:
        try:
            paths = inventory_sources(sources, Path(tmp), token_file, ca_cert)
        except InventoryError as exc:
            fail(exc)
        total = _study_total(paths)
        with progress("summarizing", total=total, unit="studies") as (p, task):

            def moved(rows: int, studies: int) -> None:
                p.update(task, completed=studies, description=f"{rows:,} rows")

            try:
                result = summarize(paths, top=top, progress=moved, workers=default_workers(workers))
            except InventoryError as exc:
                fail(exc)
    if fmt == "json":
        click.echo(result.to_json())
    else:
        out.print(
            f"{result.files:,} file(s), level {', '.join(result.levels) or '-'}: "
            f"{result.studies:,} studies, {result.series:,} series, "
            f"{result.instances:,} instance records",
            highlight=False,
        )
        for heading, table in summary_tables(result):
            out.print(f"\n[bold]{escape(heading)}[/]", highlight=False)
            out.print(table if table is not None else "  none", highlight=False)
    if html_file is not None:
        from dicom_inventory.scu.pages import render_summary_html

        try:
            written = render_summary_html(result, html_file)
        except OSError as exc:
            fail(f"{html_file}: cannot write the HTML page: {exc.strerror or exc}")
        click.echo(f"HTML page -> {written}", err=True)
