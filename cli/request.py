"""The ``request`` command: Inventory Creation, its events, retrieval, and control.

Thin wrapper over :mod:`dicom_inventory.scu.request`; user errors are one line on stderr.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.options import (
    ENVIRONMENT,
    calling_option,
    client_tls,
    err,
    optional_peer_option,
    out,
    progress,
    state_option,
    to_keys,
    to_peer,
)
from dicom_inventory.status import Status

__all__ = ["request"]


#: What to do when the node refuses a request as not authorized (0x0124): the usual cause is
#: that it does not know where to send the events, which go out on a new association to a
#: configured peer (PS3.4 KK.2.2.2); the association does not tell the node our event port.
_PEER_HINT = """hint: the node sends the events to this client on a new association, so its
config file must name this client; add (host: this machine's address as the node sees it):

[peers.{ae}]
ae_title = "{ae}"
host = "127.0.0.1"
port = {port}

then start it with dicom-inventory serve --config node.toml (the node's log names the host)."""


@click.group(invoke_without_command=True)
@optional_peer_option("The Inventory SCP, AE@HOST:PORT (subcommands: the one remembered).")
@click.option(
    "--level",
    type=click.Choice(["STUDY", "SERIES", "INSTANCE"], case_sensitive=False),
    default="INSTANCE",
    show_default=True,
    help="Inventory Level (PS3.3 C.38.1.1.1), any case.",
)
@click.option(
    "--scope",
    "scope",
    multiple=True,
    metavar="KEYWORD=VALUE",
    help="Scope of Inventory key (repeat).",
)
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), help="Retrieve the inventory here."
)
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Follow the events to the end."
)
@calling_option
@click.option(
    "--listen-port",
    type=click.IntRange(0, 65535),
    default=11113,
    show_default=True,
    help="Port for the events (plain DICOM: the node opens these associations).",
    envvar=ENVIRONMENT["listen_port"],
    show_envvar=True,
)
@state_option
@click.option("--purpose", default=None)
@click.option("--interval", type=int, default=None, help="Requested Status Interval, seconds.")
@click.option(
    "--timeout", type=float, default=None, help="Give up waiting after this many seconds."
)
@click.pass_context
def request(
    ctx: click.Context,
    peer: str | None,
    level: str,
    scope: tuple[str, ...],
    out_dir: Path | None,
    wait: bool,
    calling_ae: str,
    listen_port: int,
    state_dir: Path,
    purpose: str | None,
    interval: int | None,
    timeout: float | None,
) -> None:
    """Request an inventory (Inventory Creation), follow it, retrieve it.

    Subcommands act on a transaction started earlier, even after a restart:
    status, pause, resume, cancel.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(
        state_dir=state_dir,
        calling_ae=calling_ae,
        listen_port=listen_port,
        out_dir=out_dir,
        timeout=timeout,
    )
    if ctx.invoked_subcommand is not None:
        return
    if peer is None:
        raise click.UsageError("--peer is required to request an inventory")
    from dicom_inventory.scu.client import (
        ActionResult,
        EventListener,
        EventTimeout,
        PeerAborted,
        SCUError,
    )
    from dicom_inventory.scu.request import TransactionStore, request_inventory

    target = to_peer(peer)
    scope_keys = to_keys(scope)  # checked before anything is sent or remembered
    store = TransactionStore(state_dir)
    try:
        listener = EventListener(calling_ae, listen_port) if wait else None
    except SCUError as exc:
        store.close()
        fail(exc)
    if listener is not None:
        listener.accept_only(store.known)
    port = listener.port if listener is not None else listen_port
    where = _where_events(calling_ae, port)
    started: list[str] = []
    shown: dict[str, Any] = {}
    stack = contextlib.ExitStack()

    def on_start(uid: str) -> None:
        started.append(uid)
        # the handle of the request, shown even with -q: a UID to copy, never wrapped
        click.echo(
            f"transaction {uid}: requested from {target} (remembered in {state_dir}; "
            f"{_again(state_dir, 'status', uid)})",
            err=True,
        )

    def on_action(result: ActionResult) -> None:
        # the node's answer as soon as it is known, before the wait for events
        out.print(
            f"transaction {started[0]}: {result.describe()}",
            highlight=False,
            markup=False,  # the node's Error Comment is text, never Rich markup
            soft_wrap=True,
        )
        if result.accepted and listener is not None:
            display, task = stack.enter_context(progress("waiting for events", bar=True))
            shown.update(display=display, task=task)

    def on_event(ev: Any) -> None:
        info = ev.info
        n = int(info.get("TotalNumberOfStudyRecords") or 0)
        if shown:
            shown["display"].update(
                shown["task"],
                completed=n,
                description=f"{info.get('TransactionStatus', '')} {n} studies",
            )

    def on_quiet() -> None:
        click.echo(f"no event yet: {where}", err=True)  # once; shown even with -q

    try:
        with stack:
            outcome = request_inventory(
                target,
                level,
                scope=scope_keys,
                store=store,
                listener=listener,
                out=out_dir,
                purpose=purpose,
                status_interval=interval,
                calling_ae=calling_ae,
                timeout=timeout,
                on_event=on_event,
                on_start=on_start,
                on_action=on_action,
                quiet_after=_first_wait(interval),
                on_quiet=on_quiet,
            )
    except EventTimeout as exc:
        fail(f"{exc}: {where}; {_again(state_dir, 'follow', started[0])} goes on", ExitCode.PEER)
    except SCUError as exc:
        if isinstance(exc, PeerAborted) or "accepted no presentation context" in str(exc):
            fail(f"{exc}{_NO_INVENTORY_SERVICES}", ExitCode.PEER)
        fail(exc)
    except KeyboardInterrupt:
        if started:
            click.echo(f"to follow it later: {_again(state_dir, 'follow', started[0])}", err=True)
        raise
    finally:
        if listener is not None:
            listener.close()
        store.close()
    if outcome.action.status == Status.NOT_AUTHORIZED:
        # why it failed and what to do: shown even with -q
        click.echo(_PEER_HINT.format(ae=calling_ae, port=listen_port), err=True)
    if not outcome.action.accepted:
        sys.exit(ExitCode.FINDINGS)
    _report_outcome(outcome, out_dir)


#: Said when a node takes no Inventory Creation request (no context for it, or an abort).
_NO_INVENTORY_SERVICES = (
    ": the node does not answer Inventory Creation (PS3.4 KK); an archive without Inventory services "
    "(e.g. Orthanc, most PACS) is inventoried from its Study Root C-FIND by "
    "dicom-inventory crawl --peer AE@HOST:PORT --out DIR"
)

#: Seconds to wait for a first event before saying where the events go, when no Requested
#: Status Interval was asked for; with one, that interval plus :data:`_EVENT_MARGIN` (the node
#: sends an Inventory Status event each interval, PS3.4 KK.2.2.2).
_FIRST_EVENT_WAIT = 30.0
_EVENT_MARGIN = 10.0


def _first_wait(interval: int | None) -> float:
    """Seconds after which the lack of any event is worth a hint."""
    return _FIRST_EVENT_WAIT if not interval else interval + _EVENT_MARGIN


def _where_events(calling_ae: str, port: int) -> str:
    """Where the node sends the events, and where this client listens."""
    return (
        f"the node sends events to the host/port its [peers.{calling_ae}] entry names; "
        f"this client listens on port {port} (--listen-port)"
    )


def _again(state_dir: Path, subcommand: str, uid: str) -> str:
    """The command line of a follow-up `subcommand` for `uid`, with --state unless default."""
    from dicom_inventory.cli.options import state_folder

    state = "" if _same(state_dir, state_folder()) else f" --state {_quoted(state_dir)}"
    return f"dicom-inventory request{state} {subcommand} {uid}"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return False


def _quoted(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def _report_outcome(outcome: Any, out_dir: Path | None) -> None:
    """Say how a followed transaction ended; exit 1 unless it completed with instances."""
    if outcome.final is None:
        out.print(f"transaction {outcome.transaction_uid}: not followed to the end")
        return
    info = outcome.final.info
    out.print(
        f"final event {outcome.final.event_type}: {info.get('TransactionStatus')} "
        f"{info.get('TransactionStatusComment', '')}",
        highlight=False,
    )
    if outcome.files is not None:
        out.print(
            f"retrieved {len(outcome.files)} inventory instance(s) into {out_dir}",
            highlight=False,
        )
        root = info.get("ReferencedSOPInstanceUID")  # the root of the tree (KK.2.3.1)
        found = [f for f in outcome.files if root and Path(f).stem == str(root)]
        if found:
            out.print(
                f"root of the tree: {found[0]}", highlight=False, markup=False, soft_wrap=True
            )
    if outcome.final.event_type != 11 or info.get("TransactionStatus") != "COMPLETE":
        sys.exit(ExitCode.FINDINGS)


def _remembered(ctx: click.Context, uid: str) -> None:
    """Take --calling-ae and --listen-port from what was remembered of `uid` when not given.

    So ``request status UID`` (and follow, pause, resume, cancel) work without repeating the
    options of the first call.
    """
    from dicom_inventory.scu.request import TransactionStore

    parent = ctx.parent
    if parent is None:
        return
    store = TransactionStore(ctx.obj["state_dir"])
    try:
        row = store.get(uid)
    finally:
        store.close()
    if row is None:
        return
    for name in ("calling_ae", "listen_port"):
        source = parent.get_parameter_source(name)
        if row.get(name) is not None and source is click.core.ParameterSource.DEFAULT:
            ctx.obj[name] = row[name]


def _control(ctx: click.Context, uid: str, action: str, **kw: Any) -> None:
    from dicom_inventory.scu.client import SCUError
    from dicom_inventory.scu.request import TransactionStore, control

    _remembered(ctx, uid)
    store = TransactionStore(ctx.obj["state_dir"])
    try:
        result = control(
            uid, action, store=store, calling_ae=ctx.obj["calling_ae"], tls=client_tls(), **kw
        )
    except SCUError as exc:
        fail(exc)
    finally:
        store.close()
    out.print(f"{action} {uid}: {result.describe()}", highlight=False)
    sys.exit(ExitCode.OK if result.accepted else ExitCode.FINDINGS)


@request.command("list")
@click.pass_context
def request_list(ctx: click.Context) -> None:
    """The transactions this client started (from the --state folder), oldest first."""
    from dicom_inventory.scu.request import TransactionStore

    store = TransactionStore(ctx.obj["state_dir"])
    try:
        rows = store.list()
    finally:
        store.close()
    if not rows:
        err.print(
            f"no transaction remembered in {ctx.obj['state_dir']}",
            highlight=False,
            markup=False,
            soft_wrap=True,  # a path to copy: never cut by wrapping
        )
        return
    columns = ("uid", "peer", "level", "started", "state", "final_event", "root_uid")
    click.echo("\t".join(columns))  # data, tab-separated: UIDs are never cut to fit a table
    for r in rows:
        click.echo("\t".join("" if r[k] is None else str(r[k]) for k in columns))


@request.command("status")
@click.argument("uid")
@click.pass_context
def request_status(ctx: click.Context, uid: str) -> None:
    """Ask for an Inventory Status event (and show what is remembered)."""
    from dicom_inventory.scu.request import TransactionStore

    store = TransactionStore(ctx.obj["state_dir"])
    row = store.get(uid)
    store.close()
    if row is not None:
        click.echo(json.dumps(row, indent=1))  # data: never wrapped by rich
    _control(ctx, uid, "status")


@request.command("follow")
@click.argument("uid")
@click.pass_context
def request_follow(ctx: click.Context, uid: str) -> None:
    """Go on following a transaction after a restart, and retrieve it into --out.

    If the final event was already received the inventory is retrieved at once; otherwise
    this listens on --listen-port for the events the SCP retries.
    """
    from dicom_inventory.scu.client import EventListener, EventTimeout, SCUError
    from dicom_inventory.scu.request import TransactionStore, follow_remembered

    _remembered(ctx, uid)
    store = TransactionStore(ctx.obj["state_dir"])
    row = store.get(uid)
    listener = None
    if row is not None and row["final_event"] is None:
        try:
            listener = EventListener(ctx.obj["calling_ae"], ctx.obj["listen_port"])
        except SCUError as exc:
            store.close()
            fail(exc)
        listener.accept_only(store.known)
    try:
        outcome = follow_remembered(
            uid,
            store=store,
            listener=listener,
            out=ctx.obj["out_dir"],
            calling_ae=ctx.obj["calling_ae"],
            timeout=ctx.obj["timeout"],
            tls=client_tls(),
        )
    except EventTimeout as exc:
        where = _where_events(ctx.obj["calling_ae"], ctx.obj["listen_port"])
        fail(f"{exc}: {where}", ExitCode.PEER)
    except SCUError as exc:
        fail(exc)
    finally:
        if listener is not None:
            listener.close()
        store.close()
    _report_outcome(outcome, ctx.obj["out_dir"])


@request.command("pause")
@click.argument("uid")
@click.pass_context
def request_pause(ctx: click.Context, uid: str) -> None:
    """Pause a transaction."""
    _control(ctx, uid, "pause")


@request.command("resume")
@click.argument("uid")
@click.pass_context
def request_resume(ctx: click.Context, uid: str) -> None:
    """Resume a paused transaction."""
    _control(ctx, uid, "resume")


@request.command("cancel")
@click.argument("uid")
@click.option("--retain/--discard", default=False, help="Keep what was produced so far.")
@click.pass_context
def request_cancel(ctx: click.Context, uid: str, retain: bool) -> None:
    """Cancel a transaction."""
    _control(ctx, uid, "cancel", retain=retain)
