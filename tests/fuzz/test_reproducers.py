"""Every saved reproducer of a file target, replayed through its target under the oracle.

``tests/fuzz/reproducers/<target>/<name>`` with a one-line ``<name>.txt`` saying what it broke.
A reproducer listed in :mod:`tests.fuzz.known` is an ``xfail(strict=False)`` until its fix
lands; the rest must pass. Bombs and the command-line targets run in a child process whose
peak RSS is measured (:mod:`tests.fuzz.replay`). The DIMSE reproducers (``dimse-*``) are
replayed by ``tests/fuzz/test_dimse.py``, against its node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.known import KNOWN, reason_for
from tests.fuzz.replay import REPRODUCERS, replay, reproducers
from tests.fuzz.targets import FILE_TARGETS


def _params() -> list[Any]:
    out: list[Any] = []
    for path in reproducers():
        if path.parent.name.startswith("dimse-"):
            continue
        rel = path.relative_to(REPRODUCERS).as_posix()
        reason = reason_for(rel)
        marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
        out.append(pytest.param(path, id=rel, marks=marks))
    return out


@pytest.mark.parametrize("path", _params())
def test_reproducer(path: Path, tmp_path: Path) -> None:
    outcome = replay(path, tmp_path)
    why = path.with_name(path.name + ".txt").read_text().strip()
    assert outcome.ok, f"{outcome.failure}\n  reproducer: {path.name}: {why}"


def test_every_reproducer_says_what_it_broke_and_names_a_target() -> None:
    targets = {*FILE_TARGETS, "cli-validate"} | {
        p.parent.name for p in REPRODUCERS.glob("dimse-*/*")
    }
    for path in reproducers():
        assert path.parent.name in targets, path
        text = path.with_name(path.name + ".txt").read_text()
        assert len(text.strip().splitlines()) == 1, path


def test_known_lists_only_existing_reproducers() -> None:
    for k in KNOWN:
        for rel in k.reproducers:
            assert (REPRODUCERS / rel).is_file(), rel
