#!/usr/bin/env bash
# README command 2: set up .venv if needed, then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/ensure_env.sh"
# The report's browser test drives Debian's chromium through Playwright (installed by pip with the test extra;
# its own browser download is never used). Install chromium once, as root on Debian (CI); quick when present.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing chromium (apt-get, once)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >"$ROOT/.venv/.chromium-install.log" 2>&1 \
        || { tail -20 "$ROOT/.venv/.chromium-install.log" >&2; echo "[setup] chromium install failed (report browser test will skip)" >&2; }
fi
cd "$ROOT"
exec python -m pytest -q "$@"
