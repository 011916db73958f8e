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
from screening.corpora.mlip_task import MLIP_E_FORM, MLIP_UNIT
from screening.evaluation.baselines import regression_metrics

log = logging.getLogger(__name__)


def task_name(task: Task | str) -> str:
    """A training task's name: a crabnet label set's value, or the CHGNet task ``e_form_mlip``."""
    return task.value if isinstance(task, Task) else str(task)


def task_unit(task: Task | str) -> str:
    if isinstance(task, Task):
        return TASKS[task].unit
    if task == MLIP_E_FORM:
        return MLIP_UNIT
    raise ValueError(f"unknown training task {task!r}")


def merge_tasks(tables: Mapping[Task | str, pd.DataFrame]) -> tuple[list[str], np.ndarray, list[Task | str]]:
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


#: label sets whose property cannot be negative: predicted through a softplus link (never below zero)
NON_NEGATIVE = frozenset({Task.BAND_GAP, Task.AFLOW_THERMAL_EXPANSION})


def _balanced_weights(y: np.ndarray, rows: np.ndarray, power: float) -> np.ndarray:
    """Sampling probabilities of training rows: each task's share ~ n_task^power (0 = equal, 1 = by size)."""
    lab = np.isfinite(y[rows])
    n_task = lab.sum(axis=0).clip(min=1)
    w_task = n_task.astype(float) ** power / n_task  # per labelled row
    w = (lab * w_task).sum(axis=1)
    return w / w.sum()


def calibrate_std(
    model, val, specs, *, coverage: float = 0.6827, batch_size: int = 512
) -> dict[str, dict[str, float]]:
    """Fit each target's ``std_scale`` on the validation rows: the ``coverage`` quantile of ``|error| / sigma``.

    Sets ``spec.std_scale`` in place and returns per target the scale and the 1- and 2-sigma coverage after
    scaling (on those same validation rows).
    """
    from cloud_core.model.finetune import _batches

    model.eval()
    order = np.argsort([len(e[0]) for e in val.encoded], kind="stable")
    outs: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        for ids, sec, att, _ in _batches(val, order, batch_size, torch.device("cpu")):
            out = model(ids, sec, att)
            for k, v in out.items():
                if k not in ("hidden", "pooled"):
                    outs.setdefault(k, []).append(v.float())
    cat = {k: torch.cat(v) for k, v in outs.items()}
    y = val.labels[order]
    result = {}
    for j, t in enumerate(specs):
        if not t.uncertainty:
            continue
        col = y[:, j]
        m = np.isfinite(col) & ((col > 0) if t.kind == "debye" else True)
        if m.sum() < 20:
            continue
        sigma = math.sqrt(2.0) * torch.exp(cat[t.uncertainty][:, 0].clamp(-7, 5)).numpy()
        if t.kind == "debye":
            err = np.abs(np.log(cat[t.name][:, 0].numpy()) - np.log(np.where(m, col, 1.0)))
        else:
            err = np.abs(t.value(cat[t.name][:, 0]).numpy() - col) / t.std
        z = err[m] / sigma[m]
        t.std_scale = float(np.quantile(z, coverage))
        zz = z / t.std_scale
        result[t.name] = {"std_scale": t.std_scale, "n": int(m.sum()),
                          "coverage_1sigma": float((zz <= 1).mean()), "coverage_2sigma": float((zz <= 2).mean())}  # fmt: skip
    return result


