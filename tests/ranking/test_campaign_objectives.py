"""Objectives on a real (small) campaign: hull columns in `cloud top` / `cloud query`, re-ranking without
recomputing, plan-time refusals, `cloud export` files that re-encode to their rows' SCOPE strings."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("cloud_core.scope")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

import campaign_testkit as kit  # noqa: E402

from screening.campaign import ScreenParameters  # noqa: E402
from screening.campaign.runner import run_campaign  # noqa: E402
from screening.objectives import ObjectiveError  # noqa: E402

HULL_COLUMNS = ("e_above_hull", "e_above_hull_std", "known_composition", "implausible")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("objectives")
    kit.write_tiny_checkpoint(tmp / "ckpt")
    pool = kit.write_pool(tmp / "pool.parquet", 40)
    params = ScreenParameters(source={"kind": "pool", "path": str(pool)}, checkpoint=str(tmp / "ckpt"),
                              results_dir=str(tmp / "res"), chunk_size=20, campaign_id="obj",
                              objective="custom", max_e_above_hull=None, top_k=5)  # fmt: skip
    out = run_campaign(params)
    return params, out, str(tmp / "res")


def test_hull_columns_in_top_and_query(campaign, capsys):
    from flows.cli import main

    params, out, res = campaign
    assert all(c in out.top.column_names for c in HULL_COLUMNS)
    assert (
        main(
            [
                "top",
                "--results",
                res,
                "--campaign",
                "obj",
                "-k",
                "3",
                "--format",
                "json",
                "--max-e-above-hull",
                "none",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all(c in rows[0] for c in HULL_COLUMNS)
    sql = (
        "SELECT e_above_hull, e_above_hull_std, known_composition, implausible, hull_version FROM predictions"
    )
    assert main(["query", "--results", res, sql, "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    n_ok = out.n_candidates - 1  # the corrupt record is the one reject
    assert len(got) == n_ok
    assert all(r["e_above_hull"] is not None and r["e_above_hull_std"] is None for r in got)  # no std: NULL
    assert len({r["hull_version"] for r in got}) == 1


def test_rerank_by_objective_and_refusals(campaign, capsys):
    from flows.cli import main

    params, out, res = campaign
    base = ["top", "--results", res, "--campaign", "obj"]
    assert (
        main([*base, "--objective", "heat_spreader", "--max-e-above-hull", "none", "--format", "json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows and [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(not r["implausible"] for r in rows)
    assert len({r["formula"] for r in rows}) == len(rows)  # one per formula
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and scores[0] == rows[0]["theta_K"]
    # no uncertainty in this model: conservative refuses in one line
    assert main([*base, "--objective", "heat_spreader", "--uncertainty", "conservative"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("e_above_hull_std" in err[0] or "theta_K_std" in err[0])
    # no conductivity output: the thermoelectric question names the missing column
    assert main([*base, "--objective", "thermoelectric"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "log10_kappa_300K" in err[0]
    # bad values: one error line each
    for bad in (["--per-formula", "0"], ["--exclude-elements", "Qq"], ["--k-sigma", "-1"]):
        assert main([*base, "--objective", "heat_spreader", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), (bad, err)


def test_plan_time_refusal_names_the_column(campaign, tmp_path):
    params, out, res = campaign
    bad = params.model_copy(update={"objective": "thermal_barrier", "campaign_id": "never",
                                    "results_dir": str(tmp_path / "r2")})  # fmt: skip
    with pytest.raises(ObjectiveError, match="log10_kappa_300K"):
        run_campaign(bad)
    assert not (tmp_path / "r2").exists()  # refused before anything was planned


@pytest.mark.parametrize("fmt", ["cif", "poscar"])
def test_export_files_reencode_to_their_rows(campaign, tmp_path, capsys, fmt):
    from pymatgen.core import Structure

    from cloud_core.scope import encode_many
    from flows.cli import main

    params, out, res = campaign
    dest = tmp_path / fmt
    assert main(["export", "--results", res, "--campaign", "obj", "-k", "6", "--objective", "custom",
                 "--by", "band_gap", "--max-e-above-hull", "none", "--format", fmt, "--out", str(dest)]) == 0  # fmt: skip
    with open(dest / "index.csv") as fh:
        index = list(csv.DictReader(fh))
    assert len(index) == 6 and [int(r["rank"]) for r in index] == list(range(1, 7))
    files = [r for r in index if r["file"]]
    assert files and all((dest / r["file"]).is_file() for r in files)
    assert all(r["file"].startswith(r["candidate_id"]) for r in files)
    structures = [Structure.from_file(dest / r["file"]) for r in files]
    ok, rejects = encode_many(structures, ids=[r["candidate_id"] for r in files], symprec=params.symprec)
    assert not rejects
    assert {cid: rec.to_string() for cid, rec in ok} == {r["candidate_id"]: r["scope"] for r in files}
    assert main(["export", "--results", res, "--campaign", "obj", "--out", str(dest), "-k", "0"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_far_below_hull_rule_on_a_campaign_and_in_the_report(campaign, tmp_path, capsys):
    from flows.cli import main

    params, out, res = campaign
    base = ["top", "--results", res, "--campaign", "obj", "--objective", "custom", "--max-e-above-hull", "none",
            "--format", "json", "-k", "100"]  # fmt: skip
    assert main([*base, "--include-implausible"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert everything and all("far_below_hull" in r for r in everything)
    assert main([*base, "--max-below-hull-unknown", "0"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert all(r["known_composition"] or r["e_above_hull"] >= 0 for r in kept)
    assert not any(r["far_below_hull"] or r["implausible"] for r in kept)
    flagged = [r for r in everything if r["far_below_hull"]]
    assert {r["candidate_id"] for r in kept} <= {r["candidate_id"] for r in everything} - {
        r["candidate_id"] for r in flagged
    }
    assert main([*base, "--max-below-hull-unknown", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max_below_hull_unknown" in err[0]
    # the report says what was flagged and why, at the threshold asked for
    page = tmp_path / "r.html"
    assert main(["report", "--results", res, "--campaign", "obj", "--max-below-hull-unknown", "0", "--out",
                 str(page)]) == 0  # fmt: skip
    text = page.read_text()
    assert 'id="implausible"' in text and "far_below_hull</code>: " in text and "model error" in text
    assert "No held-out stability evaluation" in text  # the tiny test checkpoint has no record
    # a record for this model id in its checkpoint's metrics.json is shown (one for another model is not)
    from screening.evaluation.stability import stability_record
    from screening.store import ResultsStore

    rec = stability_record(["LiO3"], [-0.5], [-1.2], {"Li2O": -2.0}, {"Li2O": -2.0, "LiO3": -0.5}, 0.1)
    metrics = Path(params.checkpoint) / "metrics.json"
    model_id = ResultsStore(res).read_campaign("obj")["model_id"]
    for mid, shown in (("another model", False), (model_id, True)):
        metrics.write_text(json.dumps({"stability": {"checkpoint_model_id": mid, "fold": 0, **rec}}))
        assert main(["report", "--results", res, "--campaign", "obj", "--out", str(page)]) == 0
        assert ('id="model-stability"' in page.read_text()) is shown
    metrics.unlink()
    assert main(["report", "--results", res, "--campaign", "nope", "--out", str(page)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
