#!/usr/bin/env bash
# README command 1: set up .venv if needed, then run the main job (a screening campaign on the defaults).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/ensure_env.sh"
cd "$ROOT"
exec cloud main "$@"
