"""The options and helpers every client command shares: one spelling, one place.

A peer is ``AE@HOST:PORT``; a calling AE title is ``--calling-ae``; a progress display goes to
stderr. Commands import these rather than declare their own, so the vocabulary stays one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

__all__ = [
    "DEFAULT_STATE",
    "calling_option",
    "err",
    "to_keys",
    "out",
    "to_peer",
    "peer_option",
    "progress",
]

out = Console()
err = Console(stderr=True)

DEFAULT_STATE = Path.home() / ".dicom-inventory"


def to_peer(text: str) -> Any:
    """The :class:`~dicom_inventory.scu.peer.Peer` of ``AE@HOST:PORT``; a usage error if not."""
    from dicom_inventory.scu.peer import PeerError, parse_peer

    try:
        return parse_peer(text)
    except PeerError as exc:
        raise click.BadParameter(str(exc)) from exc


def to_keys(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEYWORD=VALUE`` pairs as a dict; a bare ``KEYWORD`` is a return key (empty value)."""
    from pydicom.datadict import tag_for_keyword

    keys = {}
    for pair in pairs:
        kw, sep, value = pair.partition("=")
        if not sep and kw and tag_for_keyword(kw) is not None:
            keys[kw] = ""  # a return key
            continue
        if tag_for_keyword(kw) is None:
            raise click.BadParameter(f"{pair!r}: expected KEYWORD=VALUE with a DICOM keyword")
        keys[kw] = value
    return keys


peer_option = click.option("--peer", required=True, help="The node, AE@HOST:PORT.")
calling_option = click.option("--calling-ae", default="DICOM_INV_SCU", show_default=True)


@contextlib.contextmanager
def progress(description: str, *, bar: bool = False) -> Iterator[tuple[Progress, Any]]:
    """A transient spinner on stderr with one task whose description the caller updates."""
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if bar:
        columns.append(BarColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as p:
        yield p, p.add_task(description, total=None)
