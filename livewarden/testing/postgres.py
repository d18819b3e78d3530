"""A private PostgreSQL server for tests: the Debian server binaries, a throwaway cluster in a temp dir.

`initdb` makes a cluster in its own temporary folder and `postgres` runs it as a single foreground child
process, listening on 127.0.0.1:<free port> with its unix socket inside that folder: no system cluster, config,
log or service is touched, and the folder goes when the server stops. Tuned for tests, not for data: fsync,
synchronous commit and full-page writes are off (a crash loses the cluster, which is thrown away anyway).

PostgreSQL refuses to run as root; run as root, the server runs as the `postgres` system user that the Debian
package creates, in a folder handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from livewarden.testing.private_server import PrivateServer, die_with_parent

BIN_GLOB = "/usr/lib/postgresql/*/bin"
RUN_AS = "postgres"  # the system user of Debian's postgresql package, when we are root
SUPERUSER = "livewarden"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a database name that needs no quoting

_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "50",
    "max_wal_size": "256MB",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


def find_bin_dir() -> Path | None:
    """The newest installed server's bin folder (/usr/lib/postgresql/<version>/bin) with initdb and postgres."""
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", Path(path).parent.name))

    for candidate in sorted(glob.glob(BIN_GLOB), key=version, reverse=True):
        if all(os.access(Path(candidate) / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return Path(candidate)
    return None


def _reachable(path: Path, uid: int) -> bool:
    """Whether user `uid` (not root) can pass through every folder above `path`."""
    for folder in path.resolve().parents:
        st = folder.stat()
        if not st.st_mode & (stat.S_IXUSR if st.st_uid == uid else stat.S_IXOTH):
            return False
    return True


class PostgresServer(PrivateServer):
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>; use as a context manager.

    >>> with PostgresServer() as pg:                # doctest: +SKIP
    ...     pg.url                                    # postgresql+psycopg://livewarden:PW@127.0.0.1:PORT/livewarden
    ...     pg.new_database("test_one")               # the URL of a new, empty database
    """

    NAME = "PostgreSQL"
    LOG = "postgres.log"
    # fast shutdown: clients are disconnected (SIGTERM would wait for them); then immediate
    STOP = ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0))

    def __init__(self, *, port: int | None = None, database: str = "livewarden", bin_dir: str | Path | None = None,
                 start_timeout: float = 30.0) -> None:
        if not _NAME.fullmatch(database):
            raise ValueError(f"not a plain database name: {database!r}")
        super().__init__(port, start_timeout)
        self.database = database
        self.password = secrets.token_hex(12)
        self._bin = Path(bin_dir) if bin_dir else find_bin_dir()

    # -- discovery -------------------------------------------------------
    @staticmethod
    def available() -> tuple[bool, str]:
        """(True, "") when the server binaries (and, as root, a user to run them) are there, else (False, why)."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            return False, f"PostgreSQL server binaries (initdb, postgres) not found in {BIN_GLOB} (apt-get install postgresql)"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(RUN_AS)
            except KeyError:
                return False, f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as"
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return False, "psycopg is not installed (pip install 'psycopg[binary]')"
        return True, ""

    @property
    def version(self) -> str:
        """The server's version line, e.g. "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"."""
        if self._bin is None:
            raise RuntimeError("no PostgreSQL server binaries")
        return subprocess.run([str(self._bin / "postgres"), "--version"], capture_output=True, text=True,
                              check=True).stdout.strip()

    # -- addresses -------------------------------------------------------
    def url_of(self, database: str) -> str:
        if not self.port:
            raise RuntimeError("PostgresServer not started")
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the database made at start."""
        return self.url_of(self.database)

    def new_database(self, name: str) -> str:
        """Make an empty database `name` (lower case letters, digits, _) -> its URL."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    # -- lifecycle -------------------------------------------------------
    def _prepare(self) -> None:
        if self._bin is None or not (self._bin / "postgres").exists():
            raise RuntimeError(f"cannot start PostgreSQL: no server binaries in {self._bin}")
        self._initdb()

    def _ready(self) -> None:
        if self.database != "postgres":
            self._execute(f'CREATE DATABASE "{self.database}"')

    def _identity(self) -> dict:
        """subprocess options that run a server tool as the `postgres` user when we are root."""
        if os.geteuid() != 0:
            return {}
        user = pwd.getpwnam(RUN_AS)
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        self._cleanup_dir()
        identity = self._identity()
        base = None
        if identity and not _reachable(Path(tempfile.gettempdir()), identity["user"]):
            base = "/tmp"  # e.g. TMPDIR under /root: the server's user could not reach its own folder
        self._dir = Path(tempfile.mkdtemp(prefix="livewarden-pg-", dir=base))
        (self._dir / "pwfile").write_text(self.password + "\n")
        if identity:
            for path in (self._dir, self._dir / "pwfile"):
                os.chown(path, identity["user"], identity["group"])
        cmd = [str(self._bin / "initdb"), "-D", str(self._dir / "data"), "-U", SUPERUSER,
               "--pwfile", str(self._dir / "pwfile"), "--auth-local=trust", "--auth-host=scram-sha-256",
               "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=self._dir,
                                **identity)
        (self._dir / "pwfile").unlink()
        if result.returncode != 0:
            out = (result.stderr or result.stdout).strip()[-800:]
            self._cleanup_dir()
            raise RuntimeError(f"initdb failed ({result.returncode}): {out}")

    def _launch(self) -> None:
        assert self._dir is not None
        settings = {**_SETTINGS, "port": str(self.port), "unix_socket_directories": str(self._dir)}
        cmd = [str(self._bin / "postgres"), "-D", str(self._dir / "data")]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        with open(self._dir / self.LOG, "ab") as log:  # a file, not a pipe nobody reads (it would fill)
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self._dir,
                # given after the uid changed (which would clear it): SIGINT, a fast shutdown
                preexec_fn=die_with_parent(signal.SIGINT), **self._identity(),
            )

    def _connect(self, database: str = "postgres", timeout: float = 2.0):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password,
                               dbname=database, connect_timeout=max(1, round(timeout)), autocommit=True)

    def _execute(self, sql: str) -> None:
        with self._connect() as connection:
            connection.execute(sql)

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.start_timeout
        assert self._proc is not None
        last = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._proc.returncode}: {self.log.strip()[-800:]}")
            try:
                with self._connect(timeout=1.0) as connection:
                    connection.execute("SELECT 1")
                    return
            except psycopg.OperationalError as exc:  # refused, or "the database system is starting up"
                last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                time.sleep(0.02)
        raise RuntimeError(f"PostgreSQL not accepting on port {self.port} after {self.start_timeout}s: {last}")
