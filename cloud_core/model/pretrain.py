"""Masked-language-model pre-training of the CLOUD encoder on streamed SCOPE corpora.

Run it with ``cloud pretrain ...`` or, on several GPUs/processes,
``torchrun --nproc_per_node N -m cloud_core.model.pretrain ...`` (NCCL on CUDA, gloo on CPU).

- Data: Parquet shards (any number, any total size) with a ``scope`` column, streamed one row group at a
  time (:class:`~cloud_core.model.data.ScopeShardStream`); malformed or too-long strings are skipped and
  counted.
- Objective: BERT MLM, 15% of maskable tokens, 80/10/10; special and section tokens are never masked.
- Optimiser: AdamW (no decay on biases/norms/embeddings), linear warm-up + cosine, gradient clipping,
  bf16 autocast on CUDA.
- Distributed: every rank reads the same global batch and masks it with the same per-step generator,
  then keeps its rows ``rank::world``; the loss is normalised by the global number of masked tokens, so a
  run on N processes follows the same trajectory as one process with the same global batch.
- Resume: ``out_dir/state`` (weights, AdamW moments, RNG states, data cursor, token counts) is saved every
  ``save_every`` steps and on Ctrl-C; a run started again with the same ``out_dir`` continues from it and
  ends bit for bit where an uninterrupted run would.
- Outputs: ``out_dir/metrics.jsonl`` (loss curve, evaluations), ``out_dir/checkpoint`` (a model
  checkpoint with the MLM head, for :mod:`cloud_core.model.finetune` or embeddings).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cloud_core.model.checkpoint import load_checkpoint, save_checkpoint
from cloud_core.model.data import Cursor, ScopeShardStream, read_scopes
from cloud_core.model.encoder import SIZES, CloudModel, ModelConfig
from cloud_core.model.masking import IGNORE_INDEX, mask_tokens
from cloud_core.model.run_config import PretrainConfig, add_pretrain_arguments, pretrain_config_from_args
from cloud_core.model.train_state import find_state, load_state, lr_at, param_groups, save_state
from cloud_core.model.vocab import ScopeTokenError, Vocabulary, get_vocabulary

log = logging.getLogger("cloud.pretrain")

# token categories for the frequency baseline: a masked token of category c is "predicted" as the most
# frequent training token of category c
CATEGORIES = ("space_group", "bravais", "point_group", "wyckoff", "element", "digit")


def token_categories(vocab: Vocabulary) -> np.ndarray:
    """Category index per vocabulary id (see :data:`CATEGORIES`), -1 for structural tokens."""
    cat = np.full(len(vocab), -1, dtype=np.int64)
    prefixes = {"sg:": 0, "bl:": 1, "pg:": 2, "wy:": 3, "n:": 5}
    for i, t in enumerate(vocab.tokens):
        if not vocab.maskable[i]:
            continue
        cat[i] = next((c for p, c in prefixes.items() if t.startswith(p)), 4)
    return cat


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def _encode_rows(
    vocab: Vocabulary, rows: list[str], max_len: int
) -> tuple[list[tuple[list[int], list[int]]], int]:
    out, bad = [], 0
    for s in rows:
        try:
            ids, sec = vocab.encode(s)
        except ScopeTokenError:
            bad += 1
            continue
        if len(ids) > max_len:
            bad += 1
            continue
        out.append((ids, sec))
    return out, bad


@torch.no_grad()
def evaluate_mlm(
    model: CloudModel,
    scopes: list[str],
    token_counts: np.ndarray,
    *,
    seed: int = 1234,
    rate: float = 0.15,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Masked-token accuracy on held-out SCOPE strings, next to a token-frequency baseline.

    Selected tokens are all replaced by [MASK] (fixed seed). The baseline predicts, for each masked token,
    the most frequent training token of the same category (space group, lattice, point group, Wyckoff,
    element, digit) from ``token_counts``.
    """
    vocab = get_vocabulary()
    cats = token_categories(vocab)
    best = np.zeros(len(CATEGORIES), dtype=np.int64)
    for c in range(len(CATEGORIES)):
        ids = np.flatnonzero(cats == c)
        best[c] = ids[np.argmax(token_counts[ids])]
    encoded, bad = _encode_rows(vocab, scopes, model.cfg.max_len)
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    hits = np.zeros(len(CATEGORIES))
    base_hits = np.zeros(len(CATEGORIES))
    totals = np.zeros(len(CATEGORIES))
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    for start in range(0, len(encoded), batch_size):
        batch = vocab.pad(encoded[start : start + batch_size])
        corrupted, labels = mask_tokens(batch.input_ids, vocab, rng, rate, mask_prob=1.0, random_prob=0.0)
        sel = labels != IGNORE_INDEX
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            out = model(
                torch.from_numpy(corrupted).to(dev),
                torch.from_numpy(batch.section_ids).to(dev),
                torch.from_numpy(batch.attention_mask).to(dev),
                heads=False,
                mlm_positions=torch.from_numpy(sel).to(dev),
            )
        pred = out["mlm_logits"].argmax(-1).cpu().numpy()
        true = labels[sel]
        c = cats[true]
        np.add.at(totals, c, 1)
        np.add.at(hits, c, pred == true)
        np.add.at(base_hits, c, best[c] == true)
    model.train(was_training)
    n = totals.sum()
    result: dict[str, Any] = {
        "n_structures": len(encoded),
        "n_skipped": bad,
        "n_masked": int(n),
        "accuracy": float(hits.sum() / n) if n else float("nan"),
        "baseline_accuracy": float(base_hits.sum() / n) if n else float("nan"),
        "per_category": {
            name: {
                "n": int(totals[i]),
                "accuracy": float(hits[i] / totals[i]) if totals[i] else None,
                "baseline_accuracy": float(base_hits[i] / totals[i]) if totals[i] else None,
            }
            for i, name in enumerate(CATEGORIES)
        },
    }
    return result


