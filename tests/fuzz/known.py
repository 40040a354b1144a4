"""Failures the fuzz harness knows about while other work of issue 20 lands: in this one file.

Each entry names a defect class seen on main, the reproducers that show it (paths under
``tests/fuzz/reproducers/``) and the failure signatures (regular expressions over
:attr:`tests.fuzz.oracle.Outcome.failure`) by which the generative runs recognise it.

* A reproducer listed here is replayed as ``xfail(strict=False)``: when the fix lands it
  passes (XPASS), and the lead deletes its line here.
* A generative run that meets a failure matching a signature counts it (and saves it in the
  long run) instead of failing; any other failure fails the test.

Remove an entry when its class is fixed; the replay and the generative runs then hold the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KNOWN", "Known", "known_for", "reason_for"]


@dataclass(frozen=True)
class Known:
    """One defect class being fixed."""

    name: str
    reason: str
    reproducers: tuple[str, ...] = ()
    """Paths relative to ``tests/fuzz/reproducers``."""
    signatures: tuple[str, ...] = ()
    """Regular expressions over the failure text (kind and last traceback line)."""
    targets: tuple[str, ...] = ()
    """Targets the signatures apply to (empty: all)."""


#: Every class of issue 20 is fixed: its reproducers replay as plain tests (they failed on
#: 781a8fc, each of its class). Add an entry while a newly found class is being fixed.
KNOWN: tuple[Known, ...] = ()


def reason_for(reproducer: str) -> str | None:
    """The xfail reason of a reproducer (path relative to the reproducers folder), if known."""
    for k in KNOWN:
        if reproducer in k.reproducers:
            return f"issue 20: {k.name}, being fixed ({k.reason})"
    return None


def known_for(target: str, failure: str) -> Known | None:
    """The known class a generative failure belongs to, if any."""
    for k in KNOWN:
        if k.targets and target not in k.targets:
            continue
        if any(re.search(sig, failure) for sig in k.signatures):
            return k
    return None
