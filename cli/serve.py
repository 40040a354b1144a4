"""``dicom-inventory serve``: run the Inventory node until SIGTERM/SIGINT."""

from __future__ import annotations

import errno
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click
from dicom_inventory.cli.exits import ExitCode, fail

if TYPE_CHECKING:
    from dicom_inventory.scp.config import NodeConfig

__all__ = ["serve"]


def _log_thread_death(args: threading.ExceptHookArgs) -> None:
    """A thread that dies of an exception is one error line in the log, not a traceback.

    The node's own threads catch what they expect; a thread of the protocol library that dies
    on a peer's input must not flood the log (issue 20). The line names the thread and the
    exception, enough to find the cause.
    """
    import logging

    name = args.thread.name if args.thread is not None else "a thread"
    logging.getLogger("dicom_inventory.scp").error(
        "%s ended by %s: %s", name, args.exc_type.__name__, args.exc_value
    )


def _listen_problem(host: str, port: int, exc: OSError, *, web: bool = False) -> str:
    """What to tell the user when the node cannot listen on `host`:`port`."""
    if exc.errno == errno.EADDRINUSE:
        setting = "--http-port, or port in its [http] table" if web else "--port, or port"
        return (
            f"port {port} is in use on {host} (another serve? choose another port: "
            f"{setting} in the configuration file)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}:{port}: {host} is not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {host}:{port}: permission denied (a port below 1024 needs privileges)"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _check_ports(config: NodeConfig) -> None:
    """Exit with a usage error if the node could not listen where it is configured to.

    Tried by binding each port (DIMSE, and DICOMweb if configured) and letting it go at once,
    as the servers bind theirs (``SO_REUSEADDR``): so a port left in TIME_WAIT by a node that
    just stopped is no obstacle, but one another process listens on is. Port 0 (any free
    port) needs no check.
    """
    wanted = [(config.bind_address, config.port, False)]
    if config.http is not None:
        wanted.append((config.http.bind_address or config.bind_address, config.http.port, True))
    for host, port, web in wanted:
        if port == 0:
            continue
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        except socket.gaierror as exc:
            fail(f"cannot listen on {host}:{port}: {host} is not a known host ({exc.strerror})")
        except OSError as exc:
            fail(_listen_problem(host, port, exc, web=web), ExitCode.USAGE)


@click.command()
@click.option(
    "--archive",
    "archive_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The embedded archive folder (overrides the configuration).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML configuration (see docs/cli.md).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port (overrides the configuration; 0: any free port, printed at start).",
)
@click.option("--ae-title", default=None, help="AE title (overrides the configuration).")
@click.option("--bind", "bind_address", default=None, help="Bind address (default 127.0.0.1).")
@click.option(
    "--repository",
    default=None,
    metavar="URL",
    help="postgresql://... serves the archive index and keeps the jobs in PostgreSQL; "
    "orthanc+http://HOST:PORT inventories that Orthanc (overrides the configuration; "
    "default $DICOM_INVENTORY_DSN, else the embedded archive).",
)
@click.option(
    "--orthanc-storage",
    type=click.Path(path_type=Path),
    default=None,
    help="With --repository orthanc+http://...: Orthanc's StorageDirectory, so that records "
    "link the stored files.",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve DICOMweb /inventories on this port too (PS3.18 12; overrides [http] port).",
)
@click.option(
    "--create",
    is_flag=True,
    help="Create the embedded archive if the folder holds none (a new, empty archive that "
    "fills through Storage); without it a missing archive is an error.",
)
def serve(
    archive_dir: Path | None,
    config_file: Path | None,
    port: int | None,
    ae_title: str | None,
    bind_address: str | None,
    repository: str | None,
    orthanc_storage: Path | None,
    http_port: int | None,
    create: bool,
) -> None:
    """Serve the Inventory services and the archive until SIGTERM/SIGINT.

    Inventory Creation (N-ACTION, N-EVENT-REPORT), Inventory FIND/GET/MOVE, Inventory Storage
    (validated), Repository Query, and the archive's Storage, Study Root FIND/GET/MOVE and
    Verification; with an [http] section or --http-port, the DICOMweb /inventories resources
    (Retrieve Capabilities, Retrieve, Search, Store) in the same process. Every connection
    passes the association-request guard (dicom_inventory.scp.guard) first. On SIGTERM the
    node stops accepting, ends its associations, checkpoints running inventory jobs (they
    resume at the next start), stops event delivery, and only then closes its stores.
    Ctrl-C (SIGINT) stops it the same way, with exit code 0: it is how a node in a
    terminal is meant to stop.

    The embedded archive must exist (made by ``archive ingest`` or ``archive synth``): a
    folder without one is refused with exit code 2, unless --create asks for an empty one.
    """
    import logging

    from dicom_inventory.scp.backends import require_archive
    from dicom_inventory.scp.config import load_config
    from dicom_inventory.scp.server import InventoryNode

    config = load_config(
        config_file,
        archive=archive_dir,
        port=port,
        ae_title=ae_title,
        bind_address=bind_address,
        repository=repository,
        orthanc_storage=orthanc_storage,
        http_port=http_port,
    )
    _check_ports(config)  # before anything is made or started (an archive, jobs resumed)
    require_archive(config, create=create)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    threading.excepthook = _log_thread_death
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # before the node starts its threads: a Ctrl-C while it starts stops it once started,
    # never leaves its threads running behind a KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    node = InventoryNode(config)
    try:
        node.start(block=False)
    except OSError as exc:  # taken between the check and the start
        node.stop()
        fail(_listen_problem(config.bind_address, config.port, exc), ExitCode.USAGE)
    click.echo(f"listening as {config.ae_title}@{config.bind_address}:{node.port}", err=False)
    if node.web_url is not None:
        click.echo(f"DICOMweb at {node.web_url}/inventories", err=False)
    stop.wait()
    node.stop()
    click.echo("stopped")
