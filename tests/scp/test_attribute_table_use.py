"""The archive side names only attributes the Inventory IOD has where it puts them.

The attribute table (:mod:`dicom_inventory.attributes`) is the one place for what a study,
series or instance record holds (PS3.3 Table C.38.1-1). The archive's stored columns, the
Study Root keys and the scope keys the producer matches are the node's own choices, so they are
not generated from it; this test keeps them inside it.
"""

from __future__ import annotations

from dicom_inventory.attributes import INSTANCE_PATH, SERIES_PATH, STUDY_PATH, attributes_at
from dicom_inventory.scp.archive import SERIES_KEYWORDS, STUDY_KEYWORDS
from dicom_inventory.scp.production.scope import SUPPORTED_KEYS
from dicom_inventory.scp.services.studyroot import LEVEL_KEYS


def _at(path: tuple[str, ...]) -> set[str]:
    return {a.keyword for a in attributes_at(path)}


def test_stored_study_and_series_columns_are_record_attributes() -> None:
    assert set(STUDY_KEYWORDS) <= _at(STUDY_PATH)
    assert set(SERIES_KEYWORDS) <= _at(SERIES_PATH)


def test_scope_keys_are_study_record_attributes() -> None:
    """A scope selects studies by their study records (PS3.4 KK.2.2.1.1, PS3.3 C.38.2.1.1.2)."""
    assert set(SUPPORTED_KEYS) <= _at(STUDY_PATH)


def test_study_root_keys_are_record_attributes_of_their_level() -> None:
    assert set(LEVEL_KEYS["STUDY"]) <= _at(STUDY_PATH)
    assert set(LEVEL_KEYS["SERIES"]) <= _at(SERIES_PATH)
    # Content Date/Time are kept by the archive for Study Root queries, not by inventories
    assert set(LEVEL_KEYS["IMAGE"]) - {"ContentDate", "ContentTime"} <= _at(INSTANCE_PATH)


def test_every_stored_record_attribute_is_a_model_field_and_so_is_produced() -> None:
    """Production fills records from the stored attributes by the model's fields
    (``fields.field_values``): a column the archive keeps must have a field to land in."""
    from dicom_inventory.fields import model_fields
    from dicom_inventory.model import SeriesRecord, StudyRecord

    assert set(STUDY_KEYWORDS) <= {mf.keyword for mf in model_fields(StudyRecord)}
    assert set(SERIES_KEYWORDS) <= {mf.keyword for mf in model_fields(SeriesRecord)}
