"""``dicom-inventory serve``: run the Inventory node until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

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
@click.option("--port", type=int, default=None, help="Port (overrides the configuration).")
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
    node.start(block=False)
    click.echo(f"listening as {config.ae_title}@{config.bind_address}:{node.port}", err=False)
    if node.web_url is not None:
        click.echo(f"DICOMweb at {node.web_url}/inventories", err=False)
    stop.wait()
    node.stop()
    click.echo("stopped")
