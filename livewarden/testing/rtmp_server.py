"""A private nginx-rtmp server for tests, the demo and benchmarks.

Runs Debian `nginx` with `libnginx-mod-rtmp` as a single foreground child
process (`daemon off; master_process off`) from its own temporary prefix, so it
touches no global config, log or pid file and dies with us. Tuned for low
latency: no recording, players start on a keyframe, players are dropped when
the publisher leaves (so a reader notices at once and reconnects).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path

MODULE_CANDIDATES = (
    "/usr/lib/nginx/modules/ngx_rtmp_module.so",
    "/usr/lib64/nginx/modules/ngx_rtmp_module.so",
    "/usr/share/nginx/modules/ngx_rtmp_module.so",
)

_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log {log_level};
load_module {module};

events {{
    worker_connections 1024;
}}

rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        ping 10s;
        ping_timeout 5s;
        # the default 1s client buffer hint is latency we do not want
        buflen 100ms;

        application {app} {{
            live on;
            record off;
            # players start on a keyframe with video, so the first frame decodes
            wait_key on;
            wait_video on;
            # no waiting room: players of a stream with no publisher are dropped,
            # readers see the drop at once and go to "reconnecting"
            idle_streams off;
            drop_idle_publisher 10s;
            # a player's buffer lag is corrected quickly (default 300ms)
            sync 100ms;
        }}
    }}
}}
"""


def find_module() -> str | None:
    for candidate in MODULE_CANDIDATES:
        if os.path.isfile(candidate):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: ask the kernel to SIGTERM nginx if our thread dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_live: "weakref.WeakSet[RtmpServer]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop()


class RtmpServer:
    """nginx-rtmp on 127.0.0.1:<free port>; use as a context manager.

    >>> with RtmpServer() as srv:          # doctest: +SKIP
    ...     url = srv.url("room1")          # rtmp://127.0.0.1:PORT/live/room1
    """

    def __init__(self, *, port: int | None = None, app: str = "live", nginx: str | None = None,
                 log_level: str = "warn", start_timeout: float = 10.0) -> None:
        self.app = app
        self.port = port or 0
        self.log_level = log_level
        self.start_timeout = start_timeout
        self._nginx = nginx or shutil.which("nginx") or "/usr/sbin/nginx"
        self._proc: subprocess.Popen | None = None
        self._prefix: Path | None = None
        self._final_log = ""
        self._lock = threading.Lock()

    # -- discovery -------------------------------------------------------
    @staticmethod
    def available() -> tuple[bool, str]:
        """(True, "") when nginx and the rtmp module are installed, else (False, why)."""
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        if not nginx:
            return False, "nginx not found (apt-get install nginx libnginx-mod-rtmp)"
        if not find_module():
            return False, ("ngx_rtmp_module.so not found in " + ", ".join(MODULE_CANDIDATES)
                           + " (apt-get install libnginx-mod-rtmp)")
        return True, ""

    # -- lifecycle -------------------------------------------------------
    def url(self, room_id: str) -> str:
        if not self.port:
            raise RuntimeError("RtmpServer not started")
        return f"rtmp://127.0.0.1:{self.port}/{self.app}/{room_id}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def error_log(self) -> str:
        """Text of the server's error log (for failure messages); after `stop`, the log as it was then."""
        if self._prefix is None:
            return self._final_log
        try:
            return (self._prefix / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> "RtmpServer":
        with self._lock:
            if self.running:
                return self
            ok, why = self.available()
            if not ok:
                raise RuntimeError(f"cannot start RTMP server: {why}")
            fixed_port = bool(self.port)
            last_error = ""
            for _attempt in range(1 if fixed_port else 5):
                self._launch(self.port if fixed_port else _free_port())
                try:
                    self._wait_ready()
                    _live.add(self)
                    return self
                except RuntimeError as exc:  # e.g. the free port was taken meanwhile
                    last_error = str(exc)
                    self._terminate()
            self._cleanup_prefix()
            raise RuntimeError(f"nginx-rtmp did not start: {last_error}")

    def _launch(self, port: int) -> None:
        self._cleanup_prefix()
        self.port = port
        self._prefix = Path(tempfile.mkdtemp(prefix="livewarden-rtmp-"))
        conf = self._prefix / "nginx.conf"
        conf.write_text(_CONFIG.format(prefix=self._prefix, port=port, app=self.app,
                                       module=find_module(), log_level=self.log_level))
        cmd = [self._nginx, "-p", str(self._prefix), "-c", str(conf), "-e", str(self._prefix / "error.log")]
        in_main = threading.current_thread() is threading.main_thread()
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            # PDEATHSIG follows the *thread* that forked; only safe from the main thread
            preexec_fn=_die_with_parent if in_main else None,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"nginx exited with {self._proc.returncode}: {(err or self.error_log).strip()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"nginx-rtmp not accepting on port {self.port} after {self.start_timeout}s")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # fast shutdown; SIGQUIT would wait for streams to finish
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        if proc.stderr:
            proc.stderr.close()

    def _cleanup_prefix(self) -> None:
        if self._prefix is not None:
            self._final_log = self.error_log  # its folder goes now; a failure message may still want it
            shutil.rmtree(self._prefix, ignore_errors=True)
            self._prefix = None

    def stop(self) -> None:
        with self._lock:
            self._terminate()
            self._cleanup_prefix()
            _live.discard(self)

    def __enter__(self) -> "RtmpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; normal paths call stop()
        try:
            self._terminate()
        except Exception:
            pass
