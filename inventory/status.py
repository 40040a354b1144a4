"""DIMSE status codes used by the Inventory services, named (PS3.4, PS3.7 Annex C).

No magic numbers in handlers: every status a node sends or checks comes from here, with the
section that defines it.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Status", "is_failure", "is_pending"]


class Status(IntEnum):
    """DIMSE status values, each with its meaning and the section that defines it.

    ``Status(0xB010).meaning`` is the meaning; a member compares equal to its code.
    """

    meaning: str

    def __new__(cls, code: int, meaning: str) -> Status:
        """A member with its code and its meaning."""
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    SUCCESS = 0x0000, "Success (PS3.7 C)."
    PENDING = 0xFF00, "Pending: more responses follow (C-FIND, C-GET, C-MOVE)."
    PENDING_WARNING = 0xFF01, "Pending, optional keys not supported (C-FIND)."
    CANCEL = 0xFE00, "Sub-operations terminated due to Cancel."
    OUT_OF_RESOURCES = 0xA700, "Refused: out of resources (PS3.4 B.2.3, C.4)."
    OUT_OF_RESOURCES_MATCHES = (
        0xA701,
        "Refused: out of resources, unable to calculate number of matches (PS3.4 C.4.2.1.5, "
        "C.4.3.1.4): e.g. a deflated identifier that inflates past the node's cap.",
    )
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = (
        0xA900,
        "Error: Data Set does not match SOP Class (PS3.4 B.2.3): e.g. a non-conformant inventory.",
    )
    CANNOT_UNDERSTAND = 0xC000, "Error: cannot understand (PS3.4 B.2.3)."
    COERCION_OF_DATA_ELEMENTS = 0xB000, "Warning: coercion of data elements (PS3.4 B.2.3)."
    ATTRIBUTE_LIST_WARNING = (
        0xB010,
        "Warning: key attributes in Scope of Inventory not supported for matching (PS3.4 KK.2.2.3).",
    )
    PARTIAL_RESULTS = (
        0xB001,
        "Warning: partial results, a final response of Repository Query (PS3.4 C.6.4).",
    )
    MISTYPED_ARGUMENT = (
        0x0212,
        "Failure: mistyped argument (PS3.7 C; PS3.4 KK.2.2.3 for unsupported level or charset).",
    )
    PROCESSING_FAILURE = (
        0x0110,
        "Failure: processing failure (PS3.7 C; PS3.4 KK.2.2.3): e.g. an action on a finished job.",
    )
    NO_SUCH_SOP_INSTANCE = (
        0x0112,
        "Failure: no such SOP Instance (PS3.7 C): N-ACTION not sent to the well-known instance.",
    )
    INVALID_ARGUMENT_VALUE = (
        0x0115,
        "Failure: invalid argument value (PS3.7 C): e.g. an unknown or reused Transaction UID.",
    )
    NO_SUCH_ACTION = 0x0123, "Failure: no such action type (PS3.7 C)."
    NOT_AUTHORIZED = 0x0124, "Failure: refused, not authorized (PS3.4 KK.2.2.3)."
    RESOURCE_LIMITATION = (
        0x0213,
        "Failure: resource limitation (PS3.4 KK.2.2.3): too many inventory jobs.",
    )
    INVALID_PRIOR_RECORD_KEY = (
        0xA710,
        "Failure: Prior Record Key does not identify a continuation point (PS3.4 C.6.4.5.3).",
    )
    MOVE_DESTINATION_UNKNOWN = 0xA801, "Failure: move destination unknown (PS3.4 C.4.2.1.5)."
    SOP_CLASS_NOT_SUPPORTED = (
        0x0122,
        "Failure: refused, SOP Class not supported (PS3.7 C.5.x): a service the node does not offer.",
    )
    UNABLE_TO_PROCESS = (
        0xC001,
        "Failure: unable to process (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4: Cxxx assigned by "
        "the implementation): an identifier that cannot be decoded.",
    )
    DUPLICATE_INVOCATION = 0x0210, "Failure: duplicate invocation (PS3.7 C)."
    UNRECOGNIZED_OPERATION = 0x0211, "Failure: unrecognized operation (PS3.7 C)."


def is_failure(code: int) -> bool:
    """Whether a DIMSE status is a failure (PS3.7 C: 0x01xx, 0x02xx, 0xAxxx, 0xCxxx)."""
    return 0x0100 <= code < 0x0300 or 0xA000 <= code < 0xB000 or 0xC000 <= code < 0xD000


def is_pending(code: int) -> bool:
    """Whether a C-FIND/C-GET/C-MOVE response is pending: more follow (0xFF00, 0xFF01)."""
    return code in (Status.PENDING, Status.PENDING_WARNING)
