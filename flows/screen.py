"""The ``screen`` flow: a screening campaign on Prefect + Dask.

plan (flow process, under the campaign's lock) -> per chunk on Dask workers: SCOPE encode -> predict (on a GPU
worker when the cluster has one: Dask resource ``GPU``) -> Debye + write (atomic commit) -> rank (SQL on the
store) -> artifacts (top-k table per objective, rejects summary, Cv(T) of the leaders) -> validation hook (phonons)
-> the HTML report (a link artifact).

Every task calls a plain function of :mod:`screening.campaign`; tasks pass paths and ids, never structures.
What is done is read from the store (committed chunks), never from Prefect's cache, so a killed run started
again with the same campaign id finishes the remaining chunks and every candidate ends up exactly once.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import dask
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect_dask import DaskTaskRunner

from screening.campaign.plan import plan_campaign
from screening.campaign.predict import resolve_checkpoint
from screening.campaign.questions import check_objectives_for_checkpoint
from screening.campaign.runner import campaign_id_for, check_ranking_parameters, leaders
from screening.campaign.spec import ScreenParameters
from screening.campaign.stages import encode_stage, finalize_stage, predict_stage, process_chunk_group
from screening.objectives import Objective
from screening.store import ResultsStore, campaign_lock


# ----------------------------------------------------------------------------------------------- tasks
@task(name="plan", cache_policy=NONE)
def plan_task(params: ScreenParameters, campaign_id: str, checkpoint: str, model_id: str) -> dict[str, Any]:
    """Commit (or load) the plan; clean a killed run's leftovers; list the chunks still to do."""
    store = ResultsStore(params.resolved_results_dir())
    plan = plan_campaign(store, campaign_id, params, model_id=model_id, checkpoint=checkpoint)
    store.clean_stale(campaign_id)
    done = store.committed_chunks(campaign_id)
    pending = [(i, c) for i, c in enumerate(plan.chunk_ids) if c not in done]
    return {
        "n_candidates": plan.n_candidates,
        "n_chunks": len(plan.chunk_ids),
        "pending": pending,
        "resumed": plan.resumed,
        "params_hash": plan.params_hash,
    }


@task(name="encode", cache_policy=NONE, retries=1)
def encode_task(root: str, campaign_id: str, chunk_id: str, symprec: float) -> str:
    return encode_stage(root, campaign_id, chunk_id, symprec)


@task(name="predict", cache_policy=NONE, retries=1)
def predict_task(work: str, checkpoint: str, device: str, batch_size: int, inference: str = "float32") -> str:
    return predict_stage(work, checkpoint, device, batch_size, inference)


@task(name="debye-write", cache_policy=NONE, retries=1)
def finalize_task(
    root: str,
    campaign_id: str,
    chunk_id: str,
    chunk_index: int,
    work: str,
    temperatures_K: list[float],
    model_id: str,
    symprec: float,
) -> dict[str, Any]:
    return finalize_stage(root, campaign_id, chunk_id, chunk_index, work, temperatures_K, model_id, symprec)


@task(name="chunks", cache_policy=NONE, retries=1)
def chunk_group_task(
    root: str,
    campaign_id: str,
    chunks: list[tuple[int, str]],
    checkpoint: str,
    device: str,
    batch_size: int,
    temperatures_K: list[float],
    symprec: float,
    inference: str = "float32",
) -> list[dict[str, Any]]:
    return process_chunk_group(
        root,
        campaign_id,
        chunks,
        checkpoint=checkpoint,
        device=device,
        batch_size=batch_size,
        temperatures_K=temperatures_K,
        symprec=symprec,
        inference=inference,
    )


@task(name="check-objectives", cache_policy=NONE)
def check_objectives_task(params: ScreenParameters, checkpoint: str) -> dict[str, str]:
    """Fail now if the main objective needs a column the model lacks; say which extra ones cannot be answered
    (from the checkpoint's config: the model is not loaded)."""
    return {str(k): v for k, v in check_objectives_for_checkpoint(params, checkpoint).items()}


@task(name="rank", cache_policy=NONE)
def rank_task(
    params: ScreenParameters, campaign_id: str, objective: Objective | None = None
) -> list[dict[str, Any]]:
    store = ResultsStore(params.resolved_results_dir())
    return leaders(store, campaign_id, params, objective).to_pylist()


@task(name="artifacts", cache_policy=NONE)
def artifacts_task(params: ScreenParameters, campaign_id: str, top: list[dict[str, Any]]) -> str:
    from flows.screen_artifacts import publish_artifacts

    return publish_artifacts(ResultsStore(params.resolved_results_dir()), campaign_id, top, params.objective)


