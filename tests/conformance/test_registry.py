"""The check registry: facts flow only through the runner, a missing fact is NOT APPLICABLE
naming its producer, exceptions of the peer are ERRORs, not verdicts."""

from __future__ import annotations

import pytest
from dicom_inventory.conformance.testkit.registry import (
    Registry,
    Verdict,
    failed,
    not_applicable,
    passed,
)
from dicom_inventory.conformance.testkit.report import Outcome, Report


def _registry() -> Registry[list[str]]:
    reg: Registry[list[str]] = Registry("demo", errors=(OSError,))

    @reg.check("X-MAKE", "makes a fact", "PS3.4 X", applies="always", provides=("made",))
    def make(ctx: list[str], facts: object) -> Verdict:
        if "no-fact" in ctx:
            return not_applicable("nothing made")
        return passed("made it", made=42)

    @reg.check("X-USE", "uses it", "PS3.4 Y", applies="X-MAKE made it", needs=("made",))
    def use(ctx: list[str], facts: object) -> Verdict:
        return passed(f"got {facts['made']}")  # type: ignore[index]

    @reg.check(
        "X-PEER",
        "talks to a peer",
        "PS3.4 Z",
        applies="unless told not to",
        when=lambda ctx, facts: "skip" if "skip" in ctx else None,
    )
    def peer(ctx: list[str], facts: object) -> Verdict:
        if "down" in ctx:
            raise ConnectionRefusedError("the peer went away")
        return failed("it answered wrongly")

    return reg


def test_a_fact_reaches_the_checks_after_its_producer() -> None:
    report = _registry().run([], Report("demo", "x"))
    assert [(r.id, r.outcome) for r in report.results] == [
        ("X-MAKE", Outcome.PASS),
        ("X-USE", Outcome.PASS),
        ("X-PEER", Outcome.FAIL),
    ]
    assert report.result("X-USE").evidence == ["got 42"]


def test_a_missing_fact_is_not_applicable_and_names_its_producer() -> None:
    report = _registry().run(["no-fact", "skip"], Report("demo", "x"))
    use = report.result("X-USE")
    assert use.outcome is Outcome.NOT_APPLICABLE
    assert use.evidence == ["needs made, which X-MAKE establishes when it runs"]
    assert report.result("X-PEER").outcome is Outcome.NOT_APPLICABLE


def test_a_peer_error_is_an_error_not_a_verdict() -> None:
    peer = _registry().run(["down"], Report("demo", "x")).result("X-PEER")
    assert peer.outcome is Outcome.ERROR
    assert peer.evidence == ["ConnectionRefusedError: the peer went away"]


def test_facts_are_declared_and_set_once() -> None:
    reg: Registry[None] = Registry("demo")

    @reg.check("Y", "undeclared", "-", applies="always")
    def y(ctx: None, facts: object) -> Verdict:
        return passed(sneaky=1)

    with pytest.raises(RuntimeError, match="fact 'sneaky' not declared"):
        reg.run(None, Report("demo", "x"))
    with pytest.raises(ValueError, match="registered twice"):
        reg.check("Y", "again", "-", applies="always")(y)


def test_the_documentation_lists_every_check() -> None:
    text = _registry().markdown()
    assert "| `X-USE` | uses it | PS3.4 Y | X-MAKE made it |" in text
