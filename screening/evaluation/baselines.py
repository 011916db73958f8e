"""Baselines on composition only: a dummy (training mean) and ridge regression on element-fraction vectors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from screening.evaluation.folds import scope_stoichiometry

N_ELEMENTS = 118  # element-fraction vector length: one slot per Z = 1..118


@cache
def _z(symbol: str) -> int:
    from pymatgen.core import Element

    return Element(symbol).Z


def element_fractions(scopes: Iterable[str]) -> np.ndarray:
    """``(n, 118)`` float64 matrix of atomic fractions (column ``Z-1``) from SCOPE strings' stoichiometry."""
    rows: list[np.ndarray] = []
    for s in scopes:
        v = np.zeros(N_ELEMENTS)
        for el, n in scope_stoichiometry(s):
            v[_z(el) - 1] += n
        total = v.sum()
        if total <= 0:
            raise ValueError(f"empty stoichiometry in {s!r}")
        rows.append(v / total)
    return np.vstack(rows) if rows else np.zeros((0, N_ELEMENTS))


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