def finetune_multitask(
    tables: Mapping[Task | str, pd.DataFrame],
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
    composition: str = "",
    uncertainty: bool = False,
    balance_power: float = 1.0,
    patience: int | None = None,
    state_every_minutes: float = 10.0,
    gbm_member: bool = False,
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
    composition
        Element property table of the composition inputs (:mod:`cloud_core.model.composition_inputs`), e.g.
        ``"magpie.csv"``; empty = tokens only.
    uncertainty
        Add a Laplace scale head per target (``<target>__logb``) and calibrate its standard deviation on the
        validation split (``TargetSpec.std_scale``); the Predictor then adds ``<target>_std`` columns.
    balance_power
        Task balance of the row sampling: each task's share of the rows drawn ~ n_task^power (1 = uniform
        over rows, 0.5 = small tasks drawn far more often than their size, 0 = equal shares).
    patience
        Stop after this many evaluations without a better validation loss (``None``: run all steps).
    state_every_minutes
        Write a resumable training state (``<out>.state``) at least this often; a rerun resumes from it.
    gbm_member
        Also fit the declared composition-only LightGBM member per target on the same training rows, and
        blend it with the network (weights and calibration on the validation split): see
        :mod:`cloud_core.model.gbm_member`.

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
    from cloud_core.model.train_state import find_state, load_state, lr_at, param_groups, save_state

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
    names = [task_name(t) for t in tasks]
    is_val = hash_split(scopes, val_fraction, seed)
    tr_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    val = LabelledSet([encoded[i] for i in val_idx], y[val_idx], [scopes[i] for i in val_idx])
    specs, heads = [], []
    for j, (name, task) in enumerate(zip(names, tasks, strict=True)):
        lab = y[tr_idx, j]
        lab = lab[np.isfinite(lab)]
        if lab.size == 0:
            raise ValueError(f"task {name} has no training labels")
        unc = f"{name}__logb" if uncertainty else ""
        if task == debye_task:
            med = float(np.median(lab))
            specs.append(TargetSpec(name, kind="debye", unit=task_unit(task), uncertainty=unc))
            heads.append(HeadSpec(name, kind="debye", options={"theta_init_K": med, "theta_scale_K": med}))
        else:
            std = float(lab.std()) if lab.size > 1 and lab.std() > 0 else 1.0
            link = "softplus" if task in NON_NEGATIVE else "identity"
            via = MLIP_E_FORM if task == Task.E_FORM and MLIP_E_FORM in names else ""
            specs.append(TargetSpec(name, mean=float(lab.mean()), std=std, unit=task_unit(task), link=link,
                                    uncertainty=unc, structure_via=via))  # fmt: skip
            heads.append(HeadSpec(name))
        if unc:
            heads.append(HeadSpec(unc, n_layers=1))
    if init is not None:
        pre, _, init_id = load_checkpoint(init)
        if pre.cfg.max_len != max_len:
            raise ValueError(f"pre-trained max_len {pre.cfg.max_len} differs from {max_len}")
        cfg = ModelConfig.from_dict(
            {**pre.cfg.to_dict(), "heads": [h.to_dict() for h in heads], "mlm_head": False,
             "composition": composition}  # fmt: skip
        )
        model = CloudModel(cfg)
        missing, unexpected = model.encoder.load_state_dict(pre.encoder.state_dict(), strict=False)
        if unexpected or any(not k.startswith("comp.") for k in missing):
            raise ValueError(f"pre-trained encoder does not fit: missing {missing}, unexpected {unexpected}")
        log.info("encoder initialised from %s", init)
    else:
        init_id = None
        cfg = ModelConfig.from_size(size, len(vocab), max_len=max_len, heads=heads, mlm_head=False,
                                    composition=composition)  # fmt: skip
        model = CloudModel(cfg)
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr)
    loss_fn = MultiTaskLoss(specs)
    y_t = torch.from_numpy(y)
    probs = _balanced_weights(y, tr_idx, balance_power)

    def train_step(step: int, total: int) -> float:
        model.train()
        idx = tr_idx[rng.choice(len(tr_idx), batch_size, p=probs)]
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
    state_path = Path(str(out).rstrip("/") + ".state")
    best: tuple[float, dict | None, int, dict | None] = (math.inf, None, 0, None)
    history: list[dict] = []
    resumed = find_state(state_path)
    if resumed is not None:
        meta, extra = load_state(resumed, model, opt)
        step, steps, history = int(meta["step"]), int(meta["steps"]), list(meta["history"])
        rng = np.random.default_rng([seed, step])
        if "best.json" in meta:
            best_meta = meta["best.json"]
            best_state = {k[len("best.") :]: v for k, v in extra.items() if k.startswith("best.")}
            best = (best_meta["loss"], best_state or None, best_meta["step"], best_meta["maes"])
        t0 -= float(meta.get("elapsed_s", 0.0))
        log.info("resumed from %s at step %d/%d", resumed, step, steps)
    if steps is None:  # time 20 steps, then fix the total from the budget
        for _ in range(20):
            train_step(step, 10_000)
            step += 1
        per_step = (time.monotonic() - t0) / step
        steps = max(step + 1, int(budget_minutes * 60 / (per_step * 1.1)))  # ~10% for validation passes
        log.info("%.3f s/step -> %d steps in %.1f min", per_step, steps, budget_minutes)
    last_state = time.monotonic()
    stale = 0
    while step < steps:
        loss = train_step(step, steps)
        step += 1
        if step % eval_every == 0 or step == steps:
            ev = evaluate_val(model, val, specs, device)
            maes = {k: v.get("mae") for k, v in ev["targets"].items()}
            history.append({"step": step, "loss": loss, "val_loss": ev["loss"], "val_mae": maes,
                            "elapsed_s": round(time.monotonic() - t0, 1)})  # fmt: skip
            if ev["loss"] < best[0]:
                best = (ev["loss"], {k: v.detach().clone() for k, v in model.state_dict().items()}, step, maes)
                stale = 0
            else:
                stale += 1
            log.info("step %d/%d loss %.4f val %.4f %s", step, steps, loss, ev["loss"],
                     " ".join(f"{k}={v:.4g}" for k, v in maes.items() if v is not None))  # fmt: skip
            if patience is not None and stale >= patience:
                log.info("early stop at step %d (best %d)", step, best[2])
                break
            if time.monotonic() - last_state > state_every_minutes * 60:
                extra = {f"best.{k}": v for k, v in (best[1] or {}).items()}
                meta = {"step": step, "steps": steps, "history": history,
                        "elapsed_s": time.monotonic() - t0,
                        "best.json": {"loss": best[0], "step": best[2], "maes": best[3]}}  # fmt: skip
                save_state(state_path, model, opt, meta, extra)
                last_state = time.monotonic()
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    calibration = calibrate_std(model, val, specs) if uncertainty else {}
    record = {
        "steps": steps,
        "steps_done": step,
        "best_step": best[2],
        "best_val_loss": best[0],
        "best_val_mae": best[3],
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "init_model_id": init_id,
        "composition": composition,
        "balance_power": balance_power,
        "calibration": calibration,
        "train_rows": int(len(tr_idx)),
        "val_rows": int(len(val_idx)),
        "unencodable_rows": int((~ok).sum()),
        "debye_head": debye_task.value if debye_task in tasks else None,
        "seconds": time.monotonic() - t0,
        "history": history,
    }
    prov = {"kind": "finetune", "tasks": names, **(provenance or {}), "gbm_member": gbm_member,
            "training": {k: v for k, v in record.items() if k != "history"}}  # fmt: skip
    save_checkpoint(out, model, targets=specs, provenance=prov)
    if gbm_member:
        t1 = time.monotonic()
        record["gbm_member"] = fit_gbm_members(out, scopes, y, tr_idx, val_idx, specs)
        record["gbm_member"]["seconds"] = time.monotonic() - t1
        prov["gbm_member"] = {k: v for k, v in record["gbm_member"].items() if k != "blends"}
        save_checkpoint(out, model, targets=specs, provenance=prov)  # rewrites config.json; gbm/ is kept below
        _restore_members(out)
    return Path(out), record


