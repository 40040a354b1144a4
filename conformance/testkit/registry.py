"""A kit's checks as data: one small function per check, with what it judges and when.

Each :class:`Check` carries its id, title, the section of the standard it judges, when it
applies (in words, for the documentation, and as a predicate) and the facts it needs from
earlier checks. A check function returns a :class:`Verdict`: the outcome, the evidence in plain
words, and the facts it established for later checks (the inventory it produced, what it
retrieved). No check writes shared state: the runner alone records facts, each once, and hands
every check a read-only view, so a check that did not run cannot be mistaken for one that
passed — a check whose facts are missing is NOT APPLICABLE, naming the check that provides them.

The registry also renders the kit's own documentation (:meth:`Registry.markdown`), so the
page that tells a vendor what each check judges is the list the kit runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from dicom_inventory.conformance.testkit.report import Outcome, Report, TestResult

__all__ = [
    "Check",
    "Facts",
    "Registry",
    "Verdict",
    "failed",
    "judged",
    "not_applicable",
    "passed",
]

C = TypeVar("C")
#: What earlier checks established, read-only.
Facts = Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    """What one check found."""

    outcome: Outcome
    evidence: list[str] = field(default_factory=list)
    facts: Mapping[str, Any] = field(default_factory=dict)
    """Facts for later checks; only names the check declares in ``provides``."""


def passed(*evidence: str, **facts: Any) -> Verdict:
    """A PASS verdict with its evidence and the facts it establishes."""
    return Verdict(Outcome.PASS, list(evidence), facts)


def failed(*evidence: str, **facts: Any) -> Verdict:
    """A FAIL verdict: the evidence names what was wrong."""
    return Verdict(Outcome.FAIL, list(evidence), facts)


def not_applicable(*evidence: str, **facts: Any) -> Verdict:
    """A NOT APPLICABLE verdict: the evidence says why the check could not judge."""
    return Verdict(Outcome.NOT_APPLICABLE, list(evidence), facts)


def judged(problems: Iterable[str], evidence: Iterable[str] = (), **facts: Any) -> Verdict:
    """FAIL with the problems first when there are any, else PASS; evidence follows."""
    problems = list(problems)
    return Verdict(Outcome.FAIL if problems else Outcome.PASS, [*problems, *evidence], facts)


@dataclass(frozen=True)
class Check(Generic[C]):
    """One check of a kit."""

    id: str
    title: str
    section: str
    """The section(s) of the standard it judges, e.g. ``PS3.4 KK.2.2.3``."""
    applies: str
    """When it applies, in words (the documentation)."""
    run: Callable[[C, Facts], Verdict]
    needs: tuple[str, ...] = ()
    """Facts it needs from earlier checks; missing ones make it NOT APPLICABLE."""
    provides: tuple[str, ...] = ()
    """Facts it may establish for later checks."""
    when: Callable[[C, Facts], str | None] | None = None
    """Returns why the check does not apply here (NOT APPLICABLE), or ``None``."""


class Registry(Generic[C]):
    """The ordered checks of one kit (``scp``, ``scu``), and how they are run.

    Parameters
    ----------
    kind : str
        The kit, as in :attr:`Report.kind`.
    errors : tuple of exception types
        Exceptions meaning "the check could not run" (the peer went away, a timeout): the
        check is an ERROR, neither pass nor fail, and the run goes on.
    on_error : callable, optional
        Turns one of `errors` into a verdict where it means something else (e.g. an abort by
        the peer answering a request, which fails the check).
    """

    def __init__(
        self,
        kind: str,
        errors: tuple[type[BaseException], ...] = (),
        on_error: Callable[[BaseException], Verdict | None] | None = None,
    ) -> None:
        self.kind = kind
        self.checks: list[Check[C]] = []
        self.errors = errors
        self.on_error = on_error

    def check(
        self,
        id: str,
        title: str,
        section: str,
        *,
        applies: str,
        needs: tuple[str, ...] = (),
        provides: tuple[str, ...] = (),
        when: Callable[[C, Facts], str | None] | None = None,
    ) -> Callable[[Callable[[C, Facts], Verdict]], Callable[[C, Facts], Verdict]]:
        """Register the decorated function as a check."""

        def register(fn: Callable[[C, Facts], Verdict]) -> Callable[[C, Facts], Verdict]:
            if any(c.id == id for c in self.checks):
                raise ValueError(f"{self.kind} kit: check id {id!r} registered twice")
            self.checks.append(Check(id, title, section, applies, fn, needs, provides, when))
            return fn

        return register

    def producer(self, fact: str) -> str:
        """The id of the check that provides `fact`."""
        return next((c.id for c in self.checks if fact in c.provides), "no check")

    def run(self, context: C, report: Report) -> Report:
        """Run every check in order into `report`."""
        facts: dict[str, Any] = {}
        view = MappingProxyType(facts)
        for c in self.checks:
            t0 = time.monotonic()
            verdict = self._one(c, context, view)
            for name, value in verdict.facts.items():
                if name not in c.provides or name in facts:
                    raise RuntimeError(f"{c.id}: fact {name!r} not declared or already set")
                facts[name] = value
            report.add(
                TestResult(
                    c.id,
                    c.title,
                    c.section,
                    verdict.outcome,
                    list(verdict.evidence),
                    time.monotonic() - t0,
                )
            )
        return report

    def _one(self, c: Check[C], context: C, facts: Facts) -> Verdict:
        missing = [n for n in c.needs if n not in facts]
        if missing:
            return not_applicable(
                *(f"needs {n}, which {self.producer(n)} establishes when it runs" for n in missing)
            )
        if c.when is not None:
            why = c.when(context, facts)
            if why is not None:
                return not_applicable(why)
        try:
            return c.run(context, facts)
        except self.errors as exc:
            mapped = self.on_error(exc) if self.on_error is not None else None
            return mapped or Verdict(Outcome.ERROR, [f"{type(exc).__name__}: {exc}"])

    def markdown(self) -> str:
        """The kit's checks as a Markdown table: id, what it judges, section, when it applies."""
        rows = [
            f"# `testkit {self.kind}` checks",
            "",
            "Generated from the kit's registry (`dicom-inventory testkit checks "
            f"{self.kind}`); the kit runs them in this order.",
            "",
            "| Id | Judges | Section | Applies when |",
            "|---|---|---|---|",
        ]
        for c in self.checks:
            rows.append(f"| `{c.id}` | {c.title} | {c.section} | {c.applies} |")
        return "\n".join(rows) + "\n"
