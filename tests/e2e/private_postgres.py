"""A PostgreSQL server of the test's own, so a test can restart it (``pg_ctl restart``) without cutting
the shared server at 127.0.0.1:5432 that other test processes use.

Built from the machine's PostgreSQL binaries (``/usr/lib/postgresql/<version>/bin``): ``initdb`` in a
fresh folder, trust authentication, TCP on a free 127.0.0.1 port, fsync off (the data is thrown
away).  PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
(``runuser``); as any other user it runs as that user.  :func:`unavailable_reason` says why a server
cannot be made here (no binaries, no ``postgres`` user to run as).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _run_as() -> str | None:
    """The user the server runs as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres" if shutil.which("runuser") else None


def unavailable_reason() -> str | None:
    if _bindir() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if _run_as() is None:
        return "running as root without a 'postgres' user (and runuser) to run a private PostgreSQL server as"
    return None


class PrivatePostgres:
    def __init__(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self.bindir = _bindir()
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="cb-private-pg-"))
        self.root.chmod(0o755)  # the server's user must reach its folder
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                               f"{proc.stderr[-2000:]}\n{log}")
        return proc

    def start(self) -> None:
        self.data.mkdir()
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.data, self.user, self.user)
            shutil.chown(self.log, self.user, self.user)
        self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off")
        self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
                  action, *extra)
        if action in ("start", "restart"):
            self.wait_ready()

    def restart(self) -> float:
        """``pg_ctl restart -m fast``: every session is cut, the server comes back; the seconds it took."""
        t0 = time.monotonic()
        self._pg_ctl("restart", "-m", "fast")
        return time.monotonic() - t0

    def wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as con:
                    con.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
