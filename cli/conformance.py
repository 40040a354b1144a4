"""``dicom-inventory conformance-statement``: the PS3.2 statement of a node configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from dicom_inventory.cli.exits import ExitCode, fail

__all__ = ["conformance_statement"]


@click.command("conformance-statement")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="The node's TOML configuration (the one `serve --config` runs with).",
)
@click.option(
    "--archive",
    "archive_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive folder, if the configuration has none (not read).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "docbook", "markdown"]),
    default="html",
    show_default=True,
)
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None)
@click.option("--product", default="dicom-inventory", show_default=True)
@click.option("--version", "product_version", default=None, help="Product version.")
@click.option("--vendor", default="The dicom-inventory project", show_default=True)
@click.option(
    "--check",
    "check_peer",
    default=None,
    metavar="AE@HOST:PORT",
    help="Probe a running node and list every difference from the statement (exit 1 if any).",
)
@click.option("--calling-ae", default="CS_CHECK", show_default=True)
def conformance_statement(
    config_file: Path | None,
    archive_dir: Path | None,
    fmt: str,
    out_file: Path | None,
    product: str,
    product_version: str | None,
    vendor: str,
    check_peer: str | None,
    calling_ae: str,
) -> None:
    """Write the DICOM Conformance Statement (PS3.2) of a node configuration."""
    from dicom_inventory import __version__
    from dicom_inventory.conformance import Product, build_statement, write_statement
    from dicom_inventory.scp.config import ConfigError, load_config

    try:
        config = load_config(config_file, archive=archive_dir or Path("archive"))
    except ConfigError as exc:
        fail(exc)
    if check_peer is not None:
        _check(config, check_peer, calling_ae)
        return
    doc = build_statement(
        config, Product(name=product, version=product_version or __version__, vendor=vendor)
    )
    data = write_statement(doc, fmt)
    if out_file is None:
        sys.stdout.buffer.write(data)
    else:
        tmp = out_file.with_name(out_file.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(out_file)
        click.echo(f"{fmt} statement -> {out_file}", err=True)


def _check(config: object, peer_text: str, calling_ae: str) -> None:
    from dicom_inventory.conformance.check import check_node
    from dicom_inventory.scu.peer import PeerError, parse_peer

    try:
        peer = parse_peer(peer_text)
    except PeerError as exc:
        raise click.BadParameter(str(exc), param_hint="--check") from exc
    differences = check_node(config, peer, calling_ae=calling_ae)  # type: ignore[arg-type]
    for d in differences:
        click.echo(f"DIFFERENT {d}")
    click.echo(
        f"{peer}: {len(differences)} difference(s) from the statement"
        if differences
        else f"{peer}: behaves as the statement says (every claimed context, samples of "
        "unclaimed ones, C-ECHO, Inventory FIND)"
    )
    sys.exit(ExitCode.FINDINGS if differences else ExitCode.OK)
