"""``cloud phonons PATH...``, ``cloud build-phonon-reference`` and ``cloud phonon-zero-shot``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flows.cli.argtypes import finite_positive_float, finite_positive_floats, non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "phonons",
        help="relax + harmonic phonons (CHGNet + phonopy) of structure files; Cv, U, S, F per mole of atoms",
    )
    p.add_argument("paths", nargs="+", type=Path, help="CIF/POSCAR/pymatgen-JSON files")
    p.add_argument("--temps", type=finite_positive_floats, default=None, help="comma-separated K (default 10..1000 step 10)")
    p.add_argument("--supercell-min-length", type=finite_positive_float, default=10.0, help="Angstrom per supercell side (10)")
    p.add_argument("--model", default="0.3.0", help="CHGNet model shipped in the wheel (0.3.0)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (1)")
    p.add_argument("--out", type=Path, default=None, help="write the results as Parquet here")
    p.add_argument("--json", action="store_true", help="print full curves as JSON instead of a summary")
    p.set_defaults(handler=_phonons)

    b = subparsers.add_parser(
        "build-phonon-reference", help="(re)build data/phonon_reference from bundled structures (resumable)"
    )
    b.add_argument("--limit", type=non_negative_int, default=None, help="compute the N cheapest candidates (default 120; 0 = all)")
    b.add_argument("--max-sites", type=positive_int, default=20, help="largest primitive cell (20)")
    b.add_argument("--out", type=Path, default=None, help="output folder (default <data_dir>/phonon_reference)")
    b.add_argument("--cache", type=Path, default=None, help="resume cache (default <results_dir>/phonon_reference_cache)")
    b.add_argument("--threads", type=positive_int, default=1, help="torch threads per worker (1)")
    b.add_argument("--workers", type=positive_int, default=1, help="worker processes (1)")
    b.set_defaults(handler=_build)

    z = subparsers.add_parser(
        "phonon-zero-shot", help="Debye curves trained on Cv(300 K) vs the phonon reference at 50-1000 K"
    )
    z.add_argument("--reference", type=Path, default=None, help="reference Parquet (default the committed one)")
    z.add_argument("--out", type=Path, default=Path("bench/results/phonon_zero_shot.json"))
    z.set_defaults(handler=_zero_shot)


def _phonons(args: argparse.Namespace) -> int:
    import warnings

    from pymatgen.core import Structure

    from screening.phonons import PhononSettings, run_phonon_stage
    from screening.phonons.table import results_to_table

    items = []
    for path in args.paths:
        if not path.is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return 2
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                items.append((path.stem, Structure.from_file(path)))
        except Exception as exc:
            print(f"error: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    settings = PhononSettings(model_name=args.model, supercell_min_length=args.supercell_min_length)

    def progress(i: int, n: int, sid: str) -> None:
        print(f"[{i}/{n}] {sid}", file=sys.stderr, flush=True)

    results, rejects = run_phonon_stage(
        items, settings=settings, temperatures=args.temps, torch_threads=args.threads, progress=progress
    )
    if args.out:
        import pyarrow.parquet as pq

        pq.write_table(results_to_table(results), args.out)
    if args.json:
        out = [
            {"id": r.id, "formula": r.formula, "temperatures_K": r.temperatures.tolist(),
             "cv_J_per_molatom_K": r.cv.tolist(), "u_J_per_molatom": r.u.tolist(), "s_J_per_molatom_K": r.s.tolist(),
             "f_J_per_molatom": r.f.tolist(), "debye_theta_fit_K": r.debye_theta_fit,
             "dynamically_stable": r.dynamically_stable, "min_frequency_THz": r.min_frequency_thz,
             **r.provenance()}
            for r in results
        ]
        print(json.dumps({"results": out, "rejects": [j.to_dict() for j in rejects]}, indent=1))
    else:
        import numpy as np

        print(f"{'id':<20}{'formula':<14}{'theta_fit K':>12}{'Cv(300) J/molK':>16}{'stable':>8}{'min f THz':>11}")
        for r in results:
            cv300 = float(np.interp(300.0, r.temperatures, r.cv)) if r.temperatures.min() <= 300 <= r.temperatures.max() else float("nan")
            print(f"{r.id:<20}{r.formula:<14}{r.debye_theta_fit:>12.1f}{cv300:>16.2f}{r.dynamically_stable!s:>8}{r.min_frequency_thz:>11.3f}")
        for j in rejects:
            print(f"REJECT {j.id}: {j.reason}: {j.message}")
    return 0 if results or not items else 1


def _build(args: argparse.Namespace) -> int:
    from screening.phonons.reference import DEFAULT_LIMIT, build_reference
    from screening.settings import get_settings

    st = get_settings()
    limit = DEFAULT_LIMIT if args.limit is None else (None if args.limit == 0 else args.limit)
    out = args.out or Path(st.data_dir) / "phonon_reference"
    cache = args.cache or Path(st.results_dir) / "phonon_reference_cache"
    build_reference(out, cache_dir=cache, limit=limit, max_sites=args.max_sites, torch_threads=args.threads,
                    workers=args.workers, log=lambda m: print(m, flush=True))
    return 0


def _zero_shot(args: argparse.Namespace) -> int:
    from screening.phonons.reference import REFERENCE_FILE
    from screening.phonons.zero_shot import format_table, write_zero_shot
    from screening.settings import get_settings

    ref = args.reference or Path(get_settings().data_dir) / "phonon_reference" / REFERENCE_FILE
    if not ref.is_file():
        print(f"error: no reference at {ref}; run `cloud build-phonon-reference` first", file=sys.stderr)
        return 2
    result = write_zero_shot(ref, args.out)
    print(format_table(result))
    print(f"wrote {args.out}")
    return 0