@task(name="report", cache_policy=NONE)
def report_task(params: ScreenParameters, campaign_id: str) -> str:
    """Write the campaign's HTML report and publish a link artifact to it; returns its path."""
    from flows.screen_artifacts import publish_report_link
    from screening.report import write_report

    store = ResultsStore(params.resolved_results_dir())
    path = write_report(store, campaign_id, params.ranking(), k=params.top_k,
                        temperature_K=params.rank_temperature_K)  # fmt: skip
    publish_report_link(campaign_id, str(path))
    return str(path)


@task(name="objective-artifact", cache_policy=NONE)
def objective_artifact_task(
    params: ScreenParameters, campaign_id: str, objective: Objective, top: list[dict[str, Any]], why_not: str
) -> None:
    from flows.screen_artifacts import publish_objective

    publish_objective(campaign_id, objective, top, why_not)


# ----------------------------------------------------------------------------------------------- chunks
def task_runner_for(params: ScreenParameters) -> DaskTaskRunner:
    """Dask at ``params.dask_address``, or a local cluster (threads when no Prefect server URL is set)."""
    if params.dask_address:
        return DaskTaskRunner(address=params.dask_address)
    from prefect.settings import PREFECT_API_URL

    from flows.dask_cluster import local_cluster

    # worker processes report to the flow's Prefect server; without one (ephemeral mode) they would each start
    # their own, so the workers are then threads of this process
    processes = params.local_workers == "processes" and bool(PREFECT_API_URL.value())
    return DaskTaskRunner(
        cluster_class=local_cluster,
        cluster_kwargs={
            "n_workers": params.n_workers,
            "processes": processes,
            "gpu_resource": params.gpu_resource,
        },
    )


def _workers(resource: str) -> tuple[int, bool]:
    """(number of Dask workers, whether one has ``resource``) of the flow's task runner."""
    runner = get_run_context().task_runner
    client = getattr(runner, "client", None)
    if client is None:
        return 1, False
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return len(workers), any(resource in (w.get("resources") or {}) for w in workers.values())


#: Auto grouping: about this many tasks per worker (load balance), at most this many chunks per task.
TASKS_PER_WORKER, MAX_CHUNKS_PER_TASK = 4, 16


