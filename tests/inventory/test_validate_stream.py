"""``dicom-inventory validate`` streams its findings: output and memory do not grow with them.

A 1.6 MB inventory whose one study record holds 100,000 empty code items gives 100,000
findings. The command prints the first ``--max-per-rule`` of each rule as found and counts the
rest; with ``--all`` it prints every one, still as found. Peak memory is measured in a child
process (``RUSAGE_CHILDREN``) against a generous ceiling: before streaming, text mode held
about 6 KB per finding in a table (600+ MB here) and ran for minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dicom_inventory import InventoryHeader, InventoryLevel, encode_inventory, synthetic_studies
from dicom_inventory.cli.main import cli

_ITEM = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_CODES = b"\x08\x00\x06\x00SQ\x00\x00\xff\xff\xff\xff"  # Language Code Sequence, undefined length
_STUDIES = b"\x08\x00\x23\x04SQ\x00\x00\xff\xff\xff\xff" + _ITEM

#: Peak RSS allowed to the validate command on 100,000 findings. The interpreter with the
#: package imported takes about 70 MB and the one study record about 30 MB; collecting the
#: findings took 600 MB and more.
_CEILING_MB = 250


def _bad(path: Path, n: int) -> Path:
    """The encoder's one-study inventory with `n` empty code items: one finding each."""
    (study,) = synthetic_studies(1, level=InventoryLevel.STUDY)
    header = InventoryHeader(
        "2.25.1", InventoryLevel.STUDY, content_date="20261124", content_time="100000"
    )
    data = encode_inventory(header, [study])
    at = data.index(_STUDIES) + len(_STUDIES)
    path.write_bytes(data[:at] + _CODES + (_ITEM + _ITEM_END) * n + _SEQ_END + data[at:])
    return path


def _run(*args: str | Path) -> Result:
    """The validate command in this process (the output checks; memory is measured apart)."""
    return CliRunner().invoke(cli, ["validate", *map(str, args)])


_MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(done.returncode, rss // 1024, len(done.stdout.splitlines()))
"""


def _peak_mb(*args: str | Path) -> tuple[int, int, int]:
    """Exit code, peak RSS in MB and stdout lines of the validate command, run in a fresh child."""
    cmd = [sys.executable, "-m", "dicom_inventory", "validate", *map(str, args)]
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    code, mb, lines = map(int, out.stdout.split())
    return code, mb, lines


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bad(tmp_path_factory.mktemp("many") / "many.dcm", 100_000)


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        ((), 20 + 3),  # the first 20, "not shown", the rule's count, the summary
        (("--all", "--format", "jsonl"), 100_000 + 1),  # every finding, then the summary
    ],
)
def test_memory_stays_flat_with_100000_findings(
    many: Path, args: tuple[str, ...], lines: int
) -> None:
    code, mb, printed = _peak_mb(*args, many)
    assert code == 1 and printed == lines
    assert mb < _CEILING_MB, f"peak RSS {mb} MB"


@pytest.fixture(scope="module")
def some(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bad(tmp_path_factory.mktemp("some") / "some.dcm", 30)


def test_text_shows_the_first_of_each_rule_and_counts_the_rest(some: Path) -> None:
    done = _run("--max-per-rule", "5", some)
    assert done.exit_code == 1
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:5]] == [["error", "code-value"]] * 5
    assert "LanguageCodeSequence[4]" in lines[4]
    assert "not shown: 25 finding(s)" in lines[5]
    assert lines[6].split() == ["code-value:", "25", "more", "(30", "in", "all)"]
    assert lines[-1] == "1 file(s): 30 error(s), 0 warning(s), 0 unreadable"
    done = _run("--all", some)
    assert sum(line.startswith("error code-value") for line in done.stdout.splitlines()) == 30
    assert "not shown" not in done.stdout


def test_json_document_is_streamed_and_says_what_it_left_out(some: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM\n" * 50)
    done = _run("--format", "json", "--max-per-rule", "2", some, text)
    assert done.exit_code == 2  # one file unreadable
    doc = json.loads(done.stdout)
    assert doc["files"] == [str(some), str(text)]
    assert [f["path"].rsplit(".", 1)[0] for f in doc["findings"]] == [
        "InventoriedStudiesSequence[0].LanguageCodeSequence[0]",
        "InventoriedStudiesSequence[0].LanguageCodeSequence[1]",
    ]
    assert doc["errors"] == 30 and doc["warnings"] == 0
    assert doc["rules"] == {"code-value": 30} and doc["omitted"] == {"code-value": 28}
    assert doc["unreadable"][0]["file"] == str(text)
    empty = json.loads(_run("--format", "json", "--max-per-rule", "0", some).stdout)
    assert empty["findings"] == [] and empty["errors"] == 30


def test_json_lines_end_with_a_summary(some: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM\n" * 50)
    done = _run("--format", "jsonl", some, text)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["rule"] for r in rows[:20]] == ["code-value"] * 20
    assert rows[20]["file"] == str(text) and "DICM" in rows[20]["unreadable"]
    summary = rows[21]["summary"]
    assert summary["errors"] == 30 and summary["omitted"] == {"code-value": 10}
    assert summary["files"] == 2 and len(rows) == 22
