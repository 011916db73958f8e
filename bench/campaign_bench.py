"""Campaign bench: start/exit seconds, per-stage costs, Prefect + Dask overhead and scaling, a million candidates.

Sections (``--sections``, default all but ``million``):

``startup``
    ``cloud screen --limit 1000`` (and ``cloud main`` with ``--startup-main``) as a user runs them, each output
    line timestamped: seconds from the command to each step of its timeline (Python start-up, lock probe, Prefect
    server, Dask cluster, flow run, plan, first chunk, ..., tear-down), from the summary to the exit, and how long
    an already-running campaign takes to be refused (its lock held by another process).
``stages``
    The plain functions on the bundled pool in one process, one torch thread: seconds per candidate of each step
    (read input, encode with the stored SCOPE strings, encode in full, predict, Debye + write) and per chunk.
``scaling``
    The same campaign (``--scaling-size`` candidates, default 100,000: the bundled pool tiled with suffixed ids)
    run in-process (the reference: plain functions, one torch thread) and through the ``screen`` flow on a local
    Prefect server with a local Dask cluster of 1 one-thread worker, 2 one-thread workers and 1 two-thread worker.
    Clusters start before the clock (start-up is the ``startup`` section). Overhead = flow x1 / in-process - 1.
``million``
    ``--million-sizes`` (default 1,000,000) distinct SCOPE-only candidates (``cloud build-pool --kind scope``,
    built once and kept under ``--work``) through the real ``cloud screen`` command (shipped model, default Dask
    cluster), then ``cloud top`` (query timed in-process, warm, median of 3, with a ``--where`` at 300 K; whole
    command timed as a subprocess) and a ``cloud query`` aggregation. Peak RSS of every process of the command
    tree is sampled. ``--screen-args`` are passed to ``cloud screen`` (e.g. the uncertainty or hull options once
    the campaign has them); the bench reports which optional columns (``*_std``, ``e_above_hull``) the results
    hold. No prediction cache and no tiled ids here. Meant for a quiet machine (about 15 minutes).

Prints tables and writes ``bench/results/campaign_bench.json`` and ``bench/results/campaign_bench.md`` (the
figures the README's scaling section refers to; written by this script, never by hand).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLOUD = [sys.executable, "-m", "flows.cli"]


# ------------------------------------------------------------------------------------------- helpers
def tiled_pool(n: int, out: Path) -> Path:
    """The bundled pool, tiled to ``n`` candidates (repeats get ids suffixed ``~r<k>``)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from screening.campaign.source_tables import default_pool_path

    base = pq.read_table(default_pool_path())
    parts, k = [], 0
    while sum(p.num_rows for p in parts) < n:
        t = base
        if k:
            ids = pc.binary_join_element_wise(t.column("candidate_id"), pa.scalar(f"~r{k}"), "")
            t = t.set_column(0, t.schema.field("candidate_id"), ids.cast(pa.string()))
        parts.append(t)
        k += 1
    pq.write_table(pa.concat_tables(parts).slice(0, n), out, compression="zstd")
    return out


