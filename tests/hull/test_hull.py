"""The reference hull: pymatgen's energies above hull, known compositions, implausible flags, the cache."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from screening.hull import HullColumn, ReferenceHull, default_source, lower_hull_facets, parse_formula

SYSTEMS = [
    ("Fe", "Li", "O"), ("Al", "Ni", "O"), ("Ba", "O", "Ti"), ("Cu", "S", "Zn"), ("Mg", "O", "Si"),
    ("Li", "Mn", "O", "P"), ("Ca", "Mg", "O", "Si"), ("Cu", "S", "Sn", "Zn"), ("Al", "Co", "Ni", "O"),
]  # fmt: skip


@pytest.fixture(scope="module")
def hull() -> ReferenceHull:
    return ReferenceHull.from_parquet(default_source())


def test_matches_pymatgen_on_random_ternaries_and_quaternaries(hull):
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    rng = np.random.default_rng(7)
    n_checked = 0
    for els in SYSTEMS:
        pts, es = hull.system_points(els)
        assert len(pts) > 0, els
        entries = [PDEntry(Composition({e: 1}), 0.0) for e in els]
        entries += [
            PDEntry(Composition(dict(zip(els, x, strict=True))), e) for x, e in zip(pts, es, strict=True)
        ]
        pd = PhaseDiagram(entries)
        x = rng.dirichlet(np.ones(len(els)), 25)
        e = rng.uniform(-3.5, 0.5, 25)
        ours = e - hull.hull_energy(els, x)
        ref = [
            pd.get_e_above_hull(
                PDEntry(Composition(dict(zip(els, xi, strict=True))), ei), allow_negative=True
            )
            for xi, ei in zip(x, e, strict=True)
        ]
        np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
        n_checked += len(x)
    assert n_checked >= 200


def test_linear_programme_equals_the_facets(hull):
    """Large systems take the LP path (facet counts explode with the dimension); both agree where both run."""
    rng = np.random.default_rng(3)
    for els in SYSTEMS[-4:]:
        x = rng.dirichlet(np.ones(len(els)), 20)
        np.testing.assert_allclose(hull.hull_energy_lp(els, x), hull.hull_energy(els, x), atol=1e-6, rtol=0)


def test_many_element_systems_are_solved_and_known_phases_sit_on_or_above_the_hull(hull):
    import pyarrow.parquet as pq

    from screening.hull import MAX_FACET_ELEMENTS

    t = pq.read_table(default_source(), columns=["formula", "target"]).to_pydict()
    big = sorted(((f, e) for f, e in zip(t["formula"], t["target"], strict=True)
                  if (p := parse_formula(f)) and len(p[0]) > MAX_FACET_ELEMENTS),
                 key=lambda fe: -len(parse_formula(fe[0])[0]))[:12]  # fmt: skip
    assert len(big) == 12 and len(parse_formula(big[0][0])[0]) >= 9  # the table's largest systems
    got = hull.stability([f for f, _ in big], np.array([e for _, e in big]))
    e_hull = got.column("e_above_hull").to_numpy()
    assert np.all(np.isfinite(e_hull)) and np.all(e_hull >= -1e-6)
    assert all(got.column("known_composition").to_pylist())


def test_facets_of_a_simple_binary():
    # A-B with AB at -1 and AB3 at -0.5 (above the AB--B line, so not on the hull)
    c = lower_hull_facets(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([-1.0, -0.4]))
    x = np.array([[1, 0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0, 1]], float)
    np.testing.assert_allclose((x @ c.T).max(axis=1), [0, -0.5, -1, -0.5, 0], atol=1e-12)
    assert np.all(lower_hull_facets(np.array([[0.5, 0.5]]), np.array([0.3])) == 0)  # nothing below zero


def test_formula_parsing():
    assert parse_formula("Fe2O3") == (("Fe", "O"), (0.4, 0.6))
    els, fr = parse_formula("Zr(FeO2)2")
    assert els == ("Fe", "O", "Zr") and np.allclose(fr, [2 / 7, 4 / 7, 1 / 7])
    assert parse_formula("Xx2O") is None and parse_formula("not a formula") is None


def test_stability_columns(hull):
    nacl = hull.known_energy(*parse_formula("NaCl"))
    formulas = ["NaCl", "NaCl", "Na3Cl7", "Fe", "Fe", "Fe", None, "garbage"]
    e_form = np.array([nacl, nacl - 0.5, -1.0, 0.05, -0.05, -0.05, -1.0, -1.0])
    std = np.array([0.1, 0.1, 0.1, 0.1, 0.02, 0.05, 0.1, 0.1])
    t = hull.stability(formulas, e_form, std).to_pydict()
    assert t[HullColumn.CHEMSYS][:4] == ["Cl-Na", "Cl-Na", "Cl-Na", "Fe"]
    assert t[HullColumn.E_ABOVE_HULL][0] == pytest.approx(
        0.0, abs=1e-9
    )  # the known ground state is on the hull
    assert t[HullColumn.E_ABOVE_HULL][1] == pytest.approx(-0.5, abs=1e-9)
    assert t[HullColumn.KNOWN_COMPOSITION][:4] == [True, True, False, True]
    # 0.5 below the hull at a known composition; an element 2.5 sigma below zero; 1 sigma is not
    assert t[HullColumn.IMPLAUSIBLE][:6] == [False, True, False, False, True, False]
    assert t[HullColumn.E_ABOVE_HULL][6] is None and t[HullColumn.E_ABOVE_HULL][7] is None
    assert t[HullColumn.E_ABOVE_HULL_STD][:2] == [0.1, 0.1]
    assert set(t[HullColumn.HULL_VERSION]) == {hull.version}
    no_std = hull.stability(["NaCl"], np.array([nacl]), None).to_pydict()
    assert no_std[HullColumn.E_ABOVE_HULL_STD] == [None]  # never invented


def test_cache_is_keyed_by_version_and_reused(tmp_path):
    src = tmp_path / "labels.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"formula": ["NaCl", "Na", "Cl", "KCl"], "target": [-2.0, 0.01, 0.0, -2.2]}), src)
    h1 = ReferenceHull.from_parquet(src, tmp_path / "cache")
    assert h1.hull_energy(("Cl", "Na"), np.array([[0.5, 0.5]]))[0] == pytest.approx(-2.0)
    h1.flush()
    shards = list((tmp_path / "cache" / h1.version).glob("facets-*.parquet"))
    assert len(shards) == 1
    h2 = ReferenceHull.from_parquet(src, tmp_path / "cache")
    assert "Cl-Na" in h2._cache.load()
    pq.write_table(pa.table({"formula": ["NaCl"], "target": [-1.0]}), src)
    h3 = ReferenceHull.from_parquet(src, tmp_path / "cache")
    assert h3.version != h1.version
    assert h3.hull_energy(("Cl", "Na"), np.array([[0.5, 0.5]]))[0] == pytest.approx(-1.0)
