"""Flat rows (dicom_inventory.rows): one row per record at the inventory's level."""

from __future__ import annotations

import dataclasses

from dicom_inventory import (
    ROW_COLUMNS,
    InventoryLevel,
    OriginalAttributes,
    iter_rows,
    synthetic_studies,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.inventory.strategies import record_settings, studies


def _lists(s):  # type: ignore[no-untyped-def]
    return dataclasses.replace(
        s, series=[dataclasses.replace(x, instances=list(x.instances)) for x in s.series]
    )


@settings(record_settings, max_examples=40)
@given(data=st.data())
def test_one_row_per_record_at_the_level(data: st.DataObject) -> None:
    level = data.draw(st.sampled_from(list(InventoryLevel)))
    recs = [_lists(s) for s in data.draw(st.lists(studies(level), max_size=4))]
    rows = list(iter_rows(recs))
    if level is InventoryLevel.INSTANCE:
        expected = [
            (s.study_instance_uid, se.series_instance_uid, i.sop_instance_uid)
            for s in recs
            for se in s.series
            for i in se.instances
        ]
        assert [
            (r["study_instance_uid"], r["series_instance_uid"], r["sop_instance_uid"]) for r in rows
        ] == expected
    elif level is InventoryLevel.SERIES:
        assert [r["series_instance_uid"] for r in rows] == [
            se.series_instance_uid for s in recs for se in s.series
        ]
        assert all(r["sop_instance_uid"] is None for r in rows)
    else:
        assert [r["study_instance_uid"] for r in rows] == [s.study_instance_uid for s in recs]
    assert all(tuple(r) == ROW_COLUMNS for r in rows)


def test_stale_attributes_name_what_the_file_still_holds() -> None:
    """A row lists the keywords whose prior values are recorded at any level (PS3.17 YYYY.7.9)."""
    (st_,) = [_lists(s) for s in synthetic_studies(1, series_per_study=1, instances_per_series=2)]
    assert {r["stale_attributes"] for r in iter_rows([st_])} == {None}
    oa = OriginalAttributes(
        modified={"PatientID": "OLD"},
        modification_datetime="20250101",
        modifying_system="PACS",
        reason="CORRECT",
    )
    se = st_.series[0]
    inst = dataclasses.replace(
        se.instances[0],
        original_attributes=(  # type: ignore[index]
            dataclasses.replace(oa, modified={"SOPInstanceUID": "1.2"}),
        ),
    )
    st2 = dataclasses.replace(
        st_,
        original_attributes=(oa,),
        series=[dataclasses.replace(se, instances=[inst, se.instances[1]])],
    )  # type: ignore[index]
    rows = list(iter_rows([st2]))
    assert rows[0]["stale_attributes"] == "PatientID\\SOPInstanceUID"
    assert rows[1]["stale_attributes"] == "PatientID"
