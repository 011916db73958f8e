"""The SCOPE-only pool: distinct canonical strings, deterministic, readable by the model and by campaigns."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

pytest.importorskip("cloud_core.scope")

from cloud_core.scope import ScopeRecord, scope_version  # noqa: E402
from screening.corpora.pool_file import write_candidate_parquet  # noqa: E402
from screening.sources.candidate import CANDIDATE_SCHEMA  # noqa: E402
from screening.sources.scope_pool import ScopePool  # noqa: E402


def _flat(pool: ScopePool) -> list:
    return [c for batch in pool.batches() for c in batch]


def test_distinct_canonical_deterministic(tmp_path):
    pool = ScopePool(3000, seed=3, batch_size=700)
    cands = _flat(pool)
    assert len(cands) == 3000 and pool.stats.accepted == 3000 and not pool.stats.exhausted
    strings = [c.scope for c in cands]
    assert len(set(strings)) == 3000
    assert set(pool.stats.kinds) == {"skeleton", "prototype"}
    for c in cands:
        rec = ScopeRecord.from_string(c.scope)  # raises unless canonical
        assert rec.to_string() == c.scope and rec.formula == c.formula
        assert c.structure is None and c.scope_symprec is None and c.scope_version == scope_version()
        assert len(c.scope.split()) <= 62
    assert [c.id for c in cands[:3]] == ["scope-3-00000000", "scope-3-00000001", "scope-3-00000002"]
    again = _flat(ScopePool(500, seed=3))
    assert [c.scope for c in again] == strings[:500]
    out = tmp_path / "scope.parquet"
    assert write_candidate_parquet(ScopePool(200, seed=3).batches(), out) == 200
    table = pq.read_table(out)
    assert table.schema.equals(CANDIDATE_SCHEMA) and table.column("scope").to_pylist() == strings[:200]


def test_shipped_model_reads_every_string():
    from cloud_core.model import get_vocabulary

    vocab = get_vocabulary()
    for c in _flat(ScopePool(1000, seed=1)):
        assert len(vocab.encode(c.scope)[0]) <= 64
