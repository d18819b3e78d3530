"""What the private servers of tests, the demo and benchmarks share (nginx-rtmp, PostgreSQL): one foreground
child process run from a temporary folder of its own, on 127.0.0.1 and a free port (another one tried when the
port was taken meanwhile), stopped with us, its log kept after its folder is gone (for failure messages).
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
from pathlib import Path

_live: "weakref.WeakSet[PrivateServer]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent(sig: int):
    """A preexec function: in the child before exec, ask the kernel to send it `sig` if our thread dies (Linux).

    PDEATHSIG follows the *thread* that forked, so it is only given from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def arm() -> None:
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
        except Exception:
            pass

    return arm


class PrivateServer:
    """The lifecycle; a server says how to prepare its folder, launch, wait until ready and stop."""

    NAME = "server"
    LOG = "server.log"  # in the folder
    STOP = ((signal.SIGTERM, 3.0),)  # signals tried in turn, each with its wait, before SIGKILL

    def __init__(self, port: int | None, start_timeout: float) -> None:
        self.port = port or 0
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None
        self._final_log = ""
        self._lock = threading.Lock()

    @staticmethod
    def available() -> tuple[bool, str]:
        return True, ""

    @property
    def pid(self) -> int | None:
        """The server process's id (for a benchmark that counts its CPU), while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log(self) -> str:
        """Text of the server's log; after `stop`, the log as it was then."""
        if self._dir is None:
            return self._final_log
        try:
            return (self._dir / self.LOG).read_text(errors="replace")
        except OSError:
            return ""

    def start(self):
        with self._lock:
            if self.running:
                return self
            ok, why = self.available()
            if not ok:
                raise RuntimeError(f"cannot start {self.NAME}: {why}")
            self._prepare()
            fixed_port = bool(self.port)
            last_error = ""
            for _attempt in range(1 if fixed_port else 5):
                self.port = self.port if fixed_port else free_port()
                self._launch()
                try:
                    self._wait_ready()
                    self._ready()
                    _live.add(self)
                    return self
                except RuntimeError as exc:  # e.g. the free port was taken meanwhile
                    last_error = str(exc)
                    self._terminate()
            self._cleanup_dir()
            raise RuntimeError(f"{self.NAME} did not start: {last_error}")

    # -- what a server provides
    def _prepare(self) -> None:
        """Make the folder (and what goes in it before the first launch)."""

    def _launch(self) -> None:
        raise NotImplementedError

    def _wait_ready(self) -> None:
        raise NotImplementedError

    def _ready(self) -> None:
        """Once it accepts connections (e.g. create a database)."""

    # -- the shared rest
    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait_s in self.STOP:
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()

    def _cleanup_dir(self) -> None:
        if self._dir is not None:
            self._final_log = self.log  # its folder goes now; a failure message may still want it
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server and start it again after `down_s`, on the same port and folder (its data kept): a
        crash or a service restart, as its clients see it."""
        with self._lock:
            self._terminate()
            time.sleep(down_s)
            self._launch()
            self._wait_ready()

    def down(self) -> None:
        """Stop the server the way it stops (its STOP signals), keeping its folder: `restart` brings it back."""
        with self._lock:
            self._terminate()

    def kill(self) -> None:
        """SIGKILL, no restart (a crash); `restart` brings it back from its files."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def stop(self) -> None:
        with self._lock:
            self._terminate()
            self._cleanup_dir()
            _live.discard(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; normal paths call stop()
        try:
            self._terminate()
        except Exception:
            pass
