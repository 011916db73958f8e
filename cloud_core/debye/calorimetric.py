"""The *calorimetric* Debye temperature: the theta whose Debye curve best fits measured heat capacities.

Kept apart from the elastic one (:mod:`.elastic`): for real solids the best-fit theta depends on the
temperature range fitted, and differs from the sound-velocity value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from cloud_core.debye.thermo import debye_cv

CALORIMETRIC_THETA_KEY = "theta_calorimetric_K"
"""Column name of a fitted (calorimetric) Debye temperature in label tables."""


def fit_theta_calorimetric(
    temps_K: object,
    cv_J_per_molatom_K: object,
    *,
    bounds_K: tuple[float, float] = (1.0, 1.0e5),
) -> float:
    """Least-squares Debye temperature (K) of a heat-capacity curve per mole of atoms.

    Parameters
    ----------
    temps_K
        Temperatures in K (> 0), at least one.
    cv_J_per_molatom_K
        Heat capacities at those temperatures in J/(mol K) per mole of atoms.
    bounds_K
        Search interval for theta.

    Returns
    -------
    float
        The theta minimising ``sum (Cv_Debye(theta, T) - Cv)**2`` (a log-grid scan, then bounded Brent).
    """
    from scipy.optimize import minimize_scalar

    t = np.asarray(temps_K, dtype=np.float64).reshape(-1)
    cv = np.asarray(cv_J_per_molatom_K, dtype=np.float64).reshape(-1)
    if t.size == 0 or t.shape != cv.shape:
        raise ValueError(f"need matching non-empty temps and cv, got {t.shape} and {cv.shape}")
    if not (np.all(np.isfinite(t)) and np.all(t > 0) and np.all(np.isfinite(cv))):
        raise ValueError("temps must be finite and > 0 K, cv finite")
    lo, hi = math.log(bounds_K[0]), math.log(bounds_K[1])
    tt = torch.from_numpy(t)
    target = torch.from_numpy(cv)

    def loss(log_theta: np.ndarray) -> np.ndarray:
        theta = torch.from_numpy(np.exp(np.atleast_1d(log_theta)))
        model = debye_cv(theta[:, None], tt[None, :])
        return ((model - target) ** 2).sum(dim=1).numpy()

    grid = np.linspace(lo, hi, 200)
    best = int(np.argmin(loss(grid)))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    res = minimize_scalar(
        lambda v: float(loss(np.array([v]))[0]), bounds=(a, b), method="bounded", options={"xatol": 1e-10}
    )
    return float(math.exp(res.x))
