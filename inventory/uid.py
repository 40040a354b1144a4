"""UIDs used by the Inventory services, and the UID generator.

SOP Class UIDs are those of PS3.4 Annex GG (Inventory Storage), JJ (Inventory Q/R),
KK (Inventory Creation) and C.6.4 (Repository Query); the names follow pynetdicom's
``sop_class`` module so both read the same.
"""

from __future__ import annotations

import uuid

from pydicom.uid import UID

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "INVENTORY_CREATION",
    "INVENTORY_FIND",
    "INVENTORY_GET",
    "INVENTORY_MOVE",
    "INVENTORY_STORAGE",
    "REPOSITORY_QUERY",
    "STORAGE_MANAGEMENT_SOP_INSTANCE",
    "STUDY_ROOT_FIND",
    "STUDY_ROOT_GET",
    "STUDY_ROOT_MOVE",
    "VERIFICATION",
    "generate_uid",
    "is_valid_uid",
]

#: Inventory Storage SOP Class (PS3.4 GG, PS3.3 A.88).
INVENTORY_STORAGE = UID("1.2.840.10008.5.1.4.1.1.201.1")
#: Inventory Root Query/Retrieve Information Model - FIND (PS3.4 JJ).
INVENTORY_FIND = UID("1.2.840.10008.5.1.4.1.1.201.2")
#: Inventory Root Query/Retrieve Information Model - MOVE (PS3.4 JJ).
INVENTORY_MOVE = UID("1.2.840.10008.5.1.4.1.1.201.3")
#: Inventory Root Query/Retrieve Information Model - GET (PS3.4 JJ).
INVENTORY_GET = UID("1.2.840.10008.5.1.4.1.1.201.4")
#: Inventory Creation SOP Class (PS3.4 KK).
INVENTORY_CREATION = UID("1.2.840.10008.5.1.4.1.1.201.5")
#: Repository Query SOP Class (PS3.4 C.6.4).
REPOSITORY_QUERY = UID("1.2.840.10008.5.1.4.1.1.201.6")
#: Verification SOP Class (PS3.4 A.4), C-ECHO.
VERIFICATION = UID("1.2.840.10008.1.1")
#: Study Root Query/Retrieve Information Model - FIND (PS3.4 C.6.2), the archive side.
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")
#: Study Root Query/Retrieve Information Model - MOVE.
STUDY_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.2.2")
#: Study Root Query/Retrieve Information Model - GET.
STUDY_ROOT_GET = UID("1.2.840.10008.5.1.4.1.2.2.3")
#: Well-known SOP Instance of the Storage Management SOP Class (PS3.4 KK.2).
STORAGE_MANAGEMENT_SOP_INSTANCE = UID("1.2.840.10008.5.1.4.1.1.201.1.1")

#: Implementation Class UID written in File Meta Information (0002,0012), a UUID-derived UID
#: (PS3.5 B.2) fixed for this implementation.
IMPLEMENTATION_CLASS_UID = UID("2.25.283521915227316937436307624683366573071")
#: Implementation Version Name (0002,0013); at most 16 characters.
IMPLEMENTATION_VERSION_NAME = "DICOM_INV_010"

_UID_CHARS = frozenset("0123456789.")


def generate_uid() -> UID:
    """Return a new globally unique UID of the form ``2.25.<uuid4 as integer>`` (PS3.5 B.2).

    Returns
    -------
    pydicom.uid.UID
        A UID of at most 64 characters.
    """
    return UID(f"2.25.{uuid.uuid4().int}")


def is_valid_uid(value: str) -> bool:
    """Return whether `value` has valid UID syntax (PS3.5 9.1).

    At most 64 characters, digits and dots only, no empty component and no component with a
    leading zero (except the component ``0`` itself).
    """
    if not value or len(value) > 64 or not _UID_CHARS.issuperset(value):
        return False
    return all(part and (part == "0" or part[0] != "0") for part in value.split("."))
