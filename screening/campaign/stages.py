"""The pipeline steps of one chunk, as functions of paths (what Prefect tasks on Dask workers call).

Each step reads its inputs from the store's files and writes its outputs there, so steps can run in different
processes or machines sharing the results directory, and tasks pass only short strings. :func:`process_chunk`
runs all steps of a chunk in one process without intermediate files (the one-process baseline).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from screening.campaign.debye import debye_chunk
from screening.campaign.encode import encode_chunk
from screening.campaign.predict import PredictorLike, load_predictor, predict_chunk
from screening.campaign.rejects_table import REJECT_COLUMNS
from screening.campaign.write import assemble_chunk, formulas_for, n_atoms_for
from screening.hull import reference_hull, stability_for
from screening.store import ResultsStore
from screening.store.atomic import atomic_parquet
from screening.store.provenance import utc_now

#: Fault injection for tests (unset in normal use): a file path. The first chunk task to start, in any process,
#: creates that file holding ``"<pid> <chunk id>"`` and then pauses for :data:`CHUNK_HOLD_SECONDS_ENV` seconds
#: (default 60), so a test can SIGKILL the process while it runs a chunk (``tests/flows/test_dask_faults.py``).
#: Every later chunk task finds the file and goes on at once.
CHUNK_HOLD_ENV = "CLOUD_CHUNK_TEST_HOLD"
CHUNK_HOLD_SECONDS_ENV = "CLOUD_CHUNK_TEST_HOLD_S"


def chunk_test_hold(chunk_id: str) -> None:
    """The test hook of :data:`CHUNK_HOLD_ENV` (a no-op unless that variable is set)."""
    path = os.environ.get(CHUNK_HOLD_ENV)
    if not path:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    Path(tmp).write_text(f"{os.getpid()} {chunk_id}\n")
    try:
        os.link(tmp, path)  # atomic and exclusive: only the first task holds
    except FileExistsError:
        return
    finally:
        os.unlink(tmp)
    time.sleep(float(os.environ.get(CHUNK_HOLD_SECONDS_ENV, "60")))


@dataclass(frozen=True)
class ChunkResult:
    """What a finished chunk reports (small: this is what travels back to the flow)."""

    chunk_id: str
    committed: bool  # False: it was already committed (by an earlier run)
    n_candidates: int
    n_ok: int
    n_rejected: int
    seconds: float
    started_at: float = 0.0  # wall clock (epoch s) when its first step began: start-up timelines use it

    def to_dict(self) -> dict:
        return asdict(self)


def _timing(work: Path, key: str, seconds: float) -> None:
    path = work / "timing.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = seconds
    tmp = work / ".timing.json.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def encode_stage(root: str, campaign_id: str, chunk_id: str, symprec: float) -> str:
    """Encode a chunk's input; write ``encoded.parquet`` + ``rejects_encode.parquet`` in its work dir.

    Returns the work directory (or ``""`` when the chunk is already committed).
    """
    store = ResultsStore(root)
    if chunk_id in store.committed_chunks(campaign_id):
        return ""
    chunk_test_hold(chunk_id)
    started, t0 = time.time(), time.perf_counter()
    encoded, rejects = encode_chunk(store.read_input(campaign_id, chunk_id), symprec=symprec)
    work = store.layout.work_dir(campaign_id, chunk_id)
    work.mkdir(parents=True, exist_ok=True)
    atomic_parquet(encoded, work / "encoded.parquet")
    atomic_parquet(rejects, work / "rejects_encode.parquet")
    _timing(work, "started_at", started)
    _timing(work, "encode", time.perf_counter() - t0)
    return str(work)


def predict_stage(
    work: str, checkpoint: str | None, device: str, batch_size: int, inference: str = "float32"
) -> str:
    """Predict the encoded candidates in ``work``; write ``predictions.parquet`` + ``rejects_predict.parquet``."""
    if not work:
        return ""
    t0 = time.perf_counter()
    w = Path(work)
    predictor = load_predictor(checkpoint, device, inference)
    preds, rejects = predict_chunk(pq.read_table(w / "encoded.parquet"), predictor, batch_size=batch_size)
    atomic_parquet(preds, w / "predictions.parquet")
    atomic_parquet(rejects, w / "rejects_predict.parquet")
    _timing(w, "predict", time.perf_counter() - t0)
    return work


def _curves(encoded: pa.Table, preds: pa.Table, temperatures_K: list[float]) -> pa.Table:
    if "theta_K" not in preds.column_names:
        return debye_chunk([], [], [], temperatures_K)
    ids = preds.column("candidate_id")
    return debye_chunk(
        ids.to_pylist(), preds.column("theta_K").to_pylist(), n_atoms_for(encoded, ids), temperatures_K
    )


def with_stability(encoded: pa.Table, preds: pa.Table) -> pa.Table:
    """``preds`` with the reference hull's columns appended (``e_above_hull``, ``implausible``, ...)."""
    if preds.num_rows == 0:
        return preds
    extra = stability_for(formulas_for(encoded, preds.column("candidate_id")), preds, reference_hull())
    for name in extra.column_names:
        preds = preds.append_column(name, extra.column(name))
    return preds


