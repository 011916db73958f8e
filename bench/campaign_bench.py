"""Campaign throughput: candidates/s end to end, and the overhead of Prefect + Dask over plain functions.

For each size (default 10,000 and 100,000 candidates) it screens the bundled prototype pool (tiled with
suffixed ids when the size exceeds the pool: same structures, same work per candidate) three ways, each in a
fresh results store:

- ``in-process``: :func:`screening.campaign.runner.run_campaign`, the pipeline functions in one process
  (torch with one thread, like one Dask worker);
- ``flow x1``: the ``screen`` flow on a local Prefect server with a one-worker local Dask cluster (the
  same compute as ``in-process``: the difference is the overhead of Prefect + Dask);
- ``flow xN``: the same flow with N workers (default: one per core).

Wall times include planning (reading the pool, writing inputs) and ranking; ``flow`` times include starting the
Dask cluster, not the Prefect server (started once). Prints a table and writes bench/results/campaign_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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
    table = pa.concat_tables(parts).slice(0, n)
    pq.write_table(table, out, compression="zstd")
    return out


def run_inprocess(pool: Path, results: Path, checkpoint: str | None, chunk: int) -> float:
    from screening.campaign import ScreenParameters
    from screening.campaign.runner import run_campaign

    os.environ["OMP_NUM_THREADS"] = "1"  # like one Dask worker
    params = ScreenParameters(campaign_id="bench", source={"kind": "pool", "path": str(pool)}, checkpoint=checkpoint,
                              results_dir=str(results), chunk_size=chunk)  # fmt: skip
    t0 = time.perf_counter()
    out = run_campaign(params)
    dt = time.perf_counter() - t0
    assert out.n_candidates == len(pool_ids(pool))
    return dt


def pool_ids(pool: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(pool, columns=["candidate_id"]).column(0).to_pylist()


def run_flow(pool: Path, results: Path, checkpoint: str | None, chunk: int, workers: int) -> float:
    from flows.screen import screen
    from screening.campaign import ScreenParameters

    params = ScreenParameters(campaign_id="bench", source={"kind": "pool", "path": str(pool)}, checkpoint=checkpoint,
                              results_dir=str(results), chunk_size=chunk, n_workers=workers)  # fmt: skip
    t0 = time.perf_counter()
    out = screen(params)
    dt = time.perf_counter() - t0
    assert out["chunks_run"] == out["n_chunks"]
    return dt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped model)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--chunk-size", type=int, default=2000)
    p.add_argument("--modes", nargs="+", default=["in-process", "flow x1", "flow xN"])
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "campaign_bench.json"))
    args = p.parse_args(argv)

    import logging

    from flows.prefect_server import local_prefect_api
    from screening.campaign.predict import resolve_checkpoint

    checkpoint, model_id = resolve_checkpoint(args.checkpoint)
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp, local_prefect_api():
        logging.getLogger("distributed").setLevel(logging.ERROR)
        for n in args.sizes:
            pool = tiled_pool(n, Path(tmp) / f"pool_{n}.parquet")
            base = None
            for mode in args.modes:
                res = Path(tmp) / f"res_{n}_{mode.replace(' ', '_')}"
                if mode == "in-process":
                    dt, workers = run_inprocess(pool, res, checkpoint, args.chunk_size), 1
                else:
                    workers = 1 if mode == "flow x1" else args.workers
                    dt = run_flow(pool, res, checkpoint, args.chunk_size, workers)
                if mode == "in-process":
                    base = dt
                row = {"candidates": n, "mode": mode.replace("xN", f"x{args.workers}"), "workers": workers,
                       "seconds": round(dt, 2), "candidates_per_s": round(n / dt, 1),
                       "overhead_vs_in_process": None if base is None or mode != "flow x1" else round(dt / base - 1, 4),
                       "speedup_vs_in_process": None if base is None else round(base / dt, 3)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    header = f"{'candidates':>10}  {'mode':<10} {'workers':>7} {'seconds':>8} {'cand/s':>8} {'overhead':>9} {'speedup':>8}"
    print(header)
    for r in rows:
        ov = "" if r["overhead_vs_in_process"] is None else f"{100 * r['overhead_vs_in_process']:+.1f}%"
        sp = "" if r["speedup_vs_in_process"] is None else f"{r['speedup_vs_in_process']:.2f}x"
        print(
            f"{r['candidates']:>10}  {r['mode']:<10} {r['workers']:>7} {r['seconds']:>8.1f} {r['candidates_per_s']:>8.1f} {ov:>9} {sp:>8}"
        )
    result = {
        "bench": "campaign_bench",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "gpu": None,
        },  # fmt: skip
        "model_id": model_id,
        "checkpoint": checkpoint,
        "chunk_size": args.chunk_size,
        "rows": rows,
        "notes": "overhead = flow x1 / in-process - 1 (same compute: one single-threaded worker vs one process "
        "with one torch thread); the Prefect server is started once before the runs.",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
