"""Per-fold baselines on the bundled label sets: dummy (training mean), ridge on element fractions, and
gradient boosting (LightGBM, one thread) on composition features (fractions + Magpie statistics).

Every task, every fold, leak-free (training rows whose formula is in any task's test set of the fold are
dropped). Prints a table and writes ``bench/results/eval_baselines.json``.

    OMP_NUM_THREADS=1 python bench/eval_baselines.py [--labels data/labels] [--folds 0 1] [--tasks mp_e_form ...]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screening.corpora.labels import (  # noqa: E402
    N_FOLDS,
    TASKS,
    LabelsError,
    Task,
    default_labels_dir,
    load_all,
)
from screening.evaluation.baselines import (  # noqa: E402
    N_ELEMENTS,
    DummyRegressor,
    GradientBoostingRegressor,
    RidgeRegressor,
    regression_metrics,
    scope_features,
)
from screening.evaluation.folds import fold_test_keys, split_fold  # noqa: E402
from screening.evaluation.metrics_file import run_metadata, summarize, write_json  # noqa: E402

OUT = ROOT / "bench" / "results" / "eval_baselines.json"


MODELS = ("dummy", "ridge", "gbm")


def evaluate_baselines(
    labels_dir: Path,
    folds: list[int],
    tasks: list[Task] | None = None,
    threads: int = 1,
    partial: Path | None = None,
    gbm_options: dict | None = None,
) -> dict:
    """Dummy, ridge and gradient-boosting metrics for every task (or ``tasks``) and fold (module docstring).

    The leakage rule always uses every task's test formulas, whichever tasks are evaluated. ``partial``: a
    file rewritten after every task (``"complete": false``) so that a long run leaves what it has done.
    ``gbm_options``: :class:`GradientBoostingRegressor` fields other than the defaults.
    """
    gbm_options = dict(gbm_options or {})
    all_tables = load_all(labels_dir)
    tables = {t: df for t, df in all_tables.items() if tasks is None or t in tasks}
    manifest = labels_dir / "manifest.json"
    result: dict = {
        "benchmark": "eval_baselines",
        "meta": run_metadata(),
        "labels_dir": str(labels_dir.relative_to(ROOT) if labels_dir.is_relative_to(ROOT) else labels_dir),
        "labels_manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()
        if manifest.is_file()
        else None,
        "features": {
            "ridge": "element fractions (118, by Z) from the SCOPE stoichiometry",
            "gbm": "element fractions + fraction-weighted mean, mean absolute deviation, min, max, range of the "
            "22 Magpie element properties (crabnet's table; cloud_core.composition)",
        },
        "gbm_params": GradientBoostingRegressor(threads=threads, **gbm_options).params(),
        "folds": folds,
        "leakage": {},
        "tasks": {t.value: {"unit": TASKS[t].unit, "folds": {}} for t in tables},
    }
    splits: dict[int, dict] = {}
    for k in folds:
        keys = fold_test_keys(all_tables, k)
        splits[k] = {t: sp for t, sp in split_fold(all_tables, k, keys).items() if t in tables}
        result["leakage"][str(k)] = {
            "n_test_formulas_all_tasks": len(keys),
            "train_rows_dropped": {t.value: s.n_dropped for t, s in splits[k].items()},
        }
    # smallest tasks first, so that a partial file (written after every task) holds as many as possible
    for task in sorted(tables, key=lambda t: len(tables[t])):
        for k in folds:
            s = splits[k][task]
            x_tr, _ = scope_features(s.train["scope"])
            x_te, _ = scope_features(s.test["scope"])
            f_tr, f_te = x_tr[:, :N_ELEMENTS], x_te[:, :N_ELEMENTS]  # the fraction columns
            y_tr, y_te = s.train["target"].to_numpy(), s.test["target"].to_numpy()
            dummy = DummyRegressor().fit(f_tr, y_tr)
            ridge = RidgeRegressor(seed=k).fit(f_tr, y_tr)
            t1 = time.perf_counter()
            gbm = GradientBoostingRegressor(seed=k, threads=threads, **gbm_options).fit(x_tr, y_tr)
            t_gbm = time.perf_counter() - t1
            result["tasks"][task.value]["folds"][str(k)] = {
                "n_train": len(y_tr),
                "n_test": len(y_te),
                "dummy": regression_metrics(y_te, dummy.predict(f_te)),
                "ridge": {**regression_metrics(y_te, ridge.predict(f_te)), "alpha": ridge.alpha_},
                "gbm": {
                    **regression_metrics(y_te, gbm.predict(x_te)),
                    "n_trees": gbm.best_iteration_,
                    "fit_seconds": t_gbm,
                },
            }
            maes = {m: result["tasks"][task.value]["folds"][str(k)][m]["mae"] for m in MODELS}
            print(
                f"fold {k} {task.value}: MAE "
                + ", ".join(f"{m} {v:.4f}" for m, v in maes.items())
                + f" (gbm {gbm.best_iteration_} trees, {t_gbm:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        if partial is not None:
            write_json(partial, {**result, "complete": False})
    for entry in result["tasks"].values():
        entry["summary"] = {
            m: {"mae": summarize([f[m]["mae"] for f in entry["folds"].values()])} for m in MODELS
        }
    return result


def print_table(result: dict) -> None:
    folds = result["folds"]
    head = f"{'task':26s} {'unit':11s} {'model':6s} " + " ".join(f"{'fold ' + str(k):>9s}" for k in folds)
    print(head + f" {'mean':>9s}")
    for name, e in result["tasks"].items():
        for m in MODELS:
            per = " ".join(f"{e['folds'][str(k)][m]['mae']:>9.4f}" for k in folds)
            print(f"{name:26s} {e['unit']:11s} {m:6s} {per} {e['summary'][m]['mae']['mean']:>9.4f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels", type=Path, default=None, help="label folder (default: data/labels)")
    p.add_argument("--folds", type=int, nargs="+", default=list(range(N_FOLDS)))
    p.add_argument("--tasks", nargs="+", default=None, help="task names (default: every label set)")
    p.add_argument("--threads", type=int, default=1, help="LightGBM threads (default 1: shared machine)")
    p.add_argument("--gbm-learning-rate", type=float, default=None)
    p.add_argument("--gbm-leaves", type=int, default=None)
    p.add_argument("--gbm-patience", type=int, default=None)
    p.add_argument("--gbm-max-trees", type=int, default=None)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    gbm_options = {
        name: v
        for name, v in (
            ("learning_rate", args.gbm_learning_rate),
            ("num_leaves", args.gbm_leaves),
            ("patience", args.gbm_patience),
            ("n_estimators", args.gbm_max_trees),
        )
        if v is not None
    }
    labels_dir = (args.labels or default_labels_dir()).resolve()
    try:
        tasks = None if args.tasks is None else [Task(t) for t in args.tasks]
    except ValueError as exc:
        print(f"error: --tasks: {exc}; choose from {', '.join(t.value for t in Task)}", file=sys.stderr)
        return 2
    try:
        partial = args.out.with_name(args.out.stem + ".partial.json")
        result = evaluate_baselines(labels_dir, args.folds, tasks, args.threads, partial, gbm_options)
    except LabelsError as exc:
        print(f"error: --labels: {exc}", file=sys.stderr)
        return 2
    print_table(result)
    print(f"wrote {write_json(args.out, {**result, 'complete': True})}")
    partial.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
