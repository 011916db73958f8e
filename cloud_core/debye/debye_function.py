"""The Debye function D3 and the elementary pieces of Debye thermodynamics, in torch.

Everything here is a function of the reduced inverse temperature ``x = theta / T`` only:

* ``D3(x) = 3 / x**3 * integral_0^x t**3 / (e**t - 1) dt`` (the third-order Debye function),
* ``ln(1 - e**-x)`` and ``x / (e**x - 1)``,

from which heat capacity, energy, entropy and free energy follow in closed form (see :mod:`.thermo`)::

    Cv / R        = 12 D3(x) - 9 x / (e**x - 1)
    (U - U0) / RT = 3 D3(x)                        U0 = 9/8 R theta (zero-point energy)
    S / R         = 4 D3(x) - 3 ln(1 - e**-x)
    (F - U0) / RT = 3 ln(1 - e**-x) - D3(x)

Numerics (no quadrature, so nothing overflows and nothing depends on a grid):

* ``x <= X_SPLIT`` (= 3): the Maclaurin series ``D3 = 1 - 3x/8 + 3 sum_k B_2k x**2k / ((2k+3) (2k)!)``
  (radius of convergence 2 pi), evaluated by Horner in ``x**2``; its coefficients come from exact
  Bernoulli numbers (``fractions``) when the module is imported.
* ``x > X_SPLIT``: the exact exponential form ``D3 = pi**4 / (5 x**3) - 3 sum_{k>=1} e**(-kx) (1/k + 3/(k**2 x)
  + 6/(k**3 x**2) + 6/(k**4 x**3))``, written with ``q = e**-x`` and ``y = 1/x`` so that ``x = inf`` (T = 0)
  gives exactly 0 and no term ever overflows. The ``k``-sum is a polylogarithm: ``sum q**k/k = -ln(1-q)``
  is taken in closed form, the others as short polynomials in ``q <= e**-3``.
* ``ln(1 - e**-x)`` as ``log(-expm1(-x))`` and ``x / (e**x - 1)`` as ``x e**-x / (-expm1(-x))``: accurate
  from tiny to huge x, with no overflow in float32.

The number of series terms is chosen per dtype (float64: relative error ~1e-15; float32: ~1e-7), and both
branches see only inputs clamped to their own domain, so gradients (autograd, any order) stay finite.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache

import torch

X_SPLIT = 3.0
"""Below this ``x`` the Maclaurin series is used, above it the exponential (polylogarithm) form."""

PI4_OVER_5 = math.pi**4 / 5.0
"""``lim_{x->inf} x**3 D3(x) = pi**4 / 5`` (i.e. ``3 * pi**4 / 15``)."""

_LN2 = math.log(2.0)
_Q_SPLIT = math.exp(-X_SPLIT)
_LOG1MQ_SPLIT = math.log1p(-_Q_SPLIT)
# beyond these x, x e^-x is 0 in the dtype (cap x there so that x * e^-x never meets inf * 0)
_X_UNDERFLOW = {torch.float64: 800.0, torch.float32: 120.0}

# Terms per dtype: series terms in x**2 beyond the linear one, and polylogarithm terms in q = e**-x.
# Chosen (bench/debye_bench.py and tests/debye/) so that the truncation error is below the dtype's rounding.
# Measured truncation error at the split (x = 3) against mpmath: float64 series 22 terms 6e-16, polylog 10 terms
# 1e-15; float32 series 10 terms and polylog 4 terms reach float32 rounding (2e-7, 4e-7).
_N_SERIES = {torch.float64: 22, torch.float32: 10}
_N_POLYLOG = {torch.float64: 10, torch.float32: 4}


def _bernoulli_even(n: int) -> list[Fraction]:
    """Exact Bernoulli numbers ``B_0 .. B_{2n}`` of even index (``B_1 = -1/2`` convention not needed)."""
    size = 2 * n + 1
    b = [Fraction(0)] * size
    b[0] = Fraction(1)
    for m in range(1, size):
        # sum_{j=0}^{m} C(m+1, j) B_j = 0
        acc = Fraction(0)
        binom = 1
        for j in range(m):
            acc += binom * b[j]
            binom = binom * (m + 1 - j) // (j + 1)
        b[m] = -acc / (m + 1)
    return [b[2 * k] for k in range(n + 1)]


@cache
def series_coefficients(n_terms: int) -> tuple[float, ...]:
    """Coefficients ``a_k`` (k = 1..n_terms) of ``D3(x) = 1 - 3x/8 + sum_k a_k x**(2k)``.

    ``a_k = 3 B_2k / ((2k + 3) (2k)!)``, exact rationals rounded once to float64.
    """
    bern = _bernoulli_even(n_terms)
    out = []
    for k in range(1, n_terms + 1):
        out.append(float(3 * bern[k] / ((2 * k + 3) * math.factorial(2 * k))))
    return tuple(out)


def _n_terms(dtype: torch.dtype) -> tuple[int, int]:
    if dtype not in _N_SERIES:
        raise TypeError(f"Debye functions are computed in float32 or float64, got {dtype}")
    return _N_SERIES[dtype], _N_POLYLOG[dtype]


def _series_branch(x: torch.Tensor, n_series: int) -> torch.Tensor:
    """``D3`` by its Maclaurin series; ``x`` must already lie in ``[0, X_SPLIT]``."""
    coeffs = series_coefficients(n_series)
    u = x * x
    p = torch.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        p = p * u + c
    return 1.0 - 0.375 * x + p * u


def _exp_branch(x: torch.Tensor, q: torch.Tensor, log1mq: torch.Tensor, n_polylog: int) -> torch.Tensor:
    """``D3`` by its exponential form; ``x`` in ``[X_SPLIT, inf]``, ``q = e**-x``, ``log1mq = ln(1 - q)``."""
    y = x.reciprocal()
    # D3 = pi^4/5 y^3 + 3 ln(1-q) - 3 q sum_{k=1}^{N} q**(k-1) (3 y / k**2 + 6 y**2 / k**3 + 6 y**3 / k**4)
    a = 3.0 * y
    b = a * y
    c = b * y
    acc = None
    for k in range(n_polylog, 0, -1):
        term = a * (1.0 / k**2) + b * (2.0 / k**3) + c * (2.0 / k**4)
        acc = term if acc is None else acc * q + term
    return c * (PI4_OVER_5 / 3.0) + 3.0 * log1mq - 3.0 * q * acc


def debye_parts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(D3(x), ln(1 - e**-x), x / (e**x - 1))`` for ``x >= 0`` (``inf`` allowed), elementwise.

    Parameters
    ----------
    x
        Reduced inverse temperature ``theta / T``; float32 or float64, any shape, values in ``[0, inf]``.
        ``x`` is clamped below at the smallest normal number (so ``ln(1 - e**-x)`` stays finite at x = 0);
        ``x = inf`` gives the exact limits ``(0, 0, 0)``.

    Returns
    -------
    tuple of Tensor
        Three new tensors of the shape and dtype of ``x``. Differentiable (any order); every branch sees
        only inputs clamped to its own domain, so no gradient meets ``inf * 0``.

    See Also
    --------
    DebyeWorkspace : the same numbers, in place in reusable buffers (no autograd), for large grids.
    """
    if not torch.is_floating_point(x):
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    n_series, n_polylog = _n_terms(x.dtype)
    xc = x.clamp(min=torch.finfo(x.dtype).tiny)
    q = torch.exp(-xc)
    one_minus_q = -torch.expm1(-xc)  # 1 - e^-x, accurate at small x
    # ln(1 - e^-x): log(-expm1(-x)) for x < ln 2, log1p(-e^-x) above (where 1 - e^-x rounds towards 1)
    log1mq = torch.where(xc < _LN2, torch.log(one_minus_q), torch.log1p(-q.clamp(max=0.5)))
    # x / (e^x - 1) = x e^-x / (1 - e^-x); x capped where e^-x has underflowed (the value is 0 there anyway)
    bose = xc.clamp(max=_X_UNDERFLOW[x.dtype]) * q / one_minus_q
    d_small = _series_branch(xc.clamp(max=X_SPLIT), n_series)
    # on the exponential branch x >= X_SPLIT; e^-x and ln(1 - e^-x) are monotonic in x, so clamp them alike
    d_large = _exp_branch(
        xc.clamp(min=X_SPLIT), q.clamp(max=_Q_SPLIT), log1mq.clamp(min=_LOG1MQ_SPLIT), n_polylog
    )
    d3 = torch.where(xc <= X_SPLIT, d_small, d_large)
    return d3, log1mq, bose


