"""Campaign start-up: the model id without torch, and a running campaign refused before anything starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from screening.campaign.predict import model_id_of, shipped_checkpoint_path
from screening.store.layout import StoreLayout

ROOT = Path(__file__).resolve().parents[2]


def test_torch_free_model_id_matches_the_checkpoint_module(tiny_checkpoint):
    from cloud_core.model import checkpoint_id, default_checkpoint_path

    assert shipped_checkpoint_path() == default_checkpoint_path()
    for path in (default_checkpoint_path(), Path(tiny_checkpoint)):
        assert model_id_of(path) == checkpoint_id(path)


def test_running_campaign_refused_before_any_server_starts(tmp_path):
    lock = StoreLayout(tmp_path / "res").lock_path("busy")
    code = (
        "import time; from pathlib import Path; from screening.store import campaign_lock\n"
        f"with campaign_lock(Path({str(lock)!r})):\n    print('held', flush=True); time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        out = subprocess.run(
            [sys.executable, "-m", "flows.cli", "screen", "--campaign", "busy", "--results", str(tmp_path / "res"),
             "--limit", "5", "--no-progress"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
        )  # fmt: skip
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: campaign 'busy' is already running (pid ")
    assert "Prefect API" not in out.stdout + out.stderr and not out.stdout
