"""The summary and the diff report as one self-contained HTML page each.

Each page is described in the project's one page model and drawn by its one renderer
(:mod:`dicom_inventory.scu.html`: Jinja2 templates, the one stylesheet inlined), with bar
charts as inline SVG (:mod:`dicom_inventory.scu.plots`). The page fetches nothing: no script,
no external stylesheet, font or image; it can be mailed, archived, or opened offline, which is
what a migration proof handed to a hospital needs.

Every count shown in a chart is also in a table beside it (charts cut long labels and are not
read by screen readers; tables are).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicom_inventory.scu.html import (
    Block,
    BulletList,
    Cell,
    DataTable,
    Figure,
    Page,
    PageSection,
    Paragraph,
    Row,
    TocEntry,
    render_page,
)
from dicom_inventory.scu.plots import bar_chart
from dicom_inventory.scu.summary import NOT_CHECKED

if TYPE_CHECKING:
    from dicom_inventory.scu.diff import DiffReport, EntityDiff
    from dicom_inventory.scu.summary import Summary

__all__ = [
    "DIFF_KINDS",
    "NOT_COMPARED",
    "diff_page",
    "render_diff_html",
    "render_summary_html",
    "summary_page",
]

#: The kinds of difference of a diff report, as its page names them, in the page's order.
DIFF_KINDS: dict[str, str] = {
    "missing": "missing (source only)",
    "extra": "extra (destination only)",
    "different": "different values",
    "count": "count mismatch",
    "removed": "removed from operational use changed",
}
#: The entries of a diff report that are not differences, as its page names them (an entity in
#: one side only whose absence from the other proves nothing, or is expected).
NOT_COMPARED: dict[str, str] = {
    "not_listed_by_destination": "not listed by the destination (partial listing)",
    "not_listed_by_source": "not listed by the source (partial listing)",
    "removed_not_in_destination": "removed from operational use, absent from the destination",
    "removed_not_in_source": "removed from operational use, absent from the source",
}
_LEVELS = ("STUDY", "SERIES", "INSTANCE")
#: What the page says of missing or extra entities when the other side's listing is PARTIAL.
_UNPROVEN = (
    "None proven: the {0}'s listing is PARTIAL, so an absence from it proves nothing "
    "(see \u201cnot listed by the {0}\u201d)."
)
#: Differences listed per kind on the page; the rest are counted (the JSON report has all).
_LISTED = 500


def _num(n: int) -> Cell:
    return Cell(f"{n:,}")


def _count_table(
    table_id: str, caption: str, what: str, columns: Mapping[str, Counter[str]], order: list[str]
) -> DataTable:
    head = [Cell(what), *(Cell(name) for name in columns)]
    rows = [Row([Cell(key), *(_num(c[key]) for c in columns.values())]) for key in order]
    return DataTable(table_id, caption, head, rows)


def _figure_and_table(
    sid: str,
    heading: str,
    what: str,
    columns: Mapping[str, Counter[str]],
    order: list[str],
    unit: str,
    empty: str,
    plotted: str | None = None,
) -> PageSection:
    """A chart and its table beside it.

    The chart draws one column (`plotted`; default: all, which must then share `unit`): two
    units are never drawn on one axis. The table has every column.
    """
    if not order:
        return PageSection(sid, heading, 2, [Paragraph(empty)])
    drawn = {plotted: columns[plotted]} if plotted is not None else columns
    svg = bar_chart(
        order,
        {name: [c[k] for k in order] for name, c in drawn.items()},
        title=heading,
        value_label=unit,
    )
    return PageSection(
        sid,
        heading,
        2,
        [
            Figure(f"{sid}-plot", f"{heading}: {unit} per {what.lower()}", svg),
            _count_table(f"{sid}-table", heading, what, columns, order),
        ],
    )


def _by_count(c: Counter[str]) -> list[str]:
    return [k for k, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]


def summary_page(summary: Summary, *, title: str = "Inventory summary") -> Page:
    """The page of a :class:`~dicom_inventory.scu.summary.Summary`: charts and tables."""
    s = summary
    level = ", ".join(s.levels) or "none"
    unit = _UNITS.get(s.levels[0], "records") if len(s.levels) == 1 else "records"
    named = f" from the {s.named:,} named" if s.named != s.files else ""
    intro: list[Block] = [
        Paragraph(
            f"{s.files:,} inventory file(s) read{named} (trees followed, each file once), "
            f"Inventory Level {level}: {s.studies:,} studies, {s.series:,} series, "
            f"{s.instances:,} instance records ({s.rows:,} rows at the inventory's level)."
        ),
        *_status(s),
        Paragraph(
            f"Removed from Operational Use (0008,0405): {s.removed_studies:,} studies, "
            f"{s.removed_series:,} series, {s.removed_instances:,} instance records."
        ),
    ]
    sections: list[PageSection] = [
        _figure_and_table(
            "modalities",
            "Modalities",
            "Modality",
            {unit: s.modality_rows, "series": s.modality_series},
            _by_count(s.modality_series),
            unit,
            "No series records.",
            plotted=unit,
        ),
        _figure_and_table(
            "years",
            "Study years",
            "Year",
            {"studies": s.year_studies, unit: s.year_rows},
            sorted(s.year_studies),
            "studies",
            "No study records.",
            plotted="studies",
        ),
        _figure_and_table(
            "availability",
            "Instance Availability",
            "Availability",
            {"instances": s.availability},
            _by_count(s.availability),
            "instance records",
            "No instance records (the Inventory Level lists none).",
        ),
        _figure_and_table(
            "containers",
            "Containers",
            "Container",
            {"instances": s.containers},
            _by_count(s.containers),
            "instance records",
            "No instance records (the Inventory Level lists none).",
        ),
        _figure_and_table(
            "stale",
            "Stale metadata",
            "Attribute",
            {unit: s.stale},
            _by_count(s.stale),
            unit,
            "No record has prior values in Original Attributes Sequence: every stored file "
            "carries the inventory's current values.",
        ),
    ]
    if s.stale_rows:
        stale = sections[-1]
        said = Paragraph(
            f"{s.stale_rows:,} rows whose stored files still carry a prior value of an "
            "attribute (Original Attributes Sequence (0400,0561), PS3.3 C.12.1.1.9)."
        )
        sections[-1] = PageSection(stale.id, stale.heading, 2, [said, *stale.blocks])
    sections.append(_largest(s))
    sections.append(_incomplete(s))
    toc = [TocEntry(sec.id, sec.heading) for sec in sections]
    return Page(title, title, blocks=sections, intro=intro, toc=toc, toc_title="Contents")


#: What a row is at each Inventory Level (PS3.3 C.38.1.1.1), as the charts' unit.
_UNITS = {"INSTANCE": "instance records", "SERIES": "series records", "STUDY": "study records"}


def _status(s: Summary) -> list[Block]:
    """Inventory Completion Status (0008,0426) of the inventories read (their roots)."""
    counts = ", ".join(f"{k} ({n:,})" for k, n in sorted(s.completion.items())) or "none"
    blocks: list[Block] = [
        Paragraph(
            f"Inventory Completion Status (0008,0426): {counts}.",
            "verdict good" if s.complete else "verdict warn",
        )
    ]
    if s.not_complete:
        head = [Cell("Inventory"), Cell("Status"), Cell("Inventory Instance Description")]
        rows = [
            Row([Cell(x.path, "code"), Cell(x.status), Cell(x.description or "")], "bad")
            for x in s.not_complete
        ]
        blocks.append(DataTable("status-table", "Inventories not COMPLETE", head, rows))
    return blocks


def _largest(s: Summary) -> PageSection:
    head = [Cell(h) for h in ("Study Instance UID", "Patient ID", "Study Date", "Accession")]
    head += [Cell(h) for h in ("Description", "Modalities", "Series", "Instances")]
    rows = [
        Row(
            [
                Cell(st.study_instance_uid, "code"),
                Cell(st.patient_id or ""),
                Cell(st.study_date or ""),
                Cell(st.accession_number or ""),
                Cell(st.study_description or ""),
                Cell(", ".join(st.modalities)),
                _num(st.series),
                _num(st.instances),
            ]
        )
        for st in s.largest
    ]
    blocks: list[Block] = (
        [DataTable("largest-table", "The largest studies", head, rows)]
        if rows
        else [Paragraph("No study records.")]
    )
    return PageSection("largest", "Largest studies", 2, blocks)


def _incomplete(s: Summary) -> PageSection:
    if s.incomplete_studies:
        verdict = Paragraph(
            f"{s.incomplete_studies:,} studies whose records disagree with their counts "
            f"(Number of Study Related Series/Instances, PS3.3 Table C.38.1-1), "
            f"{s.empty_series:,} series listed without instance records.",
            "verdict bad",
        )
    elif not s.counts_checked:
        verdict = Paragraph(
            f"{NOT_CHECKED[0].upper()}{NOT_CHECKED[1:]} (PS3.3 Table C.38.1-1, Type 2): "
            "nothing to compare the records with.",
            "verdict warn",
        )
    elif not s.complete:
        verdict = Paragraph(
            f"The {s.counted_studies:,} studies that state counts list as many series and "
            "instance records as they say, but the inventory does not say COMPLETE: records "
            "may be missing that no count reveals.",
            "verdict warn",
        )
    else:
        verdict = Paragraph(
            "Every study lists as many series and instance records as its counts say.",
            "verdict good",
        )
    head = [Cell("Study Instance UID"), Cell("Patient ID"), Cell("What disagrees")]
    rows = [
        Row(
            [
                Cell(m.study_instance_uid, "code"),
                Cell(m.patient_id or ""),
                Cell(m.problems, "lines"),
            ],
            "bad",
        )
        for m in s.incomplete
    ]
    blocks: list[Block] = [verdict]
    if rows:
        caption = f"The first {len(rows):,} of {s.incomplete_studies:,} incomplete studies"
        blocks.append(DataTable("incomplete-table", caption, head, rows))
    return PageSection("incomplete", "Incomplete studies and series", 2, blocks)


def _write(html: str, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    tmp = out.with_name(out.name + ".partial")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(out)  # never a half-written page under the name asked for
    except BaseException:  # a full disk, Ctrl-C: no partial page left behind either
        tmp.unlink(missing_ok=True)
        raise
    return out


def render_summary_html(
    summary: Summary, path: str | os.PathLike[str], *, title: str = "Inventory summary"
) -> Path:
    """Write the summary's self-contained HTML page to `path`; return the path written."""
    return _write(render_page(summary_page(summary, title=title)), path)


