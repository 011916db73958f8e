"""Batched inference: load a checkpoint once, bucket by sequence length, predict every target at once.

On CUDA the forward pass runs under bf16 autocast; on CPU in float32 with one torch thread per available
core. Inputs are sorted by token count and cut into batches, so each batch is padded only to its own
longest string (a batch of equal lengths gets no attention mask at all, the fastest SDPA path); results
come back in input order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from cloud_core.model.checkpoint import CheckpointConfig, TargetSpec, default_checkpoint_path, load_checkpoint
from cloud_core.model.encoder import CloudModel
from cloud_core.model.gbm_member import GbmMembers
from cloud_core.model.structure_term import apply_structure_terms
from cloud_core.model.vocab import ScopeTokenError, get_vocabulary
from cloud_core.rejects import Reject

MODEL_ID_COLUMN = "model_id"
EMBEDDING_COLUMN = "embedding"
#: suffix of the calibrated standard deviation columns (``e_form_std``, ``theta_K_std``, ...)
STD_SUFFIX = "_std"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else is passed to :class:`torch.device`."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but CUDA is not available")
    return dev


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


class Predictor:
    """A loaded CLOUD model ready to predict from SCOPE strings.

    Use :meth:`from_checkpoint`; ``predictor.model_id`` is the checkpoint's sha256 and ``predictor.targets``
    the names of the predicted columns.
    """

    def __init__(
        self,
        model: CloudModel,
        config: CheckpointConfig,
        model_id: str,
        device: torch.device,
        members: GbmMembers | None = None,
    ) -> None:
        self.model = model
        #: the checkpoint's declared gradient-boosting members (:mod:`cloud_core.model.gbm_member`), if any
        self.members = members
        self.config = config
        self.model_id = model_id
        self.device = device
        self.vocab = get_vocabulary()
        self._specs: dict[str, TargetSpec] = {t.name: t for t in config.targets}
        self._debye = [h.name for h in config.model.heads if h.kind == "debye"]

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str] | None = None,
        device: str | torch.device = "auto",
        threads: int | None = None,
    ) -> Predictor:
        """Load a checkpoint directory (``None``: the shipped default) onto ``device``.

        ``threads`` sets torch's CPU threads (default: the cores this process may use).
        """
        dev = resolve_device(device)
        if dev.type == "cpu":
            torch.set_num_threads(threads or available_cores())
        ckpt = Path(path) if path is not None else default_checkpoint_path()
        model, cfg, model_id = load_checkpoint(ckpt, device=dev)
        return cls(model, cfg, model_id, dev, GbmMembers.load(ckpt))

    @property
    def targets(self) -> list[str]:
        """Names of the float columns that :meth:`predict` returns (``theta_K`` last when a Debye head exists)."""
        return self.config.prediction_columns

    @property
    def std_columns(self) -> list[str]:
        """Names of the ``<target>_std`` columns (calibrated standard deviations) that :meth:`predict` adds."""
        return [c for c in self.targets if c.endswith(STD_SUFFIX)]

    @property
    def max_len(self) -> int:
        return self.config.model.max_len

    def default_batch_size(self) -> int:
        return 4096 if self.device.type == "cuda" else 512

    # ------------------------------------------------------------------ prediction
    def predict(
        self, scope_strings: Sequence[str], batch_size: int | None = None, *, embeddings: bool = False
    ) -> pa.Table:
        """Predict every target for each SCOPE string.

        Returns
        -------
        pyarrow.Table
            One row per input, in input order: one float64 column per target (regression in the target's
            units; binary classification as the probability of class 1, multi-class as the argmax class),
            ``theta_K`` when the model has a Debye head, and an ``embedding`` fixed-size-list column if
            ``embeddings``.

        Raises
        ------
        InvalidScopeError
            If a string is not a valid SCOPE string (:mod:`cloud_core.scope.validate`; use
            :meth:`predict_with_rejects` to keep going).
        ScopeTokenError
            If a string is longer than the model's maximum.
        """
        from cloud_core.scope.validate import validate_scope

        encoded = [self._encode(validate_scope(s)) for s in scope_strings]
        return self._finish(self._run(encoded, batch_size, embeddings), list(scope_strings), batch_size)

    def predict_with_rejects(
        self,
        scope_strings: Sequence[str],
        ids: Sequence[str] | None = None,
        batch_size: int | None = None,
        *,
        embeddings: bool = False,
    ) -> tuple[pa.Table, list[Reject]]:
        """Like :meth:`predict`, but an invalid string becomes a :class:`Reject` (stage ``predict``).

        Every string goes through the SCOPE validator first (:func:`cloud_core.scope.validate.check_scopes`):
        an invalid one is rejected with the validator's reason (``formula_mismatch``, ``not_canonical``, ...);
        a valid one longer than the model's maximum with ``bad_scope``. The table has an ``id`` column first
        and the ``model_id`` column last; it holds the accepted rows only.
        """
        from cloud_core.scope.validate import check_scopes

        ids = [str(i) for i in range(len(scope_strings))] if ids is None else [str(i) for i in ids]
        if len(ids) != len(scope_strings):
            raise ValueError(f"{len(ids)} ids for {len(scope_strings)} SCOPE strings")
        check = check_scopes(scope_strings)
        ok_ids, encoded = [], []
        rejects = check.rejects(ids, stage="predict")
        for k, (i, s) in enumerate(zip(ids, scope_strings, strict=True)):
            if not check.valid[k]:
                continue
            try:
                encoded.append(self._encode(s))
                ok_ids.append(i)
            except ScopeTokenError as exc:
                rejects.append(Reject(i, "predict", "bad_scope", str(exc)))
        accepted = set(ok_ids)
        table = self._run(encoded, batch_size, embeddings)
        table = self._finish(
            table, [s for i, s in zip(ids, scope_strings, strict=True) if i in accepted], batch_size
        )
        table = table.add_column(0, "id", pa.array(ok_ids, pa.string()))
        table = table.append_column(MODEL_ID_COLUMN, pa.array([self.model_id] * len(ok_ids), pa.string()))
        return table, rejects

    def _finish(self, table: pa.Table, scopes: list[str], batch_size: int | None) -> pa.Table:
        """The network's table -> the predictions: members blended in, then the structure terms applied."""

        def composition_pass(comps: list[str]) -> pa.Table:
            return self._blend(self._run([self._encode(c) for c in comps], batch_size, False), comps)

        return apply_structure_terms(
            self._blend(table, scopes), scopes, self.config.targets, composition_pass
        )

    def _blend(self, table: pa.Table, scopes: Sequence[str]) -> pa.Table:
        """The network's table with the gradient-boosting members blended in (unchanged without members)."""
        if self.members is None or table.num_rows == 0:
            return table
        cols = {n: table.column(n).to_numpy() for n in table.column_names if n != EMBEDDING_COLUMN}
        cols = self.members.apply(cols, list(scopes))
        return pa.table(
            {
                n: (pa.array(cols[n], pa.float64()) if n in cols else table.column(n))
                for n in table.column_names
            }
        )

    def _encode(self, s: str) -> tuple[list[int], list[int]]:
        ids, sec = self.vocab.encode(s)
        if len(ids) > self.max_len:
            raise ScopeTokenError(f"{len(ids)} tokens, more than the model's maximum {self.max_len}: {s!r}")
        return ids, sec

    def _run(
        self, encoded: list[tuple[list[int], list[int]]], batch_size: int | None, embeddings: bool
    ) -> pa.Table:
        n = len(encoded)
        bs = int(batch_size or self.default_batch_size())
        if bs < 1:
            raise ValueError("batch_size must be >= 1")
        lengths = np.fromiter((len(e[0]) for e in encoded), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        heads = [h for h in self.config.model.heads]
        outputs: dict[str, np.ndarray] = {}
        for h in heads:
            outputs[h.name] = np.empty((n, h.n_out), dtype=np.float32)
        emb = np.empty((n, self.config.model.d_model), dtype=np.float32) if embeddings else None
        cuda = self.device.type == "cuda"
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                batch = self.vocab.pad([encoded[i] for i in idx])
                ids = torch.from_numpy(batch.input_ids).to(self.device, non_blocking=True)
                sec = torch.from_numpy(batch.section_ids).to(self.device, non_blocking=True)
                mask = None
                if batch.lengths.min() != batch.lengths.max():
                    mask = torch.from_numpy(batch.attention_mask).to(self.device, non_blocking=True)
                out = self.model(ids, sec, mask)
                for h in heads:
                    outputs[h.name][idx] = out[h.name].float().cpu().numpy()
                if emb is not None:
                    emb[idx] = out["pooled"].float().cpu().numpy()
        cols: dict[str, pa.Array] = {}
        for t in self.config.targets:
            if t.name in self._debye:
                continue
            raw = outputs[t.name]
            if t.kind == "regression":
                val = t.value(torch.from_numpy(raw[:, 0].astype(np.float64))).numpy()
            elif t.kind == "classification":
                z = raw - raw.max(axis=1, keepdims=True)
                p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
                val = p[:, 1].astype(np.float64) if raw.shape[1] == 2 else p.argmax(axis=1).astype(np.float64)
            else:  # pragma: no cover - a registered kind without a mapping
                val = raw[:, 0].astype(np.float64)
            cols[t.name] = pa.array(val, pa.float64())
        for name in self._debye:
            cols["theta_K"] = pa.array(outputs[name][:, 0].astype(np.float64), pa.float64())
        for t in self.config.targets:  # standard deviations, after all the values
            if not t.uncertainty:
                continue
            sigma = t.std_scale * math.sqrt(2.0) * np.exp(np.clip(outputs[t.uncertainty][:, 0], -7.0, 5.0))
            if t.kind == "debye":  # sigma of ln theta -> of theta (first order)
                col = "theta_K"
                std = sigma * cols[col].to_numpy()
            else:
                col = t.name
                std = sigma * t.std
            cols[f"{col}{STD_SUFFIX}"] = pa.array(std.astype(np.float64), pa.float64())
        if emb is not None:
            d = emb.shape[1]
            cols[EMBEDDING_COLUMN] = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), d)
        return pa.table(cols)  # no targets and no embeddings: a table without columns
