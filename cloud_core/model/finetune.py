"""Multi-task fine-tuning of a CLOUD model on labelled SCOPE strings.

Input: Parquet/Arrow tables with a ``scope`` column and one column per target (NaN = missing label), e.g.
the tables under ``data/labels``. Several targets train at once; a row contributes to the loss of the
targets it has labels for only.

- Regression targets are standardised with the training rows' mean/std (stored in the checkpoint, and
  undone by the :class:`~cloud_core.model.Predictor`); loss L1 on the standardised values.
- Classification targets (integer class labels, negative or NaN = missing): cross-entropy.
- A Debye target (Debye temperatures in K): the CLOUD-DEBYE head (:mod:`cloud_core.debye`), loss
  ``|ln theta_pred - ln theta_true|``; the checkpoint then predicts ``theta_K`` and curves follow.
- Validation split by a hash of the SCOPE string (a string is never in both sets) or a separate table;
  early stopping on the mean validation loss; the best epoch's weights are saved.
- From a pre-trained checkpoint (``init``: its encoder is reused) or from scratch (``size``); the encoder
  can be frozen for the first ``freeze_epochs`` epochs (heads only).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from cloud_core.model.checkpoint import TargetSpec, load_checkpoint, save_checkpoint
from cloud_core.model.data import DataError, resolve_parquet_paths, valid_scope_mask
from cloud_core.model.encoder import SIZES, CloudModel, ModelConfig
from cloud_core.model.heads import HeadSpec
from cloud_core.model.predictor import resolve_device
from cloud_core.model.run_config import FinetuneConfig, add_finetune_arguments, finetune_config_from_args
from cloud_core.model.train_state import lr_at, param_groups
from cloud_core.model.vocab import ScopeTokenError, get_vocabulary

log = logging.getLogger("cloud.finetune")


@dataclass
class LabelledSet:
    """Tokenised rows with their label matrix (NaN = missing)."""

    encoded: list[tuple[list[int], list[int]]]
    labels: np.ndarray  # (n, n_targets) float64
    scopes: list[str]
    skipped: int = 0


def read_table(paths: list[str], column: str = "scope") -> pa.Table:
    """Concatenate Parquet tables (columns unified; missing columns become nulls), valid SCOPE rows only.

    Rows whose ``column`` is not a valid SCOPE string (:mod:`cloud_core.scope.validate`) are dropped and
    counted in a warning.
    """
    files = resolve_parquet_paths(paths)
    tables = [pq.read_table(p) for p in files]
    table = pa.concat_tables(tables, promote_options="permissive")
    if column not in table.column_names:
        raise DataError(f"fine-tuning data has no {column!r} column (columns: {table.column_names})")
    valid = valid_scope_mask(table.column(column), ", ".join(str(f) for f in files))
    return table if valid.all() else table.filter(pa.array(valid))


def infer_targets(table: pa.Table, cfg: FinetuneConfig) -> list[str]:
    if cfg.targets:
        names = list(cfg.targets)
    else:
        names = [
            f.name
            for f in table.schema
            if f.name != cfg.column and (pa.types.is_floating(f.type) or f.name in cfg.classify)
        ]
    for extra in cfg.classify + ([cfg.debye] if cfg.debye else []):
        if extra not in names:
            names.append(extra)
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise DataError(f"target columns {missing} are not in the data (columns: {table.column_names})")
    if not names:
        raise DataError("no target columns: pass targets or give the table float columns")
    return names


def labelled_set(table: pa.Table, targets: list[str], column: str, max_len: int) -> LabelledSet:
    vocab = get_vocabulary()
    scopes = table.column(column).to_pylist()
    lab = np.column_stack(
        [pc.cast(table.column(t), pa.float64()).to_numpy(zero_copy_only=False) for t in targets]
    ).astype(np.float64)
    enc, keep, skipped = [], [], 0
    for i, s in enumerate(scopes):
        try:
            e = vocab.encode(s)
        except ScopeTokenError:
            skipped += 1
            continue
        if len(e[0]) > max_len:
            skipped += 1
            continue
        enc.append(e)
        keep.append(i)
    labels = lab[keep]
    has_label = np.isfinite(labels).any(axis=1)
    return LabelledSet(
        [e for e, h in zip(enc, has_label, strict=True) if h],
        labels[has_label],
        [scopes[i] for i, h in zip(keep, has_label, strict=True) if h],
        skipped,
    )


def hash_split(scopes: list[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation rows: a stable hash of (seed, SCOPE string) below ``fraction``."""
    out = np.empty(len(scopes), dtype=bool)
    for i, s in enumerate(scopes):
        h = hashlib.sha256(f"{seed}:{s}".encode()).digest()
        out[i] = int.from_bytes(h[:8], "big") / 2**64 < fraction
    return out


