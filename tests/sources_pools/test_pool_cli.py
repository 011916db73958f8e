from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from flows.cli import main
from screening.sources.candidate import CANDIDATE_SCHEMA


def test_build_pool_cli(tmp_path, capsys):
    out = tmp_path / "pools" / "p.parquet"
    assert main(["build-pool", "--size", "40", "--seed", "3", "--out", str(out), "--dedup", "key"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 40 and summary["dedup"] == "key"
    table = pq.read_table(out)
    assert table.num_rows == 40 and table.schema.equals(CANDIDATE_SCHEMA)
    prov = (out.parent / "PROVENANCE.md").read_text()
    assert "| `p.parquet` | 40 |" in prov
    with pytest.raises(SystemExit) as exc:  # argparse refuses the value, one line naming --size
        main(["build-pool", "--size", "0", "--out", str(out)])
    assert exc.value.code == 2


def test_build_pretrain_corpus_cli(tmp_path, capsys):
    out = tmp_path / "pre"
    args = ["build-pretrain-corpus", "--size", "400", "--shard-size", "200", "--no-real", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 400 and "real" not in summary["kinds"]
    assert len(list(out.glob("pretrain-*.parquet"))) == 2
    assert "| total | 400 |" in (out / "PROVENANCE.md").read_text()
    assert main(args[:-2] + ["--out", str(out), "--fractions", "[1, 2]"]) == 2
    assert main(["build-pretrain-corpus", "--corpora", str(tmp_path / "empty"), "--out", str(out)]) == 2
