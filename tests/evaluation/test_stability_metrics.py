"""Stability precision / recall / F1 on a hand-made Li-O fixture, and where the record is rendered."""

from __future__ import annotations

import json

import numpy as np
import pytest

from screening.evaluation.stability import (
    classification_metrics,
    read_stability,
    stability_lines,
    stability_record,
)

# Training ("known") phases: Li2O at -2.0 eV/atom (x_O = 1/3). Its hull at x_O: -2.0 (1 - x) / (2/3) for x >= 1/3,
# -6 x for x <= 1/3. Test formulas (true e_form; predicted e_form):
#   Li2O2 x=0.50: true -1.90 (a vertex of the full hull: e_hull 0, stable); pred -1.45 -> -1.45 - (-1.5) = +0.05:
#                 predicted stable -> TP
#   LiO3  x=0.75: true -0.50, full hull between Li2O2 and O: -0.95 -> e_hull 0.45, unstable; pred -1.20 vs -0.75:
#                 -0.45, predicted stable -> FP
#   Li3O  x=0.25: true -1.60 (a vertex: stable); pred -1.00 vs -1.5: +0.5, predicted unstable -> FN
#   Li4O  x=0.20: true -1.00, full hull between Li and Li3O: -1.28 -> e_hull 0.28, unstable; pred -0.90 vs -1.2:
#                 +0.3 -> TN
KNOWN = {"Li2O": -2.0, "Li": 0.0, "O2": 0.0}
TEST = ["Li2O2", "LiO3", "Li3O", "Li4O"]
TRUE = np.array([-1.90, -0.50, -1.60, -1.00])
PRED = np.array([-1.45, -1.20, -1.00, -0.90])


def test_classification_metrics_by_hand():
    m = classification_metrics(np.array([0.0, 0.45, 0.0, 0.28]), np.array([0.05, -0.45, 0.5, 0.3]), 0.1)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 1)
    assert m["precision"] == m["recall"] == m["f1"] == m["accuracy"] == 0.5
    # nothing predicted stable: precision undefined, recall 0, non-finite rows left out
    m = classification_metrics(np.array([0.0, 0.2, np.nan]), np.array([0.3, 0.3, 0.0]), 0.1)
    assert m["n"] == 2 and m["precision"] is None and m["recall"] == 0.0 and m["f1"] is None


def test_record_uses_the_training_hull_for_predictions_and_the_full_hull_for_truth():
    everything = {**KNOWN, **dict(zip(TEST, TRUE, strict=True))}
    mp = {}
    from screening.hull import _key, parse_formula

    for f, e_hull in zip(TEST, [0.0, 0.45, 0.0, 0.28], strict=True):
        mp[_key(*parse_formula(f))] = e_hull
    rec = stability_record(TEST, TRUE, PRED, KNOWN, everything, 0.1, mp)
    for truth in ("reference", "mp_e_hull"):
        m = rec[truth]
        assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 1), truth
        assert m["f1"] == pytest.approx(0.5)
    # true energies against the training hull: Li2O2 -0.40, LiO3 +0.25, Li3O -0.10, Li4O +0.20
    b = rec["true_below_known_hull"]
    assert b["n"] == 4 and b["fraction_below_minus_0.05"] == 0.5 and b["fraction_below_minus_0.2"] == 0.25
    # the test formulas' own energies must not be in the predicted hull: with them, Li2O2 would be "predicted"
    # 0.45 above its own true energy
    leaky = stability_record(TEST, TRUE, PRED, everything, everything, 0.1)
    assert (leaky["reference"]["tp"], leaky["reference"]["fn"]) == (0, 2)


def test_record_is_rendered_for_its_model_only(tmp_path):
    from screening.evaluation.model_card import render

    rec = {"checkpoint_model_id": "abc", "fold": 0,
           **stability_record(TEST, TRUE, PRED, KNOWN, {**KNOWN, **dict(zip(TEST, TRUE, strict=True))}, 0.1)}  # fmt: skip
    caption, header, rows = stability_lines(rec)
    assert "fold 0" in caption and "F1" in header and rows[0][header.index("F1")] == "0.500"
    (tmp_path / "metrics.json").write_text(json.dumps({"stability": rec}))
    assert read_stability(tmp_path, "abc") == rec
    assert read_stability(tmp_path, "another model") is None
    baselines = {"tasks": {}, "folds": [0]}
    card = render(baselines, None, {"model_id": "abc", "stability": rec}, None, None)
    assert "### Stability classification" in card and "| 0.500 |" in card
