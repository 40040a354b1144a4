"""Run ``dicom-inventory`` on a pseudo-terminal, as a user at a terminal runs it.

The command runs in a real subprocess, in its own session (so its own process group, as a
shell's foreground job is), with stdin, stdout and stderr on the pty's slave side: rich sees
a terminal and draws its progress display. :meth:`Terminal.ctrl_c` sends SIGINT to the
whole process group, which is what the terminal driver does on Ctrl-C (worker processes
included).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

__all__ = ["Terminal"]

#: The most seconds any wait of these tests lasts (a stuck command fails, never hangs).
LIMIT = 120.0
_ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """``python -m dicom_inventory ARGS...`` on a pty; its output read as it comes."""

    def __init__(self, *args: object, env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dicom_inventory", *map(str, args)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "160", **(env or {})},
        )
        os.close(slave)
        self.raw = b""

    @property
    def text(self) -> str:
        """What the command wrote so far, without terminal escapes."""
        return _ESCAPES.sub(b"", self.raw).decode("utf-8", "replace").replace("\r", "\n")

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False once there is no more to come.

        That is: the pty is closed, or the command has ended and nothing was left to read.
        """
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return self.proc.poll() is None
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every writer closed its side
            return False
        self.raw += data
        return bool(data)

    def wait_for(self, ready: Callable[[], bool], what: str) -> None:
        """Read output until `ready()`; fail if the command ends (or LIMIT passes) first."""
        end = time.monotonic() + LIMIT
        while not ready():
            if not self._read(0.02) or self.proc.poll() is not None or time.monotonic() > end:
                self.finish()
                raise AssertionError(f"{what} never seen; the command wrote:\n{self.text}")

    def shows(self, pattern: str) -> Callable[[], bool]:
        """A condition for :meth:`wait_for`: `pattern` (a regex) is on the screen."""
        return lambda: re.search(pattern, self.text) is not None

    def ctrl_c(self) -> None:
        """SIGINT to the command's process group, as Ctrl-C at the terminal sends it."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self) -> int:
        """Read everything until the command ends; its exit code."""
        end = time.monotonic() + LIMIT
        while self._read(0.05) and time.monotonic() < end:
            pass
        try:
            code = self.proc.wait(timeout=max(1.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        os.close(self.master)
        return code
