"""Every campaign source end to end through ``cloud screen``: files, a ``cloud fetch-mp`` folder (fetched from
the local Materials Project protocol server), and both generated pools; and a missing path or an empty glob
is one error line before any server or cluster starts."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("cloud_core.scope")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources_mp"))

import campaign_testkit as kit  # noqa: E402
from mp_server import MPTestServer, make_docs  # noqa: E402

from flows.cli import main  # noqa: E402
from screening.store import ResultsStore  # noqa: E402

KEY = "Pq8sT2vX6zB1dF5hK9mN3rW7yC0gJ4lQ"


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def screen_argv(cid: str, ckpt: Path, res: Path, *source: str) -> list[str]:
    return ["screen", "--campaign", cid, *source, "--checkpoint", str(ckpt), "--results", str(res),
            "--chunk-size", "4", "--workers", "1", "--threads", "--no-progress", "--top-k", "3", "--json",
            # mechanics, not ranking: the untrained test model is rarely near the hull, so no stability cut
            "--objective", "custom", "--max-e-above-hull", "none"]  # fmt: skip


def exactly_once(res: Path, cid: str) -> dict:
    """Every candidate of the plan once in ``candidates``, each either predicted or rejected."""
    store = ResultsStore(res)
    planned = store.read_manifest(cid).column("candidate_id").to_pylist()
    got = store.query(
        "SELECT candidate_id, status FROM candidates WHERE campaign_id = $c", {"c": cid}
    ).to_pylist()
    assert sorted(r["candidate_id"] for r in got) == sorted(planned)
    split = store.query(
        "SELECT (SELECT count(*) FROM predictions WHERE campaign_id = $c) AS p, "
        "(SELECT count(*) FROM rejects WHERE campaign_id = $c) AS r",
        {"c": cid},
    ).to_pylist()[0]
    assert split["p"] + split["r"] == len(planned)
    return {"n": len(planned), **split}


def test_files_source_glob(prefect_server, flow_checkpoint, tmp_path, capsys):
    from pymatgen.core import Structure

    cifs = tmp_path / "cifs"
    cifs.mkdir()
    for row in kit.pool_rows(6):
        Structure.from_dict(json.loads(row["structure_json"])).to(
            filename=str(cifs / f"{row['candidate_id']}.cif")
        )
    (cifs / "broken.cif").write_text("data_broken\n_cell_length_a oops\n")
    (cifs / "notes.txt").write_text("not a structure")
    res = tmp_path / "res"
    rc, out, err = run_cli(screen_argv("src-files", flow_checkpoint, res, "--source", "files", "--path",
                                       f"{cifs}/*.cif"), capsys)  # fmt: skip
    assert rc == 0, err[-3000:]
    counts = exactly_once(res, "src-files")
    assert counts["n"] == 7 and counts["p"] >= 6
    rejects = ResultsStore(res).query("SELECT candidate_id, stage FROM rejects").to_pylist()
    assert {"candidate_id": "broken.cif", "stage": "read"} in rejects
    assert len(json.loads(out)["top"]) == 3


def test_mp_source_from_a_fetch_mp_folder(prefect_server, flow_checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", KEY)
    mp = tmp_path / "mp"
    res = tmp_path / "res"
    with MPTestServer(make_docs(12, seed=3), api_key=KEY) as srv:
        fetch = ["fetch-mp", "--out", str(mp), "--endpoint", srv.url, "--page-size", "5", "-q"]
        rc, _, err = run_cli(fetch, capsys)
        assert rc == 0, err
        expected = srv.matching_ids({"deprecated": "False"})
        rc, out, err = run_cli(screen_argv("src-mp", flow_checkpoint, res, "--source", "mp", "--path", str(mp)),
                               capsys)  # fmt: skip
        assert rc == 0, err[-3000:]
        planned = ResultsStore(res).read_manifest("src-mp").column("candidate_id").to_pylist()
        assert sorted(planned) == sorted(expected)
        exactly_once(res, "src-mp")
        row = ResultsStore(res).read_campaign("src-mp")
        assert srv.db_version in row["source"] and srv.db_version in row["params_json"]

        # a new database release, fetched into the same folder: the campaign's parameters changed
        srv.set_database(make_docs(12, seed=4), db_version="2099.01.01")
        rc, _, err = run_cli(fetch, capsys)
        assert rc == 0, err
        rc, _, err = run_cli(screen_argv("src-mp", flow_checkpoint, res, "--source", "mp", "--path", str(mp)),
                             capsys)  # fmt: skip
        assert rc != 0 and "changed: source" in err


def test_mp_folder_content_enters_the_parameter_hash(tmp_path):
    """Same database release, different shard content: a different campaign hash (and default id)."""
    from screening.campaign import ScreenParameters, params_hash
    from screening.sources.materials_project import fetch_summary

    mp = tmp_path / "mp"
    with MPTestServer(make_docs(8, seed=1), api_key=KEY) as srv:
        fetch_summary(mp, api_key=KEY, endpoint=srv.url, page_size=4)
    copy = tmp_path / "copy"
    shutil.copytree(mp, copy)

    def params(path: Path) -> ScreenParameters:
        return ScreenParameters(source={"kind": "mp", "path": str(path)})

    content = params(mp).hashed_fields("model")["source_content"]
    assert content == params(copy).hashed_fields("model")["source_content"]  # content, not location
    stored = sum(pq.read_metadata(p).num_rows for p in (mp / "shards").glob("*.parquet"))
    assert content["db_version"] == srv.db_version and content["rows"] == stored > 0
    before = params_hash(params(copy), "model")
    shard = sorted((copy / "shards").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, table.num_rows - 1), shard)
    assert params_hash(params(copy), "model") != before


@pytest.mark.parametrize("kind", ["prototypes", "pyxtal"])
def test_generated_pools(kind, prefect_server, flow_checkpoint, tmp_path, capsys):
    res = tmp_path / "res"
    argv = screen_argv(f"src-{kind}", flow_checkpoint, res, "--source", kind, "--size", "6", "--seed", "1")
    rc, out, err = run_cli(argv, capsys)
    assert rc == 0, err[-3000:]
    counts = exactly_once(res, f"src-{kind}")
    assert counts["n"] == 6 and counts["p"] >= 1


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (["--source", "files", "--path", "NOWHERE/*.cif"], "NOWHERE"),
        (["--source", "files", "--path", "EMPTY/*.cif"], "EMPTY"),
        (["--source", "files", "--path", "NOWHERE"], "NOWHERE"),
        (["--source", "files"], "--path"),
        (["--source", "mp", "--path", "NOWHERE"], "NOWHERE"),
        (["--source", "mp", "--path", "EMPTY"], "EMPTY"),
        (["--source", "mp"], "--path"),
        (["--source", "pool", "--path", "NOWHERE/pool.parquet"], "NOWHERE"),
    ],
    ids=[
        "files-missing-glob",
        "files-empty-glob",
        "files-missing-dir",
        "files-no-path",
        "mp-missing",
        "mp-not-a-download",
        "mp-no-path",
        "pool-missing",
    ],  # fmt: skip
)
def test_missing_paths_are_one_line_before_anything_starts(source, needle, capsys, tmp_path, flow_checkpoint):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no structures here")
    subs = {"NOWHERE": str(tmp_path / "nowhere"), "EMPTY": str(tmp_path / "empty")}
    source = [next((v + a[len(k) :] for k, v in subs.items() if a.startswith(k)), a) for a in source]
    needle = subs.get(needle, needle)
    rc, out, err = run_cli(screen_argv("never", flow_checkpoint, tmp_path / "res", *source), capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0 and "Traceback" not in out + err
    assert len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "res" / "campaigns").exists()
