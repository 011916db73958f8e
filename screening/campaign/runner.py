"""Run a whole campaign in this process: the same steps as the ``screen`` flow, with no Prefect and no Dask.

This is the reference the flow is measured against (``bench/campaign_bench.py``) and a way to screen from
plain Python. Steps: resolve the model -> lock -> plan (or load the plan) -> clean a killed run's leftovers ->
each chunk not yet committed: encode, predict, Debye, write -> rank.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from screening.campaign.plan import CampaignPlan, plan_campaign
from screening.campaign.predict import PredictorLike, load_predictor, resolve_checkpoint
from screening.campaign.questions import check_objectives
from screening.campaign.spec import ScreenParameters, default_campaign_id
from screening.campaign.stages import ChunkResult, process_chunk
from screening.objectives import Objective
from screening.ranking import Condition, check_ranking, rank_objective
from screening.store import ResultsStore, campaign_lock


@dataclass
class Prepared:
    """A campaign ready to run: its store, id, plan and model."""

    store: ResultsStore
    campaign_id: str
    plan: CampaignPlan
    checkpoint: str
    model_id: str
    pending: list[tuple[int, str]] = field(default_factory=list)  # (chunk index, chunk id) not yet committed


def campaign_id_for(params: ScreenParameters, model_id: str) -> str:
    return params.campaign_id or default_campaign_id(params, model_id)


def check_ranking_parameters(params: ScreenParameters, checkpoint: str) -> None:
    """Check ``rank_by`` and the filters against the leaderboard of ``checkpoint``'s model, before any work.

    Raises
    ------
    ValueError
        One line naming the unknown column or the value that does not fit its column's type.
    """
    from cloud_core.model.config_reader import checkpoint_prediction_columns  # torch-free: start-up path

    targets = checkpoint_prediction_columns(checkpoint)
    check_ranking(targets, params.rank_by, [Condition(f.column, f.op, f.value) for f in params.filters])


@contextlib.contextmanager
def prepared_campaign(params: ScreenParameters, *, model_id: str | None = None) -> Iterator[Prepared]:
    """Resolve the model, take the campaign's lock, plan it and clean leftovers; yield while holding the lock.

    ``model_id`` overrides the checkpoint's id (only for predictors that are not checkpoints, in tests).
    """
    checkpoint, mid = (
        resolve_checkpoint(params.checkpoint, params.inference)
        if model_id is None
        else (params.checkpoint or "", model_id)
    )
    if model_id is None:
        check_ranking_parameters(params, checkpoint)
    store = ResultsStore(params.resolved_results_dir())
    store.ensure()
    cid = campaign_id_for(params, mid)
    with campaign_lock(store.layout.lock_path(cid)):
        plan = plan_campaign(store, cid, params, model_id=mid, checkpoint=checkpoint)
        store.clean_stale(cid)
        done = store.committed_chunks(cid)
        pending = [(i, c) for i, c in enumerate(plan.chunk_ids) if c not in done]
        yield Prepared(store, cid, plan, checkpoint, mid, pending)


def leaders(
    store: ResultsStore, campaign_id: str, params: ScreenParameters, objective: Objective | None = None
) -> pa.Table:
    """The campaign's top-k for the parameters' objective (or ``objective``), filters and diversity caps."""
    return rank_objective(
        store,
        campaign_id,
        params.ranking(objective),
        k=params.top_k,
        conditions=[Condition(f.column, f.op, f.value) for f in params.filters],
        temperature_K=params.rank_temperature_K,
    )


@dataclass
class CampaignOutcome:
    """What a finished run reports."""

    campaign_id: str
    results_dir: str
    db_path: str
    n_candidates: int
    n_chunks: int
    chunks_run: list[ChunkResult]
    top: pa.Table
    seconds: float
    resumed: bool


def run_campaign(
    params: ScreenParameters,
    *,
    predictor: PredictorLike | None = None,
    on_chunk: Callable[[ChunkResult], None] | None = None,
) -> CampaignOutcome:
    """Run (or resume) a campaign in this process and return its outcome (top-k included)."""
    t0 = time.perf_counter()
    model = (
        predictor
        if predictor is not None
        else load_predictor(resolve_checkpoint(params.checkpoint)[0], params.device, params.inference)
    )
    check_objectives(params, model)  # before anything is planned or screened
    with prepared_campaign(params, model_id=predictor.model_id if predictor is not None else None) as prep:
        results = []
        for index, chunk_id in prep.pending:
            r = process_chunk(
                prep.store,
                prep.campaign_id,
                chunk_id,
                index,
                predictor=model,
                temperatures_K=params.temperatures_K,
                symprec=params.symprec,
                batch_size=params.batch_size,
            )
            results.append(r)
            if on_chunk is not None:
                on_chunk(r)
        top = leaders(prep.store, prep.campaign_id, params)
        return CampaignOutcome(
            prep.campaign_id,
            str(prep.store.root),
            str(prep.store.db_path),
            prep.plan.n_candidates,
            len(prep.plan.chunk_ids),
            results,
            top,
            time.perf_counter() - t0,
            prep.plan.resumed,
        )
