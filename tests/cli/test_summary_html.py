"""summary --html and the diff page, as drawn by headless Chromium.

Each page is loaded from a file with a probe script added at the top of its head (the page
itself has no script): it records every error event (a failed load included) and
``console.error`` call, lists the resources the page fetched (Resource Timing), measures each
chart's SVG and leaves the result in ``<body data-probe>``, read back with ``--dump-dom``
(:func:`tests.conformance.browser.dump_dom`). Chromium runs with every host name unresolvable,
so a fetch could not hang. The counts shown in the tables are read from that DOM and compared
with the summary's; a control page that does fetch shows the probe sees it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory, synthetic_studies
from dicom_inventory.enum import ReasonForAttributeModification
from dicom_inventory.model import OriginalAttributes, StudyRecord
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scu.diff import diff_inventories
from dicom_inventory.scu.pages import DIFF_KINDS, render_diff_html, render_summary_html
from dicom_inventory.scu.summary import summarize

from tests.conformance.browser import screenshot
from tests.conftest import require_tool

#: Added first in <head>: errors and fetches from the very start, measures after load.
PROBE = """<script>
window.__probe = { errors: [] };
addEventListener("error", (e) => {
  const t = e.target || {};
  __probe.errors.push(String(e.message || t.src || t.href || t.outerHTML || "error"));
}, true);
const __consoleError = console.error;
console.error = (...args) => { __probe.errors.push(args.join(" ")); __consoleError(...args); };
addEventListener("load", () => {
  const svgs = [...document.querySelectorAll("figure svg")].map((s) => {
    const r = s.getBoundingClientRect();
    return { figure: s.closest("figure").id, width: r.width, height: r.height,
             shapes: s.querySelectorAll("path, rect, use").length,
             texts: [...s.querySelectorAll("text")].map((t) => t.textContent) };
  });
  document.body.dataset.probe = JSON.stringify({
    errors: __probe.errors,
    resources: performance.getEntriesByType("resource").map((e) => e.name),
    svgs,
    width: innerWidth,
    overflowing: [...document.querySelectorAll("table, figure")]
      .filter((t) => t.getBoundingClientRect().right > document.body.getBoundingClientRect().right + 1)
      .map((t) => t.id),
  });
});
</script>"""


def _chromium() -> str:
    """Chromium, or a skip with the reason; under CI (env CI set) a missing one fails."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("chromium not installed (apt-get install chromium); CI forbids skipping")
    return require_tool("chromium")


