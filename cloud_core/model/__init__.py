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

from cloud_core.model.checkpoint import (
    CheckpointConfig,
    CheckpointError,
    TargetSpec,
    checkpoint_id,
    default_checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from cloud_core.model.encoder import SIZES, CloudModel, Encoder, ModelConfig
from cloud_core.model.heads import HEAD_BUILDERS, HeadSpec, register_head
from cloud_core.model.predictor import Predictor
from cloud_core.model.vocab import Encoded, ScopeTokenError, Vocabulary, get_vocabulary

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
