#!/usr/bin/env bash
# Create the local process work pool the deployments in prefect.yaml use, then deploy them.
# Needs a reachable Prefect server: `cloud ui` in another shell, then
#   export PREFECT_API_URL=http://127.0.0.1:4200/api
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POOL="${CLOUD_WORK_POOL:-cloud-local}"
cd "$ROOT"
if [ -z "${PREFECT_API_URL:-}" ]; then
    echo "PREFECT_API_URL is not set: start the server with 'cloud ui' and export PREFECT_API_URL=http://127.0.0.1:4200/api" >&2
    exit 2
fi
prefect work-pool inspect "$POOL" >/dev/null 2>&1 || prefect work-pool create "$POOL" --type process
prefect --no-prompt deploy --all
echo "deployed; start a worker with: prefect worker start --pool $POOL"
