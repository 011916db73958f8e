"""Score a CLOUD checkpoint on the committed physical check sets (``data/checks``, issue 12).

Checks (thresholds are the issue's acceptance bars; each result carries its own ``pass``):

- elements: over the elemental ground states (``elements.parquet``), median |e_form| <= 0.05 and max <= 0.15 eV/atom;
- pool elements: of the bundled pool's single-element candidates, at least 95% predict e_form >= -0.05 eV/atom;
- famous crystals: metals band_gap < 0.2 eV and insulators band_gap > 1.5 eV, at least 90% in each group;
- physical signs: no negative band gap or Debye temperature on any check set or the pool;
- polymorph pairs: the pair's lower-energy member (CHGNet) predicted lower in e_form; ties count as wrong.
  Scored over pairs with |dE| >= 0.05 eV/atom (bar 85%), near-degenerate pairs reported separately, held-out
  pairs (formulas in no label set) separately (bar 75%), and per family.

Predictions go through :class:`cloud_core.model.Predictor`; a string the model cannot read (too long) is a reject
and counts as a failure of its check. Any ``<target>_std`` column the model outputs is kept next to its value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKS = ROOT / "data" / "checks"
DEFAULT_POOL = ROOT / "data" / "pools" / "prototype_pool_v1.parquet"

NEAR_DEGENERATE_EV = 0.05
ELEMENT_MEDIAN_MAX = 0.05
ELEMENT_MAX_MAX = 0.15
POOL_ELEMENT_FLOOR = -0.05
POOL_ELEMENT_FRACTION = 0.95
METAL_GAP_MAX = 0.2
INSULATOR_GAP_MIN = 1.5
FAMOUS_FRACTION = 0.90
POLYMORPH_FRACTION = 0.85
HELD_OUT_FRACTION = 0.75
REQUIRED = ("e_form", "band_gap", "theta_K")
CHECK_FILES = ("elements.parquet", "famous_crystals.parquet", "polymorph_pairs.parquet")


class CheckSetsError(RuntimeError):
    """The check sets, the pool or the checkpoint cannot be used (a message for the user)."""


def load_check_sets(checks: Path = DEFAULT_CHECKS) -> dict[str, pd.DataFrame]:
    """The committed check tables by name (``elements``, ``famous_crystals``, ``polymorph_pairs``)."""
    out = {}
    for name in CHECK_FILES:
        path = Path(checks) / name
        if not path.is_file():
            raise CheckSetsError(
                f"check set {path} is missing; build it with python -m screening.evaluation.check_sets"
            )
        out[name.removesuffix(".parquet")] = pd.read_parquet(path)
    return out


def pool_scopes(pool: Path = DEFAULT_POOL) -> pd.DataFrame:
    """``candidate_id``, ``formula``, ``scope`` and ``n_elements`` of every pool row (scope from its meta_json)."""
    if not Path(pool).is_file():
        raise CheckSetsError(f"pool file {pool} is missing")
    df = pd.read_parquet(pool)
    if "scope" in df.columns:
        scopes = df["scope"].astype(str)
    else:
        scopes = df["meta_json"].map(lambda m: json.loads(m).get("scope"))
    out = pd.DataFrame({"candidate_id": df["candidate_id"], "formula": df["formula"], "scope": scopes})
    out["n_elements"] = out["scope"].map(_n_elements)
    return out.dropna(subset=["scope"]).reset_index(drop=True)


def _n_elements(scope: str | None) -> int:
    if not scope:
        return 0
    stoich = scope.split("|")[-1].split()
    return sum(1 for tok in stoich if not tok.isdigit())


class _Predictions:
    """Predictions for a set of distinct SCOPE strings (NaN for rejects)."""

    def __init__(self, predictor: Any, scopes: list[str]) -> None:
        uniq = list(dict.fromkeys(scopes))
        table, rejects = predictor.predict_with_rejects(uniq, ids=[str(i) for i in range(len(uniq))])
        df = table.to_pandas()
        missing = [t for t in REQUIRED if t not in df.columns]
        if missing:
            raise CheckSetsError(f"checkpoint predicts {predictor.targets}, lacks {missing}")
        self.columns = [c for c in df.columns if c in REQUIRED or c.removesuffix("_std") in REQUIRED]
        df.index = [uniq[int(i)] for i in df["id"]]
        self.frame = df[self.columns].reindex(uniq)
        self.rejects = {uniq[int(r.id)]: r.message for r in rejects}
        self.model_id = predictor.model_id

    def get(self, scopes: pd.Series, column: str) -> np.ndarray:
        return self.frame[column].reindex(scopes.tolist()).to_numpy(dtype=float)

    def attach(self, df: pd.DataFrame, scope_col: str = "scope", prefix: str = "") -> pd.DataFrame:
        out = df.copy()
        for c in self.columns:
            out[prefix + c] = self.get(df[scope_col], c)
        return out


def _fraction(mask: np.ndarray) -> float | None:
    return float(np.mean(mask)) if len(mask) else None


def _ordering(pairs: pd.DataFrame) -> dict[str, Any]:
    n = len(pairs)
    correct = int(pairs["correct"].sum())
    return {"n": n, "correct": correct, "fraction": correct / n if n else None}


def evaluate(predictor: Any, checks: Path = DEFAULT_CHECKS, pool: Path = DEFAULT_POOL) -> dict[str, Any]:
    """Run every check; returns the results document (summary per check and per-row predictions)."""
    sets = load_check_sets(checks)
    pool_df = pool_scopes(pool)
    el, famous, pairs = sets["elements"], sets["famous_crystals"], sets["polymorph_pairs"]
    scopes = [*el["scope"], *famous["scope"], *pairs["a_scope"], *pairs["b_scope"], *pool_df["scope"]]
    preds = _Predictions(predictor, scopes)

    # elements
    el = preds.attach(el)
    abs_e = np.abs(el["e_form"].to_numpy())
    abs_e_ok = np.where(np.isnan(abs_e), np.inf, abs_e)
    elements = {
        "n": len(el),
        "median_abs_e_form": float(np.median(abs_e_ok)),
        "max_abs_e_form": float(np.max(abs_e_ok)),
        "fraction_abs_le_0.05": _fraction(abs_e_ok <= 0.05),
        "worst": el.assign(abs_e_form=abs_e_ok)
        .nlargest(5, "abs_e_form")[["element", "e_form"]]
        .to_dict("records"),
    }
    elements["pass"] = bool(elements["median_abs_e_form"] <= ELEMENT_MEDIAN_MAX
                            and elements["max_abs_e_form"] <= ELEMENT_MAX_MAX)  # fmt: skip

    # the pool's elemental candidates
    pool_p = preds.attach(pool_df)
    pel = pool_p[pool_p["n_elements"] == 1]
    ok = pel["e_form"].to_numpy() >= POOL_ELEMENT_FLOOR
    pool_elements = {
        "n": len(pel),
        "fraction_e_form_ge_-0.05": _fraction(ok),
        "median_e_form": float(pel["e_form"].median()) if len(pel) else None,
        "min_e_form": float(pel["e_form"].min()) if len(pel) else None,
    }
    pool_elements["pass"] = bool(
        len(pel) and pool_elements["fraction_e_form_ge_-0.05"] >= POOL_ELEMENT_FRACTION
    )

    # famous crystals
    famous = preds.attach(famous.drop(columns=["structure_json"], errors="ignore"))
    gap = famous["band_gap"].to_numpy()
    famous["ok"] = np.where(famous["group"] == "metal", gap < METAL_GAP_MAX, gap > INSULATOR_GAP_MIN)
    groups = {}
    for g, sub in famous.groupby("group"):
        groups[g] = {"n": len(sub), "fraction_ok": float(sub["ok"].mean()),
                     "median_band_gap": float(sub["band_gap"].median())}  # fmt: skip
        groups[g]["pass"] = bool(groups[g]["fraction_ok"] >= FAMOUS_FRACTION)

    # physical signs everywhere
    every = preds.frame.drop(index=list(preds.rejects), errors="ignore")
    signs = {
        "n_strings": len(every),
        "negative_band_gap": int((every["band_gap"] < 0).sum()),
        "negative_theta_K": int((every["theta_K"] < 0).sum()),
        "min_band_gap": float(every["band_gap"].min()),
        "min_theta_K": float(every["theta_K"].min()),
    }
    signs["pass"] = bool(signs["negative_band_gap"] == 0 and signs["negative_theta_K"] == 0)

    # polymorph pairs
    pairs = preds.attach(preds.attach(pairs, "a_scope", "a_pred_"), "b_scope", "b_pred_")
    ea, eb = pairs["a_pred_e_form"].to_numpy(), pairs["b_pred_e_form"].to_numpy()
    pred_lower = np.where(
        ea < eb, "a", np.where(eb < ea, "b", "tie")
    )  # NaN compares False: a tie, i.e. wrong
    pairs["pred_lower"] = pred_lower
    pairs["correct"] = pred_lower == pairs["lower"].to_numpy()
    pairs["pred_dE"] = np.abs(ea - eb)
    clear = pairs[~pairs["near_degenerate"]]
    poly = {
        "clear_pairs": _ordering(clear),
        "near_degenerate": _ordering(pairs[pairs["near_degenerate"]]),
        "held_out": _ordering(pairs[pairs["held_out"]]),
        "held_out_clear": _ordering(clear[clear["held_out"]]),
        "per_family_clear": {f: _ordering(sub) for f, sub in clear.groupby("family")},
        "ties": int((pred_lower == "tie").sum()),
    }
    poly["pass"] = bool(
        (poly["clear_pairs"]["fraction"] or 0) >= POLYMORPH_FRACTION
        and poly["held_out"]["n"] >= 20
        and (poly["held_out"]["fraction"] or 0) >= HELD_OUT_FRACTION
    )
    keep_pairs = ["pair_id", "family", "formula", "held_out", "near_degenerate", "lower", "dE_eV_per_atom",
                  "pred_lower", "correct", "pred_dE"] + [c for c in pairs.columns if c.startswith(("a_pred_", "b_pred_"))]  # fmt: skip
    return {
        "model_id": preds.model_id,
        "targets_reported": preds.columns,
        "rejects": preds.rejects,
        "summary": {
            "elements": elements,
            "pool_elements": pool_elements,
            "famous_crystals": groups,
            "physical_signs": signs,
            "polymorphs": poly,
        },
        "rows": {
            "elements": el.drop(columns=["structure_json", "structure_source"], errors="ignore").to_dict(
                "records"
            ),
            "famous_crystals": famous.drop(
                columns=["structure_source", "mp_gap_source"], errors="ignore"
            ).to_dict("records"),
            "polymorph_pairs": pairs[keep_pairs].to_dict("records"),
        },
    }


def summary_table(doc: dict[str, Any]) -> str:
    """A plain-text table of the summary."""
    s = doc["summary"]
    lines = [f"model {doc['model_id'][:12]}", f"{'check':<44}{'value':>22}  pass"]

    def row(name: str, value: str, ok: bool | None) -> None:
        lines.append(f"{name:<44}{value:>22}  {'' if ok is None else ('yes' if ok else 'NO')}")

    e = s["elements"]
    row(f"elements (n={e['n']}) median / max |e_form|", f"{e['median_abs_e_form']:.3f} / {e['max_abs_e_form']:.3f}",
        e["pass"])  # fmt: skip
    p = s["pool_elements"]
    frac = p["fraction_e_form_ge_-0.05"]
    row(f"pool elements (n={p['n']}) e_form >= -0.05", "n/a" if frac is None else f"{frac:.3f}", p["pass"])
    for g, d in s["famous_crystals"].items():
        bar = f"< {METAL_GAP_MAX}" if g == "metal" else f"> {INSULATOR_GAP_MIN}"
        row(f"famous {g}s (n={d['n']}) band_gap {bar} eV", f"{d['fraction_ok']:.3f}", d["pass"])
    sg = s["physical_signs"]
    row(f"negative band gap / theta (n={sg['n_strings']})", f"{sg['negative_band_gap']} / {sg['negative_theta_K']}",
        sg["pass"])  # fmt: skip
    poly = s["polymorphs"]

    def frac_of(d: dict[str, Any]) -> str:
        return "n/a" if d["fraction"] is None else f"{d['correct']}/{d['n']} = {d['fraction']:.3f}"

    row("polymorphs |dE| >= 0.05 ordered", frac_of(poly["clear_pairs"]), poly["pass"])
    row("polymorphs near-degenerate ordered", frac_of(poly["near_degenerate"]), None)
    row("polymorphs held-out ordered", frac_of(poly["held_out"]), None)
    row("polymorphs held-out, |dE| >= 0.05", frac_of(poly["held_out_clear"]), None)
    for fam, d in poly["per_family_clear"].items():
        row(f"  {fam}", frac_of(d), None)
    row("polymorph ties (identical predictions)", str(poly["ties"]), None)
    return "\n".join(lines)
