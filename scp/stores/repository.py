"""The Repository protocol: what an archive tells inventory production.

A PACS or VNA vendor implements this small interface over its own database; the embedded
archive (:mod:`dicom_inventory.scp.archive`) is the reference implementation. Nothing else in
the project reaches into an archive's tables: production, the SCP and the tests all go through
this protocol, so a vendor's adapter is a drop-in.

The contract:

* studies come in a **stable key order** (ascending Study Instance UID as a string), and
  :meth:`Repository.iter_studies` can start **after** a key, so production can resume;
* attribute values are the archive's **current** values, authoritative over the stored files
  (PS3.17 YYYY.7.9);
* each instance lists where its stored object lives (:class:`StoredFile`), and each entity lists
  the changes the archive made to its metadata without rewriting the stored file
  (:class:`MetadataChange`, the stored file's value first), so that production can fill the
  Original Attributes Sequence (PS3.3 C.12.1.1.9) and a consumer can tell which files are stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from dicom_inventory.containers import read_object
from dicom_inventory.enum import ContainerFileType, InstanceAvailability
from dicom_inventory.model import Code

__all__ = [
    "INSTANCE_KEYWORDS",
    "INTEGER_VRS",
    "SERIES_KEYWORDS",
    "STUDY_KEYWORDS",
    "InstanceEntry",
    "MetadataChange",
    "Repository",
    "SeriesEntry",
    "StoredFile",
    "StudyEntry",
    "StudyFilter",
    "StudyFilteringRepository",
    "entry_value",
    "opened",
]


#: The attributes an entry's ``attributes`` mapping holds, by level (Study Root: patient
#: attributes with the study): what production, Study Root and Repository Query read. A
#: repository gives those it has; others may be absent.
STUDY_KEYWORDS = (
    "PatientID",
    "PatientName",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    "ReferringPhysicianName",
)
SERIES_KEYWORDS = (
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "Laterality",
)
INSTANCE_KEYWORDS = (
    "InstanceNumber",
    "ContentDate",
    "ContentTime",
    "NumberOfFrames",
    "Rows",
    "Columns",
)


#: VRs whose single values an entry holds as ``int`` (IS and the binary integers).
INTEGER_VRS = frozenset({"IS", "US", "UL", "SS", "SL"})


def entry_value(vr: str, values: Sequence[Any]) -> Any:
    """Return an attribute's value as an entry's ``attributes`` hold it.

    Several values: a list of strings (empty ones kept in place). One value: an ``int`` for
    :data:`INTEGER_VRS` (the text itself if it is not a number), else a string. No value, or
    only empty ones: ``None``.
    """
    if all(v in (None, "") for v in values):
        return None
    if len(values) > 1:
        return [str(v) for v in values]
    if vr in INTEGER_VRS:
        try:
            return int(values[0])
        except (TypeError, ValueError):
            pass
    return str(values[0])


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where a stored SOP Instance (a PS3.10 file) lives."""

    path: str
    """Absolute path of the file, or of the container holding it."""
    transfer_syntax_uid: str
    """Transfer Syntax UID (0002,0010) of the stored file."""
    container: ContainerFileType | None = None
    """Container type; ``None`` for a plain file."""
    member: str | None = None
    """Member name inside a ZIP, TAR or TARGZIP container."""
    offset: int | None = None
    """Byte offset of the file in the container (in the inflated TAR for TARGZIP)."""
    length: int | None = None
    """Length of the file in the container, in bytes."""

    def read(self) -> bytes:
        """Return the Part 10 bytes of the object, through the one container reader.

        Raises
        ------
        OSError
            If the file or container is missing or unreadable, or the member is absent or
            refused (:class:`~dicom_inventory.containers.ContainerError`, an ``OSError``).
        """
        return read_object(self.path, self.container, self.member, self.offset, self.length)


@dataclass(frozen=True, slots=True)
class MetadataChange:
    """One attribute the archive changed in its database only (the file still has the old value)."""

    keyword: str
    """The attribute, by DICOM keyword."""
    stored_value: Any
    """The value in the stored file (before the first change)."""
    current_value: Any
    """The archive's current value."""
    changed_at: str
    """When the change was made (DT)."""
    changed_by: str
    """Who or what made it (Modifying System)."""
    reason: str
    """Reason for the Attribute Modification: COERCE or CORRECT."""


