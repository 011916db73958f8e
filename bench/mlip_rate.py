"""Rate of the CHGNet labelling job: tier A relaxations on a spread of the work list, tier B E(V) on pool rows.

``python bench/mlip_rate.py [--n-a 20] [--n-b 100] [--out bench/results/mlip_rate.json]`` (one torch thread).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-a", type=int, default=20)
    ap.add_argument("--n-b", type=int, default=100)
    ap.add_argument("--cell-filter", default="frechet")
    ap.add_argument("--out", type=Path, default=Path("bench/results/mlip_rate.json"))
    args = ap.parse_args()

    from screening.mlip.builder import read_shards, run_job
    from screening.mlip.compute import MlipSettings
    from screening.mlip.worklist import build_worklist
    from screening.phonons.potential import load_potential, set_torch_threads

    set_torch_threads(1)
    t0 = time.perf_counter()
    items = build_worklist(("A", "B"))
    t_list = time.perf_counter() - t0
    a = [it for it in items if it.tier == "A"]
    b = [it for it in items if it.tier == "B"]
    step = max(1, len(a) // args.n_a)
    sample = a[::step][: args.n_a] + b[: args.n_b]
    settings = MlipSettings(cell_filter=args.cell_filter)
    pot = load_potential(settings.model_name)
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        run_job(sample, Path(tmp), settings=settings, potential=pot, shard_size_a=50, shard_size_b=args.n_b)
        wall = time.perf_counter() - t1
        df = read_shards(Path(tmp))
    res = {
        "worklist_seconds": t_list,
        "n_tier_a_total": len(a),
        "n_tier_b_total": len(b),
        "wall_seconds": wall,
        "cell_filter": args.cell_filter,
    }
    for tier, grp in df.groupby("tier"):
        ok = grp[grp["status"] == "ok"]
        res[tier] = {
            "n": int(len(grp)),
            "ok": int(len(ok)),
            "rejects": grp["reason"].value_counts().to_dict(),
            "seconds_per_structure_mean": float(grp["seconds"].mean()),
            "seconds_per_structure_median": float(grp["seconds"].median()),
            "steps_median": float(grp["n_steps"].median()),
            "steps_max": int(grp["n_steps"].max()),
            "single_points": int(grp["n_single_points"].sum()),
        }
    if "A" in res:
        res["eta_tier_a_hours"] = res["A"]["seconds_per_structure_mean"] * len(a) / 3600
    if "B" in res:
        res["eta_tier_b_hours"] = res["B"]["seconds_per_structure_mean"] * len(b) / 3600
        res["B"]["single_points_per_second"] = res["B"]["single_points"] / (
            res["B"]["seconds_per_structure_mean"] * res["B"]["n"]
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps(res, indent=1, default=str))
    print(
        df[
            [
                "id",
                "status",
                "reason",
                "n_sites",
                "n_steps",
                "seconds",
                "energy_per_atom_eV",
                "bulk_modulus_GPa",
            ]
        ].to_string()
    )


if __name__ == "__main__":
    main()
