"""Baselines: gradient boosting on composition features, and bench/eval_baselines.py on a tiny label folder."""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from screening.corpora.labels import LABELS_SCHEMA, Task
from screening.evaluation.baselines import (
    DummyRegressor,
    GradientBoostingRegressor,
    regression_metrics,
    scope_features,
)
from screening.settings import PROJECT_ROOT

CATIONS = ["Li", "Na", "K", "Mg", "Ca", "Sr", "Ba", "Al", "Ga", "Ti", "Fe", "Zn"]
ANIONS = ["O", "S", "F", "Cl", "N", "Br"]


def _scopes() -> list[str]:
    return [
        f"? | - | {a} {i} {b} {j}"
        for a in CATIONS
        for b in ANIONS
        for i in (1, 2, 3)
        for j in (1, 2, 5)
        if math.gcd(i, j) == 1
    ]


def _rule(x: np.ndarray, names: list[str]) -> np.ndarray:
    """A nonlinear function of the Magpie statistics (what gradient boosting should find)."""
    col = {n: i for i, n in enumerate(names)}
    return np.abs(x[:, col["range_Electronegativity"]] - 1.5) + 0.01 * x[:, col["mean_Number"]]


def test_gradient_boosting_learns_what_dummy_cannot():
    scopes = _scopes()
    x, names = scope_features(scopes)
    y = _rule(x, names)
    test = np.arange(len(y)) % 5 == 0
    gbm = GradientBoostingRegressor(n_estimators=300, learning_rate=0.1, num_leaves=7, patience=30)
    gbm.fit(x[~test], y[~test])
    mae_gbm = regression_metrics(y[test], gbm.predict(x[test]))["mae"]
    mae_dummy = regression_metrics(y[test], DummyRegressor().fit(x[~test], y[~test]).predict(x[test]))["mae"]
    assert mae_gbm < 0.3 * mae_dummy
    assert 1 <= gbm.best_iteration_ <= 300 and gbm.params()["threads"] == 1
    again = GradientBoostingRegressor(n_estimators=300, learning_rate=0.1, num_leaves=7, patience=30)
    assert np.array_equal(again.fit(x[~test], y[~test]).predict(x[test]), gbm.predict(x[test]))  # seeded
    with pytest.raises(RuntimeError, match="fit"):
        GradientBoostingRegressor().predict(x)
    with pytest.raises(ValueError):
        GradientBoostingRegressor().fit(x[:3], y[:3])


def _load_script():
    path = PROJECT_ROOT / "bench" / "eval_baselines.py"
    spec = importlib.util.spec_from_file_location("eval_baselines_script", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _write_labels(root) -> None:
    scopes = _scopes()
    x, names = scope_features(scopes)
    y = _rule(x, names)
    folds = np.arange(len(scopes)) % 5
    for i, task in enumerate(Task):
        rows = slice(None) if i < 2 else slice(i % 3, None, 2)  # tasks of different sizes, shared formulas
        table = pa.table(
            {
                "formula": [s.split("|")[2].replace(" ", "") for s in scopes][rows],
                "scope": scopes[rows],
                "target": (y * (i + 1))[rows],
                "fold": folds[rows].astype(np.int8),
            },
            schema=LABELS_SCHEMA,
        )
        pq.write_table(table, root / f"{task.value}.parquet")


def test_eval_baselines_script_on_a_tiny_label_folder(tmp_path, capsys):
    mod = _load_script()
    _write_labels(tmp_path)
    out = tmp_path / "res.json"
    tasks = [Task.E_FORM.value, Task.AFLOW_DEBYE.value]
    assert (
        mod.main(["--labels", str(tmp_path), "--folds", "0", "1", "--tasks", *tasks, "--out", str(out)]) == 0
    )
    res = json.loads(out.read_text())
    assert res["folds"] == [0, 1] and list(res["tasks"]) == tasks and res["gbm_params"]["threads"] == 1
    assert res["complete"] and not (tmp_path / "res.partial.json").exists()
    for entry in res["tasks"].values():
        for k in ("0", "1"):
            f = entry["folds"][k]
            assert {"dummy", "ridge", "gbm"} <= set(f) and f["gbm"]["n"] == f["n_test"] > 0
        s = entry["summary"]
        assert s["gbm"]["mae"]["n"] == 2 and s["gbm"]["mae"]["mean"] < s["dummy"]["mae"]["mean"]
    printed = capsys.readouterr().out
    assert "gbm" in printed and "fold 1" in printed
    # user errors: one line, non-zero exit
    assert mod.main(["--labels", str(tmp_path), "--tasks", "no_such_task", "--out", str(out)]) == 2
    assert mod.main(["--labels", str(tmp_path / "missing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: --") for e in err)
