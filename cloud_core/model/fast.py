"""Fast CPU inference: any checkpoint's encoder in int8, accepted only where it ranks candidates as float32 does.

Variants (:data:`cloud_core.model.model_id.INFERENCE_VARIANTS`):

- ``float32``: the checkpoint as trained (:meth:`Predictor.from_checkpoint`), the reference.
- ``int8``: every ``nn.Linear`` of the encoder's transformer blocks (attention projections and feed-forward, the
  bulk of the FLOPs) gets int8 weights (per tensor) and int8 activations quantised per batch on the fly
  (``torch.ao.quantization.quantize_dynamic``: fbgemm / x86 kernels, CPU only). Embeddings, composition inputs,
  the final LayerNorm and every property and uncertainty head stay float32; declared gradient-boosting members
  (:mod:`cloud_core.model.gbm_member`) are blended in unchanged.

The conversion is built at load from whatever checkpoint is given (new heads, new targets, new sizes need nothing
here; quantising the shipped size takes milliseconds), so there is no converted file to keep in step with its
checkpoint. Its model id is :func:`~cloud_core.model.model_id.variant_model_id` of the checkpoint's content hash
and the recipe: campaigns hash it, and a resumed campaign never mixes float and int8 chunks.

**Acceptance, at every load.** Both the float32 and the converted network (members left out, so the comparison
sees the network alone) predict a fixed sample of SCOPE strings (:data:`SAMPLE_FILE`: real structures of the
pre-training corpus and candidates of the bundled prototype pool, written by :func:`write_agreement_sample`).
For every prediction column, values and calibrated standard deviations alike:

- Spearman rank correlation against float32 >= :data:`MIN_SPEARMAN` (0.995), and
- overlap of the top :data:`TOP_K` (100) >= :data:`MIN_TOP_OVERLAP` (95 %), at both ends (the highest and the
  lowest values: a campaign ranks some targets down, some up).

A variant that fails is refused with :class:`FastInferenceError` naming the column and the figure; nothing falls
back silently to float32. ``bench/inference_bench.py --variants`` measures the same agreement on held-out folds.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from cloud_core.model.checkpoint import default_checkpoint_path, load_checkpoint
from cloud_core.model.encoder import CloudModel
from cloud_core.model.gbm_member import GbmMembers
from cloud_core.model.model_id import FLOAT32, INFERENCE_VARIANTS, variant_model_id
from cloud_core.model.predictor import EMBEDDING_COLUMN, Predictor, available_cores, resolve_device

INT8 = "int8"
MIN_SPEARMAN = 0.995
TOP_K = 100
MIN_TOP_OVERLAP = 0.95
#: the fixed agreement sample (one SCOPE string a line)
SAMPLE_FILE = "agreement_sample.txt"


class FastInferenceError(RuntimeError):
    """A converted model whose predictions do not agree with float32, or a variant that cannot run here."""


def sample_path() -> Path:
    """The packaged agreement sample (``cloud_core/data/model/agreement_sample.txt``)."""
    return Path(str(resources.files("cloud_core") / "data" / "model" / SAMPLE_FILE))


def agreement_sample() -> list[str]:
    """The fixed SCOPE strings every converted model is checked on (valid ones for this code's vocabulary)."""
    from cloud_core.scope.validate import check_scopes

    lines = [s for s in sample_path().read_text().splitlines() if s.strip()]
    valid = check_scopes(lines).valid
    return [s for s, ok in zip(lines, valid, strict=True) if ok]


def quantize_int8(model: CloudModel) -> CloudModel:
    """A copy of ``model`` (eval mode) whose transformer blocks' ``nn.Linear`` layers are int8 (dynamic)."""
    q = copy.deepcopy(model).to("cpu").eval()
    with warnings.catch_warnings():  # torch.ao's eager quantisation warns that it moves to torchao
        warnings.simplefilter("ignore")
        q.encoder.blocks = torch.ao.quantization.quantize_dynamic(
            q.encoder.blocks, {nn.Linear}, dtype=torch.qint8
        )
    return q


#: variant -> conversion of a float32 model
CONVERTERS = {INT8: quantize_int8}


# ------------------------------------------------------------------------------------------- agreement
def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties); 1.0 when both columns are constant and equal."""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(spearmanr(a, b)[0])


def _top_overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Worse of the overlaps of the ``k`` highest and the ``k`` lowest entries of ``a`` and ``b``."""
    k = min(k, len(a))
    if k == 0:
        return 1.0
    hi = len(set(np.argsort(-a, kind="stable")[:k]) & set(np.argsort(-b, kind="stable")[:k])) / k
    lo = len(set(np.argsort(a, kind="stable")[:k]) & set(np.argsort(b, kind="stable")[:k])) / k
    return min(hi, lo)


@dataclass
class Agreement:
    """Per prediction column: Spearman rho and top-k overlap of a converted model against float32."""

    n: int
    spearman: dict[str, float] = field(default_factory=dict)
    top_overlap: dict[str, float] = field(default_factory=dict)
    max_abs_diff: dict[str, float] = field(default_factory=dict)

    def failures(
        self, min_spearman: float = MIN_SPEARMAN, min_top_overlap: float = MIN_TOP_OVERLAP
    ) -> list[str]:
        """One phrase per column below a threshold (empty: accepted)."""
        out = [
            f"{c}: Spearman {r:.4f} < {min_spearman}"
            for c, r in self.spearman.items()
            if not r >= min_spearman
        ]
        out += [
            f"{c}: top-{TOP_K} overlap {o:.0%} < {min_top_overlap:.0%}"
            for c, o in self.top_overlap.items()
            if not o >= min_top_overlap
        ]
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "spearman": self.spearman,
            "top_overlap": self.top_overlap,
            "max_abs_diff": self.max_abs_diff,
        }


