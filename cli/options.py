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
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

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


class _RateColumn(ProgressColumn):
    """Items per second, in the task's own unit (``fields["unit"]``)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "")
        if speed is None:
            return Text(f"- {unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} {unit}/s", style="progress.data.speed")


@contextlib.contextmanager
def progress(
    description: str,
    *,
    bar: bool = False,
    total: float | None = None,
    unit: str = "",
) -> Iterator[tuple[Progress, TaskID]]:
    """A transient progress display on stderr with one task the caller advances or describes.

    Every long job shows the same columns: what it is doing, a bar and ``done/total`` with the
    time left when `total` is known, the rate in `unit` per second when a `unit` is given,
    and the time elapsed. Rich redraws it ten times a second, so the elapsed time moves even
    while a peer is silent. Nothing is drawn when stderr is not a terminal.

    Parameters
    ----------
    description : str
        The first text shown; the caller may change it with ``update(task, description=...)``.
    bar : bool
        Show a bar even without a total (e.g. events of a request, whose total comes later).
    total : float, optional
        The number of items, when known before the job starts (then a bar, ``M/N`` and ETA).
    unit : str
        What is counted (``"records"``, ``"queries"``): the rate column is shown when given.
    """
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if bar or total is not None:
        columns.append(BarColumn())
    if total is not None:
        columns.append(MofNCompleteColumn())
    if unit:
        columns.append(_RateColumn())
    columns.append(TimeElapsedColumn())
    if total is not None:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as p:
        yield p, p.add_task(description, total=total, unit=unit)
