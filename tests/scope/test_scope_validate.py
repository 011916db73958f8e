"""The one SCOPE validator: a test per rule, the fixed-position table, the batch / Arrow API, the encoder's
output, and disorder vs overlapping atoms agreeing across CIF, POSCAR, extxyz and pymatgen dicts."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ase.io import write
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from cloud_core.scope import ScopeError, ScopeRecord, ScopeRejectReason, encode, encode_many
from cloud_core.scope.tables import space_group
from cloud_core.scope.validate import (
    InvalidScopeError,
    canonical_scope,
    check_scopes,
    validate_many,
    validate_scope,
)

R = ScopeRejectReason
ROCKSALT = "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1"

VALID = [
    ROCKSALT,
    "167 hR -3m | Al 12c O 18e | Al 2 O 3",
    "? | - | Fe 2 O 3",
    "1 aP 1 | C 1a C 1a | C 1",  # P1's 1a has free parameters: it may be occupied twice
    "221 cP m-3m | Cs 1a Cl 1b | Cs 1 Cl 1",
]

INVALID = [
    # 1. grammar
    ("225 cF m-3m | Na 4a Cl 4b", R.INVALID_SCOPE),
    ("231 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1", R.INVALID_SCOPE),
    ("225 cF m-3m | Na 4a Cl | Na 1 Cl 1", R.INVALID_SCOPE),
    ("225 cF m-3m | Xx 4a | Xx 1", R.INVALID_SCOPE),
    ("? | - | Fe 0 2 O 3", R.INVALID_SCOPE),
    ("? | Fe 4a | Fe 1", R.INVALID_SCOPE),
    ("? | - | Qq 1", R.INVALID_SCOPE),
    ("? | - | 2 Fe", R.INVALID_SCOPE),
    ("? | - | Fe 1 Fe 1", R.INVALID_SCOPE),
    ("? | - | Fe O 3", R.INVALID_SCOPE),
    ("", R.INVALID_SCOPE),
    # 2. supported elements
    ("? | - | Og 1", R.UNSUPPORTED_ELEMENT),
    # 3. space group, lattice and point group agree
    ("225 cP 1 | Na 4a Cl 4b | Na 1 Cl 1", R.INCONSISTENT_SYMMETRY),
    ("225 cP m-3m | Na 4a Cl 4b | Na 1 Cl 1", R.INCONSISTENT_SYMMETRY),
    ("225 cF m-3 | Na 4a Cl 4b | Na 1 Cl 1", R.INCONSISTENT_SYMMETRY),
    # 4. each orbit is a Wyckoff position of the group
    ("225 cF m-3m | Na 8a Cl 4b | Na 1 Cl 1", R.INVALID_WYCKOFF),
    ("225 cF m-3m | Na 4z Cl 4b | Na 1 Cl 1", R.INVALID_WYCKOFF),
    ("225 cF m-3m | Na 4A Cl 4b | Na 1 Cl 1", R.INVALID_WYCKOFF),
    # 5. a position without free parameters at most once
    ("225 cF m-3m | Na 4a Na 4a | Na 1", R.REPEATED_FIXED_POSITION),
    ("225 cF m-3m | Na 4a Cl 4a | Na 1 Cl 1", R.REPEATED_FIXED_POSITION),
    # 6. the formula is the orbits' multiplicities reduced, with exactly their elements
    ("225 cF m-3m | Na 4a | Na 1 Cl 1", R.FORMULA_MISMATCH),
    ("225 cF m-3m | Na 4a Cl 4b | Na 2 Cl 1", R.FORMULA_MISMATCH),
    ("225 cF m-3m | Na 4a Cl 4b | Na 1", R.FORMULA_MISMATCH),
    ("225 cF m-3m | Na 4a Cl 4b | K 1 Cl 1", R.FORMULA_MISMATCH),
]

NON_CANONICAL = [
    ("225 cF m-3m | Na 4a Cl 4b | Cl 1 Na 1", ROCKSALT),  # element order in the formula
    ("225 cF m-3m | Cl 4b Na 4a | Na 1 Cl 1", ROCKSALT),  # orbit order
    ("225 cF m-3m | Na 4b Cl 4a | Na 1 Cl 1", ROCKSALT),  # letters (origin shift by 1/2 1/2 1/2)
    ("225 cF m-3m | Na 4a Cl 4b | Na 2 Cl 2", ROCKSALT),  # formula not reduced
    ("225  cF m-3m | Na 4a Cl 4b | Na 1 Cl 1 ", ROCKSALT),  # spacing
    ("? | - | Fe 4 O 6", "? | - | Fe 2 O 3"),
    ("? | - | O 3 Fe 2", "? | - | Fe 2 O 3"),
]


@pytest.mark.parametrize("text", VALID)
def test_scope_validate_accepts_valid_strings(text: str) -> None:
    assert validate_scope(text) == text
    assert ScopeRecord.from_string(text).to_string() == text


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_scope_validate_rule(text: str, reason: ScopeRejectReason) -> None:
    with pytest.raises(InvalidScopeError) as info:
        validate_scope(text)
    assert info.value.reason == reason and info.value.canonical is None
    assert repr(text) in info.value.message or not text
    # ScopeRecord.from_string is the same validator
    with pytest.raises(ScopeError) as again:
        ScopeRecord.from_string(text)
    assert again.value.reason == reason


@pytest.mark.parametrize(("text", "canonical"), NON_CANONICAL)
def test_scope_validate_not_canonical_shows_canonical(text: str, canonical: str) -> None:
    with pytest.raises(InvalidScopeError) as info:
        validate_scope(text)
    assert info.value.reason == R.NOT_CANONICAL
    assert info.value.canonical == canonical and repr(canonical) in info.value.message
    assert canonical_scope(text) == canonical


def test_scope_validate_non_string() -> None:
    with pytest.raises(InvalidScopeError) as info:
        validate_scope(42)  # type: ignore[arg-type]
    assert info.value.reason == R.INVALID_SCOPE


def test_scope_fixed_positions_table() -> None:
    assert space_group(225).fixed == frozenset("abcd")  # 4a 4b 8c 24d; 24e (x,0,0) onwards are free
    assert space_group(1).fixed == frozenset()
    assert space_group(2).fixed == frozenset("abcdefgh")  # the eight inversion centres
    assert space_group(166).fixed == frozenset("abde")  # hexagonal axes: 3a 3b 9d 9e
    for number in range(1, 231):
        info = space_group(number)
        assert info.fixed <= set(info.multiplicity)
        general = max(info.multiplicity, key=info.multiplicity.__getitem__)
        assert general not in info.fixed


def test_scope_fixed_positions_shipped_table_is_pyxtal_s() -> None:
    """The shipped JSON is what the builder derives from pyxtal today (pyxtal's letters checked too)."""
    from cloud_core.scope.fixed_positions import OUTPUT, fixed_letters

    assert json.loads(OUTPUT.read_text())["fixed"] == fixed_letters()


def test_scope_check_scopes_on_an_arrow_column() -> None:
    column = pa.chunked_array(
        [[ROCKSALT, None, "? | - | Fe 2 O 3"], ["225 cF m-3m | Na 4a Na 4a | Na 1", ROCKSALT]]
    )
    check = check_scopes(column)
    assert check.valid.tolist() == [True, False, True, False, True]
    assert check.reason_counts() == {"invalid_scope": 1, "repeated_fixed_position": 1}
    rejects = check.rejects(["a", "b", "c", "d", "e"], stage="predict")
    assert [(r.id, r.stage, r.reason) for r in rejects] == [
        ("b", "predict", "invalid_scope"),
        ("d", "predict", "repeated_fixed_position"),
    ]
    valid, rejects = validate_many(["? | - | Fe 4 O 6", ROCKSALT], ids=["x", "y"])
    assert valid == [("y", ROCKSALT)]
    assert [(r.id, r.stage, r.reason) for r in rejects] == [("x", "scope", "not_canonical")]
    assert "'? | - | Fe 2 O 3'" in rejects[0].message
    with pytest.raises(ValueError, match="ids"):
        validate_many([ROCKSALT], ids=["a", "b"])


def test_scope_encoder_output_is_always_valid() -> None:
    """Whatever the encoder writes passes the validator (real structures of every kind the corpus ships)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "corpora" / "aflow_prototypes.parquet"
    rows = pq.read_table(path, columns=["structure_json"]).column(0).to_pylist()[::6]
    ok, rejects = encode_many([Structure.from_dict(json.loads(s)) for s in rows])
    assert not rejects and len(ok) == len(rows)
    check = check_scopes([rec.to_string() for _, rec in ok])
    assert check.valid.all(), check.errors


# --- disorder vs overlapping atoms, whatever the format ------------------------------------------------------

_CIF = """data_test
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
_symmetry_Int_Tables_number 1
loop_
_symmetry_equiv_pos_as_xyz
  'x, y, z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
{rows}
"""


def _cif(tmp_path, name: str, rows: list[str]):
    path = tmp_path / f"{name}.cif"
    path.write_text(_CIF.format(rows="\n".join(rows)))
    return path


def _reason(obj) -> ScopeRejectReason:
    with pytest.raises(ScopeError) as info:
        encode(obj)
    return info.value.reason


def test_scope_cif_two_atoms_on_one_site_is_overlapping(tmp_path) -> None:
    same = _cif(tmp_path, "same", ["Na1 Na 0 0 0 1", "Na2 Na 0 0 0 1", "Cl1 Cl 0.5 0.5 0.5 1"])
    other = _cif(tmp_path, "other", ["Na1 Na 0 0 0 1", "Cl2 Cl 0 0 0 1", "Cl1 Cl 0.5 0.5 0.5 1"])
    assert _reason(same) == R.OVERLAPPING_ATOMS  # was merged into NaCl by the ASE fallback
    assert _reason(other) == R.OVERLAPPING_ATOMS  # was called disordered
    # the same crystal as POSCAR, extxyz and a pymatgen dict
    s = Structure(Lattice.cubic(5.64), ["Na", "Na", "Cl"], [[0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5]])
    s.to(filename=str(tmp_path / "POSCAR"))
    write(str(tmp_path / "two.extxyz"), AseAtomsAdaptor.get_atoms(s), format="extxyz")
    assert _reason(tmp_path / "POSCAR") == R.OVERLAPPING_ATOMS
    assert _reason(tmp_path / "two.extxyz") == R.OVERLAPPING_ATOMS
    assert _reason(Structure.from_dict(s.as_dict())) == R.OVERLAPPING_ATOMS


def test_scope_cif_fractional_occupancy_is_disordered(tmp_path) -> None:
    partial = _cif(tmp_path, "partial", ["Na1 Na 0 0 0 0.5", "Cl1 Cl 0.5 0.5 0.5 1"])
    mixed = _cif(tmp_path, "mixed", ["Na1 Na 0 0 0 0.5", "K1 K 0 0 0 0.5", "Cl1 Cl 0.5 0.5 0.5 1"])
    assert _reason(partial) == R.DISORDERED
    assert _reason(mixed) == R.DISORDERED
    s = Structure(Lattice.cubic(5.64), [{"Na": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert _reason(Structure.from_dict(s.as_dict())) == R.DISORDERED
    ordered = _cif(tmp_path, "ordered", ["Na1 Na 0 0 0 1", "Cl1 Cl 0.5 0.5 0.5 1"])
    assert encode(ordered).to_string() == "221 cP m-3m | Na 1a Cl 1b | Na 1 Cl 1"
