"""Training state on disk (weights, AdamW moments, RNG states, data cursor) without pickle.

A state directory holds ``model.safetensors``, ``optimizer.safetensors`` (every per-parameter tensor of the
optimizer plus the torch RNG state) and ``state.json`` (step, cursor, optimizer hyper-parameters and any
other JSON the trainer adds). It is written to a temporary directory and renamed into place, so a crash
during a save leaves the previous state intact.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

STATE_JSON = "state.json"


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices of Linear layers, none on biases, norms and embeddings."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if isinstance(module, nn.Linear) and name == "weight":
                decay.append(p)
            else:
                no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, total: int, base_lr: float, warmup: int, min_ratio: float = 0.0) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio * base_lr`` at ``total``."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return base_lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def save_state(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    meta: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write a training state directory atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / "model.safetensors"))
        sd = optimizer.state_dict()
        tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        for pid, st in sd["state"].items():
            for key, val in st.items():
                t = val if torch.is_tensor(val) else torch.tensor(val)
                tensors[f"opt.{pid}.{key}"] = t.detach().cpu().contiguous()
        for k, v in (extra_tensors or {}).items():
            tensors[f"extra.{k}"] = v.detach().cpu().contiguous()
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
        doc = {"meta": meta, "param_groups": groups}
        (tmp / STATE_JSON).write_text(json.dumps(doc, indent=1, sort_keys=True))
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def find_state(path: str | os.PathLike[str]) -> Path | None:
    """The state directory to resume from (``path``, or its ``.old`` copy if a save was cut short)."""
    path = Path(path)
    for cand in (path, path.with_name(f".{path.name}.old")):
        if (cand / STATE_JSON).is_file() and (cand / "optimizer.safetensors").is_file():
            return cand
    return None


def load_state(
    path: str | os.PathLike[str], model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore weights, optimizer and torch RNG from a state directory; return ``(meta, extra tensors)``."""
    from safetensors.torch import load_file

    path = Path(path)
    weights = load_file(str(path / "model.safetensors"))
    model.load_state_dict(weights)
    tensors = load_file(str(path / "optimizer.safetensors"))
    doc = json.loads((path / STATE_JSON).read_text())
    state: dict[int, dict[str, torch.Tensor]] = {}
    extra: dict[str, torch.Tensor] = {}
    for key, t in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = t
        elif key.startswith("extra."):
            extra[key[len("extra.") :]] = t
    groups = doc["param_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return doc["meta"], extra
