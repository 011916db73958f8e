"""Phonon validation of a campaign's leaders, as a Prefect task (the ``screen`` flow's ``validate_step`` calls it).

Thin wiring: reads the leaders' structures, the campaign's temperature grid and the predicted Debye temperatures
from the results store, runs :func:`screening.phonons.validate.validate` (CHGNet + phonopy), and writes the
``phonon_validation`` table next to the campaign's parts as one Parquet file (written to a temp name, renamed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

PHONON_VALIDATION_FILE = "phonon_validation.parquet"
PHONON_VALIDATION_REJECTS_FILE = "phonon_validation_rejects.parquet"


def _leader_structures(store: Any, campaign_id: str, wanted: set[str]) -> tuple[list, list[dict[str, str]]]:
    from screening.sources.candidate import candidates_from_table

    manifest = store.read_manifest(campaign_id).to_pydict()
    chunks = {c for cid, c in zip(manifest["candidate_id"], manifest["chunk_id"], strict=True) if cid in wanted}
    items, rejects, found = [], [], set()
    for chunk in sorted(chunks):
        table = store.read_input(campaign_id, chunk)
        if "structure_json" not in table.column_names:
            continue
        for cand in candidates_from_table(table):
            if cand.id not in wanted:
                continue
            found.add(cand.id)
            if cand.structure is None:
                rejects.append({"id": cand.id, "stage": "phonon", "reason": "no_structure",
                                "message": "composition-only candidate: phonons need a structure"})
            else:
                items.append((cand.id, cand.structure))
    for cid in sorted(wanted - found):
        rejects.append({"id": cid, "stage": "phonon", "reason": "no_structure",
                        "message": "candidate has no stored structure in this campaign"})
    return items, rejects


def _predicted_theta(store: Any, campaign_id: str, ids: list[str]) -> dict[str, float]:
    try:
        t = store.query(
            "SELECT candidate_id, any_value(theta_K) AS theta FROM debye_curves "
            "WHERE campaign_id = ? AND list_contains(?, candidate_id) GROUP BY candidate_id",
            [campaign_id, ids],
        ).to_pydict()
    except Exception:  # no debye_curves yet: the phonon curves are still worth computing
        return {}
    return {c: th for c, th in zip(t["candidate_id"], t["theta"], strict=True) if th is not None}


@task(name="phonon-validate", cache_policy=NONE)
def validate_leaders(results_dir: str, campaign_id: str, candidate_ids: list[str], torch_threads: int = 1) -> dict:
    """Phonon-validate ``candidate_ids`` of a campaign; returns where the table is and a summary."""
    from screening.phonons.validate import validate
    from screening.store import ResultsStore

    try:
        logger = get_run_logger()
    except Exception:  # called outside a flow run (scripts, tests)
        import logging

        logger = logging.getLogger(__name__)
    store = ResultsStore(results_dir)
    temps = store.read_campaign(campaign_id)["temperatures_K"]
    wanted = set(candidate_ids)
    items, rejects = _leader_structures(store, campaign_id, wanted)
    theta = _predicted_theta(store, campaign_id, sorted(wanted))
    logger.info("phonon validation of %d leaders (%d without structure)", len(items), len(rejects))
    table, stage_rejects = validate(items, theta, temperatures=temps, campaign_id=campaign_id,
                                    torch_threads=torch_threads)
    rejects += [j.to_dict() for j in stage_rejects]
    out_dir = Path(store.layout.campaign_dir(campaign_id))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PHONON_VALIDATION_FILE
    tmp = out_dir / f".{PHONON_VALIDATION_FILE}.tmp"
    pq.write_table(table, tmp)
    tmp.replace(path)
    rej_path = out_dir / PHONON_VALIDATION_REJECTS_FILE
    tmp = out_dir / f".{PHONON_VALIDATION_REJECTS_FILE}.tmp"
    pq.write_table(pa.Table.from_pylist(rejects, schema=pa.schema([(k, pa.string()) for k in
                                                                    ("id", "stage", "reason", "message")])), tmp)
    tmp.replace(rej_path)
    n_unstable = sum(not s for s in table.column("dynamically_stable").to_pylist())
    return {"path": str(path), "rejects_path": str(rej_path), "n_validated": table.num_rows,
            "n_unstable": n_unstable, "n_rejected": len(rejects)}
