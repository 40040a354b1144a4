"""What every handler of the node puts in a response, written once.

A failure or warning status carries an Error Comment (0000,0902) saying why; it is an LO
value, so at most 64 characters (PS3.7 C.4, PS3.5 Table 6.2-1).
"""

from __future__ import annotations

from typing import Any

from dicom_inventory.status import Status
from pydicom.dataset import Dataset

__all__ = ["requestor", "status_dataset"]


def status_dataset(code: Status, comment: str | None = None) -> Dataset:
    """Return a response status data set, with `comment` as Error Comment (cut to 64)."""
    ds = Dataset()
    ds.Status = int(code)
    if comment:
        ds.ErrorComment = comment[:64]
    return ds


def requestor(event: Any) -> str:
    """Return ``AE@address:port`` of the peer that sent `event` (for the node's log)."""
    req = event.assoc.requestor
    return f"{req.ae_title}@{req.address}:{req.port}"
