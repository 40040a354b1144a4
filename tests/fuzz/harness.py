"""Run sizes, hypothesis settings and the record of what each generative run found.

``DICOM_INVENTORY_FUZZ=long`` selects the long (nightly) run: :data:`LONG_FACTOR` times the
cases, random (not derandomised) draws, and every failing input saved under
``DICOM_INVENTORY_FUZZ_FOUND`` (default ``tests/fuzz/found/``, not tracked), one per distinct
failure.

A generative test draws its cases inside one hypothesis run and records each outcome in a
:class:`Findings`; after the run it calls :meth:`Findings.check`, which fails on any failure
that :mod:`tests.fuzz.known` does not list. Counts per target and per class of case go to the
terminal summary (see ``tests/fuzz/conftest.py``) and, with ``DICOM_INVENTORY_FUZZ_STATS``,
to a JSON file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

from tests.fuzz.known import known_for
from tests.fuzz.oracle import Outcome

__all__ = ["LONG", "LONG_FACTOR", "STATS", "Findings", "cases", "fuzz_settings"]

LONG = os.environ.get("DICOM_INVENTORY_FUZZ") == "long"
#: How many times more cases the long run draws.
LONG_FACTOR = 40
#: ``(target, class) -> cases`` of this session, for the summary.
STATS: Counter[tuple[str, str]] = Counter()
#: ``(target, class) -> failures`` of this session (known and unknown), for the summary.
FAILURES: Counter[tuple[str, str]] = Counter()


def cases(default: int) -> int:
    """Number of cases of a generative test: `default`, or the long run's."""
    return default * LONG_FACTOR if LONG else default


def fuzz_settings(default: int) -> settings:
    """Settings of a generative test: derandomised and bounded by default, no shrinking (the
    harness records failures instead of raising them), no deadline (2 shared cores)."""
    return settings(
        max_examples=cases(default),
        derandomize=not LONG,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _found_dir() -> Path:
    return Path(os.environ.get("DICOM_INVENTORY_FUZZ_FOUND", Path(__file__).parent / "found"))


@dataclass
class Findings:
    """The outcomes of one generative test."""

    save_to: Path
    """Where unknown failures are written (the test's tmp folder in the default run)."""
    unknown: dict[str, Path] = field(default_factory=dict)
    known: Counter[str] = field(default_factory=Counter)

    def record(
        self, outcome: Outcome, data: bytes, classes: Iterable[str], suffix: str = ".bin"
    ) -> None:
        """Count one case; keep its input (saved with `suffix`) if it failed."""
        labels = sorted(set(classes)) or ["seed"]
        for c in labels:
            STATS[(outcome.target, c)] += 1
        STATS[(outcome.target, "*")] += 1
        if outcome.ok:
            return
        failure = outcome.failure or ""
        FAILURES[(outcome.target, failure[:100])] += 1
        k = known_for(outcome.target, failure)
        signature = re.sub(r"\d+", "N", failure)[:80]
        if k is not None:
            self.known[k.name] += 1
            if LONG:
                self._save(outcome.target, data, signature, failure, _found_dir(), suffix)
            return
        if signature not in self.unknown:
            folder = (
                _found_dir() if LONG or "DICOM_INVENTORY_FUZZ_FOUND" in os.environ else self.save_to
            )
            self.unknown[signature] = self._save(
                outcome.target, data, signature, failure, folder, suffix
            )

    @staticmethod
    def _save(
        target: str, data: bytes, signature: str, failure: str, folder: Path, suffix: str
    ) -> Path:
        name = hashlib.sha1(signature.encode()).hexdigest()[:10]
        path = folder / target / f"{name}{suffix}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.with_name(path.name + ".txt").write_text(failure + "\n")
        return path

    def check(self) -> None:
        """Fail if any failure is not a known class; list each with its saved input."""
        assert not self.unknown, "failures not in tests/fuzz/known.py:\n" + "\n".join(
            f"  {sig}\n    input: {path}" for sig, path in self.unknown.items()
        )
