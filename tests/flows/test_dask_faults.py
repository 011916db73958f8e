"""A real Dask cluster under faults: a scheduler and two workers as separate processes on loopback, a campaign
through ``cloud screen --dask-address``.

- SIGKILL a worker while it runs a chunk: the same run finishes (no rerun), that chunk committed once.
- SIGKILL the scheduler: the command exits non-zero within 60 s with one error line; a rerun on a new cluster
  finishes with every candidate exactly once.

The chunk being killed is found through the test hook ``CLOUD_CHUNK_TEST_HOLD`` (see
:func:`screening.campaign.stages.chunk_test_hold`): the first chunk task to start writes its process id into
that file and pauses, so the test kills it mid-chunk. The tests assert behaviour only (exit codes, timing,
exactly-once), not how chunks are grouped into Dask tasks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("cloud_core.scope")

from screening.campaign.stages import CHUNK_HOLD_ENV, CHUNK_HOLD_SECONDS_ENV  # noqa: E402
from screening.store import ResultsStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N = 12  # candidates (--limit): 3 chunks of 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(api: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PREFECT_API_URL=api, PREFECT_LOGGING_LEVEL="ERROR",
               DASK_LOGGING__DISTRIBUTED="error")  # fmt: skip
    env.pop(CHUNK_HOLD_ENV, None)
    env.update(extra)
    return env


class Cluster:
    """``dask scheduler`` + two ``dask worker`` processes (no nanny: a killed worker stays dead)."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.logs = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                  "--no-dashboard"], env)  # fmt: skip
        for i in range(2):
            self._spawn(f"worker-{i}", ["worker", self.address, "--name", f"w{i}", "--nthreads", "1",
                                        "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                                        "--preload", "flows.worker_preload"], env)  # fmt: skip
        from distributed import Client

        with Client(self.address, timeout=120) as client:
            client.wait_for_workers(2, timeout=240)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, cwd=ROOT,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(30)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)


@contextlib.contextmanager
def cluster(tmp: Path, env: dict[str, str]) -> Iterator[Cluster]:
    c = Cluster(tmp, env)
    try:
        yield c
    finally:
        c.close()


def _screen(
    cid: str, address: str, pool: Path, ckpt: Path, res: Path, env: dict[str, str]
) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "flows.cli", "screen", "--campaign", cid, "--path", str(pool), "--limit", str(N),
           "--chunk-size", "4", "--checkpoint", str(ckpt), "--results", str(res), "--dask-address", address,
           "--top-k", "3", "--no-progress",
           "--objective", "custom", "--max-e-above-hull", "none"]  # mechanics: no stability cut  # fmt: skip
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    """The ``(pid, chunk id)`` the hold file names, once a chunk task wrote it."""
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the campaign ended (rc {proc.returncode}) before a chunk started:\n"
                                 f"{proc.stderr.read()[-3000:]}")  # fmt: skip
        assert time.monotonic() - t0 < timeout, "no chunk task started"
        time.sleep(0.05)
    pid, chunk = path.read_text().split()
    return int(pid), chunk


def _exactly_once(res: Path, cid: str) -> None:
    store = ResultsStore(res)
    planned = store.read_manifest(cid).column("candidate_id").to_pylist()
    assert len(planned) == N
    got = store.query("SELECT candidate_id FROM candidates WHERE campaign_id = $c", {"c": cid})
    assert sorted(got.column("candidate_id").to_pylist()) == sorted(planned)
    chunks = store.query(
        "SELECT chunk_id, count(*) AS n FROM chunks WHERE campaign_id = $c GROUP BY ALL", {"c": cid}
    )
    assert chunks.num_rows == 3 and set(chunks.column("n").to_pylist()) == {1}
    split = (
        store.query(
            "SELECT (SELECT count(*) FROM predictions WHERE campaign_id = $c) + "
            "(SELECT count(*) FROM rejects WHERE campaign_id = $c) AS n",
            {"c": cid},
        )
        .column("n")[0]
        .as_py()
    )
    assert split == N


def test_worker_sigkill_mid_chunk_same_run_finishes(prefect_server, flow_pool, flow_checkpoint, tmp_path):
    hold = tmp_path / "hold"
    res = tmp_path / "res"
    worker_env = _env(prefect_server, **{CHUNK_HOLD_ENV: str(hold), CHUNK_HOLD_SECONDS_ENV: "120"})
    with cluster(tmp_path, worker_env) as c:
        proc = _screen("dk-worker", c.address, flow_pool, flow_checkpoint, res, _env(prefect_server))
        try:
            pid, chunk = _wait_for(hold, proc)
            victim = next(n for n, p in c.procs.items() if p.pid == pid)
            assert victim.startswith("worker-")
            c.kill(victim)
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "Top 3 of campaign dk-worker" in out
    _exactly_once(res, "dk-worker")
    assert chunk in ResultsStore(res).committed_chunks("dk-worker")


def test_scheduler_sigkill_fails_fast_then_rerun_is_exactly_once(
    prefect_server, flow_pool, flow_checkpoint, tmp_path
):
    hold = tmp_path / "hold"
    res = tmp_path / "res"
    worker_env = _env(prefect_server, **{CHUNK_HOLD_ENV: str(hold), CHUNK_HOLD_SECONDS_ENV: "120"})
    with cluster(tmp_path, worker_env) as c:
        proc = _screen("dk-sched", c.address, flow_pool, flow_checkpoint, res, _env(prefect_server))
        try:
            _wait_for(hold, proc)
            c.kill("scheduler")
            t0 = time.monotonic()
            out, err = proc.communicate(timeout=120)
            seconds = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode != 0
    assert seconds < 60, f"the command took {seconds:.0f} s to notice the scheduler was gone"
    assert "Traceback" not in out + err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "scheduler" in errors[0], err[-3000:]

    with cluster(tmp_path, _env(prefect_server)) as c:
        proc = _screen("dk-sched", c.address, flow_pool, flow_checkpoint, res, _env(prefect_server))
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    _exactly_once(res, "dk-sched")
