"""The oracle of the fuzz harness: what a target may do with a hostile input, and what not.

Allowed: finishing, or raising one of the documented errors (:class:`InventoryError` and its
subclasses: ``InventoryReadError``, ``ContainerError``, ``ArchiveError``); the validator's
findings are results, not errors. A failure is anything else: another exception (with
``RecursionError`` and ``MemoryError``), a hang (no answer within the time bound), peak RSS
growing past the memory bound, or a target-specific check (e.g. a valid file lost by ingest).
"""

from __future__ import annotations

import resource
import signal
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dicom_inventory.errors import InventoryError

__all__ = [
    "ALLOWED",
    "RSS_BOUND_MB",
    "TIME_BOUND",
    "Hang",
    "Lost",
    "Outcome",
    "deadline",
    "judge",
    "peak_rss_mb",
]

#: The errors a target may raise on bad input: documented, with a message saying what and where.
ALLOWED: tuple[type[BaseException], ...] = (InventoryError,)
#: Seconds one case may take before it counts as a hang (generous: 2 shared cores).
TIME_BOUND = 20.0
#: Growth of this process's peak RSS one case may cause, in MB.
RSS_BOUND_MB = 512


class Hang(BaseException):
    """Raised in the target when its case ran past the time bound (not an Exception, so a
    target's ``except Exception`` cannot swallow it)."""


class Lost(AssertionError):
    """A target-specific check failed: e.g. a valid file beside a bad one was not indexed."""


def peak_rss_mb() -> float:
    """Peak RSS of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread after `seconds` (SIGALRM, interrupts blocking
    system calls such as opening a FIFO)."""

    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Outcome:
    """What one case did: ``refused`` holds the documented error's one line, ``failure`` the
    class of failure and the last line of its traceback."""

    target: str
    refused: str | None = None
    failure: str | None = None
    kind: str | None = None
    """``exception`` (its class name follows in `failure`), ``hang``, ``rss`` or ``lost``."""
    rss_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


def _last_line(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip()[:400]


def judge(
    target: str,
    run: Callable[[], None],
    *,
    seconds: float = TIME_BOUND,
    rss_bound_mb: float = RSS_BOUND_MB,
) -> Outcome:
    """Run one case through the oracle."""
    before = peak_rss_mb()
    try:
        # a warning is not a failure here (pytest turns warnings into errors)
        with deadline(seconds), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run()
    except ALLOWED as exc:
        outcome = Outcome(target, refused=str(exc).splitlines()[0][:200] if str(exc) else "")
    except Hang as exc:
        return Outcome(target, failure=f"hang: {exc}", kind="hang")
    except Lost as exc:
        return Outcome(target, failure=f"lost: {exc}", kind="lost")
    except (Exception, RecursionError, MemoryError) as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Outcome(
            target,
            failure=f"{_last_line(exc)} (at {where.filename.rsplit('/', 2)[-2:]}:{where.lineno})",
            kind=type(exc).__name__,
        )
    else:
        outcome = Outcome(target)
    grown = peak_rss_mb() - before
    if grown > rss_bound_mb:
        return Outcome(
            target, failure=f"rss: peak grew by {grown:.0f} MB", kind="rss", rss_mb=grown
        )
    return outcome
