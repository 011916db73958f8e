from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pymatgen.core import Composition, Element

from screening.corpora.ions import elemental_table, ion_table
from screening.corpora.pool_file import candidates_to_compact_table, write_candidate_parquet
from screening.sources.candidate import CANDIDATE_SCHEMA, candidates_from_table
from screening.sources.prototype_pool import PACKING_RANGE, PrototypePool, load_prototypes, sample_decoration

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data" / "pools" / "prototype_pool_v1.parquet"


def _flat(pool) -> list:
    return [c for batch in pool for c in batch]


def _charge_balanced(formula_counts: dict[str, float], ox: dict[str, int]) -> bool:
    assert set(formula_counts) == set(ox)
    if len(ox) == 1:
        return list(ox.values()) == [0]
    has_cation = any(q > 0 for q in ox.values())
    has_anion = any(q < 0 for q in ox.values())
    total = sum(formula_counts[el] * q for el, q in ox.items())
    common = all(q in Element(el).common_oxidation_states for el, q in ox.items())
    return has_cation and has_anion and abs(total) < 1e-9 and common


def test_prototypes_load():
    protos = load_prototypes()
    assert len(protos) == 288
    assert len({p.label for p in protos}) > 250  # a few labels repeat with other free parameters
    assert all(sum(p.counts) == len(p.site_group) for p in protos)


def test_pool_reproducible_by_seed_and_prefix_stable():
    a = _flat(PrototypePool(80, seed=7, batch_size=30, dedup="key"))
    b = _flat(PrototypePool(80, seed=7, batch_size=64, dedup="key"))
    c = _flat(PrototypePool(80, seed=8, batch_size=30, dedup="key"))
    longer = _flat(PrototypePool(100, seed=7, dedup="key"))
    assert [x.id for x in a] == [f"proto-7-{i:08d}" for i in range(80)]
    assert [x.id for x in a] == [x.id for x in b]
    assert [x.structure for x in a] == [x.structure for x in b]
    assert [x.meta for x in a] == [x.meta for x in b]
    # the id of the candidate at (seed, index) does not depend on how many are asked for
    assert [x.structure for x in a] == [x.structure for x in longer[:80]]
    assert [x.formula for x in a] != [x.formula for x in c]


def test_pool_batches_sizes():
    batches = list(PrototypePool(105, seed=1, batch_size=50, dedup="key"))
    assert [len(b) for b in batches] == [50, 50, 5]


def test_pool_charge_balanced_and_sensible():
    cands = _flat(PrototypePool(400, seed=3, dedup="key"))
    for c in cands:
        ox = c.meta["oxidation_states"]
        comp = c.structure.composition
        assert comp.reduced_formula == c.formula
        assert _charge_balanced(comp.get_el_amt_dict(), ox), (c.formula, ox)
        cations = [Element(el).X for el, q in ox.items() if q > 0]
        anions = [Element(el).X for el, q in ox.items() if q < 0]
        if cations and anions:
            assert max(cations) < min(anions)
        # sensible geometry: no two atoms closer than 1.2 A, density within solid-state bounds
        s = c.structure
        if len(s) > 1:
            dm = s.distance_matrix
            assert dm[dm > 0].min() > 1.2, c.formula
        radii = {(i.symbol, i.charge): i.radius for i in ion_table() + elemental_table()}
        packing = sum(4 / 3 * math.pi * radii[(sp.symbol, ox[sp.symbol])] ** 3 for sp in s.species) / s.volume
        assert PACKING_RANGE[0] - 1e-3 <= packing <= PACKING_RANGE[1] + 1e-3, c.formula
        assert 2.0 < s.volume / len(s) < 300.0, (c.formula, s.volume / len(s))
    # pymatgen's own oxidation-state guesser agrees for a sample of the ionic ones
    ionic = [c for c in cands if len(c.meta["oxidation_states"]) > 1][:25]
    for c in ionic:
        guesses = Composition(c.formula).oxi_state_guesses(all_oxi_states=False)
        assert guesses, c.formula


