"""The Debye fit over 20-300 K recovers the Debye temperature of a Debye curve, and refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest

from screening.phonons.debye_fit import debye_cv_curve, fit_debye_temperature


@pytest.mark.parametrize("theta", [60.0, 345.0, 1800.0])
def test_fit_recovers_theta_of_a_debye_curve(theta):
    t = np.arange(10.0, 1001.0, 10.0)
    fit = fit_debye_temperature(t, debye_cv_curve(theta, t))
    assert fit.theta == pytest.approx(theta, rel=1e-4)
    assert fit.rmse < 1e-3
    assert fit.n_points == 29


def test_fit_is_least_squares_on_noisy_data():
    rng = np.random.default_rng(0)
    t = np.arange(20.0, 301.0, 5.0)
    cv = debye_cv_curve(500.0, t) + rng.normal(0, 0.1, t.size)
    assert fit_debye_temperature(t, cv).theta == pytest.approx(500.0, rel=0.02)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match=">= 3 temperatures"):
        fit_debye_temperature(np.array([300.0, 400.0]), np.array([20.0, 21.0]))
    with pytest.raises(ValueError, match="shape"):
        fit_debye_temperature(np.arange(20.0, 300.0, 10.0), np.ones(3))
    with pytest.raises(ValueError, match="search bound"):
        fit_debye_temperature(np.arange(20.0, 301.0, 10.0), np.full(29, 1e-3))
    with pytest.raises(ValueError, match="non-finite"):
        fit_debye_temperature(np.array([20.0, 50.0, 100.0]), np.array([1.0, np.nan, 3.0]))
