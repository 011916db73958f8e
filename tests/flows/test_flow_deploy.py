"""Deployments from prefect.yaml against a real local Prefect server: deploy, trigger with custom parameters,
a process worker (--run-once) executes the run, and the results appear in DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cloud_core.scope")

from screening.store import ResultsStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _prefect(args: list[str], api: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PREFECT_API_URL=api, PREFECT_LOGGING_LEVEL="WARNING")
    return subprocess.run([sys.executable, "-m", "prefect", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def test_deploy_trigger_and_run_with_a_process_worker(prefect_server, flow_pool, flow_checkpoint, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="cloud-local", type="process"), overwrite=True)
    deployed = _prefect(["--no-prompt", "deploy", "--all"], prefect_server)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    with get_client(sync_client=True) as client:
        names = {d.name for d in client.read_deployments()}
        assert {"nightly-campaign", "screen", "build-dataset", "finetune"} <= names
        nightly = client.read_deployment_by_name("screen/nightly-campaign")
        assert nightly.schedules and nightly.schedules[0].schedule.cron == "0 2 * * *"

    params = {
        "campaign_id": "deployed",
        "source": {"kind": "pool", "path": str(flow_pool)},
        "checkpoint": str(flow_checkpoint),
        "results_dir": str(tmp_path / "res"),
        "chunk_size": 20,
        "top_k": 3,
        "local_workers": "threads",
    }
    run = run_deployment("screen/screen", parameters={"params": params}, timeout=0)
    worker = _prefect(["worker", "start", "--pool", "cloud-local", "--run-once"], prefect_server, timeout=400)
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state.is_completed(), state
    store = ResultsStore(tmp_path / "res")
    row = store.query(
        "SELECT status, n_candidates, n_ok, n_rejected FROM campaigns WHERE campaign_id = 'deployed'"
    )
    assert row.to_pylist() == [{"status": "complete", "n_candidates": 62, "n_ok": 61, "n_rejected": 1}]