def test_pool_keys_unique_and_max_sites():
    cands = _flat(PrototypePool(500, seed=0, max_sites=12, dedup="key"))
    keys = [c.meta["decoration"] for c in cands]
    assert len(set(keys)) == len(keys)
    assert max(len(c.structure) for c in cands) <= 12


def test_pool_exhaustion_is_reported():
    pool = PrototypePool(10**6, seed=0, max_sites=1, dedup="key", max_fails=50)
    n = sum(len(b) for b in pool)
    assert pool.stats.exhausted and n == pool.stats.accepted < 10**6


def test_bad_arguments():
    with pytest.raises(ValueError):
        PrototypePool(-1)
    with pytest.raises(ValueError):
        PrototypePool(10, dedup="nope")  # type: ignore[arg-type]


def test_decoration_failure_reasons_are_strings():
    import numpy as np

    rng = np.random.default_rng(0)
    reasons = Counter()
    for p in load_prototypes()[:60]:
        r = sample_decoration(p, rng)
        reasons[r if isinstance(r, str) else "ok"] += 1
    assert reasons["ok"] > 0 and set(reasons) <= {
        "ok",
        "no_ionic_pattern",
        "repeated_element",
        "charge_unbalanceable",
        "electronegativity_order",
        "bad_scale",
        "bad_packing",
    }


def test_scope_dedup_every_structure_encodable():
    scope = pytest.importorskip("cloud_core.scope")
    cands = _flat(PrototypePool(300, seed=5, dedup="scope", max_sites=24))
    strings = [c.scope for c in cands]
    assert len(set(strings)) == len(strings)
    for c in cands[:100]:
        assert scope.encode(c.structure).to_string() == c.scope


def test_compact_file_roundtrip(tmp_path):
    cands = _flat(PrototypePool(60, seed=2, dedup="key"))
    out = tmp_path / "pool.parquet"
    assert write_candidate_parquet([cands[:30], cands[30:]], out) == 60
    table = pq.read_table(out)
    assert table.schema.equals(CANDIDATE_SCHEMA)
    back = candidates_from_table(table)
    assert [c.id for c in back] == [c.id for c in cands]
    for x, y in zip(back, cands, strict=True):
        assert x.structure.matches(y.structure) and x.meta == y.meta
        assert abs(x.structure.volume - y.structure.volume) < 1e-3
    assert not list(tmp_path.glob("*.tmp"))


def test_bundled_pool():
    assert BUNDLED.is_file(), "run `cloud build-pool` to rebuild data/pools/prototype_pool_v1.parquet"
    assert BUNDLED.stat().st_size < 10 * 2**20
    table = pq.read_table(BUNDLED)
    assert table.schema.equals(CANDIDATE_SCHEMA)
    assert table.num_rows >= 12_000
    ids = table.column("candidate_id").to_pylist()
    assert len(set(ids)) == len(ids)
    metas = [json.loads(m) for m in table.column("meta_json").to_pylist()]
    formulas = table.column("formula").to_pylist()
    for f, m in zip(formulas, metas, strict=True):
        assert _charge_balanced(Composition(f).get_el_amt_dict(), m["oxidation_states"]), f
    dedup = metas[0]["dedup"]
    if dedup == "scope":
        from cloud_core.scope import scope_version

        strings = table.column("scope").to_pylist()
        assert None not in strings and len(set(strings)) == len(strings)
        assert set(table.column("scope_symprec").to_pylist()) == {0.01}
        assert set(table.column("scope_version").to_pylist()) == {scope_version()}, (
            "the SCOPE encoder changed since the bundled pool was built: rebuild it with `cloud build-pool`"
        )
    else:
        keys = [m["decoration"] for m in metas]
        assert len(set(keys)) == len(keys)
    # deterministic: the generator rebuilds the file's first rows exactly (seed 0, the CLI defaults)
    from flows.cli.corpora import DEFAULT_POOL_MAX_SITES, DEFAULT_POOL_SEED

    head = _flat(PrototypePool(200, DEFAULT_POOL_SEED, max_sites=DEFAULT_POOL_MAX_SITES, dedup=dedup))
    again = candidates_to_compact_table(head)
    assert again.to_pylist() == table.slice(0, 200).to_pylist()