@dataclass(slots=True)
class StudyEntry:
    """A study as the archive knows it now."""

    study_instance_uid: str
    attributes: Mapping[str, Any]
    """Current study and patient attributes, ``{keyword: value}``."""
    update_datetime: str
    """Last change of the study in the archive (Study Update DateTime, DT)."""
    number_of_series: int
    number_of_instances: int
    removed: bool = False
    changes: tuple[MetadataChange, ...] = ()
    removal_reason: Code | None = None
    """Why it was removed from operational use (e.g. an IOCM rejection reason, CID 7011)."""
    retrieve_ae_titles: tuple[str, ...] = ()
    """Where the archive itself serves the study by DIMSE, when that is not the node (an
    archive behind it, such as an Orthanc); empty: the node's own AE title."""
    retrieve_url: str | None = None
    """Where the study can be retrieved by DICOMweb (WADO-RS), if the archive says."""


@dataclass(slots=True)
class SeriesEntry:
    """A series as the archive knows it now."""

    series_instance_uid: str
    attributes: Mapping[str, Any]
    removed: bool = False
    changes: tuple[MetadataChange, ...] = ()
    removal_reason: Code | None = None


@dataclass(slots=True)
class InstanceEntry:
    """A stored SOP Instance as the archive knows it now."""

    sop_instance_uid: str
    sop_class_uid: str
    attributes: Mapping[str, Any]
    files: tuple[StoredFile, ...] = ()
    availability: InstanceAvailability = InstanceAvailability.ONLINE
    removed: bool = False
    changes: tuple[MetadataChange, ...] = field(default_factory=tuple)
    removal_reason: Code | None = None


@runtime_checkable
class Repository(Protocol):
    """What inventory production needs from an archive."""

    def iter_studies(
        self, *, after: str | None = None, upto: str | None = None
    ) -> Iterator[StudyEntry]:
        """Yield the studies with `after` < key <= `upto`, in ascending Study Instance UID."""
        ...

    def study_key_bounds(self, parts: int) -> list[str]:
        """Up to ``parts - 1`` keys that cut the studies into `parts` ranges of similar size."""
        ...

    def iter_series(self, study_instance_uid: str) -> Iterator[SeriesEntry]:
        """Yield the series of a study, in ascending Series Instance UID."""
        ...

    def iter_instances(self, series_instance_uid: str) -> Iterator[InstanceEntry]:
        """Yield the instances of a series, in ascending SOP Instance UID."""
        ...


@dataclass(frozen=True, slots=True)
class StudyFilter:
    """Conditions every study of a scope meets, for a repository to skip the others early.

    Built by production from the Scope of Inventory keys that an index can answer exactly
    (PS3.4 C.2.2.2: single value matching of PatientID and AccessionNumber, list of UID
    matching of StudyInstanceUID, range matching of StudyDate). It narrows, it does not
    decide: the producer still matches every study it is given against the whole scope, so a
    repository may apply some, all or none of these conditions, but must never leave out a
    study that meets all of them.
    """

    study_uids: frozenset[str] | None = None
    """The study's Study Instance UID is one of these (``None``: any)."""
    equal: Mapping[str, str] = field(default_factory=dict)
    """``{keyword: value}``: the study's current value is exactly this (case-sensitive)."""
    ranges: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """``{keyword: (lo, hi)}``, either may be ``""`` (open): the current value is not empty,
    its first ``len(lo)`` characters are >= `lo` and its first ``len(hi)`` <= `hi`, compared
    as code points (PS3.4 C.2.2.2.5 for DA values)."""

    def __bool__(self) -> bool:
        return self.study_uids is not None or bool(self.equal) or bool(self.ranges)


@runtime_checkable
class StudyFilteringRepository(Repository, Protocol):
    """A repository that can skip studies outside a scope in its own query (optional).

    Production calls :meth:`iter_filtered_studies` instead of
    :meth:`Repository.iter_studies` when the repository has it and the scope gives a
    :class:`StudyFilter`: in a billion-instance archive, a scope of one patient or one month
    is then an index lookup instead of a walk over every study.
    """

    def iter_filtered_studies(
        self, study_filter: StudyFilter, *, after: str | None = None, upto: str | None = None
    ) -> Iterator[StudyEntry]:
        """Yield the studies that may meet `study_filter`, as :meth:`~Repository.iter_studies`."""
        ...


@contextmanager
def opened(factory: Callable[[], Repository]) -> Iterator[Repository]:
    """Open a repository from its factory for a ``with`` block, and close it after.

    A repository need not have ``close()``; one that has it (a database connection) is
    closed however the block ends.
    """
    repo = factory()
    try:
        yield repo
    finally:
        close = getattr(repo, "close", None)
        if close is not None:
            close()
