"""A Study Root C-FIND written with raw pynetdicom: what the archive says it holds.

The scope tests compare what an inventory lists with what the same keys find in a Study Root
C-FIND (PS3.4 C.2.2.2): the comparison uses no code of ours on the query side.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

#: The keys asked for and returned.
KEYS = ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "AccessionNumber")


def study_root_find(
    port: int, keys: dict[str, str], ae_title: str = "INV_SCP"
) -> dict[str, dict[str, str]]:
    """Study Root C-FIND at STUDY level: ``{Study Instance UID: {keyword: value}}``."""
    ae = AE(ae_title="FINDER")
    ae.add_requested_context(FIND)
    q = Dataset()
    q.SpecificCharacterSet = "ISO_IR 192"
    q.QueryRetrieveLevel = "STUDY"
    for kw in KEYS:
        setattr(q, kw, keys.get(kw, ""))
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    found: dict[str, dict[str, str]] = {}
    try:
        for status, ident in assoc.send_c_find(q, FIND):
            if status and status.Status in (0xFF00, 0xFF01) and ident is not None:
                found[str(ident.StudyInstanceUID)] = {
                    kw: str(ident.get(kw, "") or "") for kw in KEYS
                }
    finally:
        assoc.release()
    return found
