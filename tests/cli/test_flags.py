"""One flag vocabulary (issue 21): ``--calling-ae``/``-aet``, ``-aec``, one environment
variable per setting, ``-v/-q/--log-level`` on every command, the state folder in the
platform's place (with the old ``~/.dicom-inventory`` still read), and ``KEY=VALUE`` values
checked against their VR before anything is sent.

The commands run as child processes, as a user runs them, against a real ``serve``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from dicom_inventory.cli.main import cli
from dicom_inventory.cli.options import ENVIRONMENT, to_keys

from tests.cli.test_query_output import Node, start_node
from tests.scp.raw_peer import free_port


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from start_node(tmp_path_factory.mktemp("node"))


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_INVENTORY_")}
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


def _address(node: Node) -> str:
    return node.peer.split("@", 1)[1]  # HOST:PORT


def _commands(command: click.Command, path: str = "") -> Iterator[tuple[str, click.Command]]:
    yield path or "dicom-inventory", command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}".strip())


def test_every_command_takes_verbose_quiet_and_log_level() -> None:
    missing = [
        (name, flag)
        for name, command in _commands(cli)
        for flag in ("-v", "-q", "--log-level")
        if not any(flag in getattr(p, "opts", ()) for p in command.params)
    ]
    assert missing == []


#: Commands with a --peer of their own meaning (the testkits: the system under test; the
#: statement's --check), not yet on the shared options.
_OWN_PEER = ("testkit scp", "testkit scu", "conformance-statement")
#: Commands whose peers are arguments (``diff``'s ``dicom:AE@HOST:PORT`` sides): no --peer,
#: so no -aec; they should take the TLS options (``@tls_options``).
_PEER_IN_ARGUMENTS = ("diff",)


def test_every_peer_command_takes_the_same_connection_flags() -> None:
    """Where ``--peer`` is, ``-aec`` and the TLS options are; ``-aet`` is ``--calling-ae``."""
    checked = []
    for name, command in _commands(cli):
        opts = {o for p in command.params for o in getattr(p, "opts", ())}
        envs = {p.name: p.envvar for p in command.params if isinstance(p, click.Option)}
        if name in _OWN_PEER or not opts & {"--peer", "--calling-ae"}:
            continue
        checked.append(name)
        assert "-aet" in opts and envs["calling_ae"] == ENVIRONMENT["calling_ae"], name
        if name in _PEER_IN_ARGUMENTS:
            continue
        assert {"-aec", "--tls-ca", "--tls-cert", "--tls-key"} <= opts, name
        assert envs["peer"] == ENVIRONMENT["peer"], name
    assert {"query", "repository-query", "request", "retrieve", "crawl", "diff"} <= set(checked)


def test_aet_aec_and_the_environment(node: Node) -> None:
    ok = _run("query", "--peer", _address(node), "-aec", "INV_SCP", "-aet", "MY_SCU")
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.splitlines()) == 2
    # -aec replaces the AE part of --peer
    over = _run("query", "--peer", f"WRONG@{_address(node)}", "-aec", "INV_SCP", "-q")
    assert over.returncode == 0, over.stderr
    # the same from the environment, one variable per setting
    env = {
        ENVIRONMENT["peer"]: _address(node),
        ENVIRONMENT["called_ae"]: "INV_SCP",
        ENVIRONMENT["calling_ae"]: "ENV_SCU",
    }
    by_env = _run("query", env=env)
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout == ok.stdout


def test_a_peer_without_ae_title_and_no_aec_is_a_usage_error() -> None:
    done = _run("query", "--peer", f"127.0.0.1:{free_port()}")
    assert done.returncode == 2, done.stderr
    assert "AE@HOST:PORT" in done.stderr and "Traceback" not in done.stderr


def test_quiet_verbose_and_log_level_on_the_command(node: Node) -> None:
    """``query -q``: the data, nothing else; ``query -v`` (after the command name as well as
    before it): the dependency warning as one log line, which ``--log-level WARNING`` leaves out
    (dependency warnings only at -v)."""
    loud = _run("query", "--peer", node.peer, "TransactionUID")
    quiet = _run("query", "--peer", node.peer, "TransactionUID", "-q")
    assert loud.returncode == quiet.returncode == 0, loud.stderr + quiet.stderr
    assert "2 inventory instance(s)" in loud.stderr
    assert quiet.stderr == "" and quiet.stdout == loud.stdout
    verbose = _run("query", "--peer", node.peer, "TransactionUID", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert "WARNING pydicom: Invalid value for VR UI" in verbose.stderr
    assert "UserWarning" not in verbose.stderr
    level = _run("query", "--peer", node.peer, "TransactionUID", "--log-level", "WARNING")
    assert level.returncode == 0 and "Invalid value" not in level.stderr, level.stderr
    both = _run("query", "--peer", node.peer, "-v", "-q")
    assert both.returncode == 2 and "contradict" in both.stderr


def test_log_level_from_the_environment_on_a_local_command(tmp_path: Path) -> None:
    done = _run(
        "sample", "--out", str(tmp_path), "--studies", "1", env={ENVIRONMENT["log_level"]: "bogus"}
    )
    assert done.returncode == 2 and "log-level" in done.stderr, done.stderr
    done = _run("sample", "--out", str(tmp_path), "--studies", "1", "-q")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("StudyDate=20211301-", "month 13"),
        ("StudyDate=20211231-20210101", "begins after it ends"),
        ("StudyDate=-", "an empty range"),
        ("StudyInstanceUID=1.2.3a", "VR UI"),
        ("StudyInstanceUID=1.2.3\\1.2.x", "'1.2.x'"),
        ("StudyTime=2500", "hour 25"),
        ("ModalitiesInStudy=CT\\mr", "VR CS"),
        ("TotalNumberOfStudyRecords=many", "not an integer"),
        ("TotalNumberOfStudyRecords=-1", "not in 0.."),
    ],
)
def test_matching_values_are_checked_against_their_vr(key: str, said: str) -> None:
    with pytest.raises(click.BadParameter) as bad:
        to_keys((key,))
    assert key.split("=")[0] in bad.value.message and said in bad.value.message


def test_a_bad_query_value_is_a_usage_error_before_anything_is_sent() -> None:
    done = _run("query", "--peer", f"NOBODY@127.0.0.1:{free_port()}", "StudyDate=20211301-")
    assert done.returncode == 2, done.stderr
    assert "StudyDate" in done.stderr and "month 13" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_good_matching_values_pass(node: Node) -> None:
    done = _run(
        "query",
        "--peer",
        node.peer,
        "ContentDate=20200101-",
        "SOPInstanceUID=1.2.826.0.1.3680043.10.1234.1\\1.2.826.0.1.3680043.10.1234.2",
        "InventoryPurpose=MIGR*",
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_request_scope_values_are_checked_before_anything_is_remembered(tmp_path: Path) -> None:
    done = _run(
        "request",
        "--peer",
        f"NOBODY@127.0.0.1:{free_port()}",
        "--scope",
        "StudyDate=20211301-",
        "--state",
        str(tmp_path / "state"),
        "--listen-port",
        "0",
    )
    assert done.returncode == 2, done.stderr
    assert "StudyDate" in done.stderr and "month 13" in done.stderr
    assert "transaction" not in done.stderr


def _home(tmp_path: Path) -> dict[str, str]:
    """A user whose home and XDG folders are under `tmp_path`."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "HOME": str(home),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG places are Linux's")
