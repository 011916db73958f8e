"""The parameters of a screening campaign: one typed model (the Prefect UI renders it as a form).

Only the fields that change results enter the parameter hash (:func:`params_hash`): the source, the model
checkpoint, the symmetry tolerance, the temperature grid and the chunk size; for a Materials Project source also
the download's database release and a checksum of its shards (the same folder fetched again from a new release
is another campaign). Ranking, top-k, filters and where the work runs can change between a run and its resume.

A source whose path is missing (or a glob that matches nothing) fails here, at parameter validation, before
any server, cluster or plan is started.

Ranking (the objective and its options, see :mod:`screening.objectives`), top-k, filters and where the work
runs can change between a run and its resume: predict once, rank many.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from screening.objectives import (
    DEFAULT_MAX_BELOW_HULL_UNKNOWN,
    DEFAULT_MAX_E_ABOVE_HULL,
    Objective,
    Ranking,
    UncertaintyMode,
    check_elements,
)
from screening.store.layout import check_id

#: Default temperature grid (K): 10 K to 1000 K, with 298.15 K and 300 K included.
DEFAULT_TEMPERATURES_K: tuple[float, ...] = (
    10.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0, 250.0, 298.15, 300.0,
    350.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0,
)  # fmt: skip

FilterOp = Literal["<", "<=", ">", ">=", "=", "!="]


class SourceSpec(BaseModel):
    """Where the candidates come from."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["pool", "files", "mp", "prototypes", "pyxtal"] = Field(
        "pool",
        description="pool: a candidate Parquet file (default: the bundled prototype pool); files: CIF/POSCAR/... "
        "files; mp: a folder written by `cloud fetch-mp`; prototypes / pyxtal: generated on the fly.",
    )
    path: str | None = Field(
        None,
        description="pool: Parquet file; files: a folder, a file or a glob; mp: a `cloud fetch-mp` folder.",
    )
    limit: int | None = Field(None, ge=1, description="Take at most this many candidates.")
    offset: int = Field(0, ge=0, description="Skip this many candidates first (pool only).")
    size: int = Field(1000, ge=1, description="prototypes / pyxtal: how many to generate.")
    seed: int = Field(0, description="prototypes / pyxtal: random seed.")

    @model_validator(mode="after")
    def _path_exists(self) -> SourceSpec:
        """The path a source reads exists and holds something to read (checked before any work starts)."""
        path = self.path
        if self.kind == "files":
            from screening.sources.files import resolve_paths

            if not path:
                raise ValueError("source 'files' needs a path (--path): a folder, a file or a glob")
            try:
                resolve_paths(path)
            except FileNotFoundError as exc:
                raise ValueError(str(exc)) from None
        elif self.kind == "mp":
            from screening.sources.mp_store import MANIFEST_NAME

            if not path:
                raise ValueError(
                    "source 'mp' needs a path (--path): a folder written by `cloud fetch-mp --out`"
                )
            if not Path(path).is_dir():
                raise ValueError(f"--path {path}: no such folder (expected a `cloud fetch-mp` download)")
            if not (Path(path) / MANIFEST_NAME).is_file():
                raise ValueError(
                    f"--path {path} is not a `cloud fetch-mp` download (it has no {MANIFEST_NAME})"
                )
        elif self.kind == "pool" and path and not Path(path).is_file():
            raise ValueError(f"--path {path}: no such candidate pool file")
        return self


