"""Stored SCOPE strings: the fast path gives the same campaign as a full encode, and corrupt strings fail it."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("cloud_core.scope")

from screening.campaign import ScreenParameters  # noqa: E402
from screening.campaign.runner import run_campaign  # noqa: E402
from screening.campaign.stored_scope import StoredScopeMismatch, sample_size  # noqa: E402
from screening.sources.candidate import CANDIDATE_SCHEMA, with_scope_columns  # noqa: E402
from screening.store import ResultsStore  # noqa: E402

_COLS = "candidate_id, status, formula, scope, spacegroup, n_sites, scope_backend"


def _with_stored(pool, out, *, symprec: float = 0.01):
    """The pool plus the SCOPE string of each readable structure, as a source that knows them stores them."""
    from pymatgen.core import Structure

    from cloud_core.scope import encode, scope_version

    rows = with_scope_columns(pq.read_table(pool)).to_pylist()
    for r in rows:
        try:
            r["scope"] = encode(
                Structure.from_dict(json.loads(r["structure_json"])), symprec=symprec
            ).to_string()
        except Exception:  # unreadable or unencodable: the source has no string for it
            continue
        r["scope_symprec"], r["scope_version"] = symprec, scope_version()
    pq.write_table(pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA), out)
    return rows


def _run(pool, ckpt, res, **kw):
    params = ScreenParameters(source={"kind": "pool", "path": str(pool)}, checkpoint=str(ckpt),
                              results_dir=str(res), chunk_size=25, **kw)  # fmt: skip
    out = run_campaign(params)
    store = ResultsStore(res)
    cands = store.query(f"SELECT {_COLS} FROM candidates ORDER BY candidate_id").to_pylist()
    preds = store.query("SELECT * EXCLUDE (campaign_id, chunk_id, created_at, versions) FROM predictions "
                        "ORDER BY candidate_id").to_pydict()  # fmt: skip
    rejects = store.query("SELECT candidate_id, stage, reason FROM rejects ORDER BY candidate_id").to_pylist()
    return out, cands, preds, rejects


def test_fast_path_matches_full_encode(small_pool, tiny_checkpoint, tmp_path):
    rows = _with_stored(small_pool, tmp_path / "stored.parquet")
    assert sum(r["scope"] is not None for r in rows) == 60  # the corrupt and formula-only ones have none
    _, slow, slow_p, slow_r = _run(small_pool, tiny_checkpoint, tmp_path / "slow")
    _, fast, fast_p, fast_r = _run(tmp_path / "stored.parquet", tiny_checkpoint, tmp_path / "fast")
    assert {c["scope_backend"] for c in slow if c["status"] == "ok" and c["spacegroup"]} == {"moyopy"}
    assert {c["scope_backend"] for c in fast if c["status"] == "ok" and c["spacegroup"]} == {"stored"}
    drop = lambda rs: [{k: v for k, v in r.items() if k != "scope_backend"} for r in rs]  # noqa: E731
    assert drop(fast) == drop(slow) and len(fast) == 62  # same candidates, strings, space groups, site counts
    assert fast_r == slow_r
    assert fast_p["candidate_id"] == slow_p["candidate_id"]
    for name, col in slow_p.items():
        if name != "candidate_id" and col and isinstance(col[0], float):
            np.testing.assert_allclose(fast_p[name], col, rtol=1e-5, atol=1e-6, err_msg=name)
    # another tolerance than the stored one: the strings are not trusted, every structure is encoded in full
    _, other, _, _ = _run(tmp_path / "stored.parquet", tiny_checkpoint, tmp_path / "other", symprec=0.02)
    assert "stored" not in {c["scope_backend"] for c in other}


def test_corrupt_stored_strings_fail_the_campaign(small_pool, tiny_checkpoint, tmp_path):
    rows = _with_stored(small_pool, tmp_path / "stored.parquet")
    with_scope = [i for i, r in enumerate(rows) if r["scope"]]
    a, b = with_scope[10], with_scope[40]  # swapped: each string is valid SCOPE, but not this candidate's
    rows[a]["scope"], rows[b]["scope"] = rows[b]["scope"], rows[a]["scope"]
    bad = tmp_path / "corrupt.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA), bad)
    params = ScreenParameters(source={"kind": "pool", "path": str(bad)}, checkpoint=str(tiny_checkpoint),
                              results_dir=str(tmp_path / "res"), campaign_id="corrupt")  # fmt: skip
    with pytest.raises(StoredScopeMismatch, match=r"^2 of 60 sampled stored SCOPE strings differ") as err:
        run_campaign(params)
    assert "\n" not in str(err.value) and rows[min(a, b)]["candidate_id"] in str(err.value)
    assert not ResultsStore(tmp_path / "res").has_plan("corrupt")  # nothing committed


def test_scope_only_candidates(tiny_checkpoint, tmp_path):
    good = ["225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1", "167 hR -3m | Al 12c O 18e | Al 2 O 3"]
    bad = "225 cF m-3m | Cl 4a Na 4b | Na 1 Cl 1"  # valid tokens, not canonical
    rows = [{"candidate_id": f"s-{i}", "source": "gen", "scope": s, "scope_version": "scope-from-elsewhere"}
            for i, s in enumerate([*good, bad])]  # fmt: skip
    pool = tmp_path / "scope_only.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA), pool)
    _, cands, _, rejects = _run(pool, tiny_checkpoint, tmp_path / "res")
    by_id = {c["candidate_id"]: c for c in cands}
    assert [by_id[f"s-{i}"]["scope"] for i in range(2)] == good
    assert (
        by_id["s-0"]["formula"] == "NaCl"
        and by_id["s-1"]["n_sites"] == 10
        and by_id["s-1"]["spacegroup"] == 167
    )
    assert by_id["s-2"]["status"] == "rejected"
    assert rejects == [{"candidate_id": "s-2", "stage": "scope", "reason": "not_canonical"}]


def test_sample_size():
    assert [sample_size(n) for n in (0, 50, 200, 40_000, 1_000_000)] == [0, 50, 200, 200, 5000]