def micro_batches(lengths: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Split rows into micro-batches of similar length (sorted), each at most ``max_tokens`` padded tokens.

    Gradients of the micro-batches add up to those of the whole batch (the loss is a sum over masked
    tokens), so this only removes padding work. ``max_tokens <= 0``: one micro-batch.
    """
    if max_tokens <= 0 or len(lengths) == 0:
        return [np.arange(len(lengths))]
    order = np.argsort(lengths, kind="stable")
    out, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or (end + 1 - start) * int(lengths[order[end]]) > max_tokens:
            out.append(order[start:end])
            start = end
    return out


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines written after the saved step (they will be written again on resume)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    path.write_text("".join(k + "\n" for k in keep))


def pretrain(cfg: PretrainConfig) -> Path:
    """Run (or resume) MLM pre-training; return the path of the written model checkpoint."""
    rank, world, local = _dist_info()
    distributed = world > 1
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.batch_size % world:
        raise ValueError(f"global batch {cfg.batch_size} is not divisible by {world} processes")
    if cfg.size not in SIZES:
        raise ValueError(f"unknown size {cfg.size!r}; choose one of {sorted(SIZES)}")
    out = Path(cfg.out_dir)
    is_main = rank == 0
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
    vocab = get_vocabulary()
    stream = ScopeShardStream(cfg.data, column=cfg.column, seed=cfg.seed)
    eval_scopes = read_scopes(cfg.eval_data, limit=cfg.eval_limit) if cfg.eval_data else []

    torch.manual_seed(cfg.seed)
    if cfg.init:
        model, _, init_id = load_checkpoint(cfg.init, device="cpu")
        if not model.cfg.mlm_head:
            raise ValueError(f"checkpoint {cfg.init} has no MLM head to continue pre-training")
        model.cfg.dropout = cfg.dropout
    else:
        init_id = None
        model = CloudModel(
            ModelConfig.from_size(cfg.size, len(vocab), dropout=cfg.dropout, max_len=cfg.max_len)
        )
    model.to(device).train()
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-8)
    warmup = int(cfg.warmup_frac * cfg.steps)
    token_counts = np.zeros(len(vocab), dtype=np.int64)

    step, cursor, skipped = 0, Cursor(), 0
    state_dir = out / "state"
    found = find_state(state_dir)
    if found is not None:
        meta, extra = load_state(found, model, opt)
        prev = meta["config"]
        changed = [k for k in PretrainConfig.RESUME_KEYS if prev.get(k) != getattr(cfg, k)]
        if changed:
            raise ValueError(
                f"{out} holds a run with different settings {changed}; use another out_dir or the same settings"
            )
        step, cursor, skipped = int(meta["step"]), Cursor(**meta["cursor"]), int(meta["skipped"])
        token_counts = extra["token_counts"].numpy().astype(np.int64)
        if is_main:
            _truncate_metrics(out / "metrics.jsonl", step)
            log.info("resuming from %s at step %d", found, step)
    ddp_model: torch.nn.Module = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    def save() -> None:
        if not is_main:
            return
        meta = {"step": step, "cursor": cursor.to_dict(), "skipped": skipped, "config": asdict(cfg)}
        save_state(state_dir, model, opt, meta, {"token_counts": torch.from_numpy(token_counts)})

    def write_checkpoint(evaluation: dict[str, Any] | None) -> None:
        if not is_main:
            return
        prov = {
            "kind": "pretrain",
            "config": asdict(cfg),
            "steps_done": step,
            "data_files": [str(f) for f in stream.files],
            "data_rows": stream.n_rows,
            "skipped_rows": skipped,
            "init_model_id": init_id,
            "torch": torch.__version__,
            "world_size": world,
        }
        if evaluation is not None:
            prov["eval"] = evaluation
        save_checkpoint(out / "checkpoint", model, provenance=prov)

    metrics = (out / "metrics.jsonl").open("a") if is_main else None
    cuda = device.type == "cuda"
    t0 = time.monotonic()
    started_at = step
    batches = stream.batches(cfg.batch_size, cursor)
    evaluation = None
    try:
        while step < cfg.steps:
            rows, next_cursor = next(batches)
            encoded, bad = _encode_rows(vocab, rows, cfg.max_len)
            skipped += bad
            if not encoded:
                cursor = next_cursor
                continue
            full = vocab.pad(encoded)
            np.add.at(token_counts, full.input_ids[full.attention_mask], 1)
            rng = np.random.default_rng([cfg.seed, step, 7])
            corrupted, labels = mask_tokens(full.input_ids, vocab, rng, cfg.mask_rate)
            n_masked = int((labels != IGNORE_INDEX).sum())
            mine = np.arange(rank, len(encoded), world)
            lr = lr_at(step, cfg.steps, cfg.lr, warmup, cfg.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss_sum = torch.zeros((), device=device)
            micro = micro_batches(full.lengths[mine], cfg.micro_batch_tokens)
            for k, rows in enumerate(micro):
                sub = mine[rows]
                width = int(full.lengths[sub].max())
                ids = torch.from_numpy(corrupted[sub, :width]).to(device)
                sec = torch.from_numpy(full.section_ids[sub, :width]).to(device)
                att = torch.from_numpy(full.attention_mask[sub, :width]).to(device)
                lab = torch.from_numpy(labels[sub, :width]).to(device)
                sel = lab != IGNORE_INDEX
                # gradients are all-reduced once, on the last micro-batch
                sync = nullcontext() if not distributed or k == len(micro) - 1 else ddp_model.no_sync()
                with sync:
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                        res = ddp_model(ids, sec, att, heads=False, mlm_positions=sel)
                    part = F.cross_entropy(res["mlm_logits"].float(), lab[sel], reduction="sum")
                    (part * (world / max(n_masked, 1))).backward()
                loss_sum = loss_sum + part.detach()
            loss = loss_sum * (world / max(n_masked, 1))
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            cursor = next_cursor
            if step % cfg.log_every == 0 or step == cfg.steps:
                t = loss.detach().clone() / world
                if distributed:
                    import torch.distributed as dist

                    dist.all_reduce(t)  # every rank takes part; the mean loss over the global batch
                loss_val = float(t)
                elapsed = time.monotonic() - t0
                rec = {
                    "step": step,
                    "loss": loss_val,
                    "lr": lr,
                    "grad_norm": float(gnorm),
                    "epoch": cursor.epoch,
                    "n_masked": n_masked,
                    "skipped": skipped,
                    "elapsed_s": round(elapsed, 2),
                    "structures_per_s": round((step - started_at) * cfg.batch_size / max(elapsed, 1e-9), 1),
                }
                if metrics is not None:
                    metrics.write(json.dumps(rec) + "\n")
                    metrics.flush()
                    log.info("step %d/%d loss %.4f lr %.2e", step, cfg.steps, loss_val, lr)
            if is_main and eval_scopes and cfg.eval_every and step % cfg.eval_every == 0:
                evaluation = evaluate_mlm(model, eval_scopes, token_counts, device=device)
                metrics.write(json.dumps({"step": step, "eval": evaluation}) + "\n")
                metrics.flush()
            if step % cfg.save_every == 0:
                save()
            if cfg.stop_after is not None and step - started_at >= cfg.stop_after:
                break
            if cfg.max_minutes is not None and time.monotonic() - t0 > 60 * cfg.max_minutes:
                log.info("time limit of %.1f min reached at step %d", cfg.max_minutes, step)
                break
    except KeyboardInterrupt:
        save()
        raise
    save()
    if (
        is_main
        and eval_scopes
        and not (cfg.eval_every and step % cfg.eval_every == 0 and evaluation is not None)
    ):
        evaluation = evaluate_mlm(model, eval_scopes, token_counts, device=device)
        metrics.write(json.dumps({"step": step, "eval": evaluation}) + "\n")
    if metrics is not None:
        metrics.close()
    write_checkpoint(evaluation)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return out / "checkpoint"


# ---------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloud_core.model.pretrain", description=__doc__.split("\n")[0]
    )
    add_pretrain_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    path = pretrain(pretrain_config_from_args(args))
    if _dist_info()[0] == 0:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
