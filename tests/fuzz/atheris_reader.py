"""Coverage-guided fuzzing of the file targets with atheris (libFuzzer), for the long run.

``python -m tests.fuzz.atheris_reader [TARGET] [libFuzzer flags]``, e.g.::

    python -m tests.fuzz.atheris_reader reader -runs=100000 -max_len=65536
    python -m tests.fuzz.atheris_reader validate -max_total_time=600

TARGET is one of :data:`tests.fuzz.targets.FILE_TARGETS` but ``ingest`` (default ``reader``).
Each input is used two ways: as raw bytes, and as a list of :mod:`tests.fuzz.mutate`
mutations applied to one of the seed inventories (the structure-aware half). A failure of the
oracle that :mod:`tests.fuzz.known` does not list raises, so libFuzzer stops and writes the
crashing input (``crash-<sha1>``); move it to ``tests/fuzz/reproducers/<target>/`` with a
one-line ``.txt``. Needs ``pip install atheris`` (not a dependency of the project).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.fuzz.corpus import inventory_seeds
from tests.fuzz.known import known_for
from tests.fuzz.mutate import KINDS, apply
from tests.fuzz.oracle import judge
from tests.fuzz.targets import FILE_TARGETS, stage

__all__ = ["main", "one_input"]


class Finding(Exception):
    """An oracle failure not listed as known: libFuzzer keeps the input."""


def one_input(target: str, data: bytes, work: Path) -> None:
    """Run one fuzzer input through `target` under the oracle; raise :class:`Finding`."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    fdp = atheris.FuzzedDataProvider(data)
    seeds = inventory_seeds()
    if fdp.ConsumeBool():
        name, base = seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)]
        muts = [
            (
                KINDS[fdp.ConsumeIntInRange(0, len(KINDS) - 1)],
                fdp.ConsumeIntInRange(0, 2**32 - 1),
                fdp.ConsumeIntInRange(0, 2**16 - 1),
            )
            for _ in range(fdp.ConsumeIntInRange(1, 4))
        ]
        payload = apply(base, muts)
    else:
        payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    source = work / "source.dcm"
    source.write_bytes(payload)
    path = stage(source, work, unzip=False)
    outcome = judge(target, lambda: FILE_TARGETS[target](path, work))
    if outcome.failure is not None and known_for(target, outcome.failure) is None:
        raise Finding(outcome.failure)


def main(argv: list[str]) -> None:
    """Start libFuzzer on one target (the first argument if it names one)."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    target = "reader"
    if len(argv) > 1 and argv[1] in FILE_TARGETS:
        target = argv.pop(1)
    if target == "ingest":
        raise SystemExit("ingest is fuzzed by tests/fuzz/test_files.py (it needs containers)")
    work = Path(tempfile.mkdtemp(prefix="atheris-"))

    def test_one(data: bytes) -> None:
        one_input(target, data, work)

    atheris.instrument_all()  # coverage of everything imported: our package and pydicom
    atheris.Setup(argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
