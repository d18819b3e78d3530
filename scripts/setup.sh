#!/usr/bin/env bash
# Set up livewarden on Debian: system packages (as root or with sudo), a virtualenv in .venv, the package.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(nginx libnginx-mod-rtmp ffmpeg espeak-ng fonts-dejavu-core python3-venv tesseract-ocr-vie fonts-wqy-zenhei postgresql redis-server libjemalloc2 chromium g++ python3-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "==> installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a system-wide nginx on port 80 when it is installed; livewarden runs its own, so stop that one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
# reinstall only when the dependencies changed (the install is editable: code changes need nothing)
stamp=".venv/.livewarden-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) ${EXTRAS:-test}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing livewarden into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # the full pip log is kept; on failure it is shown (setuptools' editable-install notices are noise otherwise)
  if ! .venv/bin/python -m pip install -q -e ".[${EXTRAS:-test}]" > .venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log
    echo "setup failed: pip could not install livewarden (log: .venv/pip-install.log)"
    exit 1
  fi
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import livewarden, cv2, av" || { echo "setup failed: livewarden does not import"; exit 1; }
