"""The ``export`` command: inventories as flat instance rows (CSV, JSON Lines, Parquet)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from dicom_inventory.cli.exits import fail
from dicom_inventory.cli.options import out, progress
from dicom_inventory.cli.web import inventory_sources, web_options

__all__ = ["export"]


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY...")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), required=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path), required=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes for split inventories [default: CPU count, at most 8].",
)
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
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.export import export_inventory

    with tempfile.TemporaryDirectory(prefix="dicom-inventory-export-") as tmp:
        try:
            paths = inventory_sources(sources, Path(tmp), token_file, ca_cert)
        except InventoryError as exc:
            fail(exc)
        with progress("exporting") as (p, task):
            try:
                n = export_inventory(
                    paths,
                    out_file,
                    fmt,
                    workers=workers,
                    progress=lambda k: p.update(task, description=f"{k:,} rows"),
                )
            except InventoryError as exc:
                fail(exc)
    out.print(f"{n:,} rows -> {out_file}", highlight=False)
