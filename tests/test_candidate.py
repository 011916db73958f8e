from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from screening.sources import Candidate, candidates_from_table, candidates_to_table


def test_roundtrip_structure_and_formula():
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cands = [Candidate("a", "test", s, meta={"e_hull": 0.0}), Candidate("b", "test", formula="Fe2O3")]
    back = candidates_from_table(candidates_to_table(cands))
    assert [c.id for c in back] == ["a", "b"]
    assert back[0].structure == s and back[0].formula == "NaCl" and back[0].meta == {"e_hull": 0.0}
    assert back[1].structure is None and back[1].formula == "Fe2O3"


def test_candidate_needs_content():
    with pytest.raises(ValueError):
        Candidate("x", "test")
    with pytest.raises(ValueError):
        Candidate("", "test", formula="NaCl")
