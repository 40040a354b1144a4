"""The ``crawl`` command: an Inventory of an archive without Inventory services, by Study Root C-FIND."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.options import calling_option, err, out, peer_option, progress, to_peer

if TYPE_CHECKING:
    from dicom_inventory.scu.crawl import CrawlProgress

__all__ = ["crawl", "crawl_progress", "timeout_option"]

#: Seconds between redraws of the crawl's counters (the display itself redraws more often).
REDRAW = 0.25
#: A query waiting longer than this many seconds shows how long it has waited.
SHOW_WAIT = 1.0

timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the connection, the association and each C-FIND answer; "
    "a peer silent for longer ends the command (exit 4).",
)


def _describe(what: str, state: CrawlProgress) -> str:
    text = f"{what}{state.window} · {state.queries:,} queries · {state.answers:,} answers"
    waited = state.waited()
    if waited >= SHOW_WAIT:
        text += f" · waiting {waited:.0f} s for the peer (timeout {state.timeout:g} s)"
    return text


@contextlib.contextmanager
def crawl_progress(what: str = "") -> Iterator[Callable[[CrawlProgress], None]]:
    """The one progress display, fed by a crawl; yields the crawl's `progress` callback.

    It shows the queries sent, the answers received and the current window (a Study Date
    range, a study of the listing), and, while a query waits, how long it has waited: redrawn
    every :data:`REDRAW` seconds, so a silent peer is visible as one. `what` prefixes the text
    (e.g. the side of a ``diff``).
    """
    latest: list[CrawlProgress] = []
    with progress(f"{what}connecting", unit="queries") as (bar, task):
        stop = threading.Event()

        def redraw() -> None:
            while not stop.wait(REDRAW):
                if latest:
                    state = latest[0]
                    bar.update(task, description=_describe(what, state), completed=state.queries)

        def keep(state: CrawlProgress) -> None:
            if not latest:  # the crawl updates this one object in place
                latest.append(state)

        painter = threading.Thread(target=redraw, name="crawl-progress", daemon=True)
        painter.start()
        try:
            yield keep
        finally:
            stop.set()
            painter.join()


@click.command()
@peer_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--cap",
    type=int,
    default=None,
    help="The peer's result limit, if it ends capped sets with Success.",
)
@click.option(
    "--undated/--no-undated",
    default=True,
    show_default=True,
    help="When the listing of all studies is truncated, look for studies without a Study "
    "Date by Patient ID prefix. It costs up to 92 queries (one per character) for each "
    "prefix whose answer is truncated, at every length the Patient IDs share: hundreds of "
    "queries for IDs like P0-00001. --no-undated skips it; the inventory is then PARTIAL "
    "when the listing was truncated, since such studies may be missing.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace the inventory --out already holds (the new one is moved in only when "
    "whole). Without it such a folder is refused (exit 2); an unfinished crawl there is "
    "resumed either way.",
)
@calling_option
@timeout_option
def crawl(
    peer: str,
    out_dir: Path,
    cap: int | None,
    undated: bool,
    replace: bool,
    calling_ae: str,
    timeout: float,
) -> None:
    """Build an Inventory of an archive without Inventory services, by Study Root C-FIND.

    A peer that rejects the association, cannot be reached or leaves a query unanswered for
    --timeout seconds ends the crawl with its reason (exit 4). Ctrl-C stops it (exit 130)
    without leaving an inventory file. OUT/crawl.sqlite keeps what was listed: the same
    command resumes from it after Ctrl-C or a peer error. An --out folder holding a finished
    inventory is refused (exit 2) unless --replace is given, as ``archive create`` does.
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.crawl import CrawlError
    from dicom_inventory.scu.crawl import crawl as run

    try:
        with crawl_progress() as show:
            report = run(
                to_peer(peer),
                out_dir,
                calling_ae=calling_ae,
                cap=cap,
                timeout=timeout,
                progress=show,
                undated=undated,
                replace=replace,
            )
    except (CrawlError, InventoryError) as exc:
        fail(exc)
    except KeyboardInterrupt as exc:
        if str(exc):
            err.print(f"interrupted: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise
    out.print(
        f"{report.studies} studies ({len(report.undated_studies)} without Study Date), {report.series} series, "
        f"{report.instances} instances; {report.queries} queries, {report.truncated} truncated and split",
        highlight=False,
    )
    if report.undated_queries:
        out.print(
            f"{report.undated_queries} of the queries looked for studies without a Study Date "
            "by Patient ID prefix (--no-undated skips them)",
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
