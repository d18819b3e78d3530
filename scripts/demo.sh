#!/usr/bin/env bash
# The first README command: set everything up, then stream two sample rooms and watch alerts appear.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/livewarden demo "$@"
