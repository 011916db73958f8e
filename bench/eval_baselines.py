"""Per-fold baselines on the bundled label sets: dummy (training mean) and ridge on element fractions.

Every task, every fold, leak-free (training rows whose formula is in any task's test set of the fold are
dropped). Prints a table and writes ``bench/results/eval_baselines.json``.

    python bench/eval_baselines.py [--labels data/labels] [--folds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screening.corpora.labels import N_FOLDS, TASKS, default_labels_dir, load_all  # noqa: E402
from screening.evaluation.baselines import (  # noqa: E402
    DummyRegressor,
    RidgeRegressor,
    element_fractions,
    regression_metrics,
)
from screening.evaluation.folds import fold_test_keys, split_fold  # noqa: E402
from screening.evaluation.metrics_file import run_metadata, summarize, write_json  # noqa: E402

OUT = ROOT / "bench" / "results" / "eval_baselines.json"


def evaluate_baselines(labels_dir: Path, folds: list[int]) -> dict:
    """Dummy and ridge metrics for every task and fold (see module docstring)."""
    tables = load_all(labels_dir)
    manifest = labels_dir / "manifest.json"
    result: dict = {
        "benchmark": "eval_baselines",
        "meta": run_metadata(),
        "labels_dir": str(labels_dir.relative_to(ROOT) if labels_dir.is_relative_to(ROOT) else labels_dir),
        "labels_manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()
        if manifest.is_file()
        else None,
        "features": "element fractions (118, by Z) from the SCOPE stoichiometry",
        "folds": folds,
        "leakage": {},
        "tasks": {t.value: {"unit": TASKS[t].unit, "folds": {}} for t in tables},
    }
    for k in folds:
        t0 = time.perf_counter()
        keys = fold_test_keys(tables, k)
        splits = split_fold(tables, k, keys)
        result["leakage"][str(k)] = {
            "n_test_formulas_all_tasks": len(keys),
            "train_rows_dropped": {t.value: s.n_dropped for t, s in splits.items()},
        }
        for task, s in splits.items():
            x_tr, x_te = element_fractions(s.train["scope"]), element_fractions(s.test["scope"])
            y_tr, y_te = s.train["target"].to_numpy(), s.test["target"].to_numpy()
            dummy = DummyRegressor().fit(x_tr, y_tr)
            ridge = RidgeRegressor(seed=k).fit(x_tr, y_tr)
            result["tasks"][task.value]["folds"][str(k)] = {
                "n_train": len(y_tr),
                "n_test": len(y_te),
                "dummy": regression_metrics(y_te, dummy.predict(x_te)),
                "ridge": {**regression_metrics(y_te, ridge.predict(x_te)), "alpha": ridge.alpha_},
            }
        print(f"fold {k}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    for entry in result["tasks"].values():
        entry["summary"] = {
            m: {"mae": summarize([f[m]["mae"] for f in entry["folds"].values()])} for m in ("dummy", "ridge")
        }
    return result


def print_table(result: dict) -> None:
    print(f"{'task':26s} {'unit':11s} {'dummy MAE':>18s} {'ridge MAE':>18s}")
    for name, e in result["tasks"].items():
        d, r = e["summary"]["dummy"]["mae"], e["summary"]["ridge"]["mae"]
        print(
            f"{name:26s} {e['unit']:11s} {d['mean']:>10.4f} +- {d['std']:<5.3f} {r['mean']:>10.4f} +- {r['std']:<5.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels", type=Path, default=None, help="label folder (default: data/labels)")
    p.add_argument("--folds", type=int, nargs="+", default=list(range(N_FOLDS)))
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    labels_dir = (args.labels or default_labels_dir()).resolve()
    result = evaluate_baselines(labels_dir, args.folds)
    print_table(result)
    print(f"wrote {write_json(args.out, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
