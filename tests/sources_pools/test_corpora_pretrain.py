from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cloud_core.scope import ScopeRecord
from screening.corpora.pretrain import (
    KINDS,
    PretrainConfig,
    build_pretrain_corpus,
    decorate_ionic,
    ion_tables,
    iter_scopes,
    load_skeletons,
    scope_fingerprint,
    skeleton_scope,
)
from screening.corpora.structures import build_structure_corpora

ROOT = Path(__file__).resolve().parents[2]
PRETRAIN = ROOT / "data" / "corpora" / "pretrain"
HELDOUT = ROOT / "data" / "corpora" / "pretrain_heldout" / "heldout_real.parquet"


@pytest.fixture(scope="module")
def small_corpora(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpora")
    build_structure_corpora(out, sources=["pymatgen_structures", "ase_dcdft"], limit=15)
    return out


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("pretrain-*.parquet"))


def test_skeleton_table_is_the_mp_table():
    sk = load_skeletons()
    assert len(sk) == 12_593
    assert sum(s.count for s in sk) == 88_678
    # rocksalt-like 225 4a + 4b is there (pyxtal indices 10, 11 -> letters b, a)
    assert any(s.spacegroup == 225 and sorted(s.letters) == ["a", "b"] for s in sk)


def test_ionic_decorations_are_charge_balanced():
    tables = ion_tables(0.6)
    rng = random.Random(3)
    ok = 0
    for _ in range(3000):
        counts = [rng.choice([1, 2, 3, 4, 6, 8]) for _ in range(rng.randint(2, 4))]
        ions = decorate_ionic(counts, rng, tables)
        if ions is None:
            continue
        ok += 1
        assert sum(n * s.charge for n, s in zip(counts, ions, strict=True)) == 0
        assert len({s.symbol for s in ions}) == len(ions)
        assert max(s.x for s in ions if s.charge > 0) < min(s.x for s in ions if s.charge < 0)
    assert ok > 300


def test_skeleton_scope_is_canonical():
    sk = next(s for s in load_skeletons() if s.spacegroup == 225 and sorted(s.letters) == ["a", "b"])
    a = skeleton_scope(sk, ["Cl" if x == "a" else "Na" for x in sk.letters])
    b = skeleton_scope(sk, ["Na" if x == "a" else "Cl" for x in sk.letters])
    assert a == b == "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1"


def test_corpus_grammar_kinds_reproducible_and_resumable(tmp_path, small_corpora):
    cfg = PretrainConfig(size=3000, shard_size=1000, seed=11)
    out = tmp_path / "pre"
    heldout = tmp_path / "heldout.parquet"
    manifest = build_pretrain_corpus(out, cfg, corpora_dir=small_corpora, heldout_path=heldout)
    shards = _shards(out)
    assert [p.name for p in shards] == [f"pretrain-{i:05d}.parquet" for i in range(3)]
    rows = [r for p in shards for r in pq.read_table(p).to_pylist()]
    assert len(rows) == 3000 == manifest["totals"]["rows"]
    kinds = Counter(r["kind"] for r in rows)
    assert set(kinds) <= set(KINDS) and kinds == Counter(manifest["totals"]["kinds"])
    assert 0.16 < kinds["unknown"] / 3000 < 0.24
    assert kinds["skeleton"] > kinds["prototype"] > 0 and kinds["real"] > 0
    for r in rows:
        rec = ScopeRecord.from_string(r["scope"])  # raises on any grammar or canonical-order violation
        assert rec.to_string() == r["scope"]
        assert (rec.spacegroup is None) == (r["kind"] == "unknown")
    held = set(pq.read_table(heldout).column("scope").to_pylist())
    assert held and not held & {r["scope"] for r in rows}
    # same seed -> same files; a lost shard is rebuilt identically; other shards are kept
    before = [p.read_bytes() for p in shards]
    shards[1].unlink()
    mtime0 = shards[0].stat().st_mtime_ns
    build_pretrain_corpus(out, cfg, corpora_dir=small_corpora, heldout_path=heldout)
    assert [p.read_bytes() for p in _shards(out)] == before
    assert shards[0].stat().st_mtime_ns == mtime0
    other_cfg = PretrainConfig(size=1200, shard_size=600, seed=12)
    other = build_pretrain_corpus(tmp_path / "other", other_cfg, workers=2)
    serial = build_pretrain_corpus(tmp_path / "serial", other_cfg, workers=1)
    assert other["totals"] == serial["totals"] and other["totals"]["rows"] == 1200
    # shards built in parallel are the same files as shards built one after the other
    assert [p.read_bytes() for p in _shards(tmp_path / "other")] == [
        p.read_bytes() for p in _shards(tmp_path / "serial")
    ]
    assert pq.read_table(_shards(tmp_path / "other")[0]).column("scope").to_pylist() != [
        r["scope"] for r in rows[:600]
    ]


def test_bad_config():
    with pytest.raises(ValueError):
        PretrainConfig(fractions={"nope": 1.0})
    with pytest.raises(ValueError):
        PretrainConfig(size=0)


def test_committed_corpus_matches_manifest_and_provenance():
    manifest = json.loads((PRETRAIN / "manifest.json").read_text())
    assert manifest["settings"]["scope_fingerprint"] == scope_fingerprint(), (
        "cloud_core.scope canonicalises differently from when the bundled corpus was built: "
        "rebuild it with `cloud build-pretrain-corpus --workers 2`"
    )
    shards = _shards(PRETRAIN)
    assert len(shards) == len(manifest["shards"])
    total = 0
    for p in shards:
        n = pq.ParquetFile(p).metadata.num_rows
        entry = next(e for e in manifest["shards"].values() if e["file"] == p.name)
        assert n == entry["rows"]
        total += n
    assert total == manifest["totals"]["rows"] >= 100_000
    text = (PRETRAIN / "PROVENANCE.md").read_text()
    m = re.search(r"^\| total \| ([\d,]+) \|", text, re.M)
    assert m and int(m.group(1).replace(",", "")) == total
    # a sample of the committed strings follows the grammar exactly and fits the model's vocabulary
    from cloud_core.model.vocab import get_vocabulary

    vocab = get_vocabulary()
    sample = [s for i, s in enumerate(iter_scopes(shards[:1])) if i % 97 == 0]
    for s in sample:
        assert ScopeRecord.from_string(s).to_string() == s
        vocab.encode(s)
    held = pq.read_table(HELDOUT).column("scope").to_pylist()
    assert len(held) == manifest["settings"]["real_heldout"] > 0
