"""Equivalent descriptions of one crystal give one SCOPE: normalizer relabelings, settings, origins, axes.

And chirality is kept: mirrored quartz is 154 where quartz is 152.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from scope_aflow_labels import aflow_entry, aflow_library

from cloud_core.scope import canonical_orbits, encode

# --- the normalizer cosets themselves --------------------------------------------------------------------


def test_scope_fm3m_origin_half_shift_swaps_4a_4b() -> None:
    # (1/2, 1/2, 1/2) in Fm-3m maps 4a <-> 4b (and 24d/24e stay): one canonical form
    assert canonical_orbits(225, [("Na", "b"), ("Cl", "a")]) == canonical_orbits(
        225, [("Na", "a"), ("Cl", "b")]
    )
    lat = Lattice.cubic(5.64)
    na_on_a = Structure.from_spacegroup(225, lat, ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    na_on_b = Structure.from_spacegroup(225, lat, ["Na", "Cl"], [[0.5, 0.5, 0.5], [0, 0, 0]])
    assert (
        encode(na_on_a).to_string() == encode(na_on_b).to_string() == "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1"
    )


def test_scope_f43m_inversion_swaps_4c_4d() -> None:
    assert canonical_orbits(216, [("Zn", "a"), ("S", "d")]) == canonical_orbits(
        216, [("Zn", "a"), ("S", "c")]
    )
    lat = Lattice.cubic(5.41)
    s_on_c = Structure.from_spacegroup(216, lat, ["Zn", "S"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    s_on_d = Structure.from_spacegroup(216, lat, ["Zn", "S"], [[0, 0, 0], [0.75, 0.75, 0.75]])
    assert encode(s_on_c) == encode(s_on_d)


def test_scope_pmmm_axis_permutations() -> None:
    # a Pmmm crystal with atoms on 1a, 1c, 2i and 4u: permuting the axes permutes the letters
    base = Structure.from_spacegroup(
        47,
        Lattice.orthorhombic(3.1, 4.3, 5.7),
        ["Ba", "Cu", "O", "Y"],
        [[0, 0, 0], [0, 0, 0.5], [0, 0, 0.23], [0.5, 0.27, 0.31]],
    )
    strings = set()
    for perm in itertools.permutations(range(3)):
        lattice = Lattice(base.lattice.matrix[list(perm)])
        moved = Structure(lattice, base.species, base.frac_coords[:, list(perm)])
        record = encode(moved)
        assert record.spacegroup == 47
        strings.add(record.to_string())
    assert len(strings) == 1


def _half_heusler(assignment: dict[int, str]) -> Structure:
    points = {0: [0, 0, 0], 1: [0.5, 0.5, 0.5], 2: [0.25, 0.25, 0.25], 3: [0.75, 0.75, 0.75]}  # 4a 4b 4c 4d
    species = [el for pos, el in sorted(assignment.items()) if el]
    coords = [points[pos] for pos, el in sorted(assignment.items()) if el]
    return Structure.from_spacegroup(216, Lattice.cubic(6.1), species, coords)


def test_scope_half_heusler_24_assignments_give_3_strings() -> None:
    strings = set()
    n = 0
    for perm in itertools.permutations(["Mg", "Ni", "Sb", None]):
        record = encode(_half_heusler(dict(enumerate(perm))))
        assert record.spacegroup == 216
        strings.add(record.to_string())
        n += 1
    assert n == 24
    # the three half-Heusler variants: which element sits between (not next to) the other two
    assert len(strings) == 3, strings


def test_scope_perovskite_and_antiperovskite_differ() -> None:
    lat = Lattice.cubic(3.9)
    perovskite = Structure.from_spacegroup(
        221, lat, ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
    )
    anti = Structure.from_spacegroup(221, lat, ["Sr", "Ti", "O"], [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0.5, 0]])
    a, b = encode(perovskite).to_string(), encode(anti).to_string()
    assert a == "221 cP m-3m | Sr 1a Ti 1b O 3c | Sr 1 Ti 1 O 3"  # O octahedra around Ti
    assert b == "221 cP m-3m | Sr 1a Ti 1b O 3d | Sr 1 Ti 1 O 3"  # O octahedra around Sr
    assert a != b


# --- settings, cell choices and origin choices -----------------------------------------------------------


def _transformed(structure: Structure, matrix) -> Structure:
    """The same crystal in the basis ``matrix @ lattice`` (rows), sites wrapped into the new cell."""
    out = structure.copy()
    out.make_supercell(np.array(matrix), to_unit_cell=True)
    return out


def _monoclinic_c2c() -> Structure:
    # a C2/c crystal with atoms on 4a, 4e and 8f (an Sn-O-Ca arrangement, generic parameters)
    return Structure.from_spacegroup(
        15,
        Lattice.monoclinic(9.7, 6.1, 5.3, 108.4),
        ["Ca", "Sn", "O"],
        [[0, 0.31, 0.25], [0, 0, 0], [0.13, 0.21, 0.41]],
    )


def _centring_vector(structure: Structure, reference: Structure) -> np.ndarray:
    """The C-centring translation of ``reference`` expressed in ``structure``'s fractional coordinates."""
    t = reference.lattice.get_cartesian_coords([0.5, 0.5, 0.0])
    f = structure.lattice.get_fractional_coords(t)
    return np.round(f - np.floor(f + 1e-9), 6)


