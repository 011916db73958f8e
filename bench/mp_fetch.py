"""Materials Project download against the local protocol server: throughput, faults, interruption and resume.

Runs the real mp-api client (through ``screening.sources.materials_project.fetch_summary``) against
``tests/sources_mp/mp_server.py`` with faults on many pages, interrupts the download half-way, resumes it,
checks that the result is exactly the server's ids, and writes ``bench/results/mp_fetch.json``.

Usage: ``python bench/mp_fetch.py [--docs 2000] [--page-size 100]``
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sources_mp"))
sys.path.insert(0, str(ROOT))

KEY = "BenchKey0123456789abcdefghijklmn"
FAULT_CYCLE = ("429", "500", "503", "drop", "malformed", "502", "504", "no_meta")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "mp_fetch.json"))
    args = ap.parse_args()

    from mp_server import MPTestServer, make_docs

    t = time.perf_counter()
    docs = make_docs(args.docs, seed=11)
    t_docs = time.perf_counter() - t
    t = time.perf_counter()
    import mp_api.client  # noqa: F401  (timed on its own: the client's import cost)

    t_import = time.perf_counter() - t
    from screening.sources.materials_project import MPQuery, RetryPolicy, fetch_summary, read_candidates

    policy = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.05, max_wait=0.2, timeout=10)
    query = MPQuery()
    results: dict = {
        "machine": platform.platform(),
        "docs_on_server": args.docs,
        "page_size": args.page_size,
        "make_docs_s": round(t_docs, 2),
        "import_mp_api_s": round(t_import, 2),
    }
    with tempfile.TemporaryDirectory() as d, MPTestServer(docs, api_key=KEY, retry_after=0) as srv:
        n_pages = -(-len(srv.matching_ids({"deprecated": "False"})) // args.page_size)
        injected = 0
        for page in range(3, n_pages + 1, 2):  # a fault on every other page from page 3 on
            srv.add_faults(page, FAULT_CYCLE[injected % len(FAULT_CYCLE)])
            injected += 1
        stop_at = n_pages // 2

        def interrupt(event):
            if event.page == stop_at:
                raise KeyboardInterrupt

        t = time.perf_counter()
        try:
            fetch_summary(
                d,
                query,
                api_key=KEY,
                endpoint=srv.url,
                page_size=args.page_size,
                retry=policy,
                on_page=interrupt,
            )
        except KeyboardInterrupt:
            pass
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        report = fetch_summary(
            d, query, api_key=KEY, endpoint=srv.url, page_size=args.page_size, retry=policy
        )
        t_second = time.perf_counter() - t
        ids = [c.id for c in read_candidates(d)]
        expected = srv.matching_ids({"deprecated": "False"})
        shard_bytes = sum(p.stat().st_size for p in (Path(d) / "shards").glob("*.parquet"))
        requests_total = len(srv.summary_requests())
        faults_seen = sum(1 for e in srv.summary_requests() if e["fault"])
        results.update(
            {
                "pages": n_pages,
                "faults_injected": injected,
                "faults_seen_by_server": faults_seen,
                "summary_requests_total": requests_total,
                "interrupted_after_page": stop_at,
                "first_run_s": round(t_first, 2),
                "resume_run_s": round(t_second, 2),
                "resumed_from_skip": report.resumed_from_skip,
                "resume_run_pages": report.pages_fetched,
                "resume_run_retries": report.retries,
                "resume_run_faults": report.faults,
                "rows": report.rows,
                "server_total": report.total_doc,
                "ids_exact": ids == expected,
                "duplicates": len(ids) - len(set(ids)),
                "lost": len(set(expected) - set(ids)),
                "shard_mb": round(shard_bytes / 1e6, 2),
                "docs_per_s_both_runs": round(report.rows / (t_first + t_second), 1),
            }
        )
    width = max(len(k) for k in results)
    print(f"{'metric':<{width}}  value")
    for k, v in results.items():
        print(f"{k:<{width}}  {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0 if results["ids_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
