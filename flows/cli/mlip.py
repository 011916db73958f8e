"""``cloud build-mlip-labels``: CHGNet structure-level labels (resumable; see :mod:`screening.mlip`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build-mlip-labels",
        help="CHGNet labels: tier A relaxations, tier B volume-only E(V); resumable shards + PROVENANCE",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default data/mlip_labels)")
    p.add_argument("--tiers", default="A,B", help="tiers to run, in order (A,B)")
    p.add_argument("--tier-a-limit", type=int, default=None, help="first N tier A items only (default all)")
    p.add_argument(
        "--limit", type=int, default=None, help="first N items of the whole work list (measurements)"
    )
    p.add_argument("--shard-size-a", type=int, default=20, help="tier A structures per shard (20)")
    p.add_argument("--shard-size-b", type=int, default=200, help="tier B structures per shard (200)")
    p.add_argument("--max-shards", type=int, default=None, help="stop after N new shards")
    p.add_argument("--fmax", type=float, default=0.05, help="FIRE force threshold, eV/A (0.05)")
    p.add_argument("--max-steps", type=int, default=300, help="FIRE step cap (300)")
    p.add_argument(
        "--cell-filter", choices=("frechet", "exp", "unit"), default="frechet", help="ASE cell filter"
    )
    p.add_argument("--model", default="0.3.0", help="CHGNet model shipped in the wheel (0.3.0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    p.add_argument(
        "--finalize-only", action="store_true", help="only recompute formation energies + PROVENANCE"
    )
    p.add_argument("--no-finalize", action="store_true", help="do not finalize after each shard")
    p.add_argument("--list", action="store_true", help="print the work list's counts and exit")
    p.set_defaults(handler=_build)


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _build(args: argparse.Namespace) -> int:
    from collections import Counter

    from screening.mlip.builder import DEFAULT_OUT, run_job
    from screening.mlip.compute import MlipSettings

    out = args.out or DEFAULT_OUT
    tiers = tuple(t.strip().upper() for t in args.tiers.split(",") if t.strip())
    if not tiers or any(t not in ("A", "B") for t in tiers):
        return _fail(f"--tiers must be a comma list of A and B, got {args.tiers!r}")
    for name in ("shard_size_a", "shard_size_b", "max_steps", "threads"):
        if getattr(args, name) < 1:
            return _fail(f"--{name.replace('_', '-')} must be >= 1")
    if not args.fmax > 0:
        return _fail("--fmax must be > 0")

    if args.finalize_only:
        return _finalize(out)

    from screening.corpora.labels import LabelsError
    from screening.mlip.worklist import build_worklist
    from screening.phonons.potential import set_torch_threads

    settings = MlipSettings(
        model_name=args.model, fmax=args.fmax, max_steps=args.max_steps, cell_filter=args.cell_filter
    )
    try:
        items = build_worklist(tiers, tier_a_limit=args.tier_a_limit)
    except LabelsError as exc:
        return _fail(str(exc))
    if args.limit is not None:
        items = items[: args.limit]
    counts = Counter(f"{it.tier}:p{it.priority}:{it.source}" for it in items)
    worklist = {"total": len(items), "by_group": dict(sorted(counts.items()))}
    if args.list:
        print(json.dumps(worklist, indent=1))
        return 0

    out.mkdir(parents=True, exist_ok=True)
    job_file = out / "job.json"
    job = {"settings": settings.to_dict(), "worklist": worklist, "tiers": list(tiers)}
    if job_file.is_file():
        old = json.loads(job_file.read_text())
        if old.get("settings") != job["settings"]:
            return _fail(f"{job_file} was written with other settings; use the same options or another --out")
    job_file.write_text(json.dumps(job, indent=1, sort_keys=True))

    set_torch_threads(args.threads)
    on_shard = None if args.no_finalize else (lambda _path: _finalize_quietly(out))
    res = run_job(
        items,
        out,
        settings=settings,
        shard_size_a=args.shard_size_a,
        shard_size_b=args.shard_size_b,
        max_shards=args.max_shards,
        on_shard=on_shard,
    )
    print(json.dumps(res))
    return 0


def _finalize_quietly(out: Path) -> None:
    """Finalize after a shard; a failure there is reported and never stops the labelling job."""
    try:
        _finalize(out, quiet=True)
    except Exception as exc:  # noqa: BLE001 - the shards are safe; finalize can be rerun with --finalize-only
        print(
            f"[mlip] finalize failed ({type(exc).__name__}: {exc}); shards are kept",
            file=sys.stderr,
            flush=True,
        )


def _finalize(out: Path, quiet: bool = False) -> int:
    from screening.corpora.labels import LabelsError
    from screening.mlip.builder import shard_files
    from screening.mlip.finalize import finalize

    if not shard_files(out):
        return _fail(f"no shards under {out}/shards: run cloud build-mlip-labels first")
    try:
        prov = finalize(out)
    except LabelsError as exc:
        return _fail(str(exc))
    if not quiet:
        print(json.dumps({"counts": prov["counts"], "mp2020_decision": prov["mp2020_decision"]}, indent=1))
    return 0
