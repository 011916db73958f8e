"""Read a checkpoint's ``config.json`` without importing torch: the one reader, for start-up paths and loading.

A campaign validates its parameters (``--where``/``--rank-by`` against the model's prediction columns, the
objectives against its outputs) before any server, cluster or model starts; that takes the config's JSON only.
:func:`cloud_core.model.checkpoint.read_config` builds the typed :class:`~cloud_core.model.checkpoint.CheckpointConfig`
from :func:`read_config_json`, so both paths make the same checks and raise the same :class:`CheckpointError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cloud_core.model.model_id import CONFIG, WEIGHTS

FORMAT = "cloud-checkpoint"
FORMAT_VERSION = 1
#: suffix of the calibrated standard deviation columns (``e_form_std``, ``theta_K_std``, ...)
STD_SUFFIX = "_std"
#: the column that replaces a Debye head's target
THETA_COLUMN = "theta_K"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or does not match this code (vocabulary, sizes, heads)."""


def read_config_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated JSON object of a checkpoint's ``config.json``.

    Checks: the directory and file exist, the file is a JSON object of this format and version, and the
    vocabulary it was trained with (hash and size) is this code's.

    Raises
    ------
    CheckpointError
        One line naming the checkpoint and what is wrong.
    """
    from cloud_core.model.vocab import get_vocabulary  # torch-free

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} must be a directory holding {WEIGHTS} and {CONFIG}")
    f = path / CONFIG
    if not f.is_file():
        raise CheckpointError(f"checkpoint {path} has no {CONFIG}")
    try:
        raw = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path}: {CONFIG} is not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise CheckpointError(f"checkpoint {path}: {CONFIG} must hold a JSON object")
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"not a CLOUD checkpoint config (format={raw.get('format')!r})")
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format version {raw.get('format_version')} is not supported (this code reads {FORMAT_VERSION})"
        )
    vocab = get_vocabulary()
    try:
        v_hash, v_size = raw["vocab"]["hash"], int(raw["vocab"]["size"])
        m_size = int(raw["model"]["vocab_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"malformed checkpoint config: {exc}") from exc
    if v_hash != vocab.hash or v_size != len(vocab) or m_size != len(vocab):
        raise CheckpointError(
            f"checkpoint {path} was trained with vocabulary {str(v_hash)[:12]} ({v_size} tokens); "
            f"this code's vocabulary is {vocab.hash[:12]} ({len(vocab)} tokens): they do not match"
        )
    return raw


def prediction_columns(config: Mapping[str, Any]) -> list[str]:
    """Names of the float columns a predictor of this config returns (a ``config.json`` object).

    One per target, ``theta_K`` in place of the Debye head's target, then ``<column>_std`` for each target with
    an uncertainty head, after all the values.
    """
    try:
        heads = config["model"].get("heads", [])
        targets = config.get("targets", [])
        debye = {h["name"] for h in heads if h.get("kind") == "debye"}
        names = [t["name"] for t in targets if t["name"] not in debye]
        names += [THETA_COLUMN] if debye else []
        names += [
            (THETA_COLUMN if t["name"] in debye else t["name"]) + STD_SUFFIX
            for t in targets
            if t.get("uncertainty")
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"malformed checkpoint config: {exc!r}") from exc
    return names


def checkpoint_prediction_columns(path: str | os.PathLike[str]) -> list[str]:
    """:func:`prediction_columns` of the checkpoint directory ``path`` (read and checked, no torch)."""
    return prediction_columns(read_config_json(path))
