from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pytest

from screening.ranking import Condition, top_k
from screening.store import CampaignLockedError, ResultsStore, campaign_lock
from screening.store.provenance import stamp, utc_now


def _tables(cid: str, chunk: str, ids: list[str]) -> dict[str, pa.Table]:
    now = utc_now()

    def keyed(t: pa.Table) -> pa.Table:
        n = t.num_rows
        t = t.add_column(0, "chunk_id", pa.array([chunk] * n))
        t = t.add_column(0, "campaign_id", pa.array([cid] * n))
        return stamp(t, model_id="m", symprec=0.01, created_at=now)

    return {
        "candidates": keyed(
            pa.table({"candidate_id": ids, "status": ["ok"] * len(ids), "formula": ["NaCl"] * len(ids)})
        ),
        "predictions": keyed(pa.table({"candidate_id": ids, "theta_K": [float(i) for i in range(len(ids))]})),
        "debye_curves": keyed(pa.table({"candidate_id": pa.array([], pa.string())})),
        "rejects": keyed(pa.table({"candidate_id": pa.array([], pa.string())})),
        "chunks": keyed(pa.table({"n_candidates": [len(ids)], "n_ok": [len(ids)], "n_rejected": [0]})),
    }


def test_views_exist_before_any_campaign_and_db_is_created_once(tmp_path):
    store = ResultsStore(tmp_path / "res")
    db = store.ensure()
    inode, mtime = db.stat().st_ino, db.stat().st_mtime_ns
    store.ensure()
    assert (db.stat().st_ino, db.stat().st_mtime_ns) == (inode, mtime)
    for view in ("campaigns", "candidates", "predictions", "debye_curves", "rejects", "chunks"):
        assert store.query(f"SELECT count(*) AS n FROM {view}").column("n")[0].as_py() == 0
        assert "campaign_id" in store.query(f"SELECT * FROM {view} LIMIT 0").column_names
    assert not list(tmp_path.glob("res/.cloud.duckdb.tmp-*"))


def test_commit_is_all_or_nothing_and_exactly_once(tmp_path):
    store = ResultsStore(tmp_path)
    store.ensure()
    assert store.commit_chunk("camp", "00000-a", _tables("camp", "00000-a", ["x", "y"]))
    assert not store.commit_chunk("camp", "00000-a", _tables("camp", "00000-a", ["x", "y"]))
    # a half-written chunk (a killed writer) sits under a temp name the views never read
    stale = store.layout.campaign_parts_dir("camp") / "tmp-00001-b-123-abc"
    stale.mkdir()
    pa.parquet.write_table(_tables("camp", "00001-b", ["z"])["predictions"], stale / "predictions.parquet")
    got = store.query("SELECT candidate_id FROM predictions ORDER BY 1").column("candidate_id").to_pylist()
    assert got == ["x", "y"]
    assert store.committed_chunks("camp") == {"00000-a"}
    assert store.clean_stale("camp") >= 1 and not stale.exists()


def test_missing_table_is_an_error(tmp_path):
    store = ResultsStore(tmp_path)
    store.ensure()
    tables = _tables("camp", "c", ["x"])
    del tables["rejects"]
    with pytest.raises(ValueError, match="rejects"):
        store.commit_chunk("camp", "c", tables)
    assert store.committed_chunks("camp") == set()


def test_readers_see_new_chunks_without_reopening_and_never_lock(tmp_path):
    store = ResultsStore(tmp_path)
    store.ensure()
    with store.connect() as reader, store.connect() as reader2:  # two read-only handles at once
        assert reader.execute("SELECT count(*) FROM predictions").fetchone()[0] == 0
        store.commit_chunk("camp", "c1", _tables("camp", "c1", ["a", "b", "c"]))
        assert reader.execute("SELECT count(*) FROM predictions").fetchone()[0] == 3
        assert reader2.execute("SELECT count(*) FROM candidates").fetchone()[0] == 3


def test_bad_ids_are_refused(tmp_path):
    store = ResultsStore(tmp_path)
    for bad in ("../x", "", "_seed", "a b", "x/y"):
        with pytest.raises(ValueError, match="invalid"):
            store.layout.campaign_dir(bad)


def test_lock_excludes_a_second_holder_and_dies_with_its_process(tmp_path):
    path = tmp_path / "locks" / "camp.lock"
    with campaign_lock(path):
        with pytest.raises(CampaignLockedError, match="already running"):
            with campaign_lock(path):
                pass
    code = (
        "import sys, time; from pathlib import Path; from screening.store import campaign_lock\n"
        f"with campaign_lock(Path({str(path)!r})):\n    print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(CampaignLockedError, match="pid"):
            with campaign_lock(path):
                pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        time.sleep(0.1)
        with campaign_lock(path):  # the kernel released it
            pass
    finally:
        if proc.poll() is None:
            proc.kill()


def test_filters_are_bound_never_pasted(tmp_path):
    store = ResultsStore(tmp_path)
    store.ensure()
    # a minimal campaign row so the ranking knows the temperature grid
    from screening.store.schemas import CAMPAIGNS

    row = {
        "campaign_id": "camp",
        "params_hash": "h",
        "n_candidates": 3,
        "n_chunks": 1,
        "temperatures_K": [300.0],
    }
    man = pa.table(
        {
            "candidate_id": ["a", "b", "c"],
            "chunk_id": ["c1"] * 3,
            "chunk_index": pa.array([0] * 3, pa.int32()),
        }
    )
    store.commit_plan("camp", {}, man, pa.Table.from_pylist([row], schema=CAMPAIGNS))
    store.commit_chunk("camp", "c1", _tables("camp", "c1", ["a", "b", "c"]))
    top = top_k(store, "camp", by="theta_K", k=2)
    assert top.column("candidate_id").to_pylist() == ["c", "b"]
    evil = "NaCl' OR 1=1; DROP VIEW predictions; --"
    assert top_k(store, "camp", conditions=[Condition("formula", "=", evil)]).num_rows == 0
    assert top_k(store, "camp", conditions=[Condition("theta_K", "<", 1.5)]).column(
        "candidate_id"
    ).to_pylist() == ["b", "a"]
    with pytest.raises(ValueError, match="unknown filter column"):
        top_k(store, "camp", conditions=[Condition("theta_K; DROP VIEW x", ">", 1)])
    with pytest.raises(ValueError, match="cannot rank by"):
        top_k(store, "camp", by="nope")
    assert store.query("SELECT count(*) AS n FROM predictions").column("n")[0].as_py() == 3
