"""``cloud debye``: Debye-model Cv, U, S, F for given Debye temperatures (or elastic data), as JSON."""

from __future__ import annotations

import argparse
import json
import math
import sys

from flows.cli.argtypes import finite_non_negative_floats, finite_positive_floats, non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "debye",
        help="Debye-model heat capacity, energy, entropy and free energy as JSON",
        description=(
            "Debye-model thermodynamics for each (theta, T): cv, u (with zero-point energy), s, f per mole of "
            "atoms, and per mole of cells when --n-atoms is given. Units are in the keys. theta comes from "
            "--theta, or from elastic data (--bulk-gpa --shear-gpa --density --molar-mass --n-atoms) as the "
            "elastic Debye temperature."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--theta", type=finite_positive_floats, help="Debye temperature(s) in K, e.g. 300,645")
    src.add_argument(
        "--bulk-gpa", type=finite_positive_floats, help="bulk modulus(es) in GPa (elastic theta)"
    )
    p.add_argument(
        "--shear-gpa", type=finite_positive_floats, help="shear modulus(es) in GPa (with --bulk-gpa)"
    )
    p.add_argument("--density", type=finite_positive_floats, help="density(ies) in g/cm3 (with --bulk-gpa)")
    p.add_argument(
        "--molar-mass",
        type=finite_positive_floats,
        help="molar mass(es) of the formula unit in g/mol (with --bulk-gpa)",
    )
    p.add_argument(
        "--n-atoms",
        type=finite_positive_floats,
        help="atoms per cell (one value, or one per theta); without it per-cell values are null",
    )
    p.add_argument(
        "--temps", type=finite_non_negative_floats, required=True, help="temperatures in K, e.g. 0,100,300"
    )
    p.add_argument("--indent", type=non_negative_int, default=2, help="JSON indent (0: one line)")
    p.set_defaults(handler=run)


def _theta(args: argparse.Namespace) -> tuple[list[float], str]:
    if args.theta is not None:
        return args.theta, "given"
    from cloud_core.debye import theta_from_elastic

    missing = [f for f in ("shear_gpa", "density", "molar_mass", "n_atoms") if getattr(args, f) is None]
    if missing:
        raise ValueError("--bulk-gpa needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    theta = theta_from_elastic(args.bulk_gpa, args.shear_gpa, args.density, args.molar_mass, args.n_atoms)
    return [float(t) for t in theta.reshape(-1)], "elastic"


def run(args: argparse.Namespace) -> int:
    import torch

    from cloud_core.debye import PER_ATOM_KEYS, PER_CELL_KEYS, thermo

    try:
        thetas, source = _theta(args)
        n_atoms = args.n_atoms
        if n_atoms is not None and len(n_atoms) not in (1, len(thetas)):
            raise ValueError(
                f"--n-atoms has {len(n_atoms)} values for {len(thetas)} thetas (give 1 or one each)"
            )
        theta_t = torch.tensor(thetas, dtype=torch.float64)
        n_t = None if n_atoms is None else torch.tensor(n_atoms, dtype=torch.float64).expand(len(thetas))
        res = thermo(theta_t, torch.tensor(args.temps, dtype=torch.float64), n_t)
    except (ValueError, TypeError) as exc:
        print(f"cloud debye: error: {exc}", file=sys.stderr)
        return 2
    theta_key = "theta_elastic_K" if source == "elastic" else "theta_K"
    rows = []
    for i, theta in enumerate(thetas):
        for j, temp in enumerate(args.temps):
            row: dict[str, float | None] = {theta_key: theta, "T_K": temp}
            if n_t is not None:
                row["n_atoms"] = float(n_t[i])
            for key in PER_ATOM_KEYS:
                row[str(key)] = float(res[key][i, j])
            for key in PER_CELL_KEYS:
                value = float(res[key][i, j]) if key in res else math.nan
                row[str(key)] = None if math.isnan(value) else value
            rows.append(row)
    out = {
        "model": "Debye (per mole of atoms: R = 8.314462618 J/(mol K); U and F include 9/8 R theta)",
        "theta_source": source,
        "rows": rows,
    }
    print(json.dumps(out, indent=args.indent or None))
    return 0
