"""The atheris entry point runs (where atheris installs): a few inputs through each target."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.atheris_reader import one_input


@pytest.mark.parametrize("target", ["reader", "validate", "export-csv"])
def test_atheris_entry_point_runs_inputs(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    for data in (b"", b"\x01" * 64, b"\x00\x07" + bytes(range(256)), b"DICM" * 40):
        one_input(target, data, tmp_path)
