"""Reference hull: agreement with the Materials Project's energies above hull, and its cost per candidate.

1. Agreement: for every formula of crabnet's ``benchmark_data/mp_e_hull`` set (train + val + test) whose
   composition is in the hull's source table, the energy above our hull of the table's (minimum) formation
   energy against the set's ``target``: mean absolute difference, and agreement on stable (``<= tol``) vs
   unstable. The set holds ONE entry per formula, not necessarily its ground-state polymorph, while the
   source table keeps each formula's lowest polymorph; so the like-for-like comparison (the issue's check) is
   on the formulas with a single entry (one polymorph) in Matbench's ``mp_e_form.csv`` as well, where both
   numbers describe the same structure. All formulas are reported too, with the share of the difference that
   comes from the few formulas differing by more than 0.2 eV/atom.
2. Cost: ``ReferenceHull.stability`` on N candidates (default 1,000,000; ``--scaling`` adds smaller N)
   whose formulas are drawn from the bundled pool's formulas and ``--formulas`` random ones of the source
   table (random energies), cold (empty facet cache, a fresh hull object and formula parser: every chemical
   system's hull computed, as the first campaign sees it) and warm (facets loaded from the cache, as a resumed
   or later campaign sees them); and the bundled pool tiled to 100,000 rows, cold and warm, as a fraction of
   the 100k campaign's wall time recorded in ``bench/results/campaign_bench.json``.

Prints a table and writes bench/results/hull_bench.json. Set CRABNET_DATA to the unzipped crabnet data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The issue's targets.
MAX_MAD_EV = 0.02
MIN_AGREEMENT = 0.95
MIN_FORMULAS = 1000
MAX_MS_PER_CANDIDATE_1M = 0.1
MAX_SHARE_OF_100K_CAMPAIGN = 0.10


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _compare(ours, ref, tol: float) -> dict:
    import numpy as np

    diff = np.abs(ours - ref)
    agree = (ours <= tol) == (ref <= tol)
    return {
        "n_compared": int(len(ours)),
        "mad_eV_per_atom": float(diff.mean()),
        "median_abs_diff_eV_per_atom": float(np.median(diff)),
        "share_of_mad_from_diff_over_0.2": float(diff[diff > 0.2].sum() / max(diff.sum(), 1e-300)),
        "n_diff_over_0.2": int((diff > 0.2).sum()),
        "stable_agreement": float(agree.mean()),
        "n_stable_ours": int((ours <= tol).sum()),
        "n_stable_mp": int((ref <= tol).sum()),
        "meets_issue": bool(
            len(ours) >= MIN_FORMULAS and diff.mean() <= MAX_MAD_EV and agree.mean() >= MIN_AGREEMENT
        ),
    }


def agreement(hull, crabnet: Path, tol: float) -> dict:
    import numpy as np
    import pandas as pd

    from screening.hull import _key, parse_formula

    def key(formula: object) -> tuple | None:
        p = parse_formula(formula) if isinstance(formula, str) else None
        return _key(*p) if p else None

    df = pd.concat([pd.read_csv(p) for p in sorted((crabnet / "benchmark_data" / "mp_e_hull").glob("*.csv"))])
    df = df.groupby("formula", as_index=False)["target"].min()
    raw = pd.read_csv(crabnet / "matbench" / "mp_e_form.csv", usecols=["formula"])
    n_polymorphs = pd.Series([key(f) for f in raw["formula"]]).value_counts()
    formulas, e_form, ref, single = [], [], [], []
    for f, t in zip(df["formula"], df["target"], strict=True):
        p = parse_formula(f)
        e = hull.known_energy(*p) if p else None
        if e is not None:
            formulas.append(f)
            e_form.append(e)
            ref.append(t)
            single.append(n_polymorphs.get(_key(*p), 0) == 1)
    ours = hull.stability(formulas, np.array(e_form)).column("e_above_hull").to_numpy()
    ref, single = np.array(ref), np.array(single)
    return {
        "n_formulas_in_set": int(len(df)),
        "stable_tolerance_eV_per_atom": tol,
        "targets": {
            "max_mad_eV_per_atom": MAX_MAD_EV,
            "min_agreement": MIN_AGREEMENT,
            "min_formulas": MIN_FORMULAS,
        },
        "single_polymorph_formulas": _compare(ours[single], ref[single], tol),
        "all_formulas": _compare(ours, ref, tol),
    }


def _run(source: Path, cache: Path, formulas: list, e, std) -> dict:
    """One campaign's hull step in a fresh hull object (cold parser): build + stability."""
    from screening.hull import ReferenceHull, parse_formula

    parse_formula.cache_clear()
    t0 = time.perf_counter()
    hull = ReferenceHull.from_parquet(source, cache)
    t1 = time.perf_counter()
    hull.stability(formulas, e, std)
    t2 = time.perf_counter()
    n = len(formulas)
    return {
        "build_s": t1 - t0,
        "stability_s": t2 - t1,
        "total_s": t2 - t0,
        "ms_per_candidate": 1e3 * (t2 - t1) / n,
        "ms_per_candidate_with_build": 1e3 * (t2 - t0) / n,
    }