class DebyeWorkspace:
    """Reusable buffers to evaluate :func:`debye_parts` in place, block by block, without autograd.

    The arithmetic is that of :func:`debye_parts`, op for op; only the memory differs: every intermediate
    lives in a buffer allocated once, so a large grid is processed in cache-sized blocks with no allocation
    (fresh allocations of a few hundred kB cost page faults that dominate on a CPU).

    Parameters
    ----------
    numel
        The largest block (number of elements) that :meth:`parts` will be given.
    dtype, device
        Of the blocks.
    """

    def __init__(self, numel: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> None:
        self.n_series, self.n_polylog = _n_terms(dtype)
        self.coeffs = series_coefficients(self.n_series)
        self.dtype = dtype
        self.numel = numel
        self._tiny = torch.finfo(dtype).tiny
        self._x_underflow = _X_UNDERFLOW[dtype]
        names = ("x", "q", "em", "log1mq", "bose", "d3", "m", "mc")
        names += ("t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9")
        self._buf = {name: torch.empty(numel, dtype=dtype, device=device) for name in names}

    def x_buffer(self, shape: tuple[int, ...]) -> torch.Tensor:
        """A view of the ``x`` buffer with ``shape`` (write ``theta / T`` into it, then call :meth:`parts`)."""
        return self._view("x", shape)

    def _view(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        n = math.prod(shape)
        if n > self.numel:
            raise ValueError(f"block of {n} elements exceeds the workspace ({self.numel})")
        return self._buf[name][:n].view(shape)

    @torch.no_grad()
    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(D3, ln(1 - e**-x), x / (e**x - 1))`` of ``x`` (overwritten: clamped in place).

        The results are views of the workspace, valid until the next call.
        """
        shape = tuple(x.shape)
        v = {name: self._view(name, shape) for name in self._buf}
        # Branches are selected by blending with 0/1 float masks, r = a m + b (1 - m): exact because both
        # branch values are finite, and several times faster on a CPU than torch.where with a bool mask.
        m, mc = v["m"], v["mc"]
        xc = x.clamp_(min=self._tiny)
        q = torch.neg(xc, out=v["q"]).exp_()
        em = torch.neg(xc, out=v["em"]).expm1_().neg_()
        # ln(1 - e^-x)
        log_small = torch.log(em, out=v["t1"])
        log_large = torch.clamp(q, max=0.5, out=v["t2"]).neg_().log1p_()
        torch.lt(xc, _LN2, out=m)
        torch.ge(xc, _LN2, out=mc)
        log1mq = torch.mul(log_small, m, out=v["log1mq"]).addcmul_(log_large, mc)
        bose = torch.clamp(xc, max=self._x_underflow, out=v["bose"]).mul_(q).div_(em)
        # series branch
        xs = torch.clamp(xc, max=X_SPLIT, out=v["t1"])
        u = torch.mul(xs, xs, out=v["t2"])
        p = v["t3"].fill_(self.coeffs[-1])
        for c in reversed(self.coeffs[:-1]):
            p.mul_(u).add_(c)
        p.mul_(u).add_(xs, alpha=-0.375).add_(1.0)
        # exponential branch
        y = torch.clamp(xc, min=X_SPLIT, out=v["t1"]).reciprocal_()
        ql = torch.clamp(q, max=_Q_SPLIT, out=v["t2"])
        a = torch.mul(y, 3.0, out=v["t4"])
        b = torch.mul(a, y, out=v["t5"])
        c = torch.mul(b, y, out=v["t6"])
        acc, term = v["t7"], v["t8"]
        for k in range(self.n_polylog, 0, -1):
            torch.mul(a, 1.0 / k**2, out=term).add_(b, alpha=2.0 / k**3).add_(c, alpha=2.0 / k**4)
            if k < self.n_polylog:
                term.addcmul_(acc, ql)
            acc, term = term, acc
        large = c.mul_(PI4_OVER_5 / 3.0)
        large.add_(torch.clamp(log1mq, min=_LOG1MQ_SPLIT, out=v["t9"]), alpha=3.0).addcmul_(
            acc, ql, value=-3.0
        )
        torch.le(xc, X_SPLIT, out=m)
        torch.gt(xc, X_SPLIT, out=mc)
        d3 = torch.mul(p, m, out=v["d3"]).addcmul_(large, mc)
        return d3, log1mq, bose


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the Debye functions compute in: float64 stays, every other dtype computes in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def debye_d3(x: torch.Tensor) -> torch.Tensor:
    """The third-order Debye function ``D3(x) = 3 x**-3 integral_0^x t**3 / (e**t - 1) dt``.

    ``D3(0) = 1``, ``D3(inf) = 0``, ``D3(x) ~ pi**4 / (5 x**3)`` for large ``x``. Accurate to ~1e-15 relative in
    float64 and ~1e-7 in float32 for every ``x >= 0``; differentiable (any order).

    Parameters
    ----------
    x
        Tensor or array-like, ``>= 0`` (``inf`` allowed). Integers compute in the default dtype, float16 and
        bfloat16 compute in float32 and are cast back.

    Raises
    ------
    ValueError
        If any ``x`` is negative or NaN.
    """
    x = torch.as_tensor(x)
    if not torch.is_floating_point(x):
        x = x.to(torch.get_default_dtype())
    bad = int(((x < 0) | torch.isnan(x)).sum())
    if bad:
        raise ValueError(f"debye_d3: x must be >= 0 and not NaN ({bad} of {x.numel()} values are not)")
    work = compute_dtype(x.dtype)
    return debye_parts(x.to(work))[0].to(x.dtype)
