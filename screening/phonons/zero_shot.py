"""Zero-shot check of Debye thermodynamics against the phonon reference.

A Debye-temperature predictor is trained on one number per material, the phonon Cv at 300 K (as the CLOUD-DEBYE
paper trains on Cv at 300 K), through the Debye layer; on held-out materials its Cv(T) and U(T) at 50-1000 K are
compared with the phonon reference, next to two baselines: Dulong-Petit (Cv = 3R, U = 3RT) and the Debye model
fed each material's own fitted Debye temperature (the best any one-parameter Debye curve can do).

The predictor is the CLOUD-DEBYE head (``cloud_core.debye.DebyeHead``, linear) trained on Cv(300 K) over two
inputs: composition features (element-property statistics) and frozen embeddings of the shipped CLOUD checkpoint
(SCOPE string of each relaxed structure); the shipped checkpoint's own Debye head is reported too.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from pymatgen.core import Composition, Element

R_GAS = 8.314462618
EVAL_TEMPERATURES = (50.0, 100.0, 200.0, 300.0, 500.0, 750.0, 1000.0)
TRAIN_TEMPERATURE = 300.0
ROWS = ("debye_head_zero_shot", "dulong_petit", "debye_fitted_theta")
CLOUD_ROWS = ("cloud_embedding_debye_head", "cloud_shipped_theta")

_PROPS = ("Z", "atomic_mass", "X", "row", "group", "atomic_radius", "mendeleev_no", "melting_point")


def _element_props(el: Element) -> list[float]:
    vals: list[float] = []
    for name in _PROPS:
        try:
            v = getattr(el, name)
            v = float(v) if v is not None else math.nan
        except Exception:  # pymatgen warns or raises for missing data of some elements
            v = math.nan
        vals.append(v)
    return vals


def composition_features(formula: str) -> np.ndarray:
    """Fraction-weighted mean, min, max of element properties, plus 1/sqrt(mean mass) (NaN -> column mean later)."""
    comp = Composition(formula).fractional_composition
    props = np.array([_element_props(el) for el in comp.elements], dtype=float)
    w = np.array([comp[el] for el in comp.elements], dtype=float)
    mean = np.nansum(props * w[:, None], axis=0) / np.maximum(np.sum(w[:, None] * ~np.isnan(props), axis=0), 1e-12)
    with np.errstate(all="ignore"):
        mn, mx = np.nanmin(props, axis=0), np.nanmax(props, axis=0)
    mass = float(np.sum(w * props[:, _PROPS.index("atomic_mass")]))
    return np.concatenate([mean, mn, mx, [1.0 / math.sqrt(mass), math.log(mass), len(comp.elements)]])


def split_ids(ids: Sequence[str], test_fraction: float = 0.3) -> tuple[list[str], list[str]]:
    """Deterministic split by the SHA-256 of each id (stable when the set grows)."""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be in (0, 1)")
    ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    n_test = max(1, int(round(len(ranked) * test_fraction)))
    test = set(ranked[:n_test])
    return [i for i in ids if i not in test], [i for i in ids if i in test]


@dataclass
class ThetaRegressor:
    """A CLOUD-DEBYE head (``cloud_core.debye.DebyeHead``, linear) over standardised composition features."""

    mean: np.ndarray
    std: np.ndarray
    head: Any

    def predict(self, features: np.ndarray) -> np.ndarray:
        import torch

        x = torch.tensor(np.nan_to_num((features - self.mean) / self.std), dtype=torch.float64)
        self.head.eval()
        with torch.no_grad():
            return self.head(x).numpy()


def fit_theta_regressor(
    features: np.ndarray, cv_at_train_t: np.ndarray, *, train_t: float = TRAIN_TEMPERATURE,
    weight_decay: float = 1e-3, steps: int = 2000, seed: int = 0,
) -> ThetaRegressor:
    """Train a linear ``DebyeHead`` on Cv at ``train_t`` only, through the Debye layer (``thermo_loss``, L1)."""
    import torch

    from cloud_core.debye.head import DebyeHead, thermo_loss

    x = np.asarray(features, dtype=float)
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std[~np.isfinite(std) | (std < 1e-12)] = 1.0
    mean[~np.isfinite(mean)] = 0.0
    xs = torch.tensor(np.nan_to_num((x - mean) / std), dtype=torch.float64)
    y = torch.tensor(np.asarray(cv_at_train_t, dtype=float), dtype=torch.float64)
    torch.manual_seed(seed)
    head = DebyeHead(xs.shape[1], hidden=0, dropout=0.0).double()
    opt = torch.optim.Adam(head.parameters(), lr=0.02, weight_decay=weight_decay)
    head.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = thermo_loss(head(xs), y, quantity="cv", temp_K=float(train_t))
        loss.backward()
        opt.step()
    return ThetaRegressor(mean=mean, std=std, head=head)


def cloud_embeddings(structures_json: Sequence[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """CLOUD embeddings and the shipped Debye head's theta (K) of relaxed structures, via their SCOPE strings.

    Returns ``(embeddings [N, D], theta_shipped [N], model_id)``; raises if the checkpoint or a SCOPE string
    is unavailable (the evaluation then reports the CLOUD rows as unavailable).
    """
    from pymatgen.core import Structure

    from cloud_core.model.predictor import Predictor
    from cloud_core.scope import encode

    scopes = [encode(Structure.from_str(sj, fmt="json")).to_string() for sj in structures_json]
    pred = Predictor.from_checkpoint(None, device="cpu", threads=1)
    table = pred.predict(scopes, embeddings=True)
    emb = np.array(table.column("embedding").to_pylist(), dtype=float)
    theta = np.asarray(table.column("theta_K").to_pylist(), dtype=float)
    return emb, theta, pred.model_id


def _curves(theta: np.ndarray, temps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from cloud_core.debye import debye_cv, debye_u

    th = torch.tensor(np.asarray(theta, dtype=float)[:, None], dtype=torch.float64)
    tt = torch.tensor(np.asarray(temps, dtype=float)[None, :], dtype=torch.float64)
    with torch.no_grad():
        return debye_cv(th, tt).numpy(), debye_u(th, tt).numpy()


def evaluate_zero_shot(
    reference: Path | str,
    *,
    test_fraction: float = 0.3,
    temperatures: Sequence[float] = EVAL_TEMPERATURES,
    steps: int = 2000,
    use_cloud: bool = True,
) -> dict[str, Any]:
    """Train on Cv(300 K) of one split, report MAE of Cv(T) and U(T) per temperature on the other.

    Materials flagged dynamically unstable or without a Debye fit are left out (their phonon curves sum only the
    real modes). ``steps``: optimiser steps of each Debye head; ``use_cloud``: also evaluate the shipped CLOUD
    checkpoint (embeddings + its own head). Returns a JSON-ready dict.
    """
    tab = pq.read_table(reference).to_pylist()
    rows = [r for r in tab if r["dynamically_stable"] and r["debye_theta_fit_K"] is not None]
    if len(rows) < 10:
        raise ValueError(f"need >= 10 stable reference materials, got {len(rows)}")
    temps = np.asarray(temperatures, dtype=float)
    grid = np.asarray(rows[0]["temperatures_K"], dtype=float)

    def at(r: dict[str, Any], key: str, ts: np.ndarray) -> np.ndarray:
        g = np.asarray(r["temperatures_K"], dtype=float)
        if g.shape != grid.shape or not np.allclose(g, grid):
            raise ValueError(f"{r['id']}: temperature grid differs from the rest")
        return np.interp(ts, g, np.asarray(r[key], dtype=float))

    for t in (*temps, TRAIN_TEMPERATURE):
        if not grid.min() <= t <= grid.max():
            raise ValueError(f"temperature {t} K outside the reference grid {grid.min()}-{grid.max()} K")

    train_ids, test_ids = split_ids([r["id"] for r in rows], test_fraction)
    by_id = {r["id"]: r for r in rows}
    train = [by_id[i] for i in train_ids]
    test = [by_id[i] for i in test_ids]
    cv300_train = np.array([at(r, "cv_J_per_molatom_K", np.array([TRAIN_TEMPERATURE]))[0] for r in train])
    cv300_test = np.array([at(r, "cv_J_per_molatom_K", np.array([TRAIN_TEMPERATURE]))[0] for r in test])
    theta_fit = np.array([r["debye_theta_fit_K"] for r in test], dtype=float)
    cv_true = np.array([at(r, "cv_J_per_molatom_K", temps) for r in test])
    u_true = np.array([at(r, "u_J_per_molatom", temps) for r in test])

    # predicted Debye temperatures of the test materials, one entry per row of the tables
    thetas: dict[str, np.ndarray] = {}
    f_train = np.array([composition_features(r["formula"]) for r in train])
    f_test = np.array([composition_features(r["formula"]) for r in test])
    thetas["debye_head_zero_shot"] = fit_theta_regressor(f_train, cv300_train, steps=steps).predict(f_test)
    cloud_note = "used" if use_cloud else "not requested"
    model_id = None
    try:
        if use_cloud:
            emb, theta_ship, model_id = cloud_embeddings([r["structure_json"] for r in train + test])
            n = len(train)
            head = fit_theta_regressor(emb[:n], cv300_train, steps=steps)
            thetas["cloud_embedding_debye_head"] = head.predict(emb[n:])
            thetas["cloud_shipped_theta"] = theta_ship[n:]
    except Exception as exc:  # no checkpoint / SCOPE failure: report, keep the other rows
        cloud_note = f"unavailable: {type(exc).__name__}: {exc}"
    thetas["debye_fitted_theta"] = theta_fit

    curves = {k: _curves(v, temps) for k, v in thetas.items()}
    cv_dp = np.full_like(cv_true, 3 * R_GAS)
    u_dp = np.broadcast_to(3 * R_GAS * temps, u_true.shape)

    def mae(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        return {f"{t:g}": float(v) for t, v in zip(temps, np.mean(np.abs(a - b), axis=0), strict=True)}

    cv300_mae = {
        k: float(np.mean(np.abs(_curves(v, np.array([TRAIN_TEMPERATURE]))[0][:, 0] - cv300_test)))
        for k, v in thetas.items()
    }
    mae_cv = {k: mae(c[0], cv_true) for k, c in curves.items()}
    mae_u = {k: mae(c[1], u_true) for k, c in curves.items()}
    mae_cv["dulong_petit"] = mae(cv_dp, cv_true)
    mae_u["dulong_petit"] = mae(u_dp, u_true)
    return {
        "reference": str(reference),
        "reference_potential": rows[0]["potential_version"],
        "predictor": "cloud_core.debye.DebyeHead (linear, softplus theta) trained with thermo_loss on phonon Cv at "
        "300 K only, over composition features and (when the shipped checkpoint loads) over frozen CLOUD embeddings",
        "rows": {
            "debye_head_zero_shot": "DebyeHead on composition features, trained on Cv(300 K) of the train split",
            "cloud_embedding_debye_head": "DebyeHead on frozen embeddings of the shipped CLOUD checkpoint (SCOPE of "
            "the relaxed structure), trained on Cv(300 K) of the train split",
            "cloud_shipped_theta": "the shipped checkpoint's own Debye head (trained on its labels, not on these "
            "phonons)",
            "dulong_petit": "Cv = 3R, U = 3RT",
            "debye_fitted_theta": "Debye curves from each material's theta fitted to its phonon Cv over 20-300 K",
        },
        "n_reference": len(tab),
        "n_stable_used": len(rows),
        "n_train": len(train),
        "n_test": len(test),
        "split": f"sha256(id) order, test fraction {test_fraction}",
        "temperatures_K": [float(t) for t in temps],
        "units": {"cv": "J/(mol K) per mole of atoms", "u": "J/mol per mole of atoms (zero-point included)"},
        "cloud_checkpoint": cloud_note,
        "cloud_model_id": model_id,
        "mae_cv": mae_cv,
        "mae_u": mae_u,
        "cv300_test_mae": cv300_mae,
        "theta_test_mae_vs_fit_K": {k: float(np.mean(np.abs(v - theta_fit))) for k, v in thetas.items()},
        "test_ids": test_ids,
    }


def format_table(result: dict[str, Any]) -> str:
    """The two MAE tables (Cv, U) as plain text."""
    temps = [f"{t:g}" for t in result["temperatures_K"]]
    out = []
    for key, unit in (("mae_cv", "J/(mol K)"), ("mae_u", "J/mol")):
        out.append(f"{key} [{unit}] n_test={result['n_test']}")
        out.append(f"{'row':<28}" + "".join(f"{t + ' K':>10}" for t in temps))
        for row in (*ROWS, *CLOUD_ROWS):
            if row not in result[key]:
                continue
            vals = result[key][row]
            out.append(f"{row:<28}" + "".join(f"{vals[t]:>10.2f}" if key == "mae_cv" else f"{vals[t]:>10.0f}" for t in temps))
        out.append("")
    return "\n".join(out)


def write_zero_shot(reference: Path | str, out: Path | str, **kwargs: Any) -> dict[str, Any]:
    """Run :func:`evaluate_zero_shot` and write its JSON (atomically)."""
    result = evaluate_zero_shot(reference, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    return result
