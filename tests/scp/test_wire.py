"""scp/wire.py on its own: the command-set edits pynetdicom cannot make, on real message objects
(pynetdicom's own DIMSE message classes; the event is the minimum those hooks read)."""

from __future__ import annotations

from types import SimpleNamespace

from dicom_inventory.scp.wire import B001_PLACEHOLDER, WireFixes, retrieve_failure
from pydicom.dataset import Dataset
from pynetdicom.dimse_messages import C_FIND_RSP, N_ACTION_RSP


def _message(cls: type, **command: object) -> object:
    msg = cls()
    cs = Dataset()
    cs.CommandGroupLength = 0  # as pynetdicom's encoder leaves it; recomputed on an edit
    for k, v in command.items():
        setattr(cs, k, v)
    msg.command_set = cs
    return msg


def test_attribute_identifier_list_goes_into_the_matching_response_only() -> None:
    fixes = WireFixes()
    assoc = object()
    fixes.attribute_identifier_list(
        SimpleNamespace(assoc=assoc, request=SimpleNamespace(MessageID=7)), [0x00104000]
    )
    other = _message(N_ACTION_RSP, MessageIDBeingRespondedTo=8, Status=0xB010)
    fixes.on_sent(SimpleNamespace(assoc=assoc, message=other))
    assert 0x00001005 not in other.command_set  # type: ignore[attr-defined]
    mine = _message(N_ACTION_RSP, MessageIDBeingRespondedTo=7, Status=0xB010)
    fixes.on_sent(SimpleNamespace(assoc=assoc, message=mine))
    assert mine.command_set[0x00001005].value == 0x00104000  # type: ignore[attr-defined]
    again = _message(N_ACTION_RSP, MessageIDBeingRespondedTo=7, Status=0xB010)
    fixes.on_sent(SimpleNamespace(assoc=assoc, message=again))  # used once, then forgotten
    assert 0x00001005 not in again.command_set  # type: ignore[attr-defined]


def test_the_placeholder_is_sent_as_0xb001() -> None:
    rsp = _message(C_FIND_RSP, MessageIDBeingRespondedTo=1, Status=B001_PLACEHOLDER)
    WireFixes().on_sent(SimpleNamespace(assoc=object(), message=rsp))
    assert rsp.command_set.Status == 0xB001  # type: ignore[attr-defined]


def test_a_retrieve_failure_announces_one_sub_operation_then_the_status() -> None:
    assert list(retrieve_failure(0xA900)) == [1, (0xA900, None)]