# ------------------------------------------------------------------------ the diff report
def _per_level(differences: Iterable[EntityDiff]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in DIFF_KINDS}
    for d in differences:
        counts.setdefault(d.kind, Counter())[d.level] += 1
    return counts


def _where(d: EntityDiff) -> list[Cell]:
    return [
        Cell(d.patient_id or ""),
        Cell(d.study_instance_uid, "code"),
        Cell(d.series_instance_uid or "", "code"),
        Cell(d.sop_instance_uid or "", "code"),
    ]


def _values(d: EntityDiff) -> Cell:
    return Cell(
        [f"{k}: {_show(v[0])} \u2192 {_show(v[1])}" for k, v in d.attributes.items()], "lines"
    )


def _show(v: Any) -> str:
    from dicom_inventory.scu.diff import show_value

    return show_value(v)


def _kind_section(
    kind: str, label: str, found: Sequence[EntityDiff], total: int, unproven: str = ""
) -> PageSection:
    sid = f"diff-{kind}"
    if not total and unproven:  # none found, but the other side's listing is PARTIAL
        return PageSection(sid, label.capitalize(), 2, [Paragraph(unproven)])
    if not total:
        return PageSection(sid, label.capitalize(), 2, [Paragraph("None.", "verdict good")])
    head = [Cell(h) for h in ("Level", "Patient ID", "Study", "Series", "Instance")]
    with_values = kind in ("different", "count", "removed")
    if with_values:
        head.append(Cell("Source \u2192 destination"))
    rows = []
    for d in found[:_LISTED]:
        cells = [Cell(d.level, "id"), *_where(d)]
        if with_values:
            cells.append(_values(d))
        rows.append(Row(cells))
    blocks: list[Block] = [DataTable(f"{sid}-table", f"{total:,} {label}", head, rows)]
    if total > len(rows):
        blocks.append(
            Paragraph(f"{total - len(rows):,} more not listed here; the JSON report has them all.")
        )
    return PageSection(sid, label.capitalize(), 2, blocks)


