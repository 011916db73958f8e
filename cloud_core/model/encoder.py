"""The CLOUD transformer encoder: pre-LN blocks over ``F.scaled_dot_product_attention`` with padding masks.

Sizes are named (:data:`SIZES`): ``tiny`` (tests), ``mini``, ``small`` and ``base`` (the reference size:
12 layers, hidden 768, 12 heads, FFN 3072). :class:`CloudModel` wraps the encoder with a pooled embedding,
an optional MLM head and any number of property heads (see :mod:`cloud_core.model.heads`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from cloud_core.model.heads import HeadSpec, MLMHead, build_head
from cloud_core.model.run_config import SIZES

if TYPE_CHECKING:
    from cloud_core.model.composition_inputs import CompositionInputs

N_SECTIONS = 3


@dataclass
class ModelConfig:
    """Everything needed to rebuild a :class:`CloudModel` (stored as JSON in every checkpoint)."""

    vocab_size: int
    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 512
    max_len: int = 256
    dropout: float = 0.1
    pooling: str = "cls"  # "cls" or "mean"
    mlm_head: bool = True
    size: str = "custom"
    #: element property table (``cloud_core.composition``, e.g. ``"magpie.csv"``) for the composition inputs
    #: (:mod:`cloud_core.model.composition_inputs`); empty = tokens only (the first checkpoints)
    composition: str = ""
    heads: list[HeadSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.heads = [h if isinstance(h, HeadSpec) else HeadSpec(**h) for h in self.heads]
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        names = [h.name for h in self.heads]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate head names: {names}")

    @classmethod
    def from_size(cls, size: str, vocab_size: int, **overrides: Any) -> ModelConfig:
        """A config of a named size (``tiny``, ``mini``, ``small``, ``base``)."""
        if size not in SIZES:
            raise ValueError(f"unknown model size {size!r}; choose one of {sorted(SIZES)}")
        return cls(vocab_size=vocab_size, size=size, **{**SIZES[size], **overrides})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heads"] = [h.to_dict() for h in self.heads]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}")
        return cls(**d)


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), attn_mask))
        return x + self.drop(self.ff2(F.gelu(self.ff1(self.ln2(x)))))


class Encoder(nn.Module):
    """Token + position + section embeddings, pre-LN blocks, final LayerNorm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.sec = nn.Embedding(N_SECTIONS, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            Block(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout) for _ in range(cfg.n_layers)
        )
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.max_len = cfg.max_len
        self.comp: CompositionInputs | None = None
        if cfg.composition:
            from cloud_core.model.composition_inputs import CompositionInputs

            self.comp = CompositionInputs(cfg.d_model, cfg.composition)

    def forward(
        self,
        input_ids: torch.Tensor,
        section_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        frac: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states (batch, length, d_model).

        ``attention_mask`` is boolean (batch, length), True on real tokens; ``None`` means no padding.
        ``frac``: the element tokens' atomic fractions when the model has composition inputs (computed from
        the ids when not given).
        """
        n = input_ids.shape[1]
        if n > self.max_len:
            raise ValueError(f"sequence of {n} tokens is longer than the model's max_len {self.max_len}")
        pos = torch.arange(n, device=input_ids.device)
        x = self.tok(input_ids) + self.pos(pos)[None] + self.sec(section_ids)
        if self.comp is not None:
            if frac is None:
                frac = self.comp.fractions(input_ids, section_ids)
            x = x + self.comp.token_embedding(input_ids, frac)
        x = self.drop(x)
        mask = None if attention_mask is None else attention_mask[:, None, None, :]
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)


class CloudModel(nn.Module):
    """Encoder + pooled embedding + (optional) MLM head + property heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.mlm = MLMHead(cfg.d_model, cfg.vocab_size) if cfg.mlm_head else None
        self.heads = nn.ModuleDict({h.name: build_head(h, cfg.d_model) for h in cfg.heads})
        self.apply(_init_weights)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """The structure embedding: the [CLS] state, or the mean over real tokens."""
        if self.cfg.pooling == "cls":
            return hidden[:, 0]
        if attention_mask is None:
            return hidden.mean(dim=1)
        m = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)

    def forward(
        self,
        input_ids: torch.Tensor,
        section_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        heads: bool = True,
        mlm_positions: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run the model.

        Parameters
        ----------
        mlm_positions
            Boolean (B, L): if given, ``mlm_logits`` holds the MLM logits of those positions only
            (shape (n_selected, vocab)), so pre-training never projects unmasked tokens onto the vocabulary.

        Returns
        -------
        dict
            ``hidden`` (B, L, D), ``pooled`` (B, D), ``mlm_logits`` if asked for and, if ``heads``, one entry
            per property head (its raw, standardised output).
        """
        comp = self.encoder.comp
        frac = None if comp is None else comp.fractions(input_ids, section_ids)
        hidden = self.encoder(input_ids, section_ids, attention_mask, frac)
        pooled = self.pool(hidden, attention_mask)
        if comp is not None:
            pooled = pooled + comp.pooled_summary(input_ids, section_ids, frac)
        out = {"hidden": hidden, "pooled": pooled}
        if mlm_positions is not None:
            out["mlm_logits"] = self.mlm_logits(hidden[mlm_positions])
        if heads:
            for name, head in self.heads.items():
                out[name] = head(pooled)
        return out

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.mlm is None:
            raise RuntimeError("this model has no MLM head")
        return self.mlm(hidden)

    def n_params(self, embeddings: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if not embeddings:
            n -= sum(p.numel() for p in self.encoder.tok.parameters())
            n -= sum(p.numel() for p in self.encoder.pos.parameters())
            n -= sum(p.numel() for p in self.encoder.sec.parameters())
        return n


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def encoder_flops_per_sequence(cfg: ModelConfig, n_tokens: int) -> float:
    """Forward FLOPs (multiply-add = 2) of the encoder for one sequence of ``n_tokens`` tokens."""
    d, f, n = cfg.d_model, cfg.d_ff, n_tokens
    per_layer = 2 * n * (3 * d * d + d * d + 2 * d * f) + 2 * 2 * n * n * d
    return float(cfg.n_layers * per_layer)
