"""Write step: assemble one chunk's tables (candidates, predictions, debye_curves, rejects, chunks) and commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from screening.store import ResultsStore
from screening.store.provenance import stamp


def _with_keys(table: pa.Table, campaign_id: str, chunk_id: str) -> pa.Table:
    n = table.num_rows
    table = table.add_column(0, "chunk_id", pa.array([chunk_id] * n, pa.string()))
    return table.add_column(0, "campaign_id", pa.array([campaign_id] * n, pa.string()))


def assemble_chunk(
    *,
    campaign_id: str,
    chunk_id: str,
    chunk_index: int,
    input_ids: Sequence[str],
    input_sources: Sequence[str | None],
    input_formulas: Sequence[str | None],
    encoded: pa.Table,
    predictions: pa.Table,
    curves: pa.Table,
    rejects: pa.Table,
    model_id: str | None,
    symprec: float,
    seconds: float,
    created_at: datetime,
) -> dict[str, pa.Table]:
    """Build the five tables of one chunk, every row keyed by campaign and chunk and stamped with provenance.

    ``candidates`` holds every input candidate exactly once: ``status = 'ok'`` with its SCOPE fields when it
    has predictions, ``'rejected'`` otherwise (its reason is in ``rejects``).

    Raises
    ------
    ValueError
        If a candidate is neither predicted nor rejected, or both (the exactly-once invariant).
    """
    predicted = set(predictions.column("candidate_id").to_pylist())
    rejected_ids = rejects.column("candidate_id").to_pylist()
    rejected = set(rejected_ids)
    inputs = set(input_ids)
    lost = inputs - predicted - rejected
    both = predicted & rejected
    if lost or both or (predicted | rejected) - inputs:
        raise ValueError(
            f"chunk {chunk_id}: {len(lost)} candidates neither predicted nor rejected, {len(both)} both, "
            f"{len((predicted | rejected) - inputs)} unknown"
        )
    enc = {r["candidate_id"]: r for r in encoded.to_pylist()}
    rows = []
    for cid, src, formula in zip(input_ids, input_sources, input_formulas, strict=True):
        e = enc.get(cid, {})
        rows.append(
            {
                "candidate_id": cid,
                "source": src,
                "formula": e.get("formula") or formula,
                "scope": e.get("scope"),
                "spacegroup": e.get("spacegroup"),
                "n_sites": e.get("n_sites"),
                "scope_backend": e.get("scope_backend"),
                "status": "ok" if cid in predicted else "rejected",
            }
        )
    candidates = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("candidate_id", pa.string()),
                ("source", pa.string()),
                ("formula", pa.string()),
                ("scope", pa.string()),
                ("spacegroup", pa.int32()),
                ("n_sites", pa.int32()),
                ("scope_backend", pa.string()),
                ("status", pa.string()),
            ]
        ),
    )
    chunks = pa.table(
        {
            "chunk_index": pa.array([chunk_index], pa.int32()),
            "n_candidates": pa.array([len(input_ids)], pa.int64()),
            "n_ok": pa.array([len(predicted)], pa.int64()),
            "n_rejected": pa.array([len(rejected)], pa.int64()),
            "seconds": pa.array([seconds], pa.float64()),
        }
    )
    out = {}
    for name, table in (
        ("candidates", candidates),
        ("predictions", predictions),
        ("debye_curves", curves),
        ("rejects", rejects),
        ("chunks", chunks),
    ):
        out[name] = stamp(
            _with_keys(table, campaign_id, chunk_id),
            model_id=model_id,
            symprec=symprec,
            created_at=created_at,
        )
    return out


def n_atoms_for(encoded: pa.Table, candidate_ids: pa.Array | pa.ChunkedArray) -> list[int | None]:
    """``n_sites`` of each candidate id, in the order given (``None`` where unknown)."""
    idx = pc.index_in(candidate_ids, value_set=encoded.column("candidate_id"))
    return pc.take(encoded.column("n_sites"), idx).to_pylist()


def formulas_for(encoded: pa.Table, candidate_ids: pa.Array | pa.ChunkedArray) -> list[str | None]:
    """``formula`` of each candidate id, in the order given (``None`` where unknown)."""
    idx = pc.index_in(candidate_ids, value_set=encoded.column("candidate_id"))
    return pc.take(encoded.column("formula"), idx).to_pylist()


def commit(store: ResultsStore, campaign_id: str, chunk_id: str, tables: dict[str, pa.Table]) -> bool:
    """Commit the chunk's tables together; ``False`` if the chunk was already committed."""
    return store.commit_chunk(campaign_id, chunk_id, tables)
