"""dicom_inventory.cli (see docs/architecture.md).

:func:`main` is the console script's entry: it loads the commands itself, so a Ctrl-C while
they load (a second or two on a busy machine) ends as every other interruption does, with
``error: interrupted`` and exit 130, not an import traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``dicom-inventory`` with `argv` (default: the process's arguments)."""
    try:
        from dicom_inventory.cli.main import main as run
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)  # ExitCode.INTERRUPTED, which lives in the module being loaded
    run(argv)
