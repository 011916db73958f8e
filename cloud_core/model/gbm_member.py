"""The declared gradient-boosting member of a CLOUD checkpoint: composition-only LightGBM, blended per target.

Why it exists. On this project's CPU budget (2 cores, minutes per training) the transformer alone does not
reach the accuracy of gradient boosting on composition features, the strongest simple baseline; a materials
scientist would rather have the better number. A checkpoint may therefore carry, next to the network, one
LightGBM model per target trained on :func:`cloud_core.composition.scope_features` (element fractions +
fraction-weighted Magpie statistics of the SCOPE string's stoichiometry section), and the Predictor returns

    value = w * gbm + (1 - w) * network                      (per target; w in [0, 1])
    sigma = s * sqrt(sigma_network^2 + (gbm - network)^2)    (the members' disagreement as epistemic term)

with ``w`` chosen on the validation split (lowest MAE over a grid) and ``s`` fitted there to a 68% coverage.
The Debye temperature is blended in ``ln theta`` (the member is trained on ``ln theta``), so it stays positive;
non-negative targets (band gap, thermal expansion) are floored at 0. The member sees composition only, so it
cannot tell polymorphs apart: the network's structure tokens are the only structure signal. Whether a
checkpoint has the member is declared in its config (``provenance.gbm_member``) and ablated in the model card
(network alone, member alone, blend; same folds).

Files: ``<checkpoint>/gbm/<target>.txt.gz`` (LightGBM's text format, gzipped: loading never unpickles) and
``<checkpoint>/gbm/blend.json``; both enter the model id (:func:`cloud_core.model.checkpoint.checkpoint_id`).
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

GBM_DIR = "gbm"
BLEND_FILE = "blend.json"
#: LightGBM settings of the member (one thread: the machine is shared; early stopping on the validation rows)
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "l1",
    "learning_rate": 0.1,
    "num_leaves": 63,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "num_threads": 1,
    "verbose": -1,
    "seed": 0,
}


@dataclass
class Blend:
    """How one target's member is blended with the network (see the module docstring)."""

    target: str  # the checkpoint's target name
    column: str  # the Predictor's output column (theta_K for the Debye target)
    weight: float  # w of the member
    log_space: bool  # blend in ln(value) (Debye temperature)
    floor: float | None  # lower bound of the blended value (non-negative targets)
    std_scale: float = 1.0
    n_trees: int = 0
    val_mae_network: float = math.nan
    val_mae_member: float = math.nan
    val_mae_blend: float = math.nan


def _lgb():
    try:
        import lightgbm
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise RuntimeError("this checkpoint has a gradient-boosting member: install lightgbm") from exc
    return lightgbm


def features(scopes: list[str]) -> np.ndarray:
    """The member's input: composition features of SCOPE strings (float32)."""
    from cloud_core.composition import scope_features

    x, _ = scope_features(scopes)
    return x.astype(np.float32)


def fit_member(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    max_trees: int = 3000,
    patience: int = 50,
    params: dict[str, Any] | None = None,
):
    """One LightGBM regressor with early stopping on the validation rows; returns the booster."""
    lgb = _lgb()
    p = {**DEFAULT_PARAMS, **(params or {})}
    dtrain = lgb.Dataset(x_train, y_train, free_raw_data=True)
    dval = lgb.Dataset(x_val, y_val, reference=dtrain)
    return lgb.train(
        p, dtrain, num_boost_round=max_trees, valid_sets=[dval],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
    )  # fmt: skip


def choose_weight(member: np.ndarray, network: np.ndarray, y: np.ndarray) -> float:
    """The member's weight w in {0, 0.05, ..., 1} with the lowest validation MAE."""
    grid = np.linspace(0.0, 1.0, 21)
    maes = [np.abs(w * member + (1 - w) * network - y).mean() for w in grid]
    return float(grid[int(np.argmin(maes))])


def combine(
    blend: Blend, member: np.ndarray, network: np.ndarray, network_std: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Blended values (in the target's units) and standard deviations; ``member`` is in the blend space."""
    if blend.log_space:
        net = np.log(np.clip(network, 1e-6, None))
        net_std = None if network_std is None else network_std / np.clip(network, 1e-6, None)
    else:
        net, net_std = network, network_std
    mixed = blend.weight * member + (1.0 - blend.weight) * net
    std = None
    if net_std is not None:
        std = blend.std_scale * np.sqrt(net_std**2 + (member - net) ** 2)
    if blend.log_space:
        mixed = np.exp(mixed)
        std = None if std is None else std * mixed
    if blend.floor is not None:
        mixed = np.maximum(mixed, blend.floor)
    return mixed, std


class GbmMembers:
    """The boosters and blends of one checkpoint; :meth:`apply` turns network outputs into blended ones."""

    def __init__(self, boosters: dict[str, Any], blends: dict[str, Blend]) -> None:
        self.boosters = boosters
        self.blends = blends

    @classmethod
    def load(cls, checkpoint: str | Path) -> GbmMembers | None:
        """The members of a checkpoint directory, or ``None`` when it has none."""
        d = Path(checkpoint) / GBM_DIR
        if not (d / BLEND_FILE).is_file():
            return None
        lgb = _lgb()
        raw = json.loads((d / BLEND_FILE).read_text())
        blends = {b["target"]: Blend(**b) for b in raw["blends"]}
        boosters = {
            t: lgb.Booster(model_str=gzip.decompress((d / f"{t}.txt.gz").read_bytes()).decode()) for t in blends
        }
        return cls(boosters, blends)

    def save(self, checkpoint: str | Path) -> None:
        d = Path(checkpoint) / GBM_DIR
        d.mkdir(parents=True, exist_ok=True)
        for t, booster in self.boosters.items():  # gzip: LightGBM's text is ~5x larger
            data = gzip.compress(booster.model_to_string().encode(), compresslevel=9, mtime=0)
            (d / f"{t}.txt.gz").write_bytes(data)
        doc = {"features": "cloud_core.composition.scope_features (magpie.csv)",
               "blends": [asdict(b) for b in self.blends.values()]}  # fmt: skip
        (d / BLEND_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")

    def member_predictions(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's raw prediction (in its blend space) for a feature matrix."""
        return {t: b.predict(x, num_threads=1).astype(np.float64) for t, b in self.boosters.items()}

    def apply(self, columns: dict[str, np.ndarray], scopes: list[str]) -> dict[str, np.ndarray]:
        """Blend the network's output ``columns`` (values and ``*_std``) for ``scopes``; returns new columns."""
        if not scopes:
            return columns
        out = dict(columns)
        member = self.member_predictions(features(list(scopes)))
        for t, blend in self.blends.items():
            col = blend.column
            value, std = combine(blend, member[t], columns[col], columns.get(f"{col}_std"))
            out[col] = value
            if std is not None:
                out[f"{col}_std"] = std
        return out
