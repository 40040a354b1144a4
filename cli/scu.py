"""The migration commands: request, query, repository-query, export, diff, fetch, crawl.

Thin wrappers over :mod:`dicom_inventory.scu`; user errors are one line on stderr, exit 2.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from dicom_inventory.cli.exits import ExitCode, fail
from dicom_inventory.cli.web import inventory_sources, web_client, web_options
from dicom_inventory.status import Status
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

__all__ = ["COMMANDS"]

out = Console()
err = Console(stderr=True)

DEFAULT_STATE = Path.home() / ".dicom-inventory"


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


def _peer(text: str) -> Any:
    from dicom_inventory.scu.peer import PeerError, parse_peer

    try:
        return parse_peer(text)
    except PeerError as exc:
        raise click.BadParameter(str(exc)) from exc


def _keys(pairs: tuple[str, ...]) -> dict[str, str]:
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


_peer_option = click.option("--peer", required=True, help="The node, AE@HOST:PORT.")
_calling_option = click.option("--calling-ae", default="DICOM_INV_SCU", show_default=True)


# ----------------------------------------------------------------------------- request
@click.group(invoke_without_command=True)
@click.option("--peer", help="The Inventory SCP, AE@HOST:PORT.")
@click.option(
    "--level",
    type=click.Choice(["STUDY", "SERIES", "INSTANCE"]),
    default="INSTANCE",
    show_default=True,
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
@_calling_option
@click.option(
    "--listen-port", type=int, default=11113, show_default=True, help="Port for the events."
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
)
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
    from dicom_inventory.scu.client import EventListener, SCUError
    from dicom_inventory.scu.request import TransactionStore, request_inventory

    target = _peer(peer)
    store = TransactionStore(state_dir)
    try:
        listener = EventListener(calling_ae, listen_port) if wait else None
    except SCUError as exc:
        store.close()
        fail(exc)
    if listener is not None:
        listener.accept_only(store.known)
    try:
        with _progress("waiting for events", bar=True) as (progress, task):

            def on_event(ev: Any) -> None:
                info = ev.info
                n = int(info.get("TotalNumberOfStudyRecords") or 0)
                progress.update(
                    task,
                    completed=n,
                    description=f"{info.get('TransactionStatus', '')} {n} studies",
                )

            outcome = request_inventory(
                target,
                level,
                scope=_keys(scope),
                store=store,
                listener=listener,
                out=out_dir,
                purpose=purpose,
                status_interval=interval,
                calling_ae=calling_ae,
                timeout=timeout,
                on_event=on_event,
                on_start=lambda uid: progress.console.print(
                    f"transaction {uid}: requested from {target} (remembered in {state_dir}; "
                    f"dicom-inventory request status {uid})",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,  # a UID to copy: never cut by wrapping
                ),
            )
    except SCUError as exc:
        fail(exc)
    finally:
        if listener is not None:
            listener.close()
        store.close()
    out.print(
        f"transaction {outcome.transaction_uid}: {outcome.action.describe()}",
        highlight=False,
        markup=False,  # the node's Error Comment is text, never Rich markup
    )
    if outcome.action.status == Status.NOT_AUTHORIZED:
        err.print(_PEER_HINT.format(ae=calling_ae, port=listen_port), highlight=False, markup=False)
    if not outcome.action.accepted:
        sys.exit(ExitCode.FINDINGS)
    _report_outcome(outcome, out_dir)


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


@contextlib.contextmanager
def _progress(description: str, *, bar: bool = False) -> Iterator[tuple[Progress, Any]]:
    """A transient spinner on stderr with one task whose description the caller updates."""
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if bar:
        columns.append(BarColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as p:
        yield p, p.add_task(description, total=None)


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
        result = control(uid, action, store=store, calling_ae=ctx.obj["calling_ae"], **kw)
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
        err.print(f"no transaction remembered in {ctx.obj['state_dir']}", highlight=False)
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
    from dicom_inventory.scu.client import EventListener, SCUError
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
        )
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


# ----------------------------------------------------------------------------- query
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


@click.command()
@_peer_option
@click.argument("keys", nargs=-1, metavar="KEYWORD[=VALUE]...")
@_calling_option
def query(peer: str, keys: tuple[str, ...], calling_ae: str) -> None:
    r"""Inventory FIND: list the inventories a node holds (JSON lines).

    One JSON object per inventory, values as DICOM text: multiple values joined with ``\``,
    sequences (e.g. ScopeOfInventorySequence, asked for by naming it) as lists of items.
    """
    from dicom_inventory.scu.client import SCUError, inventory_find

    wanted = {
        "SOPInstanceUID": "",
        "ContentDate": "",
        "ContentTime": "",
        "InventoryLevel": "",
        "InventoryCompletionStatus": "",
        "TotalNumberOfStudyRecords": "",
        **_keys(keys),
    }
    # a return key is sent empty (None): "" cannot be a UV or US value, nor a sequence
    identifier = {kw: (value if value != "" else None) for kw, value in wanted.items()}
    try:
        found = inventory_find(_peer(peer), identifier, calling_ae=calling_ae)
    except SCUError as exc:
        fail(exc)
    for ds in found:
        click.echo(json.dumps(_json_item(ds)))  # JSON lines: data, never wrapped by rich
    err.print(f"{len(found)} inventory instance(s)")


@click.command("repository-query")
@click.option("--peer", default=None, help="The node, AE@HOST:PORT (Repository Query C-FIND).")
@click.option("--url", default=None, help="Or a DICOMweb service (https://host/dicomweb): QIDO-RS.")
@click.option(
    "--level", type=click.Choice(["STUDY", "SERIES", "IMAGE"]), default="STUDY", show_default=True
)
@click.argument("keys", nargs=-1, metavar="KEYWORD[=VALUE]...")
@click.option("--max-records", type=int, default=None, help="Maximum Number of Records per page.")
@click.option("--one-page", is_flag=True, help="Stop after the first page.")
@_calling_option
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

    if (peer is None) == (url is None):
        raise click.UsageError("give --peer AE@HOST:PORT or --url https://host/dicomweb")
    unique = {
        "STUDY": "StudyInstanceUID",
        "SERIES": "SeriesInstanceUID",
        "IMAGE": "SOPInstanceUID",
    }[level]
    wanted = {unique: "", **_keys(keys)}
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
                        _peer(peer),
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


# ----------------------------------------------------------------------------- export
@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY...")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), required=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path), required=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes for split inventories [default: CPU count, at most 8].",
)
@web_options
def export(
    sources: tuple[str, ...],
    fmt: str,
    out_file: Path,
    workers: int | None,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Export inventories (trees followed) as flat instance rows.

    INVENTORY is a file or a DICOMweb URL (https://host/dicomweb/inventories/UID).
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.export import export_inventory

    with tempfile.TemporaryDirectory(prefix="dicom-inventory-export-") as tmp:
        try:
            paths = inventory_sources(sources, Path(tmp), token_file, ca_cert)
        except InventoryError as exc:
            fail(exc)
        with _progress("exporting") as (p, task):
            try:
                n = export_inventory(
                    paths,
                    out_file,
                    fmt,
                    workers=workers,
                    progress=lambda k: p.update(task, description=f"{k:,} rows"),
                )
            except InventoryError as exc:
                fail(exc)
    out.print(f"{n:,} rows -> {out_file}", highlight=False)


# ----------------------------------------------------------------------------- diff
def _side(
    spec: str,
    work: Path,
    name: str,
    token_file: Path | None,
    ca_cert: Path | None,
    scope: dict[str, str] | None = None,
) -> list[Path]:
    """An inventory file or DICOMweb URL, or ``dicom:AE@HOST:PORT`` crawled now.

    A live archive is listed within `scope` (the other side's Scope of Inventory, flat keys):
    studies it holds under another scope are then neither extra nor missing.
    """
    from dicom_inventory.scu.web import is_url

    if is_url(spec):
        return inventory_sources([spec], work / name, token_file, ca_cert)
    if spec.startswith("dicom:"):
        from dicom_inventory.scu.crawl import crawl

        report = crawl(_peer(spec.removeprefix("dicom:")), work / name, scope=scope)
        if not report.complete:
            err.print(
                f"[yellow]warning[/] {spec}: listing incomplete: {'; '.join(report.problems)}"
            )
        return [Path(w.path) for w in report.written[:1] if w.path is not None]
    path = Path(spec)
    if not path.exists():
        raise click.BadParameter(f"{spec}: no such file (or use dicom:AE@HOST:PORT or a URL)")
    return [path]


def _scope_keys(paths: list[Path], spec: str) -> dict[str, str] | None:
    """The Scope of Inventory of the first inventory in `paths`, as flat Study-level keys.

    ``None`` for universal matching; a RELATIONAL scope below the study level cannot be asked
    of a live archive by study queries, so it is named in a warning and not applied.
    """
    from dicom_inventory import read_header
    from rich.markup import escape

    scope = read_header(paths[0]).scope if paths else None
    if scope is None or scope.is_universal:
        return None
    if scope.query_retrieve_level not in (None, "STUDY"):
        err.print(
            f"[yellow]warning[/] {escape(spec)}: its scope ({escape(scope.describe())}) is at "
            f"{scope.query_retrieve_level} level: the live archive is listed whole",
            highlight=False,
        )
        return None
    err.print(
        f"listing the live archive within the scope of {spec}: {scope.describe()}",
        highlight=False,
        markup=False,
    )
    return {**scope.direct, **scope.keys}


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@web_options
def diff(
    source: str, destination: str, fmt: str, token_file: Path | None, ca_cert: Path | None
) -> None:
    """Compare two inventories (files or DICOMweb URLs), or one with a live archive.

    A live archive is dicom:AE@HOST:PORT (crawled now by Study Root C-FIND), listed within the
    other side's Scope of Inventory. Exit 0: identical; 1: differences; 2: error.
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.crawl import CrawlError
    from dicom_inventory.scu.diff import diff_inventories

    with tempfile.TemporaryDirectory(prefix="dicom-inventory-diff-") as tmp:
        try:
            live_a, live_b = (x.startswith("dicom:") for x in (source, destination))
            if live_a and not live_b:  # the file side first: its scope restricts the crawl
                b = _side(destination, Path(tmp), "destination", token_file, ca_cert)
                a = _side(
                    source, Path(tmp), "source", token_file, ca_cert, _scope_keys(b, destination)
                )
            else:
                a = _side(source, Path(tmp), "source", token_file, ca_cert)
                scope = _scope_keys(a, source) if live_b and not live_a else None
                b = _side(destination, Path(tmp), "destination", token_file, ca_cert, scope)
            report = diff_inventories(a, b, workdir=tmp)
        except (InventoryError, CrawlError) as exc:
            fail(exc)
    click.echo(report.to_json() if fmt == "json" else report.to_text())
    sys.exit(ExitCode.OK if report.identical else ExitCode.FINDINGS)


# ----------------------------------------------------------------------------- fetch
def _http_prefixes(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """The --allow-url values, each an http(s)://host[:port][/path] prefix."""
    from urllib.parse import urlsplit

    for url in value:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise click.BadParameter(f"{url!r} is not an http(s)://host[:port][/path] prefix")
    return value


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY...")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--apply-updates", is_flag=True, help="Write the archive's current values into the objects."
)
@click.option("--workers", type=int, default=4, show_default=True)
@click.option(
    "--allow-root",
    "allow_roots",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A folder links may name files in (repeatable). Always allowed: the inventory's folder.",
)
@click.option(
    "--allow-url",
    "allow_urls",
    multiple=True,
    metavar="URL",
    callback=_http_prefixes,
    help="An http(s)://host[:port][/path] prefix links may start with (repeatable).",
)
@click.option(
    "--allow-any", is_flag=True, help="Follow every link: no allow-list (trusted inventories only)."
)
@click.option(
    "--ignore-base-uris",
    is_flag=True,
    help="Do not allow what the inventory's own Stored Instance Base URIs name (untrusted inventories).",
)
@click.option(
    "--max-object-size",
    type=click.IntRange(min=1),
    default=None,
    metavar="BYTES",
    help="Most bytes read for an object without a declared length, or a container over http "
    "[default: 2 GiB].",
)
@web_options
def fetch(
    sources: tuple[str, ...],
    out_dir: Path,
    apply_updates: bool,
    workers: int,
    allow_roots: tuple[Path, ...],
    allow_urls: tuple[str, ...],
    allow_any: bool,
    ignore_base_uris: bool,
    max_object_size: int | None,
    token_file: Path | None,
    ca_cert: Path | None,
) -> None:
    """Fetch the stored files the records link to, checked (and brought up to date).

    INVENTORY is a file or a DICOMweb URL (https://host/dicomweb/inventories/UID).

    Links are followed only under the inventory's folder, its Stored Instance Base URIs and
    the --allow-root/--allow-url given (see docs/migration-vendors.md, "What an untrusted
    inventory can make fetch touch"). No token is sent with a link.
    """
    from dicom_inventory.errors import InventoryError
    from dicom_inventory.scu.fetch import DEFAULT_MAX_OBJECT_SIZE, FetchPolicy, fetch_inventory

    policy = FetchPolicy(
        allow_roots=allow_roots,
        allow_urls=allow_urls,
        allow_any=allow_any,
        trust_base_uris=not ignore_base_uris,
        max_object_size=max_object_size or DEFAULT_MAX_OBJECT_SIZE,
        verify=str(ca_cert) if ca_cert is not None else True,
    )
    with tempfile.TemporaryDirectory(prefix="dicom-inventory-fetch-") as tmp:
        try:
            paths = inventory_sources(sources, Path(tmp), token_file, ca_cert)
        except InventoryError as exc:
            fail(exc)
        with _progress("fetching") as (p, task):
            count = [0]

            def step(_: Any) -> None:
                count[0] += 1
                p.update(task, description=f"{count[0]:,} instances")

            try:
                s = fetch_inventory(
                    paths,
                    out_dir,
                    apply_updates=apply_updates,
                    workers=workers,
                    progress=step,
                    policy=policy,
                )
            except (InventoryError, OSError) as exc:
                fail(exc)
    out.print(
        f"fetched {s.fetched} ({s.bytes / 1e6:.1f} MB), already there {s.skipped}, updated {s.updated}, "
        f"no link {s.no_link}, failed {s.failed}",
        highlight=False,
    )
    for f in s.failures[:50]:
        err.print(f"  failed {f.sop_instance_uid}: {f.error}", highlight=False, markup=False)
    if s.failed > 50:
        err.print(f"  ... and {s.failed - 50} more failures", highlight=False)
    sys.exit(ExitCode.FINDINGS if s.failed else ExitCode.OK)


# ----------------------------------------------------------------------------- crawl
@click.command()
@_peer_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--cap",
    type=int,
    default=None,
    help="The peer's result limit, if it ends capped sets with Success.",
)
@_calling_option
def crawl(peer: str, out_dir: Path, cap: int | None, calling_ae: str) -> None:
    """Build an Inventory of an archive without Inventory services, by Study Root C-FIND."""
    from dicom_inventory.scu.crawl import CrawlError
    from dicom_inventory.scu.crawl import crawl as run

    try:
        with _progress("listing studies") as (p, task):
            report = run(
                _peer(peer),
                out_dir,
                calling_ae=calling_ae,
                cap=cap,
                progress=lambda m: p.update(task, description=m),
            )
    except CrawlError as exc:
        fail(exc)
    out.print(
        f"{report.studies} studies ({len(report.undated_studies)} without Study Date), {report.series} series, "
        f"{report.instances} instances; {report.queries} queries, {report.truncated} truncated and split",
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


COMMANDS = [request, query, repository_query_command, export, diff, fetch, crawl]
