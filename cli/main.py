"""The ``dicom-inventory`` command: one program, one subcommand per task.

A thin layer over the library (pynetdicom's apps are the model): each command parses its
options, calls library functions and prints with rich. User errors are one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from dicom_inventory import (
    InventoryError,
    InventoryHeader,
    InventoryLevel,
    InventoryReader,
    InventoryReadError,
    __version__,
    read_header,
    resolve_tree,
    synthetic_studies,
    write_inventory,
)
from dicom_inventory.cli.archive import archive as archive_group
from dicom_inventory.cli.archive import create as create_command
from dicom_inventory.cli.conformance import conformance_statement
from dicom_inventory.cli.crawl import crawl as crawl_command
from dicom_inventory.cli.diff import diff as diff_command
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.export import export as export_command
from dicom_inventory.cli.fetch import fetch as fetch_command
from dicom_inventory.cli.options import ENVIRONMENT, err, out, print_table, set_quiet
from dicom_inventory.cli.query import query as query_command
from dicom_inventory.cli.query import repository_query_command
from dicom_inventory.cli.request import request as request_command
from dicom_inventory.cli.serve import serve as serve_command
from dicom_inventory.cli.summary import summary as summary_command
from dicom_inventory.cli.testkit import testkit
from dicom_inventory.cli.web import WEB_COMMANDS
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.uid import generate_uid
from dicom_inventory.validate import Finding, Severity
from rich.table import Table

__all__ = ["LOG_LEVELS", "WARNINGS_LOGGER", "cli", "configure_logging", "main", "quiet_warnings"]


#: The logger Python warnings are written to (the name :func:`logging.captureWarnings` uses).
WARNINGS_LOGGER = "py.warnings"


class _PydicomLogged(logging.Filter):
    """Remember the last message pydicom logged: its ``warn_and_log`` also warns the same text."""

    last = ""

    def filter(self, record: logging.LogRecord) -> bool:
        _PydicomLogged.last = record.getMessage()
        return True


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Write a Python warning as one INFO line of the log, never as a traceback-like block."""
    text = str(message)
    if text == _PydicomLogged.last:
        return  # pydicom logged it already (shown with -v as its WARNING line)
    logging.getLogger(WARNINGS_LOGGER).info("%s: %s", category.__name__, text)


def quiet_warnings(verbose: bool = False) -> None:
    """Route warnings from dependencies into the log, shown only with ``-v``.

    pydicom warns about odd values in data the user reads (a UV out of range, an invalid UI):
    these are findings for the validator, not the terminal. The CLI process alone sets this;
    the library never filters warnings. With `verbose`, the log goes to stderr at INFO.
    """
    warnings.showwarning = _log_warning
    pydicom_log = logging.getLogger("pydicom")
    if not any(isinstance(f, _PydicomLogged) for f in pydicom_log.filters):
        pydicom_log.addFilter(_PydicomLogged())
    if verbose:
        _log_to_stderr(logging.INFO)


#: The levels ``--log-level`` takes (Python's).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The CLI's one log handler (so that setting the level twice adds no second one)."""