def compare(reference: pa.Table, candidate: pa.Table, k: int = TOP_K) -> Agreement:
    """Agreement of ``candidate``'s float columns with ``reference``'s (same rows, same order)."""
    if reference.num_rows != candidate.num_rows:
        raise ValueError(f"{candidate.num_rows} rows against {reference.num_rows}")
    agr = Agreement(n=reference.num_rows)
    for name in reference.column_names:
        col = reference.column(name)
        if name == EMBEDDING_COLUMN or not pa.types.is_floating(col.type):
            continue
        a = col.to_numpy(zero_copy_only=False).astype(np.float64)
        b = candidate.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            agr.spearman[name] = float("nan")  # a value finite in one model only: refused
            continue
        agr.spearman[name] = _spearman(a[ok], b[ok])
        agr.top_overlap[name] = _top_overlap(a[ok], b[ok], k)
        agr.max_abs_diff[name] = float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else 0.0
    return agr


# ------------------------------------------------------------------------------------------- loading
def load_variant_predictor(
    path: str | os.PathLike[str] | None = None,
    variant: str = INT8,
    *,
    device: str | torch.device = "cpu",
    threads: int | None = None,
    sample: list[str] | None = None,
    min_spearman: float = MIN_SPEARMAN,
    min_top_overlap: float = MIN_TOP_OVERLAP,
) -> Predictor:
    """A :class:`Predictor` of inference variant ``variant`` of a checkpoint (``None``: the shipped default).

    ``float32`` is :meth:`Predictor.from_checkpoint`. Any other variant is converted from the float32 weights,
    checked against them on ``sample`` (default: :func:`agreement_sample`) and returned with its own model id;
    the agreement found is on ``predictor.agreement``.

    Raises
    ------
    FastInferenceError
        When the variant's predictions do not agree with float32 (the columns and figures named), or the
        variant is asked to run on a GPU (its kernels are CPU-only).
    ValueError
        For an unknown variant.
    """
    if variant not in INFERENCE_VARIANTS:
        raise ValueError(f"unknown inference variant {variant!r}; choose one of {sorted(INFERENCE_VARIANTS)}")
    if variant == FLOAT32:
        return Predictor.from_checkpoint(path, device=device, threads=threads)
    dev = resolve_device(device)
    if dev.type != "cpu":
        raise FastInferenceError(
            f"inference variant {variant!r} runs on CPU only (device {dev} was asked for)"
        )
    torch.set_num_threads(threads or available_cores())
    ckpt = Path(path) if path is not None else default_checkpoint_path()
    model, cfg, base_id = load_checkpoint(ckpt, device=dev)
    converted = CONVERTERS[variant](model)
    mid = variant_model_id(base_id, variant)
    strings = agreement_sample() if sample is None else list(sample)
    # predict_with_rejects: a sample string longer than this model's maximum is left out of both tables
    reference = Predictor(model, cfg, base_id, dev).predict_with_rejects(strings)[0]
    got = Predictor(converted, cfg, mid, dev).predict_with_rejects(strings)[0]
    agreement = compare(reference, got)
    bad = agreement.failures(min_spearman, min_top_overlap)
    if bad:
        raise FastInferenceError(
            f"inference variant {variant!r} of checkpoint {ckpt} disagrees with float32 on {agreement.n} sample "
            f"strings ({'; '.join(bad[:4])}{'; ...' if len(bad) > 4 else ''}): use float32 inference"
        )
    predictor = Predictor(converted, cfg, mid, dev, GbmMembers.load(ckpt))
    predictor.agreement = agreement  # type: ignore[attr-defined]
    return predictor


# ------------------------------------------------------------------------------------------- the sample
def write_agreement_sample(sources: list[tuple[str, int]], out: str | os.PathLike[str], seed: int = 0) -> int:
    """Write the agreement sample: ``n`` distinct valid SCOPE strings drawn (``seed``) from each Parquet file.

    Each file needs a ``scope`` column. Returns the number of strings written.
    """
    import pyarrow.parquet as pq

    from cloud_core.scope.validate import check_scopes

    rng = np.random.default_rng(seed)
    picked: list[str] = []
    for file, n in sources:
        col = [s for s in dict.fromkeys(pq.read_table(file, columns=["scope"]).column(0).to_pylist()) if s]
        col = [s for s, ok in zip(col, check_scopes(col).valid, strict=True) if ok and s not in picked]
        picked += [col[i] for i in sorted(rng.choice(len(col), size=min(n, len(col)), replace=False))]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(picked) + "\n")
    return len(picked)


if __name__ == "__main__":  # python -m cloud_core.model.fast POOL.parquet:N CORPUS.parquet:N
    import sys

    pairs = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in sys.argv[1:]]
    print(write_agreement_sample(pairs, sample_path()), "strings written to", sample_path())
