"""The DICOMweb user agent (scu/web.py) and the commands that take an inventory by URL.

Against a real node process (the origin server tests' fixture) and against the independent
fake origin server of tests/fake_origin.py with seeded faults.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from dicom_inventory.scu.web import WebClient, WebError, split_url

from tests.fake_origin import FakeOrigin
from tests.web_node import Served

CLI = [
    shutil.which("dicom-inventory") or sys.executable,
    *([] if shutil.which("dicom-inventory") else ["-m", "dicom_inventory"]),
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def _same(a: Path, b: Path) -> bool:
    x, y = pydicom.dcmread(a), pydicom.dcmread(b)
    del x.file_meta, y.file_meta
    return x == y


def test_split_url() -> None:
    assert split_url("https://h:8/dicomweb/inventories/1.2.3") == ("https://h:8/dicomweb", "1.2.3")
    assert split_url("http://h/inventories") == ("http://h", None)
    for bad in ("http://h/studies/1.2", "http://h/inventories/1.2/x", "http://h/inventories/abc"):
        with pytest.raises(WebError):
            split_url(bad)


def test_retrieve_tree_equals_what_inventory_get_delivered(served: Served, tmp_path: Path) -> None:
    with WebClient(served.base) as client:
        files = client.retrieve_tree(served.root_uid, tmp_path)
    assert files[0].name == f"{served.root_uid}.dcm"
    assert sorted(p.stem for p in files[1:]) == sorted(served.leaves)
    assert _same(files[0], served.dimse_file)
    assert all(_same(p, served.leaves[p.stem]) for p in files[1:])
    assert not list(tmp_path.glob("*.part"))


def test_search_pages_through_everything(served: Served) -> None:
    with WebClient(served.base) as client:
        tree = {"TransactionUID": str(served.event.TransactionUID)}
        everything = [str(d.SOPInstanceUID) for d in client.search(tree)]
        paged = [str(d.SOPInstanceUID) for d in client.search(tree, page_size=2)]
    assert paged == everything and len(everything) == 1 + len(served.leaves)


def test_cli_retrieve_export_diff_by_url(served: Served, tmp_path: Path) -> None:
    url = served.url(f"/inventories/{served.root_uid}")
    done = _run("retrieve", url, "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert f"root {tmp_path / 'r' / served.root_uid}.dcm" in done.stdout
    # export by URL gives the rows the DIMSE-retrieved files give
    by_url = _run("export", url, "--format", "csv", "--out", str(tmp_path / "u.csv"))
    assert by_url.returncode == 0, by_url.stderr
    by_file = _run(
        "export", str(served.dimse_file), "--format", "csv", "--out", str(tmp_path / "f.csv")
    )
    assert by_file.returncode == 0, by_file.stderr
    rows_u = list(csv.reader((tmp_path / "u.csv").read_text().splitlines()))
    rows_f = list(csv.reader((tmp_path / "f.csv").read_text().splitlines()))
    assert len(rows_u) > 1 and sorted(rows_u) == sorted(rows_f)
    same = _run("diff", url, str(served.dimse_file))
    assert same.returncode == 0, same.stdout + same.stderr
    found = _run(
        "search", "--url", served.base, f"SOPInstanceUID={served.root_uid}", "--format", "json"
    )
    assert found.returncode == 0 and served.root_uid in found.stdout


def test_cli_errors_are_one_line_with_the_peer_exit_code(served: Served, tmp_path: Path) -> None:
    done = _run("retrieve", served.url("/inventories/1.2.3.4.5.6"), "--out", str(tmp_path))
    assert done.returncode == 4
    assert "404" in done.stderr and "Traceback" not in done.stderr
    done = _run(
        "export",
        "http://127.0.0.1:9/dicomweb/inventories/1.2.3",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert done.returncode == 4 and "Traceback" not in done.stderr


def test_retries_get_through_a_flaky_server(served: Served, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(served.dimse_file, src)
    with (
        FakeOrigin(src, {"flaky"}, flaky_count=3) as fake,
        WebClient(fake.base, backoff=0.01) as client,
    ):
        path = client.retrieve(served.root_uid, tmp_path / "out")
        assert _same(path, served.dimse_file)
        assert fake.requests == 4
    with (
        FakeOrigin(src, {"flaky"}, flaky_count=10) as fake,
        WebClient(fake.base, backoff=0.01, retries=2) as client,
    ):
        with pytest.raises(WebError, match="503"):
            client.retrieve(served.root_uid, tmp_path / "out2")


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("wrong_media_type", "Content-Type"),
        ("broken_boundary", "closing"),
        ("truncated", "broke off|closing|not a readable"),
    ],
)
def test_a_broken_retrieve_never_leaves_a_file(
    served: Served, tmp_path: Path, fault: str, words: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(served.dimse_file, src)
    with FakeOrigin(src, {fault}) as fake, WebClient(fake.base, backoff=0.01, retries=1) as client:
        with pytest.raises(WebError, match=words):
            client.retrieve(served.root_uid, tmp_path / "out")
    assert not (tmp_path / "out" / f"{served.root_uid}.dcm").exists()


def test_repository_query_over_http_lists_what_dimse_lists(served: Served) -> None:
    """QIDO-RS Repository Query paged by PriorRecordKey (PS3.18 10.6) gives the DIMSE answer."""
    with WebClient(served.base) as client:
        pages = list(client.repository_query("IMAGE", page_size=7))
    assert all(p.more for p in pages[:-1]) and not pages[-1].more
    by_http = [(str(d.SOPInstanceUID), bytes(d.RecordKey)) for p in pages for d in p.results]
    cmd = ["repository-query", "--level", "IMAGE", "--max-records", "7", "RecordKey"]
    by_dimse = _run(*cmd, "--peer", f"INV_SCP@127.0.0.1:{served.dimse_port}")
    assert by_dimse.returncode == 0, by_dimse.stderr
    rows = [json.loads(line) for line in by_dimse.stdout.splitlines()]
    assert by_http == [(r["SOPInstanceUID"], bytes.fromhex(r["RecordKey"])) for r in rows]
    assert len(by_http) == 72
    via_cli = _run(*cmd, "--url", served.base)
    assert via_cli.returncode == 0, via_cli.stderr
    assert [json.loads(line)["SOPInstanceUID"] for line in via_cli.stdout.splitlines()] == [
        r["SOPInstanceUID"] for r in rows
    ]
    one = _run(*cmd, "--url", served.base, "--one-page")
    assert one.returncode == 3 and "PARTIAL" in one.stderr
    assert _run("repository-query", "--level", "IMAGE").returncode == 2


def test_fetch_by_url_writes_what_fetch_by_file_writes(served: Served, tmp_path: Path) -> None:
    url = served.url(f"/inventories/{served.root_uid}")
    allow = ("--allow-root", str(served.folder / "archive"))  # links are absolute file: URIs
    by_url = _run("fetch", url, "--out", str(tmp_path / "u"), *allow)
    by_file = _run("fetch", str(served.dimse_file), "--out", str(tmp_path / "f"), *allow)
    assert by_url.returncode == by_file.returncode == 0, by_url.stderr + by_file.stderr
    assert "fetched 72" in by_url.stdout
    files_u = sorted(p.relative_to(tmp_path / "u") for p in (tmp_path / "u").rglob("*.dcm"))
    files_f = sorted(p.relative_to(tmp_path / "f") for p in (tmp_path / "f").rglob("*.dcm"))
    assert files_u == files_f and len(files_u) == 72
    assert all(
        (tmp_path / "u" / p).read_bytes() == (tmp_path / "f" / p).read_bytes() for p in files_u
    )
