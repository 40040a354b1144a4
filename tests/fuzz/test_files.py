"""Generative fuzzing of the file targets: reader, validator, export (CSV, Parquet), ingest.

Inputs are our own encoder's output (seed inventories, hypothesis records, edge integers) and
synthetic archive files (plain and every container type), mutated at byte level by
:mod:`tests.fuzz.mutate`. Every case goes through :func:`tests.fuzz.oracle.judge`; failures of
a class listed in :mod:`tests.fuzz.known` are counted, any other fails the test with the saved
input. Sizes: :func:`tests.fuzz.harness.cases` (``DICOM_INVENTORY_FUZZ=long`` for thousands).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.corpus import archive_seeds, edge_inventories, inventories, inventory_seeds
from tests.fuzz.harness import Findings, fuzz_settings
from tests.fuzz.mutate import KINDS, Mutation, apply
from tests.fuzz.oracle import Outcome, judge
from tests.fuzz.targets import FILE_TARGETS, stage

mutations = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1)),
    min_size=1,
    max_size=4,
)
INVENTORY_TARGETS = ("reader", "validate", "export-csv", "export-parquet")


def run(target: str, data: bytes, work: Path, name: str = "input.dcm") -> Outcome:
    """One case: `data` staged as a file `name` in a fresh folder, through `target`."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"source-{name}"
    source.write_bytes(data)
    path = stage(source, work, name=name, unzip=False)
    return judge(target, lambda: FILE_TARGETS[target](path, work))


@pytest.mark.parametrize(
    ("target", "n"),
    [("reader", 100), ("validate", 80), ("export-csv", 40), ("export-parquet", 40)],
)
def test_mutated_inventories(target: str, n: int, tmp_path: Path) -> None:
    seeds = inventory_seeds()
    findings = Findings(tmp_path / "found")

    @fuzz_settings(n)
    @given(seed=st.integers(0, len(seeds) - 1), muts=mutations)
    def case(seed: int, muts: list[Mutation]) -> None:
        data = apply(seeds[seed][1], muts)
        findings.record(run(target, data, tmp_path / "case"), data, [m[0] for m in muts])

    case()
    findings.check()


@pytest.mark.parametrize("target", INVENTORY_TARGETS)
def test_encoder_output(target: str, tmp_path: Path) -> None:
    """What our encoder writes from any records, and at the integer edges, is read, judged
    and exported (no mutation: the harness's control group)."""
    findings = Findings(tmp_path / "found")

    @fuzz_settings(10)
    @given(data=inventories() | edge_inventories())
    def case(data: bytes) -> None:
        findings.record(run(target, data, tmp_path / "case"), data, ["encoder"])

    case()
    findings.check()


def test_mutated_archive_files_ingest(tmp_path: Path) -> None:
    """A mutated plain file or container beside a valid object: ingest reports the bad one,
    indexes the good one, and production then accepts everything indexed."""
    seeds = archive_seeds()
    findings = Findings(tmp_path / "found")

    @fuzz_settings(60)
    @given(seed=st.integers(0, len(seeds) - 1), muts=mutations)
    def case(seed: int, muts: list[Mutation]) -> None:
        suffix, original = seeds[seed]
        data = apply(original, muts)
        outcome = run("ingest", data, tmp_path / "case", name=f"input{suffix}")
        findings.record(outcome, data, [suffix, *(m[0] for m in muts)], suffix=suffix)

    case()
    findings.check()
