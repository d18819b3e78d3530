"""The long-lived commands run on jemalloc (setup.sh installs it), their children do not inherit the preload,
and LIVEWARDEN_ALLOCATOR=glibc keeps the system allocator."""

from __future__ import annotations

import os
import subprocess
import sys

from livewarden.runtime.allocator import jemalloc_path

REPORT = ("import os, sys, subprocess; from livewarden.cli import main; from livewarden.runtime.allocator import "
          "allocator_in_use\nsys.argv = ['livewarden', %r, '--help']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
          "child = subprocess.run(['cat', '/proc/self/maps'], capture_output=True, text=True).stdout\n"
          "print('RESULT', allocator_in_use(), 'child-jemalloc' if 'libjemalloc' in child else 'child-plain', "
          "repr(os.environ.get('LD_PRELOAD', '')))")


def _run(command: str, **env: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", REPORT % command], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in {**os.environ, **env}.items() if k != "LD_PRELOAD"})
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    return line.split()[1:]


def test_jemalloc_is_installed():
    assert jemalloc_path(), "libjemalloc2 is missing: scripts/setup.sh installs it"


def test_watch_reexecutes_on_jemalloc_and_children_start_plain():
    assert _run("watch") == ["jemalloc", "child-plain", "''"]


def test_short_commands_and_the_opt_out_stay_on_glibc():
    assert _run("scan") == ["glibc", "child-plain", "''"]
    assert _run("serve", LIVEWARDEN_ALLOCATOR="glibc") == ["glibc", "child-plain", "''"]
