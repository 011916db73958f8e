"""Reference hull: agreement with the Materials Project's energies above hull, and its cost per candidate.

1. Agreement: for every formula of crabnet's ``benchmark_data/mp_e_hull`` set (train + val + test) whose
   composition is in the hull's source table, the energy above our hull of the table's (minimum) formation
   energy against the set's ``target``: mean absolute difference, and agreement on stable (``<= tol``) vs
   unstable.
2. Cost: ``ReferenceHull.stability`` on N candidates (default 1,000,000) whose formulas are drawn from the
   bundled pool's formulas and ``--formulas`` random ones of the source table (random energies), cold (empty facet cache: every chemical
   system's hull computed) and warm (facets loaded from the cache, as a resumed or later campaign sees them);
   and on the bundled pool tiled to 100,000 rows.

Prints a table and writes bench/results/hull_bench.json. Set CRABNET_DATA to the unzipped crabnet data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def agreement(hull, crabnet: Path, tol: float) -> dict:
    import numpy as np
    import pandas as pd

    from screening.hull import parse_formula

    df = pd.concat([pd.read_csv(p) for p in sorted((crabnet / "benchmark_data" / "mp_e_hull").glob("*.csv"))])
    df = df.groupby("formula", as_index=False)["target"].min()
    formulas, e_form, ref = [], [], []
    for f, t in zip(df["formula"], df["target"], strict=True):
        p = parse_formula(f)
        e = hull.known_energy(*p) if p else None
        if e is not None:
            formulas.append(f)
            e_form.append(e)
            ref.append(t)
    ours = hull.stability(formulas, np.array(e_form)).column("e_above_hull").to_numpy()
    ref = np.array(ref)
    diff = np.abs(ours - ref)
    agree = (ours <= tol) == (ref <= tol)
    return {
        "n_formulas_in_set": int(len(df)),
        "n_compared": int(len(ours)),
        "mad_eV_per_atom": float(diff.mean()),
        "median_abs_diff_eV_per_atom": float(np.median(diff)),
        "stable_tolerance_eV_per_atom": tol,
        "stable_agreement": float(agree.mean()),
        "n_stable_ours": int((ours <= tol).sum()),
        "n_stable_mp": int((ref <= tol).sum()),
    }


def cost(source: Path, n: int, seed: int, n_formulas: int) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from screening.campaign.source_tables import default_pool_path
    from screening.hull import ReferenceHull

    pool = pq.read_table(default_pool_path(), columns=["formula"]).column("formula").to_pylist()
    table = pq.read_table(source, columns=["formula"]).column("formula").to_pylist()
    rng = np.random.default_rng(seed)
    table = list(rng.choice(np.array(table, dtype=object), size=min(n_formulas, len(table)), replace=False))
    names = np.array(table + pool, dtype=object)
    formulas = list(names[rng.integers(0, len(names), n)])
    e = rng.uniform(-3, 0.5, n)
    std = rng.uniform(0.01, 0.2, n)
    out: dict = {
        "n_rows": n,
        "n_unique_formulas": len(set(formulas)),
        "n_chemical_systems": len(
            {"-".join(sorted(set(re.findall("[A-Z][a-z]?", f)))) for f in set(formulas)}
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            hull = ReferenceHull.from_parquet(source, Path(tmp))
            t1 = time.perf_counter()
            hull.stability(formulas, e, std)
            t2 = time.perf_counter()
            out[label] = {
                "build_s": t1 - t0,
                "stability_s": t2 - t1,
                "ms_per_candidate": 1e3 * (t2 - t1) / n,
                "ms_per_candidate_with_build": 1e3 * (t2 - t0) / n,
            }
        pool_rows = [pool[i % len(pool)] for i in range(100_000)]
        t0 = time.perf_counter()
        hull = ReferenceHull.from_parquet(source, Path(tmp))
        hull.stability(pool_rows, rng.uniform(-3, 0.5, len(pool_rows)))
        out["pool_100k_warm_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    from screening.hull import ReferenceHull, default_source

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="candidates for the cost measurement")
    ap.add_argument("--formulas", type=int, default=20_000, help="distinct source-table formulas drawn from")
    ap.add_argument("--tol", type=float, default=1e-3, help="stable: energy above hull <= tol (eV/atom)")
    ap.add_argument("--crabnet", default=os.environ.get("CRABNET_DATA", "/tmp/crabnet/unz/crabnet/data"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "hull_bench.json"))
    args = ap.parse_args()
    source = default_source()
    hull = ReferenceHull.from_parquet(source)
    result = {
        "hull_version": hull.version,
        "source": str(source.relative_to(ROOT)),
        "n_known_compositions": hull.n_known,
        "agreement_vs_mp_e_hull": agreement(hull, Path(args.crabnet), args.tol),
        "cost": cost(source, args.n, 0, args.formulas),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "command": "python bench/hull_bench.py " + " ".join(sys.argv[1:]),
    }
    a, c = result["agreement_vs_mp_e_hull"], result["cost"]
    print(f"hull {hull.version}: {hull.n_known} known compositions")
    print(f"vs mp_e_hull: n={a['n_compared']} MAD={a['mad_eV_per_atom']:.4f} eV/atom "
          f"stable agreement={a['stable_agreement']:.4f}")  # fmt: skip
    for label in ("cold", "warm"):
        r = c[label]
        print(f"{label}: {c['n_rows']} rows, {r['stability_s']:.1f} s = {r['ms_per_candidate']:.4f} ms/candidate "
              f"({r['ms_per_candidate_with_build']:.4f} with the {r['build_s']:.1f} s build)")  # fmt: skip
    print(f"bundled pool tiled to 100k, warm: {c['pool_100k_warm_s']:.1f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
