"""``testkit dicomweb`` judged: it passes our origin server and a clean fake, and fails each
seeded fault of the fake origin server (tests/fake_origin.py) naming the check that caught it.

The node is a real ``dicom-inventory serve`` process (the ``served`` fixture); the fake is an
independent server on the standard library's ``http.server``; the kit runs as the command a
tester types, and its JUnit report is read back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.conformance.testkit import Outcome
from dicom_inventory.conformance.testkit.web import CHECKS, WebKit, run_web_battery
from dicom_inventory.uid import generate_uid
from lxml import etree

from tests.fake_origin import FakeOrigin
from tests.web_node import Served, secure_node, stop

CLI = [
    shutil.which("dicom-inventory") or sys.executable,
    *([] if shutil.which("dicom-inventory") else ["-m", "dicom_inventory"]),
]
ALWAYS_NA = {"W-STORE", "W-AUTH"}  # asked for only with --store / a token


@pytest.fixture()
def tree(served: Served, tmp_path: Path) -> Path:
    """The node's tree as Inventory GET delivered it, for the fake to serve."""
    folder = tmp_path / "src"
    folder.mkdir()
    for path in [served.dimse_file, *served.leaves.values()]:
        shutil.copy(path, folder / path.name)
    return folder


def test_our_origin_server_passes_every_check(served: Served, tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "testkit", "dicomweb", "--url", served.base, "--report", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    outcomes = {r["id"]: r["outcome"] for r in report["results"]}
    assert set(outcomes) == {c.id for c in CHECKS.checks}
    assert {k for k, v in outcomes.items() if v != "pass"} == ALWAYS_NA
    junit = etree.parse(str(tmp_path / "r" / "report.xml")).getroot()
    [suite] = junit.iter("testsuite")
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert "W-SEARCH-PAGING" in done.stdout and "Traceback" not in done.stderr


def test_the_clean_fake_passes_so_each_fault_is_the_fault(tree: Path) -> None:
    with FakeOrigin(tree, repository=True) as fake:
        report = run_web_battery(WebKit(fake.base))
    bad = [(r.id, r.evidence) for r in report.results if r.outcome is Outcome.FAIL]
    assert report.passed, bad
    assert report.result("W-RQ-PAGING").outcome is Outcome.PASS
    with FakeOrigin(tree) as fake:  # Repository Query is optional: not offered, not judged
        assert run_web_battery(WebKit(fake.base)).result("W-RQ-PAGING").outcome.value == (
            "not applicable"
        )


@pytest.mark.parametrize(
    ("fault", "check", "words"),
    [
        ("wrong_media_type", "W-RETRIEVE-PART10", "Content-Type 'application/octet-stream'"),
        ("paging_without_warning", "W-SEARCH-PAGING", "Warning: 299"),
        ("broken_boundary", "W-RETRIEVE-PART10", "closing"),
        ("no_406", "W-RETRIEVE-NO-ACCEPT", "8.7.5"),
        ("truncated", "W-RETRIEVE-PART10", ""),
        ("rq_without_record_key", "W-RQ-PAGING", "Record Key (0008,041B)"),
    ],
)
def test_each_seeded_fault_fails_the_check_that_judges_it(
    tree: Path, tmp_path: Path, fault: str, check: str, words: str
) -> None:
    with FakeOrigin(tree, {fault}, repository=True) as fake:
        done = subprocess.run(
            [*CLI, "testkit", "dicomweb", "--url", fake.base, "--report", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAIL {check}" in done.stdout
    results = {r["id"]: r for r in json.loads((tmp_path / "report.json").read_text())["results"]}
    assert results[check]["outcome"] == "fail"
    assert words in "\n".join(results[check]["evidence"])


def test_over_https_with_a_token_store_then_judge_then_retrieve(tmp_path: Path) -> None:
    """A node of its own with HTTPS and a bearer token (Store is on by default): the kit
    stores an inventory (--store), judges the server holding it, and our user agent
    retrieves and searches it, each with --ca-cert and --token-file."""
    node = secure_node(tmp_path, "kit-token")
    base, proc = node.base, node.proc
    tls = ["--ca-cert", str(node.cert), "--token-file", str(node.token)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args, *tls], capture_output=True, text=True, timeout=300)

    try:
        first = run(
            "testkit", "dicomweb", "--url", base, "--store", "--report", str(tmp_path / "a")
        )
        assert first.returncode == 0, first.stdout + first.stderr
        assert "PASS W-STORE" in first.stdout and "PASS W-AUTH" in first.stdout
        second = run("testkit", "dicomweb", "--url", base, "--report", str(tmp_path / "b"))
        assert second.returncode == 0, second.stdout + second.stderr
        results = json.loads((tmp_path / "b" / "report.json").read_text())["results"]
        # one inventory: nothing to page (W-SEARCH-PAGING needs 2); Store not asked for
        not_passed = {r["id"] for r in results if r["outcome"] != "pass"}
        assert not_passed == {"W-STORE", "W-SEARCH-PAGING"}
        stored = next(r for r in results if r["id"] == "W-SEARCH")["evidence"]
        assert "1 inventory listed" in stored
        found = run("search", "--url", base, "--format", "json")
        assert found.returncode == 0, found.stderr
        [uid] = [d["00080018"]["Value"][0] for d in json.loads(found.stdout)]
        got = run("retrieve", f"{base}/inventories/{uid}", "--out", str(tmp_path / "r"))
        assert got.returncode == 0 and (tmp_path / "r" / f"{uid}.dcm").exists(), got.stderr
        refused = subprocess.run(
            [*CLI, "search", "--url", base, "--ca-cert", str(node.cert)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 4 and "401" in refused.stderr
    finally:
        stop(proc)


def test_a_token_is_sent_and_checked(served: Served, tmp_path: Path) -> None:
    """Against a server that needs none, the W-AUTH check fails: the token is not required."""
    report = run_web_battery(WebKit(served.base, token="secret", uid=served.root_uid))
    auth = report.result("W-AUTH")
    assert auth.outcome is Outcome.FAIL and "expected 401" in "\n".join(auth.evidence)


def test_usage_errors_and_an_unreachable_server(tmp_path: Path) -> None:
    bad = subprocess.run(
        [*CLI, "testkit", "dicomweb", "--url", "ftp://x/inventories"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "http://" in bad.stderr
    report = run_web_battery(WebKit("http://127.0.0.1:9/dicomweb", uid=generate_uid(), timeout=2))
    assert report.result("W-CAPABILITIES").outcome is Outcome.ERROR
    assert not report.passed
