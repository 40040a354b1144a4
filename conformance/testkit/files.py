"""``testkit files``: a vendor's inventory files judged one by one and as a set.

Per file: the IOD validator (PS3.3 A.88, C.38), errors fail, warnings are evidence. Across
the set: the tree of incorporated instances (chain, shared or missing parts, cycles, subtree
counts), duplicate records, and whether the file: URIs the records give resolve.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from dicom_inventory.conformance.testkit.report import Outcome, Report, TestResult
from dicom_inventory.errors import InventoryReadError
from dicom_inventory.read import InventoryReader
from dicom_inventory.rows import ROW_COLUMNS, iter_raw_rows
from dicom_inventory.validate import Severity, Validator

__all__ = ["check_files"]

_SOP = ROW_COLUMNS.index("sop_instance_uid")
_SERIES = ROW_COLUMNS.index("series_instance_uid")
_STUDY = ROW_COLUMNS.index("study_instance_uid")
_URI = ROW_COLUMNS.index("file_access_uri")
_CHAIN_RULES = ("chain-", "tree-", "count")
_EVIDENCE = 20


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.dcm")) if p.is_dir() else [p])
    return out


def check_files(paths: Iterable[str | os.PathLike[str]], *, uri_sample: int = 1000) -> Report:
    """Judge the inventory files in `paths` (folders are searched for ``*.dcm``)."""
    files = _expand(paths)
    report = Report(
        "files", ", ".join(str(p) for p in files[:3]) + (" ..." if len(files) > 3 else "")
    )
    validator = Validator()
    readable: list[Path] = []
    for f in files:
        t0 = time.monotonic()
        try:
            findings = list(validator.file(f))
        except InventoryReadError as exc:
            report.add(
                TestResult(
                    f"F-IOD {f.name}",
                    "readable Inventory file",
                    "PS3.10 7, PS3.5",
                    Outcome.FAIL,
                    [str(exc)],
                    time.monotonic() - t0,
                )
            )
            continue
        readable.append(f)
        errors = [x for x in findings if x.severity is Severity.ERROR]
        warnings = [x for x in findings if x.severity is not Severity.ERROR]
        evidence = [
            f"{x.rule} {x.path}: {x.message} ({x.section})" for x in (errors + warnings)[:_EVIDENCE]
        ]
        report.add(
            TestResult(
                f"F-IOD {f.name}",
                "conforms to the Inventory IOD",
                "PS3.3 A.88, C.38",
                Outcome.FAIL if errors else Outcome.PASS,
                evidence or [f"no findings ({len(findings)})"],
                time.monotonic() - t0,
            )
        )
    cross = list(validator.cross_file())
    # a part missing from the set the vendor handed over fails the set (the validator only
    # warns, as it may be given part of a tree on purpose)
    chain = [
        x
        for x in cross
        if x.rule.startswith(_CHAIN_RULES)
        and (x.severity is Severity.ERROR or x.rule == "chain-missing")
    ]
    report.add(
        TestResult(
            "S-TREE",
            "the instances form one tree: every incorporated part present, no cycle, totals add up",
            "PS3.3 C.38.2.3",
            Outcome.FAIL if chain else Outcome.PASS,
            [f"{x.rule} {x.file}: {x.message}" for x in chain[:_EVIDENCE]]
            or [f"{len(readable)} file(s) checked across the set"],
        )
    )
    seen: set[tuple[str, str, str]] = set()
    duplicates: list[str] = []
    missing: list[str] = []
    checked = 0
    for f in readable:
        with InventoryReader(f) as reader:
            for row in iter_raw_rows(reader):
                key = (row[_STUDY], row[_SERIES] or "", row[_SOP] or "")
                if key in seen and len(duplicates) < _EVIDENCE:
                    duplicates.append(
                        f"{f.name}: record {'/'.join(k for k in key if k)} listed again"
                    )
                seen.add(key)
                uri = row[_URI]
                if uri and uri.startswith("file:") and checked < uri_sample:
                    checked += 1
                    local = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
                    if not local.exists() and len(missing) < _EVIDENCE:
                        missing.append(f"{f.name}: {row[_SOP]}: {uri} does not exist")
    report.add(
        TestResult(
            "S-DUPLICATES",
            "no record is listed twice across the set",
            "PS3.3 C.38.1.2",
            Outcome.FAIL if duplicates else Outcome.PASS,
            duplicates or [f"{len(seen)} distinct records"],
        )
    )
    report.add(
        TestResult(
            "S-URIS",
            "file: URIs of the records resolve (on this machine)",
            "PS3.3 C.38.2.2, PS3.17 YYYY.7",
            Outcome.NOT_APPLICABLE if checked == 0 else Outcome.FAIL if missing else Outcome.PASS,
            missing
            or (
                [f"{checked} file: URI(s) checked"] if checked else ["no file: URIs in the records"]
            ),
        )
    )
    return report
