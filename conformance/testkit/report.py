"""Test-kit results and their reports: JUnit XML (CI pipelines), JSON, and an HTML page.

Every test has an id, the section of the standard it checks, a result (pass, fail, not
applicable, error) and evidence: the DIMSE statuses and attributes seen, in plain words, so a
failed test names what was wrong.
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

import junitparser
from dicom_inventory.scu.html import Cell, DataTable, Page, Paragraph, Row, render_page

__all__ = ["Outcome", "Report", "TestResult"]


class Outcome(str, Enum):
    """The result of one test."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not applicable"
    ERROR = "error"
    """The test could not run (e.g. the peer went away): neither pass nor fail."""


#: The renderer's verdict class of each outcome (its colour on the page).
_VERDICT = {
    Outcome.PASS: "good",
    Outcome.FAIL: "bad",
    Outcome.NOT_APPLICABLE: "neutral",
    Outcome.ERROR: "warn",
}


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
        """Record one result; return it."""
        self.results.append(result)
        return result

    def count(self, outcome: Outcome) -> int:
        """How many results have `outcome`."""
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def passed(self) -> bool:
        """No test failed or erred (not-applicable ones do not count against the subject)."""
        return not (self.count(Outcome.FAIL) or self.count(Outcome.ERROR))

    def result(self, test_id: str) -> TestResult:
        """The result of the check with id `test_id` (KeyError if none)."""
        for r in self.results:
            if r.id == test_id:
                return r
        raise KeyError(test_id)

    # -- formats ----------------------------------------------------------------------------
    def to_json(self) -> str:
        """The report as JSON: kind, subject, verdict and every result with its evidence."""
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
        """The run as JUnit XML, made with :mod:`junitparser`.

        It holds one ``<testsuite>``, a ``<testcase>`` per test (classname ``testkit.<kind>``,
        name ``<id> <title> [<section>]``, time in seconds); a failed test has ``<failure>``,
        an erred one ``<error>``, a not-applicable one ``<skipped>``, each with the first
        evidence line as its message and (but ``<skipped>``) every line as its text; a passed
        test has its evidence in ``<system-out>``.
        """
        suite = junitparser.TestSuite(f"dicom-inventory testkit {self.kind}: {self.subject}")
        suite.timestamp = self.started
        for r in self.results:
            case = junitparser.TestCase(
                f"{r.id} {r.title} [{r.section}]", f"testkit.{self.kind}", round(r.seconds, 3)
            )
            text = "\n".join(r.evidence)
            first = r.evidence[0] if r.evidence else ""
            if r.outcome is Outcome.FAIL:
                failure = junitparser.Failure(first or "failed")
                failure.text = text
                case.result = [failure]
            elif r.outcome is Outcome.ERROR:
                error = junitparser.Error(first or "error")
                error.text = text
                case.result = [error]
            elif r.outcome is Outcome.NOT_APPLICABLE:
                case.result = [junitparser.Skipped(first or "n/a")]
            else:
                case.system_out = text
            suite.add_testcase(case)  # counts tests, failures, errors, skipped and time
        out = io.BytesIO()
        suite.write(out, pretty=True)
        return out.getvalue()

    def to_html(self) -> str:
        """The run as a standalone HTML page, made by the project's one HTML renderer.

        The renderer is :mod:`dicom_inventory.scu.html`. The page shows the verdict, the
        counts, and a row per test whose id never wraps and whose evidence shows one line per
        item.
        """
        verdict = "good" if self.passed else "bad"
        rows = [
            Row(
                [
                    Cell(r.id, "id"),
                    Cell(r.title),
                    Cell(r.section),
                    Cell(r.outcome.value, _VERDICT[r.outcome]),
                    Cell(r.evidence, "lines"),
                ],
                _VERDICT[r.outcome] if r.outcome in (Outcome.FAIL, Outcome.ERROR) else "",
            )
            for r in self.results
        ]
        summary = " · ".join(f"{self.count(o)} {o.value}" for o in Outcome)
        page = Page(
            title=f"testkit {self.kind}: {self.subject}",
            heading=f"Inventory test kit ({self.kind}): {self.subject}",
            blocks=[
                Paragraph("PASSED" if self.passed else "FAILED", f"verdict {verdict}"),
                Paragraph(f"{summary}; started {self.started}"),
                DataTable(
                    "results",
                    "",
                    [
                        Cell("Test", "id"),
                        Cell("Checks"),
                        Cell("Section"),
                        Cell("Result"),
                        Cell("Evidence"),
                    ],
                    rows,
                ),
            ],
        )
        return render_page(page)

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``report.xml`` (JUnit), ``report.json`` and ``report.html`` into `folder`."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "report.xml", out / "report.json", out / "report.html"]
        paths[0].write_bytes(self.to_junit())
        paths[1].write_text(self.to_json(), encoding="utf-8")
        paths[2].write_text(self.to_html(), encoding="utf-8")
        return paths
