"""``testkit scu``: the kit as an SCP with faults. Our own SCU (its CLI, in a subprocess) passes
every applicable test under each fault; a raw pynetdicom SCU wrong in one way fails exactly the
test that covers its fault, with evidence that names it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.conformance.testkit import Outcome, Report, ScuKit, ScuKitNode
from dicom_inventory.scu.peer import Peer
from lxml import etree

from tests.conformance.fake_scu import run_fake_scu
from tests.scp.raw_peer import Requester, free_port

KIT_AE, SCU_AE = "INV_SCP", "VENDOR_SCU"
_CLI = [sys.executable, "-m", "dicom_inventory"]


def _outcomes(report: Report) -> dict[str, Outcome]:
    return {r.id: r.outcome for r in report.results}


def _kit(tmp_path: Path, listen: int, faults: set[str]) -> ScuKitNode:
    kit = ScuKit(
        Peer(SCU_AE, "127.0.0.1", listen),
        KIT_AE,
        0,
        frozenset(faults),
        event_delay=3.0,
        event_attempts=3,
        work=tmp_path / "kit",
    )
    node = ScuKitNode(kit)
    node.start()
    return node


def _judge(node: ScuKitNode) -> Report:
    try:
        assert node.wait(60, idle=0.5), "the scenario did not end"
    finally:
        node.stop()
    return node.report()


@pytest.mark.parametrize(
    ("faults", "passing"),
    [
        (set(), {"U-ASSOCIATE", "U-INITIATE", "U-EVENT-ACK", "U-RETRIEVE", "U-QR-IDENTIFIER"}),
        (
            {"split", "slow-events"},
            {"U-ASSOCIATE", "U-INITIATE", "U-EVENT-ACK", "U-RETRIEVE", "U-QR-IDENTIFIER"},
        ),
        ({"failure"}, {"U-ASSOCIATE", "U-INITIATE", "U-FAILURE"}),
        ({"partial-pages"}, {"U-ASSOCIATE", "U-RQ-PAGING"}),
    ],
)
def test_our_scu_passes_every_applicable_test(
    tmp_path: Path, faults: set[str], passing: set[str]
) -> None:
    listen = free_port()
    node = _kit(tmp_path, listen, faults)
    peer = f"{KIT_AE}@127.0.0.1:{node.port}"
    if "partial-pages" in faults:
        cmd = ["repository-query", "--peer", peer, "--calling-ae", SCU_AE]
    else:
        cmd = ["request", "--peer", peer, "--calling-ae", SCU_AE, "--listen-port", str(listen)]
        cmd += ["--out", str(tmp_path / "out"), "--state", str(tmp_path / "state")]
        cmd += ["--timeout", "60"]
        if "slow-events" in faults:  # progress reports (event 12) while the SCU waits
            cmd += ["--interval", "1"]
    done = subprocess.run([*_CLI, *cmd], capture_output=True, text=True, timeout=120)
    report = _judge(node)
    outcomes = _outcomes(report)
    assert report.passed, [(r.id, r.evidence) for r in report.results]
    assert {t for t, o in outcomes.items() if o is Outcome.PASS} == passing, outcomes
    assert set(outcomes) - passing == {
        t for t, o in outcomes.items() if o is Outcome.NOT_APPLICABLE
    }
    if "failure" in faults:  # our SCU explains the refusal and exits non-zero
        assert done.returncode == 1 and "0x0213" in done.stdout, done.stdout + done.stderr
    else:
        assert done.returncode == 0, done.stdout + done.stderr
    if "split" in faults:
        (line,) = [e for e in report.result("U-RETRIEVE").evidence if "in the tree" in e]
        assert int(line.split(": ")[1].split()[0]) > 3, line  # a real tree, not one instance
    if "slow-events" in faults:
        acks = report.result("U-EVENT-ACK").evidence
        assert any("event 11" in e and "after the Initiate" in e for e in acks), acks
        assert any(e.startswith("event 12 PROCESSING") for e in acks), acks
    if "partial-pages" in faults:
        assert "chain of 4 request(s)" in report.result("U-RQ-PAGING").evidence[0]


@pytest.mark.parametrize(
    ("fault", "kit_faults", "failing", "evidence"),
    [
        ("bad-txn-uid", set(), "U-INITIATE", "is not a valid UID"),
        ("no-emm", set(), "U-INITIATE", "does not name EMPTY_VALUE"),
        ("direct-key", set(), "U-INITIATE", "directly in the Scope of Inventory item"),
        ("refuse-events", set(), "U-EVENT-ACK", "refused with 0x0110"),
        ("root-only", {"split"}, "U-RETRIEVE", "not retrieved"),
        ("qr-level", set(), "U-QR-IDENTIFIER", "shall not be"),
        ("control-unknown", set(), "U-CONTROL", "is not one the kit accepted"),
        ("act-on-refused", {"failure"}, "U-FAILURE", "for the refused transaction"),
        ("rq-stop", {"partial-pages"}, "U-RQ-PAGING", "stopped after a partial page"),
        ("gives-up", {"slow-events"}, "U-EVENT-ACK", "(given up)"),
    ],
)
def test_a_faulty_scu_fails_exactly_the_test_of_its_fault(
    tmp_path: Path, fault: str, kit_faults: set[str], failing: str, evidence: str
) -> None:
    requester = Requester(SCU_AE).listen()
    try:
        node = _kit(tmp_path, requester.port, kit_faults)
        run_fake_scu(node.port, requester, tmp_path / "out", fault)
        report = _judge(node)
    finally:
        requester.close()
    outcomes = _outcomes(report)
    failed = {t for t, o in outcomes.items() if o in (Outcome.FAIL, Outcome.ERROR)}
    assert failed == {failing}, [(r.id, r.evidence) for r in report.results]
    assert any(evidence in e for e in report.result(failing).evidence), report.result(failing)


def test_the_fault_free_raw_scu_passes(tmp_path: Path) -> None:
    requester = Requester(SCU_AE).listen()
    try:
        node = _kit(tmp_path, requester.port, {"split"})
        run_fake_scu(node.port, requester, tmp_path / "out", None)
        report = _judge(node)
    finally:
        requester.close()
    assert report.passed, [(r.id, r.evidence) for r in report.results]
    assert report.result("U-RETRIEVE").outcome is Outcome.PASS


def test_cli_runs_the_kit_until_the_scu_is_done(tmp_path: Path) -> None:
    kit_port, listen = free_port(), free_port()
    kit = subprocess.Popen(
        [
            *_CLI,
            "testkit",
            "scu",
            "--listen",
            f"{KIT_AE}@{kit_port}",
            "--peer",
            f"{SCU_AE}@127.0.0.1:{listen}",
            "--fault",
            "split",
            "--idle",
            "1",
            "--duration",
            "90",
            "--report",
            str(tmp_path / "r"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        from tests.scp.raw_peer import wait_listening

        wait_listening(kit_port, 60)
        scu = subprocess.run(
            [
                *_CLI,
                "request",
                "--peer",
                f"{KIT_AE}@127.0.0.1:{kit_port}",
                "--calling-ae",
                SCU_AE,
                "--listen-port",
                str(listen),
                "--out",
                str(tmp_path / "out"),
                "--state",
                str(tmp_path / "state"),
                "--timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert scu.returncode == 0, scu.stdout + scu.stderr
        stdout, stderr = kit.communicate(timeout=120)
    finally:
        if kit.poll() is None:
            kit.kill()
    assert kit.returncode == 0, stdout + stderr
    assert "PASS U-RETRIEVE" in stdout and "seen: C-GET" in stderr, stdout + stderr
    junit = etree.parse(str(tmp_path / "r" / "report.xml")).getroot()
    assert junit.get("failures") == "0" and junit.get("tests") == "8"


def test_kit_settings_are_checked(tmp_path: Path) -> None:
    peer = Peer(SCU_AE, "127.0.0.1", 104)
    with pytest.raises(ValueError, match="not a failure"):
        ScuKit(peer, failure_status=0xB010, work=tmp_path)
    with pytest.raises(ValueError, match="unknown fault.*slow"):
        ScuKit(peer, faults=frozenset({"slow"}), work=tmp_path)
    bad = subprocess.run(
        [*_CLI, "testkit", "scu", "--listen", "KIT", "--peer", f"{SCU_AE}@127.0.0.1:104"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "AE@PORT" in bad.stderr, bad.stderr
