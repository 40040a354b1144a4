"""The options and helpers every client command shares: one spelling, one place.

A peer is ``AE@HOST:PORT`` (``--peer``; DCMTK's ``-aec`` names the called AE title apart);
a calling AE title is ``--calling-ae`` (DCMTK's ``-aet``); client TLS is
``--tls-ca/--tls-cert/--tls-key``; a progress display goes to stderr. Every setting may also
come from one environment variable, ``DICOM_INVENTORY_<SETTING>`` (:data:`ENVIRONMENT`), which
the command line overrides. Commands import these rather than declare their own, so the
vocabulary stays one.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import platformdirs
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
from rich.table import Table
from rich.text import Text

__all__ = [
    "DEFAULT_CALLING_AE",
    "DEFAULT_STATE",
    "ENVIRONMENT",
    "LEGACY_STATE",
    "calling_option",
    "client_tls",
    "connection_options",
    "err",
    "optional_peer_option",
    "out",
    "peer_option",
    "print_table",
    "progress",
    "set_quiet",
    "state_folder",
    "state_option",
    "to_keys",
    "tls_options",
    "to_peer",
    "workers_option",
]

out = Console()
err = Console(stderr=True)
# Off a terminal (a log, a pipe) lines are not wrapped at 80 columns: paths, UIDs and hints
# stay whole on one line, to copy or grep.
out.soft_wrap = not out.is_terminal
err.soft_wrap = not err.is_terminal

F = TypeVar("F", bound=Callable[..., Any])

#: The program's name in the platform's folders.
APP_NAME = "dicom-inventory"

#: The environment variable of each setting: the one documented name, set in one place.
ENVIRONMENT = {
    "peer": "DICOM_INVENTORY_PEER",
    "calling_ae": "DICOM_INVENTORY_CALLING_AE",
    "called_ae": "DICOM_INVENTORY_CALLED_AE",
    "state": "DICOM_INVENTORY_STATE",
    "listen_port": "DICOM_INVENTORY_LISTEN_PORT",
    "tls": "DICOM_INVENTORY_TLS",
    "tls_ca": "DICOM_INVENTORY_TLS_CA",
    "tls_cert": "DICOM_INVENTORY_TLS_CERT",
    "tls_key": "DICOM_INVENTORY_TLS_KEY",
    "log_level": "DICOM_INVENTORY_LOG_LEVEL",
    "token_file": "DICOM_INVENTORY_TOKEN_FILE",
}

#: The calling AE title of every client command unless told otherwise.
DEFAULT_CALLING_AE = "DICOM_INV_SCU"

#: Where this client keeps what it remembers (the transactions it started): the platform's
#: place for state, e.g. ``$XDG_STATE_HOME/dicom-inventory`` (``~/.local/state/...``) on
#: Linux, ``~/Library/Application Support/dicom-inventory`` on macOS, ``%LOCALAPPDATA%`` on
#: Windows. State rather than data: it lets a restarted client go on with its requests, but it
#: is not a document of the user's (XDG Base Directory Specification, ``XDG_STATE_HOME``).
DEFAULT_STATE = platformdirs.user_state_path(APP_NAME, appauthor=False)

#: Where versions before 0.x kept it; still read when the new place holds nothing yet.
LEGACY_STATE = Path.home() / ".dicom-inventory"

#: The file whose presence makes a state folder one in use.
_STATE_FILE = "transactions.sqlite"

#: Where the connection options keep their values in ``click.Context.meta`` (shared by a
#: group and its subcommands).
_META = "dicom_inventory.connection"


def set_quiet(quiet: bool = True) -> None:
    """``-q``: no progress display and no information lines on stderr (:data:`err`).

    Data on stdout and error lines (printed by :func:`dicom_inventory.cli.exits.fail`) stay.
    """
    err.quiet = quiet


def state_folder() -> Path:
    """The default ``--state`` folder: the platform's place, or the legacy one if only it is used.

    An existing ``~/.dicom-inventory`` (from earlier versions) with a transactions file is
    still read while the platform's folder holds none, so requests started before an upgrade
    can still be followed; it is not moved (another client may have it open).
    """
    new = platformdirs.user_state_path(APP_NAME, appauthor=False)
    legacy = Path.home() / ".dicom-inventory"
    if not (new / _STATE_FILE).exists() and (legacy / _STATE_FILE).exists():
        return legacy
    return new


def to_peer(text: str, *, label: str = "--peer") -> Any:
    """The :class:`~dicom_inventory.scu.peer.Peer` of ``AE@HOST:PORT``; a usage error if not.

    The called AE title (``-aec``) and the client TLS context of the command being run, if
    given (:func:`connection_options`), are applied: ``-aec`` replaces the AE part of `text`,
    which may then be ``HOST:PORT``.

    Parameters
    ----------
    text : str
        The peer as the user wrote it.
    label : str
        Where it was written: an option (``--peer``, named in the error as click names a bad
        value), or any other text (e.g. ``dicom:AE@HOST:PORT``, a side of ``diff``), which the
        error then names instead, with no mention of options the command does not have.
    """
    from dicom_inventory.scu.peer import PeerError, parse_peer

    ctx = click.get_current_context(silent=True)
    settings: dict[str, Any] = {} if ctx is None else ctx.meta.get(_META, {})
    called = settings.get("called_ae") if label == "--peer" else None
    try:
        return parse_peer(text, called_ae=called, tls=client_tls())
    except PeerError as exc:
        if not label.startswith("-"):
            raise click.UsageError(f"{label}: {exc}") from exc
        also = " (or give the called AE title with -aec)" if "no AE title" in str(exc) else ""
        raise click.BadParameter(f"{exc}{also}", param_hint=label) from exc


def client_tls() -> ssl.SSLContext | None:
    """The client TLS context the command line (or environment) asks for, or None.

    Built once per command from ``--tls-ca``, ``--tls-cert``, ``--tls-key`` and ``--tls``
    (:func:`~dicom_inventory.scu.peer.client_tls_context`: the node's BCP 195 settings).

    Raises
    ------
    click.UsageError
        A TLS file that cannot be used (exit 2).
    """
    from dicom_inventory.scu.peer import PeerError, client_tls_context

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    settings = ctx.meta.get(_META, {})
    if "context" in settings:
        return settings["context"]  # type: ignore[no-any-return]
    ca, cert, key = (settings.get(k) for k in ("tls_ca", "tls_cert", "tls_key"))
    context = None
    if settings.get("tls") or ca or cert or key:
        try:
            context = client_tls_context(ca, cert, key)
        except PeerError as exc:
            raise click.UsageError(str(exc)) from exc
    settings["context"] = context
    return context


def _keep(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Keep a connection option's value in the context's meta (shared with subcommands)."""
    settings = ctx.meta.setdefault(_META, {})
    if value is not None and value is not False:  # a subcommand's unset option keeps the group's
        settings[param.name] = value
        settings.pop("context", None)


def _env(setting: str) -> dict[str, Any]:
    return {"envvar": ENVIRONMENT[setting], "show_envvar": True}


def tls_options(f: F) -> F:
    """Client TLS: ``--tls``, ``--tls-ca``, ``--tls-cert``, ``--tls-key``.

    For every command that opens DIMSE associations; the values are read by :func:`to_peer`
    (:func:`client_tls`), so a command's own code does not change. TLS follows PS3.15 B.1
    with the node's BCP 195 settings (TLS 1.2 at least, AEAD cipher suites).
    """
    pem = click.Path(path_type=Path, exists=True, dir_okay=False)
    options = [
        click.option(
            "--tls",
            "tls",
            is_flag=True,
            default=False,
            expose_value=False,
            callback=_keep,
            help="Associate over TLS, the peer's certificate checked against the system's CAs "
            "(implied by --tls-ca/--tls-cert).",
            **_env("tls"),
        ),
        click.option(
            "--tls-ca",
            "tls_ca",
            type=pem,
            default=None,
            expose_value=False,
            callback=_keep,
            help="TLS: CA certificates (PEM) that sign the peer's certificate.",
            **_env("tls_ca"),
        ),
        click.option(
            "--tls-cert",
            "tls_cert",
            type=pem,
            default=None,
            expose_value=False,
            callback=_keep,
            help="TLS: this client's certificate (PEM), for a peer that requires one.",
            **_env("tls_cert"),
        ),
        click.option(
            "--tls-key",
            "tls_key",
            type=pem,
            default=None,
            expose_value=False,
            callback=_keep,
            help="TLS: the private key of --tls-cert (PEM, no passphrase; default: in it).",
            **_env("tls_key"),
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def connection_options(f: F) -> F:
    """``-aec/--called-ae`` and :func:`tls_options`: what ``--peer`` comes with."""
    f = tls_options(f)
    return click.option(
        "-aec",
        "--called-ae",
        "called_ae",
        default=None,
        expose_value=False,
        callback=_keep,
        help="The called AE title (DCMTK's -aec); replaces the AE part of --peer, which "
        "may then be HOST:PORT.",
        **_env("called_ae"),
    )(f)


def peer_option(f: F) -> F:
    """``--peer AE@HOST:PORT`` (required), with :func:`connection_options`."""
    f = connection_options(f)
    return click.option("--peer", required=True, help="The node, AE@HOST:PORT.", **_env("peer"))(f)


def optional_peer_option(help: str = "The node, AE@HOST:PORT.") -> Callable[[F], F]:
    """``--peer`` for commands where it is one choice of several, with the same vocabulary."""

    def decorate(f: F) -> F:
        f = connection_options(f)
        return click.option("--peer", default=None, help=help, **_env("peer"))(f)

    return decorate


calling_option = click.option(
    "--calling-ae",
    "-aet",
    "calling_ae",
    default=DEFAULT_CALLING_AE,
    show_default=True,
    help="This client's AE title (DCMTK's -aet).",
    **_env("calling_ae"),
)

state_option = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=state_folder,
    show_default="the platform's state folder: ~/.local/state/dicom-inventory on Linux, "
    "~/Library/Application Support/dicom-inventory on macOS, %LOCALAPPDATA%\\dicom-inventory on "
    "Windows; ~/.dicom-inventory while only it holds transactions",
    help="Folder of what this client remembers (the transactions it started).",
    **_env("state"),
)


#: ``--workers``: processes reading a split inventory's files (export, summary).
workers_option = click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes for split inventories [default: CPU count, at most 8].",
)


def to_keys(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEYWORD=VALUE`` pairs as a dict; a bare ``KEYWORD`` is a return key (empty value).

    A value is checked against its attribute's VR as a matching key (PS3.4 C.2.2.2: a date
    or range of dates, a UID list, wildcards where the VR allows them): a bad one is a usage
    error naming the key.
    """
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    keys = {}
    for pair in pairs:
        kw, sep, value = pair.partition("=")
        if not sep and kw and tag_for_keyword(kw) is not None:
            keys[kw] = ""  # a return key
            continue
        tag = tag_for_keyword(kw)
        if tag is None:
            raise click.BadParameter(f"{pair!r}: expected KEYWORD=VALUE with a DICOM keyword")
        problem = _matching_problem(dictionary_VR(tag), value)
        if problem:
            raise click.BadParameter(f"{kw}={value!r}: {problem}")
        keys[kw] = value
    return keys


def _matching_problem(vr: str, value: str) -> str | None:
    """Why `value` cannot be a matching key of `vr` (PS3.4 C.2.2.2), or None.

    The text forms are judged by the one check, :func:`dicom_inventory._vr.matching_problem`
    (single values, lists, ranges, wildcards; calendar and clock included). A command line adds
    what only a sender needs: binary integer VRs in their range, and a DA or TM range that
    begins after it ends (it would match nothing).
    """
    from dicom_inventory._vr import NUMERIC_FORMATS, binary_number_problem, matching_problem

    if value == "" or vr == "SQ":
        return None
    if vr in NUMERIC_FORMATS and vr not in ("FL", "FD"):
        for one in value.split("\\"):
            problem = binary_number_problem(vr, one)
            if problem:
                return problem
        return None
    problem = matching_problem(vr, value)
    if problem:
        return problem
    if vr in ("DA", "TM") and "-" in value:
        begin, _, end = value.partition("-")
        if begin and end and begin > end:
            return "the range begins after it ends (PS3.4 C.2.2.2.5)"
    return None


def print_table(table: Table) -> None:
    """Print `table` on stdout without cutting a value (UIDs, URLs, paths).

    On a terminal it is drawn to fit, long values folded onto more lines rather than cut with
    an ellipsis; elsewhere (a pipe, a log) it is tab-separated text: its title on one line,
    then its header and one line per row, every value whole.
    """
    if out.is_terminal:
        for column in table.columns:
            column.overflow = "fold"
        out.print(table)
        return
    if table.title:
        click.echo(_plain(table.title))
    if table.show_header:
        click.echo("\t".join(_plain(c.header) for c in table.columns))
    for row in zip(*(list(c.cells) for c in table.columns), strict=True):
        click.echo("\t".join(_plain(cell) for cell in row))


def _plain(cell: Any) -> str:
    """The text of a table cell, markup taken out."""
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(str(cell)).plain if isinstance(cell, str) else str(cell)


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
    and the time elapsed. With ``-q`` (:func:`set_quiet`) nothing is drawn. Rich redraws it ten times a second, so the elapsed time moves even
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
    # not drawn at all off a terminal: rich would still end a disabled-looking display with a
    # blank line on stderr (seen in logs after diff, retrieve, and before "error: interrupted")
    drawn = not err.quiet and err.is_terminal
    with Progress(*columns, console=err, transient=True, disable=not drawn) as p:
        yield p, p.add_task(description, total=total, unit=unit)
