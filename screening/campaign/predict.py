"""Predict step: SCOPE strings of one chunk -> one float column per model target (+ rejects).

The predictor is loaded once per process (:func:`load_predictor` caches it), so a Dask worker pays for the
checkpoint once, not per chunk.
"""

from __future__ import annotations

import functools
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from cloud_core.rejects import Reject
from screening.campaign.rejects_table import rejects_to_table


class PredictReason(StrEnum):
    """Why a candidate got no prediction."""

    MODEL_ERROR = "model_error"
    NON_FINITE = "non_finite"


class PredictorLike(Protocol):
    """What the campaign needs of a predictor (``cloud_core.model.Predictor`` provides it)."""

    model_id: str
    targets: Any

    def predict(self, scope_strings: list[str], batch_size: int = ...) -> pa.Table: ...


@functools.lru_cache(maxsize=4)
def load_predictor(checkpoint: str | None, device: str = "auto", inference: str = "float32") -> PredictorLike:
    """Load (once per process) the predictor of ``checkpoint`` (``None``: the shipped default).

    ``inference``: ``float32``, or a fast CPU variant (``int8``, :mod:`cloud_core.model.fast`: converted and
    checked against float32 at load; its model id is the one :func:`resolve_checkpoint` gives).
    Inside a Dask worker (which sets ``OMP_NUM_THREADS``) torch uses that many threads, so workers sharing a
    machine do not oversubscribe its cores.
    """
    from cloud_core.model.fast import load_variant_predictor

    threads = os.environ.get("OMP_NUM_THREADS")
    if inference != "float32" and device == "auto":
        device = "cpu"  # the quantised kernels are CPU-only
    return load_variant_predictor(
        checkpoint, inference, device=device, threads=int(threads) if threads else None
    )


def resolve_checkpoint(checkpoint: str | None, inference: str = "float32") -> tuple[str, str]:
    """``(checkpoint directory, model id)`` without loading the model (``None``: the shipped default).

    ``inference`` other than ``float32`` gives that variant's id
    (:func:`cloud_core.model.model_id.variant_model_id`), which the campaign's parameter hash then covers.

    Raises
    ------
    FileNotFoundError
        When the checkpoint directory (or the shipped default) is missing.
    """
    path = Path(checkpoint).expanduser().resolve() if checkpoint else shipped_checkpoint_path()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"model checkpoint {path} not found (a directory with model.safetensors and config.json)"
            + (
                "; the shipped default lives in cloud_core/data/checkpoints/default/"
                if not checkpoint
                else ""
            )
        )
    from cloud_core.model.model_id import variant_model_id

    return str(path), variant_model_id(model_id_of(path), inference)


# The two functions below repeat cloud_core.model.checkpoint's default_checkpoint_path and checkpoint_id without
# importing torch (that module imports it at the top): a command needs the model id, to name the campaign and to
# refuse a running one, in its first second. tests/store/test_campaign_start.py checks that they agree.
def shipped_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package (``cloud_core/data/checkpoints/default``)."""
    from importlib import resources

    return Path(str(resources.files("cloud_core") / "data" / "checkpoints" / "default"))


def model_id_of(path: Path) -> str:
    """The model id of a checkpoint directory (:func:`cloud_core.model.model_id.model_id`, no torch import)."""
    from cloud_core.model.model_id import model_id

    return model_id(path)


def _predict_isolating(
    predictor: PredictorLike, ids: list[str], scopes: list[str], batch_size: int, rejects: list
):
    """Predict; if the model raises on a batch, bisect to find and reject the offending strings only."""
    try:
        return ids, predictor.predict(scopes, batch_size=batch_size)
    except Exception as exc:
        if len(scopes) == 1:
            rejects.append(
                Reject(ids[0], "predict", PredictReason.MODEL_ERROR, f"{type(exc).__name__}: {exc}"[:500])
            )
            return [], None
    mid = len(scopes) // 2
    out_ids, tables = [], []
    for lo, hi in ((0, mid), (mid, len(scopes))):
        got_ids, t = _predict_isolating(predictor, ids[lo:hi], scopes[lo:hi], batch_size, rejects)
        if t is not None:
            out_ids += got_ids
            tables.append(t)
    return out_ids, (pa.concat_tables(tables) if tables else None)


def predict_chunk(
    encoded: pa.Table, predictor: PredictorLike, *, batch_size: int = 512
) -> tuple[pa.Table, pa.Table]:
    """Run the model over one encoded chunk.

    Returns
    -------
    predictions, rejects
        ``predictions``: ``candidate_id`` then the predictor's float columns (one per target, ``theta_K`` when
        the model has a Debye head); rows with a non-finite value are rejected instead (stage ``predict``).
    """
    ids = encoded.column("candidate_id").to_pylist()
    scopes = encoded.column("scope").to_pylist()
    rejects: list[Reject] = []
    if not ids:
        return pa.table({"candidate_id": pa.array([], pa.string())}), rejects_to_table(rejects)
    table = None
    if hasattr(predictor, "predict_with_rejects"):
        try:
            table, model_rejects = predictor.predict_with_rejects(scopes, ids, batch_size=batch_size)
        except Exception:  # an error that is not one bad string: isolate it below
            table = None
        else:
            rejects.extend(model_rejects)
            got_ids = table.column("id").to_pylist()
            table = table.drop_columns(
                [c for c in ("id", "model_id", "embedding") if c in table.column_names]
            )
    if table is None:
        got_ids, table = _predict_isolating(predictor, ids, scopes, batch_size, rejects)
    if table is None:
        return pa.table({"candidate_id": pa.array([], pa.string())}), rejects_to_table(rejects)
    if table.num_rows != len(got_ids):
        raise RuntimeError(f"the predictor returned {table.num_rows} rows for {len(got_ids)} inputs")
    keep = np.ones(len(got_ids), dtype=bool)
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_floating(col.type):
            vals = col.to_numpy(zero_copy_only=False).astype(float)
            bad = ~np.isfinite(vals)
            for i in np.flatnonzero(bad & keep):
                rejects.append(Reject(got_ids[i], "predict", PredictReason.NON_FINITE, f"{name} = {vals[i]}"))
            keep &= ~bad
    table = table.append_column("candidate_id", pa.array(got_ids, pa.string()))
    table = table.select(["candidate_id"] + [n for n in table.column_names if n != "candidate_id"])
    if not keep.all():
        table = table.filter(pa.array(keep))
    return table, rejects_to_table(rejects)
