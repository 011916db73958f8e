#!/usr/bin/env bash
# README command 2: set up .venv if needed, then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/ensure_env.sh"
cd "$ROOT"
exec python -m pytest -q "$@"
