from __future__ import annotations

import pytest
from pymatgen.core import Element

from cloud_core.scope import encode
from screening.sources.pyxtal_pool import PyxtalPool, PyxtalRejectReason, spacegroup_weights


def _run(size: int, seed: int):
    pool = PyxtalPool(size, seed, batch_size=2, max_sites=10)
    cands, rejects = [], []
    for c, r in pool.batches_with_rejects():
        cands += c
        rejects += r
    return pool, cands, rejects


def test_pyxtal_pool_reproducible_balanced_unique_encodable():
    pool, cands, rejects = _run(4, seed=4)
    assert [c.id for c in cands] == [f"pyxtal-4-{i:08d}" for i in range(4)]
    assert pool.stats.accepted == 4 and pool.stats.attempts == 4 + len(rejects)
    assert all(r.stage == "generate" and r.reason in set(PyxtalRejectReason) and r.message for r in rejects)
    scopes = [c.scope for c in cands]
    assert len(set(scopes)) == len(scopes)
    for c in cands:
        s = c.structure
        assert len(s) <= 10
        ox = c.meta["oxidation_states"]
        amounts = s.composition.get_el_amt_dict()
        assert set(ox) == set(amounts)
        assert sum(amounts[el] * q for el, q in ox.items()) == 0
        assert max(Element(el).X for el, q in ox.items() if q > 0) < min(
            Element(el).X for el, q in ox.items() if q < 0
        )
        assert encode(s).to_string() == c.scope
        dm = s.distance_matrix
        assert dm[dm > 0].min() > 0.7  # pyxtal keeps atoms apart
    _, again, _ = _run(4, seed=4)
    assert [c.scope for c in again] == scopes
    assert [c.structure for c in again] == [c.structure for c in cands]


def test_spacegroup_weights_follow_mp():
    groups, weights = spacegroup_weights()
    assert groups == list(range(1, 231))
    w = dict(zip(groups, weights, strict=True))
    assert sum(weights) == 88_678 + 230  # MP structure counts, plus one for every group so each can be drawn
    assert w[225] > w[62] > w[1] >= 1


def test_bad_arguments():
    with pytest.raises(ValueError):
        PyxtalPool(-1)
    with pytest.raises(ValueError):
        PyxtalPool(5, batch_size=0)
