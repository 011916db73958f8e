"""Throughput of the composition featuriser (``cloud_core.composition``) on the label tables' SCOPE strings.

Featurises the first ``--n`` SCOPE strings of all label tables (concatenated, repeated if needed), best of
``--repeat`` runs, one thread, and writes ``bench/results/composition_features.json``::

    OMP_NUM_THREADS=1 python bench/composition_features_bench.py [--n 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud_core.composition import element_fractions, scope_features  # noqa: E402
from cloud_core.composition.features import feature_names  # noqa: E402
from screening.corpora.labels import default_labels_dir, load_all  # noqa: E402
from screening.evaluation.metrics_file import run_metadata, write_json  # noqa: E402

OUT = ROOT / "bench" / "results" / "composition_features.json"


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    scopes: list[str] = []
    for df in load_all(default_labels_dir()).values():
        scopes.extend(df["scope"])
    scopes = (scopes * (args.n // max(len(scopes), 1) + 1))[: args.n]
    scope_features(scopes[:10])  # load the table and element maps once
    t_all = _best(lambda: scope_features(scopes), args.repeat)
    t_frac = _best(lambda: element_fractions(scopes), args.repeat)
    x, names = scope_features(scopes)
    result = {
        "benchmark": "composition_features",
        "meta": run_metadata(),
        "n_formulas": len(scopes),
        "n_features": len(names),
        "repeat": args.repeat,
        "features_seconds": t_all,
        "features_per_second": len(scopes) / t_all,
        "fractions_seconds": t_frac,
        "fractions_per_second": len(scopes) / t_frac,
        "nan_rows": int((~(x == x)).any(axis=1).sum()),
        "feature_names_head": feature_names()[118:123],
    }
    print(
        f"{len(scopes):,} SCOPE strings -> {len(names)} features: {t_all:.2f} s "
        f"({result['features_per_second']:,.0f} formulas/s); fractions only {t_frac:.2f} s "
        f"({result['fractions_per_second']:,.0f}/s); rows with NaN statistics: {result['nan_rows']}"
    )
    print(f"wrote {write_json(args.out, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
