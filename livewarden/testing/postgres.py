"""A private PostgreSQL server for tests: the Debian server binaries, a throwaway cluster in a temp dir.

`initdb` makes a cluster in its own temporary folder and `postgres` runs it as a single foreground child
process, listening on 127.0.0.1:<free port> with its unix socket inside that folder: no system cluster, config,
log or service is touched, and the folder goes when the server stops. Tuned for tests, not for data: fsync,
synchronous commit and full-page writes are off (a crash loses the cluster, which is thrown away anyway).

PostgreSQL refuses to run as root; run as root, the server runs as the `postgres` system user that the Debian
package creates, in a folder handed to that user.
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec (after its uid changed, which would clear it): ask the kernel to send the
    postmaster SIGINT, a fast shutdown, if our thread dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _reachable(path: Path, uid: int) -> bool:
    """Whether user `uid` (not root) can pass through every folder above `path`."""
    for folder in path.resolve().parents:
        st = folder.stat()
        if not st.st_mode & (stat.S_IXUSR if st.st_uid == uid else stat.S_IXOTH):
            return False
    return True


_live: "weakref.WeakSet[PostgresServer]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop()


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>; use as a context manager.

    >>> with PostgresServer() as pg:                # doctest: +SKIP
    ...     pg.url                                    # postgresql+psycopg://livewarden:PW@127.0.0.1:PORT/livewarden
    ...     pg.new_database("test_one")               # the URL of a new, empty database
    """

    def __init__(self, *, port: int | None = None, database: str = "livewarden", bin_dir: str | Path | None = None,
                 start_timeout: float = 30.0) -> None:
        if not _NAME.fullmatch(database):
            raise ValueError(f"not a plain database name: {database!r}")
        self.port = port or 0
        self.database = database
        self.start_timeout = start_timeout
        self.password = secrets.token_hex(12)
        self._bin = Path(bin_dir) if bin_dir else find_bin_dir()
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None
        self._final_log = ""
        self._lock = threading.Lock()

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
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log(self) -> str:
        """Text of the server's log (for failure messages); after `stop`, the log as it was then."""
        if self._dir is None:
            return self._final_log
        try:
            return (self._dir / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> "PostgresServer":
        with self._lock:
            if self.running:
                return self
            ok, why = self.available()
            if not ok:
                raise RuntimeError(f"cannot start PostgreSQL: {why}")
            if self._bin is None or not (self._bin / "postgres").exists():
                raise RuntimeError(f"cannot start PostgreSQL: no server binaries in {self._bin}")
            self._initdb()
            fixed_port = bool(self.port)
            last_error = ""
            for _attempt in range(1 if fixed_port else 5):
                self._launch(self.port if fixed_port else _free_port())
                try:
                    self._wait_ready()
                    if self.database != "postgres":
                        self._execute(f'CREATE DATABASE "{self.database}"')
                    _live.add(self)
                    return self
                except RuntimeError as exc:  # e.g. the free port was taken meanwhile
                    last_error = str(exc)
                    self._terminate()
            self._cleanup_dir()
            raise RuntimeError(f"PostgreSQL did not start: {last_error}")

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

    def _launch(self, port: int) -> None:
        assert self._dir is not None
        self.port = port
        settings = {**_SETTINGS, "port": str(port), "unix_socket_directories": str(self._dir)}
        cmd = [str(self._bin / "postgres"), "-D", str(self._dir / "data")]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        in_main = threading.current_thread() is threading.main_thread()
        with open(self._dir / "postgres.log", "ab") as log:  # a file, not a pipe nobody reads (it would fill)
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self._dir,
                # PDEATHSIG follows the *thread* that forked; only safe from the main thread
                preexec_fn=_die_with_parent if in_main else None, **self._identity(),
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

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected (SIGTERM would wait for them)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGQUIT)  # immediate shutdown
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)

    def _cleanup_dir(self) -> None:
        if self._dir is not None:
            self._final_log = self.log  # its folder goes now; a failure message may still want it
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def stop(self) -> None:
        with self._lock:
            self._terminate()
            self._cleanup_dir()
            _live.discard(self)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; normal paths call stop()
        try:
            self._terminate()
        except Exception:
            pass
