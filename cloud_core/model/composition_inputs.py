"""What the composition of a SCOPE string tells the encoder, derived from its tokens inside the model.

A SCOPE string carries its exact stoichiometry as digit tokens (``Fe 2 O 3``) and its Wyckoff orbits as
``El <mult><letter>`` pairs. Learning arithmetic on digit tokens is slow (the last round's tiny model, given
only the digits, stalled at 0.26 eV/atom on formation energy while gradient boosting on element fractions and
element properties reached 0.135). This module gives the model the composition explicitly, with SCOPE still
the only input:

- **fractions**: for every element token, its atomic fraction ``x_i`` (stoichiometry section: count over the
  total; orbit section: the orbit's multiplicity over the cell's atoms), computed from the token ids;
- **element properties**: every element token also carries a linear map of its standardised Magpie element
  properties (``cloud_core.composition``; 22 properties, Ward et al. 2016), so chemically similar elements start
  close (declared in the checkpoint config as ``composition``; ablated in the model card);
- **composition summary**: fraction-weighted mean, mean absolute deviation, minimum and maximum of those
  properties over the stoichiometry section, mapped by a small MLP and added to the pooled embedding.

Token fractions are embedded as ``Linear([x, sqrt x, ln(x)/7, sin(k pi x), cos(k pi x), k = 1..6])`` on
element tokens only. Everything here is a deterministic function of the token ids: the tables are buffers
built from the closed vocabulary and the shipped property table, and saved with the weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from cloud_core.model.vocab import get_vocabulary

#: stoichiometry and orbit section ids (see :meth:`cloud_core.model.vocab.Vocabulary.encode`)
ORBIT_SECTION, STOICH_SECTION = 1, 2
N_FREQ = 6
N_FRAC_FEATURES = 3 + 2 * N_FREQ
STATS = ("mean", "mad", "min", "max")


def _vocab_tables(table: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(is_element, digit value or -1, Wyckoff multiplicity or 0, standardised properties) per token id."""
    from cloud_core.composition import element_properties
    from cloud_core.scope.tables import element_by_symbol

    vocab = get_vocabulary()
    props = element_properties(table)
    std = props.standardized()
    n, p = len(vocab), std.shape[1]
    is_el = np.zeros(n, dtype=bool)
    digit = np.full(n, -1.0)
    mult = np.zeros(n)
    values = np.zeros((n, p + 1))  # + a "not in the property table" flag
    for i, tok in enumerate(vocab.tokens):
        if tok.startswith("n:"):
            digit[i] = float(tok[2:])
        elif tok.startswith("wy:"):
            mult[i] = float(tok[3:].rstrip("abcdefghijklmnopqrstuvwxyzA"))
        elif (
            ":" not in tok and tok[:1].isupper() and tok not in ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")
        ):
            is_el[i] = True
            row = std[element_by_symbol(tok).z - 1]
            if np.isfinite(row).all():
                values[i, :p] = row
            else:
                values[i, p] = 1.0
    return is_el, digit, mult, values


class CompositionInputs(nn.Module):
    """Token-level fraction/property embeddings and a pooled composition summary (see the module docstring)."""

    def __init__(self, d_model: int, table: str) -> None:
        super().__init__()
        is_el, digit, mult, values = _vocab_tables(table)
        self.register_buffer("is_element", torch.from_numpy(is_el), persistent=False)
        self.register_buffer("digit_value", torch.from_numpy(digit).float(), persistent=False)
        self.register_buffer("multiplicity", torch.from_numpy(mult).float(), persistent=False)
        self.register_buffer("element_props", torch.from_numpy(values).float(), persistent=False)
        n_props = values.shape[1]
        self.frac_proj = nn.Linear(N_FRAC_FEATURES, d_model)
        self.prop_proj = nn.Linear(n_props, d_model, bias=False)
        self.summary = nn.Sequential(
            nn.Linear(len(STATS) * n_props, d_model), nn.SiLU(), nn.Linear(d_model, d_model)
        )
        self.register_buffer("_freqs", torch.arange(1, N_FREQ + 1).float() * math.pi, persistent=False)

    # ------------------------------------------------------------------ fractions
    def fractions(self, ids: torch.Tensor, sec: torch.Tensor) -> torch.Tensor:
        """Atomic fraction of every element token (0 elsewhere), per section; shape (B, L), float32."""
        b, n = ids.shape
        is_el = self.is_element[ids]
        # stoichiometry: counts from the digits that follow each element (right to left)
        digit = self.digit_value[ids]
        stoich = sec == STOICH_SECTION
        counts = torch.zeros(b, n, device=ids.device)
        acc = torch.zeros(b, device=ids.device)
        place = torch.ones(b, device=ids.device)
        for j in range(n - 1, -1, -1):
            isd = stoich[:, j] & (digit[:, j] >= 0)
            acc = torch.where(isd, acc + digit[:, j] * place, acc)
            place = torch.where(isd, place * 10.0, place)
            ise = stoich[:, j] & is_el[:, j]
            counts[:, j] = torch.where(ise, acc, torch.zeros_like(acc))
            acc = torch.where(ise, torch.zeros_like(acc), acc)
            place = torch.where(ise, torch.ones_like(place), place)
        # orbits: the multiplicity of the Wyckoff token that follows each element
        orbit_el = (sec == ORBIT_SECTION) & is_el
        nxt = torch.cat([ids[:, 1:], torch.zeros_like(ids[:, :1])], dim=1)
        counts = counts + torch.where(orbit_el, self.multiplicity[nxt], torch.zeros_like(counts))
        tot_s = (counts * stoich).sum(1, keepdim=True).clamp_min(1.0)
        tot_o = (counts * orbit_el).sum(1, keepdim=True).clamp_min(1.0)
        return torch.where(stoich, counts / tot_s, counts / tot_o)

    def token_embedding(self, ids: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
        """What element tokens add to their embedding: f(fraction) + W . properties; (B, L, d_model)."""
        x = frac.unsqueeze(-1)
        feats = torch.cat(
            [x, x.sqrt(), torch.log(x + 1e-3) / 7.0, torch.sin(x * self._freqs), torch.cos(x * self._freqs)],
            dim=-1,
        )
        mask = self.is_element[ids].unsqueeze(-1).to(feats.dtype)
        return (self.frac_proj(feats) + self.prop_proj(self.element_props[ids])) * mask

    def pooled_summary(self, ids: torch.Tensor, sec: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
        """MLP of the fraction-weighted property statistics of the stoichiometry section; (B, d_model)."""
        el = self.is_element[ids] & (sec == STOICH_SECTION)
        w = torch.where(el, frac, torch.zeros_like(frac)).unsqueeze(-1)  # (B, L, 1)
        props = self.element_props[ids]  # (B, L, P)
        mean = (w * props).sum(1)
        mad = (w * (props - mean.unsqueeze(1)).abs()).sum(1)
        big = torch.finfo(props.dtype).max / 4
        elm = el.unsqueeze(-1)
        mn = torch.where(elm, props, torch.full_like(props, big)).amin(1)
        mx = torch.where(elm, props, torch.full_like(props, -big)).amax(1)
        has = el.any(1, keepdim=True)
        mn = torch.where(has, mn, torch.zeros_like(mn))
        mx = torch.where(has, mx, torch.zeros_like(mx))
        return self.summary(torch.cat([mean, mad, mn, mx], dim=-1))
