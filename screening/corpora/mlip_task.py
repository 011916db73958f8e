"""The CHGNet-fidelity training task ``e_form_mlip``: structure-level formation energies for fine-tuning.

Built from the structure labels of ``cloud build-mlip-labels`` (``data/mlip_labels/labels.parquet``,
:mod:`screening.mlip`), in the label-table layout (``formula, scope, target, fold``) so that the fold and
leakage machinery of :mod:`screening.evaluation.folds` treats it like every crabnet label set:

- one row per converged tier-A structure (full relaxation under a symmetry constraint, so the label belongs
  to its SCOPE string): its CHGNet formation energy (raw or MP2020-corrected, as the labels' PROVENANCE
  decided by measurement);
- one composition-level row per formula (``? | - | ...``): the minimum over that formula's structures, the
  CHGNet counterpart of the ground-state label ``mp_e_form`` carries. With it the model learns, at CHGNet
  fidelity, how far a structure sits above its composition's ground state; the Predictor adds exactly that
  difference to the DFT-fidelity ``e_form`` of the composition (``TargetSpec.structure_via``), so that
  polymorphs are ordered while the composition-level accuracy stays that of the DFT labels.

Folds: a formula keeps the fold in which a crabnet label set tests it (so that, per fold, its structures are
dropped from training with it), otherwise ``-1`` (training only). Formulas of the committed held-out polymorph
pairs (``data/checks/held_out_formulas.txt``) are excluded from every training table here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from screening.corpora.labels import LabelsError, Task, scope_for_formula

#: the task's name: a target of the fine-tuned model and the prediction column of the CHGNet fidelity
MLIP_E_FORM = "e_form_mlip"
MLIP_UNIT = "eV/atom"
#: tiers used for training: "A" = full relaxation under a symmetry constraint (tier B's unrelaxed EOS points
#: are a different fidelity and are not used yet)
TRAIN_TIERS = ("A",)

_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LABELS = _ROOT / "data" / "mlip_labels" / "labels.parquet"
DEFAULT_HELD_OUT = _ROOT / "data" / "checks" / "held_out_formulas.txt"


def read_held_out(path: str | Path = DEFAULT_HELD_OUT) -> set[str]:
    """Stoichiometry keys of the formulas held out of all training (``#`` comments and blanks ignored)."""
    from screening.evaluation.folds import formula_key

    p = Path(path)
    if not p.is_file():
        return set()
    lines = (x.split("#", 1)[0].strip() for x in p.read_text().splitlines())
    return {formula_key(x) for x in lines if x}


def _fold_donors(tables: Mapping[Task, pd.DataFrame]) -> dict[str, int]:
    """Stoichiometry key -> the fold whose test set holds it in a crabnet label set (e_form first)."""
    from screening.evaluation.folds import table_keys

    donors: dict[str, int] = {}
    order = sorted(tables, key=lambda t: t != Task.E_FORM)  # e_form's folds win
    for task in reversed(order):
        df = tables[task]
        m = (df["fold"] >= 0).to_numpy()
        keys = table_keys(df[m])
        donors.update(zip(keys, df["fold"].to_numpy()[m].astype(int), strict=True))
    return donors


def mlip_table(
    tables: Mapping[Task, pd.DataFrame],
    labels: str | Path = DEFAULT_LABELS,
    *,
    held_out: set[str] | None = None,
    tiers: tuple[str, ...] = TRAIN_TIERS,
) -> pd.DataFrame:
    """The ``e_form_mlip`` table (formula, scope, target, fold) from the CHGNet labels.

    Parameters
    ----------
    tables
        The crabnet label tables (their test folds are inherited by formula).
    labels
        ``labels.parquet`` of ``cloud build-mlip-labels``.
    held_out
        Stoichiometry keys excluded from the table (default: ``data/checks/held_out_formulas.txt``).
    """
    from screening.evaluation.folds import scope_key

    path = Path(labels)
    if not path.is_file():
        raise LabelsError(f"CHGNet labels {path} are missing; build them with `cloud build-mlip-labels`")
    df = pq.read_table(path).to_pandas()
    prov = path.with_name("provenance.json")
    decision = json.loads(prov.read_text()).get("mp2020_decision", {}) if prov.is_file() else {}
    col = "e_form_mp2020_eV_per_atom" if decision.get("apply_mp2020") else "e_form_raw_eV_per_atom"
    df = df[df["tier"].isin(tiers) & df["converged"] & np.isfinite(df[col])]
    held_out = read_held_out() if held_out is None else held_out
    keys = [scope_key(s) for s in df["scope"]]
    keep = np.fromiter((k not in held_out for k in keys), dtype=bool, count=len(keys))
    df = df[keep].assign(key=np.asarray(keys, dtype=object)[keep])
    # one row per distinct structure string (duplicates from several sources: their mean)
    struct = df.groupby("scope", as_index=False).agg(formula=("formula", "first"), key=("key", "first"),
                                                     target=(col, "mean"))  # fmt: skip
    comp = struct.groupby("key", as_index=False).agg(formula=("formula", "first"), target=("target", "min"))
    comp["scope"] = [scope_for_formula(f) for f in comp["formula"]]
    comp = comp[~comp["scope"].isin(set(struct["scope"]))]
    out = pd.concat(
        [struct[["formula", "scope", "key", "target"]], comp[["formula", "scope", "key", "target"]]]
    )
    donors = _fold_donors(tables)
    out["fold"] = np.asarray([donors.get(k, -1) for k in out["key"]], dtype=np.int8)
    return out.drop(columns="key").sort_values(["formula", "scope"], ignore_index=True)
