"""Baselines on composition only: a dummy (training mean), ridge regression on element-fraction vectors, and
gradient boosting (LightGBM) on composition features (element fractions + fraction-weighted Magpie statistics,
:mod:`cloud_core.composition`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud_core.composition import element_fractions, scope_features
from cloud_core.composition.properties import N_Z

__all__ = [
    "N_ELEMENTS",
    "DummyRegressor",
    "GradientBoostingRegressor",
    "RidgeRegressor",
    "element_fractions",
    "regression_metrics",
    "scope_features",
]

N_ELEMENTS = N_Z  # element-fraction vector length: one slot per Z = 1..118


@dataclass
class DummyRegressor:
    """Predicts the training mean."""

    mean_: float = float("nan")

    def fit(self, x: np.ndarray, y: np.ndarray) -> DummyRegressor:
        y = np.asarray(y, dtype=float)
        if y.size == 0:
            raise ValueError("cannot fit on an empty training set")
        self.mean_ = float(y.mean())
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.mean_)


@dataclass
class RidgeRegressor:
    """Ridge regression with an intercept; ``alpha`` picked from ``alphas`` on a seeded 10% hold-out, then refit.

    Solved in closed form (``(X'X + alpha I) w = X'y`` on centred data), so it is exact and fast for the
    118-dimensional element-fraction features.
    """

    alphas: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
    seed: int = 0
    alpha_: float = float("nan")
    coef_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept_: float = 0.0

    @staticmethod
    def _solve(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
        xm, ym = x.mean(axis=0), y.mean()
        xc = x - xm
        a = xc.T @ xc + alpha * np.eye(x.shape[1])
        w = np.linalg.solve(a, xc.T @ (y - ym))
        return w, float(ym - xm @ w)

    def fit(self, x: np.ndarray, y: np.ndarray) -> RidgeRegressor:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) != len(y) or len(y) < 2:
            raise ValueError(f"need matching x/y with >= 2 rows, got {len(x)} and {len(y)}")
        rng = np.random.default_rng(self.seed)
        idx = rng.permutation(len(y))
        n_val = max(1, len(y) // 10)
        val, tr = idx[:n_val], idx[n_val:]
        best = (np.inf, self.alphas[0])
        for alpha in self.alphas:
            w, b = self._solve(x[tr], y[tr], alpha)
            err = float(np.abs(x[val] @ w + b - y[val]).mean())
            if err < best[0]:
                best = (err, alpha)
        self.alpha_ = float(best[1])
        self.coef_, self.intercept_ = self._solve(x, y, self.alpha_)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float) @ self.coef_ + self.intercept_


@dataclass
class GradientBoostingRegressor:
    """LightGBM gradient boosting with early stopping on a seeded 10% hold-out of the training rows.

    The number of trees is chosen on the hold-out (L1 metric, stop after ``patience`` rounds without
    improvement); the model fitted on the other 90% is kept (no refit, to halve the cost). One thread by
    default: the machine is shared. Missing features (NaN) are handled natively.
    """

    n_estimators: int = 3000
    learning_rate: float = 0.1
    num_leaves: int = 63
    objective: str = "regression"
    patience: int = 50
    val_fraction: float = 0.1
    seed: int = 0
    threads: int = 1
    best_iteration_: int = 0
    model_: Any = None

    def params(self) -> dict[str, Any]:
        """The hyper-parameters (for metrics files)."""
        return {
            "library": "lightgbm",
            "n_estimators_max": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "objective": self.objective,
            "early_stopping_rounds": self.patience,
            "val_fraction": self.val_fraction,
            "threads": self.threads,
        }

    def fit(self, x: np.ndarray, y: np.ndarray) -> GradientBoostingRegressor:
        import lightgbm as lgb

        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) != len(y) or len(y) < 10:
            raise ValueError(f"need matching x/y with >= 10 rows, got {len(x)} and {len(y)}")
        idx = np.random.default_rng(self.seed).permutation(len(y))
        n_val = max(1, int(len(y) * self.val_fraction))
        val, tr = idx[:n_val], idx[n_val:]
        params = {
            "objective": self.objective,
            "metric": "l1",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "num_threads": self.threads,
            "seed": self.seed,
            "deterministic": True,
            "verbose": -1,
        }
        train = lgb.Dataset(x[tr], y[tr])
        self.model_ = lgb.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[lgb.Dataset(x[val], y[val], reference=train)],
            callbacks=[lgb.early_stopping(self.patience, verbose=False)],
        )
        self.best_iteration_ = int(self.model_.best_iteration or self.n_estimators)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model_ is None:
            raise RuntimeError("fit the model first")
        return np.asarray(self.model_.predict(np.asarray(x, dtype=float), num_iteration=self.best_iteration_))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R^2 (R^2 is NaN when the targets are constant)."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"shapes {y_true.shape} and {y_pred.shape} must match and be non-empty")
    err = y_pred - y_true
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1.0 - (err**2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
        "n": int(y_true.size),
    }
