"""The values a database-only update may give an attribute: checked against its VR first.

``archive update --set KEYWORD=VALUE`` writes the value into the index, and every inventory
produced afterwards carries it: a value its VR does not allow would make an invalid inventory
(an Inventory SOP Instance whose record says ``StudyDate 20211301``). So the value is judged
here, before anything is written, by the checks the validator uses on files
(:func:`dicom_inventory._vr.value_problem`, :data:`dicom_inventory._vr.MAX_CHARS`), plus what
PS3.5 Table 6.2-1 says of the VRs those do not cover (the characters of LO, SH and PN; the
component groups of PN; the range of the binary integers), and the Value Multiplicity of the
data dictionary (PS3.6).
"""

from __future__ import annotations

import re
from typing import Any

from dicom_inventory._vr import (
    MAX_CHARS,
    NUMERIC_FORMATS,
    SINGLE_VALUE_VRS,
    binary_number_problem,
    value_problem,
)
from dicom_inventory.scp.stores.repository import entry_value
from pydicom.datadict import dictionary_VM, dictionary_VR

__all__ = ["stored_value", "update_problem"]

#: VRs whose characters exclude the control characters, ESC aside (PS3.5 Table 6.2-1).
_NO_CONTROL_VRS = frozenset({"LO", "SH", "PN", "UC"})
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f]")
#: A PN value: at most 3 component groups (``=``) of at most 5 components (``^``), each group
#: at most 64 characters (PS3.5 6.2.1, Table 6.2-1).
_PN_GROUPS, _PN_COMPONENTS, _PN_GROUP_CHARS = 3, 5, 64


def _vr(keyword: str) -> str:
    """The VR of `keyword` (the first of an ambiguous one, e.g. ``US or SS``)."""
    return dictionary_VR(keyword).split(" or ")[0]


def _values(keyword: str, text: str) -> list[str]:
    """The values of `text`: split on backslashes unless the VR holds a single value."""
    return [text] if _vr(keyword) in SINGLE_VALUE_VRS else text.split("\\")


def _max_values(keyword: str) -> int | None:
    """The most values `keyword` holds by its VM (PS3.6: ``1``, ``1-3``, ``2-2n``), or ``None``."""
    vm = dictionary_VM(keyword)
    return None if vm.endswith("n") else int(vm.split("-")[-1])


def _one_problem(vr: str, value: str) -> str | None:
    """Why one value (no backslash) is not valid for `vr`, or ``None``."""
    if vr in NUMERIC_FORMATS:
        return binary_number_problem(vr, value)
    limit = MAX_CHARS.get(vr)
    if limit is not None and len(value) > limit:
        return f"is longer than {limit} characters (VR {vr}, PS3.5 Table 6.2-1)"
    if vr in _NO_CONTROL_VRS and _CONTROL.search(value):
        return f"holds a control character (VR {vr}, PS3.5 Table 6.2-1)"
    if vr == "PN":
        groups = value.split("=")
        if len(groups) > _PN_GROUPS:
            return f"has more than {_PN_GROUPS} component groups (VR PN, PS3.5 6.2.1)"
        for group in groups:
            if len(group) > _PN_GROUP_CHARS:
                return (
                    f"has a component group longer than {_PN_GROUP_CHARS} characters "
                    "(VR PN, PS3.5 Table 6.2-1)"
                )
            if group.count("^") >= _PN_COMPONENTS:
                return f"has more than {_PN_COMPONENTS} components in a group (VR PN, PS3.5 6.2.1)"
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        if vr in ("LO", "SH", "PN", "LT", "ST", "UT", "UC"):
            return None  # the Specific Character Set's repertoire; the encoder checks it
        return f"holds characters outside ASCII (VR {vr}, PS3.5 Table 6.2-1)"
    return value_problem(vr, raw)


def update_problem(keyword: str, text: str) -> str | None:
    """Why `text` cannot be the new value of `keyword`, or ``None`` if it can.

    Parameters
    ----------
    keyword : str
        A keyword of the data dictionary (the caller has checked it is one).
    text : str
        The value as given on a command line: values separated by a backslash where the VR allows
        several (PS3.5 6.4); empty to remove the value.

    Returns
    -------
    str or None
        A phrase naming the value and what is wrong with it, e.g. ``value '20211301' is not
        a valid date: month 13 is not in 01-12 (PS3.5 Table 6.2-1)``.
    """
    if text == "":
        return None
    vr = _vr(keyword)
    values = _values(keyword, text)
    most = _max_values(keyword)
    if most is not None and len(values) > most:
        return (
            f"{len(values)} values given (a backslash separates values, PS3.5 6.4); "
            f"{keyword} holds at most {most} (VM {dictionary_VM(keyword)}, PS3.6)"
        )
    for value in values:
        problem = _one_problem(vr, value)
        if problem is not None:
            return f"value {value!r} {problem}"
    return None


def stored_value(keyword: str, text: str) -> Any:
    """The value the index keeps for `text` (checked by :func:`update_problem` first).

    As ingest keeps a value read from a file (:func:`~dicom_inventory.scp.stores.repository.
    entry_value`): ``None`` for an empty one, an ``int`` for IS and the binary integers, a list
    of strings for several values, else the string.
    """
    return entry_value(_vr(keyword), _values(keyword, text) if text else [None])
