"""DICOMweb commands and options: ``retrieve``, ``search``, and inventories named by URL.

``export``, ``diff`` and ``fetch`` take an inventory as a file or as a DICOMweb URL
(``https://host/dicomweb/inventories/{uid}``): :func:`inventory_sources` retrieves a URL's
whole tree into a working folder first (:class:`~dicom_inventory.scu.web.WebClient`, streamed,
with retries) and hands the root on, so those commands read files as always.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from dicom_inventory.cli.exits import fail
from dicom_inventory.cli.options import (
    ENVIRONMENT,
    calling_option,
    err,
    optional_peer_option,
    print_table,
    to_peer,
)
from rich.table import Table

__all__ = ["WEB_COMMANDS", "bearer_token", "inventory_sources", "web_client", "web_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: The environment variable a bearer token file may be named in (instead of --token-file).
TOKEN_FILE_ENV = ENVIRONMENT["token_file"]


def web_options(f: F) -> F:
    """``--token-file`` and ``--ca-cert``, for every command that may speak DICOMweb."""
    f = click.option(
        "--ca-cert",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        default=None,
        help="CA bundle that signs the server's HTTPS certificate (default: the system's).",
    )(f)
    f = click.option(
        "--token-file",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        envvar=TOKEN_FILE_ENV,
        show_envvar=True,
        default=None,
        help="File with the bearer token for DICOMweb requests.",
    )(f)
    return f


def bearer_token(token_file: Path | None) -> str | None:
    """The bearer token in ``--token-file`` (white space around it removed), if any."""
    return (token_file.read_text().strip() or None) if token_file is not None else None


def web_client(base: str, token_file: Path | None, ca_cert: Path | None) -> Any:
    """Our user agent on the service at `base`, with the token and CA bundle given."""
    from dicom_inventory.scu.web import WebClient

    return WebClient(base, token=bearer_token(token_file), verify=str(ca_cert) if ca_cert else True)


def _bytes_progress(description: str) -> Any:
    from rich.progress import (
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TransferSpeedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn(description),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        disable=err.quiet,  # -q
    )


def retrieve_url(
    url: str, out_dir: Path, token_file: Path | None, ca_cert: Path | None
) -> list[Path]:
    """Retrieve the tree of the inventory at `url` into `out_dir`; its files, root first."""
    from dicom_inventory.scu.web import WebError, split_url

    base, uid = split_url(url)
    if uid is None:
        raise WebError(f"{url}: names no inventory (expected .../inventories/{{uid}})")
    with web_client(base, token_file, ca_cert) as client, _bytes_progress(f"retrieving {uid}") as p:
        task = p.add_task("", total=None)
        files: list[Path] = client.retrieve_tree(
            uid, out_dir, progress=lambda done: p.update(task, completed=done)
        )
    return files


def inventory_sources(
    specs: Iterable[str], work: Path, token_file: Path | None, ca_cert: Path | None
) -> list[Path]:
    """Files for `specs`: a path as it is; a DICOMweb URL retrieved (its root) into `work`.

    Raises
    ------
    click.BadParameter
        For a path that does not exist.
    """
    from dicom_inventory.scu.web import is_url

    paths: list[Path] = []
    for n, spec in enumerate(specs):
        if is_url(spec):
            files = retrieve_url(spec, work / f"web-{n}", token_file, ca_cert)
            paths.append(files[0])  # the root: readers follow the tree from it
            continue
        path = Path(spec)
        if not path.exists():
            raise click.BadParameter(f"{spec}: no such file (or give a DICOMweb URL)")
        paths.append(path)
    return paths


@click.command()
@click.argument("source")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@optional_peer_option("With SOURCE a UID: the node, AE@HOST:PORT (Inventory GET).")
@calling_option
@web_options
def retrieve(
    source: str,
    out_dir: Path,
    peer: str | None,
    calling_ae: str,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Retrieve an inventory and every instance of its tree into a folder.

    SOURCE is a DICOMweb URL (https://host/dicomweb/inventories/UID), or a SOP Instance UID
    with --peer (Inventory GET over DIMSE). Prints the root file.
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.web import is_url

    ctx = click.get_current_context()
    if is_url(source) and ctx.get_parameter_source("peer") is ParameterSource.ENVIRONMENT:
        peer = None  # a URL: $DICOM_INVENTORY_PEER is for the DIMSE commands
    try:
        if is_url(source):
            if peer is not None:
                raise click.UsageError("give a URL or --peer with a UID, not both")
            files = retrieve_url(source, out_dir, token_file, ca_cert)
        else:
            if peer is None:
                raise click.UsageError(
                    "SOURCE is not a URL: give --peer AE@HOST:PORT for Inventory GET"
                )
            from dicom_inventory.scu.client import retrieve_inventory

            retrieve_inventory(to_peer(peer), source, out_dir, calling_ae=calling_ae)
            from dicom_inventory.read import tree_paths

            files = tree_paths(out_dir / f"{source}.dcm")
    except InventoryError as exc:
        fail(exc)
    click.echo(f"{len(files)} instance(s) in {out_dir}; root {files[0]}")


@click.command()
@click.option("--url", required=True, help="The DICOMweb service (https://host/dicomweb).")
@click.argument("keys", nargs=-1, metavar="KEYWORD=VALUE...")
@click.option("--includefield", multiple=True, help="More return attributes (or 'all').")
@click.option("--limit", type=click.IntRange(1), default=None, help="Results per page.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@web_options
def search(
    url: str,
    keys: tuple[str, ...],
    includefield: tuple[str, ...],
    limit: int | None,
    fmt: str,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Search a DICOMweb service's /inventories (PS3.18 12), paging through every result.

    KEYWORD=VALUE match as Inventory FIND does (UID lists comma-separated, date ranges,
    wildcards).
    """
    from dicom_inventory.errors import InventoryError

    base = url.rstrip("/").removesuffix("/inventories")
    params: list[tuple[str, str]] = []
    for pair in keys:
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{pair!r}: expected KEYWORD=VALUE")
        params.append((k, v))
    params += [("includefield", f) for f in includefield]
    try:
        with web_client(base, token_file, ca_cert) as client:
            results = list(client.search(params, page_size=limit))
    except InventoryError as exc:
        fail(exc)
    if fmt == "json":
        click.echo(json.dumps([r.to_json_dict() for r in results], indent=1))
        return
    table = Table("SOP Instance UID", "Level", "Status", "Content", "Records", "Retrieve URL")
    for r in results:
        table.add_row(
            str(r.get("SOPInstanceUID", "")),
            str(r.get("InventoryLevel", "") or ""),
            str(r.get("InventoryCompletionStatus", "") or ""),
            f"{r.get('ContentDate', '') or ''} {r.get('ContentTime', '') or ''}".strip(),
            str(r.get("NumberOfStudyRecordsInInstance", "") or ""),
            str(r.get("RetrieveURL", "") or ""),
        )
    print_table(table)  # UIDs and URLs never cut
    err.print(f"{len(results)} inventor{'y' if len(results) == 1 else 'ies'}", highlight=False)


WEB_COMMANDS = [retrieve, search]
