"""``dicom-inventory testkit``: judge another vendor's Inventory SCP or files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["testkit"]


def _finish(report: object, report_dir: Path | None) -> None:
    from dicom_inventory.conformance.testkit import Outcome, Report

    assert isinstance(report, Report)
    marks = {
        Outcome.PASS: "PASS",
        Outcome.FAIL: "FAIL",
        Outcome.NOT_APPLICABLE: "N/A ",
        Outcome.ERROR: "ERR ",
    }
    for r in report.results:
        click.echo(f"{marks[r.outcome]} {r.id:<24} {r.title} [{r.section}]")
        if r.outcome in (Outcome.FAIL, Outcome.ERROR):
            for e in r.evidence[:5]:
                click.echo(f"       {e}")
    click.echo(" · ".join(f"{report.count(o)} {o.value}" for o in Outcome))
    if report_dir is not None:
        for p in report.write(report_dir):
            click.echo(f"report: {p}", err=True)
    sys.exit(0 if report.passed else 1)


@click.group()
def testkit() -> None:
    """Connectathon test kit: judge an Inventory SCP or inventory files (reports: JUnit, JSON, HTML)."""


@testkit.command("scp")
@click.option("--peer", required=True, help="The SCP under test, AE@HOST:PORT.")
@click.option("--calling-ae", default="INV_TESTKIT", show_default=True)
@click.option(
    "--listen-port",
    type=int,
    default=11114,
    show_default=True,
    help="Where the kit receives events.",
)
@click.option(
    "--timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Longest wait for one inventory (s).",
)
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None)
def testkit_scp(
    peer: str, calling_ae: str, listen_port: int, timeout: float, report_dir: Path | None
) -> None:
    """Run the battery against an Inventory SCP (it must know --calling-ae at this host and --listen-port)."""
    from dicom_inventory.conformance.testkit import ScpKit, run_scp_battery
    from dicom_inventory.scu.peer import PeerError, parse_peer

    try:
        target = parse_peer(peer)
    except PeerError as exc:
        raise click.BadParameter(str(exc), param_hint="--peer") from exc
    _finish(run_scp_battery(ScpKit(target, calling_ae, listen_port, timeout)), report_dir)


@testkit.command("files")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None)
def testkit_files(paths: tuple[Path, ...], report_dir: Path | None) -> None:
    """Validate a vendor's inventory files, one by one and as a set."""
    from dicom_inventory.conformance.testkit import check_files

    _finish(check_files(paths), report_dir)
