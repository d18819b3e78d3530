"""A private Redis server for tests and benchmarks: Debian's `redis-server` in a temp dir on 127.0.0.1.

Runs in the foreground as our child, with no config file of the system's, its data (and, with `aof=True`, its
append-only file, by default fsynced every write so a restart keeps every acknowledged entry; "everysec" is the
production setting) in its own folder. `kill()` and `restart()` (PrivateServer's) are a crash and a restart.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from livewarden.testing.private_server import PrivateServer, die_with_parent


class RedisServer(PrivateServer):
    """`with RedisServer() as r: r.url` -> "redis://127.0.0.1:PORT/0"."""

    NAME = "Redis"
    LOG = "redis.log"
    STOP = ((signal.SIGTERM, 5.0),)

    def __init__(self, *, port: int | None = None, aof: bool = True, appendfsync: str = "always",
                 start_timeout: float = 10.0) -> None:
        super().__init__(port, start_timeout)
        self.aof, self.appendfsync = aof, appendfsync

    @staticmethod
    def available() -> tuple[bool, str]:
        if shutil.which("redis-server") is None:
            return False, "redis-server not found (apt-get install redis-server)"
        try:
            import redis  # noqa: F401
        except ImportError:
            return False, "the redis package is not installed (pip install redis)"
        return True, ""

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("RedisServer not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)

    def _prepare(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="livewarden-redis-"))

    def _launch(self) -> None:
        assert self._dir is not None
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self._dir),
               "--save", "", "--appendonly", "yes" if self.aof else "no", "--appendfsync", self.appendfsync,
               "--daemonize", "no", "--protected-mode", "yes"]
        with open(self._dir / self.LOG, "ab") as log:  # a file, not a pipe nobody reads (it would fill)
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=self._dir, preexec_fn=die_with_parent(signal.SIGTERM))

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + self.start_timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self._proc.returncode}): {self.log[-800:]}")
            try:
                if redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready after {self.start_timeout:.0f}s: {self.log[-800:]}")
