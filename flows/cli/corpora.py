"""``cloud build-pool``, ``cloud build-corpora``, ``cloud build-pretrain-corpus``: generated pools and offline data."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from flows.cli.argtypes import non_negative_int, positive_int, symprec

DEFAULT_POOL = Path("data/pools/prototype_pool_v1.parquet")
DEFAULT_POOL_SIZE = 12_500
DEFAULT_POOL_SEED = 0
DEFAULT_POOL_MAX_SITES = 40
DEFAULT_PYXTAL_POOL = Path("data/pools/pyxtal_pool.parquet")
DEFAULT_SCOPE_POOL = Path("data/pools/scope_pool.parquet")
DEFAULT_CORPORA = Path("data/corpora")
DEFAULT_PRETRAIN = Path("data/corpora/pretrain")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build-pool",
        help="generate a candidate pool (decorated AFLOW prototypes or pyxtal random crystals) as Parquet",
        description="Generate a seeded candidate pool and write it as one Parquet file (CANDIDATE_SCHEMA). "
        "The defaults rebuild the bundled data/pools/prototype_pool_v1.parquet.",
    )
    p.add_argument(
        "--kind",
        choices=["prototype", "pyxtal", "scope"],
        default="prototype",
        help="pool generator (scope: SCOPE-only candidates, no structures; 10^6 in minutes)",
    )
    p.add_argument("--size", type=positive_int, default=DEFAULT_POOL_SIZE, help="number of candidates")
    p.add_argument("--seed", type=int, default=DEFAULT_POOL_SEED, help="random seed")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output Parquet file (default: {DEFAULT_POOL} for prototype, {DEFAULT_PYXTAL_POOL} for pyxtal, "
        f"{DEFAULT_SCOPE_POOL} for scope)",
    )
    p.add_argument(
        "--max-sites",
        type=non_negative_int,
        default=DEFAULT_POOL_MAX_SITES,
        help="largest cell (sites) to generate; 0: no limit",
    )
    p.add_argument(
        "--dedup",
        choices=["auto", "scope", "key"],
        default="auto",
        help="de-duplicate by canonical SCOPE ('scope'), by (prototype, species) ('key'), or SCOPE if available",
    )
    p.add_argument("--symprec", type=symprec, default=None, help="symmetry tolerance (default: settings)")
    p.add_argument(
        "--batch-size", type=positive_int, default=1000, help="candidates per written row group batch"
    )
    p.set_defaults(handler=_build_pool)

    c = subparsers.add_parser(
        "build-corpora",
        help="assemble the offline structure corpora (data/corpora/*.parquet + PROVENANCE.md)",
        description="Assemble compact Parquet corpora from data that installed packages ship (pymatgen AFLOW "
        "prototypes and test structures, robocrys minerals, pyxtal CIFs/POSCARs, ASE DCDFT with bulk moduli). "
        "Rerunnable; a source whose package is absent is skipped and its previous file kept.",
    )
    c.add_argument("--out", type=Path, default=DEFAULT_CORPORA, help="output folder")
    c.add_argument("--sources", nargs="+", default=None, help="only these sources (default: all)")
    c.add_argument(
        "--limit", type=positive_int, default=None, help="at most this many structures per source (tests)"
    )
    c.add_argument(
        "--robocrys-wheel",
        type=Path,
        default=None,
        help="read robocrys' mineral database from this wheel (`pip download --no-deps robocrys`) instead of "
        "the installed package (robocrys needs matminer, which pins pandas < 3)",
    )
    c.set_defaults(handler=_build_corpora)

    t = subparsers.add_parser(
        "build-pretrain-corpus",
        help="generate the MLM pre-training corpus of SCOPE strings (Parquet shards)",
        description="Generate SCOPE strings from real MP space-group x Wyckoff skeletons (pyxtal), decorated "
        "with charge-balanced compositions, plus AFLOW prototypes, real structures and symmetry-unknown "
        "strings, as Parquet shards (columns scope, kind). Seeded and resumable: complete shards are kept.",
    )
    t.add_argument("--out", type=Path, default=DEFAULT_PRETRAIN, help="output folder for the shards")
    t.add_argument("--size", type=positive_int, default=200_000, help="number of strings")
    t.add_argument("--seed", type=int, default=0, help="random seed")
    t.add_argument("--shard-size", type=positive_int, default=100_000, help="strings per shard")
    t.add_argument(
        "--corpora", type=Path, default=DEFAULT_CORPORA, help="structure corpora folder (real structures)"
    )
    t.add_argument("--no-real", action="store_true", help="leave the real structures out")
    t.add_argument(
        "--heldout",
        type=Path,
        default=None,
        help="file for the held-out real structures (default: <out>_heldout/heldout_real.parquet)",
    )
    t.add_argument(
        "--fractions",
        type=str,
        default=None,
        help='JSON mapping kind -> fraction, e.g. \'{"skeleton": 0.6, "unknown": 0.2, ...}\'',
    )
    t.add_argument(
        "--max-tokens", type=positive_int, default=128, help="skip skeletons longer than this many tokens"
    )
    t.add_argument("--workers", type=positive_int, default=1, help="processes building shards in parallel")
    t.set_defaults(handler=_build_pretrain)


def _progress(label: str, total: int):
    start = time.monotonic()

    def report(n: int) -> None:
        rate = n / max(time.monotonic() - start, 1e-9)
        print(f"\r{label}: {n:,}/{total:,} ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)

    return report


POOL_SOURCES = {
    "prototype": (
        "AFLOW Library of Crystallographic Prototypes as shipped by pymatgen "
        "(pymatgen/analysis/prototypes/aflow_prototypes.json.gz), decorated by charge-balanced substitution "
        "with pymatgen's common oxidation states and Shannon crystal radii",
        "pymatgen: MIT; AFLOW prototype library: cite Mehl et al., Comput. Mater. Sci. 136, S1 (2017)",
    ),
    "pyxtal": (
        "pyxtal random symmetric crystals (charge-balanced compositions x space groups with Wyckoff-consistent "
        "atom counts)",
        "pyxtal: MIT",
    ),
    "scope": (
        "SCOPE-only candidates (no structures): pyxtal's spg_num_wps_mp.csv space-group x Wyckoff skeletons "
        "(counted over 88,678 Materials Project structures) and pymatgen's AFLOW prototypes' orbit sets, decorated "
        "with charge-balanced compositions drawn from pymatgen's ICSD ion occurrences",
        "pyxtal: MIT; Materials Project data: CC BY 4.0; pymatgen: MIT; AFLOW prototype library: cite Mehl et al. "
        "2017",
    ),
}


def _pool_provenance(args: argparse.Namespace, summary: dict) -> None:
    from screening.corpora.provenance import package_versions, write_provenance_md, write_sidecar

    source, license_ = POOL_SOURCES[args.kind]
    entry = {k: v for k, v in summary.items() if k not in ("out", "rows", "bytes", "seconds")}
    command = f"cloud build-pool --kind {args.kind} --size {args.size} --seed {args.seed} --out {args.out}"
    command += f" --max-sites {args.max_sites} --dedup {args.dedup}"
    write_sidecar(
        args.out,
        {
            "source": source,
            "license": license_,
            "rows": summary["rows"],
            "command": command,
            "versions": package_versions("pymatgen", "pyxtal", "numpy", "spglib", "moyopy"),
            **entry,
        },
    )
    write_provenance_md(
        args.out.parent,
        "Candidate pools",
        "Generated candidate pools in the CANDIDATE_SCHEMA (screening.sources.candidate); structures are "
        "compact pymatgen JSON (Structure.as_dict(verbosity=0), 6 decimals). Rebuild with the command listed "
        "for each file; the same command gives the same file contents.",
    )


def _build_pool(args: argparse.Namespace) -> int:
    from screening.corpora.pool_file import write_candidate_parquet
    from screening.settings import get_settings

    if args.out is None:
        defaults = {"prototype": DEFAULT_POOL, "pyxtal": DEFAULT_PYXTAL_POOL, "scope": DEFAULT_SCOPE_POOL}
        args.out = defaults[args.kind]
    symprec = args.symprec if args.symprec is not None else get_settings().symprec
    max_sites = args.max_sites or None
    if args.kind == "prototype":
        from screening.sources.prototype_pool import PrototypePool

        pool = PrototypePool(
            args.size,
            args.seed,
            batch_size=args.batch_size,
            max_sites=max_sites,
            dedup=args.dedup,
            symprec=symprec,
        )
    elif args.kind == "scope":
        from screening.sources.scope_pool import ScopePool

        pool = ScopePool(args.size, args.seed, batch_size=max(args.batch_size, 10_000))
    else:
        from screening.sources.pyxtal_pool import PyxtalPool

        pool = PyxtalPool(
            args.size, args.seed, batch_size=args.batch_size, max_sites=max_sites, symprec=symprec
        )
    start = time.monotonic()
    n = write_candidate_parquet(pool.batches(), args.out, progress=_progress(f"{args.kind} pool", args.size))
    print(file=sys.stderr)
    summary = {
        "kind": args.kind,
        "out": str(args.out),
        "rows": n,
        "seed": args.seed,
        "dedup": pool.dedup,
        "seconds": round(time.monotonic() - start, 1),
        "bytes": args.out.stat().st_size,
        **pool.stats.to_dict(),
    }
    _pool_provenance(args, summary)
    print(json.dumps(summary, indent=2))
    if n < args.size:
        print(
            f"warning: only {n} of {args.size} candidates could be generated (pool exhausted)",
            file=sys.stderr,
        )
    return 0


def _build_corpora(args: argparse.Namespace) -> int:
    from screening.corpora.structures import SOURCES, build_structure_corpora

    if args.sources:
        unknown = sorted(set(args.sources) - set(SOURCES))
        if unknown:
            print(f"error: unknown source(s) {unknown}; known: {sorted(SOURCES)}", file=sys.stderr)
            return 2
    if args.robocrys_wheel is not None and not args.robocrys_wheel.is_file():
        print(f"error: --robocrys-wheel {args.robocrys_wheel} is not a file", file=sys.stderr)
        return 2

    def progress(name: str, result: dict | str) -> None:
        if isinstance(result, str):
            print(f"{name}: {result}", file=sys.stderr)
        else:
            print(f"{name}: {result['rows']} rows, rejects {result['rejects'] or 'none'}", file=sys.stderr)

    report = build_structure_corpora(
        args.out,
        sources=args.sources,
        limit=args.limit,
        robocrys_wheel=args.robocrys_wheel,
        progress=progress,
    )
    print(json.dumps({"out": str(args.out), "provenance": str(args.out / "PROVENANCE.md")}, indent=2))
    return 0 if any(not isinstance(v, str) for v in report.values()) else 1


def _build_pretrain(args: argparse.Namespace) -> int:
    from screening.corpora.pretrain import PretrainConfig, build_pretrain_corpus, write_pretrain_provenance

    kwargs: dict = {
        "size": args.size,
        "seed": args.seed,
        "shard_size": args.shard_size,
        "max_tokens": args.max_tokens,
    }
    if args.fractions:
        try:
            kwargs["fractions"] = {str(k): float(v) for k, v in json.loads(args.fractions).items()}
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            print(f"error: --fractions must be a JSON object of numbers ({exc})", file=sys.stderr)
            return 2
    try:
        cfg = PretrainConfig(**kwargs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    corpora = None if args.no_real else args.corpora
    if corpora is not None and not any(corpora.glob("*.parquet")):
        print(
            f"error: no structure corpora in {corpora} (run `cloud build-corpora` or pass --no-real)",
            file=sys.stderr,
        )
        return 2
    heldout = args.heldout or args.out.parent / f"{args.out.name}_heldout" / "heldout_real.parquet"
    start = time.monotonic()
    report = _progress("pretrain corpus", args.size)
    manifest = build_pretrain_corpus(
        args.out,
        cfg,
        corpora_dir=corpora,
        heldout_path=heldout,
        progress=lambda done, _total: report(done),
        workers=args.workers,
    )
    print(file=sys.stderr)
    write_pretrain_provenance(args.out, manifest, heldout if corpora is not None else None)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "heldout": str(heldout) if corpora is not None else None,
                "seconds": round(time.monotonic() - start, 1),
                **manifest["totals"],
            },
            indent=2,
        )
    )
    return 0
