"""Benchmark of the Debye layer: accuracy and speed against the reference method, and 1M x 64 curves.

* Accuracy: Cv and U at theta = 400 K over x = theta / T from 1e-4 to 1e4, in float32 and float64, for this
  package (closed forms: series + polylogarithm, no quadrature) and for the reference implementation's method
  (20-point Gauss-Legendre on [0, x] with the naive integrands). Truth: mpmath quadrature at 30 digits.
* Speed: Cv and U for 100k materials x 64 temperatures with both methods (this package also gives S and F).
* Scale: ``thermo`` for 1M materials x 64 temperatures (all four quantities per mole of atoms and per cell).

The CPU is shared with other jobs: wall times depend on the load (recorded in the JSON); CPU time of this
process is recorded too. Run: ``nice -n 10 .venv/bin/python bench/debye_bench.py`` (``--quick`` for a smoke run).
Writes ``bench/results/debye_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import mpmath as mp
import numpy as np
import torch

from cloud_core.debye import R_GAS, debye_cv, debye_d3, debye_u, thermo

THETA = 400.0
BANDS = [(1e-4, 1e-1), (1e-1, 1.0), (1.0, 10.0), (10.0, 100.0), (100.0, 1e4 * (1 + 1e-12))]
RESULTS = Path(__file__).resolve().parent / "results" / "debye_bench.json"


def gauss_legendre_cv_u(
    theta: torch.Tensor, temps: torch.Tensor, n: int = 20, *, thermal: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference method: n-point Gauss-Legendre on [0, x] of the naive integrands (overflows at large x)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes = torch.as_tensor(nodes, dtype=theta.dtype)
    weights = torch.as_tensor(weights, dtype=theta.dtype)
    x = (theta / temps)[..., None]
    t = 0.5 * x * (nodes + 1.0)
    w = 0.5 * x * weights
    et = torch.exp(t)
    cv_int = (w * t**4 * et / (et - 1.0) ** 2).sum(-1)
    u_int = (w * t**3 / (et - 1.0)).sum(-1)
    x = x[..., 0]
    cv = 9.0 * R_GAS * cv_int / x**3
    u = 9.0 * R_GAS * temps * u_int / x**3
    if not thermal:
        u = u + 9.0 / 8.0 * R_GAS * theta
    return cv, u


def _truth(x: float) -> tuple[float, float, float]:
    """Cv, U and U - U0 (thermal) at theta = THETA, T = THETA / x, by mpmath quadrature at 30 digits."""
    xm = mp.mpf(x)
    pts = [p for p in (0, 1, 10, 60) if p < xm] + [xm]
    i3 = mp.quad(lambda t: t**3 / mp.expm1(t), pts)
    i4 = mp.quad(lambda t: t**4 * mp.exp(t) / mp.expm1(t) ** 2, pts)
    temp = mp.mpf(THETA) / xm
    cv = 9 * R_GAS * i4 / xm**3
    u_thermal = 9 * R_GAS * temp * i3 / xm**3
    return float(cv), float(u_thermal + mp.mpf(9) / 8 * R_GAS * THETA), float(u_thermal)


def accuracy(n_points: int) -> list[dict]:
    mp.mp.dps = 30
    xs = np.logspace(-4, 4, n_points)
    rows = []
    for dtype in (torch.float32, torch.float64):
        temps = torch.tensor(THETA / xs, dtype=dtype)
        x_exact = THETA / temps.double().numpy()  # truth at the temperatures the dtype can hold
        truth = np.array([_truth(float(x)) for x in x_exact])
        theta = torch.tensor(THETA, dtype=dtype)
        methods = {
            # the thermal energy U - U0 = 3 R T D3(x), computed in the dtype (not recovered from U, where U0 dominates)
            "this package": (
                debye_cv(theta, temps),
                debye_u(theta, temps),
                3 * R_GAS * temps * debye_d3(theta / temps),
            ),
            "Gauss-Legendre 20": (
                *gauss_legendre_cv_u(theta, temps),
                gauss_legendre_cv_u(theta, temps, thermal=True)[1],
            ),
        }
        for method, (cv, u, u_thermal) in methods.items():
            for lo, hi in BANDS:
                sel = (x_exact >= lo) & (x_exact < hi)
                row = {
                    "dtype": str(dtype).replace("torch.", ""),
                    "method": method,
                    "x_lo": lo,
                    "x_hi": min(hi, 1e4),
                }
                for name, val, ref in (
                    ("cv", cv, truth[:, 0]),
                    ("u", u, truth[:, 1]),
                    ("u_thermal", u_thermal, truth[:, 2]),
                ):
                    v = val.double().numpy()[sel]
                    finite = np.isfinite(v)
                    err = np.abs(v[finite] / ref[sel][finite] - 1.0)
                    row[f"{name}_max_rel_err"] = float(err.max()) if err.size else None
                    row[f"{name}_nonfinite"] = int((~finite).sum())
                row["n_points"] = int(sel.sum())
                rows.append(row)
    return rows


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def speed(n_materials: int, n_temps: int, repeats: int) -> list[dict]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        theta = (torch.rand(n_materials, generator=gen, dtype=torch.float64) * 1500 + 50).to(dtype)
        temps = torch.linspace(1.0, 2000.0, n_temps, dtype=dtype)

        def ours(theta=theta, temps=temps):
            thermo(theta, temps)

        def reference(theta=theta, temps=temps, block=4096):
            cv = torch.empty(n_materials, n_temps, dtype=theta.dtype)
            u = torch.empty_like(cv)
            for s in range(0, n_materials, block):
                cv[s : s + block], u[s : s + block] = gauss_legendre_cv_u(
                    theta[s : s + block, None], temps[None, :]
                )

        for method, fn, outputs in (
            ("this package", ours, "cv, u, s, f"),
            ("Gauss-Legendre 20", reference, "cv, u"),
        ):
            times = [_timed(fn) for _ in range(repeats)]
            best = min(times)
            rows.append(
                {
                    "dtype": str(dtype).replace("torch.", ""),
                    "method": method,
                    "outputs": outputs,
                    "materials": n_materials,
                    "temperatures": n_temps,
                    "wall_s": round(best[0], 3),
                    "cpu_s": round(min(t[1] for t in times), 3),
                    "M_values_per_s_wall": round(n_materials * n_temps / best[0] / 1e6, 1),
                }
            )
            print(f"  speed {rows[-1]}", flush=True)
    return rows


def scale(n_materials: int, n_temps: int) -> list[dict]:
    rows = []
    gen = torch.Generator().manual_seed(1)
    for dtype in (torch.float32, torch.float64):
        theta = (torch.rand(n_materials, generator=gen, dtype=torch.float64) * 1500 + 50).to(dtype)
        temps = torch.linspace(0.0, 2000.0, n_temps, dtype=dtype)
        n_atoms = torch.randint(1, 40, (n_materials,), generator=gen).to(dtype)
        last = [0.0]

        def progress(done: int, total: int, last=last, dtype=dtype) -> None:
            if time.perf_counter() - last[0] > 5.0:
                last[0] = time.perf_counter()
                print(f"  {dtype}: {done}/{total} materials", flush=True)

        out: dict = {}

        def run(theta=theta, temps=temps, n_atoms=n_atoms, progress=progress, out=out):
            out.update(thermo(theta, temps, n_atoms, progress=progress))

        wall, cpu = _timed(run)
        finite = all(bool(torch.isfinite(v).all()) for v in out.values())
        rows.append(
            {
                "dtype": str(dtype).replace("torch.", ""),
                "materials": n_materials,
                "temperatures": n_temps,
                "outputs": "cv, u, s, f per mole of atoms and per mole of cells",
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "all_finite": finite,
            }
        )
        print(f"  scale {rows[-1]}", flush=True)
        out.clear()
    return rows


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


def print_tables(result: dict) -> None:
    print("\nAccuracy vs mpmath (theta = 400 K, x = theta/T), max relative error [non-finite count]")
    print(f"{'dtype':8s} {'method':18s} {'x band':>12s} {'Cv':>14s} {'U':>14s} {'U - U0':>14s}")
    for r in result["accuracy"]:
        band = f"{r['x_lo']:.0e}-{r['x_hi']:.0e}"
        cv = f"{_fmt(r['cv_max_rel_err'])} [{r['cv_nonfinite']}]"
        u = f"{_fmt(r['u_max_rel_err'])} [{r['u_nonfinite']}]"
        ut = f"{_fmt(r['u_thermal_max_rel_err'])} [{r['u_thermal_nonfinite']}]"
        print(f"{r['dtype']:8s} {r['method']:18s} {band:>12s} {cv:>14s} {u:>14s} {ut:>14s}")
    print("\nSpeed (best of repeats)")
    for r in result["speed"]:
        print(
            f"{r['dtype']:8s} {r['method']:18s} {r['materials']}x{r['temperatures']} ({r['outputs']}): "
            f"wall {r['wall_s']} s, cpu {r['cpu_s']} s, {r['M_values_per_s_wall']} M values/s"
        )
    print("\nScale: thermo()")
    for r in result["scale"]:
        print(
            f"{r['dtype']:8s} {r['materials']}x{r['temperatures']}: wall {r['wall_s']} s, cpu {r['cpu_s']} s, "
            f"finite: {r['all_finite']}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run); does not write the JSON")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: the CPU is shared)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    print("accuracy ...", flush=True)
    acc = accuracy(41 if args.quick else 161)
    print("speed ...", flush=True)
    spd = speed(5_000 if args.quick else 100_000, 64, 1 if args.quick else 3)
    print("scale ...", flush=True)
    scl = scale(20_000 if args.quick else 1_000_000, 64)
    result = {
        "bench": "debye",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "logical_cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "loadavg_1min_before": round(load_before[0], 2),
            "loadavg_1min_after": round(os.getloadavg()[0], 2),
            "note": "shared CPU: other jobs ran at the same time; wall times depend on the load, cpu_s less so",
        },
        "accuracy": acc,
        "speed": spd,
        "scale": scl,
    }
    print_tables(result)
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(args.out)
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