class TreeRss:
    """Samples the resident memory of a process and all its descendants; keeps each process's peak."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = " ".join(p.cmdline()[1:4])[:80]
                except psutil.Error:
                    continue
                if rss > self.peak.get(p.pid, ("", 0))[1]:
                    self.peak[p.pid] = (name, rss)
            self._stop.wait(self.every_s)

    def summary(self) -> dict[str, Any]:
        rows = sorted(self.peak.values(), key=lambda r: -r[1])
        return {
            "max_rss_mb": round(rows[0][1] / 2**20, 1) if rows else None,
            "processes": [{"cmd": n, "peak_rss_mb": round(r / 2**20, 1)} for n, r in rows[:8]],
        }


def timed_command(cmd: list[str], *, env: dict[str, str] | None = None, rss: bool = False) -> dict[str, Any]:
    """Run ``cmd``; every output line with its time since the spawn; exit code; wall seconds; peak RSS."""
    lines: list[tuple[float, str, str]] = []
    t_spawn = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def pump(stream, name: str) -> None:
        for line in stream:
            lines.append((time.perf_counter() - t0, name, line.rstrip("\n")))

    pumps = [threading.Thread(target=pump, args=(s, n), daemon=True) for s, n in ((proc.stdout, "out"), (proc.stderr, "err"))]  # fmt: skip
    for t in pumps:
        t.start()
    sampler = TreeRss(proc.pid) if rss else None
    if sampler:
        sampler.__enter__()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    for t in pumps:
        t.join(5)
    if sampler:
        sampler.__exit__()
    out = {
        "cmd": " ".join(cmd[2:]),
        "rc": rc,
        "wall_s": round(wall, 2),
        "spawned_at": t_spawn,
        "lines": lines,
    }
    if sampler:
        out["memory"] = sampler.summary()
    return out


def _json_of(run: dict[str, Any]) -> dict[str, Any]:
    text = "\n" + "\n".join(line for _, stream, line in run["lines"] if stream == "out")
    start = text.rfind("\n{\n")  # the summary (json.dumps with indent) starts with a line holding "{"
    return json.loads(text[start:]) if start >= 0 else {}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------- startup
def startup_breakdown(run: dict[str, Any]) -> dict[str, Any]:
    """Seconds from the spawn to each timeline step, what each interval is spent on, summary -> exit."""
    from flows.cli.campaign import TIMELINE_STEPS

    summary = _json_of(run)
    tl = summary.get("timeline", {})
    spawn = run["spawned_at"]
    steps, prev = [], 0.0
    for key, what in TIMELINE_STEPS:
        if key not in tl:
            continue
        at = tl[key] - spawn
        steps.append(
            {"step": key, "at_s": round(at, 2), "spent_s": round(at - prev, 2), "on": what or "exec"}
        )
        prev = at
    out_lines = [t for t, stream, _ in run["lines"] if stream == "out"]
    summary_at = out_lines[-1] if out_lines else None
    return {
        "cmd": run["cmd"],
        "rc": run["rc"],
        "wall_s": run["wall_s"],
        "first_chunk_s": round(tl["first_chunk_started"] - spawn, 2) if "first_chunk_started" in tl else None,
        "summary_printed_s": round(summary_at, 2) if summary_at is not None else None,
        "summary_to_exit_s": round(run["wall_s"] - summary_at, 2) if summary_at is not None else None,
        "steps": steps,
        "n_candidates": summary.get("n_candidates"),
    }


def refusal_seconds(results: Path) -> dict[str, Any]:
    """Seconds until ``cloud screen`` refuses a campaign whose lock another process holds."""
    from screening.store.layout import StoreLayout

    lock = StoreLayout(results).lock_path("bench-busy")
    code = (
        "import time; from pathlib import Path; from screening.store import campaign_lock\n"
        f"with campaign_lock(Path({str(lock)!r})):\n    print('held', flush=True); time.sleep(300)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        run = timed_command([*CLOUD, "screen", "--campaign", "bench-busy", "--results", str(results), "--limit",
                             "10", "--no-progress"], env=_env())  # fmt: skip
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    err = [line for _, s, line in run["lines"] if s == "err"]
    return {"rc": run["rc"], "seconds": run["wall_s"], "message": err[-1] if err else "",
            "server_started": any("Prefect API" in line for _, _, line in run["lines"])}  # fmt: skip


def section_startup(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    cmds = [[*CLOUD, "screen", "--limit", "1000", "--no-progress", "--json", "--results", str(work / "startup"),
             "--campaign", f"startup-{int(time.time())}"]]  # fmt: skip
    if args.startup_main:
        cmds.append([*CLOUD, "main", "--no-progress", "--json", "--results", str(work / "startup")])
    for cmd in cmds:
        b = startup_breakdown(timed_command(cmd, env=_env()))
        runs.append(b)
        print(f"\n{b['cmd']}: rc {b['rc']}, first chunk at {b['first_chunk_s']} s, summary at "
              f"{b['summary_printed_s']} s, exit {b['summary_to_exit_s']} s after it (wall {b['wall_s']} s)")  # fmt: skip
        print(f"  {'step':<20} {'at s':>7} {'spent s':>8}  on")
        for s in b["steps"]:
            print(f"  {s['step']:<20} {s['at_s']:>7.2f} {s['spent_s']:>8.2f}  {s['on']}")
    refusal = refusal_seconds(work / "startup")
    print(f"\nrunning campaign refused in {refusal['seconds']} s (rc {refusal['rc']}, server started: "
          f"{refusal['server_started']}): {refusal['message']}")  # fmt: skip
    return {"runs": runs, "refusal": refusal}


# ------------------------------------------------------------------------------------------- stages
def section_stages(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Per-candidate seconds of each plain step, one process, one torch thread."""
    import pyarrow as pa
    import torch

    from screening.campaign import ScreenParameters
    from screening.campaign.encode import encode_chunk
    from screening.campaign.plan import plan_campaign
    from screening.campaign.predict import load_predictor, predict_chunk, resolve_checkpoint
    from screening.campaign.rejects_table import REJECT_COLUMNS
    from screening.campaign.stages import _finish
    from screening.store import ResultsStore

    os.environ["OMP_NUM_THREADS"] = "1"  # load_predictor gives torch this many threads
    torch.set_num_threads(1)
    n, chunk = args.stages_size, args.chunk_size
    pool = tiled_pool(n, work / f"stages_{n}.parquet")
    checkpoint, model_id = resolve_checkpoint(args.checkpoint)
    params = ScreenParameters(campaign_id="stages", source={"kind": "pool", "path": str(pool)},
                              checkpoint=checkpoint, results_dir=str(work / "stages_res"), chunk_size=chunk)  # fmt: skip
    store = ResultsStore(params.resolved_results_dir())
    t = time.perf_counter()
    plan = plan_campaign(store, "stages", params, model_id=model_id, checkpoint=checkpoint)
    plan_s = time.perf_counter() - t
    predictor = load_predictor(checkpoint, "cpu")
    acc = {"read_input": 0.0, "encode_stored": 0.0, "encode_full": 0.0, "predict": 0.0, "debye_write": 0.0}
    for i, cid in enumerate(plan.chunk_ids):
        t = time.perf_counter()
        table = store.read_input("stages", cid)
        acc["read_input"] += time.perf_counter() - t
        t = time.perf_counter()
        encoded, rej = encode_chunk(table, symprec=params.symprec)
        acc["encode_stored"] += time.perf_counter() - t
        t = time.perf_counter()
        encode_chunk(table.drop_columns(["scope"]), symprec=params.symprec)
        acc["encode_full"] += time.perf_counter() - t
        t = time.perf_counter()
        preds, rej_p = predict_chunk(encoded, predictor, batch_size=params.batch_size)
        acc["predict"] += time.perf_counter() - t
        t = time.perf_counter()
        rejects = pa.concat_tables([rej, rej_p]).cast(REJECT_COLUMNS)
        _finish(store, "stages", cid, i, encoded, preds, rejects, params.temperatures_K, model_id, params.symprec, 0.0)  # fmt: skip
        acc["debye_write"] += time.perf_counter() - t
    out = {"candidates": n, "chunk_size": chunk, "plan_s": round(plan_s, 2),
           "us_per_candidate": {k: round(1e6 * v / n, 1) for k, v in acc.items()}}  # fmt: skip
    print(f"\nper-candidate cost (us, one process, one torch thread, {n} candidates): {out['us_per_candidate']}; "
          f"plan {out['plan_s']} s")  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------- scaling
