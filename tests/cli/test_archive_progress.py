"""Progress of ``archive synth``, ``archive ingest`` and ``create`` (issue 21).

The library reports progress through plain callables (never a display of its own); the CLI
draws the one progress display of :func:`dicom_inventory.cli.options.progress` on a terminal.
Library tests check that the callbacks come with growing counts up to the totals; CLI tests
run the real commands on a pseudo-terminal and check that the bar, ``done/total`` and the
rate are drawn and the command ends well. Before: ``create`` and ``synth`` showed nothing,
``ingest`` a bar without total, rate or time left.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.ingest import count_files
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.production.partitioned import produce_partitioned

from tests.cli.terminal import Terminal

STUDIES, SERIES, INSTANCES = 6, 2, 3
TOTAL = STUDIES * SERIES * INSTANCES


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[int]]]:
    """An archive made by :func:`synthesize`, and the counts its progress was called with."""
    folder = tmp_path_factory.mktemp("progress") / "arch"
    calls: dict[str, list[tuple[int, int]]] = {}
    with Archive(folder, create=True) as a:
        synthesize(
            a,
            studies=STUDIES,
            series_per_study=SERIES,
            instances_per_series=INSTANCES,
            progress=lambda step, done, total: calls.setdefault(step, []).append((done, total)),
        )
    totals = {step: {t for _, t in seen} for step, seen in calls.items()}
    assert totals["writing"] == totals["indexing"] == {TOTAL}
    return folder, {step: [d for d, _ in seen] for step, seen in calls.items()}


def _growing(counts: list[int], last: int) -> None:
    assert counts, "never called"
    assert counts == sorted(counts), counts
    assert counts[-1] == last


def test_synth_reports_each_step_with_growing_counts(
    synthesized: tuple[Path, dict[str, list[int]]],
) -> None:
    _, calls = synthesized
    assert list(calls) == ["writing", "indexing", "updating"]  # in the order they run
    _growing(calls["writing"], TOTAL)
    _growing(calls["indexing"], TOTAL)
    assert calls["indexing"] == list(range(1, TOTAL + 1))  # once per object
    _growing(calls["updating"], calls["updating"][-1])


def test_ingest_calls_on_file_once_per_counted_file(
    synthesized: tuple[Path, dict[str, list[int]]], tmp_path: Path
) -> None:
    folder, _ = synthesized
    store = folder / "store"
    files = count_files([store])
    assert files == sum(1 for p in store.rglob("*") if p.is_file())
    read: list[int] = []
    found: list[object] = []
    with Archive(tmp_path / "again", create=True) as a:
        report = a.ingest([store], progress=found.append, on_file=lambda: read.append(1))
    assert len(read) == files
    assert len(found) == report.added + report.known + len(report.errors) == TOTAL


def test_partitioned_production_reports_growing_study_counts(
    synthesized: tuple[Path, dict[str, list[int]]], tmp_path: Path
) -> None:
    folder, _ = synthesized
    seen: list[int] = []
    _, parts = produce_partitioned(
        functools.partial(Archive, folder),
        tmp_path / "inv",
        level="INSTANCE",
        partitions=3,
        progress=seen.append,
    )
    assert seen[0] == 0  # shown at once, before the first record
    _growing(seen, STUDIES)
    assert sum(p.study_records for p in parts) == STUDIES


def test_partitioned_production_on_dask_reports_growing_study_counts(
    synthesized: tuple[Path, dict[str, list[int]]], tmp_path: Path
) -> None:
    folder, _ = synthesized
    seen: list[int] = []
    out = tmp_path / "inv"
    produce_partitioned(
        functools.partial(Archive, folder),
        out,
        level="INSTANCE",
        partitions=3,
        dask="local",
        progress=seen.append,
    )
    _growing(seen, STUDIES)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no progress file


# -- the CLI on a terminal -----------------------------------------------------------------
def _drawn(t: Terminal, description: str, unit: str, total: int) -> None:
    """The command ended well, having drawn a bar with done/total and a rate in `unit`."""
    code = t.finish()
    assert code == 0, t.text
    assert "Traceback" not in t.text, t.text
    assert re.search(rf"{description}.*\d+/{total} .*{unit}/s", t.text), t.text


def test_synth_draws_a_bar_per_step(tmp_path: Path) -> None:
    t = Terminal(
        "archive", "synth", "--archive", tmp_path / "a", "--studies", STUDIES,
        "--series-per-study", SERIES, "--instances-per-series", INSTANCES,
    )  # fmt: skip
    _drawn(t, "writing images", "instances", TOTAL)
    assert re.search(rf"indexing .*\d+/{TOTAL} ", t.text), t.text


def test_ingest_draws_a_bar_of_files_read(
    synthesized: tuple[Path, dict[str, list[int]]], tmp_path: Path
) -> None:
    folder, _ = synthesized
    files = count_files([folder / "store"])
    t = Terminal("archive", "ingest", "--archive", tmp_path / "b", folder / "store")
    _drawn(t, "indexing", "files", files)
    assert f"added {TOTAL}" in t.text


def test_create_draws_a_bar_of_study_records(
    synthesized: tuple[Path, dict[str, list[int]]], tmp_path: Path
) -> None:
    folder, _ = synthesized
    t = Terminal("create", "--archive", folder, "--level", "SERIES", "--out", tmp_path / "inv")
    _drawn(t, "creating", "studies", STUDIES)
    assert f"{STUDIES} study records" in t.text
