"""The CLOUD model: SCOPE vocabulary, transformer encoder, heads, checkpoints, inference and training.

Public API
----------
- :class:`Vocabulary` / :func:`get_vocabulary`: the closed SCOPE vocabulary; ``tokenize(scope) -> list[int]``.
- :class:`ModelConfig`, :class:`CloudModel`, :data:`SIZES`: the encoder (``tiny``, ``mini``, ``small``, ``base``).
- :class:`HeadSpec`, :func:`register_head`: property heads and the open head registry.
- :func:`save_checkpoint`, :func:`load_checkpoint`, :func:`checkpoint_id`, :class:`CheckpointError`,
  :func:`default_checkpoint_path`: safetensors + JSON checkpoints; the sha256 is the model id.
- :class:`Predictor`: batched inference returning Arrow tables.

Training lives in :mod:`cloud_core.model.pretrain` and :mod:`cloud_core.model.finetune` (imported lazily).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule; imported on first use so that light submodules (run_config, vocab) do not pull
# in torch
_EXPORTS = {
    "CheckpointConfig": "checkpoint",
    "CheckpointError": "checkpoint",
    "TargetSpec": "checkpoint",
    "checkpoint_id": "checkpoint",
    "default_checkpoint_path": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "SIZES": "run_config",
    "CloudModel": "encoder",
    "Encoder": "encoder",
    "ModelConfig": "encoder",
    "HEAD_BUILDERS": "heads",
    "HeadSpec": "heads",
    "register_head": "heads",
    "Predictor": "predictor",
    "Encoded": "vocab",
    "ScopeTokenError": "vocab",
    "Vocabulary": "vocab",
    "get_vocabulary": "vocab",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = [
    "HEAD_BUILDERS",
    "SIZES",
    "CheckpointConfig",
    "CheckpointError",
    "CloudModel",
    "Encoded",
    "Encoder",
    "HeadSpec",
    "ModelConfig",
    "Predictor",
    "ScopeTokenError",
    "TargetSpec",
    "Vocabulary",
    "checkpoint_id",
    "default_checkpoint_path",
    "get_vocabulary",
    "load_checkpoint",
    "register_head",
    "save_checkpoint",
]
