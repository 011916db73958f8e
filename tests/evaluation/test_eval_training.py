"""Multi-task fine-tuning (tiny, a few steps), evaluation through the Predictor, baselines and metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from screening.corpora.labels import Task
from screening.evaluation.baselines import (
    DummyRegressor,
    RidgeRegressor,
    element_fractions,
    regression_metrics,
)
from screening.evaluation.training import (
    evaluate_on_tables,
    family_sigma,
    finetune_multitask,
    in_family,
    merge_tasks,
    sample_predictions,
)


def _tables() -> dict[Task, pd.DataFrame]:
    rng = np.random.default_rng(0)
    els = ["Li", "Na", "K", "Mg", "Ca", "Al", "Ga", "Si", "Ti", "Fe"]
    an = ["O", "S", "F", "Cl", "N"]
    rows = [f"? | - | {a} {i} {b} {j}" for a in els for b in an for i in (1, 2) for j in (1, 3)]
    e = pd.DataFrame({"scope": rows, "target": rng.normal(-1, 1, len(rows))})
    k = pd.DataFrame({"scope": rows[::3], "target": rng.normal(2, 0.3, len(rows[::3]))})
    d = pd.DataFrame({"scope": rows[1::2], "target": rng.uniform(200, 600, len(rows[1::2]))})
    return {Task.E_FORM: e, Task.LOG10_K_VRH: k, Task.AFLOW_DEBYE: d}


def test_merge_tasks_masks_missing_labels():
    scopes, y, tasks = merge_tasks(_tables())
    assert len(scopes) == len(set(scopes)) == 200
    assert tasks == [Task.E_FORM, Task.LOG10_K_VRH, Task.AFLOW_DEBYE]
    assert np.isfinite(y[:, 0]).all() and np.isnan(y[:, 1]).sum() == 200 - 67


def test_finetune_save_evaluate(tmp_path):
    tables = _tables()
    ckpt, rec = finetune_multitask(tables, tmp_path / "ck", steps=4, eval_every=2, batch_size=16, seed=1)
    assert rec["steps"] == 4 and rec["best_step"] in (2, 4) and rec["debye_head"] == "aflow_debye_temperature"
    m = evaluate_on_tables(ckpt, {t: df.head(20) for t, df in tables.items()})
    assert set(m) == {"mp_e_form", "log10_k_vrh", "aflow_debye_temperature"}
    assert all(v["n"] == 20 and v["mae"] > 0 for v in m.values())
    s = sample_predictions(ckpt, tables, n_per_task=2)
    assert len(s["scope"]) == 7 and min(s["predictions"]["theta_K"]) > 0  # the Debye head is positive
    # the same seed and steps give the same model
    ckpt2, _ = finetune_multitask(tables, tmp_path / "ck2", steps=4, eval_every=2, batch_size=16, seed=1)
    assert sample_predictions(ckpt2, tables, n_per_task=2) == s


def test_multi_fidelity_training_and_family_sigma(tmp_path):
    """e_form with the CHGNet task beside it declares the structure term; family sigma splits the test rows."""
    tables = _tables()
    struct = ["225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1", "216 cF -43m | Na 4a Cl 4c | Na 1 Cl 1"]
    tables["e_form_mlip"] = pd.DataFrame(
        {"scope": struct + ["? | - | Na 1 Cl 1"], "target": [-2.0, -1.9, -2.0]}
    )
    ckpt, _ = finetune_multitask(
        tables, tmp_path / "mf", steps=2, eval_every=2, batch_size=8, uncertainty=True
    )
    from cloud_core.model import Predictor

    pred = Predictor.from_checkpoint(ckpt, device="cpu", threads=1)
    assert {t.name: t.structure_via for t in pred.config.targets}["mp_e_form"] == "e_form_mlip"
    assert {"e_form_mlip", "e_form_mlip_std"} <= set(pred.targets)
    fam = in_family(tables[Task.E_FORM]["scope"], ("Fe", "Ti"))
    assert fam.sum() == 40 and in_family(["? | - | Ti 1 O 2"], ("Ti",)).all()
    out = family_sigma(ckpt, {Task.E_FORM: tables[Task.E_FORM]}, ("Fe", "Ti"))["mp_e_form"]
    assert (out["n_family"], out["n_other"]) == (40, 160) and out["sigma_ratio"] > 0


def test_finetune_from_pretrained_needs_same_max_len(tmp_path):
    tables = _tables()
    ckpt, _ = finetune_multitask(tables, tmp_path / "a", steps=2, eval_every=2, batch_size=8, max_len=32)
    with pytest.raises(ValueError, match="max_len"):
        finetune_multitask(tables, tmp_path / "b", init=ckpt, steps=2, batch_size=8, max_len=64)
    _, rec = finetune_multitask(
        tables, tmp_path / "c", init=ckpt, steps=2, eval_every=2, batch_size=8, max_len=32
    )
    assert rec["init_model_id"]


def test_baselines_recover_a_linear_rule():
    # canonical SCOPE stoichiometry only (reduced counts): the SCOPE validator rejects "Na 2 Cl 2"
    scopes = [f"? | - | Na {i} Cl {j}" for i in range(1, 8) for j in range(1, 8) if math.gcd(i, j) == 1]
    x = element_fractions(scopes)
    assert np.allclose(x.sum(axis=1), 1.0) and x.shape == (len(scopes), 118) and len(scopes) > 30
    y = 3.0 * x[:, 10] - 1.0  # Na is Z = 11
    ridge = RidgeRegressor(alphas=(1e-8,)).fit(x, y)
    assert regression_metrics(y, ridge.predict(x))["mae"] < 1e-4
    dummy = DummyRegressor().fit(x, y)
    assert np.allclose(dummy.predict(x[:3]), y.mean())
    with pytest.raises(ValueError):
        regression_metrics(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError):
        DummyRegressor().fit(x[:0], y[:0])
