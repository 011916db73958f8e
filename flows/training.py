"""Flows around the model: build the structure corpora (data set), fine-tune a checkpoint.

Thin Prefect wiring over plain functions (:func:`screening.corpora.structures.build_structure_corpora`,
:func:`cloud_core.model.finetune.finetune`); parameters are typed models, so the Prefect UI shows forms.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from pydantic import BaseModel, ConfigDict, Field


class DatasetParameters(BaseModel):
    """Build the offline structure corpora (AFLOW prototypes, pymatgen test structures, minerals, ...)."""

    model_config = ConfigDict(extra="forbid")

    out_dir: str = Field("data/corpora", description="Output directory (Parquet per source + PROVENANCE.md).")
    sources: list[str] | None = Field(None, description="Corpus sources to build (default: all).")
    limit: int | None = Field(None, ge=1, description="At most this many structures per source.")


class FinetuneParameters(BaseModel):
    """Fine-tune a CLOUD checkpoint on labelled SCOPE tables (see ``cloud finetune --help``)."""

    model_config = ConfigDict(extra="forbid")

    data: list[str] = Field(..., description="Parquet tables with a 'scope' column and target columns.")
    out_dir: str = Field(..., description="Run directory (metrics and the checkpoint).")
    targets: list[str] = Field(
        default_factory=list, description="Target columns (default: every float column)."
    )
    debye: str | None = Field(None, description="Column of Debye temperatures (K) for the Debye head.")
    init: str | None = Field(None, description="Pre-trained checkpoint to start from.")
    size: str = Field("tiny", description="Model size when training from scratch.")
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(3e-4, gt=0)
    max_minutes: float | None = Field(None, gt=0, description="Stop after this many minutes.")
    device: str = "auto"


@task(name="build-corpora", cache_policy=NONE)
def build_corpora_task(params: DatasetParameters) -> dict[str, Any]:
    from screening.corpora.structures import build_structure_corpora

    logger = get_run_logger()
    return build_structure_corpora(
        params.out_dir,
        sources=params.sources,
        limit=params.limit,
        progress=lambda name, result: logger.info(
            "%s: %s", name, result if isinstance(result, str) else result.get("rows")
        ),
    )


@flow(name="build-dataset", log_prints=True)
def build_dataset(params: DatasetParameters = DatasetParameters()) -> dict[str, Any]:  # noqa: B008
    """Build the structure corpora and publish a summary artifact."""
    report = build_corpora_task(params)
    lines = ["| corpus | rows / status |", "|---|---|"]
    for name, entry in report.items():
        lines.append(f"| {name} | {entry if isinstance(entry, str) else entry.get('rows')} |")
    create_markdown_artifact(
        key="build-dataset", markdown="\n".join(lines), description=f"corpora in {params.out_dir}"
    )
    return report


@task(name="finetune", cache_policy=NONE)
def finetune_task(params: FinetuneParameters) -> str:
    from cloud_core.model.finetune import finetune
    from cloud_core.model.run_config import FinetuneConfig

    return str(finetune(FinetuneConfig(**params.model_dump())))


@flow(name="finetune", log_prints=True)
def finetune_flow(params: FinetuneParameters) -> str:
    """Fine-tune and return the checkpoint directory (its sha256 model id is what campaigns record)."""
    path = finetune_task(params)
    from cloud_core.model import checkpoint_id

    try:
        mid = checkpoint_id(path)
    except Exception:  # the run directory, not the checkpoint itself
        mid = "see the run directory"
    create_markdown_artifact(key="finetune", markdown=f"Checkpoint: `{path}`\n\nModel id: `{mid}`")
    return path


class PretrainParameters(BaseModel):
    """MLM pre-training of the CLOUD encoder on SCOPE shards (see ``cloud pretrain --help``); resumable."""

    model_config = ConfigDict(extra="forbid")

    data: list[str] = Field(..., description="Parquet shards with a 'scope' column.")
    out_dir: str = Field(..., description="Run directory (state, checkpoints, metrics); rerun to resume.")
    size: str = Field("tiny", description="Model size: tiny, mini, small, base.")
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(3e-4, gt=0)
    max_minutes: float | None = Field(None, gt=0, description="Stop (resumably) after this many minutes.")
    device: str = "auto"


@task(name="pretrain", cache_policy=NONE)
def pretrain_task(params: PretrainParameters) -> str:
    from cloud_core.model.pretrain import pretrain
    from cloud_core.model.run_config import PretrainConfig

    return str(pretrain(PretrainConfig(**params.model_dump())))


@flow(name="pretrain", log_prints=True)
def pretrain_flow(params: PretrainParameters) -> str:
    """Pre-train (or resume pre-training) and return the checkpoint directory."""
    path = pretrain_task(params)
    create_markdown_artifact(key="pretrain", markdown=f"Checkpoint: `{path}`")
    return path
