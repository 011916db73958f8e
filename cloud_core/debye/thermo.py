"""Debye-model thermodynamics in torch: Cv, U, S, F per mole of atoms and per mole of cells.

With ``x = theta / T``, ``D3`` the Debye function and ``R`` the gas constant, per mole of atoms::

    Cv = R [12 D3(x) - 9 x / (e**x - 1)]                 -> 3R (Dulong-Petit) as T -> inf, ~T**3 as T -> 0
    U  = 9/8 R theta + 3 R T D3(x)                       (zero-point energy included)
    S  = R [4 D3(x) - 3 ln(1 - e**-x)]
    F  = U - T S = 9/8 R theta + R T [3 ln(1 - e**-x) - D3(x)]

These are the closed forms of ``Cv = 9R (T/theta)**3 int_0^x t**4 e**t / (e**t - 1)**2 dt`` and
``U = 9R T (T/theta)**3 int_0^x t**3 / (e**t - 1) dt + 9/8 R theta`` (integration by parts), so no quadrature
is needed. At ``T = 0`` the values are exact: ``Cv = S = 0``, ``U = F = 9/8 R theta``.

Per mole of cells multiplies by ``n_atoms`` (atoms per cell). Everything is differentiable in ``theta`` and in
``T`` (autograd, any order); under ``torch.no_grad`` / for inputs that need no gradient, :func:`thermo` works
in cache-sized blocks with in-place arithmetic, which is what makes 1M materials x 64 temperatures fast.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import torch

from cloud_core.debye.debye_function import DebyeWorkspace, compute_dtype, debye_parts

R_GAS = 8.314462618
"""Molar gas constant in J/(mol K) (``N_A k_B`` with the exact 2019 SI values, rounded to 10 digits)."""


class DebyeKey(StrEnum):
    """Keys of :func:`thermo`'s result; the units are part of the name."""

    CV_ATOM = "cv_J_per_molatom_K"
    U_ATOM = "u_J_per_molatom"
    S_ATOM = "s_J_per_molatom_K"
    F_ATOM = "f_J_per_molatom"
    CV_CELL = "cv_J_per_molcell_K"
    U_CELL = "u_J_per_molcell"
    S_CELL = "s_J_per_molcell_K"
    F_CELL = "f_J_per_molcell"


PER_ATOM_KEYS = (DebyeKey.CV_ATOM, DebyeKey.U_ATOM, DebyeKey.S_ATOM, DebyeKey.F_ATOM)
PER_CELL_KEYS = (DebyeKey.CV_CELL, DebyeKey.U_CELL, DebyeKey.S_CELL, DebyeKey.F_CELL)
QUANTITIES = ("cv", "u", "s", "f")

BLOCK_ELEMENTS = 1 << 18
"""Elements per block on the no-grad path of :func:`thermo` on a CPU (amortises per-op overhead)."""
GPU_BLOCK_ELEMENTS = 1 << 24
"""The default block on other devices (GPUs): few, large kernels."""