def chunks_per_task(params: ScreenParameters, n_pending: int, n_workers: int) -> int:
    """Chunks one Dask task processes (``params.chunks_per_task``, or ~4 tasks per worker, at most 16)."""
    if params.chunks_per_task:
        return params.chunks_per_task
    return max(1, min(MAX_CHUNKS_PER_TASK, -(-n_pending // (TASKS_PER_WORKER * max(1, n_workers)))))


@flow(name="screen-chunks", log_prints=True)
def screen_chunks(
    params: ScreenParameters,
    campaign_id: str,
    pending: list[tuple[int, str]],
    checkpoint: str,
    model_id: str,
) -> list[dict[str, Any]]:
    """Encode -> predict -> Debye + write every pending chunk on the Dask cluster; report per chunk.

    With a GPU worker each chunk is three tasks (encode on CPU workers, predict on the GPU worker, write);
    without one, groups of chunks run all their steps in one task (:func:`chunks_per_task`), so Prefect's
    per-task cost (~0.1 s, and the server's work for each state change) is paid per group, not per step.
    """
    logger = get_run_logger()
    root = str(params.resolved_results_dir())
    n_workers, gpu = _workers(params.gpu_resource)
    per_task = 1 if gpu else chunks_per_task(params, len(pending), n_workers)
    logger.info("%d chunks to do; predictions on %s%s", len(pending), "a GPU worker" if gpu else "CPU workers",
                "" if gpu else f", {per_task} chunks per task")  # fmt: skip
    futures = []
    if not gpu:
        for start in range(0, len(pending), per_task):
            futures.append(
                chunk_group_task.submit(
                    root,
                    campaign_id,
                    pending[start : start + per_task],
                    checkpoint,
                    params.device,
                    params.batch_size,
                    params.temperatures_K,
                    params.symprec,
                    params.inference,
                )
            )
    for index, chunk_id in pending if gpu else ():
        work = encode_task.submit(root, campaign_id, chunk_id, params.symprec)
        ctx = dask.annotate(resources={params.gpu_resource: 1}) if gpu else contextlib.nullcontext()
        with ctx:
            # a fast CPU variant (int8) runs on the CPU even where a GPU worker takes the predict step
            use_gpu = gpu and params.device == "auto" and params.inference == "float32"
            device = "cuda" if use_gpu else params.device
            work = predict_task.submit(work, checkpoint, device, params.batch_size, params.inference)
        futures.append(
            finalize_task.submit(
                root, campaign_id, chunk_id, index, work, params.temperatures_K, model_id, params.symprec
            )
        )
    results, failed = [], []
    for fut in as_completed(futures):
        try:
            got = fut.result()
        except Exception as exc:
            failed.append(str(exc))
            logger.error("a chunk failed: %s", exc)
            continue
        for r in got if isinstance(got, list) else [got]:
            results.append(r)
            logger.info("chunk %s done (%d/%d): %d ok, %d rejected, %.1f s",
                        r["chunk_id"], len(results), len(pending), r["n_ok"], r["n_rejected"], r["seconds"])  # fmt: skip
    if failed:
        done = ResultsStore(root).committed_chunks(campaign_id)
        n_failed = sum(1 for _, chunk_id in pending if chunk_id not in done)
        raise RuntimeError(
            f"{n_failed} of {len(pending)} chunks failed (first: {failed[0]}); the others are committed. "
            f"Run again with campaign id {campaign_id!r} to retry only the failed chunks."
        )
    return results


# ----------------------------------------------------------------------------------------------- hook
def validate_step(params: ScreenParameters, campaign_id: str, leader_ids: list[str]) -> Any:
    """Validation hook: check the first ``params.validate_top_k`` leaders with phonon calculations.

    Runs after ranking with the ranked candidate ids. The phonon validation flow provides
    ``flows.validate.validate_leaders(results_dir, campaign_id, candidate_ids)``.
    """
    if params.validate_top_k <= 0 or not leader_ids:
        return None
    from flows.validate import validate_leaders

    return validate_leaders(
        results_dir=str(params.resolved_results_dir()),
        campaign_id=campaign_id,
        candidate_ids=leader_ids[: params.validate_top_k],
    )


def _check_validation_available(params: ScreenParameters) -> None:
    if params.validate_top_k > 0:
        try:
            import flows.validate  # noqa: F401
        except ImportError as exc:
            raise ValueError(
                f"validate_top_k={params.validate_top_k} but phonon validation is unavailable: {exc}"
            ) from exc


# ----------------------------------------------------------------------------------------------- flow
@flow(name="screen", log_prints=True)
def screen(params: ScreenParameters = ScreenParameters()) -> dict[str, Any]:  # noqa: B008 - a pydantic default
    """Run (or resume) a screening campaign; returns a summary with the top-k and where results are."""
    logger = get_run_logger()
    t0 = time.perf_counter()
    timeline = {"flow_started": time.time()}  # wall clock (epoch s) of each step: start-up breakdowns use it
    _check_validation_available(params)
    checkpoint, model_id = resolve_checkpoint(params.checkpoint, params.inference)
    check_ranking_parameters(params, checkpoint)  # a bad filter fails now, not after the campaign ran
    unanswerable = check_objectives_task(params, checkpoint)
    store = ResultsStore(params.resolved_results_dir())
    store.ensure()
    campaign_id = campaign_id_for(params, model_id)
    with campaign_lock(store.layout.lock_path(campaign_id)):
        plan = plan_task(params, campaign_id, checkpoint, model_id)
        timeline["planned"] = time.time()
        logger.info(
            "campaign %s: %d candidates in %d chunks, %d to do (%s)",
            campaign_id, plan["n_candidates"], plan["n_chunks"], len(plan["pending"]),
            "resumed" if plan["resumed"] else "new",
        )  # fmt: skip
        chunks: list[dict[str, Any]] = []
        if plan["pending"]:
            chunks = screen_chunks.with_options(task_runner=task_runner_for(params))(
                params, campaign_id, plan["pending"], checkpoint, model_id
            )
        timeline["chunks_done"] = time.time()
        top = rank_task(params, campaign_id)
        timeline["ranked"] = time.time()
        artifact_note = artifacts_task(params, campaign_id, top)
        timeline["artifacts_done"] = time.time()
        by_objective = {str(params.objective): top}
        for objective in params.objectives()[1:]:
            why_not = unanswerable.get(str(objective), "")
            extra = [] if why_not else rank_task(params, campaign_id, objective)
            objective_artifact_task(params, campaign_id, objective, extra, why_not)
            by_objective[str(objective)] = extra
        validation = validate_step(params, campaign_id, [r["candidate_id"] for r in top])
        report = report_task(params, campaign_id)  # after validation, so phonon comparisons are in it
    starts = [c["started_at"] for c in chunks if c.get("started_at")]
    if starts:
        timeline["first_chunk_started"] = min(starts)
    return {
        "campaign_id": campaign_id,
        "results_dir": str(store.root),
        "db_path": str(store.db_path),
        "n_candidates": plan["n_candidates"],
        "n_chunks": plan["n_chunks"],
        "chunks_run": len(chunks),
        "resumed": plan["resumed"],
        "objective": str(params.objective),
        "top": top,
        "top_by_objective": by_objective,
        "unanswerable_objectives": unanswerable,
        "artifacts": artifact_note,
        "report": report,
        "validation": validation,
        "seconds": time.perf_counter() - t0,
        "timeline": timeline,
    }
