#!/usr/bin/env bash
# Create or update the project-local virtual environment in .venv and export the offline Prefect settings.
# Sourced by scripts/run_main.sh and scripts/run_tests.sh. Fast (< 1 s) when pyproject.toml is unchanged.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
STAMP="$VENV/.cloud-installed"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >"$VENV/.pip-upgrade.log" 2>&1 || echo "[setup] (pip upgrade skipped)"
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    # torch first, pinned: an unpinned torch pulls a multi-GB CUDA build; 2.13.0 is the local CPU build.
    if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
        echo "[setup] installing torch==${CLOUD_TORCH_VERSION:-2.13.0}"
        if ! "$VENV/bin/python" -m pip install -q "torch==${CLOUD_TORCH_VERSION:-2.13.0}" >"$VENV/.torch-install.log" 2>&1; then
            grep -v "is ignored: it is neither" "$VENV/.torch-install.log" | tail -20 >&2
            echo "[setup] torch install failed; full log in $VENV/.torch-install.log" >&2
            exit 1
        fi
    fi
    echo "[setup] installing the project and its dependencies (first time ~2 min)"
    LOG="$VENV/.cloud-install.log"
    if ! "$VENV/bin/python" -m pip install -q -e "$ROOT[test]" >"$LOG" 2>&1; then
        grep -v "is ignored: it is neither" "$LOG" | tail -40 >&2
        echo "[setup] pip install failed; full log in $LOG" >&2
        exit 1
    fi
    "$VENV/bin/python" -c "import cloud_core, screening, flows" || { echo "[setup] install failed" >&2; exit 1; }
    echo "$WANT" > "$STAMP"
fi

# Offline, project-local Prefect.
export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=60
export PREFECT_LOGGING_LEVEL="${PREFECT_LOGGING_LEVEL:-WARNING}"
export PATH="$VENV/bin:$PATH"
