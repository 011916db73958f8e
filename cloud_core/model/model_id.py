"""The model id of a checkpoint directory, computed without importing torch (start-up paths use it).

``sha256`` of the weights file bytes, then the config file bytes, then, for a checkpoint with declared
gradient-boosting members (``gbm/``, :mod:`cloud_core.model.gbm_member`), each member file's name and bytes in
name order: changing any weight, config field, member or blend weight changes the id.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
MEMBERS_DIR = "gbm"


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
