"""Plan a campaign: split its candidates into chunks, commit inputs + manifest + campaign row once.

A resumed campaign reuses the committed plan; resuming with parameters that change results is an error. A new
plan is committed only after the source's stored SCOPE strings pass their sample check
(:func:`~screening.campaign.stored_scope.check_stored_scopes`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from screening.campaign.source_tables import describe_source, iter_source_tables
from screening.campaign.spec import ScreenParameters, params_hash
from screening.campaign.stored_scope import check_stored_scopes
from screening.store import ResultsStore
from screening.store.provenance import library_versions, utc_now
from screening.store.schemas import CAMPAIGNS, MANIFEST


class CampaignParametersChanged(ValueError):
    """A campaign id was reused with parameters that change its results."""


@dataclass(frozen=True)
class CampaignPlan:
    """A committed plan."""

    campaign_id: str
    chunk_ids: tuple[str, ...]
    n_candidates: int
    params_hash: str
    resumed: bool


def chunk_id_for(campaign_id: str, index: int, candidate_ids: list[str]) -> str:
    """``<index:05d>-<10 hex>``: derived from the campaign, the chunk's position and its candidates."""
    h = hashlib.sha256(campaign_id.encode())
    for cid in candidate_ids:
        h.update(b"\0" + cid.encode())
    return f"{index:05d}-{h.hexdigest()[:10]}"


def _read_all(params: ScreenParameters) -> pa.Table:
    tables = list(iter_source_tables(params.source))
    if not tables:
        raise ValueError(f"the source {describe_source(params.source)} yielded no candidates")
    table = pa.concat_tables(tables)
    ids = table.column("candidate_id")
    if pc.count_distinct(ids).as_py() != table.num_rows:
        counts = pc.value_counts(ids)
        dups = [v["values"].as_py() for v in counts if v["counts"].as_py() > 1][:5]
        raise ValueError(f"the source yields duplicate candidate ids (e.g. {dups}); ids must be unique")
    return table


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def plan_campaign(
    store: ResultsStore,
    campaign_id: str,
    params: ScreenParameters,
    *,
    model_id: str,
    checkpoint: str,
) -> CampaignPlan:
    """Commit the campaign's plan, or load it when already committed (resume).

    Raises
    ------
    CampaignParametersChanged
        When ``campaign_id`` exists with a different parameter hash; the message names the changed fields.
    """
    store.ensure()
    digest = params_hash(params, model_id)
    if not store.has_plan(campaign_id):
        table = _read_all(params)
        # trust in the source's stored SCOPE strings is checked once, before anything is committed
        check_stored_scopes(table, params.symprec)
        inputs: dict[str, pa.Table] = {}
        man_ids, man_chunks, man_index = [], [], []
        for i, start in enumerate(range(0, table.num_rows, params.chunk_size)):
            part = table.slice(start, params.chunk_size)
            ids = part.column("candidate_id").to_pylist()
            chunk = chunk_id_for(campaign_id, i, ids)
            inputs[chunk] = part
            man_ids += ids
            man_chunks += [chunk] * len(ids)
            man_index += [i] * len(ids)
        manifest = pa.table([man_ids, man_chunks, pa.array(man_index, pa.int32())], schema=MANIFEST)
        row = {
            "campaign_id": campaign_id,
            "created_at": utc_now(),
            "params_hash": digest,
            "params_json": json.dumps(
                params.hashed_fields(model_id) | {"all": params.model_dump(mode="json")}
            ),
            "source": describe_source(params.source),
            "n_candidates": table.num_rows,
            "n_chunks": len(inputs),
            "chunk_size": params.chunk_size,
            "model_id": model_id,
            "checkpoint": checkpoint,
            "symprec": params.symprec,
            "temperatures_K": params.temperatures_K,
            "versions": library_versions(),
        }
        store.commit_plan(campaign_id, inputs, manifest, pa.Table.from_pylist([row], schema=CAMPAIGNS))
        resumed = False
    else:
        resumed = True
    row = store.read_campaign(campaign_id)
    if row["params_hash"] != digest:
        old = json.loads(row["params_json"])
        changed = _changed_fields(
            {k: v for k, v in old.items() if k != "all"}, params.hashed_fields(model_id)
        )
        raise CampaignParametersChanged(
            f"campaign {campaign_id!r} already exists with different parameters (changed: {', '.join(changed)}); "
            "resume it with its original parameters or choose a new campaign id"
        )
    manifest = store.read_manifest(campaign_id)
    chunk_ids = tuple(dict.fromkeys(manifest.column("chunk_id").to_pylist()))
    return CampaignPlan(campaign_id, chunk_ids, manifest.num_rows, digest, resumed)