def _log_to_stderr(level: int) -> None:
    """Log at `level` and above to stderr, one line per record."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    # pynetdicom's INFO is a dump of every PDU and data set: shown at DEBUG only
    pynetdicom = logging.DEBUG if level <= logging.DEBUG else max(level, logging.WARNING)
    logging.getLogger("pynetdicom").setLevel(pynetdicom)
    # pydicom's own WARNING lines (odd values in data read) are dependency warnings: -v only
    logging.getLogger("pydicom").setLevel(level if level <= logging.INFO else logging.ERROR)


def configure_logging(
    *, verbose: bool = False, quiet: bool = False, level: str | None = None
) -> None:
    """What ``-v``, ``-q`` and ``--log-level`` ask for, on any command.

    Warnings from dependencies go to the log at INFO (:func:`quiet_warnings`), so they show
    with ``-v`` (INFO) or ``--log-level INFO|DEBUG`` only. ``-q`` logs errors only and turns
    off progress displays and information lines on stderr; data on stdout and the error line
    of a failed command stay. ``--log-level`` wins over ``-v`` and ``-q`` for the log level.

    Raises
    ------
    click.UsageError
        For ``-v`` with ``-q``.
    """
    if verbose and quiet:
        raise click.UsageError("-v/--verbose and -q/--quiet contradict each other: give one")
    quiet_warnings()
    set_quiet(quiet)
    name = level or ("INFO" if verbose else "ERROR" if quiet else None)
    if name is not None:
        _log_to_stderr(logging.getLevelNamesMapping()[name.upper()])


#: Where the logging options keep their values in ``click.Context.meta`` (shared by a group
#: and its subcommands: ``-v`` given to the group holds for the subcommand too).
_LOGGING = "dicom_inventory.logging"


def _logging_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    settings = ctx.meta.setdefault(_LOGGING, {})
    if value:  # an option not given to a subcommand keeps what its group was given
        settings[param.name] = value
    configure_logging(
        verbose=settings.get("verbose", False),
        quiet=settings.get("quiet", False),
        level=settings.get("log_level"),
    )


def _logging_params() -> list[click.Parameter]:
    """``-v``, ``-q`` and ``--log-level``, new objects for one command."""
    return [
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_logging_option,
            help="Log to stderr at INFO, warnings from dependencies (e.g. pydicom's) included.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_logging_option,
            help="No progress display and no information lines on stderr; errors only.",
        ),
        click.Option(
            ["--log-level"],
            type=click.Choice(LOG_LEVELS, case_sensitive=False),
            default=None,
            expose_value=False,
            callback=_logging_option,
            envvar=ENVIRONMENT["log_level"],
            show_envvar=True,
            help="Log to stderr from this level on (DEBUG adds pynetdicom's PDU dumps).",
        ),
    ]


def with_logging_options(command: click.Command) -> None:
    """Give `command`, and every subcommand below it, ``-v``, ``-q`` and ``--log-level``.

    Done once, after every command is registered, so that each command takes them wherever
    they are written (``dicom-inventory query -v ...`` as well as ``dicom-inventory -v query``)
    and no command module has to remember them.
    """
    taken = {name for p in command.params for name in getattr(p, "opts", [])}
    for param in _logging_params():
        if not taken & set(param.opts):
            command.params.append(param)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_logging_options(sub)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dicom-inventory")
def cli() -> None:
    """dicom-inventory: the DICOM Inventory standard (PS3.3 A.88, PS3.4 KK/JJ)."""
    quiet_warnings()


# ----------------------------------------------------------------------------- validate
#: Findings of one rule printed before the rest of that rule are only counted.
MAX_PER_RULE = 20


@dataclass
class _Tally:
    """What a validation run found, kept as counts: memory does not grow with the findings."""

    max_per_rule: int | None
    errors: int = 0
    warnings: int = 0
    unreadable: list[dict[str, str]] = field(default_factory=list)  # one per unreadable file
    per_rule: Counter[str] = field(default_factory=Counter)

    def admit(self, finding: Finding) -> bool:
        """Count `finding`; True if it is among the first `max_per_rule` of its rule."""
        n = self.per_rule[finding.rule] = self.per_rule[finding.rule] + 1
        if finding.severity is Severity.ERROR:
            self.errors += 1
        else:
            self.warnings += 1
        return self.max_per_rule is None or n <= self.max_per_rule

    @property
    def omitted(self) -> dict[str, int]:
        """Per rule, the findings counted but not shown."""
        limit = self.max_per_rule
        if limit is None:
            return {}
        return {rule: n - limit for rule, n in sorted(self.per_rule.items()) if n > limit}


def _validate(
    paths: Sequence[Path],
    emit: Callable[[Finding], None] | None = None,
    *,
    max_per_rule: int | None = None,
    on_unreadable: Callable[[dict[str, str]], None] | None = None,
) -> _Tally:
    """Validate files one by one, then the set, streaming; unreadable files are listed.

    Each finding is counted and, if among the first `max_per_rule` of its rule (all if None),
    passed to `emit` as it is found: nothing is collected.
    """
    from dicom_inventory.validate import Validator

    v = Validator()
    tally = _Tally(max_per_rule)

    def findings() -> Iterator[Finding]:
        for p in paths:
            try:
                yield from v.file(p)
            except InventoryReadError as exc:
                u = {"file": str(p), "message": str(exc)}
                tally.unreadable.append(u)
                if on_unreadable is not None:
                    on_unreadable(u)
        yield from v.cross_file()

    for f in findings():
        if tally.admit(f) and emit is not None:
            emit(f)
    return tally


def _inventory_files(paths: Sequence[Path]) -> list[Path]:
    """The files to validate, each once.

    The files given, every ``.dcm`` under a folder given (recursively), and the instances a
    root incorporates that were not named.
    The incorporated instances are found as export finds them (:func:`resolve_tree`: by File
    Access URI, as ``<UID>.dcm`` beside the root or in a folder below, e.g. the ``part-NNNNN``
    folders of ``create``), so a root given alone is validated with its whole tree. A tree that
    does not resolve is left as given: the validation then says what is missing.
    """
    files: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for p in paths:
        if p.is_dir():
            for q in sorted(p.rglob("*.dcm")):
                if q.is_file():
                    add(q)
        else:
            add(p)
    for p in list(files):
        try:
            tree = resolve_tree(p)
        except (InventoryError, OSError):
            continue  # the file or its tree is reported by the validation itself
        stack = list(tree.children)
        while stack:
            node = stack.pop()
            add(node.path)
            stack.extend(node.children)
    return files


def _roots(folder: Path) -> list[Path]:
    """The roots of the inventory trees in `folder`.

    Its ``.dcm`` files (recursively) that no other incorporates (PS3.3 C.38.1.1.5).
    """
    headers = [(q, read_header(q)) for q in sorted(folder.rglob("*.dcm")) if q.is_file()]
    if not headers:
        raise InventoryReadError("no .dcm file under this folder", path=str(folder))
    incorporated = {ref.sop_instance_uid for _, h in headers for ref in h.incorporated}
    return [q for q, h in headers if h.sop_instance_uid not in incorporated]


def _text_line(f: Finding, color: bool) -> str:
    sev = f.severity.value
    if color:
        sev = click.style(sev, fg="red" if f.severity is Severity.ERROR else "yellow")
    where = f"{Path(f.file).name if f.file else ''} {f.path}".strip()
    return f"{sev} {f.rule} {where}: {f.message} ({f.section})\n"


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="jsonl: one JSON object per finding, then one summary object.",
)
@click.option(
    "--max-per-rule",
    type=click.IntRange(min=0),
    default=MAX_PER_RULE,
    show_default=True,
    help="Findings of each rule shown; the rest are counted in the summary.",
)
@click.option("--all", "show_all", is_flag=True, help="Show every finding (no --max-per-rule).")
def validate(paths: tuple[Path, ...], fmt: str, max_per_rule: int, show_all: bool) -> None:
    """Validate Inventory files against the IOD (PS3.3 A.88, C.38).

    A folder stands for every .dcm file under it; a root brings the instances it incorporates
    (found as export finds them), so the output folder of create validates as one tree.

    Findings are printed as they are found, the first --max-per-rule of each rule; a count per
    rule ends the output. Exit 0: no errors (warnings allowed); 1: errors found; 2: a file is
    not readable as an Inventory SOP Instance.
    """
    stdout = sys.stdout  # click.get_text_stream is deprecated in click 8.5
    write = stdout.write
    color = fmt == "text" and stdout.isatty()
    first = [True]

    def emit(f: Finding) -> None:
        if fmt == "text":
            write(_text_line(f, color))
        elif fmt == "jsonl":
            write(json.dumps(f.to_dict()) + "\n")
        else:  # a JSON document, its findings array written item by item
            write(("\n  " if first[0] else ",\n  ") + json.dumps(f.to_dict()))
            first[0] = False

    def on_unreadable(u: dict[str, str]) -> None:
        if fmt == "jsonl":
            write(json.dumps({"file": u["file"], "unreadable": u["message"]}) + "\n")
        elif fmt == "text":
            stdout.flush()
            err.print(f"[bold red]unreadable[/] {u['message']}", markup=True, highlight=False)

    paths = tuple(_inventory_files(paths))
    if fmt == "json":
        write(f'{{"files": {json.dumps([str(p) for p in paths])},\n "findings": [')
    tally = _validate(
        paths, emit, max_per_rule=None if show_all else max_per_rule, on_unreadable=on_unreadable
    )
    summary = {
        "errors": tally.errors,
        "warnings": tally.warnings,
        "unreadable": tally.unreadable,
        "rules": dict(sorted(tally.per_rule.items())),
        "omitted": tally.omitted,
    }
    if fmt == "json":
        tail = json.dumps(summary, indent=1)[1:]  # the summary's members close the document
        write(("\n ]," if not first[0] else "],") + tail + "\n")
    elif fmt == "jsonl":
        write(json.dumps({"summary": dict(summary, files=len(paths))}) + "\n")
    else:
        if tally.omitted:
            write(
                f"not shown: {sum(tally.omitted.values())} finding(s) past the first "
                f"{max_per_rule} of their rule (--max-per-rule N, or --all):\n"
            )
            for rule, n in tally.omitted.items():
                write(f"  {rule}: {n} more ({tally.per_rule[rule]} in all)\n")
        write(
            f"{len(paths)} file(s): {tally.errors} error(s), {tally.warnings} warning(s), "
            f"{len(tally.unreadable)} unreadable\n"
        )
    stdout.flush()
    if tally.unreadable:
        sys.exit(ExitCode.USAGE)
    sys.exit(ExitCode.FINDINGS if tally.errors else ExitCode.OK)


# ----------------------------------------------------------------------------- show
@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--records", default=10, show_default=True, help="Study records to list.")
def show(path: Path, records: int) -> None:
    """Show the header, counts and first study records of an Inventory file.

    Given a folder (e.g. the output of create), the root of each tree in it is shown.
    """
    if path.is_dir():
        for i, root in enumerate(_roots(path)):
            if i:
                out.print()
            out.print(f"{root}", highlight=False, markup=False, soft_wrap=True)
            _show(root, records)
        return
    _show(path, records)


def _show(path: Path, records: int) -> None:
    """Show one Inventory file."""
    h = read_header(path)
    table = Table(show_header=False, box=None)
    level = getattr(h.inventory_level, "value", h.inventory_level)
    status = getattr(h.completion_status, "value", h.completion_status)
    for name, value in (
        ("SOP Instance UID", h.sop_instance_uid),
        ("Inventory Level", level),
        ("Completion Status", status),
        ("Purpose", h.inventory_purpose or ""),
        ("Description", h.inventory_instance_description or ""),
        ("Content Date/Time", f"{h.content_date} {h.content_time}"),
        ("Transaction UID", h.transaction_uid or ""),
        ("Scope", (h.scope or ScopeOfInventory()).describe()),
        ("Study records in instance", str(h.number_of_study_records_in_instance)),
        ("Total study records", str(h.total_number_of_study_records)),
        ("Incorporated instances", str(len(h.incorporated))),
    ):
        table.add_row(f"[bold]{name}[/]", value)
    print_table(table)
    for ref in h.incorporated[:records]:
        out.print(f"  incorporates {ref.sop_instance_uid}", highlight=False)
    studies = Table(
        "Study Instance UID",
        "Patient ID",
        "Patient's Name",
        "Study Date",
        "Modalities",
        "Series",
        "Instances",
        title="Study records",
    )
    with InventoryReader(path) as r:
        for i, st in enumerate(r.studies()):
            if i >= records:
                break
            series = list(st.series)
            n_inst = sum(len(list(s.instances)) for s in series)
            studies.add_row(
                st.study_instance_uid,
                st.patient_id or "",
                st.patient_name or "",
                st.study_date or "",
                "\\".join(st.modalities_in_study or ()),
                str(len(series)),
                str(n_inst),
            )
    if studies.row_count:
        print_table(studies)  # UIDs never cut
    else:
        out.print(
            "(no study records in this instance"
            + ("; they are in the incorporated instances)" if h.incorporated else ")")
        )


# ----------------------------------------------------------------------------- sample
def _sample(
    out_dir: Path,
    studies: int,
    level: str,
    series: int,
    instances: int,
    max_records: int | None,
    deflate: bool,
    seed: int,
) -> list[Any]:
    from datetime import datetime

    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    now = datetime.now()
    header = InventoryHeader(
        sop_instance_uid=generate_uid(),
        inventory_level=InventoryLevel(level),
        content_date=now.strftime("%Y%m%d"),
        content_time=now.strftime("%H%M%S"),
        inventory_purpose="Synthetic sample inventory (dicom-inventory sample)",
    )
    return write_inventory(
        out_dir,
        header,
        synthetic_studies(
            studies,
            series_per_study=series,
            instances_per_series=instances,
            level=InventoryLevel(level),
            seed=seed,
            item_inventory_datetime=header.content_date + header.content_time,
        ),
        max_records=max_records,
        transfer_syntax=DeflatedExplicitVRLittleEndian if deflate else ExplicitVRLittleEndian,
    )


@cli.command()
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--studies", default=10, show_default=True)
@click.option(
    "--level",
    type=click.Choice([x.value for x in InventoryLevel], case_sensitive=False),
    default="INSTANCE",
    show_default=True,
)
@click.option("--series-per-study", default=4, show_default=True)
@click.option("--instances-per-series", default=50, show_default=True)
@click.option(
    "--max-records",
    type=int,
    default=None,
    help="Split into instances of at most this many records.",
)
@click.option("--deflate", is_flag=True, help="Deflated Explicit VR Little Endian.")
@click.option("--seed", default=0, show_default=True)
def sample(
    out_dir: Path,
    studies: int,
    level: str,
    series_per_study: int,
    instances_per_series: int,
    max_records: int | None,
    deflate: bool,
    seed: int,
) -> None:
    """Write a synthetic inventory (root first if split) for trying things out."""
    written = _sample(
        out_dir, studies, level, series_per_study, instances_per_series, max_records, deflate, seed
    )
    for w in written:
        click.echo(
            f"{w.path}  studies={w.number_of_study_records} "
            f"records={w.number_of_records} {w.completion_status.value}"
        )


# ----------------------------------------------------------------------------- demo
@cli.command()
@click.option(
    "--dir",
    "work_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write (default: a temporary folder).",
)
@click.pass_context
def demo(ctx: click.Context, work_dir: Path | None) -> None:
    """The main job on the embedded default archive: synth, create, validate, show."""
    from dicom_inventory.rows import iter_rows
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.archive.synth import synthesize
    from dicom_inventory.scp.production import produce

    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="dicom-inventory-demo-")
        work_dir = Path(tmp.name)
    try:
        out.rule("1. the embedded archive: real images in folders, ZIP, TAR, TAR.GZ, GZIP, BLOB")
        with Archive(work_dir / "archive", create=True) as archive:
            made = synthesize(archive, studies=12, series_per_study=3, instances_per_series=4)
            out.print(
                f"  {made.instances} instances in {made.studies} studies; "
                f"{made.updates} database-only metadata updates",
                highlight=False,
            )
            out.rule("2. create: an INSTANCE-level inventory, split into a root and leaves")
            written = produce(
                archive,
                work_dir / "inventory",
                level="INSTANCE",
                max_records=100,
                purpose="dicom-inventory demo",
                retrieve_ae_title="DICOM_INV",
            )
        for w in written:
            out.print(
                f"  {w.path.name if w.path else ''}  studies={w.number_of_study_records} "
                f"total={w.total_number_of_study_records} {w.completion_status.value}",
                highlight=False,
            )
        out.rule("3. validate every instance and the tree")
        result = _validate([w.path for w in written if w.path is not None])
        out.print(
            f"  {result.errors} error(s), {result.warnings} warning(s), "
            f"{len(result.unreadable)} unreadable",
            highlight=False,
        )
        out.rule("4. show the root and the first leaf; count the stale stored files")
        ctx.invoke(show, path=written[0].path, records=3)
        ctx.invoke(show, path=written[1].path, records=3)
        from dicom_inventory.read import iter_inventory

        root = written[0].path
        assert root is not None
        rows = list(iter_rows(iter_inventory(root)))
        stale = [r for r in rows if r["stale_attributes"]]
        out.print(
            f"  {len(rows)} instance rows; {len(stale)} stored files still hold values the "
            f"archive has since changed ({', '.join(sorted({r['stale_attributes'] for r in stale}))})",
            highlight=False,
        )
        if result.errors or result.unreadable:
            err.print("demo failed: the inventory did not validate")
            sys.exit(ExitCode.FINDINGS)
        out.print("[bold green]demo ok[/]")
    finally:
        if tmp is not None:
            tmp.cleanup()


cli.add_command(archive_group)
cli.add_command(create_command)
cli.add_command(serve_command)
cli.add_command(conformance_statement)
cli.add_command(testkit)
_SCU_COMMANDS = [
    request_command,
    query_command,
    repository_query_command,
    export_command,
    diff_command,
    fetch_command,
    crawl_command,
    summary_command,
]
for _command in [*_SCU_COMMANDS, *WEB_COMMANDS]:
    cli.add_command(_command)
with_logging_options(cli)


#: Seconds an interrupted command gives its open associations to abort before it exits.
_ABORT_WAIT = 2.0


def _end_associations() -> None:
    """Abort every association still open when the user interrupts a command (Ctrl-C).

    Ctrl-C may land while pynetdicom negotiates or waits for an answer; its connection thread
    is not a daemon, so without this the program would print "interrupted" and never exit.
    Each is sent an A-ABORT (PS3.8 7.3) and its thread stopped.
    """
    import threading

    from pynetdicom.association import Association
    from pynetdicom.dul import DULServiceProvider

    for thread in threading.enumerate():
        if isinstance(thread, Association) and thread.is_alive():
            with contextlib.suppress(Exception):
                thread.abort(block=False)
    for thread in threading.enumerate():
        if isinstance(thread, DULServiceProvider) and thread.is_alive():
            thread.kill_dul()
            thread.join(_ABORT_WAIT)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``dicom-inventory`` console script."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="dicom-inventory",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # BadParameter, NoSuchOption, ... too
        # one line, as every error (docs/cli.md), click's own wording kept
        where = exc.ctx.command_path if exc.ctx is not None else "dicom-inventory"
        fail(f"{exc.format_message()} ({where} --help)", ExitCode.USAGE)
    except click.ClickException as exc:
        fail(exc.format_message(), ExitCode.USAGE)
    except click.exceptions.Abort:
        _end_associations()
        fail(KeyboardInterrupt())
    except Exception as exc:  # every error ends as one line and its documented exit code
        fail(exc)
    except KeyboardInterrupt as exc:
        _end_associations()
        fail(exc)


if __name__ == "__main__":
    main()
