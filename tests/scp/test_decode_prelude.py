"""The one decode prelude of the node's handlers (``decode.decoded``), and the one value check.

Every handler that reads a request data set goes through :func:`decoded`: a request that
cannot be decoded is refused with the status of the decoder's table, and logged once, as
``<service> from AE@host:port refused: <why>``. The text of a key is checked by the one check
of a value against its VR (``_vr.matching_problem`` on top of ``_vr.value_problem``): the
forms of PS3.4 C.2.2.2 are kept (ranges of dates, lists of UIDs), the calendar is the same
as the validator's. A real node on 127.0.0.1, real associations (pynetdicom).
"""

from __future__ import annotations

import logging

import pytest
from dicom_inventory._vr import matching_problem
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scp.services.decode import DecodeFailure, Service, decode_request
from dicom_inventory.status import Status
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryFind,
    InventoryGet,
    RepositoryQuery,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from tests.scp.services.test_malformed_requests import (  # noqa: F401 - fixtures
    RawSCU,
    _initiate,
    archive_template,
    el,
    node,
    requester,
)

#: An element with a VR no table knows: undecodable for every service.
_BAD = el(0x00080018, "QQ", b"1.2\0")
_LEVEL = el(0x00080052, "CS", b"STUDY ")


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if " refused: " in r.getMessage()]


@pytest.mark.parametrize(
    ("title", "uid", "kind", "status"),
    [
        ("Inventory FIND", InventoryFind, "find", Status.UNABLE_TO_PROCESS),
        ("Inventory retrieve", InventoryGet, "get", Status.UNABLE_TO_PROCESS),
        ("Study Root C-FIND", StudyRootQueryRetrieveInformationModelFind, "find", Status.UNABLE_TO_PROCESS),
        ("Repository Query", RepositoryQuery, "find", Status.UNABLE_TO_PROCESS),
        ("Study Root retrieve", StudyRootQueryRetrieveInformationModelGet, "get", Status.UNABLE_TO_PROCESS),
        ("N-ACTION 11", InventoryCreation, "action", Status.INVALID_ARGUMENT_VALUE),
    ],
)  # fmt: skip
def test_each_service_refuses_and_logs_once(
    node: InventoryNode,  # noqa: F811 - the fixture
    caplog: pytest.LogCaptureFixture,
    title: str,
    uid: str,
    kind: str,
    status: Status,
) -> None:
    caplog.set_level(logging.INFO)
    scu = RawSCU(node.port, uid)
    try:
        if kind == "action":
            rsp = scu.action(_BAD + _initiate())
        else:
            raw = _BAD if uid in (InventoryFind, InventoryGet) else _BAD + _LEVEL
            rsp = getattr(scu, kind)(raw, uid)[-1]
    finally:
        scu.close()
    assert rsp.Status == status, hex(rsp.Status)
    assert "(0008,0018)" in rsp.ErrorComment, rsp.ErrorComment
    refused = _refusals(caplog)
    assert len(refused) == 1, refused
    assert refused[0].startswith(f"{title} from REQUESTER@127.0.0.1:"), refused
    assert "(0008,0018)" in refused[0]


def _find_with(tag: int, vr: str, value: bytes) -> DecodeFailure | object:
    raw = el(tag, vr, value + (b" " if len(value) % 2 else b""))
    return decode_request(raw, ExplicitVRLittleEndian, Service.STUDY_ROOT_FIND)


_STUDY_DATE, _STUDY_UID, _SERIES_NUMBER = 0x00080020, 0x0020000D, 0x00200011


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (_STUDY_DATE, "DA", b"20200101-20201231"),  # Range Matching (PS3.4 C.2.2.2.5)
        (_STUDY_DATE, "DA", b"-20201231"),
        (_STUDY_DATE, "DA", b"20200101-"),
        (_STUDY_DATE, "DA", b"20240229"),  # a leap day
        (_STUDY_UID, "UI", b"1.2.3\\1.2.4"),  # List of UID Matching (C.2.2.2.2)
        (_SERIES_NUMBER, "IS", b"2147483647"),
    ],
)
def test_the_decoder_keeps_the_matching_forms(tag: int, vr: str, value: bytes) -> None:
    got = _find_with(tag, vr, value)
    assert not isinstance(got, DecodeFailure), got


@pytest.mark.parametrize(
    ("tag", "vr", "value", "why"),
    [
        (_STUDY_DATE, "DA", b"20211301-", "month 13"),
        (_STUDY_DATE, "DA", b"20210230", "day 30"),  # the calendar, as validate judges files
        (_STUDY_DATE, "DA", b"-", "empty range"),
        (_STUDY_UID, "UI", b"1.2.*", "UI"),  # no wild cards in a UID (C.2.2.2.4)
        (_STUDY_UID, "UI", b"1." + b"2" * 70, "longer than 64"),
        (_SERIES_NUMBER, "IS", b"2147483648", "2^31"),
    ],
)
def test_the_decoder_refuses_what_the_one_check_refuses(
    tag: int, vr: str, value: bytes, why: str
) -> None:
    got = _find_with(tag, vr, value)
    assert isinstance(got, DecodeFailure), got
    assert got.status(Service.STUDY_ROOT_FIND) == Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    assert why in str(got), str(got)
    assert matching_problem(vr, value.decode()) is not None  # the same check, the same verdict


def test_matching_problem_names_the_bad_end_of_a_range() -> None:
    assert "'20211301' is not a valid date: month 13" in (matching_problem("DA", "20211301-") or "")
    assert matching_problem("DT", "20200101120000-0500") is None  # an offset, not a range
    assert matching_problem("CS", "C*") is None  # Wild Card Matching (C.2.2.2.4)
