"""Configuration and start-up errors of ``serve`` name the file, table, key and what is expected.

Before (issue 21, round 2): ``port = "abc"`` gave ``'<=' not supported between instances of
'int' and 'str'``; a ``[peers.X]`` without host and port gave ``Peer.__init__() missing 2
required positional arguments``; a busy port gave ``[Errno 98] Address already in use``
without naming the port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.scp.config import ConfigError, load_config

CLI = (sys.executable, "-m", "dicom_inventory")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('port = "abc"', 'node.toml: port = "abc": expected an integer'),
        ("port = 70000", "node.toml: port = 70000: expected 0..65535"),
        ("port = true", "node.toml: port = true: expected an integer"),
        ("archive = 5", "node.toml: archive = 5: expected a path (a string)"),
        (
            'accepted_calling_ae_titles = "MIGRATOR"',
            'node.toml: accepted_calling_ae_titles = "MIGRATOR": expected a list of strings',
        ),
        ("accept_any_called_ae_title = 1", "accept_any_called_ae_title = 1: expected true or"),
        ('[peers.X]\nae_title = "X"', "node.toml [peers.X]: missing host, port (required)"),
        (
            '[peers.X]\nae_title = "X"\nhost = "h"\nport = "11113"',
            'node.toml [peers.X]: port = "11113": expected an integer',
        ),
        (
            '[peers.X]\nae_title = "X"\nhost = "h"\nport = 0',
            "node.toml [peers.X]: port = 0: expected 1..65535",
        ),
        ("peers = 4", "node.toml: peers = 4: expected a table, [peers]"),
        ("limits = 3", "node.toml: limits = 3: expected a table, [limits]"),
        ('[limits]\nmax_jobs = "2"', 'node.toml [limits]: max_jobs = "2": expected an integer'),
        ("[limits]\nmax_jobs = 0", "node.toml: [limits] max_jobs = 0: expected at least 1"),
        ("[limits]\nretention_days = -1", "[limits] retention_days = -1: expected a number > 0"),
        ("[limits]\nmax_pdu = -1", "[limits] max_pdu = -1: expected at least 0"),
        ('[limits]\nacse_timeout = "10"', 'acse_timeout = "10": expected a number'),
        ("[services]\nrepository_query = 1", "[services]: repository_query = 1: expected true"),
        ("[tls]\ncertificate = 5", "node.toml [tls]: certificate = 5: expected a path"),
        ('[tls]\ncertificate = "c.pem"', "node.toml [tls]: missing private_key (required)"),
        ('[http]\nport = "8042"', 'node.toml [http]: port = "8042": expected an integer'),
        ("[http]\nport = 70000", "node.toml: [http] port = 70000: expected 0..65535"),
        ("[http]\nstore = 1", "node.toml [http]: store = 1: expected true or false"),
    ],
)
def test_a_bad_value_names_file_table_key_and_what_is_expected(
    tmp_path: Path, toml: str, expected: str
) -> None:
    config = tmp_path / "node.toml"
    body = toml if toml.startswith("archive") else f'archive = "a"\n{toml}'
    config.write_text(body + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    assert expected in message, message
    assert message.startswith(str(config)), message
    for internal in ("__init__", "positional argument", "not supported between", "NoneType"):
        assert internal not in message, message


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def _usage_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr, done.stderr
    return " ".join(done.stderr.split())


def test_serve_names_the_bad_setting(tmp_path: Path) -> None:
    (tmp_path / "badcfg2.toml").write_text('archive = "a"\nport = "abc"\n')
    message = _usage_error(_run("serve", "--config", str(tmp_path / "badcfg2.toml")))
    assert message == f'error: {tmp_path / "badcfg2.toml"}: port = "abc": expected an integer'


@pytest.fixture
def busy_port() -> object:
    """A port another process's socket listens on (here: this test's)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_serve_on_a_busy_port_names_it_and_what_to_do(tmp_path: Path, busy_port: int) -> None:
    folder = tmp_path / "new"
    done = _run("serve", "--archive", str(folder), "--create", "--port", str(busy_port))
    message = _usage_error(done)
    assert message == (
        f"error: port {busy_port} is in use on 127.0.0.1 (another serve? choose another port: "
        "--port, or port in the configuration file)"
    )
    assert not folder.exists()  # refused before the archive was made


def test_serve_on_a_busy_dicomweb_port_names_that_one(tmp_path: Path, busy_port: int) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'archive = "new"\nport = 0\n[http]\nport = {busy_port}\n')
    message = _usage_error(_run("serve", "--config", str(config), "--create"))
    assert f"port {busy_port} is in use" in message and "--http-port" in message