def test_scope_c2c_i2a_a2n_settings_agree() -> None:
    c2c = _monoclinic_c2c()
    # the other two cell choices of the same lattice: a' = c, c' = -a - c (I-centred, I2/a) and
    # a' = -a - c, c' = a (A-centred, A2/n)
    i2a = _transformed(c2c, [[0, 0, 1], [0, -1, 0], [-1, 0, -1]])
    a2n = _transformed(c2c, [[-1, 0, -1], [0, 1, 0], [1, 0, 0]])
    # the cells really are A- and I-centred
    assert np.allclose(_centring_vector(a2n, c2c), [0.0, 0.5, 0.5])
    assert np.allclose(_centring_vector(i2a, c2c), [0.5, 0.5, 0.5])
    records = [encode(s) for s in (c2c, a2n, i2a)]
    assert records[0].spacegroup == 15
    assert records[0] == records[1] == records[2]
    assert {encode(s, backend="spglib") for s in (c2c, a2n, i2a)} == {records[0]}


def test_scope_rhombohedral_and_hexagonal_axes_agree() -> None:
    rhombohedral = aflow_entry("A2B3_hR10_167_c_e")["structure"]  # corundum, 10 sites
    assert len(rhombohedral) == 10
    # obverse setting: a_hex = a_r - b_r, b_hex = b_r - c_r, c_hex = a_r + b_r + c_r
    hexagonal = _transformed(rhombohedral, [[1, -1, 0], [0, 1, -1], [1, 1, 1]])
    assert len(hexagonal) == 30
    a, b = encode(rhombohedral), encode(hexagonal)
    assert a == b and a.to_string() == "167 hR -3m | Al 12c O 18e | Al 2 O 3"
    assert a.n_sites == b.n_sites == 10


@pytest.mark.parametrize(
    ("label", "shift"),
    [
        ("A2BC4_cF56_227_d_a_e", (0.125, 0.125, 0.125)),  # spinel, Fd-3m origin choice 1 vs 2
        ("A_cF8_227_a", (0.125, 0.125, 0.125)),  # diamond
        ("A2B_tI12_141_e_a", (0.0, 0.25, -0.125)),  # anatase, I4_1/amd origin choice 1 vs 2
    ],
)
def test_scope_both_origin_choices_agree(label: str, shift) -> None:
    structure = aflow_entry(label)["structure"]
    shifted = Structure(structure.lattice, structure.species, structure.frac_coords + np.array(shift))
    assert encode(structure) == encode(shifted)


def test_scope_pnma_and_pbnm_agree() -> None:
    pnma = aflow_entry("AB3C_oP20_62_c_cd_a")["structure"]  # CaTiO3 perovskite, Pnma
    strings = set()
    # the six axis permutations: Pnma, Pbnm (= the cab setting), Pmcn, Pnam, Pmnb, Pcmn
    for perm in itertools.permutations(range(3)):
        moved = Structure(
            Lattice(pnma.lattice.matrix[list(perm)]), pnma.species, pnma.frac_coords[:, list(perm)]
        )
        record = encode(moved)
        assert record.spacegroup == 62
        strings.add(record.to_string())
    assert strings == {"62 oP mmm | Ca 4c Ti 4a O 4c O 8d | Ca 1 Ti 1 O 3"}


# --- chirality and backends -------------------------------------------------------------------------------


def _mirrored(structure: Structure) -> Structure:
    mirror = np.diag([-1.0, 1.0, 1.0])
    return Structure(Lattice(structure.lattice.matrix @ mirror), structure.species, structure.frac_coords)


def test_scope_mirrored_quartz_is_154() -> None:
    quartz = aflow_entry("A2B_hP9_152_c_a")["structure"]
    right, left = encode(quartz), encode(_mirrored(quartz))
    assert right.to_string() == "152 hP 32 | Si 3a O 6c | Si 1 O 2"
    assert left.to_string() == "154 hP 32 | Si 3a O 6c | Si 1 O 2"
    assert encode(_mirrored(_mirrored(quartz))) == right


def test_scope_moyopy_and_spglib_give_the_same_string() -> None:
    # the libraries measure the tolerance differently, so a crystal whose space group changes between symprec
    # 0.003 and 0.03 (pseudo-symmetric within the tolerance) may legitimately differ: those are set aside
    structures = [e["structure"] for e in aflow_library()]
    compared, differ = 0, []
    for i, s in enumerate(structures):
        a, b = encode(s), encode(s, backend="spglib")
        assert a.backend == "moyopy" and b.backend == "spglib"
        groups = {
            encode(s, symprec=tol, backend=be).spacegroup
            for tol in (0.003, 0.03)
            for be in ("moyopy", "spglib")
        }
        if len(groups | {a.spacegroup}) > 1:
            continue
        compared += 1
        if a != b:
            differ.append((i, a.to_string(), b.to_string()))
    assert compared >= 280
    assert not differ, differ
