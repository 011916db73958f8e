"""The CLOUD-DEBYE head: an embedding -> a positive Debye temperature -> thermodynamic curves.

The reference implementation maps the network output linearly (``theta = 1200 out + 1500`` K), so theta
can go negative. Here ``theta = theta_min + theta_scale * softplus(z)``: always > ``theta_min`` (> 0), smooth,
with ``z`` of order 1 for physical values, and initialised so that every material starts near ``theta_init``.

Training follows the paper (Cv at one temperature, 300 K, through the Debye layer), or theta labels (e.g.
elastic Debye temperatures), or both: see :func:`debye_loss`. Missing labels are NaN and are masked out, so
one batch may mix materials with theta labels and materials with heat-capacity labels.
Depends only on torch (and the Debye layer of this package).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from cloud_core.debye.thermo import R_GAS, debye_cv, debye_u, thermo

DULONG_PETIT = 3.0 * R_GAS
"""High-temperature heat capacity per mole of atoms, J/(mol K): the natural scale of Cv losses."""


class DebyeHead(nn.Module):
    """Map an embedding ``[B, in_dim]`` to a Debye temperature ``[B]`` in K.

    Parameters
    ----------
    in_dim
        Embedding size (e.g. the encoder's CLS width).
    hidden
        Hidden width of the MLP (``in_dim -> hidden -> SiLU -> 1``; ``hidden=0`` makes it linear).
    theta_scale_K
        Physical scale of the softplus: ``theta = theta_min_K + theta_scale_K * softplus(z)``.
    theta_init_K
        Debye temperature every material starts near (the output bias is set so, the last weights small).
    theta_min_K
        Strict lower bound of theta (keeps ``theta / T`` and entropy finite).
    dropout
        Dropout before the MLP.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int = 256,
        theta_scale_K: float = 400.0,
        theta_init_K: float = 400.0,
        theta_min_K: float = 1.0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if in_dim <= 0 or hidden < 0:
            raise ValueError(f"in_dim must be > 0 and hidden >= 0, got {in_dim}, {hidden}")
        if not (theta_scale_K > 0 and theta_min_K > 0 and theta_init_K > theta_min_K):
            raise ValueError("need theta_scale_K > 0, theta_min_K > 0 and theta_init_K > theta_min_K")
        self.theta_scale_K = float(theta_scale_K)
        self.theta_min_K = float(theta_min_K)
        self.theta_init_K = float(theta_init_K)
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, 1)]
        else:
            layers += [nn.Linear(in_dim, 1)]
        self.mlp = nn.Sequential(*layers)
        last = layers[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.mul_(0.01)
            # softplus(b) = (theta_init - theta_min) / scale  =>  b = log(expm1(v))
            v = (self.theta_init_K - self.theta_min_K) / self.theta_scale_K
            last.bias.fill_(v + math.log(-math.expm1(-v)))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """Debye temperature in K, shape ``[B]``, always > ``theta_min_K``."""
        z = self.mlp(embedding).squeeze(-1)
        return self.theta_min_K + self.theta_scale_K * F.softplus(z)

    @staticmethod
    def curves(
        theta_K: torch.Tensor, temps_K: object, n_atoms: object | None = None
    ) -> dict[str, torch.Tensor]:
        """Cv, U, S, F on any temperature grid (see :func:`cloud_core.debye.thermo`); ``[B, K]`` each."""
        return thermo(theta_K, temps_K, n_atoms)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over ``mask``; a zero that keeps the graph when nothing is labelled."""
    count = mask.sum()
    return torch.where(mask, values, torch.zeros_like(values)).sum() / count.clamp(min=1)


def theta_loss(
    theta_pred_K: torch.Tensor, theta_true_K: torch.Tensor, *, log_space: bool = True
) -> torch.Tensor:
    """L1 loss on Debye temperatures; NaN labels are ignored.

    With ``log_space`` (default) the loss is ``|ln theta_pred - ln theta_true|`` (a relative error, fair
    to 100 K and 2000 K materials alike); otherwise ``|theta_pred - theta_true| / 1000 K``.
    """
    mask = torch.isfinite(theta_true_K) & (theta_true_K > 0)
    safe = torch.where(mask, theta_true_K, torch.ones_like(theta_true_K))
    if log_space:
        err = (torch.log(theta_pred_K) - torch.log(safe)).abs()
    else:
        err = (theta_pred_K - safe).abs() / 1000.0
    return _masked_mean(err, mask)


def thermo_loss(
    theta_pred_K: torch.Tensor,
    target: torch.Tensor,
    *,
    quantity: str = "cv",
    temp_K: float | torch.Tensor = 300.0,
    n_atoms: torch.Tensor | None = None,
) -> torch.Tensor:
    """L1 loss on Cv or U at one temperature per material, through the Debye layer; NaN labels ignored.

    Parameters
    ----------
    theta_pred_K
        Predicted Debye temperatures ``[B]``.
    target
        Labels ``[B]``: Cv in J/(mol K) or U in J/mol, per mole of atoms, or per mole of cells when
        ``n_atoms`` is given.
    quantity
        ``"cv"`` or ``"u"``.
    temp_K
        The label temperature: a scalar (the paper uses 300 K) or one per material ``[B]``.
    n_atoms
        Atoms per cell ``[B]`` when the labels are per cell; the loss is then computed per atom.

    Returns
    -------
    Tensor
        Scalar: mean ``|pred - target| / 3R`` for Cv, ``|pred - target| / (3R T)`` for U (both about 1 at
        high temperature), over labelled materials.
    """
    if quantity not in ("cv", "u"):
        raise ValueError(f"quantity must be 'cv' or 'u', got {quantity!r}")
    temps = torch.as_tensor(temp_K, dtype=theta_pred_K.dtype, device=theta_pred_K.device).expand_as(
        theta_pred_K
    )
    per_atom_target = target if n_atoms is None else target / n_atoms.to(target.dtype)
    mask = torch.isfinite(per_atom_target)
    safe = torch.where(mask, per_atom_target, torch.zeros_like(per_atom_target))
    if quantity == "cv":
        pred = debye_cv(theta_pred_K, temps)
        scale = torch.full_like(temps, DULONG_PETIT)
    else:
        pred = debye_u(theta_pred_K, temps)
        scale = DULONG_PETIT * temps.clamp(min=1.0)
    return _masked_mean((pred - safe).abs() / scale, mask)


def debye_loss(
    theta_pred_K: torch.Tensor,
    *,
    theta_true_K: torch.Tensor | None = None,
    cv_target: torch.Tensor | None = None,
    u_target: torch.Tensor | None = None,
    temp_K: float | torch.Tensor = 300.0,
    n_atoms: torch.Tensor | None = None,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> torch.Tensor:
    """Weighted mix of :func:`theta_loss`, the Cv loss and the U loss; terms without labels are skipped.

    ``weights`` are for (theta, Cv, U). Any label tensor may contain NaN for materials without that label.
    """
    if theta_true_K is None and cv_target is None and u_target is None:
        raise ValueError("debye_loss needs at least one of theta_true_K, cv_target, u_target")
    total = theta_pred_K.sum() * 0.0
    if theta_true_K is not None:
        total = total + weights[0] * theta_loss(theta_pred_K, theta_true_K)
    if cv_target is not None:
        total = total + weights[1] * thermo_loss(
            theta_pred_K, cv_target, quantity="cv", temp_K=temp_K, n_atoms=n_atoms
        )
    if u_target is not None:
        total = total + weights[2] * thermo_loss(
            theta_pred_K, u_target, quantity="u", temp_K=temp_K, n_atoms=n_atoms
        )
    return total
