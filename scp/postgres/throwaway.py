"""A throwaway PostgreSQL server: for tests, benchmarks and trying the node out.

initdb once, then a database per use (the tests create one per test).

PostgreSQL refuses to run as root, and tests and CI run as root here: the server binaries
(initdb, pg_ctl, postgres) then run as the ``postgres`` user through ``runuser``, on a unix
socket in a temporary folder (no TCP port, so parallel runs never clash). pytest itself stays
root. Recipe and timings: ``shared/peers.md`` (initdb about 1.4 s, start 0.15 s).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "find_bin"]


def find_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One PostgreSQL server in a temporary folder, stopped by PID.

    Parameters
    ----------
    bin_dir : Path
        The folder of ``initdb`` and ``pg_ctl`` (:func:`find_bin`).
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="dicom-inv-pg-"))
        self.data = self.base / "data"
        self.as_root = os.geteuid() == 0
        self.pid: int | None = None
        self._n = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)

    def start(self) -> None:
        """Initialise the cluster and start the server (about 1.5 s)."""
        if self.as_root:
            os.chmod(self.base, 0o755)
            shutil.chown(self.base, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "test", "--no-sync")
        opts = (
            f"-c listen_addresses='' -k {self.base} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-w", "-l", str(self.base / "log"), "-o", opts, "start"
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def dsn(self, dbname: str = "postgres") -> str:
        """Return a libpq connection string to `dbname` on this server's socket."""
        return f"host={self.base} user=test dbname={dbname}"

    def url(self, dbname: str) -> str:
        """Return `dbname` as a ``postgresql://`` URL (the form the node's config takes)."""
        return f"postgresql://test@/{dbname}?host={self.base}"

    def new_database(self, template: str | None = None) -> str:
        """Create an empty database (from `template` if given); return its DSN."""
        import psycopg

        self._n += 1
        name = f"t{os.getpid()}_{self._n}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
            conn.execute(sql)
        return self.dsn(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL by PID) and remove its folder."""
        try:
            if self.pid is not None:
                try:
                    self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
                except (subprocess.SubprocessError, OSError):
                    pass
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        os.kill(self.pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.05)
                else:
                    os.kill(self.pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