def _subset(ds: LabelledSet, mask: np.ndarray) -> LabelledSet:
    idx = np.flatnonzero(mask)
    return LabelledSet([ds.encoded[i] for i in idx], ds.labels[idx], [ds.scopes[i] for i in idx])


def _laplace_nll(resid: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """Mean Laplace negative log-likelihood (up to ln 2) of residuals given ``ln b`` (clamped for safety)."""
    log_b = log_b.clamp(-7.0, 5.0)
    return (resid.abs() * torch.exp(-log_b) + log_b).mean()


class MultiTaskLoss:
    """Per-target losses on a batch, with missing labels masked; returns the mean over labelled targets."""

    def __init__(self, specs: list[TargetSpec]) -> None:
        self.specs = specs

    def per_task(self, out: dict[str, torch.Tensor], y: torch.Tensor) -> list[torch.Tensor | None]:
        """One loss per target (``None`` when the batch has no label for it).

        A target with an uncertainty head adds the Laplace negative log-likelihood ``|r| / b + ln b`` of its
        (detached) residual ``r``: the scale head learns how large the error is without pulling the mean away
        from the plain L1 fit.
        """
        from cloud_core.debye.head import theta_loss

        losses: list[torch.Tensor | None] = []
        for j, t in enumerate(self.specs):
            col = y[:, j]
            pred = out[t.name].float()
            if t.kind == "regression":
                m = torch.isfinite(col)
                if not m.any():
                    losses.append(None)
                    continue
                z = (t.value(pred[m, 0]) - t.mean) / t.std if t.link != "identity" else pred[m, 0]
                resid = z - (col[m] - t.mean) / t.std
                loss = resid.abs().mean()
                if t.uncertainty:
                    loss = loss + _laplace_nll(resid.detach(), out[t.uncertainty][m, 0].float())
                losses.append(loss)
            elif t.kind == "classification":
                m = torch.isfinite(col) & (col >= 0)
                losses.append(F.cross_entropy(pred[m], col[m].long()) if m.any() else None)
            elif t.kind == "debye":
                m = torch.isfinite(col) & (col > 0)
                if not m.any():
                    losses.append(None)
                    continue
                loss = theta_loss(pred[:, 0], col)
                if t.uncertainty:
                    resid = torch.log(pred[m, 0]) - torch.log(col[m])
                    loss = loss + _laplace_nll(resid.detach(), out[t.uncertainty][m, 0].float())
                losses.append(loss)
            else:  # pragma: no cover
                raise ValueError(f"no loss for target kind {t.kind!r}")
        return losses

    def __call__(self, out: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        parts = [p for p in self.per_task(out, y) if p is not None]
        return torch.stack(parts).mean()


def _batches(ds: LabelledSet, idx: np.ndarray, batch_size: int, device: torch.device):
    vocab = get_vocabulary()
    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        b = vocab.pad([ds.encoded[i] for i in rows])
        yield (
            torch.from_numpy(b.input_ids).to(device),
            torch.from_numpy(b.section_ids).to(device),
            torch.from_numpy(b.attention_mask).to(device),
            torch.from_numpy(ds.labels[rows]).to(device),
        )


@torch.no_grad()
def evaluate(
    model: CloudModel, ds: LabelledSet, specs: list[TargetSpec], device: torch.device, batch_size: int = 512
) -> dict[str, Any]:
    """Validation loss (mean over targets) and per-target MAE in the targets' own units."""
    model.eval()
    cuda = device.type == "cuda"
    preds = {name: [] for t in specs for name in (t.name, t.uncertainty) if name}
    order = np.argsort([len(e[0]) for e in ds.encoded], kind="stable")
    for ids, sec, att, _ in _batches(ds, order, batch_size, device):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            out = model(ids, sec, att)
        for name in preds:
            preds[name].append(out[name].float().cpu())
    y = torch.from_numpy(ds.labels[order])
    out = {k: torch.cat(v) for k, v in preds.items()}
    per = MultiTaskLoss(specs).per_task(out, y)
    result: dict[str, Any] = {"n": len(ds.encoded), "targets": {}}
    losses = []
    for j, (t, loss) in enumerate(zip(specs, per, strict=True)):
        col = y[:, j].numpy()
        entry: dict[str, Any] = {"loss": None if loss is None else float(loss)}
        if loss is not None:
            losses.append(float(loss))
        m = np.isfinite(col)
        if t.kind == "regression" and m.any():
            value = t.value(out[t.name][:, 0]).numpy()
            entry["mae"] = float(np.abs(value[m] - col[m]).mean())
            entry["mad"] = float(np.abs(col[m] - col[m].mean()).mean())
        elif t.kind == "debye" and m.any():
            entry["mae"] = float(np.abs(out[t.name][:, 0].numpy()[m] - col[m]).mean())
            entry["mad"] = float(np.abs(col[m] - col[m].mean()).mean())
        elif t.kind == "classification" and m.any():
            m &= col >= 0
            entry["accuracy"] = float((out[t.name].argmax(-1).numpy()[m] == col[m]).mean())
        entry["n"] = int(m.sum())
        result["targets"][t.name] = entry
    result["loss"] = float(np.mean(losses)) if losses else float("nan")
    return result


def finetune(cfg: FinetuneConfig) -> Path:
    """Fine-tune and write ``out_dir/checkpoint`` (best validation epoch) and ``out_dir/metrics.jsonl``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = read_table(cfg.data, cfg.column)
    names = infer_targets(table, cfg)
    init_cfg = None
    if cfg.init:
        base, init_cfg, init_id = load_checkpoint(cfg.init, device="cpu")
        max_len = base.cfg.max_len
    else:
        base, init_id, max_len = None, None, cfg.max_len
    full = labelled_set(table, names, cfg.column, max_len)
    if cfg.val_data:
        train = full
        val = labelled_set(read_table(cfg.val_data, cfg.column), names, cfg.column, max_len)
    else:
        is_val = hash_split(full.scopes, cfg.val_fraction, cfg.seed)
        train, val = _subset(full, ~is_val), _subset(full, is_val)
    if not train.encoded or not val.encoded:
        raise DataError(f"need training and validation rows; got {len(train.encoded)} and {len(val.encoded)}")
    specs: list[TargetSpec] = []
    heads: list[HeadSpec] = []
    for j, name in enumerate(names):
        col = train.labels[:, j]
        lab = col[np.isfinite(col)]
        if lab.size == 0:
            raise DataError(f"target {name!r} has no labels in the training rows")
        unit = cfg.units.get(name, "")
        common = dict(n_layers=cfg.head_layers, hidden=cfg.head_hidden, dropout=cfg.dropout)
        if name == cfg.debye:
            med = float(np.median(lab))
            specs.append(TargetSpec(name, kind="debye", unit=unit or "K"))
            heads.append(
                HeadSpec(name, kind="debye", options={"theta_init_K": med, "theta_scale_K": med}, **common)
            )
        elif name in cfg.classify:
            n_classes = int(np.nanmax(lab)) + 1
            specs.append(TargetSpec(name, kind="classification", n_classes=max(2, n_classes), unit=unit))
            heads.append(HeadSpec(name, kind="classification", n_out=max(2, n_classes), **common))
        else:
            std = float(lab.std()) if lab.size > 1 and lab.std() > 0 else 1.0
            specs.append(TargetSpec(name, mean=float(lab.mean()), std=std, unit=unit))
            heads.append(HeadSpec(name, **common))
    torch.manual_seed(cfg.seed)
    if base is not None:
        mcfg = copy.deepcopy(base.cfg)
        mcfg.heads, mcfg.mlm_head, mcfg.dropout, mcfg.pooling = heads, False, cfg.dropout, cfg.pooling
        model = CloudModel(mcfg)
        enc_state = {k: v for k, v in base.state_dict().items() if k.startswith("encoder.")}
        model.load_state_dict(enc_state, strict=False)
    else:
        if cfg.size not in SIZES:
            raise ValueError(f"unknown size {cfg.size!r}; choose one of {sorted(SIZES)}")
        mcfg = ModelConfig.from_size(
            cfg.size, len(get_vocabulary()), dropout=cfg.dropout, max_len=cfg.max_len,
            pooling=cfg.pooling, mlm_head=False, heads=heads,
        )  # fmt: skip
        model = CloudModel(mcfg)
    model.to(device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    steps_per_epoch = math.ceil(len(train.encoded) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_frac * total)
    loss_fn = MultiTaskLoss(specs)
    cuda = device.type == "cuda"
    best, best_epoch, best_eval, bad_epochs = math.inf, -1, None, 0
    metrics = (out_dir / "metrics.jsonl").open("w")
    t0 = time.monotonic()
    step = 0
    provenance_base = {
        "kind": "finetune",
        "config": asdict(cfg),
        "init_model_id": init_id,
        "init_provenance": init_cfg.provenance if init_cfg is not None else None,
        "data_files": [str(p) for p in resolve_parquet_paths(cfg.data)],
        "n_train": len(train.encoded),
        "n_val": len(val.encoded),
        "skipped_rows": full.skipped,
        "torch": torch.__version__,
    }
    for epoch in range(cfg.epochs):
        frozen = epoch < cfg.freeze_epochs
        for p in model.encoder.parameters():
            p.requires_grad_(not frozen)
        model.train()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train.encoded))
        running, nb = 0.0, 0
        for ids, sec, att, y in _batches(train, order, cfg.batch_size, device):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, cfg.lr, warmup)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                out = model(ids, sec, att)
            loss = loss_fn(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            running += float(loss.detach())
            nb += 1
            step += 1
        ev = evaluate(model, val, specs, device)
        rec = {"epoch": epoch + 1, "step": step, "train_loss": running / max(nb, 1), "val": ev,
               "frozen_encoder": frozen, "elapsed_s": round(time.monotonic() - t0, 2)}  # fmt: skip
        metrics.write(json.dumps(rec) + "\n")
        metrics.flush()
        log.info("epoch %d train %.4f val %.4f", epoch + 1, rec["train_loss"], ev["loss"])
        if ev["loss"] < best:
            best, best_epoch, best_eval, bad_epochs = ev["loss"], epoch + 1, ev, 0
            prov = {**provenance_base, "best_epoch": best_epoch, "val": best_eval}
            save_checkpoint(out_dir / "checkpoint", model, targets=specs, provenance=prov)
        else:
            bad_epochs += 1
            if bad_epochs >= cfg.patience:
                log.info("early stop at epoch %d (best %d)", epoch + 1, best_epoch)
                break
        if cfg.max_minutes is not None and time.monotonic() - t0 > 60 * cfg.max_minutes:
            log.info("time limit reached at epoch %d", epoch + 1)
            break
    metrics.close()
    return out_dir / "checkpoint"


# ---------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloud_core.model.finetune", description=__doc__.split("\n")[0]
    )
    add_finetune_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    print(finetune(finetune_config_from_args(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
