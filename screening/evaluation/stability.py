"""Stability classification of a checkpoint on held-out formulas: precision, recall and F1.

A formula is *stable* when its energy above hull is at most ``threshold`` (eV/atom, default 0.1 as in the
campaign objectives). For the test formulas of one fold:

    predicted  e_above_hull = model e_form - E_hull(x)      E_hull from the fold's TRAINING formulas only
                                                            (the known phases when the model was trained;
                                                            the test formulas' own energies are not in it)
    true       e_above_hull, two references:
      ``mp_e_hull``   the Materials Project's energy above hull (crabnet's ``benchmark_data/mp_e_hull`` set:
                      one entry per formula, not always its ground-state polymorph)
      ``reference``   the label e_form against the full reference hull (:mod:`screening.hull`, every fold):
                      what a campaign's ``e_above_hull`` is measured against

    precision = TP / (TP + FP)    recall = TP / (TP + FN)    F1 = 2 P R / (P + R)     (positive = stable)

:func:`checkpoint_stability` computes the record (``bench/eval_checkpoint.py stability`` writes it into the
checkpoint's ``metrics.json`` under ``stability``); the model card and ``cloud report`` render it with
:func:`stability_lines`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from screening.objectives import DEFAULT_MAX_BELOW_HULL_UNKNOWN

#: Stable: energy above hull at most this (eV/atom).
DEFAULT_THRESHOLD_EV = 0.1
#: Depths below the known hull (eV/atom) at which the record counts held-out formulas.
BELOW_HULL_STEPS = (0.05, 0.1, 0.2)
#: Key of the record in a checkpoint's ``metrics.json``.
METRICS_KEY = "stability"


def classification_metrics(
    true_e_hull: np.ndarray, pred_e_hull: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Precision, recall, F1 and accuracy of ``pred <= threshold`` against ``true <= threshold``.

    Rows where either value is not finite are left out (``n`` counts the rest). A ratio with a zero
    denominator is ``None``.
    """
    t, p = np.asarray(true_e_hull, dtype=float), np.asarray(pred_e_hull, dtype=float)
    ok = np.isfinite(t) & np.isfinite(p)
    true_s, pred_s = t[ok] <= threshold, p[ok] <= threshold
    tp = int((true_s & pred_s).sum())
    fp = int((~true_s & pred_s).sum())
    fn = int((true_s & ~pred_s).sum())
    tn = int((~true_s & ~pred_s).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    n = int(ok.sum())
    return {
        "threshold_eV_per_atom": float(threshold),
        "n": n,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / n if n else None,
        "prevalence": (tp + fn) / n if n else None,
        "mae_e_above_hull_eV_per_atom": float(np.abs(t[ok] - p[ok]).mean()) if n else None,
    }


def _e_form_column(columns: list[str]) -> str:
    for name in ("e_form", "mp_e_form"):
        if name in columns:
            return name
    raise ValueError(f"the checkpoint predicts no formation energy (columns: {', '.join(columns)})")


def mp_e_hull_targets(crabnet_dir: Path) -> dict[tuple, float]:
    """crabnet's ``benchmark_data/mp_e_hull`` (train + val + test), keyed by composition (minimum per key)."""
    import pandas as pd

    from screening.hull import _key, parse_formula

    files = sorted((Path(crabnet_dir) / "benchmark_data" / "mp_e_hull").glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no mp_e_hull CSVs under {crabnet_dir}/benchmark_data/mp_e_hull")
    df = pd.concat([pd.read_csv(f) for f in files])
    out: dict[tuple, float] = {}
    for f, t in zip(df["formula"], df["target"], strict=True):
        p = parse_formula(f) if isinstance(f, str) else None
        if p is not None and np.isfinite(t):
            k = _key(*p)
            out[k] = min(float(t), out.get(k, np.inf))
    return out


def stability_record(
    formulas: Sequence[str],
    e_true: np.ndarray,
    e_pred: np.ndarray,
    known: Mapping[str, float],
    everything: Mapping[str, float],
    threshold: float = DEFAULT_THRESHOLD_EV,
    mp_targets: Mapping[tuple, float] | None = None,
) -> dict[str, Any]:
    """The classification of test ``formulas`` (see the module docstring), model-free.

    Parameters
    ----------
    e_true, e_pred
        Label and predicted formation energies (eV/atom) of ``formulas``.
    known
        ``{formula: e_form}`` the predicted hull is built from (the training formulas).
    everything
        ``{formula: e_form}`` of the full reference hull (training and test formulas).
    mp_targets
        MP energies above hull keyed by composition (:func:`mp_e_hull_targets`), or ``None``.
    """
    from screening.hull import ReferenceHull, _key, parse_formula

    formulas = list(formulas)
    known_hull = ReferenceHull(dict(known), "known")
    pred = known_hull.stability(formulas, np.asarray(e_pred, dtype=float))
    pred_hull = pred.column("e_above_hull").to_numpy(zero_copy_only=False)
    # how far below the known hull REAL new compositions sit (the far_below_hull rule's threshold)
    true_vs_known = known_hull.stability(formulas, np.asarray(e_true, dtype=float)).column("e_above_hull")
    below = true_vs_known.to_numpy(zero_copy_only=False)
    below = below[np.isfinite(below)]
    ref = ReferenceHull(dict(everything), "all").stability(formulas, np.asarray(e_true, dtype=float))
    out: dict[str, Any] = {
        "n_test_formulas": len(formulas),
        "threshold_eV_per_atom": float(threshold),
        "predicted_hull": "the fold's training formulas (test formulas' energies left out), elements at 0",
        "reference": classification_metrics(
            ref.column("e_above_hull").to_numpy(zero_copy_only=False), pred_hull, threshold
        ),  # fmt: skip
    }
    out["true_below_known_hull"] = {
        "n": int(len(below)),
        **{
            f"fraction_below_minus_{t:g}": float((below < -t).mean()) if len(below) else None
            for t in BELOW_HULL_STEPS
        },
        "quantile_0.1pct": float(np.quantile(below, 0.001)) if len(below) else None,
        "quantile_1pct": float(np.quantile(below, 0.01)) if len(below) else None,
    }
    # the far_below_hull rule on held-out formulas (all unknown to the training hull): of those PREDICTED more
    # than t below it, how many are really stable (what excluding them would lose) and really that far below
    true_ref = out["reference"]
    ref_hull = ref.column("e_above_hull").to_numpy(zero_copy_only=False)
    true_known = true_vs_known.to_numpy(zero_copy_only=False)
    rule = {}
    for t in BELOW_HULL_STEPS:
        flagged = np.isfinite(pred_hull) & (pred_hull < -t)
        n = int(flagged.sum())
        rule[f"{t:g}"] = {
            "n_flagged": n,
            "fraction_flagged": n / max(len(formulas), 1),
            "fraction_truly_stable": float((ref_hull[flagged] <= threshold).mean()) if n else None,
            "fraction_truly_that_far_below": float((true_known[flagged] < -t).mean()) if n else None,
        }
    out["far_below_hull_rule"] = {"precision_without_rule": true_ref["precision"], "by_threshold": rule}
    if mp_targets is not None:
        true_mp = np.array(
            [mp_targets.get(_key(*p), np.nan) if (p := parse_formula(f)) else np.nan for f in formulas],
            dtype=float,
        )
        out["mp_e_hull"] = classification_metrics(true_mp, pred_hull, threshold)
    return out


def checkpoint_stability(
    checkpoint: str | Path,
    fold: int,
    labels_dir: str | Path | None = None,
    crabnet_dir: str | Path | None = None,
    threshold: float = DEFAULT_THRESHOLD_EV,
) -> dict[str, Any]:
    """The stability record of ``checkpoint`` on fold ``fold``'s formation-energy test formulas.

    Parameters
    ----------
    checkpoint
        A checkpoint that never saw fold ``fold``'s test formulas (an evaluation run of that fold).
    labels_dir
        The label sets (default ``data/labels``); the test formulas and the training hull come from them
        (the same leak-free split as the fold's training, :func:`screening.evaluation.folds.split_fold`).
    crabnet_dir
        crabnet's data dir, for the ``mp_e_hull`` reference (skipped when ``None``).
    """
    from cloud_core.model import Predictor
    from screening.corpora.labels import Task, default_labels_dir, load_all
    from screening.evaluation.folds import split_fold

    tables = load_all(Path(labels_dir) if labels_dir is not None else default_labels_dir())
    split = split_fold(tables, fold)[Task.E_FORM]
    test, full = split.test, tables[Task.E_FORM]
    pred = Predictor.from_checkpoint(checkpoint, device="cpu", threads=1).predict(list(test["scope"]))
    e_pred = pred.column(_e_form_column(pred.column_names)).to_numpy(zero_copy_only=False).astype(float)
    rec = stability_record(
        list(test["formula"]),
        test["target"].to_numpy(float),
        e_pred,
        dict(zip(split.train["formula"], split.train["target"], strict=True)),
        dict(zip(full["formula"], full["target"], strict=True)),
        threshold,
        mp_e_hull_targets(Path(crabnet_dir)) if crabnet_dir is not None else None,
    )
    return {"checkpoint_model_id": _model_id(checkpoint), "fold": fold, **rec}


def _model_id(checkpoint: str | Path) -> str | None:
    from cloud_core.model.checkpoint import CheckpointError, checkpoint_id

    try:
        return checkpoint_id(Path(checkpoint))
    except (CheckpointError, OSError):
        return None


def read_stability(checkpoint: str | Path | None, model_id: str | None = None) -> dict[str, Any] | None:
    """The record stored in ``<checkpoint>/metrics.json`` (``None`` if absent or for another model id)."""
    if not checkpoint:
        return None
    path = Path(checkpoint) / "metrics.json"
    try:
        rec = json.loads(path.read_text()).get(METRICS_KEY)
    except (FileNotFoundError, OSError, ValueError):
        return None
    if not rec or (model_id and rec.get("checkpoint_model_id") not in (None, model_id)):
        return None
    return rec


_REFERENCES = {
    "mp_e_hull": "Materials Project energy above hull (crabnet mp_e_hull: one entry per formula, not always "
    "its lowest polymorph)",
    "reference": "label e_form vs the full reference hull",
}


def stability_lines(rec: Mapping[str, Any]) -> tuple[str, list[str], list[list[str]]]:
    """``(caption, header, rows)`` of the record, for the model card (Markdown) and the report (HTML)."""

    def f(x: Any) -> str:
        return "–" if x is None else f"{x:.3f}"

    caption = (
        f"Stability classification on fold {rec['fold']}'s held-out formation-energy test formulas "
        f"({rec['n_test_formulas']:,}): stable = energy above hull <= {rec['threshold_eV_per_atom']:g} eV/atom; "
        f"predicted = model e_form against the hull of {rec['predicted_hull']}."
    )
    b = rec.get("true_below_known_hull")
    if b and b.get("n"):
        caption += (
            " Real held-out compositions below the training hull: "
            + ", ".join(
                f"{100 * b[f'fraction_below_minus_{t:g}']:.2f}% by more than {t:g} eV/atom"
                for t in BELOW_HULL_STEPS
            )
            + f" (of {b['n']:,}; the far_below_hull rule's default threshold is {DEFAULT_MAX_BELOW_HULL_UNKNOWN:g})."
        )
    r = (rec.get("far_below_hull_rule") or {}).get("by_threshold") or {}
    parts = [
        f"{v['n_flagged']:,} more than {t} eV/atom below ({100 * v['fraction_truly_stable']:.0f}% of them truly "
        f"stable, {100 * v['fraction_truly_that_far_below']:.0f}% truly that far below)"
        for t, v in r.items()
        if v.get("n_flagged")
    ]
    if parts:
        caption += " Held-out formulas the model predicts below the training hull: " + "; ".join(parts) + "."
    header = [
        "truth",
        "n",
        "stable (true)",
        "precision",
        "recall",
        "F1",
        "accuracy",
        "MAE e_above_hull (eV/atom)",
    ]
    rows = []
    for key, label in _REFERENCES.items():
        m = rec.get(key)
        if m:
            rows.append(
                [
                    label,
                    f"{m['n']:,}",
                    f"{m['tp'] + m['fn']:,}",
                    f(m["precision"]),
                    f(m["recall"]),
                    f(m["f1"]),
                    f(m["accuracy"]),
                    f(m["mae_e_above_hull_eV_per_atom"]),
                ]  # fmt: skip
            )
    return caption, header, rows
