"""``dicom-inventory testkit``: judge another vendor's Inventory SCP, SCU, files or DICOMweb server."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.cli.web import bearer_token, web_options
from dicom_inventory.conformance.testkit.scu import FAULTS

__all__ = ["checks_markdown", "testkit"]


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
    sys.exit(ExitCode.OK if report.passed else ExitCode.FINDINGS)


_report_option = click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Write report.xml (JUnit), report.json and report.html here.",
)


@click.group()
def testkit() -> None:
    """Connectathon test kit: judge an Inventory SCP, SCU, inventory files or a DICOMweb server (reports: JUnit, JSON, HTML)."""


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
@_report_option
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


def _listen(text: str) -> tuple[str, int]:
    ae, sep, port = text.rpartition("@")
    if not sep or not ae or not port.isdigit() or len(ae) > 16:
        raise click.BadParameter(
            f"{text!r}: expected AE@PORT, e.g. INV_TESTKIT@11112", param_hint="--listen"
        )
    return ae, int(port)


@testkit.command("scu")
@click.option("--listen", required=True, help="The kit's own AE title and port, AE@PORT.")
@click.option(
    "--peer",
    required=True,
    help="The SCU under test, AE@HOST:PORT: where it listens for N-EVENT-REPORTs.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    type=click.Choice(list(FAULTS)),
    help="Switch a fault on (repeat): "
    + "; ".join(f"{name}: {what}" for name, what in FAULTS.items())
    + ".",
)
@click.option(
    "--failure-status",
    default="0x0213",
    show_default=True,
    help="With --fault failure: the status every Initiate gets.",
)
@click.option(
    "--event-delay", type=float, default=10.0, show_default=True, help="With slow-events (s)."
)
@click.option("--split-records", type=int, default=3, show_default=True, help="With split.")
@click.option("--page-records", type=int, default=3, show_default=True, help="With partial-pages.")
@click.option(
    "--studies", type=int, default=12, show_default=True, help="Studies in the kit's archive."
)
@click.option(
    "--duration",
    type=float,
    default=600.0,
    show_default=True,
    help="Judge after this many seconds even if the SCU has not finished.",
)
@click.option(
    "--idle",
    type=float,
    default=3.0,
    show_default=True,
    help="Quiet seconds after the scenario's end before judging.",
)
@_report_option
def testkit_scu(
    listen: str,
    peer: str,
    faults: tuple[str, ...],
    failure_status: str,
    event_delay: float,
    split_records: int,
    page_records: int,
    studies: int,
    duration: float,
    idle: float,
    report_dir: Path | None,
) -> None:
    """Act as an Inventory SCP, with faults, and judge what a vendor's SCU sends and does.

    Start this, then point the SCU at --listen. The kit judges when the scenario has ended
    (inventory retrieved, Initiate refused, last Repository Query page), on Ctrl-C, or after
    --duration.
    """
    from dicom_inventory.conformance.testkit import ScuKit, ScuKitNode
    from dicom_inventory.scu.peer import PeerError, parse_peer

    ae_title, port = _listen(listen)
    try:
        target = parse_peer(peer)
    except PeerError as exc:
        raise click.BadParameter(str(exc), param_hint="--peer") from exc
    try:
        code = int(failure_status, 16 if failure_status.lower().startswith("0x") else 10)
        kit = ScuKit(
            target,
            ae_title,
            port,
            frozenset(faults),
            failure_status=code,
            event_delay=event_delay,
            split_records=split_records,
            page_records=page_records,
            studies=studies,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--failure-status") from exc
    node = ScuKitNode(kit, on_request=lambda r: click.echo(f"seen: {r.describe()}", err=True))
    node.start()
    click.echo(
        f"listening as {ae_title} on port {node.port}; events go to {target}; "
        f"faults: {', '.join(faults) or 'none'}",
        err=True,
    )
    try:
        node.wait(duration, idle)
    except KeyboardInterrupt:
        click.echo("interrupted: judging what was seen", err=True)
    finally:
        node.stop()
    _finish(node.report(), report_dir)


@testkit.command("files")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--open-links",
    is_flag=True,
    help="Open every reachable file: link and hold the object to its record "
    "(default: check only that it exists; links to storage not on this machine are "
    "reported as not verifiable).",
)
@_report_option
def testkit_files(paths: tuple[Path, ...], open_links: bool, report_dir: Path | None) -> None:
    """Validate a vendor's inventory files, one by one and as a set."""
    from dicom_inventory.conformance.testkit import check_files

    _finish(check_files(paths, open_links=open_links), report_dir)


@testkit.command("dicomweb")
@click.option(
    "--url",
    required=True,
    help="The origin server's base URI (https://host/dicomweb) or its /inventories resource.",
)
@click.option("--uid", default=None, help="The inventory to retrieve [default: the first listed].")
@click.option(
    "--store",
    is_flag=True,
    help="Also judge Store (POST /inventories): leaves one small synthetic inventory there.",
)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Per request (s).")
@web_options
@_report_option
def testkit_dicomweb(
    url: str,
    uid: str | None,
    store: bool,
    timeout: float,
    token_file: Path | None,
    ca_cert: Path | None,
    report_dir: Path | None,
) -> None:
    """Judge a vendor's DICOMweb /inventories service (PS3.18 12): capabilities, search, retrieve.

    Every media type's bytes are checked (Part 10 by the validator, JSON and XML against the
    Part 10 instance); with --token-file the token is sent and checked to be required.
    """
    from dicom_inventory.conformance.testkit.web import WebKit, run_web_battery

    try:
        kit = WebKit(
            url,
            uid=uid,
            token=bearer_token(token_file),
            verify=str(ca_cert) if ca_cert else True,
            timeout=timeout,
            store=store,
        )
    except ValueError as exc:  # WebError too: a URL that names no /inventories resource
        raise click.BadParameter(str(exc), param_hint="--url/--uid") from exc
    _finish(run_web_battery(kit), report_dir)


@testkit.command("checks")
@click.argument("kit", type=click.Choice(["scp", "scu", "dicomweb", "all"]), default="all")
def testkit_checks(kit: str) -> None:
    """List what each check of a kit judges, with its section and when it applies.

    The list is Markdown; docs/testkit-checks.md is this output.
    """
    click.echo(checks_markdown(kit), nl=False)


def checks_markdown(kit: str = "all") -> str:
    """The kits' registries as Markdown: ``scp``, ``scu``, ``dicomweb`` or ``all``."""
    from dicom_inventory.conformance.testkit.scp import CHECKS as SCP_CHECKS
    from dicom_inventory.conformance.testkit.scu import CHECKS as SCU_CHECKS
    from dicom_inventory.conformance.testkit.web import CHECKS as WEB_CHECKS

    pages = {
        "scp": [SCP_CHECKS.markdown()],
        "scu": [SCU_CHECKS.markdown()],
        "dicomweb": [WEB_CHECKS.markdown()],
    }
    pages["all"] = pages["scp"] + pages["scu"] + pages["dicomweb"]
    return "\n".join(pages[kit])
