"""The one HTML renderer (Jinja2 templates, one stylesheet) of the statement and the report.

Pages are checked as text (escaping, structure, the shared stylesheet), as installed package
data (the templates in a built wheel, found through importlib.resources), and as drawn by
headless Chromium at its default window width: a small script measures the laid-out page on
load (how many lines each test id takes, whether any ordinary word is split across lines,
whether a table overflows the page) and leaves the result in a data attribute that
``--dump-dom`` reads back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import tomllib
from dicom_inventory.conformance import Product, build_statement, to_docbook, to_html
from dicom_inventory.conformance.testkit.report import Outcome, Report
from dicom_inventory.conformance.testkit.report import TestResult as Result
from dicom_inventory.scp.config import load_config
from dicom_inventory.scu.html import (
    BulletList,
    Cell,
    DataTable,
    Page,
    PageSection,
    Paragraph,
    Row,
    render_page,
    stylesheet,
    templates,
)
from lxml import etree

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]

LONG_ID = "Q-RQ-PAGING-CONTINUATION"
EVIDENCE = [
    "Repository Query: a page of 14 records although Maximum Number of Records was 10 <b>&</b>",
    "Prior Record Key " + ".".join(["1.2.840.10008.5.1.4.1.1.201"] * 5) + " was not honoured",
    "raw response " + "0123456789abcdef" * 20,
    "the SCU waited 30 s for a further response after 0xB001 and then gave up the association",
]

#: Runs on load: measures the laid-out page and writes the result into <body data-measure>.
MEASURE = """<script>
addEventListener("load", () => {
  const tops = (range) => new Set([...range.getClientRects()].filter((r) => r.width > 0)
    .map((r) => Math.round(r.top))).size;
  const lines = (node) => { const r = document.createRange(); r.selectNodeContents(node);
    return tops(r); };
  const ids = [...document.querySelectorAll("td.id")];
  const brokenWords = [];
  const prose = "td:not(.code):not(.lines), th, p, li, caption, h1, h2, h3, h4, h5, h6";
  for (const el of document.querySelectorAll(prose)) {
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const word = /[^\\s\\-\\/]+/g;
      for (let m = word.exec(n.data); m; m = word.exec(n.data)) {
        const r = document.createRange();
        r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
        if (tops(r) > 1) brokenWords.push(m[0]);
      }
    }
  }
  const right = document.body.getBoundingClientRect().right;
  document.body.dataset.measure = JSON.stringify({
    width: innerWidth,
    tables: document.querySelectorAll("table").length,
    ids: ids.length,
    wrappedIds: ids.filter((td) => lines(td) > 1).map((td) => td.textContent),
    idLines: ids.map(lines),
    brokenWords: [...new Set(brokenWords)],
    overflowing: [...document.querySelectorAll("table")]
      .filter((t) => t.getBoundingClientRect().right > right + 1).map((t) => t.id),
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
    return require_tool("chromium")  # skips, with the install command


def _measure(chromium: str, html: str, folder: Path, width: int | None = None) -> dict[str, Any]:
    """Lay `html` out in headless Chromium (default window unless `width`) and measure it."""
    page = folder / "page.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    size = [] if width is None else [f"--window-size={width},900"]
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", *size, "--dump-dom"]
        + [page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = lxml.html.fromstring(done.stdout).find("body")
    assert body is not None and body.get("data-measure"), done.stderr[-2000:]
    result: dict[str, Any] = json.loads(body.get("data-measure", ""))
    result["dom"] = done.stdout
    return result


def _report() -> Report:
    report = Report("scp", "ACME_VNA@127.0.0.1:104", started="2025-01-01T10:00:00")
    report.add(
        Result(
            LONG_ID,
            "Repository Query continues after the Prior Record Key",
            "PS3.4 C.6.4.5.3",
            Outcome.FAIL,
            EVIDENCE,
            1.5,
        )
    )
    report.add(Result("U-INITIATE", "Initiate", "PS3.4 KK.2.2", Outcome.PASS, ["0x0000"], 0.25))
    report.add(Result("E-ECHO", "Verification", "PS3.4 A", Outcome.ERROR, [], 0.0))
    report.add(Result("A-NEGOTIATE-STORAGE", "Storage", "PS3.7 D", Outcome.NOT_APPLICABLE, ["off"]))
    return report


def _statement_html() -> tuple[str, int]:
    doc = build_statement(load_config(archive=Path("/srv/archive")), Product(date="2025-01-01"))
    tables = sum(1 for s in doc.walk() for b in s.blocks if hasattr(b, "rows"))
    return to_html(to_docbook(doc)), tables


# ------------------------------------------------------------------------ as text
def test_every_text_is_escaped() -> None:
    evil = "<script>alert('x')</script> & \"q\""
    page = render_page(
        Page(
            title=evil,
            heading=evil,
            intro=[Paragraph(evil, "verdict good")],
            blocks=[
                BulletList([evil]),
                DataTable("t", evil, [Cell(evil)], [Row([Cell([evil, evil], "lines")], "bad")]),
                PageSection("s", evil, 2, [Paragraph(evil)]),
            ],
        )
    )
    assert "<script>" not in page and "alert(" in page
    assert page.count("&lt;script&gt;") == 10
    line = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;q&#34;"
    assert f'<td class="lines">{line}<br>{line}</td>' in page


def test_the_page_model_says_what_it_expected() -> None:
    with pytest.raises(ValueError, match="has 2 cells, expected 1"):
        DataTable("t", "", [Cell("a")], [Row([Cell("a"), Cell("b")])])
    with pytest.raises(ValueError, match="heading level 7, expected 2 to 6"):
        PageSection("s", "deep", 7)


def test_statement_and_report_share_the_one_stylesheet() -> None:
    css = stylesheet()
    statement, _ = _statement_html()
    report = _report().to_html()
    for page in (statement, report):
        assert page.startswith("<!DOCTYPE html>") and f"<style>\n{css}" in page
    # words never break mid-word: no break-all; ids never wrap; only UID cells and evidence
    # lines may break a long string
    assert "break-all" not in css and "word-break" not in css
    assert re.search(r"th\.id, td\.id \{ white-space: nowrap; \}", css)
    assert re.search(r"td\.lines \{ overflow-wrap: anywhere; \}", css)
    assert re.search(r"@media \(max-width: [\d.]+em\) \{ td\.code \{ overflow-wrap: anywhere", css)


def test_statement_cells_of_uids_and_nothing_else_are_marked_code() -> None:
    page, _ = _statement_html()
    tree = lxml.html.fromstring(page)
    code = tree.xpath("//td[@class='code']")
    assert code and all(re.fullmatch(r"[\d.]+(, [\d.]+)*", td.text_content()) for td in code)
    assert "1.2.840.10008.1.1" in {td.text_content() for td in code}  # Verification
    plain = tree.xpath("//td[not(@class)]")
    assert not any(re.fullmatch(r"[012](\.\d+){3,}", td.text_content()) for td in plain)


def test_report_html_has_a_row_per_test_with_evidence_one_per_line() -> None:
    report = _report()
    tree = lxml.html.fromstring(report.to_html())
    assert tree.findtext(".//p[@class='verdict bad']") == "FAILED"
    rows = tree.xpath("//table[@id='results']/tbody/tr")
    assert [r.xpath("string(td[@class='id'])") for r in rows] == [r.id for r in report.results]
    assert [r.get("class") for r in rows] == ["bad", None, "warn", None]
    assert [r.xpath("string(td[4])") for r in rows] == [r.outcome.value for r in report.results]
    evidence = rows[0].find("td[@class='lines']")
    assert len(evidence.findall("br")) == len(EVIDENCE) - 1
    assert [evidence.text, *(br.tail for br in evidence.findall("br"))] == EVIDENCE  # unescaped
    assert "<b>&amp;</b>" not in report.to_html() and "&lt;b&gt;&amp;&lt;/b&gt;" in report.to_html()


def test_junit_has_the_suite_cases_and_results_of_the_report() -> None:
    report = _report()
    suite = etree.fromstring(report.to_junit())
    assert suite.tag == "testsuite"
    assert suite.get("name") == "dicom-inventory testkit scp: ACME_VNA@127.0.0.1:104"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    assert suite.get("skipped") == "1" and suite.get("timestamp") == "2025-01-01T10:00:00"
    assert float(suite.get("time", "")) == pytest.approx(1.75)
    cases = suite.findall("testcase")
    assert {c.get("classname") for c in cases} == {"testkit.scp"}
    assert (
        cases[0].get("name")
        == f"{LONG_ID} Repository Query continues after the Prior Record Key [PS3.4 C.6.4.5.3]"
    )
    assert float(cases[0].get("time", "")) == pytest.approx(1.5)
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == EVIDENCE[0]
    assert failure.text == "\n".join(EVIDENCE)
    assert cases[1].findtext("system-out") == "0x0000" and not cases[1].findall("failure")
    error = cases[2].find("error")
    assert error is not None and error.get("message") == "error"
    skipped = cases[3].find("skipped")
    assert skipped is not None and skipped.get("message") == "off"


# ------------------------------------------------------------------------ as installed
def test_templates_are_package_data_found_through_importlib_resources() -> None:
    names = sorted(p.name for p in templates().iterdir() if p.is_file())
    assert {"page.html.j2", "blocks.html.j2", "style.css"} <= set(names)
    assert [n for n in names if n.endswith(".css")] == ["style.css"]  # one stylesheet
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["dicom_inventory.scu"]
    for name in names:
        assert any(fnmatch(f"templates/{name}", g) for g in globs), (name, globs)
    assert any(d.lower().startswith("jinja2") for d in pyproject["project"]["dependencies"])


def test_the_built_wheel_carries_the_templates_and_renders_from_them(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("dicom_inventory-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in sorted(p.name for p in templates().iterdir() if p.is_file()):
        assert f"dicom_inventory/scu/templates/{template}" in names
    # import the package from the wheel itself (zipimport), not from the work tree
    code = (
        "import dicom_inventory.scu.html as h; "
        f"assert h.__file__.startswith({str(wheel)!r}), h.__file__; "
        "print(h.render_page(h.Page('T', 'Heading <1>')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(wheel)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "<h1>Heading &lt;1&gt;</h1>" in done.stdout and "white-space: nowrap" in done.stdout


# ------------------------------------------------------------------------ as drawn
def test_report_in_a_browser_ids_never_wrap_and_the_table_fits(tmp_path: Path) -> None:
    chromium = _chromium()
    report = _report()
    m = _measure(chromium, report.to_html(), tmp_path)
    assert m["tables"] == 1 and m["ids"] == len(report.results), m
    assert m["wrappedIds"] == [] and set(m["idLines"]) == {1}, m
    assert m["brokenWords"] == [] and m["overflowing"] == [], m
    dom = m["dom"]
    for word in ("FAILED", "fail", "pass", "error", "not applicable", LONG_ID, "U-INITIATE"):
        assert word in dom, word
    # the evidence stays text, one line per item
    assert (
        "<br>".join(
            e.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for e in EVIDENCE
        )
        in dom
    )


def test_statement_in_a_browser_keeps_words_whole_and_tables_inside(tmp_path: Path) -> None:
    chromium = _chromium()
    html, tables = _statement_html()
    m = _measure(chromium, html, tmp_path)  # the default window
    assert m["tables"] == tables > 20, m
    assert m["brokenWords"] == [] and m["overflowing"] == [], m
    for words in ("Table of Contents", "Network Services", "Yes", "No", "Accepted Presentation"):
        assert words in m["dom"], words
    # narrower than the UIDs' tables need: UID cells break where they must, words stay whole
    narrow = _measure(chromium, html, tmp_path, width=700)
    assert narrow["brokenWords"] == [] and narrow["overflowing"] == [], narrow