def test_the_state_folder_is_the_platforms(tmp_path: Path) -> None:
    env = _home(tmp_path)
    done = _run("request", "list", env=env)
    assert done.returncode == 0, done.stderr
    where = tmp_path / "xdg-state" / "dicom-inventory"
    assert str(where) in " ".join(done.stderr.split())
    assert (where / "transactions.sqlite").exists()
    assert not (tmp_path / "home" / ".dicom-inventory").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG places are Linux's")
def test_an_old_state_folder_is_still_read(tmp_path: Path) -> None:
    from dicom_inventory.scu.peer import Peer
    from dicom_inventory.scu.request import TransactionStore

    env = _home(tmp_path)
    legacy = tmp_path / "home" / ".dicom-inventory"
    store = TransactionStore(legacy)
    store.add("1.2.3.4", Peer("OLD", "127.0.0.1", 104), "STUDY", calling_ae="OLD_SCU")
    store.close()
    done = _run("request", "list", env=env)
    assert done.returncode == 0, done.stderr
    (row,) = [line.split("\t") for line in done.stdout.splitlines()[1:]]
    assert row[:3] == ["1.2.3.4", "OLD@127.0.0.1:104", "STUDY"]
    # the environment variable names another folder
    other = _run("request", "list", env={**env, ENVIRONMENT["state"]: str(tmp_path / "s")})
    assert other.stdout == "" and str(tmp_path / "s") in other.stderr


def test_help_names_the_environment_variables() -> None:
    done = _run("request", "--help")
    said = " ".join(done.stdout.split())
    for setting in ("peer", "calling_ae", "state", "listen_port", "tls_ca", "log_level"):
        assert ENVIRONMENT[setting] in said, setting
    assert json.dumps(ENVIRONMENT)  # plain names, documented as they are
