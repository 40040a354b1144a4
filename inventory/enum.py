"""Enumerated values and defined terms of the Inventory IOD (PS3.3 C.38).

Each enum holds the standard's own strings as values, so ``InventoryLevel("SERIES")`` reads a
file's value and ``level.value`` writes it. Where the digest of the standard could not confirm a
term list, the enum says so and the validator reports unknown values as warnings (see
``docs/standard-notes.md``, open questions Q2, Q3, Q7, Q9).
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ContainerFileType",
    "ExtendedMatchingMechanism",
    "InstanceAvailability",
    "InventoryCompletionStatus",
    "InventoryLevel",
    "ReasonForAttributeModification",
    "RemovedFromOperationalUse",
]


class InventoryLevel(str, Enum):
    """Inventory Level (0008,0403), Enumerated Values (PS3.3 Table C.38.1-1)."""

    STUDY = "STUDY"
    """Study records only."""
    SERIES = "SERIES"
    """Study and Series records only."""
    INSTANCE = "INSTANCE"
    """Study, Series and Instance records."""

    @property
    def has_series(self) -> bool:
        """Whether study records carry Inventoried Series Sequence (0008,0424)."""
        return self is not InventoryLevel.STUDY

    @property
    def has_instances(self) -> bool:
        """Whether series records carry Inventoried Instances Sequence (0008,0425)."""
        return self is InventoryLevel.INSTANCE


class InventoryCompletionStatus(str, Enum):
    """Inventory Completion Status (0008,0426) (PS3.3 C.38.1.1.3).

    Each node states the completeness of its own subtree with respect to its own Scope of
    Inventory (PS3.17 YYYY.3.3.2.1). ``PARTIAL`` is confirmed; ``COMPLETE`` is the assumed
    counterpart (open question Q2).
    """

    COMPLETE = "COMPLETE"
    """The node's subtree fulfils its Scope of Inventory (term assumed, Q2)."""
    PARTIAL = "PARTIAL"
    """The node's subtree does not fulfil its Scope of Inventory (PS3.17 YYYY.3.3.2.1)."""


class ContainerFileType(str, Enum):
    """Container File Type (0008,040A), Defined Terms (PS3.3 C.38.1.2.8, PS3.4 C.6.4.6.2).

    Required whenever File Access URI (0008,0409) is present (PS3.3 Table C.38.2-2).
    """

    ZIP = "ZIP"
    """ZIP file per ISO 21320-1 (PS3.3 P.1.2.1); Filename in Container required."""
    TAR = "TAR"
    """POSIX ustar archive (PS3.3 P.1.2.2); Filename in Container required."""
    GZIP = "GZIP"
    """A single file compressed with gzip."""
    TARGZIP = "TARGZIP"
    """A gzip-compressed ustar archive; offsets count in the inflated TAR (C.38.2.2.1.2)."""
    BLOB = "BLOB"
    """Instance files at byte ranges of a larger object; offset and length required."""

    @property
    def requires_filename(self) -> bool:
        """Whether Filename in Container (0008,040B) is required (PS3.3 Table C.38.2-2)."""
        return self in (ContainerFileType.ZIP, ContainerFileType.TAR, ContainerFileType.TARGZIP)

    @property
    def requires_offset_length(self) -> bool:
        """Whether File Offset/Length in Container are required (PS3.3 Table C.38.2-2)."""
        return self is ContainerFileType.BLOB


class InstanceAvailability(str, Enum):
    """Instance Availability (0008,0056), Enumerated Values (PS3.3 C.4.23.1.1)."""

    ONLINE = "ONLINE"
    """Immediately retrievable."""
    NEARLINE = "NEARLINE"
    """Retrievable from slower media; may take time."""
    OFFLINE = "OFFLINE"
    """Needs manual intervention before retrieval."""
    UNAVAILABLE = "UNAVAILABLE"
    """Cannot be retrieved."""


class RemovedFromOperationalUse(str, Enum):
    """Removed from Operational Use (0008,0405) (PS3.4 C.6.4.5.4; ``N`` assumed, Q3)."""

    Y = "Y"
    """The entity was removed from operational use (soft-deleted, hidden, rejected)."""
    N = "N"
    """The entity is in operational use (term assumed, Q3)."""


class ReasonForAttributeModification(str, Enum):
    """Reason for the Attribute Modification (0400,0565), Defined Terms (PS3.3 C.12.1)."""

    COERCE = "COERCE"
    """Values replaced to conform to the local system (e.g. a received Patient ID)."""
    CORRECT = "CORRECT"
    """Values corrected (e.g. patient information reconciliation)."""


class ExtendedMatchingMechanism(str, Enum):
    """Extended Matching Mechanisms (0008,040F), Enumerated Values (PS3.3 Table C.38.2-1).

    Six values, one per Query/Retrieve extended negotiation of PS3.4 C.5.1.1.2, named in the
    Scope of Inventory when matching beyond the baseline of PS3.4 C.2.2.2 was applied ("Required
    if extended matching mechanisms were applied"). Their meanings were read in this order;
    only the codes ``RELATIONAL`` and ``TIMEZONE_ADJUST`` were read (in the conditions of
    Table C.38.2-1). The other four codes are assumed (open question Q14,
    ``docs/standard-notes.md``).
    """

    RELATIONAL = "RELATIONAL"
    """Relational-queries (PS3.4 C.4.1.3.2.2); requires Query/Retrieve Level in the item."""
    DATETIME = "DATETIME"
    """Date-time Matching: combined DA and TM matching (PS3.4 C.2.2.2.5.4); code assumed."""
    FUZZY = "FUZZY"
    """Fuzzy Semantic Matching of person names (PS3.4 C.2.2.2.1.1); code assumed."""
    TIMEZONE_ADJUST = "TIMEZONE_ADJUST"
    """Timezone Query Adjustment; requires Timezone Offset From UTC in the item."""
    EMPTY_VALUE = "EMPTY_VALUE"
    """Empty Value Matching (PS3.4 C.2.2.2.7), the Empty Value Matching Sequence; code assumed."""
    MULTI_VALUE = "MULTI_VALUE"
    """Multiple Value Matching (PS3.4 C.2.2.2.8); code assumed."""
