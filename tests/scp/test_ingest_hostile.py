"""Archive ingest against hostile folders (issue 20): one bad item never ends the run.

Each bad item sits beside valid files in the same source folder; it gets its own reported
failure (with why), the valid files are indexed, and ``dicom-inventory archive ingest`` exits 3
(done in part) with one line per failure, never a traceback and never a hang. Ingest also
refuses what production could not write (an invalid UID, a value too long for its VR), so
``archive create`` never meets it. Bombs are ingested in a child process whose peak RSS is
measured.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scp.archive import Archive, find_objects
from dicom_inventory.scp.archive.objects import make_image, to_part10

from tests.inventory.test_container_bombs import (
    BOMB_BYTES,
    RSS_CEILING_KIB,
    gzip_bomb,
    part10_head,
    peak_rss_kib,
    targzip_bomb,
    zip_bomb,
)

STUDY = "2.25.4242"


def _object(n: int, **changes: str) -> bytes:
    """A valid small image, or one with `changes` (pydicom's warnings on bad values muted)."""
    ds = make_image(study_uid=STUDY, series_uid=f"{STUDY}.1", sop_uid=f"{STUDY}.1.{n}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        return to_part10(ds)


def _good(folder: Path, n: int = 2) -> None:
    for i in range(1, n + 1):
        (folder / f"good{i}.dcm").write_bytes(_object(i))


def _meta_cut(at: bytes, into: int) -> bytes:
    """A valid object cut `into` bytes into the File Meta element that starts with `at`."""
    data = _object(90)
    return data[: data.index(at) + into]


def _wrong_group_length(value: int) -> bytes:
    data = bytearray(_object(91))
    data[140:144] = value.to_bytes(4, "little")  # (0002,0000) UL: 128 + DICM + 8
    return bytes(data)


def _without(keyword: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(_object(92)))
    delattr(ds, keyword)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _unknown_vr() -> bytes:
    data = _object(93)
    tsuid = b"\x02\x00\x10\x00UI"
    return data.replace(tsuid, b"\x02\x00\x10\x00U\x00", 1)


def _truncated_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.dcm", _object(94))
    return buf.getvalue()[:-30]


def _truncated_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = _object(95)
        info = tarfile.TarInfo("a.dcm")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()[:700]


def _bad_file(name: str, data: bytes) -> Callable[[Path], str]:
    def plant(folder: Path) -> str:
        (folder / name).write_bytes(data)
        return name

    return plant


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "x.dcm")
    return "x.dcm"


def _loop(folder: Path) -> str:
    os.symlink("loop-b.dcm", folder / "loop-a.dcm")
    os.symlink("loop-a.dcm", folder / "loop-b.dcm")
    return "loop-a.dcm"


def _not_utf8(folder: Path) -> str:
    with open(os.fsencode(folder) + b"/bad-\xff\xfe.dcm", "wb") as f:
        f.write(_object(96))
    return "bad-\\udcff\\udcfe.dcm"


def _folder_link(folder: Path) -> str:
    (folder.parent / "elsewhere").mkdir()
    (folder.parent / "elsewhere" / "far.dcm").write_bytes(_object(97))
    os.symlink(folder.parent / "elsewhere", folder / "linked")
    return "linked"


#: Bad items: how each is planted, and a word its reported failure must hold.
BAD = {
    "not-utf8-name": (_not_utf8, "not UTF-8"),
    "truncated-group-length": (_bad_file("t1.dcm", _meta_cut(b"\x02\x00\x00\x00UL", 10)), "t1"),
    "truncated-meta-element": (_bad_file("t2.dcm", _meta_cut(b"\x02\x00\x01\x00OB", 10)), "t2"),
    "unknown-vr": (_bad_file("vr.dcm", _unknown_vr()), "Unknown Value Representation"),
    "no-sop-class": (_bad_file("noclass.dcm", _without("SOPClassUID")), "no SOPClassUID"),
    "fifo": (_fifo, "not a regular file (a FIFO)"),
    "symlink-loop": (_loop, "loop"),
    "folder-link": (_folder_link, "symbolic link to a folder: not followed"),
    "truncated-zip": (_bad_file("t.zip", _truncated_zip()), "unreadable ZIP"),
    "truncated-tar": (_bad_file("t.tar", _truncated_tar()), "unexpected end of data"),
    "invalid-uid": (_bad_file("uid.dcm", _object(3, SOPInstanceUID="1.2.03")), "PS3.5 9.1"),
    "uid-with-letter": (_bad_file("uid2.dcm", _object(4, SeriesInstanceUID="1.2.a")), "1.2.a"),
    "uid-too-long": (_bad_file("uid3.dcm", _object(5, StudyInstanceUID="1." * 40 + "1")), "UID"),
    "value-too-long": (
        _bad_file("pid.dcm", _object(6, PatientID="X" * 80)),
        "longer than 64 characters (VR LO",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_one_bad_item_is_reported_and_the_rest_indexed(tmp_path: Path, case: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _good(src)
    plant, why = BAD[case]
    name = plant(src)
    with Archive(tmp_path / "arch", create=True) as a:
        report = a.ingest([src])
        assert report.added == 2 and a.counts()["instances"] == 2, report
    assert report.errors, case
    said = [f"{e.source}!{e.member}: {e.message}" for e in report.errors]
    assert any(name.split(".")[0] in s for s in said), said
    assert any(why in s for s in said), said


@pytest.mark.parametrize("value", [0, 2, 9999, 0xFFFFFFFF])
def test_a_wrong_group_length_never_ends_the_run(tmp_path: Path, value: int) -> None:
    """pydicom reads File Meta by group, not by (0002,0000): indexed or reported, never fatal."""
    src = tmp_path / "src"
    src.mkdir()
    _good(src)
    (src / "gl.dcm").write_bytes(_wrong_group_length(value))
    with Archive(tmp_path / "arch", create=True) as a:
        report = a.ingest([src])
    assert report.added + len(report.errors) == 3 and report.added >= 2


def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _good(src)
    locked = src / "locked.dcm"
    locked.write_bytes(_object(7))
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: a mode-000 file is still readable")
        with Archive(tmp_path / "arch", create=True) as a:
            report = a.ingest([src])
        assert report.added == 2
        assert [(Path(e.source).name, "Permission denied" in e.message) for e in report.errors] == [
            ("locked.dcm", True)
        ]
    finally:
        locked.chmod(0o600)


def test_a_header_larger_than_the_budget_is_that_member_s_failure(tmp_path: Path) -> None:
    """A private value of undefined length before Pixel Data: read until the budget, no more."""
    whole = _object(8)
    at = whole.rindex(b"\xe0\x7f\x10\x00OW")
    unbounded = b"\x29\x00\x10\x10OB\0\0\xff\xff\xff\xff"  # (0029,1010) OB, undefined length
    (tmp_path / "big.dcm.gz").write_bytes(gzip_bomb([whole[:at] + unbounded, 8 << 20]))
    _good(tmp_path, 1)
    found = list(find_objects(tmp_path, header_budget=1 << 20))
    messages = sorted(getattr(f, "message", "indexed") for f in found)
    assert messages == ["header larger than 1048576 bytes: not read", "indexed"], messages


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_cli_reports_each_failure_on_one_line_and_exits_3(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _good(src)
    for plant, _ in BAD.values():
        plant(src)
    arch = tmp_path / "arch"
    done = _cli("archive", "ingest", str(src), "--archive", str(arch))
    assert done.returncode == ExitCode.PARTIAL, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "added 2," in done.stdout, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert all(line.startswith("skipped ") for line in lines), lines
    assert len(lines) >= len(BAD), lines  # one each (a truncated TAR: its member and itself)
    out = tmp_path / "out"
    made = _cli("create", "--archive", str(arch), "--level", "INSTANCE", "--out", str(out))
    assert made.returncode == 0, made.stdout + made.stderr
    inventory = [p for p in out.rglob("*.dcm") if "part-" in str(p)]
    uids = {str(r.SOPInstanceUID) for p in inventory for r in _instances(p)}
    assert uids == {f"{STUDY}.1.1", f"{STUDY}.1.2"}


def _instances(path: Path) -> list[pydicom.Dataset]:
    ds = pydicom.dcmread(path)
    return [
        inst
        for study in ds.InventoriedStudiesSequence
        for series in study.InventoriedSeriesSequence
        for inst in series.InventoriedInstancesSequence
    ]


def test_a_clean_ingest_exits_0(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    _good(tmp_path / "src")
    done = _cli("archive", "ingest", str(tmp_path / "src"), "--archive", str(tmp_path / "a"))
    assert done.returncode == ExitCode.OK and done.stderr.strip() == "", done.stderr


def test_ingesting_bombs_keeps_memory_flat(tmp_path: Path) -> None:
    """GZIP, ZIP and TARGZIP members inflating to 256 MiB each, a header bomb, and a sparse
    256 MiB BLOB: headers read within the budget, peak RSS under the ceiling."""
    src = tmp_path / "src"
    src.mkdir()
    head = part10_head(BOMB_BYTES)
    (src / "bomb.dcm.gz").write_bytes(gzip_bomb([head, BOMB_BYTES]))
    (src / "bomb.zip").write_bytes(zip_bomb("a/1.dcm", [head, BOMB_BYTES]))
    (src / "bomb.tgz").write_bytes(targzip_bomb("a/1.dcm", head, BOMB_BYTES))
    whole = _object(9)
    at = whole.rindex(b"\xe0\x7f\x10\x00OW")
    unbounded = b"\x29\x00\x10\x10OB\0\0\xff\xff\xff\xff"
    (src / "header.dcm.gz").write_bytes(gzip_bomb([whole[:at] + unbounded, BOMB_BYTES]))
    with open(src / "sparse.blob", "wb") as f:
        f.write(_object(10))
        f.truncate(BOMB_BYTES)
        f.seek(BOMB_BYTES)
        f.write(_object(11))
    arch = tmp_path / "arch"
    code = "from dicom_inventory.cli.main import main\nmain(sys.argv[1:])"
    rss, said = peak_rss_kib(code, "archive", "ingest", str(src), "--archive", str(arch))
    assert "added 5," in said and "skipped 1;" in said, said  # the header bomb
    assert "header larger than" in said and "Traceback" not in said, said
    assert rss < RSS_CEILING_KIB, (rss, said)


def test_no_list_of_files_is_built(tmp_path: Path) -> None:
    """find_objects is a stream: the first object comes before the walk has seen the rest."""
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "a.dcm").write_bytes(_object(12))
    walk = find_objects(src)
    first = next(walk)
    assert Path(first.location.path).name == "a.dcm"  # type: ignore[union-attr]
    shutil.rmtree(src / "b")  # a folder gone before the walk reaches it: nothing to report
    assert list(walk) == []