def _as_tensor(
    value: object, name: str, *, dtype: torch.dtype | None = None, device: torch.device | None = None
) -> torch.Tensor:
    t = torch.as_tensor(value, device=device)
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must be real numbers, got {t.dtype}")
    if dtype is not None:
        t = t.to(dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    return t


def _check(theta: torch.Tensor, temps: torch.Tensor) -> None:
    with torch.no_grad():
        bad = int((~torch.isfinite(theta) | (theta <= 0)).sum())
        if bad:
            raise ValueError(
                f"theta must be finite and > 0 K ({bad} of {theta.numel()} values are not; "
                f"e.g. {theta[~torch.isfinite(theta) | (theta <= 0)].flatten()[:3].tolist()})"
            )
        bad = int((~torch.isfinite(temps) | (temps < 0)).sum())
        if bad:
            raise ValueError(
                f"temperatures must be finite and >= 0 K ({bad} of {temps.numel()} values are not; "
                f"e.g. {temps[~torch.isfinite(temps) | (temps < 0)].flatten()[:3].tolist()})"
            )


def _prepare(theta: object, temps: object) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """Tensors in a common compute dtype and device, validated; also returns the dtype to hand back."""
    th = _as_tensor(theta, "theta")
    tt = torch.as_tensor(temps, device=th.device)
    tt = _as_tensor(tt, "temperatures", dtype=None if torch.is_floating_point(tt) else th.dtype)
    out_dtype = torch.promote_types(th.dtype, tt.dtype)
    work = compute_dtype(out_dtype)
    th, tt = th.to(work), tt.to(work)
    _check(th, tt)
    return th, tt, out_dtype


def _quantities(theta: torch.Tensor, temps: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cv, U, S, F per mole of atoms (broadcasting ``theta`` against ``temps``), differentiable path."""
    hot = temps > 0
    t_safe = torch.where(hot, temps, torch.ones_like(temps))
    x = theta / t_safe
    d3, log1mq, bose = debye_parts(x)
    u0 = (9.0 / 8.0 * R_GAS) * theta
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    cv = torch.where(hot, R_GAS * (12.0 * d3 - 9.0 * bose), zero)
    s = torch.where(hot, R_GAS * (4.0 * d3 - 3.0 * log1mq), zero)
    rt = R_GAS * temps  # exactly 0 at T = 0, so U and F reduce to U0 there
    u = u0 + 3.0 * rt * d3
    f = u0 + rt * (3.0 * log1mq - d3)
    return {"cv": cv, "u": u, "s": s, "f": f}


def _block_into(
    theta: torch.Tensor,
    temps: torch.Tensor,
    t_safe: torch.Tensor,
    ws: DebyeWorkspace,
    outs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    """No-grad, in-place :func:`_quantities` for ``theta [m, 1]`` x ``temps [1, K]`` (T = 0 columns: see caller)."""
    cv, u, s, f = outs
    x = torch.div(theta, t_safe, out=ws.x_buffer((theta.shape[0], t_safe.shape[1])))
    d3, log1mq, bose = ws.parts(x)
    rt = R_GAS * temps
    u0 = (9.0 / 8.0 * R_GAS) * theta
    # Cv = R (12 D3 - 9 bose); S = R (4 D3 - 3 log1mq); U = U0 + 3 RT D3; F = U0 + RT (3 log1mq - D3)
    torch.mul(d3, 12.0 * R_GAS, out=cv).add_(bose, alpha=-9.0 * R_GAS)
    torch.mul(d3, 4.0 * R_GAS, out=s).add_(log1mq, alpha=-3.0 * R_GAS)
    torch.mul(d3, rt, out=u).mul_(3.0).add_(u0)
    torch.mul(log1mq, 3.0, out=f).sub_(d3).mul_(rt).add_(u0)


def _per_atom(theta: object, temps: object, key: str) -> torch.Tensor:
    th, tt, out_dtype = _prepare(theta, temps)
    return _quantities(th, tt)[key].to(out_dtype)


def debye_cv(theta: object, temps: object) -> torch.Tensor:
    """Debye heat capacity at constant volume, J/(mol K) per mole of atoms; ``theta`` and ``temps`` broadcast.

    Parameters
    ----------
    theta
        Debye temperature(s) in K, finite and > 0 (tensor or array-like).
    temps
        Temperature(s) in K, finite and >= 0. Broadcasts against ``theta`` (use ``theta[:, None]`` and
        ``temps[None, :]`` for a materials x temperatures grid, or :func:`thermo`).

    Returns
    -------
    Tensor
        ``R [12 D3(x) - 9 x / (e**x - 1)]``, ``x = theta / T``; 0 at ``T = 0``. Differentiable.
    """
    return _per_atom(theta, temps, "cv")


def debye_u(theta: object, temps: object) -> torch.Tensor:
    """Debye internal energy including the zero-point energy ``9/8 R theta``, J/mol per mole of atoms.

    Same arguments as :func:`debye_cv`; ``U = 9/8 R theta + 3 R T D3(theta / T)``.
    """
    return _per_atom(theta, temps, "u")


def debye_s(theta: object, temps: object) -> torch.Tensor:
    """Debye (vibrational) entropy, J/(mol K) per mole of atoms; 0 at ``T = 0``.

    Same arguments as :func:`debye_cv`; ``S = R [4 D3(x) - 3 ln(1 - e**-x)]``.
    """
    return _per_atom(theta, temps, "s")


def debye_f(theta: object, temps: object) -> torch.Tensor:
    """Debye (vibrational) Helmholtz free energy ``F = U - T S``, J/mol per mole of atoms.

    Same arguments as :func:`debye_cv`; ``F = 9/8 R theta + R T [3 ln(1 - e**-x) - D3(x)]``.
    """
    return _per_atom(theta, temps, "f")


def thermo(
    theta_K: object,
    temps_K: object,
    n_atoms: object | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    block_elements: int = BLOCK_ELEMENTS,
) -> dict[str, torch.Tensor]:
    """Cv, U, S and F for every material at every temperature.

    Parameters
    ----------
    theta_K
        Debye temperatures in K, shape ``[M]`` (a scalar counts as ``M = 1``); finite and > 0.
    temps_K
        Temperature grid in K, shape ``[K]``; finite and >= 0 (``T = 0`` gives the exact limits).
    n_atoms
        Atoms per cell, shape ``[M]`` or a scalar, or ``None``. Entries that are NaN (unknown) give NaN
        per-cell rows, which writers store as null. With ``None`` the per-cell keys are left out.
    progress
        Optional callback ``progress(done_materials, total_materials)``, called after each block on the
        no-grad path (useful for millions of materials).
    block_elements
        Block size (materials x temperatures) of the no-grad path; the default suits a CPU, and becomes
        :data:`GPU_BLOCK_ELEMENTS` on other devices.

    Returns
    -------
    dict of str to Tensor
        :data:`PER_ATOM_KEYS` (and :data:`PER_CELL_KEYS` when ``n_atoms`` is given), each ``[M, K]`` in the
        promoted dtype of the inputs (float16/bfloat16 compute in float32). Differentiable in ``theta_K``
        (and ``temps_K``) when they require grad.

    Raises
    ------
    ValueError
        On a theta that is not finite and > 0, a temperature that is not finite and >= 0, an ``n_atoms`` that
        is not NaN and not > 0, or shapes that do not match.
    """
    th, tt, out_dtype = _prepare(theta_K, temps_K)
    if th.dim() > 1 or tt.dim() > 1:
        raise ValueError(
            f"theta_K must be 1-D [M] and temps_K 1-D [K], got {tuple(th.shape)} and {tuple(tt.shape)}"
        )
    th, tt = th.reshape(-1), tt.reshape(-1)
    m, k = th.numel(), tt.numel()
    n = None
    if n_atoms is not None:
        n = _as_tensor(n_atoms, "n_atoms", dtype=th.dtype, device=th.device).reshape(-1)
        if n.numel() == 1 and m != 1:
            n = n.expand(m)
        if n.numel() != m:
            raise ValueError(f"n_atoms has {n.numel()} entries for {m} materials")
        bad = int((~torch.isnan(n) & ~(torch.isfinite(n) & (n > 0))).sum())
        if bad:
            raise ValueError(f"n_atoms must be > 0 (or NaN when unknown); {bad} of {m} values are not")

    needs_grad = torch.is_grad_enabled() and (th.requires_grad or tt.requires_grad)
    if needs_grad:
        q = _quantities(th[:, None], tt[None, :])
        result = {key: q[name].to(out_dtype) for key, name in zip(PER_ATOM_KEYS, QUANTITIES, strict=True)}
    else:
        with torch.no_grad():
            outs = tuple(torch.empty((m, k), dtype=th.dtype, device=th.device) for _ in QUANTITIES)
            cold = (tt == 0).nonzero().flatten()
            t_safe = torch.where(tt > 0, tt, torch.ones_like(tt))[None, :]
            if th.device.type != "cpu" and block_elements == BLOCK_ELEMENTS:
                block_elements = GPU_BLOCK_ELEMENTS  # an accelerator wants few, large kernels
            rows = max(1, min(m, block_elements // max(k, 1)))
            ws = DebyeWorkspace(rows * k, th.dtype, th.device)
            for start in range(0, m, rows):
                stop = min(m, start + rows)
                _block_into(th[start:stop, None], tt[None, :], t_safe, ws, tuple(o[start:stop] for o in outs))
                if progress is not None:
                    progress(stop, m)
            for o in (outs[0], outs[2]):  # Cv and S are exactly 0 at T = 0
                o[:, cold] = 0.0
            result = {key: o.to(out_dtype) for key, o in zip(PER_ATOM_KEYS, outs, strict=True)}
    if n is not None:
        per_cell = n.to(out_dtype)[:, None]
        for atom_key, cell_key in zip(PER_ATOM_KEYS, PER_CELL_KEYS, strict=True):
            result[cell_key] = result[atom_key] * per_cell
    return result
