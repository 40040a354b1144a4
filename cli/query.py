"""The ``query`` (Inventory FIND) and ``repository-query`` (PS3.4 C.6.4) commands.

Both print JSON lines of DICOM text values, never Python reprs.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.options import (
    calling_option,
    err,
    optional_peer_option,
    peer_option,
    to_keys,
    to_peer,
)
from dicom_inventory.cli.web import web_client, web_options

__all__ = ["query", "repository_query_command"]


def _json_item(ds: Any) -> dict[str, Any]:
    """A data set as a JSON object of DICOM text values, by keyword (tag for unnamed ones)."""
    return {e.keyword or f"{e.tag:08X}": _json_value(e) for e in ds}


def _json_value(elem: Any) -> Any:
    r"""One element's value as DICOM text, the form a user types and a PACS shows.

    Multiple values are joined with ``\`` (PS3.5 6.4), person names written in their
    ``^``-separated form, sequences as a list of their items, binary values as hex, and an empty
    value as ``null``; never Python reprs (``MultiValue([...])``, quotes, brackets).
    """
    from pydicom.multival import MultiValue

    value = elem.value
    if elem.VR == "SQ":
        return [_json_item(item) for item in value]
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join("" if v is None else str(v) for v in value)
    return str(value)


def _inventory_find_keys() -> tuple[str, ...]:
    """The keys of an Inventory FIND identifier: the node's matching and return keys (JJ.2)."""
    from dicom_inventory.scp.services.qr import MATCHING_KEYS, RETURN_KEYS

    return (*MATCHING_KEYS, *RETURN_KEYS, "SpecificCharacterSet")


@click.command()
@peer_option
@click.argument("keys", nargs=-1, metavar="KEYWORD[=VALUE]...")
@calling_option
def query(peer: str, keys: tuple[str, ...], calling_ae: str) -> None:
    r"""Inventory FIND: list the inventories a node holds (JSON lines).

    One JSON object per inventory, values as DICOM text: multiple values joined with ``\``,
    sequences (e.g. ScopeOfInventorySequence, asked for by naming it) as lists of items.
    """
    from dicom_inventory.scu.client import SCUError, inventory_find

    asked = to_keys(keys)
    unknown = [kw for kw in asked if kw not in _inventory_find_keys()]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: not a key of the Inventory FIND identifier (the "
            "Inventory Query/Retrieve Information Model, PS3.4 JJ.2, keys the attributes of "
            f"an Inventory, not of the studies in it); the keys: {', '.join(_inventory_find_keys())}",
            param_hint="KEYWORD[=VALUE]",
        )
    wanted = {
        "SOPInstanceUID": "",
        "ContentDate": "",
        "ContentTime": "",
        "InventoryLevel": "",
        "InventoryCompletionStatus": "",
        "TotalNumberOfStudyRecords": "",
        **asked,
    }
    # a return key is sent empty (None): "" cannot be a UV or US value, nor a sequence
    identifier = {kw: (value if value != "" else None) for kw, value in wanted.items()}
    try:
        found = inventory_find(to_peer(peer), identifier, calling_ae=calling_ae)
    except SCUError as exc:
        fail(exc)
    for ds in found:
        click.echo(json.dumps(_json_item(ds)))  # JSON lines: data, never wrapped by rich
    err.print(f"{len(found)} inventory instance(s)")


@click.command("repository-query")
@optional_peer_option("The node, AE@HOST:PORT (Repository Query C-FIND).")
@click.option("--url", default=None, help="Or a DICOMweb service (https://host/dicomweb): QIDO-RS.")
@click.option(
    "--level",
    type=click.Choice(["STUDY", "SERIES", "IMAGE", "INSTANCE"], case_sensitive=False),
    default="STUDY",
    show_default=True,
    help="Query/Retrieve Level, any case; INSTANCE is the same as IMAGE, the name PS3.4 C.6.4 "
    "gives the instance level.",
)
@click.argument("keys", nargs=-1, metavar="KEYWORD[=VALUE]...")
@click.option("--max-records", type=int, default=None, help="Maximum Number of Records per page.")
@click.option("--one-page", is_flag=True, help="Stop after the first page.")
@calling_option
@web_options
def repository_query_command(
    peer: str | None,
    url: str | None,
    level: str,
    keys: tuple[str, ...],
    max_records: int | None,
    one_page: bool,
    calling_ae: str,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Repository Query (PS3.4 C.6.4), paging with Prior Record Key (JSON lines).

    Over DIMSE with --peer, or over DICOMweb with --url (/studies, /series, /instances with
    Record Key and PriorRecordKey, PS3.18 10.6).
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.client import repository_query

    ctx = click.get_current_context()
    if url is not None and ctx.get_parameter_source("peer") is ParameterSource.ENVIRONMENT:
        peer = None  # --url given: $DICOM_INVENTORY_PEER is for the DIMSE commands

    if (peer is None) == (url is None):
        raise click.UsageError("give --peer AE@HOST:PORT or --url https://host/dicomweb")
    level = "IMAGE" if level == "INSTANCE" else level  # C.6.4 names the instance level IMAGE
    unique = {
        "STUDY": "StudyInstanceUID",
        "SERIES": "SeriesInstanceUID",
        "IMAGE": "SOPInstanceUID",
    }[level]
    wanted = {unique: "", **to_keys(keys)}
    n = pages = 0
    partial = False
    found: Iterator[tuple[list[Any], bool]]
    try:
        with contextlib.ExitStack() as stack:
            if url is not None:  # pages are read as they are written out: memory stays flat
                client = stack.enter_context(web_client(url, token_file, ca_cert))
                matching = [(k, v) for k, v in wanted.items() if v]
                includes = [("includefield", k) for k, v in wanted.items() if not v]
                found = (
                    (p.results, p.more)
                    for p in client.repository_query(
                        level, matching + includes, page_size=max_records, follow=not one_page
                    )
                )
            else:
                assert peer is not None  # one of the two, checked above
                found = (
                    (p.records, p.partial)
                    for p in repository_query(
                        to_peer(peer),
                        level,
                        wanted,
                        max_records=max_records,
                        follow=not one_page,
                        calling_ae=calling_ae,
                    )
                )
            for records, more in found:
                pages += 1
                partial = more
                for ds in records:
                    n += 1
                    # DICOM text as query prints it, never Python reprs; empty values left out
                    item = {k: v for k, v in _json_item(ds).items() if v is not None}
                    click.echo(json.dumps(item))
    except InventoryError as exc:
        fail(exc)
    err.print(f"{n} record(s) in {pages} page(s)")
    if partial:
        err.print(
            "[bold yellow]PARTIAL[/]: the last page said more records remain (drop --one-page to page through them)"
        )
        sys.exit(ExitCode.PARTIAL)
