"""``cloud query`` is read-only for real: each attack of issue 11 is refused with one error line and changes nothing.

The store is a real one (plan + one committed chunk); the attacks go through the command itself
(``flows.cli.main``), so what is tested is what a user runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_store_commit import _tables

from flows.cli import main as cloud
from screening.ranking import top_k
from screening.store import ResultsStore
from screening.store.schemas import CAMPAIGNS

CID = "camp"


@pytest.fixture
def store(tmp_path) -> ResultsStore:
    """A store with campaign ``camp``: candidates a, b, c with theta_K 0, 1, 2 (one committed chunk)."""
    store = ResultsStore(tmp_path / "res")
    store.ensure()
    row = {
        "campaign_id": CID,
        "params_hash": "h",
        "n_candidates": 3,
        "n_chunks": 1,
        "temperatures_K": [300.0],
    }
    manifest = pa.table(
        {
            "candidate_id": ["a", "b", "c"],
            "chunk_id": ["c1"] * 3,
            "chunk_index": pa.array([0] * 3, pa.int32()),
        }
    )
    store.commit_plan(CID, {}, manifest, pa.Table.from_pylist([row], schema=CAMPAIGNS))
    store.commit_chunk(CID, "c1", _tables(CID, "c1", ["a", "b", "c"]))
    return store


def _query(store: ResultsStore, sql: str, *extra: str) -> list[str]:
    return ["query", sql, "--results", str(store.root), *extra]


def _refused(capsys, store: ResultsStore, sql: str, *extra: str) -> str:
    """Run ``cloud query`` expecting a refusal: non-zero exit, nothing on stdout, one error line on stderr."""
    code = cloud(_query(store, sql, *extra))
    out, err = capsys.readouterr()
    assert code != 0, f"accepted: {sql!r}\n{out}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert out == ""
    return lines[0]


def test_copy_into_the_stores_own_parts_is_refused_and_changes_nothing(capsys, store, tmp_path):
    target = store.layout.chunk_dir(CID, "c1") / "predictions.parquet"
    before = target.read_bytes()
    attack = (
        f"COPY (SELECT campaign_id, chunk_id, candidate_id, model_id, symprec, versions, created_at, "
        f"1e9 AS theta_K FROM predictions) TO '{target}' (FORMAT parquet)"
    )
    line = _refused(capsys, store, attack)
    assert "SELECT" in line
    assert target.read_bytes() == before
    leaders = top_k(store, CID, by="theta_K", k=3)
    assert leaders.column("candidate_id").to_pylist() == ["c", "b", "a"]
    assert max(leaders.column("theta_K").to_pylist()) == 2.0


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1 AS x) TO '{out}'",
        "EXPORT DATABASE '{outdir}'",
        "ATTACH '{outdir}/new.duckdb' AS other",
        "SELECT 1 AS x; COPY (SELECT 1 AS x) TO '{out}'",
        "CREATE TABLE t AS SELECT 1 AS x",
        "INSTALL httpfs",
        "LOAD parquet",
        "CALL pragma_version()",
        "PRAGMA version",
        "SET enable_external_access = true",
        "SET memory_limit = '100GB'",
        "SET VARIABLE v = 1",
        "RESET memory_limit",
        "CHECKPOINT",
        "EXPLAIN SELECT 1",
        "SELECT 1; SELECT 2",
    ],
)
def test_only_one_select_statement_runs(capsys, store, tmp_path, sql):
    out, outdir = tmp_path / "written.csv", tmp_path / "exported"
    _refused(capsys, store, sql.format(out=out, outdir=outdir))
    assert not out.exists() and not outdir.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM glob('/root/**')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_parquet('{outside}')",
        "SELECT * FROM read_parquet('{parts}/../../outside.parquet')",
        "SELECT * FROM read_text('{root}/cloud.duckdb')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM read_text('http://127.0.0.1:9/')",
    ],
)
def test_no_file_outside_the_store_can_be_read(capsys, store, tmp_path, sql):
    outside = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"secret": ["hunter2"]}), outside)
    line = _refused(capsys, store, sql.format(outside=outside, parts=store.layout.parts_dir, root=store.root))
    assert "hunter2" not in line


def test_a_select_that_would_write_or_reconfigure_is_refused(capsys, store, tmp_path):
    out = tmp_path / "via-query.csv"
    _refused(capsys, store, f"SELECT * FROM query('COPY (SELECT 1 AS x) TO ''{out}''')")
    logs = tmp_path / "logs"
    _refused(capsys, store, f"SELECT * FROM enable_logging(storage = 'file', storage_path = '{logs}')")
    _refused(capsys, store, "SELECT * FROM enable_profiling()")
    assert not out.exists() and not logs.exists()


def test_the_stores_own_files_can_be_read(capsys, store):
    parts = store.layout.parts_dir
    sql = f"SELECT count(*) AS n FROM read_parquet('{parts}/{CID}/chunk-*/predictions.parquet')"
    assert cloud(_query(store, sql, "--format", "csv")) == 0
    assert capsys.readouterr().out.split() == ["n", "3"]


def test_the_sandbox_connection_is_locked(store):
    from screening.store.readonly_query import sandboxed_connection

    with sandboxed_connection(store.layout) as con:
        for stmt in ("SET enable_external_access = true", "SET lock_configuration = false",
                     "SET memory_limit = '100GB'", "SET allowed_directories = ['/']"):  # fmt: skip
            with pytest.raises(duckdb.Error, match="locked"):
                con.execute(stmt)
        with pytest.raises(duckdb.Error):
            con.sql("SELECT * FROM read_text('/etc/passwd')").fetchall()
        assert con.sql("SELECT count(*) FROM predictions").fetchall() == [(3,)]


@pytest.mark.parametrize("sql", ["", "   ", ";", "-- only a comment"])
def test_empty_sql_is_one_error_line(capsys, store, sql):
    assert "SQL" in _refused(capsys, store, sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT nosuchcol FROM predictions",
        "SELEC 1",
        "SELECT * FROM nosuchview",
        "SELECT 1/0::INT AS x, 'a'::INT AS y",
        "SELECT $missing AS x",
    ],
)
def test_sql_errors_are_one_line(capsys, store, sql):
    _refused(capsys, store, sql)


def test_bound_parameters_still_work(capsys, store):
    sql = "SELECT candidate_id FROM predictions WHERE campaign_id = $c AND theta_K >= $t ORDER BY 1"
    assert cloud(_query(store, sql, "--param", f"c={CID}", "--param", "t=1", "--format", "csv")) == 0
    assert capsys.readouterr().out.split() == ["candidate_id", "b", "c"]
    _refused(capsys, store, sql, "--param", "c")


def test_table_output_is_limited_unless_asked(capsys, store):
    assert cloud(_query(store, "SELECT range AS i FROM range(120)")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split() == ["i"] and out[2].split() == ["0"]
    assert [ln.split()[0] for ln in out[2:-1]] == [str(i) for i in range(50)]
    assert "--max-rows" in out[-1]
    assert cloud(_query(store, "SELECT range AS i FROM range(120)", "--max-rows", "7")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 + 7 + 1
    assert cloud(_query(store, "SELECT range AS i FROM range(120)", "--max-rows", "500")) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2 + 120
    _refused(capsys, store, "SELECT 1", "--max-rows", "0")


def test_json_and_csv_output(capsys, store):
    import json

    sql = "SELECT candidate_id, theta_K FROM predictions ORDER BY candidate_id"
    assert cloud(_query(store, sql, "--format", "json")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"candidate_id": c, "theta_K": float(i)} for i, c in enumerate("abc")]
    assert cloud(_query(store, sql, "--format", "csv")) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header == "candidate_id,theta_K"
    assert [(c, float(t)) for c, t in (ln.split(",") for ln in lines)] == [("a", 0.0), ("b", 1.0), ("c", 2.0)]


# Runs a command with stdout on /dev/null and prints the peak RSS (KiB) of that command alone. Measuring from a small
# process of its own matters: Linux carries the RSS high-water mark of the process that forks over exec into the
# child's ru_maxrss, so os.wait4 from the test process reports max(test process, command): 512 MB from a test
# process of 512 MB, 1,412 MB from one of 1,412 MB, for a command that itself peaks at 184 MB.
_PEAK_RSS = """
import os, resource, subprocess, sys
with open(os.devnull, "wb") as sink:
    code = subprocess.call(sys.argv[1:], stdout=sink)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def _peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS in MB of ``cmd`` (stdout to /dev/null), measured apart from the test process (see above)."""
    pythonpath = os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=pythonpath)
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS, *cmd], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout) / 1024  # KiB on Linux


def test_results_are_streamed_in_bounded_memory(store):
    """Five million rows of 100-character text to CSV (~0.5 GB): the command's peak RSS stays under 512 MB.

    Streamed, the command peaks near 220 MB (most of it the interpreter, pyarrow and DuckDB; 320 MB with 64
    DuckDB threads); holding the result (Arrow's ``read_all``) takes about 720 MB. Issue 11's 1 GB target for
    ``range(1e8)`` is checked by ``bench/store_query_bench.py``.
    """
    n = 5_000_000
    sql = f"SELECT range AS i, repeat('x', 100) AS s FROM range({n})"
    peak_mb = _peak_rss_mb([sys.executable, "-m", "flows.cli", *_query(store, sql, "--format", "csv")])
    assert peak_mb < 512, f"peak RSS {peak_mb:.0f} MB for {n} rows"
