"""Inventory production: what a Repository knows, turned into Inventory SOP Instances.

Data flow: repository -> :func:`study_records` (scope, records, file links, original values)
-> :func:`~dicom_inventory.encode.write_inventory` (streaming encoder, splitting).

Decisions, with the sections they follow:

* Records carry the archive's **current** values; every database-only change whose stored file
  still holds the old value becomes an item of Original Attributes Sequence at the record's
  level, with the stored value in Modified Attributes Sequence, when, by whom and why
  (PS3.3 C.12.1.1.9, PS3.17 YYYY.7.9). A record with no such change has none, so a consumer can
  tell from the inventory alone which files are stale, and in what.
* File Access URI is an absolute ``file:`` URI (percent-encoded, RFC 8089). Container File Type
  is required whenever a File Access URI is given (PS3.3 Table C.38.2-2) and no term for an
  uncontained file could be confirmed (open question Q7): a plain file is therefore described
  with confirmed terms only, as a **BLOB** holding one object at offset 0 with the file's length
  — reading that byte range reads exactly the file.
* Every inventory names the storage its links are in: the repository's own folder of stored
  files as the inventory-level Stored Instance Base URI (in Study Access End Points Sequence
  (0008,0421)), and a series-level one for a series whose files lie elsewhere (PS3.17
  YYYY.7.2; :mod:`~dicom_inventory.scp.production.base_uri`). A consumer such as ``fetch``
  then follows the links of our own inventories without being told where the archive is.
* A stored file that has vanished keeps its record (the instance is still in the archive) with
  Instance Availability UNAVAILABLE and no File Access item for that location.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dicom_inventory.encode import WrittenInstance, write_inventory
from dicom_inventory.enum import (
    ContainerFileType,
    InstanceAvailability,
    InventoryCompletionStatus,
    InventoryLevel,
)
from dicom_inventory.fields import field_values
from dicom_inventory.model import (
    AttributeValue,
    Equipment,
    FileAccess,
    InstanceRecord,
    InventoryHeader,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.production.base_uri import (
    inventory_end_points,
    series_base_uri,
    store_folder,
)
from dicom_inventory.scp.production.scope import Scope, parse_scope
from dicom_inventory.scp.stores.repository import (
    InstanceEntry,
    MetadataChange,
    Repository,
    SeriesEntry,
    StoredFile,
    StudyEntry,
    StudyFilteringRepository,
)
from dicom_inventory.uid import generate_uid
from pydicom.uid import ExplicitVRLittleEndian

__all__ = ["file_access", "original_attributes", "produce", "study_records"]

_R = TypeVar("_R")


def original_attributes(changes: Sequence[MetadataChange]) -> tuple[OriginalAttributes, ...]:
    """One Original Attributes item per change event (when, who, why), prior values inside."""
    events: dict[tuple[str, str, str], dict[str, AttributeValue]] = {}
    for c in changes:
        events.setdefault((c.changed_at, c.changed_by, c.reason), {})[c.keyword] = c.stored_value
    return tuple(
        OriginalAttributes(
            modified=prior,
            modification_datetime=at,
            modifying_system=by,
            reason=reason,
            source_of_previous_values=None,
        )
        for (at, by, reason), prior in sorted(events.items())
    )


def file_access(loc: StoredFile) -> FileAccess | None:
    """Stored File Access Macro for one location, or ``None`` if the file is gone."""
    if not os.path.exists(loc.path):
        return None
    uri = Path(loc.path).as_uri()
    if loc.container is None:  # a plain file: bytes [0, size) of itself, as a BLOB (Q7)
        size = loc.length if loc.length is not None else os.path.getsize(loc.path)
        return FileAccess(
            uri=uri,
            container_type=ContainerFileType.BLOB,
            offset=0,
            length=size,
            transfer_syntax_uid=loc.transfer_syntax_uid,
        )
    return FileAccess(
        uri=uri,
        container_type=loc.container,
        filename_in_container=loc.member,
        offset=loc.offset,
        length=loc.length,
        transfer_syntax_uid=loc.transfer_syntax_uid,
    )


def _record(cls: type[_R], stored: Mapping[str, Any], **derived: Any) -> _R:
    """A record of `cls`: the repository's stored attributes, then what the archive derives itself.

    The stored attributes are already in the model's fields
    (:func:`~dicom_inventory.fields.field_values`).
    """
    return cls(**{**stored, **derived})


def _removal(entry: InstanceEntry | SeriesEntry | StudyEntry) -> dict[str, Any]:
    """Removed from Operational Use and its reason (PS3.3 C.38.1.2.1)."""
    return {
        "removed_from_operational_use": "Y" if entry.removed else None,
        "reason_for_removal": (entry.removal_reason,)
        if entry.removed and entry.removal_reason
        else None,
        "original_attributes": original_attributes(entry.changes),
    }


def _instance(entry: InstanceEntry) -> InstanceRecord:
    links = tuple(fa for fa in (file_access(loc) for loc in entry.files) if fa is not None)
    availability = (
        entry.availability if links or not entry.files else InstanceAvailability.UNAVAILABLE
    )
    return _record(
        InstanceRecord,
        field_values(InstanceRecord, entry.attributes),
        sop_class_uid=entry.sop_class_uid,
        sop_instance_uid=entry.sop_instance_uid,
        instance_availability=availability,
        file_access=links,
        **_removal(entry),
    )


def _series(
    repo: Repository, entry: SeriesEntry, level: InventoryLevel, store: Path | None
) -> SeriesRecord:
    stored = field_values(SeriesRecord, entry.attributes)
    derived: dict[str, Any] = {}
    instances: list[InstanceRecord] = []
    if level.has_instances:
        # read before the series is written: its Stored Instance Base URI (0008,0407) comes
        # first, and depends on where all of its files lie
        instances = [_instance(i) for i in repo.iter_instances(entry.series_instance_uid)]
        base = series_base_uri(instances, store)
        if base is not None:
            derived["stored_instance_base_uri"] = base
    return _record(
        SeriesRecord,
        stored,
        series_instance_uid=entry.series_instance_uid,
        # Type 1: a series stored without one is inventoried as OT (other)
        modality=stored.get("modality") or "OT",
        instances=instances,
        **derived,
        **_removal(entry),
    )


def _study(
    repo: Repository,
    entry: StudyEntry,
    level: InventoryLevel,
    as_of: str,
    retrieve_ae_title: str | None,
    store: Path | None,
) -> StudyRecord:
    return _record(
        StudyRecord,
        field_values(StudyRecord, entry.attributes),
        study_instance_uid=entry.study_instance_uid,
        item_inventory_datetime=as_of,
        number_of_study_related_series=entry.number_of_series,
        number_of_study_related_instances=entry.number_of_instances,
        study_update_datetime=entry.update_datetime,
        retrieve_ae_title=entry.retrieve_ae_titles
        or ((retrieve_ae_title,) if retrieve_ae_title else None),
        retrieve_url=entry.retrieve_url,
        series=(
            (_series(repo, s, level, store) for s in repo.iter_series(entry.study_instance_uid))
            if level.has_series
            else ()
        ),
        **_removal(entry),
    )


def study_records(
    repo: Repository,
    scope: Scope,
    level: InventoryLevel,
    *,
    as_of: str,
    after: str | None = None,
    upto: str | None = None,
    retrieve_ae_title: str | None = None,
    store: Path | None = None,
) -> Iterator[StudyRecord]:
    """Stream the study records of the studies in `scope`, in the repository's key order.

    Series are a generator, read from the repository only while the encoder writes the study;
    the instance records of one series are read as it is written (the encoder holds a study's
    items anyway): memory stays flat whatever the archive size, bounded by the largest study.
    `store` is the folder the inventory-level Stored Instance Base URI names (see
    :func:`~dicom_inventory.scp.production.base_uri.store_folder`): a series whose linked
    files are not all under it gets a base URI of its own
    (:func:`~dicom_inventory.scp.production.base_uri.series_base_uri`). A study without series (or
    a series without instances) in scope is inventoried with an empty Inventoried Series (or
    Instances) Sequence, Type 2C (PS3.3 Table C.38.1-1): dropping it would make a COMPLETE
    inventory miss a study of its scope.
    """
    level = InventoryLevel(level)
    if scope.narrowing and isinstance(repo, StudyFilteringRepository):
        # the index skips what cannot match; each study given is still matched in full
        entries = repo.iter_filtered_studies(scope.narrowing, after=after, upto=upto)
    else:
        entries = repo.iter_studies(after=after, upto=upto)
    for entry in entries:
        if not scope.matches(entry.attributes, entry.study_instance_uid):
            continue
        yield _study(repo, entry, level, as_of, retrieve_ae_title, store)


def produce(
    repo: Repository,
    out_dir: str | os.PathLike[str],
    *,
    level: InventoryLevel | str,
    scope: Mapping[str, str] | None = None,
    max_records: int | None = None,
    transaction_uid: str | None = None,
    purpose: str | None = None,
    retrieve_ae_title: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    sop_instance_uid: str | None = None,
) -> list[WrittenInstance]:
    """Produce the Inventory SOP Instances for `scope` at `level` into `out_dir`.

    Raises
    ------
    ScopeError
        For an unsupported scope key or an invalid value (nothing is written).
    """
    level = InventoryLevel(level)
    parsed = parse_scope(scope)
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    store = store_folder(repo) if level.has_instances else None
    header = InventoryHeader(
        sop_instance_uid=sop_instance_uid or generate_uid(),
        inventory_level=level,
        content_date=date,
        content_time=time,
        # the offset of every date and time in the instance (PS3.3 C.12.1.1.8): the node's own
        timezone_offset_from_utc=now.astimezone().strftime("%z"),
        completion_status=InventoryCompletionStatus.COMPLETE,
        inventory_purpose=purpose,
        transaction_uid=transaction_uid,
        scope=ScopeOfInventory.from_keys(parsed.keys) if parsed.keys else None,
        equipment=Equipment(manufacturer="dicom-inventory", software_versions=("0.1.0",)),
        study_access_end_points=inventory_end_points(store),
    )
    records = study_records(
        repo, parsed, level, as_of=date + time, retrieve_ae_title=retrieve_ae_title, store=store
    )
    return write_inventory(
        out_dir, header, records, max_records=max_records, transfer_syntax=transfer_syntax
    )
