"""Throughput of the phonon stage (CHGNet relax + phonopy) on this machine: structures/hour, time against size.

Runs the stage with its default settings (supercell >= 10 A per side) on pymatgen's bundled test structures of
increasing size, one structure per call, and records wall time, this process's CPU time, and the split between
relaxation and the batched displacement forces. Prints a table and writes ``bench/results/phonon_bench.json``.

    nice -n 10 python bench/phonon_bench.py [--threads 1] [--max-sites 12] [--device cpu]

Wall time on a shared machine includes waiting for the CPU; the CPU-time column is the cost of the work itself.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import time
import warnings
from pathlib import Path

NAMES = ("Si", "CsCl", "Li2O", "SrTiO3", "VO2", "K2O2", "SiO2", "BaNiO3", "TiO2", "La2CoO4F")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-sites", type=int, default=12)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "phonon_bench.json")
    ap.add_argument(
        "--refresh-reference-timings",
        action="store_true",
        help="keep the measured rows of an existing --out file, only re-read the reference build's timings",
    )
    args = ap.parse_args(argv)
    if args.refresh_reference_timings:
        summary = json.loads(args.out.read_text())
        summary["reference_build_timings"] = _reference_timings()
        _print_reference(summary)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.out}")
        return 0

    import pymatgen.util
    import torch
    from pymatgen.core import Structure

    from screening.phonons import PhononSettings, run_phonon_stage
    from screening.phonons.potential import load_potential

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    potential = load_potential()
    load_s = time.perf_counter() - t0
    folder = os.path.join(pymatgen.util.__path__[0], "structures")
    items = []
    for name in NAMES:
        path = glob.glob(os.path.join(folder, f"{name}.json"))
        if not path:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_file(path[0]).get_primitive_structure()
        if len(s) <= args.max_sites:
            items.append((name, s))
    settings = PhononSettings()
    rows = []
    load0 = os.getloadavg()[0]
    print(
        f"{'structure':<10}{'sites':>6}{'supercell':>10}{'disp':>6}{'steps':>6}{'wall s':>8}{'cpu s':>8}"
        f"{'relax s':>9}{'forces s':>9}"
    )
    for sid, s in items:
        w0, c0 = time.perf_counter(), time.process_time()
        results, rejects = run_phonon_stage([(sid, s)], settings=settings, potential=potential)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if rejects:
            print(f"{sid:<10} rejected: {rejects[0].reason}: {rejects[0].message}")
            rows.append(
                {"id": sid, "n_sites": len(s), "rejected": rejects[0].reason, "wall_s": wall, "cpu_s": cpu}
            )
            continue
        r = results[0]
        rows.append(
            {
                "id": sid,
                "formula": r.formula,
                "n_sites": r.n_sites,
                "supercell_atoms": r.supercell_atoms,
                "n_displacements": r.n_displacements,
                "relax_steps": r.relax_steps,
                "wall_s": wall,
                "cpu_s": cpu,
                "relax_s": r.seconds_relax,
                "forces_s": r.seconds_forces,
                "dynamically_stable": r.dynamically_stable,
            }
        )
        print(
            f"{sid:<10}{r.n_sites:>6}{r.supercell_atoms:>10}{r.n_displacements:>6}{r.relax_steps:>6}{wall:>8.1f}"
            f"{cpu:>8.1f}{r.seconds_relax:>9.1f}{r.seconds_forces:>9.1f}"
        )
    done = [r for r in rows if "rejected" not in r]
    total_wall = sum(r["wall_s"] for r in done)
    total_cpu = sum(r["cpu_s"] for r in done)
    summary = {
        "device": "cpu (no GPU in this task)",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
        "torch": torch.__version__,
        "potential": potential.version,
        "settings": {
            "supercell_min_length_A": settings.supercell_min_length,
            "displacement_A": settings.displacement,
            "mesh_length_A": settings.mesh_length,
            "fmax_eV_per_A": settings.fmax,
        },
        "model_load_s": load_s,
        "load_average_start": load0,
        "load_average_end": os.getloadavg()[0],
        "n_structures": len(done),
        "structures_per_hour_wall": 3600.0 * len(done) / total_wall if total_wall else None,
        "structures_per_hour_cpu": 3600.0 * len(done) / total_cpu if total_cpu else None,
        "rows": rows,
    }
    print(
        f"\n{len(done)} structures: {summary['structures_per_hour_wall']:.0f}/h wall, "
        f"{summary['structures_per_hour_cpu']:.0f}/h per CPU-second basis (load average {load0:.1f} at start)"
    )
    summary["reference_build_timings"] = _reference_timings()
    for b in summary["reference_build_timings"]:
        print(
            f"reference build, {b['n_sites']:>2} sites: {b['count']:>3} structures, median {b['median_s']:.1f} s wall"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _print_reference(summary: dict) -> None:
    for b in summary["reference_build_timings"]:
        print(
            f"reference build, {b['n_sites']:>2} sites: {b['count']:>3} structures, median {b['median_s']:.1f} s, "
            f"max {b['max_s']:.1f} s wall"
        )


def _reference_timings() -> list[dict]:
    """Per-structure wall time of the committed reference build (same stage, same settings), by primitive size."""
    import numpy as np
    import pyarrow.parquet as pq

    path = Path(__file__).resolve().parents[1] / "data" / "phonon_reference" / "phonon_reference.parquet"
    if not path.exists():
        return []
    t = pq.read_table(path, columns=["n_sites", "seconds", "supercell_atoms", "n_displacements"]).to_pydict()
    out = []
    for n in sorted(set(t["n_sites"])):
        idx = [i for i, m in enumerate(t["n_sites"]) if m == n]
        secs = np.array([t["seconds"][i] for i in idx])
        work = np.array([t["supercell_atoms"][i] * t["n_displacements"][i] for i in idx])
        out.append(
            {
                "n_sites": int(n),
                "count": len(idx),
                "median_s": float(np.median(secs)),
                "max_s": float(secs.max()),
                "median_supercell_atoms_x_displacements": float(np.median(work)),
            }
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
