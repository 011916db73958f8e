"""Settings of pre-training and fine-tuning runs, and their command-line arguments.

Light on purpose (no torch import): ``cloud --help`` builds its parsers from here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_layers": 4, "d_model": 128, "n_heads": 4, "d_ff": 512},
    "mini": {"n_layers": 4, "d_model": 256, "n_heads": 4, "d_ff": 1024},
    "small": {"n_layers": 6, "d_model": 512, "n_heads": 8, "d_ff": 2048},
    "base": {"n_layers": 12, "d_model": 768, "n_heads": 12, "d_ff": 3072},
}


@dataclass
class PretrainConfig:
    """Settings of one pre-training run (all JSON-serialisable; stored in the state and the checkpoint)."""

    data: list[str]
    out_dir: str
    size: str = "tiny"
    steps: int = 1000
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    mask_rate: float = 0.15
    dropout: float = 0.1
    max_len: int = 256
    seed: int = 0
    column: str = "scope"
    save_every: int = 500
    log_every: int = 20
    eval_data: list[str] = field(default_factory=list)
    eval_every: int = 0
    eval_limit: int = 20000
    device: str = "auto"
    init: str | None = None
    stop_after: int | None = None
    max_minutes: float | None = None
    threads: int | None = None
    micro_batch_tokens: int = 8192

    # fields that must not change between a run and its resumption
    RESUME_KEYS = (
        "size",
        "steps",
        "batch_size",
        "lr",
        "seed",
        "mask_rate",
        "max_len",
        "dropout",
        "warmup_frac",
    )


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run."""

    data: list[str]
    out_dir: str
    targets: list[str] = field(default_factory=list)
    classify: list[str] = field(default_factory=list)
    debye: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    init: str | None = None
    size: str = "tiny"
    epochs: int = 100
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    freeze_epochs: int = 0
    patience: int = 10
    val_fraction: float = 0.1
    val_data: list[str] = field(default_factory=list)
    seed: int = 0
    head_layers: int = 2
    head_hidden: int = 0
    dropout: float = 0.1
    pooling: str = "cls"
    max_len: int = 256
    column: str = "scope"
    device: str = "auto"
    threads: int | None = None
    max_minutes: float | None = None


# ---------------------------------------------------------------------- command line
def add_pretrain_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``cloud pretrain`` and ``python -m cloud_core.model.pretrain``."""
    d = {f.name: f.default for f in fields(PretrainConfig) if not callable(f.default)}
    p.add_argument("data", nargs="+", help="Parquet shards, directories or globs with a 'scope' column")
    p.add_argument("--out", dest="out_dir", required=True, help="run directory (state, metrics, checkpoint)")
    p.add_argument("--size", default=d["size"], choices=sorted(SIZES))
    for name in (
        "steps",
        "batch_size",
        "save_every",
        "log_every",
        "eval_every",
        "eval_limit",
        "seed",
        "max_len",
        "micro_batch_tokens",
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=d[name])
    for name in ("lr", "weight_decay", "warmup_frac", "min_lr_ratio", "grad_clip", "mask_rate", "dropout"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=d[name])
    p.add_argument("--column", default=d["column"])
    p.add_argument("--eval-data", nargs="*", default=[], help="held-out Parquet with real structures' SCOPE")
    p.add_argument("--device", default="auto")
    p.add_argument("--init", default=None, help="continue from this checkpoint's weights")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many steps in this run")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (state saved) after this wall time")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def pretrain_config_from_args(args: argparse.Namespace) -> PretrainConfig:
    names = {f.name for f in fields(PretrainConfig)}
    return PretrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def add_finetune_arguments(p: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in fields(FinetuneConfig)}
    p.add_argument("data", nargs="+", help="Parquet tables with a 'scope' column and target columns")
    p.add_argument("--out", dest="out_dir", required=True, help="run directory (metrics, checkpoint)")
    p.add_argument("--targets", nargs="*", default=[], help="target columns (default: every float column)")
    p.add_argument("--classify", nargs="*", default=[], help="columns that are class labels")
    p.add_argument("--debye", default=None, help="column of Debye temperatures (K) for the Debye head")
    p.add_argument(
        "--init", default=None, help="pre-trained checkpoint to start from (default: from scratch)"
    )
    p.add_argument("--size", default=d["size"], choices=sorted(SIZES))
    for name in (
        "epochs",
        "batch_size",
        "freeze_epochs",
        "patience",
        "seed",
        "head_layers",
        "head_hidden",
        "max_len",
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=d[name])
    for name in ("lr", "weight_decay", "warmup_frac", "val_fraction", "dropout"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=d[name])
    p.add_argument("--val-data", nargs="*", default=[])
    p.add_argument("--pooling", default=d["pooling"], choices=["cls", "mean"])
    p.add_argument("--column", default=d["column"])
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None)


def finetune_config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    names = {f.name for f in fields(FinetuneConfig)}
    return FinetuneConfig(**{k: v for k, v in vars(args).items() if k in names})