class Filter(BaseModel):
    """One condition on a ranked column, e.g. ``{"column": "theta_K", "op": ">", "value": 400}``."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        ..., description="A column of the leaderboard (predictions, candidate fields, Debye values)."
    )
    op: FilterOp = ">"
    value: float | int | str

    @field_validator("column")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not v.replace("_", "a").isalnum():
            raise ValueError(f"filter column {v!r} is not a column name")
        return v


class ScreenParameters(BaseModel):
    """All parameters of one screening campaign (``cloud screen``, the ``screen`` flow, deployments)."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: str | None = Field(
        None, description="Names the campaign; the same id resumes it. Default: derived from the parameters."
    )
    source: SourceSpec = Field(default_factory=SourceSpec)
    checkpoint: str | None = Field(
        None, description="Model checkpoint directory (default: the shipped model)."
    )
    symprec: float = Field(0.01, gt=0, le=1, description="Symmetry tolerance (Angstrom) for SCOPE encoding.")
    temperatures_K: list[float] = Field(
        default_factory=lambda: list(DEFAULT_TEMPERATURES_K),
        description="Temperature grid for Debye curves (K, finite and > 0).",
    )
    chunk_size: int = Field(
        2000, ge=1, le=1_000_000, description="Candidates per chunk (unit of work and resume)."
    )
    batch_size: int = Field(512, ge=1, description="Model batch size.")
    chunks_per_task: int | None = Field(
        None,
        ge=1,
        description="Chunks one Dask task processes on CPU workers (default: about 4 tasks per worker, at most "
        "16); not part of the parameter hash.",
    )
    device: str = Field("auto", description="Model device: auto, cpu, cuda, cuda:N.")
    inference: Literal["float32", "int8"] = Field(
        "float32",
        description="Model arithmetic: float32 (as trained), or int8 (fast CPU inference: the encoder quantised, "
        "accepted only if it ranks a fixed sample as float32 does; its own model id, so another campaign).",
    )
    objective: Objective = Field(
        Objective.HEAT_SPREADER,
        description="The question the leaderboard answers: heat_spreader, thermoelectric, thermal_barrier, or "
        "custom (rank_by + filters).",
    )
    extra_objectives: list[Objective] = Field(
        default_factory=list, description="Also rank for these objectives (one artifact each)."
    )
    uncertainty: UncertaintyMode = Field(
        UncertaintyMode.MEAN,
        description="mean; optimistic / conservative: values shifted k_sigma standard deviations towards / "
        "away from what the objective prefers (needs a model with uncertainties).",
    )
    k_sigma: float = Field(1.0, ge=0, le=10, description="Standard deviations of the uncertainty shift.")
    max_e_above_hull: float | None = Field(
        DEFAULT_MAX_E_ABOVE_HULL,
        description="Stability threshold, eV/atom above the reference hull (null: off).",
    )
    exclude_elements: list[str] = Field(default_factory=list, description="Leaders contain none of these.")
    require_elements: list[str] = Field(default_factory=list, description="Leaders contain all of these.")
    allow_default_excluded: bool = Field(
        False, description="Admit radioactive elements and noble gases (excluded by default)."
    )
    include_implausible: bool = Field(
        False, description="Admit predictions flagged implausible (implausible or far_below_hull)."
    )
    max_below_hull_unknown: float | None = Field(
        DEFAULT_MAX_BELOW_HULL_UNKNOWN,
        ge=0,
        description="Flag (far_below_hull) and exclude compositions unknown to the reference hull predicted more "
        "than this many eV/atom below it (null: off).",
    )
    per_formula: int = Field(1, ge=1, description="At most this many leaders per formula.")
    per_chemsys: int | None = Field(None, ge=1, description="At most this many leaders per chemical system.")
    rank_by: str | None = Field(
        None,
        description="custom objective: leaderboard column to rank by (default: theta_K if predicted). Setting "
        "it without an objective selects custom.",
    )
    descending: bool = Field(True, description="custom objective: rank the largest values first.")
    rank_temperature_K: float = Field(
        300.0, gt=0, allow_inf_nan=False, description="Temperature of the Debye columns on the leaderboard."
    )
    filters: list[Filter] = Field(default_factory=list, description="Conditions the leaders must meet.")
    top_k: int = Field(20, ge=1, le=10_000)
    dask_address: str | None = Field(None, description="Scheduler address of an existing Dask cluster.")
    n_workers: int | None = Field(
        None, ge=1, description="Local Dask cluster: workers (default: one per core)."
    )
    local_workers: Literal["processes", "threads"] = Field(
        "processes", description="Local Dask cluster: worker processes, or threads of the flow's process."
    )
    gpu_resource: str = Field(
        "GPU", description="Dask resource name that marks GPU workers for the predict step."
    )
    validate_top_k: int = Field(0, ge=0, description="Validate this many leaders with phonons (0: skip).")
    results_dir: str | None = Field(
        None, description="Results store directory (default: settings.results_dir)."
    )

    @field_validator("campaign_id")
    @classmethod
    def _cid(cls, v: str | None) -> str | None:
        return None if v is None else check_id(v)

    @field_validator("temperatures_K")
    @classmethod
    def _temps(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("temperatures_K must hold at least one temperature")
        if any(not (math.isfinite(t) and t > 0) for t in v):
            raise ValueError(f"temperatures must be finite and > 0 (K), got {v}")
        return sorted(set(float(t) for t in v))

    @field_validator("exclude_elements", "require_elements")
    @classmethod
    def _elements(cls, v: list[str]) -> list[str]:
        return check_elements(v)

    @model_validator(mode="after")
    def _source_needs(self) -> ScreenParameters:
        if self.rank_by and "objective" not in self.model_fields_set:
            self.objective = Objective.CUSTOM
        return self

    def ranking(self, objective: Objective | None = None) -> Ranking:
        """The :class:`~screening.objectives.Ranking` of these parameters (for ``objective`` if given)."""
        return Ranking(
            objective=objective or self.objective,
            uncertainty=self.uncertainty,
            k_sigma=self.k_sigma,
            max_e_above_hull=self.max_e_above_hull,
            by=self.rank_by,
            descending=self.descending,
            exclude_elements=self.exclude_elements,
            require_elements=self.require_elements,
            allow_default_excluded=self.allow_default_excluded,
            include_implausible=self.include_implausible,
            max_below_hull_unknown=self.max_below_hull_unknown,
            per_formula=self.per_formula,
            per_chemsys=self.per_chemsys,
        )

    def objectives(self) -> list[Objective]:
        """The main objective, then the extra ones (each once)."""
        return list(dict.fromkeys([self.objective, *self.extra_objectives]))

    def hashed_fields(self, model_id: str) -> dict[str, Any]:
        """The fields that determine results (``model_id`` replaces the checkpoint path and the inference variant:
        :func:`screening.campaign.predict.resolve_checkpoint` gives the variant's id).

        A Materials Project source adds ``source_content``: the download's database release and a checksum of
        its shards (:func:`~screening.sources.materials_project.download_fingerprint`).
        """
        fields: dict[str, Any] = {
            "source": self.source.model_dump(mode="json"),
            "model_id": model_id,
            "symprec": self.symprec,
            "temperatures_K": self.temperatures_K,
            "chunk_size": self.chunk_size,
        }
        if self.source.kind == "mp":
            from screening.sources.materials_project import download_fingerprint

            fields["source_content"] = download_fingerprint(self.source.path)
        return fields

    def resolved_results_dir(self) -> Path:
        if self.results_dir:
            return Path(self.results_dir).expanduser().resolve()
        from screening.settings import get_settings

        return Path(get_settings().results_dir).expanduser().resolve()


def params_hash(params: ScreenParameters, model_id: str) -> str:
    """SHA-256 (hex) of the result-determining parameters."""
    blob = json.dumps(params.hashed_fields(model_id), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def default_campaign_id(params: ScreenParameters, model_id: str) -> str:
    """``<source kind>-<first 12 hex of the parameter hash>``: the same parameters name the same campaign."""
    return f"{params.source.kind}-{params_hash(params, model_id)[:12]}"