def cost(source: Path, sizes: list[int], seed: int, n_formulas: int) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from screening.campaign.source_tables import default_pool_path

    pool = pq.read_table(default_pool_path(), columns=["formula"]).column("formula").to_pylist()
    table = pq.read_table(source, columns=["formula"]).column("formula").to_pylist()
    rng = np.random.default_rng(seed)
    table = list(rng.choice(np.array(table, dtype=object), size=min(n_formulas, len(table)), replace=False))
    names = np.array(table + pool, dtype=object)

    def chemsys(fs: list[str]) -> int:
        return len({"-".join(sorted(set(re.findall("[A-Z][a-z]?", f)))) for f in set(fs)})

    out: dict = {"pool_plus_table_formulas": {"n_table_formulas": len(table), "by_rows": []}}
    for n in sizes:
        formulas = list(names[rng.integers(0, len(names), n)])
        e = rng.uniform(-3, 0.5, n)
        std = rng.uniform(0.01, 0.2, n)
        row: dict = {
            "n_rows": n,
            "n_unique_formulas": len(set(formulas)),
            "n_chemical_systems": chemsys(formulas),
        }
        with tempfile.TemporaryDirectory() as tmp:
            for label in ("cold", "warm"):
                row[label] = _run(source, Path(tmp), formulas, e, std)
        out["pool_plus_table_formulas"]["by_rows"].append(row)
        print(f"{n:>9} rows, {row['n_chemical_systems']} systems: cold {row['cold']['total_s']:.1f} s "
              f"({row['cold']['ms_per_candidate_with_build']:.4f} ms/candidate with build), "
              f"warm {row['warm']['total_s']:.1f} s ({row['warm']['ms_per_candidate_with_build']:.4f})", flush=True)  # fmt: skip
    pool_rows = [pool[i % len(pool)] for i in range(100_000)]
    e = rng.uniform(-3, 0.5, len(pool_rows))
    std = rng.uniform(0.01, 0.2, len(pool_rows))
    pool100k: dict = {"n_rows": len(pool_rows), "n_chemical_systems": chemsys(pool_rows)}
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("cold", "warm"):
            pool100k[label] = _run(source, Path(tmp), pool_rows, e, std)
    campaign = json.loads((ROOT / "bench" / "results" / "campaign_bench.json").read_text())
    walls = [r["seconds"] for r in campaign["rows"] if r["candidates"] == 100_000]
    pool100k["campaign_100k_wall_s"] = {
        "min": min(walls),
        "max": max(walls),
        "from": "bench/results/campaign_bench.json",
    }
    pool100k["cold_share_of_fastest_100k_campaign"] = pool100k["cold"]["total_s"] / min(walls)
    out["bundled_pool_tiled_100k"] = pool100k
    return out


def main() -> None:
    from screening.hull import ReferenceHull, default_source

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="candidates for the cost measurement")
    ap.add_argument(
        "--scaling", type=int, nargs="*", default=[10_000, 100_000], help="smaller N measured first"
    )
    ap.add_argument("--formulas", type=int, default=20_000, help="distinct source-table formulas drawn from")
    ap.add_argument("--tol", type=float, default=1e-3, help="stable: energy above hull <= tol (eV/atom)")
    ap.add_argument("--crabnet", default=os.environ.get("CRABNET_DATA", "/tmp/crabnet/unz/crabnet/data"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "hull_bench.json"))
    args = ap.parse_args()
    uptime_before = _uptime()
    source = default_source()
    hull = ReferenceHull.from_parquet(source)
    a = agreement(hull, Path(args.crabnet), args.tol)
    print(f"hull {hull.version}: {hull.n_known} known compositions")
    for name in ("single_polymorph_formulas", "all_formulas"):
        r = a[name]
        print(f"vs mp_e_hull, {name}: n={r['n_compared']} MAD={r['mad_eV_per_atom']:.4f} eV/atom "
              f"stable agreement={r['stable_agreement']:.4f} meets issue: {r['meets_issue']}", flush=True)  # fmt: skip
    c = cost(source, sorted({*args.scaling, args.n}), 0, args.formulas)
    largest = c["pool_plus_table_formulas"]["by_rows"][-1]
    c["largest_cold_ms_per_candidate_with_build"] = largest["cold"]["ms_per_candidate_with_build"]
    c["meets_issue_ms_per_candidate"] = bool(
        largest["n_rows"] >= 1_000_000
        and c["largest_cold_ms_per_candidate_with_build"] <= MAX_MS_PER_CANDIDATE_1M
    )
    p = c["bundled_pool_tiled_100k"]
    c["meets_issue_share_of_100k_campaign"] = bool(
        p["cold_share_of_fastest_100k_campaign"] <= MAX_SHARE_OF_100K_CAMPAIGN
    )
    print(f"bundled pool tiled to 100k ({p['n_chemical_systems']} systems): cold {p['cold']['total_s']:.1f} s "
          f"(build {p['cold']['build_s']:.1f} s) = {100 * p['cold_share_of_fastest_100k_campaign']:.1f}% of a "
          f"{p['campaign_100k_wall_s']['min']:.0f} s campaign; warm {p['warm']['total_s']:.1f} s")  # fmt: skip
    result = {
        "hull_version": hull.version,
        "source": str(source.relative_to(ROOT)),
        "n_known_compositions": hull.n_known,
        "agreement_vs_mp_e_hull": a,
        "cost": c,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "uptime_before": uptime_before,
            "uptime_after": _uptime(),
        },
        "command": "/work/bin/heavy python bench/hull_bench.py " + " ".join(sys.argv[1:]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
