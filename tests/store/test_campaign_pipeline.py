from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("cloud_core.scope")

from screening.campaign import ScreenParameters  # noqa: E402
from screening.campaign.plan import CampaignParametersChanged  # noqa: E402
from screening.campaign.predict import predict_chunk  # noqa: E402
from screening.campaign.runner import run_campaign  # noqa: E402
from screening.store import ResultsStore  # noqa: E402


def _params(pool, ckpt, res, **kw) -> ScreenParameters:
    kw.setdefault("objective", "custom")  # the pipeline's mechanics: rank by theta_K, no stability filter
    kw.setdefault("max_e_above_hull", None)
    return ScreenParameters(
        source={"kind": "pool", "path": str(pool)}, checkpoint=str(ckpt), results_dir=str(res), **kw
    )


def _exactly_once(store: ResultsStore, cid: str, n: int) -> None:
    q = store.query(
        "SELECT count(*) AS n, count(DISTINCT candidate_id) AS d FROM candidates WHERE campaign_id = $c",
        {"c": cid},
    ).to_pylist()[0]
    assert q == {"n": n, "d": n}
    split = store.query(
        "SELECT (SELECT count(*) FROM predictions WHERE campaign_id = $c) AS p, "
        "(SELECT count(*) FROM rejects WHERE campaign_id = $c) AS r",
        {"c": cid},
    ).to_pylist()[0]
    assert split["p"] + split["r"] == n


def test_campaign_end_to_end_in_one_process(small_pool, tiny_checkpoint, tmp_path):
    params = _params(small_pool, tiny_checkpoint, tmp_path / "res", chunk_size=25, top_k=5)
    out = run_campaign(params)
    store = ResultsStore(tmp_path / "res")
    assert out.n_candidates == 62 and out.n_chunks == 3 and not out.resumed
    _exactly_once(store, out.campaign_id, 62)
    rejects = store.query("SELECT candidate_id, stage, reason FROM rejects").to_pylist()
    assert {"candidate_id": "t-corrupt", "stage": "read", "reason": "bad_structure"} in rejects
    row = store.query("SELECT * FROM campaigns").to_pylist()[0]
    assert row["status"] == "complete" and row["n_chunks_done"] == 3 and row["n_candidates"] == 62
    # provenance on every row of every table
    for view in ("candidates", "predictions", "rejects", "chunks"):
        bad = store.query(f"SELECT count(*) AS n FROM {view} WHERE model_id IS NULL OR versions IS NULL "
                          "OR created_at IS NULL OR symprec IS NULL").column("n")[0].as_py()  # fmt: skip
        assert bad == 0, view
    assert out.top.num_rows == 5
    scope = (
        store.query("SELECT scope FROM candidates WHERE candidate_id = 't-00000'").column("scope")[0].as_py()
    )
    assert scope.startswith("225 cF m-3m |")
    # the same parameters again: nothing to do, same campaign, nothing duplicated
    again = run_campaign(params)
    assert again.campaign_id == out.campaign_id and again.resumed and again.chunks_run == []
    _exactly_once(store, out.campaign_id, 62)


def test_resume_after_a_crash_and_changed_parameters(small_pool, tiny_checkpoint, tmp_path):
    params = _params(small_pool, tiny_checkpoint, tmp_path / "res", chunk_size=10, campaign_id="crashy")
    store = ResultsStore(tmp_path / "res")

    class Boom(RuntimeError):
        pass

    def crash_after_two(result):
        if len(store.committed_chunks("crashy")) == 2:
            raise Boom

    with pytest.raises(Boom):
        run_campaign(params, on_chunk=crash_after_two)
    manifest_before = store.layout.manifest_path("crashy").stat().st_mtime_ns
    first = {
        c: store.layout.chunk_dir("crashy", c).stat().st_mtime_ns for c in store.committed_chunks("crashy")
    }
    out = run_campaign(params)
    assert out.resumed and len(out.chunks_run) == out.n_chunks - 2
    assert store.layout.manifest_path("crashy").stat().st_mtime_ns == manifest_before
    assert {c: store.layout.chunk_dir("crashy", c).stat().st_mtime_ns for c in first} == first
    _exactly_once(store, "crashy", 62)
    # ranking parameters may change on resume; result-changing ones may not
    run_campaign(params.model_copy(update={"top_k": 3, "rank_by": "e_form"}))
    with pytest.raises(CampaignParametersChanged, match="symprec"):
        run_campaign(params.model_copy(update={"symprec": 0.1}))


class _StandIn:
    """A deterministic stand-in predictor (tests only): fails on one string, NaN on another."""

    model_id = "stand-in"
    targets = ["x"]

    def predict(self, scopes, batch_size=512):
        if any("Cs" in s for s in scopes):
            raise ValueError("cannot read Cs")
        return pa.table({"x": [float("nan") if "Rb" in s else float(len(s)) for s in scopes]})


def test_predict_isolates_bad_inputs():
    enc = pa.table({"candidate_id": ["a", "b", "c", "d"], "scope": ["Na", "Cs", "Rb", "K"]})
    preds, rejects = predict_chunk(enc, _StandIn(), batch_size=2)
    assert preds.column("candidate_id").to_pylist() == ["a", "d"]
    assert preds.column("x").to_pylist() == [2.0, 1.0]
    got = {r["candidate_id"]: r["reason"] for r in rejects.to_pylist()}
    assert got == {"b": "model_error", "c": "non_finite"}


def test_source_errors_are_clear(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="no such candidate pool"):  # refused when the parameters are made
        run_campaign(_params(tmp_path / "nope.parquet", tiny_checkpoint, tmp_path / "res"))
    dup = tmp_path / "dup.parquet"
    from screening.sources.candidate import CANDIDATE_SCHEMA

    rows = [{"candidate_id": "a", "source": "s", "formula": "NaCl"}] * 2
    pq.write_table(pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA), dup)
    with pytest.raises(ValueError, match="duplicate candidate ids"):
        run_campaign(_params(dup, tiny_checkpoint, tmp_path / "res"))
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        run_campaign(_params(dup, tmp_path / "no-ckpt", tmp_path / "res"))


def test_cli_top_and_query_read_the_store(small_pool, tiny_checkpoint, tmp_path, capsys):
    import json

    from flows.cli import main

    out = run_campaign(
        _params(small_pool, tiny_checkpoint, tmp_path / "res", chunk_size=30, campaign_id="cli")
    )
    res = str(tmp_path / "res")
    off = ["--max-e-above-hull", "none"]  # an untrained model: no stability filter
    assert (
        main(["top", "--results", res, "-k", "3", "--by", "e_form", "--ascending", "--format", "json", *off])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["e_form"] <= rows[1]["e_form"] <= rows[2][
        "e_form"
    ]
    assert (
        main(
            [
                "top",
                "--results",
                res,
                "--where",
                "spacegroup=225",
                "--where",
                "n_sites<3",
                "--format",
                "csv",
                *off,
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) > 1 and all(",225," in line for line in lines[1:])
    assert main(["top", "--results", res, "--where", "bogus>1"]) == 2
    assert "unknown filter column" in capsys.readouterr().err
    sql = "SELECT count(*) AS n FROM candidates WHERE campaign_id = $c AND status = $s"
    assert (
        main(["query", "--results", res, sql, "--param", "c=cli", "--param", "s=ok", "--format", "json"]) == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"n": out.n_candidates - 1}]
    assert main(["query", "--results", res, "DELETE FROM candidates"]) == 2
    assert main(["query", "--results", str(tmp_path / "empty"), "SELECT 1"]) == 1
