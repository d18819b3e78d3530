#!/usr/bin/env bash
# Screenshots of each console page from a real demo run (docs/screenshots/*.png, shown in the README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/screenshots.py "$@"
