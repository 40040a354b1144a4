"""Replay one reproducer through its target, in this process or in a measured child process.

Bombs (a reproducer whose name says ``bomb``) and the command-line targets run in a child
process, so that their memory is measured (peak RSS from ``wait4``) against a ceiling without
ever growing the test process; the rest run in process under :func:`tests.fuzz.oracle.judge`.

``python -m tests.fuzz.replay TARGET FILE`` replays one file and prints its outcome as JSON
(the child side; also handy by hand).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.fuzz.oracle import Outcome, judge
from tests.fuzz.targets import FILE_TARGETS, stage

__all__ = [
    "CHILD_RSS_MB",
    "CLI_RSS_MB",
    "REPRODUCERS",
    "Measured",
    "in_child",
    "replay",
    "reproducers",
    "run_measured",
]

REPRODUCERS = Path(__file__).parent / "reproducers"
#: Peak RSS a child replaying a bomb may reach (MB): an interpreter with our imports takes
#: ~130 MB; the bombs inflate to 256 MB, which held in memory (twice, on main) goes far past.
CHILD_RSS_MB = 400
#: Peak RSS of ``dicom-inventory validate`` on the findings reproducers (MB): ~90 MB on the
#: same file without findings, so flat memory stays well under; 215 MB on main.
CLI_RSS_MB = 160
#: Seconds a child may run.
CHILD_TIMEOUT = 120.0
#: Seconds one in-process replay may take before it counts as a hang (a FIFO on main).
REPLAY_SECONDS = 8.0
_CLI_TARGETS = {"cli-validate"}


@dataclasses.dataclass(frozen=True)
class Measured:
    """A finished child process: exit status, its output, and its peak RSS (MB)."""

    returncode: int | None
    stdout: str
    stderr: str
    rss_mb: float
    timed_out: bool


#: Forks and execs the command given after the result file, then writes the command's peak RSS
#: (KiB) there. On Linux a process's ``ru_maxrss`` keeps the high-water mark of the process it
#: was forked from across ``exec``, so a command forked straight from a large pytest would
#: report pytest's size; forked from this small interpreter, it reports its own.
_LAUNCHER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_measured(
    cmd: list[str], timeout: float = CHILD_TIMEOUT, cwd: Path | None = None
) -> Measured:
    """Run `cmd`, killing it after `timeout`; its own peak RSS comes from ``wait4``."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        peak = Path(tmp) / "rss"
        launched = [sys.executable, "-c", _LAUNCHER, str(peak), *cmd]
        proc = subprocess.Popen(launched, stdout=out, stderr=err, cwd=cwd, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command
            proc.wait()
            timed_out = True
        out.seek(0)
        err.seek(0)
        return Measured(
            None if timed_out else proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            int(peak.read_text() or 0) / 1024 if peak.exists() else 0.0,
            timed_out,
        )


def reproducers(prefix: str = "") -> list[Path]:
    """Every reproducer file (``reproducers/<target>/<name>``, its ``.txt`` excluded) of the
    targets whose name starts with `prefix`."""
    return sorted(
        p for p in REPRODUCERS.glob(f"{prefix}*/*") if p.is_file() and not p.name.endswith(".txt")
    )


def in_child(path: Path) -> bool:
    """Whether the reproducer `path` is replayed in a measured child process."""
    return path.parent.name in _CLI_TARGETS or "bomb" in path.name


def _cli_validate(path: Path, work: Path) -> Outcome:
    staged = stage(path, work)
    exe = Path(sys.executable).with_name("dicom-inventory")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dicom_inventory"]
    m = run_measured([*cmd, "validate", str(staged)])
    if m.timed_out:
        return Outcome("cli-validate", failure="hang: validate ran past the bound", kind="hang")
    if "Traceback" in m.stderr or m.returncode not in (0, 1, 2):
        last = (m.stderr.strip().splitlines() or ["?"])[-1]
        return Outcome("cli-validate", failure=f"exit {m.returncode}: {last}", kind="exception")
    if m.rss_mb > CLI_RSS_MB:
        return Outcome(
            "cli-validate",
            failure=f"rss: validate peaked at {m.rss_mb:.0f} MB (ceiling {CLI_RSS_MB} MB)",
            kind="rss",
            rss_mb=m.rss_mb,
        )
    return Outcome("cli-validate", rss_mb=m.rss_mb)


def _replay_here(path: Path, work: Path) -> Outcome:
    target = path.parent.name
    if target == "ingest":
        staged = stage(path, work, name=path.name, unzip=False)
    else:
        staged = stage(path, work)
    return judge(target, lambda: FILE_TARGETS[target](staged, work), seconds=REPLAY_SECONDS)


def replay(path: Path, work: Path) -> Outcome:
    """Replay the reproducer `path` through the target its folder names."""
    target = path.parent.name
    if target in _CLI_TARGETS:
        return _cli_validate(path, work)
    if not in_child(path):
        return _replay_here(path, work)
    m = run_measured(
        [sys.executable, "-m", "tests.fuzz.replay", str(path)], cwd=Path(__file__).parents[2]
    )
    if m.timed_out:
        return Outcome(target, failure="hang: the replay ran past the bound", kind="hang")
    try:
        outcome = Outcome(**json.loads(m.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError):
        last = (m.stderr.strip().splitlines() or ["?"])[-1]
        return Outcome(target, failure=f"child exit {m.returncode}: {last}", kind="exception")
    if outcome.ok and m.rss_mb > CHILD_RSS_MB:
        return Outcome(
            target,
            failure=f"rss: peaked at {m.rss_mb:.0f} MB (ceiling {CHILD_RSS_MB} MB)",
            kind="rss",
            rss_mb=m.rss_mb,
        )
    return dataclasses.replace(outcome, rss_mb=m.rss_mb)


def main(argv: list[str]) -> int:
    """Child side: replay one file in this process, print the outcome as one JSON line."""
    path = Path(argv[0]).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        outcome = _replay_here(path, Path(tmp))
    print(json.dumps(dataclasses.asdict(outcome)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
