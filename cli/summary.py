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

__all__ = ["incomplete_heading", "status_lines", "summary", "summary_tables"]


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
    tables.append((incomplete_heading(s), incomplete if s.incomplete else None))
    return tables


def incomplete_heading(s: Summary) -> str:
    """The incomplete studies' heading: their count, or why there is none to give."""
    from dicom_inventory.scu.summary import NOT_CHECKED

    empty = f"{s.empty_series:,} series without instance records"
    if not s.counts_checked:
        return f"Incomplete studies: {NOT_CHECKED}; {empty}"
    return f"Incomplete studies: {s.incomplete_studies:,} ({empty})"


def status_lines(s: Summary) -> list[str]:
    """The Inventory Completion Status (0008,0426) lines of the terminal.

    One line of counts per status, then each inventory not COMPLETE with what it says of
    itself (Inventory Instance Description (0008,0427)).
    """
    counts = ", ".join(f"{k} ({n:,})" for k, n in sorted(s.completion.items()))
    lines = [f"Inventory Completion Status: {counts or '-'}"]
    for x in s.not_complete:
        said = f": {_shorten(x.description)}" if x.description else ""
        lines.append(f"  {x.status} {x.path}{said}")
    return lines


#: Characters of an Inventory Instance Description shown in the terminal (JSON has it whole).
SHOWN = 300


def _shorten(text: str) -> str:
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _files_line(s: Summary) -> str:
    named = f" from the {s.named:,} named" if s.named != s.files else ""
    return (
        f"{s.files:,} inventory file(s) read{named} (trees followed, each file once), "
        f"level {', '.join(s.levels) or '-'}: {s.studies:,} studies, {s.series:,} series, "
        f"{s.instances:,} instance records"
    )


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

    Each inventory's Inventory Completion Status (and its description when not COMPLETE);
    records Removed from Operational Use; per modality, study year, Instance Availability and
    container type; stale metadata (attributes whose stored files still carry prior values);
    the largest studies; studies whose series or instance records disagree with their counts
    ("not checked" when the inventory records no such counts). INVENTORY is a file or a
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
        out.print(_files_line(result), highlight=False, markup=False)
        for line in status_lines(result):
            out.print(line, highlight=False, markup=False)
        out.print(
            f"Removed from Operational Use: {result.removed_studies:,} studies, "
            f"{result.removed_series:,} series, {result.removed_instances:,} instance records",
            highlight=False,
        )
        for heading, table in summary_tables(result):
            out.print(f"\n[bold]{escape(heading)}[/]", highlight=False)
            out.print(table if table is not None else "  none", highlight=False)
        if not result.complete:
            out.print(
                "\nThe inventory does not say COMPLETE: records may be missing that no count "
                "reveals.",
                highlight=False,
            )
    if html_file is not None:
        from dicom_inventory.scu.pages import render_summary_html

        try:
            written = render_summary_html(result, html_file)
        except OSError as exc:
            fail(f"{html_file}: cannot write the HTML page: {exc.strerror or exc}")
        click.echo(f"HTML page -> {written}", err=True)
