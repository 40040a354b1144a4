"""Inventory production: the repository's studies in scope, turned into Inventory SOP Instances.

* :mod:`~dicom_inventory.scp.production.scope` -- the Scope of Inventory keys as a matcher
  (PS3.4 KK.2.2.1.1, C.2.2.2): what is in scope;
* :mod:`~dicom_inventory.scp.production.produce` -- repository -> study records (current values,
  Original Attributes per change event, file links) -> the streaming encoder;
* :mod:`~dicom_inventory.scp.production.partitioned` -- key-range partitions, in process or on
  Dask, each resumable.
"""

from __future__ import annotations

from dicom_inventory.scp.production.produce import (
    file_access,
    original_attributes,
    produce,
    study_records,
)

__all__ = ["file_access", "original_attributes", "produce", "study_records"]
