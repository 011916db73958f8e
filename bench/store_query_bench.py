"""Benchmark of reading a results store: connect cost of relocatable views, and ``cloud query``'s peak memory.

* Connect cost (issue 11, item 5): three ways for views to follow a copied or moved store, on stores of 10 and
  2,000 committed chunks (five Parquet parts each):

  - ``file + root variable`` (what the store does, :func:`screening.store.views.connect_readonly`): open
    ``cloud.duckdb`` read-only, whose views prefix their paths with the session variable ``cloud_store_root``,
    and set that variable;
  - ``file + file_search_path``: the same file with plain relative paths, and ``SET file_search_path``;
  - ``in-memory views``: an in-memory database whose views are created at connect time
    (each ``CREATE VIEW`` binds its query: a glob and a schema read over every part).

  Median of 5 connects, and of the first ``count(*)`` on ``predictions`` after each.
* Peak memory (issue 11, item 2): ``cloud query "SELECT * FROM range(100000000)" --format csv`` into
  ``/dev/null``: peak RSS (the bound to keep: 1 GB), wall time and rows/s from ``/usr/bin/time -v``; and the
  start-up time of ``cloud query --help``.

Run: ``/work/bin/heavy python bench/store_query_bench.py`` (``--quick``: 100 chunks, 1e7 rows, no JSON).
Writes ``bench/results/store_query_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from screening.store import ResultsStore
from screening.store.provenance import stamp, utc_now
from screening.store.views import ROOT_VARIABLE, connect_readonly, set_store_root, view_ddl

RESULTS = Path(__file__).resolve().parent / "results" / "store_query_bench.json"
REPO = Path(__file__).resolve().parents[1]


def _chunk_tables(cid: str, chunk: str, n: int) -> dict[str, pa.Table]:
    now, ids = utc_now(), [f"c{i}" for i in range(n)]

    def keyed(t: pa.Table) -> pa.Table:
        t = t.add_column(0, "chunk_id", pa.array([chunk] * t.num_rows, pa.string()))
        t = t.add_column(0, "campaign_id", pa.array([cid] * t.num_rows, pa.string()))
        return stamp(t, model_id="m", symprec=0.01, created_at=now)

    return {
        "candidates": keyed(pa.table({"candidate_id": ids, "status": ["ok"] * n, "formula": ["NaCl"] * n})),
        "predictions": keyed(pa.table({"candidate_id": ids, "theta_K": [float(i) for i in range(n)]})),
        "debye_curves": keyed(pa.table({"candidate_id": pa.array([], pa.string())})),
        "rejects": keyed(pa.table({"candidate_id": pa.array([], pa.string())})),
        "chunks": keyed(pa.table({"n_candidates": [n], "n_ok": [n], "n_rejected": [0]})),
    }


def make_store(root: Path, n_chunks: int) -> ResultsStore:
    """A store with ``n_chunks`` committed chunks of 100 rows (the first written, the others copies of it)."""
    store = ResultsStore(root)
    store.ensure()
    store.commit_chunk("bench", "c0", _chunk_tables("bench", "c0", 100))
    first = store.layout.chunk_dir("bench", "c0")
    for i in range(1, n_chunks):
        shutil.copytree(first, store.layout.chunk_dir("bench", f"c{i}"))
    return store


def connect_cost(store: ResultsStore, tmp: Path, repeats: int = 5) -> dict[str, dict[str, float]]:
    layout = store.layout
    prefix = f"coalesce(getvariable('{ROOT_VARIABLE}'), '.') || '/' || "
    relative_db = tmp / f"relative-{layout.root.name}.duckdb"
    with duckdb.connect(str(relative_db)) as con:
        con.execute("SET file_search_path = $r", {"r": str(layout.root)})
        for ddl in view_ddl(layout):
            con.execute(ddl.replace(prefix, ""))

    def search_path() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(relative_db), read_only=True)
        con.execute("SET file_search_path = $r", {"r": str(layout.root)})
        return con

    def in_memory() -> duckdb.DuckDBPyConnection:
        con = set_store_root(duckdb.connect(), layout)
        for ddl in view_ddl(layout):
            con.execute(ddl)
        return con

    methods = {"file + root variable": lambda: connect_readonly(layout), "file + file_search_path": search_path,
               "in-memory views": in_memory}  # fmt: skip
    out = {}
    for name, connect in methods.items():
        t_connect, t_query = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            con = connect()
            t1 = time.perf_counter()
            n = con.execute("SELECT count(*) FROM predictions").fetchall()[0][0]
            t_query.append(time.perf_counter() - t1)
            t_connect.append(t1 - t0)
            con.close()
        out[name] = {"connect_ms": 1e3 * statistics.median(t_connect), "first_query_ms": 1e3 * statistics.median(t_query),
                     "rows": n}  # fmt: skip
    return out


def _wall_s(text: str) -> float:
    """``/usr/bin/time``'s ``[h:]m:ss.ss`` as seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = 60 * seconds + float(part)
    return seconds


