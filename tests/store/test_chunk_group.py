"""Several chunks in one task: each committed on its own; a failing chunk does not stop the others."""

from __future__ import annotations

import pytest

pytest.importorskip("cloud_core.scope")

from screening.campaign import ScreenParameters  # noqa: E402
from screening.campaign.plan import plan_campaign  # noqa: E402
from screening.campaign.predict import resolve_checkpoint  # noqa: E402
from screening.campaign.stages import process_chunk_group  # noqa: E402
from screening.store import ResultsStore  # noqa: E402


def test_group_commits_each_chunk_and_reports_failures(small_pool, tiny_checkpoint, tmp_path):
    params = ScreenParameters(source={"kind": "pool", "path": str(small_pool)}, checkpoint=str(tiny_checkpoint),
                              results_dir=str(tmp_path / "res"), chunk_size=20)  # fmt: skip
    checkpoint, model_id = resolve_checkpoint(params.checkpoint)
    store = ResultsStore(tmp_path / "res")
    plan = plan_campaign(store, "grp", params, model_id=model_id, checkpoint=checkpoint)
    chunks = list(enumerate(plan.chunk_ids))
    assert len(chunks) == 4
    store.layout.input_path("grp", chunks[1][1]).unlink()  # this chunk cannot be read
    kw = dict(checkpoint=checkpoint, device="cpu", batch_size=64, temperatures_K=[300.0], symprec=0.01)
    with pytest.raises(RuntimeError, match=rf"^1 of 3 chunks of this task failed \(first: {chunks[1][1]}"):
        process_chunk_group(str(store.root), "grp", chunks[:3], **kw)
    assert store.committed_chunks("grp") == {chunks[0][1], chunks[2][1]}
    # the retry redoes only what is not committed
    got = process_chunk_group(str(store.root), "grp", [chunks[0], chunks[3]], **kw)
    assert [(r["chunk_id"], r["committed"]) for r in got] == [(chunks[0][1], False), (chunks[3][1], True)]
    assert got[1]["n_candidates"] == 2 and got[1]["started_at"] > 0
