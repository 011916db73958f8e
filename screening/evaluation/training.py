"""Multi-task fine-tuning on composition-level label tables, evaluation on test tables, sample predictions.

The fine-tuning uses ``cloud_core.model``'s encoder, heads, checkpoints, LR schedule and
``cloud_core.model.finetune``'s multi-task loss, validation split and evaluation, in a compact loop with a
step budget fixed from wall-clock time (that module's loop counts whole epochs, which a shared 2-core CPU
cannot afford for ~100k rows several times over):

- one regression head per task (``N x (Linear + SiLU) -> Linear``, L1 on standardised targets), and the
  CLOUD-DEBYE head for the Debye temperature (positive by construction, log-theta loss); missing labels masked;
- AdamW, linear warm-up then cosine; the number of steps is fixed after timing the first 20 (recorded);
- 5% of the training rows (hash of the SCOPE string) held out for model selection: the weights with the best
  validation loss are kept.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from screening.corpora.labels import TASKS, Task
from screening.evaluation.baselines import regression_metrics

log = logging.getLogger(__name__)


def merge_tasks(tables: Mapping[Task, pd.DataFrame]) -> tuple[list[str], np.ndarray, list[Task]]:
    """One row per SCOPE string, one column per task (NaN where a task has no label)."""
    tasks = list(tables)
    index: dict[str, int] = {}
    for df in tables.values():
        for s in df["scope"]:
            index.setdefault(s, len(index))
    y = np.full((len(index), len(tasks)), np.nan)
    for j, t in enumerate(tasks):
        df = tables[t]
        rows = np.fromiter((index[s] for s in df["scope"]), dtype=np.int64, count=len(df))
        y[rows, j] = df["target"].to_numpy(dtype=float)
    return list(index), y, tasks


def _encode_all(scopes: list[str], max_len: int) -> tuple[list[tuple[list[int], list[int]]], np.ndarray]:
    from cloud_core.model import get_vocabulary

    vocab = get_vocabulary()
    enc, ok = [], []
    for s in scopes:
        try:
            ids, sec = vocab.encode(s)
        except ValueError:
            ok.append(False)
            continue
        if len(ids) > max_len:
            ok.append(False)
            continue
        enc.append((ids, sec))
        ok.append(True)
    return enc, np.asarray(ok, dtype=bool)


def _batch(vocab, encoded, idx):
    b = vocab.pad([encoded[i] for i in idx])
    ids = torch.from_numpy(b.input_ids)
    sec = torch.from_numpy(b.section_ids)
    mask = None if b.lengths.min() == b.lengths.max() else torch.from_numpy(b.attention_mask)
    return ids, sec, mask


def finetune_multitask(
    tables: Mapping[Task, pd.DataFrame],
    out: str | Path,
    *,
    init: str | Path | None = None,
    size: str = "tiny",
    max_len: int = 64,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup_frac: float = 0.05,
    budget_minutes: float = 4.0,
    steps: int | None = None,
    val_fraction: float = 0.05,
    eval_every: int = 100,
    threads: int | None = 1,
    debye_task: Task | None = Task.AFLOW_DEBYE,
    provenance: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Fine-tune one multi-task model and save it as a checkpoint at ``out``.

    Reuses ``cloud_core.model.finetune``'s loss (L1 on standardised regression targets, the CLOUD-DEBYE head's
    log-theta loss for ``debye_task``), validation split (hash of the SCOPE string) and evaluation; adds a
    fixed step budget derived from wall-clock time.

    Parameters
    ----------
    tables
        Task -> training table (columns scope, target).
    init
        A (pre-trained) checkpoint whose encoder weights start the model; ``None``: random initialisation.
    budget_minutes, steps
        Fix the number of optimiser steps from the time budget (after timing 20 steps) unless ``steps``.

    Returns
    -------
    (checkpoint path, training record)
    """
    import cloud_core.debye.head  # noqa: F401  (registers the "debye" head kind)
    from cloud_core.model import (
        CloudModel,
        HeadSpec,
        ModelConfig,
        TargetSpec,
        get_vocabulary,
        load_checkpoint,
    )
    from cloud_core.model.checkpoint import save_checkpoint
    from cloud_core.model.finetune import LabelledSet, MultiTaskLoss, hash_split
    from cloud_core.model.finetune import evaluate as evaluate_val
    from cloud_core.model.train_state import lr_at, param_groups

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device("cpu")
    vocab = get_vocabulary()
    scopes, y, tasks = merge_tasks(tables)
    encoded, ok = _encode_all(scopes, max_len)
    y = y[ok]
    scopes = [s for s, k in zip(scopes, ok, strict=True) if k]
    if len(encoded) < 10:
        raise ValueError(f"only {len(encoded)} encodable training rows")
    names = [t.value for t in tasks]
    is_val = hash_split(scopes, val_fraction, seed)
    tr_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    val = LabelledSet([encoded[i] for i in val_idx], y[val_idx], [scopes[i] for i in val_idx])
    specs, heads = [], []
    for j, (name, task) in enumerate(zip(names, tasks, strict=True)):
        lab = y[tr_idx, j]
        lab = lab[np.isfinite(lab)]
        if lab.size == 0:
            raise ValueError(f"task {name} has no training labels")
        if task == debye_task:
            med = float(np.median(lab))
            specs.append(TargetSpec(name, kind="debye", unit=TASKS[task].unit))
            heads.append(HeadSpec(name, kind="debye", options={"theta_init_K": med, "theta_scale_K": med}))
        else:
            std = float(lab.std()) if lab.size > 1 and lab.std() > 0 else 1.0
            specs.append(TargetSpec(name, mean=float(lab.mean()), std=std, unit=TASKS[task].unit))
            heads.append(HeadSpec(name))
    if init is not None:
        pre, _, init_id = load_checkpoint(init)
        if pre.cfg.max_len != max_len:
            raise ValueError(f"pre-trained max_len {pre.cfg.max_len} differs from {max_len}")
        cfg = ModelConfig.from_dict(
            {**pre.cfg.to_dict(), "heads": [h.to_dict() for h in heads], "mlm_head": False}
        )
        model = CloudModel(cfg)
        model.encoder.load_state_dict(pre.encoder.state_dict())
        log.info("encoder initialised from %s", init)
    else:
        init_id = None
        cfg = ModelConfig.from_size(size, len(vocab), max_len=max_len, heads=heads, mlm_head=False)
        model = CloudModel(cfg)
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr)
    loss_fn = MultiTaskLoss(specs)
    y_t = torch.from_numpy(y)

    def train_step(step: int, total: int) -> float:
        model.train()
        idx = tr_idx[rng.integers(0, len(tr_idx), batch_size)]
        ids, sec, mask = _batch(vocab, encoded, idx)
        cur = lr_at(step, total, lr, max(1, int(warmup_frac * total)), 0.02)
        for g in opt.param_groups:
            g["lr"] = cur
        loss = loss_fn(model(ids, sec, mask), y_t[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(loss.detach())

    t0 = time.monotonic()
    step = 0
    if steps is None:  # time 20 steps, then fix the total from the budget
        for _ in range(20):
            train_step(step, 10_000)
            step += 1
        per_step = (time.monotonic() - t0) / step
        steps = max(step + 1, int(budget_minutes * 60 / (per_step * 1.1)))  # ~10% for validation passes
        log.info("%.3f s/step -> %d steps in %.1f min", per_step, steps, budget_minutes)
    best: tuple[float, dict | None, int, dict | None] = (math.inf, None, 0, None)
    history = []
    while step < steps:
        loss = train_step(step, steps)
        step += 1
        if step % eval_every == 0 or step == steps:
            ev = evaluate_val(model, val, specs, device)
            maes = {k: v.get("mae") for k, v in ev["targets"].items()}
            history.append({"step": step, "loss": loss, "val_loss": ev["loss"], "val_mae": maes,
                            "elapsed_s": round(time.monotonic() - t0, 1)})  # fmt: skip
            if ev["loss"] < best[0]:
                best = (
                    ev["loss"],
                    {k: v.detach().clone() for k, v in model.state_dict().items()},
                    step,
                    maes,
                )
            log.info("step %d/%d loss %.4f val %.4f", step, steps, loss, ev["loss"])
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    record = {
        "steps": steps,
        "best_step": best[2],
        "best_val_loss": best[0],
        "best_val_mae": best[3],
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "init_model_id": init_id,
        "train_rows": int(len(tr_idx)),
        "val_rows": int(len(val_idx)),
        "unencodable_rows": int((~ok).sum()),
        "debye_head": debye_task.value if debye_task in tasks else None,
        "seconds": time.monotonic() - t0,
        "history": history,
    }
    prov = {"kind": "finetune", "tasks": names, **(provenance or {}),
            "training": {k: v for k, v in record.items() if k != "history"}}  # fmt: skip
    save_checkpoint(out, model, targets=specs, provenance=prov)
    return Path(out), record


def _prediction_column(checkpoint_targets, name: str) -> str:
    kind = next((t.kind for t in checkpoint_targets if t.name == name), "regression")
    return "theta_K" if kind == "debye" else name


def evaluate_on_tables(
    checkpoint: str | Path, tests: Mapping[Task, pd.DataFrame]
) -> dict[str, dict[str, float]]:
    """Regression metrics of a checkpoint on each task's test table (predicted via the Predictor)."""
    from cloud_core.model import Predictor

    pred = Predictor.from_checkpoint(checkpoint, device="cpu", threads=1)
    out = {}
    for task, df in tests.items():
        table = pred.predict(list(df["scope"]))
        col = _prediction_column(pred.config.targets, task.value)
        out[task.value] = regression_metrics(df["target"].to_numpy(), table.column(col).to_numpy())
    return out


def sample_predictions(
    checkpoint: str | Path, tables: Mapping[Task, pd.DataFrame], n_per_task: int = 4
) -> dict:
    """A few SCOPE strings (seeded pick from each label set) and the checkpoint's predictions for them."""
    from cloud_core.model import Predictor

    rng = np.random.default_rng(123)
    scopes: list[str] = []
    for t in sorted(tables, key=lambda t: t.value):
        df = tables[t]
        scopes.extend(df["scope"].iloc[rng.choice(len(df), n_per_task, replace=False)])
    scopes.append("225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1")  # a full-structure string too
    pred = Predictor.from_checkpoint(checkpoint, device="cpu", threads=1)
    table = pred.predict(scopes)
    return {
        "scope": scopes,
        "predictions": {c: table.column(c).to_pylist() for c in table.column_names},
        "rtol": 1e-4,
    }