def query_peak_rss(
    store: ResultsStore, n_rows: int, bound_mb: float = 1024
) -> dict[str, float | int | str | bool]:
    """Peak RSS, wall time and rate of ``cloud query ... --format csv > /dev/null`` for ``range(n_rows)``.

    Measured by ``/usr/bin/time -v`` (a small process of its own): ``os.wait4`` from this process would report
    at least this process's own RSS, which Linux carries over exec into the child's ``ru_maxrss``.
    """
    sql = f"SELECT * FROM range({n_rows})"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "flows.cli", "query", sql, "--format", "csv",
           "--results", str(store.root)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    with open(os.devnull, "wb") as sink:
        proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.PIPE, text=True, env=env, check=True)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    wall = _wall_s(
        re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    )
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", proc.stderr).group(1)
    return {"command": " ".join(cmd[2:]) + " > /dev/null", "rows": n_rows, "peak_rss_MB": rss_kb / 1024,
            "bound_MB": bound_mb, "within_bound": rss_kb / 1024 <= bound_mb, "wall_s": wall,
            "rows_per_s": n_rows / wall, "cpu_percent": int(cpu)}  # fmt: skip


def help_startup_s(repeats: int = 3) -> float:
    """Median wall time of ``cloud query --help`` (start-up: imports and parser)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "flows.cli", "query", "--help"], capture_output=True, env=env, check=True
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    sizes = (10, 100) if args.quick else (10, 2000)
    result: dict = {"bench": "store_query", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "duckdb": duckdb.__version__, "loadavg_1min_before": round(os.getloadavg()[0], 2),
                    "connect": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        for n in sizes:
            store = make_store(Path(tmp) / f"s{n}", n)
            result["connect"][f"{n}_chunks"] = connect_cost(store, Path(tmp))
        result["query"] = query_peak_rss(store, 10_000_000 if args.quick else 100_000_000)
    result["query_help_startup_s"] = help_startup_s()
    result["loadavg_1min_after"] = round(os.getloadavg()[0], 2)

    print(f"{'store':>12}  {'method':<24} {'connect ms':>11} {'1st query ms':>13}")
    for size, methods in result["connect"].items():
        for name, m in methods.items():
            print(f"{size:>12}  {name:<24} {m['connect_ms']:>11.1f} {m['first_query_ms']:>13.1f}")
    q = result["query"]
    print(f"\n{q['command']}")
    print(f"{'rows':>12} {'peak RSS MB':>12} {'bound MB':>9} {'wall s':>7} {'rows/s':>12} {'CPU %':>6}")
    print(f"{q['rows']:>12,} {q['peak_rss_MB']:>12.0f} {q['bound_MB']:>9.0f} {q['wall_s']:>7.1f} {q['rows_per_s']:>12,.0f}"
          f" {q['cpu_percent']:>6}")  # fmt: skip
    print(f"cloud query --help start-up: {result['query_help_startup_s']:.2f} s (median of 3)")
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.out.with_suffix(".json.tmp")
        tmp_out.write_text(json.dumps(result, indent=1) + "\n")
        tmp_out.replace(args.out)
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
