"""Legal values and shapes outside Python's comfortable range (issue 20).

* Trees of incorporated instances thousands of levels deep (PS3.3 C.38.1.1.5 sets no depth):
  resolving, reading, exporting, diffing, fetching and validating them walks iteratively.
* Sequences nested deeper than the reader's documented limit inside one file
  (:data:`~dicom_inventory._parse.MAX_DEPTH`): a clear error from every command, never a
  RecursionError, even when a caller's policy asks for more.

UV values of 2^63 and beyond (PS3.5 6.2) are in ``tests/scu/test_diff_export.py``.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import pytest
from dicom_inventory import (
    InventoryHeader,
    InventoryLevel,
    InventoryReadError,
    InventoryWriter,
    encode_inventory,
    iter_inventory,
    read_header,
    synthetic_studies,
    tree_paths,
)
from dicom_inventory._parse import MAX_DEPTH
from dicom_inventory.model import InventoryReference
from dicom_inventory.policy import ReadPolicy
from dicom_inventory.validate import Validator, validate_file

#: Stands for the child's UID while the node's own is set (same length as the UIDs).
_PLACEHOLDER = b"2.25.6" + b"0" * 11
#: A marker Total Number of Study Records (UV) in the template, patched per node.
_MARK = 0x0102030405060708


def _uid(k: int) -> str:
    return f"2.25.7{k:011d}"  # one length for all, so the templates can be patched in place


def _study_uid(k: int) -> str:
    return f"2.25.5{k:011d}"


def _template(refs: bool, total: int) -> bytes:
    """One node made by the encoder: instance ``_uid(0)`` with one study record, incorporating
    ``_uid(1)`` if `refs` (the reference only: no copy of the child's own references)."""
    (study,) = synthetic_studies(1, level=InventoryLevel.STUDY)
    header = InventoryHeader(
        _uid(0),
        InventoryLevel.STUDY,
        content_date="20261124",
        content_time="100000",
        incorporated=(InventoryReference(_uid(1)),) if refs else (),
    )
    buf = BytesIO()
    with InventoryWriter(buf, header, incorporated_study_records=total) as w:
        w.write_study(replace(study, study_instance_uid=_study_uid(0)))
    return buf.getvalue()


def _chain(folder: Path, depth: int, *, cycle: bool = False) -> Path:
    """`depth` inventory files, each incorporating the next; return the root.

    Each file is the encoder's output with its UIDs and Total Number of Study Records set.
    With `cycle`, the last file incorporates the root again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    node = _template(True, _MARK)
    leaf = _template(False, 0)
    mark = struct.pack("<Q", _MARK + 1)  # Total: its own record and the marker
    assert node.count(mark) == 1
    for k in range(depth):
        last = k == depth - 1
        data = node if (not last or cycle) else leaf
        child = 0 if last else k + 1
        data = data.replace(_uid(1).encode(), _PLACEHOLDER)
        data = data.replace(_uid(0).encode(), _uid(k).encode())
        data = data.replace(_PLACEHOLDER, _uid(child).encode())
        data = data.replace(_study_uid(0).encode(), _study_uid(k).encode())
        data = data.replace(mark, struct.pack("<Q", depth - k))  # the records of its subtree
        (folder / f"{_uid(k)}.dcm").write_bytes(data)
    return folder / f"{_uid(0)}.dcm"


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )


@pytest.fixture(scope="module")
def chain5000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _chain(tmp_path_factory.mktemp("chain") / "inv", 5000)


@pytest.fixture(scope="module")
def chain1000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _chain(tmp_path_factory.mktemp("chain") / "inv", 1000)


# ----------------------------------------------------------------------------- deep trees
def test_a_tree_5000_instances_deep_is_walked_in_order(chain5000: Path) -> None:
    root = chain5000
    paths = tree_paths(root)
    assert [p.name for p in paths] == [f"{_uid(k)}.dcm" for k in range(5000)]
    studies = [s.study_instance_uid for s in iter_inventory(root)]
    assert studies == [_study_uid(k) for k in range(5000)]


def test_validating_a_tree_5000_deep_checks_the_totals_without_recursion(chain5000: Path) -> None:
    root = chain5000
    v = Validator()
    rules: set[str] = set()
    for p in sorted(root.parent.iterdir()):
        rules.update(f.rule for f in v.file(p))
    rules.update(f.rule for f in v.cross_file())
    # the references do not repeat each child's own (C.38.1.1.5): that, and nothing else
    assert rules == {"chain-copy"}


def test_a_cycle_of_references_is_refused_or_reported(tmp_path: Path) -> None:
    root = _chain(tmp_path, 1200, cycle=True)
    with pytest.raises(InventoryReadError, match="reference cycle"):
        tree_paths(root)
    v = Validator()
    for p in sorted(root.parent.iterdir()):
        list(v.file(p))
    cycles = [f for f in v.cross_file() if f.rule == "chain-cycle"]
    assert len(cycles) == 1200
    assert cycles[0].message.count("->") == 1200


def test_export_diff_fetch_and_validate_a_tree_1000_deep(chain1000: Path, tmp_path: Path) -> None:
    runs: tuple[tuple[tuple[str | Path, ...], int], ...] = (
        (("export", "--format", "jsonl", "--out", tmp_path / "r.jsonl", chain1000), 0),
        (("diff", chain1000, chain1000), 0),
        (("fetch", "--out", tmp_path / "fetched", chain1000), 0),
        (("validate", "--format", "json", *sorted(chain1000.parent.iterdir())), 1),
    )
    for args, code in runs:
        done = _cli(*args)
        assert done.returncode == code, (args[0], done.stdout[-500:], done.stderr[-500:])
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 1000
    doc = json.loads(done.stdout)
    assert {f["rule"] for f in doc["findings"]} == {"chain-copy"}


# ----------------------------------------------------------------------------- deep nesting
_ITEM = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
_SEQ = b"\x08\x00\x06\x00SQ\x00\x00\xff\xff\xff\xff"  # Language Code Sequence, undefined length
_CLOSE = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _nested(path: Path, depth: int) -> Path:
    """The encoder's one-study inventory with `depth` sequences nested in its study record."""
    data = _template(False, 0)
    studies = b"\x08\x00\x23\x04SQ\x00\x00\xff\xff\xff\xff" + _ITEM
    at = data.index(studies) + len(studies)
    path.write_bytes(data[:at] + (_SEQ + _ITEM) * depth + _CLOSE * depth + data[at:])
    return path


def test_nesting_just_inside_the_hard_limit_is_read(tmp_path: Path) -> None:
    path = _nested(tmp_path / "deep.dcm", MAX_DEPTH - 2)  # the study item is one level
    findings = list(validate_file(path, policy=ReadPolicy(max_depth=10_000)))
    assert findings  # each empty code item is reported; what matters: no RecursionError


@pytest.mark.parametrize("max_depth", [16, 10_000])
def test_nesting_past_the_limit_is_a_clear_error(tmp_path: Path, max_depth: int) -> None:
    path = _nested(tmp_path / "deep.dcm", 1000)
    limit = min(max_depth, MAX_DEPTH)
    with pytest.raises(InventoryReadError, match=f"nested deeper than {limit} levels"):
        list(validate_file(path, policy=ReadPolicy(max_depth=max_depth)))


def test_every_command_refuses_a_1000_deep_sequence_with_one_line(tmp_path: Path) -> None:
    path = _nested(tmp_path / "deep.dcm", 1000)
    for args in (
        ("validate", path),
        ("export", "--format", "csv", "--out", tmp_path / "r.csv", path),
        ("diff", path, path),
        ("fetch", "--out", tmp_path / "fetched", path),
    ):
        done = _cli(*args)
        assert done.returncode == 2, (args[0], done.stdout[-500:], done.stderr[-500:])
        assert "nested deeper than 16 levels" in " ".join(done.stderr.split()), args[0]
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_a_deep_tree_that_repeats_its_references_is_refused_past_the_policy(
    tmp_path: Path,
) -> None:
    """C.38.1.1.5: each reference repeats the child's own, so the root nests the whole tree."""
    ref: tuple[InventoryReference, ...] = ()
    for k in range(20, 0, -1):
        ref = (InventoryReference(_uid(k), incorporated=ref),)
    header = InventoryHeader(
        _uid(0), InventoryLevel.STUDY, content_date="20261124", content_time="100000"
    )
    path = tmp_path / "root.dcm"
    path.write_bytes(encode_inventory(replace(header, incorporated=ref), []))
    with pytest.raises(InventoryReadError, match=r"nested deeper than 16 .*C\.38\.1\.1\.5"):
        read_header(path)
    assert len(read_header(path, policy=ReadPolicy(max_depth=40)).incorporated) == 1