def _sides(report: DiffReport) -> list[Block]:
    """Each side's Inventory Completion Status (PS3.3 C.38.1.1.3), and why it is PARTIAL."""
    blocks: list[Block] = []
    for name, st in (("Source", report.source_status), ("Destination", report.destination_status)):
        said = f"{name}: {st.origin}, Inventory Completion Status {st.completion_status}"
        if st.complete:
            blocks.append(Paragraph(said + "."))
            continue
        blocks.append(
            Paragraph(
                said + ": its listing is PARTIAL (truncated or incomplete), so an entity it does "
                "not list is not known to be absent."
            )
        )
        shown = st.problems[:_LISTED]
        more = (
            [f"... and {len(st.problems) - len(shown):,} more"]
            if len(st.problems) > len(shown)
            else []
        )
        if shown:
            blocks.append(BulletList([*shown, *more]))
    return blocks


def diff_page(report: DiffReport, *, title: str = "Inventory comparison") -> Page:
    """The page of a :class:`~dicom_inventory.scu.diff.DiffReport`: verdict, counts, lists."""
    totals = {
        "missing": report.missing,
        "extra": report.extra,
        "different": report.different,
        "count": report.count_mismatches,
        "removed": report.removed_changes,
    }
    per_level = _per_level(report.differences)
    if report.differs:
        verdict = Paragraph(
            "DIFFERENT: " + ", ".join(f"{n:,} {DIFF_KINDS[k]}" for k, n in totals.items() if n),
            "verdict bad",
        )
    elif report.comparable:
        verdict = Paragraph("IDENTICAL: nothing missing, extra or changed.", "verdict good")
    else:
        verdict = Paragraph(report.verdict_line() + ".", "verdict warn")
    intro: list[Block] = [
        verdict,
        Paragraph(
            f"Compared at {report.level} level: {report.source_records:,} source rows, "
            f"{report.destination_records:,} destination rows."
        ),
        *_sides(report),
    ]
    not_compared = {k: n for k, n in report.not_compared().items() if n}
    if not_compared:
        intro.append(
            Paragraph(
                "Not compared (neither missing nor extra): "
                + ", ".join(f"{n:,} {NOT_COMPARED[k]}" for k, n in not_compared.items())
                + "."
            )
        )
    if report.source_outside or report.destination_outside:
        intro.append(
            Paragraph(
                "Not compared, outside the other side's Scope of Inventory (neither missing "
                f"nor extra): {report.source_outside:,} in the source only, "
                f"{report.destination_outside:,} in the destination only."
            )
        )
    if report.scope_notes:
        intro.append(BulletList([f"Scope: {note}" for note in report.scope_notes]))
    head = [Cell("Difference"), *(Cell(lv) for lv in _LEVELS), Cell("Total")]
    rows = [
        Row(
            [Cell(DIFF_KINDS[k]), *(_num(per_level[k][lv]) for lv in _LEVELS), _num(totals[k])],
            "bad" if totals[k] else "",
        )
        for k in DIFF_KINDS
    ]
    counts_blocks: list[Block] = [DataTable("diff-counts", "Differences per level", head, rows)]
    if report.differs:
        kinds = [k for k in DIFF_KINDS if per_level[k]]  # drawn: the kinds found, their levels
        levels = [lv for lv in _LEVELS if any(per_level[k][lv] for k in kinds)]
        svg = bar_chart(
            levels,
            {DIFF_KINDS[k]: [per_level[k][lv] for lv in levels] for k in kinds},
            title="Differences per level",
            value_label="entities",
        )
        counts_blocks.insert(0, Figure("diff-plot", "Differences per level and kind", svg))
    sections = [PageSection("diff-counts-section", "Counts", 2, counts_blocks)]
    unproven = {
        "missing": "" if report.destination_status.complete else _UNPROVEN.format("destination"),
        "extra": "" if report.source_status.complete else _UNPROVEN.format("source"),
    }
    for kind, label in DIFF_KINDS.items():
        found = [d for d in report.differences if d.kind == kind]
        sections.append(_kind_section(kind, label, found, totals[kind], unproven.get(kind, "")))
    for kind, n in not_compared.items():  # only the kinds met: most reports have none
        found = [d for d in report.differences if d.kind == kind]
        sections.append(_kind_section(kind, NOT_COMPARED[kind], found, n))
    toc = [TocEntry(sec.id, sec.heading) for sec in sections]
    return Page(title, title, blocks=sections, intro=intro, toc=toc, toc_title="Contents")


def render_diff_html(
    report: DiffReport, path: str | os.PathLike[str], *, title: str = "Inventory comparison"
) -> Path:
    """Write the diff report's self-contained HTML page to `path`; return the path written."""
    return _write(render_page(diff_page(report, title=title)), path)
