"""A throwaway PostgreSQL server for the scale tests and benchmarks.

Debian's `postgresql` package (what `.ci/run` installs) ships `initdb` and `pg_ctl` under
`/usr/lib/postgresql/<version>/bin`. They refuse to run as root, so as root they run as the
`postgres` user (`runuser`), in a temporary directory that user owns. The server listens on
127.0.0.1 only, on a free port, with `trust` authentication: nothing but this machine can reach it,
and it is deleted when stopped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ENABLE_VARIABLE = "TEST_POSTGRES"
"""Set to 1 to run the PostgreSQL tests outside CI (in CI, `CI=true`, they always run)."""

HOW_TO_ENABLE = (
    f"PostgreSQL scale tests skipped: set {ENABLE_VARIABLE}=1 (or CI=true) to run them; they need "
    "Debian's postgresql package (apt-get install -y postgresql)."
)


def required() -> bool:
    """Whether these tests must run: in CI, or when asked to."""
    return os.environ.get("CI") == "true" or os.environ.get(ENABLE_VARIABLE) == "1"


def find_bindir() -> Path | None:
    """The newest `/usr/lib/postgresql/*/bin` holding `pg_ctl`, or the one on PATH."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class Postgres:
    """One PostgreSQL cluster in a temporary directory; `start`, `stop`, `restart`, `cleanup`.

    Args:
        bindir: Directory holding `initdb`, `pg_ctl` and `createdb`.
        port: TCP port on 127.0.0.1.
    """

    def __init__(self, bindir: Path, port: int) -> None:
        self.bindir = bindir
        self.port = port
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as
        # the postgres user.
        self.root = Path(tempfile.mkdtemp(prefix="telnyx-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, user="postgres")
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _pg(self, tool: str, *args: str) -> str:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            msg = f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
            raise RuntimeError(msg)
        return done.stdout

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        # fsync off: a test database need not survive a power cut, and it is much faster.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=300"
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop; `fast` rolls back open transactions and closes every connection."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop (closing every client connection) and start again on the same port."""
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """Create database `name` and return its SQLAlchemy URL for Prefect (asyncpg)."""
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def cleanup(self) -> None:
        """Stop if running (immediately) and delete the directory."""
        with contextlib.suppress(RuntimeError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
