"""The ``export`` command: inventories as flat instance rows (CSV, JSON Lines, Parquet).

The progress display counts study records against the total the tree's instances declare
(Number of Study Records in Instance, PS3.3 C.38.1.1), with the rows written so far, the
rate and the time left. Ctrl-C ends the export with one line and exit code 130; nothing is
left at ``--out`` (see :mod:`dicom_inventory.scu.export`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from dicom_inventory.cli.exits import fail
from dicom_inventory.cli.options import out, progress, workers_option
from dicom_inventory.cli.web import inventory_sources, web_options

__all__ = ["export"]


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    required=True,
    help="parquet and jsonl: typed values (dates, times, UTC date-times, booleans, lists); "
    "csv: the values as written (text, leading zeros kept).",
)
@click.option("--out", "out_file", type=click.Path(path_type=Path), required=True)
@workers_option
@web_options
def export(
    sources: tuple[str, ...],
    fmt: str,
    out_file: Path,
    workers: int | None,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Export inventories (trees followed) as flat instance rows.

    INVENTORY is a file or a DICOMweb URL (https://host/dicomweb/inventories/UID).
    """
    from dicom_inventory import tree_paths
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.export import count_study_records, export_inventory

    with tempfile.TemporaryDirectory(prefix="dicom-inventory-export-") as tmp:
        try:
            paths = inventory_sources(sources, Path(tmp), token_file, ca_cert)
            files = tree_paths(paths)  # each tree once, from its root
            total = count_study_records(files)
        except InventoryError as exc:
            fail(exc)
        with progress("exporting", total=total, unit="studies") as (p, task):

            def advance(rows: int, studies: int) -> None:
                p.update(task, completed=studies, description=f"exporting {rows:,} rows")

            try:
                n = export_inventory(
                    files, out_file, fmt, follow=False, workers=workers, progress=advance
                )
            except InventoryError as exc:
                fail(exc)
    out.print(f"{n:,} rows -> {out_file}", highlight=False)
