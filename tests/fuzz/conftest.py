"""The fuzz harness's summary: cases run per target and per class, failures seen."""

from __future__ import annotations

import json
import os
from typing import Any

from tests.fuzz.harness import FAILURES, LONG, STATS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS:
        return
    tr = terminalreporter
    tr.section(f"fuzz: cases per target and class ({'long' if LONG else 'default'} run)")
    for target in sorted({t for t, _ in STATS}):
        classes = ", ".join(
            f"{c} {n}" for (t, c), n in sorted(STATS.items()) if t == target and c != "*"
        )
        tr.write_line(f"{target}: {STATS[(target, '*')]} cases ({classes})")
    for (target, failure), n in sorted(FAILURES.items()):
        tr.write_line(f"  {n} x {target}: {failure}")
    out = os.environ.get("DICOM_INVENTORY_FUZZ_STATS")
    if out:
        with open(out, "w") as f:
            json.dump(
                {
                    "cases": {f"{t}/{c}": n for (t, c), n in sorted(STATS.items())},
                    "failures": {f"{t}: {x}": n for (t, x), n in sorted(FAILURES.items())},
                },
                f,
                indent=2,
            )
