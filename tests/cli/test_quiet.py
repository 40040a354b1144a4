"""Warnings from dependencies do not reach the user's terminal; ``-v`` logs them (issue 21).

`query` against a real `serve` whose stored inventory carries an invalid UID (pydicom warns
"Invalid value for VR UI" when the response is read), and the UV return key that pydicom warned
about ("A value of type 'str' cannot be assigned to a tag with VR UV"): stderr holds no
``UserWarning`` block, and ``-v`` shows the warning as one log line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_query_output import BAD_TXN, Node, run_cli, start_node

#: What Python's default warning display writes: the category, and the source line below it.
TRACES = ("UserWarning", "warn_and_log", "warnings.warn")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from start_node(tmp_path_factory.mktemp("node"))


def test_query_shows_no_dependency_warning(node: Node) -> None:
    r = run_cli("query", "--peer", node.peer, "TransactionUID")
    assert r.returncode == 0, r.stderr
    assert BAD_TXN in r.stdout  # the value was read (and pydicom warned about it)
    for trace in TRACES:
        assert trace not in r.stderr, r.stderr
    assert "Invalid value" not in r.stderr, r.stderr
    assert r.stderr.strip() == "2 inventory instance(s)"


def test_verbose_logs_the_warning_as_one_line(node: Node) -> None:
    r = run_cli("-v", "query", "--peer", node.peer, "TransactionUID")
    assert r.returncode == 0, r.stderr
    for trace in TRACES:
        assert trace not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if BAD_TXN in line]
    assert len(lines) == 1, r.stderr  # pydicom's own log line, not again as a warning
    assert lines[0].startswith("WARNING pydicom: Invalid value for VR UI"), lines


def test_verbose_logs_other_libraries_warnings_once(tmp_path: Path) -> None:
    """A warning that no library logged itself goes to the log at INFO, as one line."""
    code = (
        "import sys, warnings\n"
        "from dicom_inventory.cli.main import quiet_warnings\n"
        "quiet_warnings(verbose=len(sys.argv) > 1)\n"
        "warnings.warn('a dependency says something', UserWarning)\n"
    )
    import subprocess
    import sys

    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    loud = subprocess.run([sys.executable, "-c", code, "-v"], capture_output=True, text=True)
    assert loud.stderr == "INFO py.warnings: UserWarning: a dependency says something\n"
