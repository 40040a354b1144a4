"""Test-kit results and their reports: JUnit XML (CI pipelines), JSON, and an HTML page.

Every test has an id, the section of the standard it checks, a result (pass, fail, not
applicable, error) and evidence: the DIMSE statuses and attributes seen, in plain words, so a
failed test names what was wrong.
"""

from __future__ import annotations

import datetime
import html
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from lxml import etree

__all__ = ["Outcome", "Report", "TestResult"]


class Outcome(str, Enum):
    """The result of one test."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not applicable"
    ERROR = "error"
    """The test could not run (e.g. the peer went away): neither pass nor fail."""


@dataclass
class TestResult:
    """One test: what it checks, where the standard says so, how it went, and why."""

    id: str
    title: str
    section: str
    outcome: Outcome
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Report:
    """The results of one run of the kit against one subject."""

    kind: str
    """``scp``, ``scu`` or ``files``."""
    subject: str
    results: list[TestResult] = field(default_factory=list)
    started: str = field(
        default_factory=lambda: datetime.datetime.now().isoformat(timespec="seconds")
    )

    def add(self, result: TestResult) -> TestResult:
        self.results.append(result)
        return result

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def passed(self) -> bool:
        """No test failed or erred (not-applicable ones do not count against the subject)."""
        return not (self.count(Outcome.FAIL) or self.count(Outcome.ERROR))

    def result(self, test_id: str) -> TestResult:
        for r in self.results:
            if r.id == test_id:
                return r
        raise KeyError(test_id)

    # -- formats ----------------------------------------------------------------------------
    def to_json(self) -> str:
        doc = {
            "kind": self.kind,
            "subject": self.subject,
            "started": self.started,
            "summary": {o.value: self.count(o) for o in Outcome},
            "passed": self.passed,
            "results": [{**asdict(r), "outcome": r.outcome.value} for r in self.results],
        }
        return json.dumps(doc, indent=2)

    def to_junit(self) -> bytes:
        suite = etree.Element(
            "testsuite",
            name=f"dicom-inventory testkit {self.kind}: {self.subject}",
            tests=str(len(self.results)),
            failures=str(self.count(Outcome.FAIL)),
            errors=str(self.count(Outcome.ERROR)),
            skipped=str(self.count(Outcome.NOT_APPLICABLE)),
            timestamp=self.started,
            time=f"{sum(r.seconds for r in self.results):.3f}",
        )
        for r in self.results:
            case = etree.SubElement(
                suite,
                "testcase",
                classname=f"testkit.{self.kind}",
                name=f"{r.id} {r.title} [{r.section}]",
                time=f"{r.seconds:.3f}",
            )
            text = "\n".join(r.evidence)
            if r.outcome is Outcome.FAIL:
                etree.SubElement(
                    case, "failure", message=r.evidence[0] if r.evidence else "failed"
                ).text = text
            elif r.outcome is Outcome.ERROR:
                etree.SubElement(
                    case, "error", message=r.evidence[0] if r.evidence else "error"
                ).text = text
            elif r.outcome is Outcome.NOT_APPLICABLE:
                etree.SubElement(case, "skipped", message=r.evidence[0] if r.evidence else "n/a")
            else:
                etree.SubElement(case, "system-out").text = text
        return bytes(
            etree.tostring(suite, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        )

    def to_html(self) -> str:
        colors = {
            Outcome.PASS: "#1e7d32",
            Outcome.FAIL: "#c62828",
            Outcome.NOT_APPLICABLE: "#6b7280",
            Outcome.ERROR: "#b45309",
        }
        rows = []
        for r in self.results:
            ev = "<br>".join(html.escape(e) for e in r.evidence)
            rows.append(
                f'<tr class="{r.outcome.name.lower()}"><td>{html.escape(r.id)}</td>'
                f"<td>{html.escape(r.title)}</td><td>{html.escape(r.section)}</td>"
                f'<td style="color:{colors[r.outcome]};font-weight:600">{r.outcome.value}</td>'
                f"<td>{ev}</td></tr>"
            )
        summary = " · ".join(f"{self.count(o)} {o.value}" for o in Outcome)
        verdict = "PASSED" if self.passed else "FAILED"
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>testkit {html.escape(self.kind)}: {html.escape(self.subject)}</title>
<style>
body {{ font-family: "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 75em; padding: 0 1.5em; color: #1d2330; }}
h1 {{ color: #163a5a; border-bottom: 3px solid #2b5b84; padding-bottom: .3em; overflow-wrap: anywhere; }}
.verdict {{ font-size: 1.3em; font-weight: 700; color: {"#1e7d32" if self.passed else "#c62828"}; }}
table {{ border-collapse: collapse; width: 100%; font-size: .92em; margin-top: 1em; }}
th, td {{ border: 1px solid #c8d3de; padding: .35em .5em; text-align: left; vertical-align: top; overflow-wrap: anywhere; }}
th {{ background: #2b5b84; color: white; white-space: nowrap; overflow-wrap: normal; }}
tr.fail td, tr.error td {{ background: #fdecea; }}
</style></head><body>
<h1>Inventory test kit ({html.escape(self.kind)}): {html.escape(self.subject)}</h1>
<p class="verdict">{verdict}</p><p>{html.escape(summary)}; started {html.escape(self.started)}</p>
<table><thead><tr><th>Test</th><th>Checks</th><th>Section</th><th>Result</th><th>Evidence</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``report.xml`` (JUnit), ``report.json`` and ``report.html`` into `folder`."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "report.xml", out / "report.json", out / "report.html"]
        paths[0].write_bytes(self.to_junit())
        paths[1].write_text(self.to_json(), encoding="utf-8")
        paths[2].write_text(self.to_html(), encoding="utf-8")
        return paths
