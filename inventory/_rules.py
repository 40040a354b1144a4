"""The validator's rule table: every rule it can report, with severity and section.

One entry per rule id. A rule's severity is ``error`` where the standard's text was read
(``../shared/spec/``, docs/standard-notes.md) and ``warning`` where the rule rests on an
assumption (open questions Q2, Q3, Q6, Q7) or on what is merely suspicious.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["RULES", "Rule", "Severity"]


class Severity(str, Enum):
    """Severity of a finding."""

    ERROR = "error"
    """The instance does not conform to the standard as read."""
    WARNING = "warning"
    """Suspicious, or non-conformant only under an assumption about unread text."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One check of the validator."""

    id: str
    severity: Severity
    section: str
    summary: str


_E, _W = Severity.ERROR, Severity.WARNING

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        # -- the instance as a whole
        Rule("sop-class", _E, "PS3.3 A.88", "SOP Class UID is Inventory Storage"),
        Rule("file-meta", _E, "PS3.10 7.1", "File Meta Information agrees with the data set"),
        Rule("type1-missing", _E, "PS3.3 C.38.1", "a Type 1 attribute is present"),
        Rule("type1-empty", _E, "PS3.5 7.4.1", "a Type 1 attribute has a value"),
        Rule("type2-missing", _E, "PS3.3 C.38.1", "a Type 2 attribute is present (maybe empty)"),
        Rule("single-item", _E, "PS3.3 C.38.2", "a sequence allows at most (or exactly) one item"),
        # -- Scope of Inventory (PS3.3 C.38.2.1, PS3.4 Table KK.2-1)
        Rule(
            "scope-direct-key",
            _E,
            "PS3.3 C.38.2.1, PS3.4 Table KK.2-1",
            "no key attribute directly in the Scope item: keys sit in the matching sequences",
        ),
        Rule(
            "scope-range-items",
            _W,
            "PS3.3 C.38.2.1.1.3 (layout assumed)",
            "Range Matching Sequence: two Items, begin then end, each key in both",
        ),
        Rule(
            "scope-matching-vr",
            _E,
            "PS3.4 Table KK.2-1",
            "Range Matching holds DA/DT/TM keys only, List of UID Matching UI keys only",
        ),
        Rule(
            "scope-type1-key",
            _E,
            "PS3.4 Table KK.2-1",
            "keys of General and List of UID Matching have a value (Type 1)",
        ),
        Rule(
            "scope-uid-list",
            _E,
            "PS3.3 Table C.38.2-1, PS3.4 C.2.2.2.2",
            "a list of UIDs is in List of UID Matching Sequence, not a multi-valued UI elsewhere",
        ),
        Rule(
            "scope-empty-value",
            _W,
            "PS3.3 C.38.2.1.1.5 (not read)",
            "keys of Empty Value Matching Sequence are empty",
        ),
        Rule(
            "scope-extended-matching",
            _E,
            "PS3.3 Table C.38.2-1",
            "TIMEZONE_ADJUST needs Timezone Offset From UTC, RELATIONAL needs Query/Retrieve Level",
        ),
        Rule(
            "scope-extended-assumed",
            _W,
            "PS3.4 KK.2.2.2, PS3.3 Table C.38.2-1 (term EMPTY_VALUE assumed, Q14)",
            "empty value matching is named in Extended Matching Mechanisms",
        ),
        Rule(
            "scope-study-level",
            _E,
            "PS3.3 C.38.2.1.1.2",
            "without RELATIONAL, only Study-level keys are in the scope",
        ),
        # -- values
        Rule("vr", _E, "PS3.5 6.2, PS3.6", "the VR is the data dictionary's"),
        Rule("vr-un", _W, "PS3.5 6.2.2", "UN used for an attribute whose VR is known"),
        Rule("vm", _E, "PS3.5 6.4, PS3.6", "the number of values fits the dictionary's VM"),
        Rule("value-format", _E, "PS3.5 6.2, 9.1", "the value has the syntax of its VR"),
        Rule("value-length", _E, "PS3.5 Table 6.2-1", "the value is not longer than its VR allows"),
        Rule(
            "enum", _E, "PS3.3 C.38.1, C.4.23.1.1", "an Enumerated Value is one of the standard's"
        ),
        Rule(
            "enum-assumed",
            _W,
            "PS3.3 C.38.1 (Q2, Q3, Q7)",
            "a value outside a term list that is only partly confirmed",
        ),
        # -- records and nesting
        Rule(
            "level-nesting",
            _E,
            "PS3.3 C.38.1 (Inventory Level)",
            "records nest as the Inventory Level says (the 2C sequences present, maybe empty)",
        ),
        Rule(
            "duplicate-record",
            _E,
            "PS3.3 C.38.1",
            "a series or instance is listed once in its parent record",
        ),
        Rule(
            "duplicate-study",
            _W,
            "PS3.3 C.38.1.1.5, PS3.17 YYYY.3.3.2.2",
            "a study is listed once in one instance (repeats belong in other instances)",
        ),
        Rule(
            "removal-reason",
            _W,
            "PS3.3 C.38.1 (Q3)",
            "Reason for Removal Code Sequence accompanies Removed from Operational Use = Y",
        ),
        Rule(
            "item-datetime",
            _W,
            "PS3.3 C.38.1.1.1",
            "Item Inventory DateTime is not before the instance's Content Date/Time",
        ),
        # -- counts
        Rule(
            "count-study-records",
            _E,
            "PS3.3 C.38.1",
            "Number of Study Records in Instance equals the items of (0008,0423)",
        ),
        Rule(
            "count-total",
            _E,
            "PS3.3 C.38.1",
            "Total Number of Study Records is at least Number of Study Records in Instance",
        ),
        Rule(
            "count-total-leaf",
            _W,
            "PS3.3 C.38.1 (Q6)",
            "an instance that incorporates none has Total == Number in Instance",
        ),
        Rule(
            "count-related",
            _W,
            "PS3.3 C.38.1",
            "Number of Study Related Series/Instances agree with the records listed",
        ),
        # -- file access (Stored File Access Macro)
        Rule(
            "file-container-type",
            _E,
            "PS3.3 Table C.38.2-2",
            "Container File Type is present whenever File Access URI is",
        ),
        Rule(
            "file-transfer-syntax",
            _E,
            "PS3.3 Table C.38.2-2",
            "Stored Instance Transfer Syntax UID is present whenever File Access URI is",
        ),
        Rule(
            "file-filename",
            _E,
            "PS3.3 Table C.38.2-2",
            "Filename in Container is present for ZIP, TAR and TARGZIP",
        ),
        Rule(
            "file-offset-length",
            _E,
            "PS3.3 Table C.38.2-2",
            "File Offset and File Length in Container are present for BLOB",
        ),
        Rule(
            "file-uri",
            _E,
            "PS3.3 C.38.2.2.1.1",
            "a File/Folder Access URI is absolute or a relative reference starting with ./",
        ),
        Rule(
            "file-access-uri",
            _E,
            "PS3.3 Table C.38.2-2",
            "an item of File Access Sequence has a File Access URI",
        ),
        Rule(
            "file-relative-uri",
            _E,
            "PS3.3 C.38.2.2.1.1, PS3.17 YYYY.7.2",
            "a relative ./ URI has a Stored Instance Base URI (series, study or inventory) to "
            "resolve against",
        ),
        Rule(
            "code-value",
            _E,
            "PS3.3 Table 8.8-1a",
            "a code item has Code Value, Long Code Value or URN Code Value",
        ),
        Rule(
            "code-scheme",
            _E,
            "PS3.3 Table 8.8-1a",
            "a code item with Code Value or Long Code Value has Coding Scheme Designator",
        ),
        Rule(
            "file-mac-algorithm",
            _W,
            "PS3.3 Table C.38.2-2",
            "MAC Algorithm accompanies MAC (condition text unread)",
        ),
        # -- original attributes
        Rule(
            "original-attributes",
            _E,
            "PS3.3 Table C.12.1.1.9-1",
            "Original Attributes items are well formed",
        ),
        # -- references and the tree
        Rule(
            "reference",
            _E,
            "PS3.3 Table C.38.2-3",
            "an incorporated instance is referenced as Inventory Storage",
        ),
        Rule("chain-level", _E, "PS3.3 C.38.1.1.5", "every instance of a tree has the same level"),
        Rule(
            "chain-copy",
            _E,
            "PS3.3 C.38.2.3",
            "a reference repeats the referenced instance's own references",
        ),
        Rule(
            "chain-total",
            _W,
            "PS3.3 C.38.1 (Q6)",
            "Total Number of Study Records equals the study records of the subtree",
        ),
        Rule(
            "chain-missing",
            _W,
            "PS3.3 C.38.1.1.5",
            "a referenced instance is in the set of files validated",
        ),
        Rule(
            "chain-dangling",
            _E,
            "PS3.3 C.38.1.1.5",
            "a referenced instance exists: among the files validated, or where the reference "
            "points (File Access URI, <UID>.dcm beside the referencing file)",
        ),
        Rule("chain-cycle", _E, "PS3.3 C.38.1.1.5", "references form a tree, not a cycle"),
        Rule("chain-shared", _W, "PS3.3 C.38.1.1.5", "an instance is incorporated by one parent"),
    )
}
