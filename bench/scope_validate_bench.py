"""The SCOPE validator over every shipped SCOPE string, its speed, and the encoder's output checked by it.

1. Scan: every SCOPE string the repository ships (``data/labels/*.parquet`` ``scope``,
   ``data/corpora/pretrain*/*.parquet`` ``scope``, the ``scope`` of each ``meta_json`` of
   ``data/pools/*.parquet``) through :func:`cloud_core.scope.validate.check_scopes`: how many fail, and why.
2. Encoder: the structures of ``data/corpora/*.parquet`` (and of the pool with ``--pool-structures``) encoded
   with :func:`cloud_core.scope.encode_many`; every string the encoder writes must be valid.
3. Speed: :func:`~cloud_core.scope.validate.parse_scope` over the bundled pool's strings, one core, best of
   ``--rounds`` (warm caches), plus the first (cold) pass of this process; strings per second.

Prints a summary and writes ``bench/results/scope_validate.json``.

Usage: ``python bench/scope_validate_bench.py [--rounds 3] [--pool-structures]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "scope_validate.json"
EXAMPLES = 3


def _shipped_strings() -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    files = sorted(glob.glob(str(ROOT / "data" / "labels" / "*.parquet")))
    files += sorted(glob.glob(str(ROOT / "data" / "corpora" / "pretrain*" / "*.parquet")))
    for f in files:
        out[str(Path(f).relative_to(ROOT))] = pq.read_table(f, columns=["scope"]).column(0).to_pylist()
    for f in sorted(glob.glob(str(ROOT / "data" / "pools" / "*.parquet"))):
        metas = pq.read_table(f, columns=["meta_json"]).column(0).to_pylist()
        out[str(Path(f).relative_to(ROOT)) + ":meta_json.scope"] = [
            json.loads(m).get("scope") if m else None for m in metas
        ]
    return out


def _scan(strings: dict[str, list[str | None]]) -> dict[str, dict]:
    from cloud_core.scope.validate import check_scopes

    report = {}
    for name, values in strings.items():
        check = check_scopes(values)
        examples = [f"{values[i]!r}: {e}" for i, e in list(check.errors.items())[:EXAMPLES]]
        report[name] = {
            "n": len(values),
            "n_invalid": check.n_invalid,
            "reasons": check.reason_counts(),
            "examples": examples,
        }
    return report


def _encoder(pool_structures: bool) -> dict[str, dict]:
    from pymatgen.core import Structure

    from cloud_core.scope import encode_many
    from cloud_core.scope.validate import check_scopes

    files = sorted(glob.glob(str(ROOT / "data" / "corpora" / "*.parquet")))
    if pool_structures:
        files += sorted(glob.glob(str(ROOT / "data" / "pools" / "*.parquet")))
    report = {}
    for f in files:
        table = pq.read_table(f, columns=["candidate_id", "structure_json"]).to_pydict()
        pairs = [(c, s) for c, s in zip(table["candidate_id"], table["structure_json"], strict=True) if s]
        structures = [Structure.from_dict(json.loads(s)) for _, s in pairs]
        ok, rejects = encode_many(structures, ids=[c for c, _ in pairs])
        strings = [rec.to_string() for _, rec in ok]
        check = check_scopes(strings)
        report[str(Path(f).relative_to(ROOT))] = {
            "n_structures": len(pairs),
            "n_encoded": len(ok),
            "encoder_rejects": dict(Counter(r.reason for r in rejects)),
            "encoder_reject_examples": [f"{r.id}: {r.reason}: {r.message[:200]}" for r in rejects[:EXAMPLES]],
            "n_invalid_strings": check.n_invalid,
            "reasons": check.reason_counts(),
            "examples": [f"{strings[i]!r}: {e}" for i, e in list(check.errors.items())[:EXAMPLES]],
        }
    return report


def _speed(strings: list[str], rounds: int) -> dict:
    from cloud_core.scope.validate import InvalidScopeError, check_scopes, parse_scope

    def one_pass() -> float:
        t0 = time.process_time()
        for s in strings:
            try:
                parse_scope(s)
            except InvalidScopeError:
                pass
        return time.process_time() - t0

    t0 = time.perf_counter()
    cold = one_pass()
    cold_wall = time.perf_counter() - t0
    warm = min(one_pass() for _ in range(rounds))
    t0 = time.process_time()
    check_scopes(strings)
    batch = time.process_time() - t0
    return {
        "n_strings": len(strings),
        "cold_first_pass_strings_per_cpu_s": len(strings) / cold,
        "cold_first_pass_wall_s": cold_wall,
        "warm_best_strings_per_cpu_s": len(strings) / warm,
        "check_scopes_strings_per_cpu_s": len(strings) / batch,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool-structures", action="store_true", help="also encode the pool's structures")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    strings = _shipped_strings()
    pool_key = next(k for k in strings if k.startswith("data/pools/prototype_pool_v1"))
    speed = _speed([s for s in strings[pool_key] if s is not None], args.rounds)
    scan = _scan(strings)
    encoder = _encoder(args.pool_structures)
    result = {"speed": speed, "shipped_strings": scan, "encoder_output": encoder}
    print(f"speed on {speed['n_strings']} pool strings (one core): "
          f"cold {speed['cold_first_pass_strings_per_cpu_s']:,.0f}/s, "
          f"warm {speed['warm_best_strings_per_cpu_s']:,.0f}/s, "
          f"check_scopes {speed['check_scopes_strings_per_cpu_s']:,.0f}/s")  # fmt: skip
    print(f"{'shipped strings':60s} {'n':>8s} {'invalid':>8s}  reasons")
    for name, r in scan.items():
        print(f"{name:60s} {r['n']:8d} {r['n_invalid']:8d}  {r['reasons']}")
    print(f"{'encoder output':60s} {'n':>8s} {'invalid':>8s}  reasons (encoder rejects)")
    for name, r in encoder.items():
        print(
            f"{name:60s} {r['n_encoded']:8d} {r['n_invalid_strings']:8d}  {r['reasons']} ({r['encoder_rejects']})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