def _finish(
    store: ResultsStore,
    campaign_id: str,
    chunk_id: str,
    chunk_index: int,
    encoded: pa.Table,
    preds: pa.Table,
    rejects: pa.Table,
    temperatures_K: list[float],
    model_id: str,
    symprec: float,
    seconds_before: float,
    started_at: float = 0.0,
) -> ChunkResult:
    t0 = time.perf_counter()
    inputs = store.read_input(campaign_id, chunk_id).select(["candidate_id", "source", "formula"]).to_pydict()
    curves = _curves(encoded, preds, temperatures_K)
    preds = with_stability(encoded, preds)
    seconds = seconds_before + (time.perf_counter() - t0)
    tables = assemble_chunk(
        campaign_id=campaign_id,
        chunk_id=chunk_id,
        chunk_index=chunk_index,
        input_ids=inputs["candidate_id"],
        input_sources=inputs["source"],
        input_formulas=inputs["formula"],
        encoded=encoded,
        predictions=preds,
        curves=curves,
        rejects=rejects,
        model_id=model_id,
        symprec=symprec,
        seconds=seconds,
        created_at=utc_now(),
    )
    committed = store.commit_chunk(campaign_id, chunk_id, tables)
    return ChunkResult(
        chunk_id,
        committed,
        len(inputs["candidate_id"]),
        preds.num_rows,
        rejects.num_rows,
        seconds,
        started_at,
    )


def finalize_stage(
    root: str,
    campaign_id: str,
    chunk_id: str,
    chunk_index: int,
    work: str,
    temperatures_K: list[float],
    model_id: str,
    symprec: float,
) -> dict:
    """Debye curves + assemble + commit the chunk from its work files; remove them. Returns a ChunkResult dict."""
    store = ResultsStore(root)
    if not work:
        return ChunkResult(chunk_id, False, 0, 0, 0, 0.0).to_dict()
    w = Path(work)
    encoded = pq.read_table(w / "encoded.parquet")
    preds = pq.read_table(w / "predictions.parquet")
    rejects = pa.concat_tables(
        [pq.read_table(w / "rejects_encode.parquet"), pq.read_table(w / "rejects_predict.parquet")]
    ).cast(REJECT_COLUMNS)
    timing = json.loads((w / "timing.json").read_text())
    before = timing.get("encode", 0.0) + timing.get("predict", 0.0)
    result = _finish(
        store,
        campaign_id,
        chunk_id,
        chunk_index,
        encoded,
        preds,
        rejects,
        temperatures_K,
        model_id,
        symprec,
        before,
        timing.get("started_at", 0.0),
    )
    shutil.rmtree(w, ignore_errors=True)
    return result.to_dict()


def process_chunk(
    store: ResultsStore,
    campaign_id: str,
    chunk_id: str,
    chunk_index: int,
    *,
    predictor: PredictorLike,
    temperatures_K: list[float],
    symprec: float,
    batch_size: int = 512,
) -> ChunkResult:
    """All steps of one chunk in this process, no intermediate files (skips a committed chunk)."""
    if chunk_id in store.committed_chunks(campaign_id):
        return ChunkResult(chunk_id, False, 0, 0, 0, 0.0)
    started, t0 = time.time(), time.perf_counter()
    encoded, rej_enc = encode_chunk(store.read_input(campaign_id, chunk_id), symprec=symprec)
    preds, rej_pred = predict_chunk(encoded, predictor, batch_size=batch_size)
    rejects = pa.concat_tables([rej_enc, rej_pred]).cast(REJECT_COLUMNS)
    return _finish(
        store,
        campaign_id,
        chunk_id,
        chunk_index,
        encoded,
        preds,
        rejects,
        temperatures_K,
        predictor.model_id,
        symprec,
        time.perf_counter() - t0,
        started,
    )


def process_chunk_group(
    root: str,
    campaign_id: str,
    chunks: list[tuple[int, str]],
    *,
    checkpoint: str | None,
    device: str,
    batch_size: int,
    temperatures_K: list[float],
    symprec: float,
    inference: str = "float32",
) -> list[dict]:
    """All steps of several chunks, one after the other in this process (one Dask task for a group of chunks).

    Each chunk is still committed on its own (atomic, skipped when already committed). A chunk that fails does
    not stop the others; once every chunk of the group has been tried, the first failure is raised (naming how
    many failed), so a retry of the group redoes only the chunks that are not committed.

    Returns
    -------
    list[dict]
        One :class:`ChunkResult` dict per chunk committed or found committed.
    """
    store = ResultsStore(root)
    predictor = load_predictor(checkpoint, device, inference)
    results, errors = [], []
    for index, chunk_id in chunks:
        if chunk_id not in store.committed_chunks(campaign_id):
            chunk_test_hold(chunk_id)  # the fault tests' barrier (no-op unless its env var is set)
        try:
            r = process_chunk(
                store,
                campaign_id,
                chunk_id,
                index,
                predictor=predictor,
                temperatures_K=temperatures_K,
                symprec=symprec,
                batch_size=batch_size,
            )
        except Exception as exc:  # the group goes on; reported below
            errors.append((chunk_id, exc))
            continue
        results.append(r.to_dict())
    if errors:
        chunk_id, exc = errors[0]
        raise RuntimeError(
            f"{len(errors)} of {len(chunks)} chunks of this task failed (first: {chunk_id}: "
            f"{type(exc).__name__}: {exc})"
        ) from exc
    return results
