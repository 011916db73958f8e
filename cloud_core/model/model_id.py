"""The model id of a checkpoint directory, computed without importing torch (start-up paths use it).

``sha256`` of the weights file bytes, then the config file bytes, then, for a checkpoint with declared
gradient-boosting members (``gbm/``, :mod:`cloud_core.model.gbm_member`), each member file's name and bytes in
name order: changing any weight, config field, member or blend weight changes the id.

An inference variant of a checkpoint (:mod:`cloud_core.model.fast`: the int8 encoder) has its own id,
``sha256("<checkpoint id>:<variant>:<recipe>")`` (:func:`variant_model_id`): a campaign's parameter hash names
the arithmetic its predictions came from, so a resumed campaign never mixes float and int8 chunks.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
MEMBERS_DIR = "gbm"

#: inference variants of a checkpoint -> the recipe their id covers (a new recipe gets a new string)
FLOAT32 = "float32"
INFERENCE_VARIANTS: dict[str, str] = {
    FLOAT32: "",
    "int8": "int8-dynamic:encoder-blocks-linear:per-tensor-weights:v1",
}


def checkpoint_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files the id covers, in order; raises ``FileNotFoundError`` naming a missing required file."""
    path = Path(path)
    files = [path / WEIGHTS, path / CONFIG]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"checkpoint {path} has no {f.name}")
    members = path / MEMBERS_DIR
    return files + (sorted(p for p in members.iterdir() if p.is_file()) if members.is_dir() else [])


def model_id(path: str | os.PathLike[str]) -> str:
    """The checkpoint's model id (hex sha256, see the module docstring)."""
    h = hashlib.sha256()
    for i, f in enumerate(checkpoint_files(path)):
        if i >= 2:  # member files: name too, so renaming one changes the id
            h.update(f.name.encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def variant_model_id(base_id: str, variant: str) -> str:
    """The model id of inference variant ``variant`` of the checkpoint with id ``base_id`` (``float32``: itself).

    Raises
    ------
    ValueError
        For a variant that is not in :data:`INFERENCE_VARIANTS`.
    """
    if variant not in INFERENCE_VARIANTS:
        raise ValueError(f"unknown inference variant {variant!r}; choose one of {sorted(INFERENCE_VARIANTS)}")
    if variant == FLOAT32:
        return base_id
    return hashlib.sha256(f"{base_id}:{variant}:{INFERENCE_VARIANTS[variant]}".encode()).hexdigest()
