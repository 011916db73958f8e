from __future__ import annotations

import pytest

pytest.importorskip("cloud_core.scope")

from screening.campaign import ScreenParameters  # noqa: E402
from screening.store import ResultsStore  # noqa: E402


def test_screen_flow_end_to_end(prefect_server, flow_pool, flow_checkpoint, tmp_path):
    from prefect.artifacts import Artifact

    from flows.screen import screen

    params = ScreenParameters(
        campaign_id="flow-e2e",
        source={"kind": "pool", "path": str(flow_pool)},
        checkpoint=str(flow_checkpoint),
        results_dir=str(tmp_path / "res"),
        chunk_size=20,
        top_k=5,
        objective="custom",  # the flow's mechanics: rank by theta_K, no stability filter (untrained model)
        max_e_above_hull=None,
        n_workers=2,
        local_workers="threads",  # worker processes are exercised by the kill test
    )
    out = screen(params)
    assert out["campaign_id"] == "flow-e2e" and out["n_chunks"] == 4 and out["chunks_run"] == 4
    store = ResultsStore(tmp_path / "res")
    n = store.query(
        "SELECT count(*) AS n, count(DISTINCT candidate_id) AS d FROM candidates WHERE campaign_id = 'flow-e2e'"
    ).to_pylist()[0]
    assert n == {"n": 62, "d": 62}
    row = store.query(
        "SELECT status, n_ok, n_rejected FROM campaigns WHERE campaign_id = 'flow-e2e'"
    ).to_pylist()[0]
    assert row["status"] == "complete" and row["n_ok"] + row["n_rejected"] == 62 and row["n_rejected"] >= 1
    assert len(out["top"]) == 5
    assert not list((tmp_path / "res").rglob("tmp-*")) and not list(
        (tmp_path / "res" / "campaigns" / "flow-e2e" / "work").glob("*")
    )
    assert Artifact.get("flow-e2e-top") is not None and Artifact.get("flow-e2e-rejects") is not None
    # the same id again resumes: nothing recomputed, nothing duplicated
    again = screen(params.model_copy(update={"top_k": 3}))
    assert again["resumed"] and again["chunks_run"] == 0 and len(again["top"]) == 3
    assert store.query("SELECT count(*) AS n FROM candidates").column("n")[0].as_py() == 62
