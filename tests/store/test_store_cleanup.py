"""Cleanup after a killed run removes only its own campaign's leftovers, never those of a campaign whose id
merely starts with the same characters (``rel`` vs ``rel-kill3``)."""

from __future__ import annotations

import pyarrow as pa

from screening.store import ResultsStore
from screening.store.atomic import staging_dir


def test_clean_stale_leaves_other_campaigns_with_a_shared_prefix_alone(tmp_path):
    store = ResultsStore(tmp_path / "res")
    store.ensure()
    staging = store.layout.campaigns_dir / ".staging"
    # two plans being written (as commit_plan names them), one per campaign; ids share the prefix "rel"
    own = staging_dir(staging, "rel")
    other = staging_dir(staging, "rel-kill3")
    also_other = staging_dir(staging, "rel-2")
    (other / "inputs").mkdir()
    pa.parquet.write_table(pa.table({"x": [1]}), other / "inputs" / "00000-a.parquet")
    # in-flight chunk and work files of the other campaign
    other_tmp = staging_dir(store.layout.campaign_parts_dir("rel-kill3"), "tmp-00000-a")
    other_work = store.layout.work_dir("rel-kill3", "00000-a")
    other_work.mkdir(parents=True)
    own_tmp = staging_dir(store.layout.campaign_parts_dir("rel"), "tmp-00000-b")
    own_work = store.layout.work_dir("rel", "00000-b")
    own_work.mkdir(parents=True)

    removed = store.clean_stale("rel")

    assert not own.exists() and not own_tmp.exists() and not own_work.exists()
    assert removed == 3
    assert other.exists() and (other / "inputs" / "00000-a.parquet").exists()
    assert also_other.exists() and other_tmp.exists() and other_work.exists()

    # and the other campaign's own cleanup removes exactly its leftovers
    assert store.clean_stale("rel-kill3") == 3
    assert also_other.exists() and not other.exists()