def _load(chromium: str, page: Path) -> tuple[dict[str, Any], lxml.html.HtmlElement, str]:
    """Load a copy of `page` with the probe; return the probe's result, the DOM and stderr."""
    probed = page.with_name("probed-" + page.name)
    html = page.read_text(encoding="utf-8")
    assert "<head>" in html
    probed.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr"]
        + ["--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = lxml.html.fromstring(done.stdout)
    body = dom.find("body")
    assert body is not None and body.get("data-probe"), done.stderr[-2000:]
    return json.loads(body.get("data-probe", "")), dom, done.stderr


def _console_errors(stderr: str) -> list[str]:
    """Lines Chromium logged for the page's console (``CONSOLE``), errors among them."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


def _table(dom: lxml.html.HtmlElement, table_id: str) -> dict[str, list[int]]:
    """A count table of the page: first cell -> the numbers of the other cells."""
    (table,) = dom.xpath(f'//table[@id="{table_id}"]')
    out = {}
    for tr in table.xpath("./tbody/tr"):
        cells = [td.text_content() for td in tr.xpath("./td")]
        out[cells[0]] = [int(c.replace(",", "")) for c in cells[1:]]
    return out


def _studies(n: int) -> list[StudyRecord]:
    out = []
    for st in synthetic_studies(n, series_per_study=3, instances_per_series=4, seed=3):
        series = [replace(se, instances=list(se.instances)) for se in st.series]
        out.append(replace(st, series=series))
    return out


def _write(path: Path, studies: list[StudyRecord], uid: str) -> Path:
    header = InventoryHeader(
        uid, InventoryLevel.INSTANCE, content_date="20261207", content_time="100000"
    )
    path.write_bytes(encode_inventory(header, studies))
    return path


def _no_fetch(page: Path) -> None:
    """The page names nothing to fetch: no script, stylesheet link, image, frame or url()."""
    html = page.read_text(encoding="utf-8")
    dom = lxml.html.fromstring(html.encode())
    assert not dom.xpath("//script | //link | //img | //iframe | //object | //embed")
    hrefs = [v for v in dom.xpath("//@href | //@src | //@*[local-name()='href']")]
    assert all(h.startswith("#") for h in hrefs), hrefs
    assert "url(http" not in html and "@import" not in html and "@font-face" not in html


def _assert_clean(probe: dict[str, Any], stderr: str) -> None:
    assert probe["errors"] == [], probe["errors"]
    assert probe["resources"] == [], probe["resources"]
    assert _console_errors(stderr) == []
    assert probe["overflowing"] == [], probe["overflowing"]


def test_summary_page_loads_offline_and_shows_the_counts(tmp_path: Path) -> None:
    chromium = _chromium()
    studies = _studies(6)
    # an incomplete study (one instance more stated than listed) and a stale attribute
    studies[1] = replace(studies[1], number_of_study_related_instances=13)
    changed = OriginalAttributes(
        modified={"PatientName": "OLD^NAME"},
        modification_datetime="20260101120000",
        modifying_system="PACS",
        reason=ReasonForAttributeModification.CORRECT,
    )
    studies[2] = replace(studies[2], original_attributes=(changed,))
    inv = _write(tmp_path / "inv.dcm", studies, "2.25.81")
    s = summarize([inv])
    page = render_summary_html(s, tmp_path / "summary.html")
    _no_fetch(page)

    probe, dom, stderr = _load(chromium, page)

    _assert_clean(probe, stderr)
    figures = {f["figure"]: f for f in probe["svgs"]}
    assert set(figures) == {
        "modalities-plot",
        "years-plot",
        "availability-plot",
        "containers-plot",
        "stale-plot",
    }
    for f in figures.values():
        assert f["width"] > 100 and f["height"] > 50 and f["shapes"] > 5, f
    # the tables show the summary's counts
    modalities = _table(dom, "modalities-table")
    assert {k: v[0] for k, v in modalities.items()} == dict(s.modality_rows)
    assert {k: v[1] for k, v in modalities.items()} == dict(s.modality_series)
    assert {k: v[0] for k, v in _table(dom, "years-table").items()} == dict(s.year_studies)
    assert {k: v[0] for k, v in _table(dom, "containers-table").items()} == dict(s.containers)
    assert {k: v[0] for k, v in _table(dom, "availability-table").items()} == dict(s.availability)
    assert (
        _table(dom, "stale-table") == {"PatientName": [12]} == {k: [v] for k, v in s.stale.items()}
    )  # every instance of the study whose name changed
    # the charts draw the same counts (bar labels) and categories (tick labels)
    texts = figures["modalities-plot"]["texts"]
    for modality, count in s.modality_rows.items():
        assert modality in texts and f"{count:,}" in texts
    # the incomplete study is named with what disagrees
    (row,) = dom.xpath('//table[@id="incomplete-table"]/tbody/tr')
    assert studies[1].study_instance_uid in row.text_content()
    assert "says 13, 12 instance records listed" in row.text_content()
    intro = dom.xpath("//h1/following-sibling::p")[0].text_content()
    assert f"{s.studies:,} studies" in intro and f"{s.instances:,} instance records" in intro


def test_summary_page_is_drawn(tmp_path: Path) -> None:
    chromium = _chromium()
    s = summarize([_write(tmp_path / "inv.dcm", _studies(4), "2.25.82")])
    page = render_summary_html(s, tmp_path / "summary.html")
    drawn, size = screenshot(chromium, page, tmp_path / "shot.png", (1200, 2400))
    assert drawn > 0.25 and size > 20_000, (drawn, size)  # white space between sections


def test_the_probe_sees_a_page_that_fetches(tmp_path: Path) -> None:
    """Control: fetches and console errors of a page are caught by the probe."""
    chromium = _chromium()
    page = tmp_path / "fetching.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title>"
        '<link rel="stylesheet" href="http://fonts.invalid/x.css"></head>'
        '<body><img src="http://images.invalid/x.png" alt="x">'
        '<script>console.error("boom"); null.x;</script></body></html>'
    )
    probe, _, _ = _load(chromium, page)
    assert any("images.invalid" in e for e in probe["errors"] + probe["resources"]), probe
    assert any("fonts.invalid" in e for e in probe["errors"] + probe["resources"]), probe
    assert "boom" in probe["errors"], probe
    assert any("null" in e for e in probe["errors"]), probe


def test_summary_command_prints_tables_and_writes_the_page(tmp_path: Path) -> None:
    studies = _studies(3)
    inv = _write(tmp_path / "inv.dcm", studies, "2.25.83")
    html = tmp_path / "out" / "summary.html"
    html.parent.mkdir()
    code = "from dicom_inventory.cli.summary import summary; summary(prog_name='summary')"
    done = subprocess.run(
        [sys.executable, "-c", code, str(inv), "--html", str(html), "--top", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert done.returncode == 0, done.stderr
    assert "3 studies, 9 series, 36 instance records" in done.stdout
    for heading in ("Modalities", "Study years", "Containers", "Largest studies"):
        assert heading in done.stdout
    assert studies[0].study_instance_uid in done.stdout
    assert html.exists() and not list(html.parent.glob("*.partial"))
    assert f"HTML page -> {html}" in done.stderr
    # JSON on request, the same figures
    done = subprocess.run(
        [sys.executable, "-c", code, str(inv), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["instances"] == 36


def test_summary_command_bad_input_is_one_line_and_usage_code(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from dicom_inventory.cli.summary import summary

    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 300)
    inv = _write(tmp_path / "inv.dcm", _studies(1), "2.25.84")
    nowhere = tmp_path / "no" / "such" / "dir" / "summary.html"
    cases = [
        ([str(tmp_path / "nosuch.dcm")], "nosuch.dcm: no such file"),
        ([str(junk)], "junk.dcm"),
        ([str(inv), "--html", str(nowhere)], f"{nowhere}: cannot write the HTML page"),
        ([str(inv), "--top", "-1"], "--top"),
    ]
    for args, said in cases:
        done = CliRunner().invoke(summary, args)
        assert done.exit_code == 2, (args, done.output)
        assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
        assert said in done.stderr.replace("\n", " "), (args, done.stderr)


def _diff_fixture(tmp_path: Path) -> tuple[Path, Path, list[StudyRecord]]:
    old = _studies(5)
    new = _studies(5)
    del new[4]  # a study missing at the destination: 12 instances missing
    series0 = list(new[0].series)
    series0[0] = replace(series0[0], instances=list(series0[0].instances)[:3])  # one missing
    new[0] = replace(new[0], series=series0)
    new[1] = replace(new[1], patient_id="OTHER")  # different at study level
    series2 = list(new[2].series)
    series2[1] = replace(series2[1], removed_from_operational_use="Y")  # removed changed
    new[2] = replace(new[2], series=series2)
    return (
        _write(tmp_path / "a.dcm", old, "2.25.91"),
        _write(tmp_path / "b.dcm", new, "2.25.92"),
        old,
    )


def test_diff_page_shows_missing_extra_changed_per_level(tmp_path: Path) -> None:
    chromium = _chromium()
    a, b, old = _diff_fixture(tmp_path)
    report = diff_inventories([a], [b], workdir=tmp_path, parallel=False)
    assert not report.identical
    page = render_diff_html(report, tmp_path / "diff.html")
    _no_fetch(page)

    probe, dom, stderr = _load(chromium, page)

    _assert_clean(probe, stderr)
    (fig,) = probe["svgs"]
    assert fig["figure"] == "diff-plot" and fig["width"] > 100 and fig["height"] > 50
    counts = _table(dom, "diff-counts")
    per_level: dict[str, Counter[str]] = {k: Counter() for k in DIFF_KINDS}
    for d in report.differences:
        per_level[d.kind][d.level] += 1
    totals = {
        "missing": report.missing,
        "extra": report.extra,
        "different": report.different,
        "count": report.count_mismatches,
        "removed": report.removed_changes,
    }
    for kind, label in DIFF_KINDS.items():
        lv = per_level[kind]
        assert counts[label] == [lv["STUDY"], lv["SERIES"], lv["INSTANCE"], totals[kind]], kind
    assert report.missing == 13 and report.removed_changes == 1
    verdict = dom.xpath('//p[contains(@class, "verdict")]')[0].text_content()
    assert verdict.startswith("DIFFERENT") and "13 missing" in verdict
    missing = dom.xpath('//table[@id="diff-missing-table"]')[0].text_content()
    assert old[4].study_instance_uid in missing
    different = dom.xpath('//table[@id="diff-different-table"]')[0].text_content()
    assert "patient_id" in different and "OTHER" in different


def test_identical_diff_page_says_so_without_a_chart(tmp_path: Path) -> None:
    chromium = _chromium()
    studies = _studies(2)
    a = _write(tmp_path / "a.dcm", studies, "2.25.93")
    b = _write(tmp_path / "b.dcm", studies, "2.25.94")
    report = diff_inventories([a], [b], workdir=tmp_path, parallel=False)
    page = render_diff_html(report, tmp_path / "diff.html")
    probe, dom, stderr = _load(chromium, page)
    _assert_clean(probe, stderr)
    assert probe["svgs"] == []
    verdict = dom.xpath('//p[contains(@class, "verdict")]')[0].text_content()
    assert verdict.startswith("IDENTICAL")
    assert all(v[-1] == 0 for v in _table(dom, "diff-counts").values())


def test_diff_page_says_what_was_outside_the_other_scope(tmp_path: Path) -> None:
    """Studies outside the other side's Scope of Inventory: named, neither missing nor extra."""
    studies = _studies(4)
    dates = ["20200601", "20210301", "20210901", "20220601"]
    dated = [replace(st, study_date=d) for st, d in zip(studies, dates, strict=True)]

    def scoped(path: Path, sts: list[StudyRecord], uid: str, dates: str) -> Path:
        header = InventoryHeader(
            uid,
            InventoryLevel.INSTANCE,
            content_date="20261207",
            content_time="100000",
            scope=ScopeOfInventory.from_keys({"StudyDate": dates}),
        )
        path.write_bytes(encode_inventory(header, sts))
        return path

    a = scoped(tmp_path / "a.dcm", dated[:3], "2.25.95", "20200101-20211231")
    b = scoped(tmp_path / "b.dcm", dated[1:], "2.25.96", "20210101-20221231")
    report = diff_inventories([a], [b], workdir=tmp_path, parallel=False)
    assert report.identical and report.source_outside == report.destination_outside == 12
    html = render_diff_html(report, tmp_path / "diff.html").read_text(encoding="utf-8")
    dom = lxml.html.fromstring(html.encode())
    said = " ".join(p.text_content() for p in dom.xpath("//p"))
    assert "IDENTICAL" in said
    assert "outside the other side's Scope of Inventory" in said
    assert "12 in the source only, 12 in the destination only" in said


def test_diff_command_writes_the_html_page(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from dicom_inventory.cli.diff import diff

    a, b, _ = _diff_fixture(tmp_path)
    page = tmp_path / "diff.html"
    done = CliRunner().invoke(diff, [str(a), str(b), "--html", str(page)])
    assert done.exit_code == 1 and "DIFFERENT" in page.read_text(encoding="utf-8")