_MEMBER_STASH: dict[str, Any] = {}


def fit_gbm_members(
    checkpoint: str | Path,
    scopes: list[str],
    y: np.ndarray,
    tr_idx: np.ndarray,
    val_idx: np.ndarray,
    specs: list,
) -> dict[str, Any]:
    """Fit and save the declared LightGBM members of a just-saved network checkpoint (see gbm_member).

    Per target: a member on the training rows' composition features (early stopping on the validation rows),
    the blend weight with the lowest validation MAE, and the blend's sigma scale fitted to 68% coverage there.
    """
    from cloud_core.model import Predictor
    from cloud_core.model.gbm_member import Blend, GbmMembers, choose_weight, combine, features, fit_member

    x_all = features(scopes)
    net = Predictor.from_checkpoint(checkpoint, device="cpu", threads=1).predict([scopes[i] for i in val_idx])
    boosters, blends = {}, {}
    for j, t in enumerate(specs):
        col = "theta_K" if t.kind == "debye" else t.name
        log_space = t.kind == "debye"
        if t.name == MLIP_E_FORM:  # a structure-level target: a composition-only member cannot help it
            continue
        tr = tr_idx[np.isfinite(y[tr_idx, j])]
        va = np.flatnonzero(np.isfinite(y[val_idx, j]))
        if len(tr) < 50 or len(va) < 20:
            continue
        ytr, yva = y[tr, j], y[val_idx[va], j]
        if log_space:
            ytr, yva = np.log(ytr), np.log(yva)
        booster = fit_member(x_all[tr], ytr, x_all[val_idx[va]], yva)
        member = booster.predict(x_all[val_idx[va]], num_threads=1)
        nn_val = net.column(col).to_numpy()[va]
        nn_std = net.column(f"{col}_std").to_numpy()[va] if f"{col}_std" in net.column_names else None
        nn_b = np.log(nn_val) if log_space else nn_val
        floor = 0.0 if t.link == "softplus" else None
        blend = Blend(t.name, col, choose_weight(member, nn_b, yva), log_space, floor, n_trees=booster.num_trees())
        mixed, std = combine(blend, member, nn_val, nn_std)
        truth = np.exp(yva) if log_space else yva
        if std is not None:
            z = np.abs(mixed - truth) / np.clip(std, 1e-12, None)
            blend.std_scale = float(np.quantile(z, 0.6827))
        blend.val_mae_network = float(np.abs(nn_val - truth).mean())
        blend.val_mae_member = float(np.abs((np.exp(member) if log_space else member) - truth).mean())
        blend.val_mae_blend = float(np.abs(mixed - truth).mean())
        boosters[t.name], blends[t.name] = booster, blend
        log.info("member %s: %d trees, w=%.2f, val MAE network %.4g member %.4g blend %.4g", t.name,
                 booster.num_trees(), blend.weight, blend.val_mae_network, blend.val_mae_member,
                 blend.val_mae_blend)  # fmt: skip
    members = GbmMembers(boosters, blends)
    members.save(checkpoint)
    _MEMBER_STASH[str(checkpoint)] = members
    from dataclasses import asdict

    return {"targets": sorted(blends), "blends": {k: asdict(b) for k, b in blends.items()}}