def run_inprocess(pool: Path, results: Path, checkpoint: str | None, chunk: int) -> float:
    from screening.campaign import ScreenParameters
    from screening.campaign.runner import run_campaign

    os.environ["OMP_NUM_THREADS"] = "1"  # like one Dask worker: load_predictor gives torch one thread
    params = ScreenParameters(campaign_id="bench", source={"kind": "pool", "path": str(pool)}, checkpoint=checkpoint,
                              results_dir=str(results), chunk_size=chunk)  # fmt: skip
    t0 = time.perf_counter()
    run_campaign(params)
    return time.perf_counter() - t0


def run_flow(pool: Path, results: Path, checkpoint: str | None, chunk: int, workers: int, threads: int,
             chunks_per_task: int | None) -> tuple[float, dict]:  # fmt: skip
    from flows.dask_cluster import local_cluster
    from flows.screen import screen
    from screening.campaign import ScreenParameters

    cluster = local_cluster(workers, processes=True, threads_per_worker=threads)
    try:
        params = ScreenParameters(campaign_id="bench", source={"kind": "pool", "path": str(pool)},
                                  checkpoint=checkpoint, results_dir=str(results), chunk_size=chunk,
                                  dask_address=cluster.scheduler_address, chunks_per_task=chunks_per_task)  # fmt: skip
        t0 = time.perf_counter()
        out = screen(params)
        dt = time.perf_counter() - t0
    finally:
        cluster.close(timeout=30)
    assert out["chunks_run"] == out["n_chunks"], out
    return dt, out.get("timeline", {})


