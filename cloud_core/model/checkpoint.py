"""Checkpoints: safetensors weights + a JSON config. Loading never unpickles.

A checkpoint is a directory holding

- ``model.safetensors``: the weights (safetensors: a JSON header + raw tensors, no code);
- ``config.json``: format version, model sizes (:class:`~cloud_core.model.encoder.ModelConfig`), the
  vocabulary hash and size, the targets with their normalisers (mean/std) and task types, and the
  training provenance.

**Model id.** ``sha256(bytes of model.safetensors + bytes of config.json)``, as hex. It changes when any
weight or any config field changes, and is written next to every prediction.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from cloud_core.model.config_reader import (  # noqa: F401 - CheckpointError is re-exported
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    prediction_columns,
    read_config_json,
)
from cloud_core.model.encoder import CloudModel, ModelConfig
from cloud_core.model.model_id import CONFIG, WEIGHTS
from cloud_core.model.vocab import get_vocabulary


@dataclass
class TargetSpec:
    """One predicted property and how the model's standardised output maps back to its units.

    ``value = mean + std * output`` for regression; classification outputs are class logits.
    """

    name: str
    kind: str = "regression"
    mean: float = 0.0
    std: float = 1.0
    unit: str = ""
    n_classes: int = 0
    #: ``"identity"``, or ``"softplus"`` for a property that cannot be negative (band gap, expansion):
    #: ``value = softplus_5(mean + std * output)`` with ``softplus_5(x) = ln(1 + e^(5x)) / 5``
    link: str = "identity"
    #: name of the head predicting ``ln b``, the scale of a Laplace distribution of this target's error (in
    #: standardised units; for a Debye target, of ``ln theta``); empty = no uncertainty
    uncertainty: str = ""
    #: calibration factor on the standard deviation ``sqrt(2) b``, fitted on the validation split
    std_scale: float = 1.0
    #: multi-fidelity structure term (empty = none): for a full-structure string ``s`` the Predictor returns
    #: this target of ``s``'s composition-only string ``c`` plus ``via(s) - via(c)``, where ``via`` names a
    #: structure-level target (``e_form_mlip``, CHGNet fidelity): how far ``s`` sits above the ground state of
    #: its composition (see :mod:`cloud_core.model.structure_term`); one extra encoder pass per candidate
    structure_via: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def value(self, raw: torch.Tensor) -> torch.Tensor:
        """Regression output (standardised) -> the property in its units (the link applied)."""
        x = self.mean + self.std * raw
        if self.link == "softplus":
            return torch.nn.functional.softplus(x, beta=5.0)
        if self.link != "identity":
            raise ValueError(f"unknown link {self.link!r} for target {self.name!r}")
        return x


@dataclass
class CheckpointConfig:
    """The JSON side of a checkpoint."""

    model: ModelConfig
    targets: list[TargetSpec] = field(default_factory=list)
    vocab_hash: str = ""
    vocab_size: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def prediction_columns(self) -> list[str]:
        """Names of the float columns a predictor of this checkpoint returns: one per target, ``theta_K`` in
        place of the Debye head's target, then ``<column>_std`` for each target with an uncertainty head."""
        return prediction_columns(self.to_dict())  # one rule, shared with the torch-free reader

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "vocab": {"hash": self.vocab_hash, "size": self.vocab_size},
            "model": self.model.to_dict(),
            "targets": [t.to_dict() for t in self.targets],
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckpointConfig:
        if d.get("format") != FORMAT:
            raise CheckpointError(f"not a CLOUD checkpoint config (format={d.get('format')!r})")
        if d.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"checkpoint format version {d.get('format_version')} is not supported (this code reads {FORMAT_VERSION})"
            )
        try:
            return cls(
                model=ModelConfig.from_dict(d["model"]),
                targets=[TargetSpec(**t) for t in d.get("targets", [])],
                vocab_hash=d["vocab"]["hash"],
                vocab_size=int(d["vocab"]["size"]),
                provenance=dict(d.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"malformed checkpoint config: {exc}") from exc


def default_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package (``cloud_core/data/checkpoints/default``)."""
    return Path(str(resources.files("cloud_core") / "data" / "checkpoints" / "default"))


def checkpoint_id(path: str | os.PathLike[str]) -> str:
    """The model id: sha256 of the weights, the config and any gradient-boosting member files (see
    :mod:`cloud_core.model.model_id`, which computes it without torch)."""
    from cloud_core.model.model_id import model_id

    try:
        return model_id(path)
    except FileNotFoundError as exc:
        raise CheckpointError(str(exc)) from None


def save_checkpoint(
    path: str | os.PathLike[str],
    model: CloudModel,
    *,
    targets: list[TargetSpec] | None = None,
    provenance: dict[str, Any] | None = None,
) -> str:
    """Write a checkpoint directory atomically and return its model id.

    The files are written to a temporary directory next to ``path`` and moved into place, so a crash never
    leaves a half-written checkpoint under ``path``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    vocab = get_vocabulary()
    cfg = CheckpointConfig(
        model=model.cfg,
        targets=list(targets or []),
        vocab_hash=vocab.hash,
        vocab_size=len(vocab),
        provenance=dict(provenance or {}),
    )
    head_names = {h.name for h in model.cfg.heads}
    for t in cfg.targets:
        if t.name not in head_names:
            raise ValueError(f"target {t.name!r} has no head in the model (heads: {sorted(head_names)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        (tmp / CONFIG).write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return checkpoint_id(path)


def read_config(path: str | os.PathLike[str]) -> CheckpointConfig:
    """Read and validate ``config.json`` of a checkpoint (vocabulary included; the checks are
    :func:`cloud_core.model.config_reader.read_config_json`'s)."""
    return CheckpointConfig.from_dict(read_config_json(path))


def load_checkpoint(
    path: str | os.PathLike[str] | None = None, *, device: str | torch.device = "cpu"
) -> tuple[CloudModel, CheckpointConfig, str]:
    """Load a checkpoint: ``(model in eval mode, config, model id)``.

    Parameters
    ----------
    path
        Checkpoint directory; ``None`` loads the shipped default.
    device
        Where to put the weights.

    Raises
    ------
    CheckpointError
        Missing files, corrupt weights, a vocabulary mismatch, or weights that do not fit the config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path) if path is not None else default_checkpoint_path()
    cfg = read_config(path)
    wfile = path / WEIGHTS
    if not wfile.is_file():
        raise CheckpointError(f"checkpoint {path} has no {WEIGHTS}")
    try:
        state = load_file(str(wfile), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path}: {WEIGHTS} is corrupt or unreadable ({exc})") from exc
    try:
        model = CloudModel(cfg.model)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path}: cannot build the model from its config ({exc})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path}: weights do not match its config: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    bad = [k for k in expected if expected[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise CheckpointError(
            f"checkpoint {path}: tensor {k} has shape {tuple(state[k].shape)}, config expects {tuple(expected[k].shape)}"
        )
    model.load_state_dict(state)
    model.to(device).eval()
    return model, cfg, checkpoint_id(path)
