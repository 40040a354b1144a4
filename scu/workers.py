"""Worker processes for reading split inventories in parallel (export, summary).

A split inventory is many files; commands that read every record (``export``, ``summary``)
hand contiguous runs of the tree's files to worker processes and join the results in tree
order. The pool and the runs are made here once, so every such command behaves alike on
Ctrl-C: only the parent handles it, and leaving the pool's block terminates the workers, which
never print a traceback.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import signal
import threading
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["default_workers", "runs", "worker_pool"]

T = TypeVar("T")

#: Most worker processes chosen by default: past this, reading waits on the disk, not the CPU.
MAX_DEFAULT_WORKERS = 8


def default_workers(workers: int | None) -> int:
    """`workers`, or the CPU count (at most :data:`MAX_DEFAULT_WORKERS`) when ``None``."""
    if workers is None:
        return min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1)
    return max(1, workers)


def runs(items: Sequence[T], workers: int) -> list[list[T]]:
    """`items` cut into contiguous runs, about four per worker (so a slow run is not the tail).

    Contiguous, so results joined in run order keep the tree's order.
    """
    k = max(1, -(-len(items) // (workers * 4)))
    return [list(items[i : i + k]) for i in range(0, len(items), k)]


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it terminates the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_pool(processes: int) -> multiprocessing.pool.Pool:
    """Worker processes that never see Ctrl-C: only this process handles it.

    They are started with SIGINT ignored, a disposition a new process keeps (so Python
    installs no KeyboardInterrupt handler in them, not even while they import), and set it
    again first thing (:func:`_ignore_sigint`). A Ctrl-C in the meantime reaches this process
    once the pool exists; leaving the pool's block then terminates the workers.
    """
    ctx = multiprocessing.get_context("spawn")
    if threading.current_thread() is not threading.main_thread():  # no signals to set there
        return ctx.Pool(processes, initializer=_ignore_sigint)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return ctx.Pool(processes, initializer=_ignore_sigint)
    finally:
        signal.signal(signal.SIGINT, previous)
