"""Explicit limits and policies for reading (no process-global settings)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReadPolicy"]


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """Limits that keep a hostile or broken file from using unbounded memory or time.

    Parameters
    ----------
    max_element_length : int
        Largest value length accepted for one non-sequence element, in bytes. A larger length
        claim is reported as an error instead of being read.
    max_item_bytes : int
        Largest single study item (with its series and instances) held in memory at once.
    chunk_size : int
        Bytes read from the file at a time.
    max_depth : int
        Deepest sequence nesting accepted.
    """

    max_element_length: int = 64 * 1024 * 1024
    max_item_bytes: int = 1024 * 1024 * 1024
    chunk_size: int = 4 * 1024 * 1024
    max_depth: int = 16
