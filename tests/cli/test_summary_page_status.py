"""The summary page of a PARTIAL inventory never says, in green, that every study is complete.

Before: a crawl whose listings were truncated (PARTIAL, no Number of Study Related counts)
got "Every study lists as many series and instance records as its counts say." in green and
no Completion Status; the modality and year charts drew rows and series (or studies) on one
axis labelled "records".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory, synthetic_studies
from dicom_inventory.enum import InventoryCompletionStatus
from dicom_inventory.scu.pages import render_summary_html
from dicom_inventory.scu.summary import summarize

WHY = "series of study 2.25.1: response set truncated"
GREEN = "Every study lists as many series and instance records as its counts say."


def _page(tmp_path: Path, partial: bool, counts: bool) -> str:
    studies = []
    for st in synthetic_studies(3, series_per_study=2, instances_per_series=2, seed=3):
        st = replace(st, series=[replace(se, instances=list(se.instances)) for se in st.series])
        if not counts:
            st = replace(
                st, number_of_study_related_series=None, number_of_study_related_instances=None
            )
        studies.append(st)
    status = InventoryCompletionStatus.PARTIAL if partial else InventoryCompletionStatus.COMPLETE
    header = InventoryHeader(
        "2.25.8802",
        InventoryLevel.INSTANCE,
        content_date="20261207",
        content_time="100000",
        completion_status=status,
        inventory_instance_description=WHY if partial else None,
    )
    inv = tmp_path / "inv.dcm"
    inv.write_bytes(encode_inventory(header, studies))
    return render_summary_html(summarize([inv]), tmp_path / "s.html").read_text()


def test_a_partial_inventory_without_counts_gets_no_green_line(tmp_path: Path) -> None:
    html = _page(tmp_path, partial=True, counts=False)
    assert GREEN not in html
    assert "Inventory Completion Status (0008,0426): PARTIAL (1)." in html
    assert WHY in html
    assert "Not checked: the inventory records no Number of Study Related Series" in html
    assert "Removed from Operational Use (0008,0405): 0 studies" in html


def test_a_partial_inventory_whose_counts_agree_is_not_called_complete(tmp_path: Path) -> None:
    html = _page(tmp_path, partial=True, counts=True)
    assert GREEN not in html and "does not say COMPLETE" in html


def test_a_complete_inventory_whose_counts_agree_gets_the_green_line(tmp_path: Path) -> None:
    html = _page(tmp_path, partial=False, counts=True)
    assert GREEN in html and 'class="verdict good">Inventory Completion Status' in html


def test_no_chart_draws_two_units_on_one_axis(tmp_path: Path) -> None:
    html = _page(tmp_path, partial=False, counts=True)
    assert "Modalities: instance records per modality" in html
    assert "Study years: studies per year" in html
