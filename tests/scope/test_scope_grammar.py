"""The SCOPE grammar: string <-> record round trip, unknown symmetry, exact stoichiometry, rejected strings."""

from __future__ import annotations

import pytest

from cloud_core.scope import ScopeError, ScopeRecord, ScopeRejectReason, encode_formula
from cloud_core.scope.tables import BRAVAIS_LATTICES, POINT_GROUPS, space_group_table

R = ScopeRejectReason


@pytest.mark.parametrize(
    "text",
    [
        "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1",
        "167 hR -3m | Al 12c O 18e | Al 2 O 3",
        "62 oP mmm | Ca 4c Ti 4a O 4c O 8d | Ca 1 Ti 1 O 3",
        "47 oP mmm | Ba 2i Y 1a Cu 1h Cu 2l O 1d O 2j O 2k O 2l | Ba 2 Y 1 Cu 3 O 7",
        "? | - | Fe 2 O 3",
        "? | - | H 2 C 1 4 9",
    ],
)
def test_scope_round_trip(text: str) -> None:
    record = ScopeRecord.from_string(text)
    assert record.to_string() == text
    assert ScopeRecord.from_string(record.to_string()) == record
    assert record.to_tokens() == text.split()


def test_scope_record_fields_from_string() -> None:
    r = ScopeRecord.from_string("167 hR -3m | Al 12c O 18e | Al 2 O 3")
    assert r.spacegroup == 167 and r.bravais == "hR" and r.point_group == "-3m"
    assert r.stoichiometry == (("Al", 2), ("O", 3))
    assert [tuple(o) for o in r.orbits] == [("Al", 12, "c"), ("O", 18, "e")]
    assert r.n_sites == 10  # (12 + 18) / 3 lattice points of the R-centred hexagonal cell
    assert r.formula == "Al2O3"
    u = ScopeRecord.from_string("? | - | Fe 2 O 3")
    assert u.spacegroup is None and u.orbits == () and u.n_sites is None and u.bravais is None


def test_scope_tables_cover_the_grammar() -> None:
    table = space_group_table()
    assert len(table) == 230
    assert {i.point_group for i in table.values()} == set(POINT_GROUPS)
    assert {i.bravais for i in table.values()} == set(BRAVAIS_LATTICES)
    assert table[15].bravais == "mS" and table[38].bravais == "oS" and table[166].bravais == "hR"
    assert table[152].point_group == "32" and table[216].point_group == "-43m"


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("Fe2O3", "? | - | Fe 2 O 3"),
        ("O3Fe2", "? | - | Fe 2 O 3"),
        ("NaCl", "? | - | Na 1 Cl 1"),
        ("Fe4O6", "? | - | Fe 2 O 3"),
        ("C149H2", "? | - | H 2 C 1 4 9"),
        ("Li0.5CoO2", "? | - | Li 1 Co 2 O 4"),
        ("Fe0.333333333Ni0.666666667", "? | - | Fe 1 Ni 2"),
        ({"O": 1.5, "Al": 1.0}, "? | - | Al 2 O 3"),
        ("HeNe", "? | - | He 1 Ne 1"),  # no electronegativity: last, by Z
        ("ArLi", "? | - | Li 1 Ar 1"),
    ],
)
def test_scope_encode_formula(formula, expected: str) -> None:
    record = encode_formula(formula)
    assert record.to_string() == expected
    assert ScopeRecord.from_string(expected) == record
    assert record.backend == "formula"


@pytest.mark.parametrize(
    ("formula", "reason"),
    [
        ("Fe0.1234O", ScopeRejectReason.NON_INTEGER_FORMULA),
        ("Fe3.14159265O", ScopeRejectReason.NON_INTEGER_FORMULA),
        ("", ScopeRejectReason.INVALID_INPUT),
        ("Xx2O", ScopeRejectReason.UNSUPPORTED_ELEMENT),  # pymatgen reads Xx as a dummy species
        ("Fe2((O3", ScopeRejectReason.INVALID_INPUT),
        (42, ScopeRejectReason.INVALID_INPUT),
        ("Og2", ScopeRejectReason.UNSUPPORTED_ELEMENT),
    ],
)
def test_scope_encode_formula_rejects(formula, reason: ScopeRejectReason) -> None:
    with pytest.raises(ScopeError) as info:
        encode_formula(formula)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("225 cF m-3m | Na 4a Cl 4b", R.INVALID_SCOPE),  # two sections
        ("225 cF m-3m | Cl 4b Na 4a | Na 1 Cl 1", R.NOT_CANONICAL),  # orbit order not canonical
        ("225 cF m-3m | Na 4b Cl 4a | Na 1 Cl 1", R.NOT_CANONICAL),  # letters not canonical (4a/4b swap)
        ("225 cP m-3m | Na 4a Cl 4b | Na 1 Cl 1", R.INCONSISTENT_SYMMETRY),  # wrong Bravais lattice
        ("225 cF m-3 | Na 4a Cl 4b | Na 1 Cl 1", R.INCONSISTENT_SYMMETRY),  # wrong point group
        ("225 cF m-3m | Na 8a Cl 4b | Na 1 Cl 1", R.INVALID_WYCKOFF),  # wrong multiplicity
        ("225 cF m-3m | Na 4z Cl 4b | Na 1 Cl 1", R.INVALID_WYCKOFF),  # no such letter
        ("225 cF m-3m | Na 4a Cl 4b | Na 2 Cl 1", R.FORMULA_MISMATCH),  # stoichiometry disagrees with orbits
        ("225 cF m-3m | Na 4a Cl 4b | Cl 1 Na 1", R.NOT_CANONICAL),  # element order
        ("231 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1", R.INVALID_SCOPE),  # no such group
        ("? | - | Fe 4 O 6", R.NOT_CANONICAL),  # not reduced
        ("? | - | Fe 0 2 O 3", R.INVALID_SCOPE),  # leading zero
        ("? | Fe 4a | Fe 1", R.INVALID_SCOPE),  # unknown symmetry must have no orbits
        ("? | - | Qq 1", R.INVALID_SCOPE),  # not an element
        ("? | - | 2 Fe", R.INVALID_SCOPE),  # count before element
        ("? | - | Fe 1 Fe 1", R.INVALID_SCOPE),  # repeated element
    ],
)
def test_scope_from_string_rejects_bad_strings(text: str, reason: ScopeRejectReason) -> None:
    with pytest.raises(ScopeError) as info:
        ScopeRecord.from_string(text)
    assert info.value.reason == reason