def _restore_members(checkpoint: str | Path) -> None:
    members = _MEMBER_STASH.pop(str(checkpoint), None)
    if members is not None:
        members.save(checkpoint)


def _prediction_column(checkpoint_targets, name: str) -> str:
    kind = next((t.kind for t in checkpoint_targets if t.name == name), "regression")
    return "theta_K" if kind == "debye" else name


def evaluate_on_tables(
    checkpoint: str | Path, tests: Mapping[Task, pd.DataFrame], *, mode: str = "blend"
) -> dict[str, dict[str, float]]:
    """Regression metrics of a checkpoint on each task's test table (predicted via the Predictor).

    ``mode`` (checkpoints with gradient-boosting members, :mod:`cloud_core.model.gbm_member`): ``"blend"``
    (what the Predictor returns), ``"network"`` (the transformer alone) or ``"member"`` (the members alone):
    the ablation in the model card.
    """
    from cloud_core.model import Predictor

    pred = Predictor.from_checkpoint(checkpoint, device="cpu", threads=1)
    if mode == "network":
        pred.members = None
    elif mode == "member":
        if pred.members is None:
            return {}
        for b in pred.members.blends.values():
            b.weight = 1.0
    elif mode != "blend":
        raise ValueError(f"mode must be blend, network or member, got {mode!r}")
    out = {}
    for task, df in tests.items():
        table = pred.predict(list(df["scope"]))
        name = task_name(task)
        col = _prediction_column(pred.config.targets, name)
        y, p = df["target"].to_numpy(), table.column(col).to_numpy()
        out[name] = regression_metrics(y, p)
        if f"{col}_std" in table.column_names:
            out[name].update(uncertainty_metrics(y, p, table.column(f"{col}_std").to_numpy()))
    return out


