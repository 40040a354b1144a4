"""Failures the fuzz harness knows about while other work of issue 20 lands: in this one file.

Each entry names a defect class seen on main, the reproducers that show it (paths under
``tests/fuzz/reproducers/``) and the failure signatures (regular expressions over
:attr:`tests.fuzz.oracle.Outcome.failure`) by which the generative runs recognise it.

* A reproducer listed here is replayed as ``xfail(strict=False)``: when the fix lands it
  passes (XPASS), and the lead deletes its line here.
* A generative run that meets a failure matching a signature counts it (and saves it in the
  long run) instead of failing; any other failure fails the test.

Remove an entry when its class is fixed; the replay and the generative runs then hold the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KNOWN", "Known", "known_for", "reason_for"]


@dataclass(frozen=True)
class Known:
    """One defect class being fixed."""

    name: str
    reason: str
    reproducers: tuple[str, ...] = ()
    """Paths relative to ``tests/fuzz/reproducers``."""
    signatures: tuple[str, ...] = ()
    """Regular expressions over the failure text (kind and last traceback line)."""
    targets: tuple[str, ...] = ()
    """Targets the signatures apply to (empty: all)."""


_INGEST_BAD_ITEMS = (
    "ingest/corrupt-deflate.dcm.gz",
    "ingest/corrupt-deflate.zip",
    "ingest/meta-vr-xx.dcm",
    "ingest/nesting-5000.blob",
    "ingest/nesting-5000.dcm",
    "ingest/non-utf8-name.folder.tar",
    "ingest/truncated-meta-142.dcm",
    "ingest/unknown-vr.dcm",
)

_DIMSE_MALFORMED = (
    "dimse-action/interval-four-bytes.11.bin",
    "dimse-action/interval-is-text.11.bin",
    "dimse-find/bad-length.bin",
    "dimse-find/nesting.bin.gz",
    "dimse-find/unknown-vr.bin",
    "dimse-get/nesting.bin.gz",
    "dimse-move/nesting.bin.gz",
    "dimse-repository-query/nesting.bin.gz",
    "dimse-studyroot-find/nesting.bin.gz",
    "dimse-studyroot-find/no-tag.bin.gz",
    "dimse-studyroot-get/nesting.bin.gz",
    "dimse-studyroot-get/no-tag.bin.gz",
    "dimse-studyroot-move/nesting.bin.gz",
    "dimse-studyroot-move/no-tag.bin.gz",
)
_DIMSE_TARGETS = tuple(
    f"dimse-{s}"
    for s in (
        "action",
        "find",
        "get",
        "move",
        "repository-query",
        "store",
        "studyroot-find",
        "studyroot-get",
        "studyroot-move",
    )
)

KNOWN: tuple[Known, ...] = (
    Known(
        "malformed requests reach handler code",
        "pydicom decoding errors and int() of odd values raise in our handlers: 0xC311/0x0110",
        _DIMSE_MALFORMED,
        (r"with traceback", r"generic failure"),
        _DIMSE_TARGETS,
    ),
    Known(
        "deflated identifier bombs",
        "serve inflates a deflated C-FIND identifier whole: 857 MB for 256 MB",
        ("dimse-deflated-find/identifier-256mb.bin.gz",),
        (r"^rss",),
        ("dimse-deflated-find",),
    ),
    Known(
        "deep trees",
        "RecursionError following 1,000 incorporated instances",
        tuple(
            f"{t}/deep-1000.tree.tar.gz"
            for t in ("reader", "validate", "export-csv", "export-parquet")
        ),
        (r"^RecursionError",),
        ("reader", "validate", "export-csv", "export-parquet"),
    ),
    Known(
        "uint64 in Parquet",
        "File Offset/Length in Container >= 2^63 overflow int64",
        ("export-parquet/uv-2-63.dcm",),
        (r"^OverflowError",),
        ("export-parquet",),
    ),
    Known(
        "validate output grows with the findings",
        "text-mode validate holds every finding",
        ("cli-validate/many-bad-records.dcm.gz",),
        (r"^rss: validate",),
        ("cli-validate",),
    ),
    Known(
        "one bad item aborts archive ingest",
        "pydicom, zlib and file-name errors escape find_objects/ingest",
        _INGEST_BAD_ITEMS,
        (
            r"^([\w]+\.)*(RecursionError|NotImplementedError|BytesLengthException|error|"
            r"UnicodeEncodeError|OSError|ValueError|TypeError|KeyError|EOFError|"
            r"AttributeError|IndexError|struct\.error|OverflowError|BadZipFile|"
            r"TarError|ReadError|InvalidDicomError)",
        ),
        ("ingest",),
    ),
    Known(
        "non-regular files in archive ingest",
        "a FIFO named *.dcm blocks ingest for ever",
        ("ingest/fifo.folder.tar",),
        (r"^hang",),
        ("ingest",),
    ),
    Known(
        "GZIP/ZIP bombs in archive ingest",
        "memory bounded by the inflated size",
        ("ingest/gzip-bomb.dcm.gz", "ingest/zip-bomb.zip"),
        (r"^rss",),
        ("ingest",),
    ),
    Known(
        "ingest indexes what production refuses",
        "an invalid UID or non-ASCII DA/TM/CS is indexed, then create fails for the archive",
        ("ingest/invalid-uid.dcm", "ingest/non-ascii-date.dcm"),
        (r"^lost: create fails",),
        ("ingest",),
    ),
)


def reason_for(reproducer: str) -> str | None:
    """The xfail reason of a reproducer (path relative to the reproducers folder), if known."""
    for k in KNOWN:
        if reproducer in k.reproducers:
            return f"issue 20: {k.name}, being fixed ({k.reason})"
    return None


def known_for(target: str, failure: str) -> Known | None:
    """The known class a generative failure belongs to, if any."""
    for k in KNOWN:
        if k.targets and target not in k.targets:
            continue
        if any(re.search(sig, failure) for sig in k.signatures):
            return k
    return None
