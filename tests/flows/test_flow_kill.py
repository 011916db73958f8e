"""Crash safety: SIGKILL the whole process group of a campaign (flow process + Dask worker processes) at
several points, start it again with the same id, and check every candidate ends up exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("cloud_core.scope")

from screening.store import ResultsStore  # noqa: E402

CID = "killme"


def _start(pool: Path, ckpt: Path, res: Path, api: str, pause: float | None) -> subprocess.Popen:
    env = dict(os.environ, PREFECT_API_URL=api, PREFECT_LOGGING_LEVEL="ERROR")
    env.pop("CLOUD_STORE_CRASH_TEST_PAUSE_S", None)
    if pause:
        env["CLOUD_STORE_CRASH_TEST_PAUSE_S"] = str(pause)
    cmd = [sys.executable, "-m", "flows.cli", "screen", "--campaign", CID, "--path", str(pool),
           "--checkpoint", str(ckpt), "--results", str(res), "--chunk-size", "8", "--workers", "1",
           "--top-k", "5", "--objective", "custom", "--max-e-above-hull", "none",
           "--no-progress"]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _kill_when(proc: subprocess.Popen, cond, timeout: float = 240) -> None:
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace")[-3000:]
            raise AssertionError(f"the campaign ended (rc {proc.returncode}) before the kill point:\n{out}")
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("kill point not reached in time")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the flow process and its Dask workers: one process group
    proc.wait(30)


def _visible_consistent(store: ResultsStore) -> int:
    """What readers see is exactly the committed chunks: no partial chunk, no duplicate."""
    committed = store.committed_chunks(CID)
    got = store.query(
        "SELECT count(*) AS n, count(DISTINCT candidate_id) AS d, count(DISTINCT chunk_id) AS c FROM candidates "
        "WHERE campaign_id = $c",
        {"c": CID},
    ).to_pylist()[0]
    assert got["n"] == got["d"] and got["c"] == len(committed)
    return got["n"]


def test_sigkill_at_three_points_then_exactly_once(prefect_server, flow_pool, flow_checkpoint, tmp_path):
    res = tmp_path / "res"
    store = ResultsStore(res)
    staging = res / "campaigns" / ".staging"
    parts = res / "parts" / CID

    # 1. while the plan is being written (before the manifest is committed)
    proc = _start(flow_pool, flow_checkpoint, res, prefect_server, pause=0.3)
    _kill_when(proc, lambda: staging.exists() and any(staging.glob(f"{CID}-*/inputs/*.parquet")))
    assert not store.has_plan(CID)

    # 2. in the middle of writing a chunk (some of its tables written, not yet renamed into place)
    proc = _start(flow_pool, flow_checkpoint, res, prefect_server, pause=0.4)
    _kill_when(proc, lambda: parts.exists() and any(parts.glob("tmp-*/*.parquet")))
    assert store.has_plan(CID) and any(parts.glob("tmp-*"))
    _visible_consistent(store)

    # 3. mid-encode of a later chunk (with more chunks committed)
    proc = _start(flow_pool, flow_checkpoint, res, prefect_server, pause=None)
    n0 = len(store.committed_chunks(CID))
    _kill_when(proc, lambda: len(store.committed_chunks(CID)) >= n0 + 2)
    _visible_consistent(store)

    assert len(store.committed_chunks(CID)) < 8, "the campaign finished before the last kill"

    # finally: run to the end, and query the store while it writes
    proc = _start(flow_pool, flow_checkpoint, res, prefect_server, pause=0.2)
    queries = 0
    while proc.poll() is None:
        q = subprocess.run([sys.executable, "-m", "flows.cli", "query", "--results", str(res),
                            "SELECT count(*) AS n FROM candidates WHERE campaign_id = $c", "--param", f"c={CID}"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert q.returncode == 0, q.stderr
        queries += 1
    out = proc.stdout.read().decode(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    assert queries >= 1
    assert _visible_consistent(store) == 62
    split = store.query(
        "SELECT (SELECT count(*) FROM predictions WHERE campaign_id = $c) AS p, "
        "(SELECT count(*) FROM rejects WHERE campaign_id = $c) AS r, "
        "(SELECT count(*) FROM chunks WHERE campaign_id = $c) AS k",
        {"c": CID},
    ).to_pylist()[0]
    assert split["p"] + split["r"] == 62 and split["k"] == 8
    manifest = store.read_manifest(CID).column("candidate_id").to_pylist()
    got = store.query("SELECT candidate_id FROM candidates WHERE campaign_id = $c", {"c": CID})
    assert sorted(got.column("candidate_id").to_pylist()) == sorted(manifest)
    assert not any(parts.glob("tmp-*")) and not list(staging.glob(f"{CID}-*"))
    assert f"Top 5 of campaign {CID}" in out
