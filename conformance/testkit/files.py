"""``testkit files``: a vendor's inventory files judged one by one and as a set.

Per file: readable as an Inventory (PS3.10, PS3.3 A.88), then the IOD validator (C.38): errors
fail, warnings are evidence. A file that is not an Inventory gets its own FAIL and the rest of
the set is judged without it. Across the set: the tree of incorporated instances (chain, shared
or missing parts, cycles, subtree counts), duplicate records, and the ``file:`` links.

Links: at a connectathon the files usually come from another site, and their ``file:`` URIs
name that site's storage. A link whose folder does not exist on this machine is therefore *not
verifiable here*: counted and reported, never failed. A link whose folder exists is reachable:
a missing file there, or (with ``open_links``) an object that is not the instance its record
names, fails (PS3.3 C.38.2.2).
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dicom_inventory.conformance.testkit.report import Outcome, Report, TestResult
from dicom_inventory.errors import InventoryReadError
from dicom_inventory.model import FileAccess, InstanceRecord
from dicom_inventory.read import InventoryReader
from dicom_inventory.rows import ROW_COLUMNS, iter_raw_rows
from dicom_inventory.scu.fetch import FetchError, check_linked, read_linked
from dicom_inventory.validate import Severity, Validator

__all__ = ["check_files"]

_COLUMN = {c: i for i, c in enumerate(ROW_COLUMNS)}
_CHAIN_RULES = ("chain-", "tree-", "count")
_EVIDENCE = 20


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.dcm")) if p.is_dir() else [p])
    return out


@dataclass
class _Links:
    """What the ``file:`` links of the set came to."""

    checked: int = 0
    verified: int = 0
    unverifiable: int = 0
    examples: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def judge(self, name: str, row: tuple[object, ...], open_links: bool) -> None:
        uri = str(row[_COLUMN["file_access_uri"]])
        sop = str(row[_COLUMN["sop_instance_uid"]] or "")
        self.checked += 1
        parts = urllib.parse.urlsplit(uri)
        local = Path(urllib.parse.unquote(parts.path))
        if parts.netloc not in ("", "localhost") or not local.parent.is_dir():
            self.unverifiable += 1
            if len(self.examples) < 3:
                self.examples.append(f"{name}: {sop}: {uri}")
            return
        if not local.exists():
            self._wrong(f"{name}: {sop}: {uri} does not exist, though its folder does")
            return
        if not open_links:
            self.verified += 1
            return
        fa = FileAccess(
            uri=uri,
            container_type=row[_COLUMN["container_file_type"]],  # type: ignore[arg-type]
            filename_in_container=row[_COLUMN["filename_in_container"]],  # type: ignore[arg-type]
            offset=row[_COLUMN["file_offset_in_container"]],  # type: ignore[arg-type]
            length=row[_COLUMN["file_length_in_container"]],  # type: ignore[arg-type]
            transfer_syntax_uid=row[_COLUMN["stored_transfer_syntax_uid"]],  # type: ignore[arg-type]
        )
        try:
            check_linked(read_linked(fa), InstanceRecord("", sop), fa)
        except FetchError as exc:
            self._wrong(f"{name}: {sop}: {uri}: {exc}")
            return
        self.verified += 1

    def _wrong(self, message: str) -> None:
        if len(self.wrong) < _EVIDENCE:
            self.wrong.append(message)
        else:
            self.wrong[-1] = f"... and more ({message})"

    def result(self, open_links: bool) -> TestResult:
        evidence = list(self.wrong)
        how = "opened and held to their records" if open_links else "present (not opened)"
        evidence.append(f"{self.checked} file: URI(s) checked: {self.verified} {how}")
        if self.unverifiable:
            evidence.append(
                f"{self.unverifiable} not verifiable here: their storage is not on this "
                "machine, e.g. " + "; ".join(self.examples)
            )
        if self.wrong:
            outcome = Outcome.FAIL
        elif self.verified:
            outcome = Outcome.PASS
        else:
            outcome = Outcome.NOT_APPLICABLE
            if not self.checked:
                evidence = ["no file: URIs in the records"]
        return TestResult(
            "S-URIS",
            "file: links reachable from here lead to the instances their records name",
            "PS3.3 C.38.2.2, PS3.17 YYYY.7",
            outcome,
            evidence,
        )


def check_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    uri_sample: int = 1000,
    open_links: bool = False,
) -> Report:
    """Judge the inventory files in `paths` (folders are searched for ``*.dcm``).

    Parameters
    ----------
    paths
        Files and folders.
    uri_sample : int
        At most this many ``file:`` links are checked.
    open_links : bool
        Open each reachable link and hold the object to its record (SOP Instance UID,
        length, transfer syntax); otherwise only its presence is checked.
    """
    files = _expand(paths)
    report = Report(
        "files", ", ".join(str(p) for p in files[:3]) + (" ..." if len(files) > 3 else "")
    )
    validator = Validator()
    readable: list[Path] = []
    results: dict[Path, TestResult] = {}
    for f in files:
        t0 = time.monotonic()
        try:
            with InventoryReader(f):  # an Inventory at all (PS3.10, A.88), before the rules
                pass
            findings = list(validator.file(f))
        except InventoryReadError as exc:
            report.add(
                TestResult(
                    f"F-IOD {f.name}",
                    "readable Inventory file",
                    "PS3.10 7, PS3.3 A.88",
                    Outcome.FAIL,
                    [str(exc), "judged apart: the rest of the set is checked without it"],
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
        results[f] = report.add(
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
    links = _Links()
    study, series, sop, uri_at = (
        _COLUMN["study_instance_uid"],
        _COLUMN["series_instance_uid"],
        _COLUMN["sop_instance_uid"],
        _COLUMN["file_access_uri"],
    )
    for f in readable:
        try:
            with InventoryReader(f) as reader:
                for row in iter_raw_rows(reader):
                    key = (row[study], row[series] or "", row[sop] or "")
                    if key in seen and len(duplicates) < _EVIDENCE:
                        duplicates.append(
                            f"{f.name}: record {'/'.join(k for k in key if k)} listed again"
                        )
                    seen.add(key)
                    uri = row[uri_at]
                    if uri and uri.startswith("file:") and links.checked < uri_sample:
                        links.judge(f.name, row, open_links)
        except InventoryReadError as exc:  # broken past its header: that file fails, not the run
            results[f].outcome = Outcome.FAIL
            results[f].evidence.insert(0, f"unreadable past its header: {exc}")
    report.add(
        TestResult(
            "S-DUPLICATES",
            "no record is listed twice across the set",
            "PS3.3 C.38.1.2",
            Outcome.FAIL if duplicates else Outcome.PASS,
            duplicates or [f"{len(seen)} distinct records"],
        )
    )
    report.add(links.result(open_links))
    return report
