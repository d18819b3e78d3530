"""A private nginx-rtmp server for tests, the demo and benchmarks.

Runs Debian `nginx` with `libnginx-mod-rtmp` as a single foreground child
process (`daemon off; master_process off`) from its own temporary prefix, so it
touches no global config, log or pid file and dies with us. Tuned for low
latency: no recording, players start on a keyframe, players are dropped when
the publisher leaves (so a reader notices at once and reconnects).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from livewarden.testing.private_server import PrivateServer, die_with_parent

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


class RtmpServer(PrivateServer):
    """nginx-rtmp on 127.0.0.1:<free port>; use as a context manager.

    >>> with RtmpServer() as srv:          # doctest: +SKIP
    ...     url = srv.url("room1")          # rtmp://127.0.0.1:PORT/live/room1
    """

    NAME = "nginx-rtmp"
    LOG = "error.log"
    STOP = ((signal.SIGTERM, 3.0),)  # fast shutdown; SIGQUIT would wait for streams to finish

    def __init__(self, *, port: int | None = None, app: str = "live", nginx: str | None = None,
                 log_level: str = "warn", start_timeout: float = 10.0) -> None:
        super().__init__(port, start_timeout)
        self.app = app
        self.log_level = log_level
        self._nginx = nginx or shutil.which("nginx") or "/usr/sbin/nginx"

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
    def error_log(self) -> str:
        """Text of the server's error log (for failure messages); after `stop`, the log as it was then."""
        return self.log

    def _launch(self) -> None:
        self._cleanup_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="livewarden-rtmp-"))
        conf = self._dir / "nginx.conf"
        conf.write_text(_CONFIG.format(prefix=self._dir, port=self.port, app=self.app,
                                       module=find_module(), log_level=self.log_level))
        cmd = [self._nginx, "-p", str(self._dir), "-c", str(conf), "-e", str(self._dir / self.LOG)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, preexec_fn=die_with_parent(signal.SIGTERM))

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
