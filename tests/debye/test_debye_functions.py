"""Debye layer: accuracy against scipy quad, limits, thermodynamic consistency, gradients, float32 safety."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from cloud_core.debye import (
    PER_ATOM_KEYS,
    PER_CELL_KEYS,
    R_GAS,
    DebyeKey,
    debye_cv,
    debye_d3,
    debye_f,
    debye_s,
    debye_u,
    thermo,
)

THETA = 400.0
X_GRID = np.logspace(-4, 4, 161)  # the range, x = theta / T


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread (two threads on a shared, loaded CPU spin and run 10-50x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _i3(t: float) -> float:
    """t^3 / (e^t - 1) in its e^-t form (no overflow at any t)."""
    return t**3 * math.exp(-t) / -math.expm1(-t) if t > 0 else 0.0


def _i4(t: float) -> float:
    """t^4 e^t / (e^t - 1)^2 in its e^-t form."""
    return t**4 * math.exp(-t) / math.expm1(-t) ** 2 if t > 0 else 0.0


def _integral(f, x: float) -> float:
    """int_0^x f, split so quad sees the peak (near t = 3-4) and the exponentially small rest."""
    pieces = [0.0, min(x, 1.0), min(x, 10.0), min(x, 60.0), x]
    return sum(
        quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0]
        for a, b in zip(pieces[:-1], pieces[1:], strict=True)
        if b > a
    )


def _reference(x: float) -> dict[str, float]:
    """Cv, U, S, F per mole of atoms at theta = THETA, T = THETA / x, from quadrature (float64)."""
    temp = THETA / x
    d3 = 3.0 * _integral(_i3, x) / x**3
    log1mq = math.log(-math.expm1(-x))
    cv = 9.0 * R_GAS * _integral(_i4, x) / x**3
    u0 = 9.0 / 8.0 * R_GAS * THETA
    u = u0 + 3.0 * R_GAS * temp * d3
    s = R_GAS * (4.0 * d3 - 3.0 * log1mq)
    thermal_f = R_GAS * temp * (3.0 * log1mq - d3)
    return {"d3": d3, "cv": cv, "u": u, "s": s, "f": u0 + thermal_f, "f_scale": abs(u0) + abs(thermal_f)}


@pytest.fixture(scope="module")
def reference_f64() -> dict[str, np.ndarray]:
    rows = [_reference(float(x)) for x in X_GRID]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def test_reference_integrands_reach_the_analytic_tails():
    # the e^-x integrands integrate to pi^4/15 and 4 pi^4/15 on [0, inf): the reference itself is sound
    assert quad(_i3, 0, np.inf, epsabs=0, epsrel=1e-13)[0] == pytest.approx(math.pi**4 / 15, rel=1e-12)
    assert quad(_i4, 0, np.inf, epsabs=0, epsrel=1e-13)[0] == pytest.approx(4 * math.pi**4 / 15, rel=1e-12)
    assert _integral(_i3, 1e4) == pytest.approx(math.pi**4 / 15, rel=1e-13)
    assert _integral(_i4, 1e4) == pytest.approx(4 * math.pi**4 / 15, rel=1e-13)


@pytest.mark.parametrize("path", ["autograd", "blocked"])
def test_float64_matches_quad_to_1e10(reference_f64, path):
    theta = torch.tensor([THETA], dtype=torch.float64, requires_grad=path == "autograd")
    temps = torch.tensor(THETA / X_GRID, dtype=torch.float64)
    res = {k: v.detach()[0].numpy() for k, v in thermo(theta, temps, block_elements=64).items()}
    d3 = debye_d3(torch.tensor(X_GRID)).numpy()
    np.testing.assert_allclose(d3, reference_f64["d3"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res[DebyeKey.CV_ATOM], reference_f64["cv"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res[DebyeKey.U_ATOM], reference_f64["u"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res[DebyeKey.S_ATOM], reference_f64["s"], rtol=1e-10, atol=0)
    # F = U0 + (thermal part) changes sign: relative to the size of its two parts
    np.testing.assert_array_less(
        np.abs(res[DebyeKey.F_ATOM] - reference_f64["f"]), 1e-10 * reference_f64["f_scale"]
    )


@pytest.mark.parametrize("path", ["autograd", "blocked"])
def test_float32_matches_quad_to_1e5(path):
    temps32 = torch.tensor(THETA / X_GRID, dtype=torch.float32)
    x_exact = THETA / temps32.double().numpy()  # the float32 temperatures, exactly
    ref = [_reference(float(x)) for x in x_exact]
    theta = torch.tensor([THETA], dtype=torch.float32, requires_grad=path == "autograd")
    res = {k: v.detach()[0].double().numpy() for k, v in thermo(theta, temps32, block_elements=64).items()}
    for key, name in zip(PER_ATOM_KEYS[:3], ("cv", "u", "s"), strict=True):
        np.testing.assert_allclose(res[key], [r[name] for r in ref], rtol=1e-5, atol=0, err_msg=str(key))
    f_err = np.abs(res[DebyeKey.F_ATOM] - [r["f"] for r in ref])
    np.testing.assert_array_less(f_err, 1e-5 * np.array([r["f_scale"] for r in ref]))
    d3 = debye_d3(torch.tensor(x_exact, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(d3, [r["d3"] for r in ref], rtol=1e-5, atol=0)


def test_limits_dulong_petit_t3_law_and_zero_point():
    theta = torch.tensor([THETA], dtype=torch.float64)
    # Dulong-Petit: Cv -> 3R, with the known correction 3R (1 - x^2/20)
    x = 1e-4
    cv_hot = debye_cv(theta, theta / x)
    assert float(cv_hot) == pytest.approx(3 * R_GAS * (1 - x**2 / 20), rel=1e-14)
    assert float(debye_cv(theta, torch.tensor(1e12, dtype=torch.float64))) == pytest.approx(
        3 * R_GAS, rel=1e-15
    )
    # T^3 law: Cv = (12 pi^4 / 5) R (T / theta)^3 once e^-x is negligible
    temps = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    expected = 12 * math.pi**4 / 5 * R_GAS * (temps / THETA) ** 3
    torch.testing.assert_close(debye_cv(theta, temps), expected, rtol=1e-12, atol=0)
    # exact at T = 0: Cv = S = 0, U = F = 9/8 R theta
    res = thermo(torch.tensor([THETA, 1234.5], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64))
    assert res[DebyeKey.CV_ATOM].eq(0).all() and res[DebyeKey.S_ATOM].eq(0).all()
    zero_point = 9 / 8 * R_GAS * torch.tensor([[THETA], [1234.5]], dtype=torch.float64)
    assert torch.equal(res[DebyeKey.U_ATOM], zero_point) and torch.equal(res[DebyeKey.F_ATOM], zero_point)
    # D3 limits
    assert float(debye_d3(torch.tensor(0.0, dtype=torch.float64))) == 1.0
    assert float(debye_d3(torch.tensor(math.inf, dtype=torch.float64))) == 0.0
    assert float(debye_d3(torch.tensor(1e4, dtype=torch.float64))) == pytest.approx(
        math.pi**4 / 5e12, rel=1e-15
    )


def test_cv_is_du_dt_and_s_is_minus_df_dt_by_autograd():
    theta = torch.tensor([THETA], dtype=torch.float64)
    temps = torch.tensor(THETA / np.logspace(-3, 2.5, 60), dtype=torch.float64, requires_grad=True)
    (du_dt,) = torch.autograd.grad(debye_u(theta, temps).sum(), temps)
    torch.testing.assert_close(du_dt, debye_cv(theta, temps.detach()), rtol=1e-10, atol=0)
    (df_dt,) = torch.autograd.grad(debye_f(theta, temps).sum(), temps)
    torch.testing.assert_close(-df_dt, debye_s(theta, temps.detach()), rtol=1e-10, atol=0)
    # second order: Cv = -T d2F/dT2 (the custom-free autograd path supports it)
    (df,) = torch.autograd.grad(debye_f(theta, temps).sum(), temps, create_graph=True)
    (d2f,) = torch.autograd.grad(df.sum(), temps)
    torch.testing.assert_close(-temps.detach() * d2f, debye_cv(theta, temps.detach()), rtol=1e-9, atol=0)


def test_entropy_is_the_integral_of_cv_over_t():
    theta = torch.tensor(THETA, dtype=torch.float64)

    def cv_over_t(t: float) -> float:
        return float(debye_cv(theta, torch.tensor(t, dtype=torch.float64))) / t if t > 0 else 0.0

    for temp in (20.0, 150.0, 400.0, 2000.0):
        pieces = [0.0, min(temp, 40.0), temp]
        s_int = sum(
            quad(cv_over_t, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
            for a, b in zip(pieces[:-1], pieces[1:], strict=True)
        )
        assert float(debye_s(theta, torch.tensor(temp, dtype=torch.float64))) == pytest.approx(
            s_int, rel=1e-10
        )


def test_gradcheck_in_theta():
    # every regime of x = theta / T (series, split at 3, exponential form, T = 0); T kept moderate so that the
    # finite differences resolve the derivatives
    temps = torch.tensor([0.0, 1.0, 40.0, 130.0, 140.0, 300.0, 3000.0], dtype=torch.float64)
    theta = torch.tensor([45.0, 402.0, 1900.0], dtype=torch.float64, requires_grad=True)
    for fn in (debye_cv, debye_u, debye_s, debye_f):

        def f(th, fn=fn):
            return fn(th[:, None], temps[None, :])

        assert torch.autograd.gradcheck(f, (theta,), eps=1e-5, atol=1e-6, rtol=1e-5)
        if fn is debye_f:  # second order once (Cv = -T d2F/dT2 is checked above)
            assert torch.autograd.gradgradcheck(f, (theta,), eps=1e-5, atol=1e-5, rtol=1e-4)
    # the T = 0 column: dU/dtheta = 9/8 R exactly, dCv/dtheta = 0
    (g,) = torch.autograd.grad(debye_u(theta, torch.zeros(3, dtype=torch.float64)).sum(), theta)
    torch.testing.assert_close(g, torch.full_like(theta, 9 / 8 * R_GAS))


def test_float32_has_no_nan_or_inf_anywhere_values_and_gradients():
    thetas = torch.tensor([1e-6, 1e-3, 1.0, 87.0, 95.0, 400.0, 1e4, 1e8, 1e30], dtype=torch.float32)
    temps = torch.tensor([0.0, 1e-30, 1e-6, 1.0, 4.5, 300.0, 1e4, 1e8, 1e30], dtype=torch.float32)
    n_atoms = torch.tensor([1, 2, 3, 4, 5, 6, 7, 8, float("nan")])
    for requires_grad in (False, True):
        th = thetas.clone().requires_grad_(requires_grad)
        res = thermo(th, temps, n_atoms)
        for key in PER_ATOM_KEYS:
            assert torch.isfinite(res[key]).all(), key
        for key in PER_CELL_KEYS:
            assert torch.isfinite(res[key][:-1]).all() and res[key][-1].isnan().all(), key
        if requires_grad:
            # gradients too, up to T = 1e8 K (at T = 1e30 K, dF/dtheta's intermediate R T / x overflows float32)
            total = sum(res[k][:, :-1].sum() for k in PER_ATOM_KEYS)
            (g,) = torch.autograd.grad(total, th)
            assert torch.isfinite(g).all()
    x = torch.tensor([0.0, 1e-38, 1e-4, 0.69, 3.0, 17.0, 88.0, 104.0, 1e4, 1e30, math.inf])
    assert torch.isfinite(debye_d3(x)).all()


def test_blocked_path_equals_autograd_path():
    gen = torch.Generator().manual_seed(0)
    theta = torch.rand(300, generator=gen, dtype=torch.float64) * 1500 + 20
    temps = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-1, 4, 40, dtype=torch.float64)])
    slow = thermo(theta.clone().requires_grad_(True), temps)
    fast = thermo(theta, temps, block_elements=1000)
    for key in PER_ATOM_KEYS:
        scale = slow[key].detach().abs() + 9 / 8 * R_GAS * theta[:, None]
        assert ((fast[key] - slow[key].detach()).abs() <= 1e-13 * scale).all(), key


def test_shapes_dtypes_and_per_cell():
    res = thermo(torch.tensor([300.0, 500.0], dtype=torch.float64), [10.0, 300.0, 1000.0], n_atoms=[2, 5])
    assert set(res) == set(PER_ATOM_KEYS) | set(PER_CELL_KEYS)
    assert all(v.shape == (2, 3) and v.dtype == torch.float64 for v in res.values())
    torch.testing.assert_close(
        res[DebyeKey.CV_CELL], res[DebyeKey.CV_ATOM] * torch.tensor([[2.0], [5.0]], dtype=torch.float64)
    )
    assert set(thermo(300.0, [300.0])) == set(PER_ATOM_KEYS)  # no n_atoms: per-atom only
    half = thermo(torch.tensor([300.0], dtype=torch.bfloat16), torch.tensor([300.0], dtype=torch.bfloat16))
    assert half[DebyeKey.CV_ATOM].dtype == torch.bfloat16
    done = []
    thermo(
        torch.rand(50) * 500 + 10,
        torch.arange(8.0),
        progress=lambda a, b: done.append((a, b)),
        block_elements=80,
    )
    assert done[-1] == (50, 50) and len(done) == 5


@pytest.mark.parametrize(
    ("theta", "temps", "n_atoms", "match"),
    [
        ([-1.0], [300.0], None, "theta must be finite and > 0"),
        ([0.0], [300.0], None, "theta must be finite and > 0"),
        ([float("nan")], [300.0], None, "theta must be finite"),
        ([300.0], [-1.0], None, "temperatures must be finite and >= 0"),
        ([300.0], [float("inf")], None, "temperatures must be finite"),
        ([300.0, 400.0], [300.0], [1, 2, 3], "n_atoms has 3 entries"),
        ([300.0], [300.0], [0], "n_atoms must be > 0"),
        ([[300.0]], [300.0], None, "1-D"),
    ],
)
def test_bad_input_is_a_clear_error(theta, temps, n_atoms, match):
    with pytest.raises(ValueError, match=match):
        thermo(theta, temps, n_atoms)


def test_bad_d3_input():
    with pytest.raises(ValueError, match=">= 0"):
        debye_d3(torch.tensor([-1.0]))
    with pytest.raises(TypeError):
        thermo(torch.tensor([True]), [1.0])
