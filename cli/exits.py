"""The exit codes of ``dicom-inventory``, and which errors lead to which: in one place.

Every command exits with one of :class:`ExitCode`; an error that ends a command is mapped by
:func:`exit_code_for` from its class, so the same failure gives the same code whichever command
met it (the table is in ``docs/cli.md``).
"""

from __future__ import annotations

import os
import sys
import traceback
from enum import IntEnum
from typing import NoReturn

from dicom_inventory.errors import InventoryError
from dicom_inventory.scu.client import SCUError
from dicom_inventory.scu.crawl import CrawlError
from dicom_inventory.scu.fetch import FetchError
from dicom_inventory.scu.peer import AssociationError, PeerError
from dicom_inventory.scu.web import WebError
from rich.console import Console

__all__ = ["ExitCode", "exit_code_for", "fail"]


class ExitCode(IntEnum):
    """What the exit status of a command says."""

    OK = 0
    """Done; nothing found wrong."""
    FINDINGS = 1
    """Done, and the data has findings: validation errors, differences, failed checks."""
    USAGE = 2
    """Not done: bad arguments, configuration or input files (unreadable, not an Inventory)."""
    PARTIAL = 3
    """Done in part: the answer is incomplete (a partial Repository Query page), or an archive
    ingest skipped items."""
    PEER = 4
    """Not done: the peer refused, aborted or could not be reached."""
    INTERNAL = 5
    """Not done: a fault of dicom-inventory itself (a bug: please report it)."""
    INTERRUPTED = 130
    """Stopped by the user (Ctrl-C)."""


#: Error classes and their codes, most specific first.
_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (PeerError, ExitCode.USAGE),  # a malformed AE@HOST:PORT, before any network
    (AssociationError, ExitCode.PEER),
    (SCUError, ExitCode.PEER),
    (CrawlError, ExitCode.PEER),
    (WebError, ExitCode.PEER),
    (FetchError, ExitCode.FINDINGS),
    (InventoryError, ExitCode.USAGE),
    (ConnectionError, ExitCode.PEER),
    (TimeoutError, ExitCode.PEER),
    (OSError, ExitCode.USAGE),  # a file or folder that cannot be read or written
    (KeyboardInterrupt, ExitCode.INTERRUPTED),
)

_err = Console(stderr=True)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code of a command that ended with `exc`."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return ExitCode.INTERNAL


def fail(exc: BaseException | str, code: ExitCode | None = None) -> NoReturn:
    """Print one line, ``error: ...``, on stderr and exit with the code of `exc`.

    An unexpected exception (:attr:`ExitCode.INTERNAL`) prints its traceback only when the
    environment variable ``DICOM_INVENTORY_DEBUG`` is set.
    """
    if isinstance(exc, str):
        message, code = exc, code or ExitCode.USAGE
    else:
        message, code = str(exc) or type(exc).__name__, code or exit_code_for(exc)
    if code is ExitCode.INTERNAL:
        message = f"internal error ({type(exc).__name__}): {message}"
        if os.environ.get("DICOM_INVENTORY_DEBUG"):
            traceback.print_exc()
        else:
            message += " (set DICOM_INVENTORY_DEBUG=1 for the traceback)"
    if code is ExitCode.INTERRUPTED:
        message = "interrupted"
    _err.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)  # one line
    sys.exit(int(code))
