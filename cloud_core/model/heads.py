"""Heads on top of the encoder, and the open registry of head kinds.

Built-in kinds: ``regression`` and ``classification`` (``N x (Linear + SiLU) -> Linear`` on the pooled
embedding, after dropout). Other packages add kinds with :func:`register_head` (the Debye head registers
``debye`` this way), so a checkpoint can name a head kind and be rebuilt from its JSON config alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class HeadSpec:
    """One property head.

    Parameters
    ----------
    name
        Output name (a target column, e.g. ``e_form``).
    kind
        A registered head kind: ``regression``, ``classification``, or one added by :func:`register_head`.
    n_out
        Output width (1 for regression, the number of classes for classification).
    n_layers
        Number of hidden ``Linear + SiLU`` layers.
    hidden
        Width of the hidden layers (0: the model width).
    dropout
        Dropout on the pooled embedding.
    options
        Kind-specific settings (JSON-serialisable).
    """

    name: str
    kind: str = "regression"
    n_out: int = 1
    n_layers: int = 2
    hidden: int = 0
    dropout: float = 0.1
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HeadBuilder = Callable[[HeadSpec, int], nn.Module]
HEAD_BUILDERS: dict[str, HeadBuilder] = {}


def register_head(kind: str) -> Callable[[HeadBuilder], HeadBuilder]:
    """Decorator: register a builder ``fn(spec, d_model) -> nn.Module`` for head kind ``kind``."""

    def deco(fn: HeadBuilder) -> HeadBuilder:
        HEAD_BUILDERS[kind] = fn
        return fn

    return deco


def build_head(spec: HeadSpec, d_model: int) -> nn.Module:
    if spec.kind not in HEAD_BUILDERS:
        raise ValueError(
            f"unknown head kind {spec.kind!r} for head {spec.name!r}; known: {sorted(HEAD_BUILDERS)}"
        )
    return HEAD_BUILDERS[spec.kind](spec, d_model)


class MLPHead(nn.Module):
    """dropout -> N x (Linear + SiLU) -> Linear."""

    def __init__(
        self, d_in: int, n_out: int, n_layers: int = 2, hidden: int = 0, dropout: float = 0.1
    ) -> None:
        super().__init__()
        hidden = hidden or d_in
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        width = d_in
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


@register_head("regression")
def _regression(spec: HeadSpec, d_model: int) -> nn.Module:
    return MLPHead(d_model, spec.n_out, spec.n_layers, spec.hidden, spec.dropout)


@register_head("classification")
def _classification(spec: HeadSpec, d_model: int) -> nn.Module:
    if spec.n_out < 2:
        raise ValueError(f"classification head {spec.name!r} needs n_out >= 2 classes")
    return MLPHead(d_model, spec.n_out, spec.n_layers, spec.hidden, spec.dropout)


class MLMHead(nn.Module):
    """Linear -> GELU -> LayerNorm -> Linear(vocab): masked-token logits from hidden states."""

    def __init__(self, d_model: int, vocab_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.decoder = nn.Linear(d_model, vocab_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(F.gelu(self.dense(hidden))))


class DebyeThetaHead(nn.Module):
    """The CLOUD-DEBYE head (:class:`cloud_core.debye.DebyeHead`) as a registered head kind.

    Its output, shape (B, 1), is the Debye temperature in K (always positive); curves follow from
    :func:`cloud_core.debye.thermo`. Options: ``theta_scale_K``, ``theta_init_K``, ``theta_min_K``.
    """

    def __init__(self, spec: HeadSpec, d_model: int) -> None:
        super().__init__()
        from cloud_core.debye.head import DebyeHead

        opts = {
            k: float(v)
            for k, v in spec.options.items()
            if k in ("theta_scale_K", "theta_init_K", "theta_min_K")
        }
        self.head = DebyeHead(d_model, hidden=spec.hidden or d_model, dropout=spec.dropout, **opts)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.head(pooled).unsqueeze(-1)


@register_head("debye")
def _debye(spec: HeadSpec, d_model: int) -> nn.Module:
    return DebyeThetaHead(spec, d_model)