def section_scaling(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from flows.prefect_server import local_prefect_api

    n = args.scaling_size
    pool = tiled_pool(n, work / f"scaling_{n}.parquet")
    rows, base = [], None
    modes = [("in-process", 1, 1), ("flow 1 worker x 1 thread", 1, 1), ("flow 2 workers x 1 thread", 2, 1),
             ("flow 1 worker x 2 threads", 1, 2)]  # fmt: skip
    with local_prefect_api():
        logging.getLogger("distributed").setLevel(logging.ERROR)
        for mode, workers, threads in modes:
            res = work / f"scaling_res_{len(rows)}"
            if mode == "in-process":
                dt = base = run_inprocess(pool, res, args.checkpoint, args.chunk_size)
            else:
                dt, _ = run_flow(
                    pool, res, args.checkpoint, args.chunk_size, workers, threads, args.chunks_per_task
                )
            shutil.rmtree(res, ignore_errors=True)
            row = {"candidates": n, "mode": mode, "workers": workers, "threads": threads, "seconds": round(dt, 2),
                   "candidates_per_s": round(n / dt, 1), "vs_in_process": round(base / dt, 3)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    by = {r["mode"]: r for r in rows}
    x1 = by["flow 1 worker x 1 thread"]["seconds"]
    summary = {
        "overhead_flow_x1_vs_in_process": round(x1 / base - 1, 4),
        "speedup_2_workers_vs_1": round(x1 / by["flow 2 workers x 1 thread"]["seconds"], 3),
        "speedup_1_worker_2_threads_vs_1": round(x1 / by["flow 1 worker x 2 threads"]["seconds"], 3),
    }
    print(f"\n{'mode':<28} {'seconds':>8} {'cand/s':>8} {'vs in-process':>14}")
    for r in rows:
        print(
            f"{r['mode']:<28} {r['seconds']:>8.1f} {r['candidates_per_s']:>8.1f} {r['vs_in_process']:>13.2f}x"
        )
    print(json.dumps(summary))
    return {"rows": rows, **summary}


# ------------------------------------------------------------------------------------------- million
def scope_pool_file(n: int, work: Path) -> tuple[Path, dict[str, Any]]:
    """``n`` distinct SCOPE-only candidates (built once per size and seed, then reused)."""
    out = work / f"scope_pool_{n}.parquet"
    if out.is_file():
        return out, {"reused": str(out)}
    t0 = time.perf_counter()
    run = timed_command(
        [*CLOUD, "build-pool", "--kind", "scope", "--size", str(n), "--out", str(out)], rss=True
    )
    if run["rc"] != 0:
        raise RuntimeError("\n".join(line for _, _, line in run["lines"][-20:]))
    return out, {"seconds": round(time.perf_counter() - t0, 1), "memory": run["memory"]}


def optional_columns(store) -> dict[str, list[str]]:
    """Which optional result columns (uncertainties, hull) the campaign wrote."""
    found: dict[str, list[str]] = {}
    for view in ("predictions", "candidates"):
        cols = store.query(f"SELECT * FROM {view} LIMIT 0").column_names
        found[view] = [c for c in cols if c.endswith("_std") or "hull" in c]
    return found


def section_million(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from screening.ranking import Condition, top_k
    from screening.store import ResultsStore

    out: dict[str, Any] = {"sizes": []}
    for n in args.million_sizes:
        pool, build = scope_pool_file(n, work)
        res = work / f"million_res_{n}"
        shutil.rmtree(res, ignore_errors=True)
        cmd = [*CLOUD, "screen", "--source", "pool", "--path", str(pool), "--results", str(res), "--campaign",
               f"million-{n}", "--no-progress", "--json", *args.screen_args]  # fmt: skip
        run = timed_command(cmd, env=_env(), rss=True)
        if run["rc"] != 0:
            raise RuntimeError("\n".join(line for _, _, line in run["lines"][-20:]))
        summary = _json_of(run)
        store = ResultsStore(res)
        counts = store.query(
            "SELECT count(*) AS n, count(DISTINCT candidate_id) AS distinct_ids, "
            "count(*) FILTER (WHERE status = 'ok') AS ok, count(*) FILTER (WHERE status = 'rejected') AS rejected "
            "FROM candidates"
        ).to_pylist()[0]
        reasons = store.query("SELECT stage, reason, count(*) AS n FROM rejects GROUP BY ALL ORDER BY n DESC").to_pylist()  # fmt: skip
        where = [Condition("theta_K", ">", 400)]
        q_times = []
        for _ in range(4):  # the first warms the caches
            t = time.perf_counter()
            top_k(
                store, f"million-{n}", by=None, descending=True, k=20, conditions=where, temperature_K=300.0
            )
            q_times.append(time.perf_counter() - t)
        top_cmd = timed_command([*CLOUD, "top", "--results", str(res), "--campaign", f"million-{n}", "--where",
                                 "theta_K>400", "--temperature", "300"], env=_env(), rss=True)  # fmt: skip
        agg_sql = ("SELECT spacegroup, count(*) AS n, avg(theta_K) AS mean_theta_K FROM candidates JOIN predictions "
                   "USING (campaign_id, candidate_id) GROUP BY spacegroup ORDER BY n DESC LIMIT 10")  # fmt: skip
        agg_cmd = timed_command([*CLOUD, "query", "--results", str(res), agg_sql], env=_env(), rss=True)
        row = {
            "candidates": n,
            "pool_build": build,
            "screen_wall_s": run["wall_s"],
            "candidates_per_s": round(n / run["wall_s"], 1),
            "screen_memory": run["memory"],
            "first_chunk_s": startup_breakdown(run)["first_chunk_s"],
            "counts": counts,
            "every_candidate_once": counts["n"] == counts["distinct_ids"] == n
            and counts["ok"] + counts["rejected"] == n,
            "rejects": reasons[:10],
            "optional_columns": optional_columns(store),
            "top_query_warm_median_s": round(statistics.median(q_times[1:]), 3),
            "top_command_s": top_cmd["wall_s"],
            "top_command_rc": top_cmd["rc"],
            "top_command_max_rss_mb": top_cmd["memory"]["max_rss_mb"],
            "query_command_s": agg_cmd["wall_s"],
            "query_command_rc": agg_cmd["rc"],
            "summary_timeline": summary.get("timeline"),
        }
        out["sizes"].append(row)
        print(
            json.dumps(
                {k: v for k, v in row.items() if k not in ("summary_timeline", "screen_memory")}, default=str
            )
        )
        if not args.keep:
            shutil.rmtree(res, ignore_errors=True)
    sizes = {r["candidates"]: r for r in out["sizes"]}
    if 100_000 in sizes and 1_000_000 in sizes:
        out["peak_rss_ratio_1m_vs_100k"] = round(
            sizes[1_000_000]["screen_memory"]["max_rss_mb"] / sizes[100_000]["screen_memory"]["max_rss_mb"], 3
        )
    return out


# ------------------------------------------------------------------------------------------- report
def write_markdown(result: dict[str, Any], path: Path) -> None:
    """The figures the README refers to, with the cost formula filled in from this run."""
    lines = ["# Campaign bench (written by bench/campaign_bench.py; do not edit)", "",
             f"Run {result['date']} on {result['machine']['cpus']} CPUs, load before/after "
             f"{result['machine']['loadavg_before'][0]:.2f}/{result['machine']['loadavg_after'][0]:.2f}; "
             f"model {result['model_id'][:12]}, chunk size {result['chunk_size']}.", ""]  # fmt: skip
    st = result.get("startup")
    if st:
        for r in st["runs"]:
            lines += [f"## `{r['cmd']}`", "", f"first chunk at {r['first_chunk_s']} s; summary at "
                      f"{r['summary_printed_s']} s; exit {r['summary_to_exit_s']} s after the summary.", "",
                      "| step | at (s) | spent (s) | on |", "|---|---:|---:|---|"]  # fmt: skip
            lines += [
                f"| {s['step']} | {s['at_s']:.2f} | {s['spent_s']:.2f} | {s['on']} |" for s in r["steps"]
            ]
            lines.append("")
        lines += [f"A running campaign is refused in {st['refusal']['seconds']} s (server started: "
                  f"{st['refusal']['server_started']}).", ""]  # fmt: skip
    sg = result.get("stages")
    sc = result.get("scaling")
    if sg:
        us = sg["us_per_candidate"]
        lines += [
            "## Per-stage cost (one process, one torch thread)",
            "",
            "| step | us / candidate |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v} |" for k, v in us.items()]
        lines.append("")
    if sc:
        lines += [f"## Scaling at {sc['rows'][0]['candidates']:,} candidates", "",
                  "| mode | seconds | candidates/s | vs in-process |", "|---|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {r['mode']} | {r['seconds']} | {r['candidates_per_s']} | {r['vs_in_process']}x |" for r in sc["rows"]]  # fmt: skip
        lines += ["", f"Prefect + Dask overhead (flow, 1 one-thread worker, vs in-process): "
                  f"{100 * sc['overhead_flow_x1_vs_in_process']:.1f}%; 2 one-thread workers vs 1: "
                  f"{sc['speedup_2_workers_vs_1']}x; 1 two-thread worker vs 1 one-thread: "
                  f"{sc['speedup_1_worker_2_threads_vs_1']}x.", ""]  # fmt: skip
    if sg and sc:
        c = sum(v for k, v in sg["us_per_candidate"].items() if k != "encode_full") * 1e-6
        x1 = next(r for r in sc["rows"] if r["mode"] == "flow 1 worker x 1 thread")
        n = x1["candidates"]
        over = max(0.0, x1["seconds"] - n * c)
        lines += ["## What to expect on W cores", "",
                  "T(N, W) ~ T_start + N * c / W + T_flow, with c the per-candidate cost of one worker thread "
                  "(stored SCOPE strings; a full symmetry search adds its encode cost) and T_flow the orchestration "
                  "time. Measured here: "
                  f"c = {1e6 * c:.0f} us (read {sg['us_per_candidate']['read_input']}, encode "
                  f"{sg['us_per_candidate']['encode_stored']}, predict {sg['us_per_candidate']['predict']}, Debye + "
                  f"write {sg['us_per_candidate']['debye_write']}; full encode "
                  f"{sg['us_per_candidate']['encode_full']}), T_flow at {n:,} candidates ~ {over:.0f} s.", ""]  # fmt: skip
        for w in (64, 256):
            lines.append(f"- {w} one-thread workers: 10^6 candidates in about {1e6 * c / w:.0f} s of compute "
                         f"(+ start-up and per-task costs), if reading inputs and writing parts to the shared "
                         "results directory keeps up.")  # fmt: skip
        lines.append("")
    mil = result.get("million")
    if mil:
        lines += ["## A million SCOPE-only candidates through `cloud screen`", ""]
        for r in mil["sizes"]:
            lines.append(f"- {r['candidates']:,}: {r['screen_wall_s']} s ({r['candidates_per_s']}/s), peak RSS "
                         f"{r['screen_memory']['max_rss_mb']} MB; every candidate once: {r['every_candidate_once']}; "
                         f"`cloud top` query {r['top_query_warm_median_s']} s warm, command {r['top_command_s']} s; "
                         f"`cloud query` {r['query_command_s']} s; optional columns {r['optional_columns']}.")  # fmt: skip
        if "peak_rss_ratio_1m_vs_100k" in mil:
            lines.append(f"- peak RSS 1M / 100k: {mil['peak_rss_ratio_1m_vs_100k']}")
        lines.append("")
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=["startup", "stages", "scaling"],
                   choices=["startup", "stages", "scaling", "million"])  # fmt: skip
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped model)")
    p.add_argument("--chunk-size", type=int, default=2000)
    p.add_argument(
        "--chunks-per-task", type=int, default=None, help="flow runs: chunks per Dask task (default: auto)"
    )
    p.add_argument(
        "--startup-main", action="store_true", help="startup: also time `cloud main` (12,500 candidates)"
    )
    p.add_argument("--stages-size", type=int, default=10_000)
    p.add_argument("--scaling-size", type=int, default=100_000)
    p.add_argument("--million-sizes", type=int, nargs="+", default=[1_000_000])
    p.add_argument(
        "--screen-args", nargs=argparse.REMAINDER, default=[], help="million: extra `cloud screen` args"
    )
    p.add_argument("--work", default=None, help="work folder (kept; default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="million: keep the results stores")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "campaign_bench.json"))
    args = p.parse_args(argv)

    from screening.campaign.predict import resolve_checkpoint

    checkpoint, model_id = resolve_checkpoint(args.checkpoint)
    args.checkpoint = checkpoint
    load_before = os.getloadavg()
    result: dict[str, Any] = {"bench": "campaign_bench", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "model_id": model_id, "checkpoint": checkpoint, "chunk_size": args.chunk_size}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for section in ("startup", "stages", "scaling", "million"):
            if section in args.sections:
                result[section] = globals()[f"section_{section}"](work, args)
    result["machine"] = {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                         "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "gpu": None}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    write_markdown(result, out.with_suffix(".md"))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