def uncertainty_metrics(y: np.ndarray, pred: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """Calibration of predicted standard deviations: 1- and 2-sigma coverage, Spearman(sigma, |error|)."""
    from scipy.stats import spearmanr

    err = np.abs(pred - y)
    ok = np.isfinite(err) & np.isfinite(std) & (std > 0)
    err, std = err[ok], std[ok]
    rho = spearmanr(std, err).statistic if len(err) > 2 else float("nan")
    return {
        "coverage_1sigma": float((err <= std).mean()),
        "coverage_2sigma": float((err <= 2 * std).mean()),
        "spearman_sigma_error": float(rho),
        "median_sigma": float(np.median(std)),
    }


#: chemical families that can be held out of training to test the uncertainty out of distribution
FAMILIES: dict[str, tuple[str, ...]] = {
    "lanthanides": ("La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu"),
}


def in_family(scopes, elements) -> np.ndarray:
    """Mask of SCOPE strings whose composition contains any of ``elements``."""
    from screening.evaluation.folds import scope_stoichiometry

    el = set(elements)
    return np.fromiter((any(e in el for e, _ in scope_stoichiometry(s)) for s in scopes), dtype=bool)


def family_sigma(checkpoint: str | Path, tests: Mapping[Task | str, pd.DataFrame], elements) -> dict[str, Any]:
    """Per task: median predicted sigma and MAE on test rows inside the family vs the others, and their ratio.

    Meant for a checkpoint trained with the family held out: its sigma should be larger there.
    """
    from cloud_core.model import Predictor

    pred = Predictor.from_checkpoint(checkpoint, device="cpu", threads=1)
    out: dict[str, Any] = {}
    for task, df in tests.items():
        name = task_name(task)
        col = _prediction_column(pred.config.targets, name)
        if f"{col}_std" not in pred.targets:
            continue
        fam = in_family(df["scope"], elements)
        if fam.sum() < 10 or (~fam).sum() < 10:
            continue
        table = pred.predict(list(df["scope"]))
        std, p, y = (table.column(f"{col}_std").to_numpy(), table.column(col).to_numpy(), df["target"].to_numpy())
        out[name] = {"n_family": int(fam.sum()), "n_other": int((~fam).sum()),
                     "median_sigma_family": float(np.median(std[fam])),
                     "median_sigma_other": float(np.median(std[~fam])),
                     "mae_family": float(np.abs(p - y)[fam].mean()), "mae_other": float(np.abs(p - y)[~fam].mean())}  # fmt: skip
        out[name]["sigma_ratio"] = out[name]["median_sigma_family"] / out[name]["median_sigma_other"]
    return out


def sample_predictions(
    checkpoint: str | Path, tables: Mapping[Task, pd.DataFrame], n_per_task: int = 4
) -> dict:
    """A few SCOPE strings (seeded pick from each label set) and the checkpoint's predictions for them."""
    from cloud_core.model import Predictor

    rng = np.random.default_rng(123)
    scopes: list[str] = []
    for t in sorted(tables, key=task_name):
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
