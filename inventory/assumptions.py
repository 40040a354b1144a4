"""Where this implementation rests on text of the standard that could not be read.

One entry per open question of ``docs/standard-notes.md`` (which argues each one at length):
what was not readable, and what the code does instead. The conformance statement prints this
table, so a vendor testing against us sees every choice we made where the standard was silent
to us; a test keeps it and the notes page in step.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ASSUMPTIONS", "Assumption"]


@dataclass(frozen=True, slots=True)
class Assumption:
    """One reading of the standard that rests on unread text."""

    id: str
    """Open question number in docs/standard-notes.md."""
    topic: str
    behaviour: str
    """What the code does."""
    where: str
    """The one place in the code that holds it."""


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "Q2",
        "Inventory Completion Status (0008,0426) for a fulfilled scope (C.38.1.1.3 unread; "
        "PARTIAL is confirmed)",
        "COMPLETE; each node speaks for its own subtree, leaves of a split inventory are PARTIAL",
        "dicom_inventory.enum.InventoryCompletionStatus",
    ),
    Assumption(
        "Q3",
        "Removed from Operational Use (0008,0405) complement of Y, and the 2C condition of "
        "Reason for Removal Code Sequence",
        "N; the reason is present whenever the flag is Y (a warning otherwise)",
        "dicom_inventory.enum.RemovedFromOperationalUse, dicom_inventory.conditions",
    ),
    Assumption(
        "Q6",
        "What Total Number of Study Records (0008,0428) counts",
        "the study records of the node's subtree, duplicates counted",
        "dicom_inventory.encode.InventoryWriter",
    ),
    Assumption(
        "Q7",
        "A Container File Type (0008,040A) term for a file in no container (C.38.1.2.8 unread)",
        "such a file is described as a BLOB holding one object at File Offset 0 with File Length "
        "the file's size: only confirmed terms are written",
        "dicom_inventory.scp.production",
    ),
    Assumption(
        "Q10",
        "Statuses the standard does not name for Inventory Creation (unknown or reused "
        "Transaction UID, a key directly in the Scope item, actions on a finished transaction)",
        "0x0115 Invalid argument value; 0x0110 Processing failure for actions on a finished "
        "transaction; each with an Error Comment",
        "dicom_inventory.scp.services.creation",
    ),
    Assumption(
        "Q11",
        "Unit of Requested Status Interval (0008,0414) and the values of Retain Instances "
        "(0008,0415)",
        "seconds; YES and NO",
        "dicom_inventory.scp.services.creation",
    ),
    Assumption(
        "Q12",
        "The association that carries N-EVENT-REPORTs",
        "a new association to the requester's configured address, as for Storage Commitment",
        "dicom_inventory.scp.services.notify",
    ),
    Assumption(
        "Q13",
        "Whether 0xB001 ends a Repository Query response set",
        "final: nothing follows it on the wire",
        "dicom_inventory.scp.wire",
    ),
    Assumption(
        "Q14",
        "Codes of four of the six Extended Matching Mechanisms (0008,040F) values (RELATIONAL "
        "and TIMEZONE_ADJUST are read)",
        "DATETIME, FUZZY, EMPTY_VALUE, MULTI_VALUE; only EMPTY_VALUE is applied",
        "dicom_inventory.enum.ExtendedMatchingMechanism",
    ),
    Assumption(
        "Q15",
        "Item layout of Range Matching Sequence (0008,0410) and of the other matching sequences "
        "(C.38.2.1.1.3 to C.38.2.1.1.5 unread)",
        "two Items, the beginning then the end of each range, an open end empty; the other "
        "matching sequences hold one Item with every key of their type",
        "dicom_inventory.scope",
    ),
    Assumption(
        "Q16",
        "Media types of the inventories resource (PS3.18 Table 12.1.3-1 of the current edition "
        "unread)",
        "application/dicom+json the default; application/dicom (multipart/related or bare) and "
        'multipart/related; type="application/dicom+xml" required, as for other NPI categories',
        "dicom_inventory.scp.web.resources.RETRIEVE_REPRESENTATIONS",
    ),
    Assumption(
        "Q17",
        "Answer to an Accept that names no offered media type (PS3.18 8.3.3.1 asks for the "
        "default media type; RFC 7231 6.5.6 allows 406)",
        "406 naming what is offered; no Accept header at all: 406 (PS3.18 8.7.5, read); the "
        "test kit accepts either answer from a vendor",
        "dicom_inventory.scp.web.negotiate.choose",
    ),
    Assumption(
        "Q18",
        "Form of Prior Record Key (0008,041C) as a QIDO-RS query parameter (PS3.18 10.6.1.2.4 "
        "unread; 10.6.3.3 and 8.3.4.4.1 read)",
        "the base64 text of the Record Key's InlineBinary; limit is Maximum Number of Records",
        "dicom_inventory.scp.web.repository.decode_prior_record_key",
    ),
)
