"""The Debye temperature that best fits a heat-capacity curve (least squares over a temperature window).

A fit at one temperature is ill-conditioned where Cv is close to Dulong-Petit (low Debye temperatures at 300 K),
so the fit uses the whole window, 20-300 K by default; the least squares is ``cloud_core.debye.fit_theta_calorimetric``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIT_T_MIN = 20.0
FIT_T_MAX = 300.0
THETA_BOUNDS = (5.0, 5000.0)


@dataclass(frozen=True, slots=True)
class DebyeFit:
    """Result of a Debye fit.

    Attributes
    ----------
    theta
        Best-fit Debye temperature (K).
    rmse
        Root-mean-square residual of Cv over the window, J/(mol K) per mole of atoms.
    n_points
        Temperatures used.
    """

    theta: float
    rmse: float
    n_points: int


def debye_cv_curve(theta: float, temperatures: np.ndarray) -> np.ndarray:
    """Debye Cv(T) per mole of atoms, J/(mol K), for one Debye temperature (float64)."""
    import torch

    from cloud_core.debye import debye_cv

    t = torch.as_tensor(np.asarray(temperatures, dtype=float), dtype=torch.float64)
    th = torch.tensor([float(theta)], dtype=torch.float64)
    with torch.no_grad():
        out = debye_cv(th, t)
    return np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out, dtype=float).reshape(-1)


def fit_debye_temperature(
    temperatures: np.ndarray,
    cv_per_atom: np.ndarray,
    *,
    t_min: float = FIT_T_MIN,
    t_max: float = FIT_T_MAX,
) -> DebyeFit:
    """Least-squares Debye temperature of a Cv(T) curve per mole of atoms.

    Parameters
    ----------
    temperatures
        Temperatures (K) of the curve.
    cv_per_atom
        Heat capacity at those temperatures, J/(mol K) per mole of atoms.
    t_min, t_max
        The fit window (inclusive), K.

    Raises
    ------
    ValueError
        If the arrays differ in shape, hold non-finite values, fewer than 3 temperatures lie in the window, or the
        best fit sits on a search bound (e.g. a dynamically unstable structure whose real modes hold little Cv).
    """
    t = np.asarray(temperatures, dtype=float).reshape(-1)
    cv = np.asarray(cv_per_atom, dtype=float).reshape(-1)
    if t.shape != cv.shape:
        raise ValueError(f"temperatures {t.shape} and cv {cv.shape} differ in shape")
    sel = (t >= t_min) & (t <= t_max)
    if sel.sum() < 3:
        raise ValueError(f"need >= 3 temperatures in [{t_min}, {t_max}] K for a Debye fit, got {int(sel.sum())}")
    t, cv = t[sel], cv[sel]
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(cv))):
        raise ValueError("non-finite values in the Cv curve")

    from cloud_core.debye import fit_theta_calorimetric

    theta = float(fit_theta_calorimetric(t, cv, bounds_K=THETA_BOUNDS))
    if theta <= THETA_BOUNDS[0] * 1.001 or theta >= THETA_BOUNDS[1] * 0.999:
        raise ValueError(
            f"best Debye fit at the search bound ({theta:.0f} K, bounds {THETA_BOUNDS} K): not a Debye-like curve"
        )
    rmse = float(np.sqrt(np.mean((debye_cv_curve(theta, t) - cv) ** 2)))
    return DebyeFit(theta=theta, rmse=rmse, n_points=int(t.size))
