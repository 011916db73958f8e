"""The same crystal, however it is written, gives the same SCOPE; different crystals give different ones."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from scope_aflow_labels import aflow_entry

from cloud_core.scope import encode

# a spread of crystal systems, centrings, settings and sizes (AFLOW labels of pymatgen's prototype library)
LABELS = [
    "AB_cF8_225_a_b",  # rocksalt
    "A2BC4_cF56_227_d_a_e",  # spinel
    "A2B3_hR10_167_c_e",  # corundum
    "AB_hP4_186_b_b",  # wurtzite
    "A2B_hP9_152_c_a",  # quartz (chiral)
    "A2B_tI12_141_e_a",  # anatase
    "AB3C_oP20_62_c_cd_a",  # CaTiO3 Pnma
    "A2B3C7D_oP13_47_t_aq_eqrs_h",  # YBa2Cu3O7, Pmmm with many letters
    "ABC4_mP12_13_e_a_2g",  # AgAuTe4, P2/c
    "A_aP4_2_aci",  # Cf, P-1
    "A_mP4_4_2a",  # Te, P2_1
    "A_oC8_64_f",  # Ga, Cmce
]


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _variants(structure: Structure, rng: np.random.Generator) -> dict[str, Structure]:
    out: dict[str, Structure] = {}
    rot = _rotation(rng)
    out["rotation"] = Structure(
        Lattice(structure.lattice.matrix @ rot.T), structure.species, structure.frac_coords
    )
    out["origin shift"] = Structure(
        structure.lattice, structure.species, structure.frac_coords + rng.random(3)
    )
    for name, matrix in {
        "2x2x2": np.diag([2, 2, 2]),
        "3x1x1": np.diag([3, 1, 1]),
        "skewed supercell": np.array([[1, 1, 0], [0, 1, 1], [1, 0, 2]]),
    }.items():
        s = structure.copy()
        s.make_supercell(matrix)
        out[name] = s
    order = rng.permutation(len(structure))
    out["site permutation"] = Structure(
        structure.lattice, [structure.species[i] for i in order], structure.frac_coords[order]
    )
    out["primitive"] = structure.get_primitive_structure()
    out["conventional"] = SpacegroupAnalyzer(structure, symprec=0.01).get_conventional_standard_structure()
    niggli = structure.lattice.get_niggli_reduced_lattice()
    out["niggli"] = Structure(niggli, structure.species, structure.cart_coords, coords_are_cartesian=True)
    noise = rng.normal(size=(len(structure), 3))
    noise *= 1e-4 / np.linalg.norm(noise, axis=1, keepdims=True)
    out["noise 1e-4 A"] = Structure(
        structure.lattice, structure.species, structure.cart_coords + noise, coords_are_cartesian=True
    )
    return out


@pytest.mark.parametrize("label", LABELS)
def test_scope_invariant_under_rewriting(label: str) -> None:
    structure = aflow_entry(label)["structure"]
    reference = encode(structure)
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    for name, variant in _variants(structure, rng).items():
        record = encode(variant)
        assert record == reference, (label, name, record.to_string(), reference.to_string())
        assert record.n_sites == reference.n_sites, (label, name)


def test_scope_n_sites_is_the_primitive_cell() -> None:
    for label in LABELS:
        structure = aflow_entry(label)["structure"]
        big = structure.copy()
        big.make_supercell([2, 1, 2])
        assert encode(big).n_sites == len(structure.get_primitive_structure()), label


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("A2B_tP6_136_f_a", "A2B_tI12_141_e_a"),  # rutile vs anatase
        ("AB_cF8_216_c_a", "AB_hP4_186_b_b"),  # zincblende vs wurtzite
        ("A_cF4_225_a", "A_hP2_194_c"),  # fcc vs hcp
    ],
)
def test_scope_distinct_crystals_differ(a: str, b: str) -> None:
    sa, sb = aflow_entry(a)["structure"], aflow_entry(b)["structure"]
    if (
        sa.composition.reduced_formula != sb.composition.reduced_formula
    ):  # same chemistry, to compare only structure
        sb = sb.copy()
        sb.replace_species(
            dict(zip(sorted(sb.composition.elements), sorted(sa.composition.elements), strict=True))
        )
    ra, rb = encode(sa), encode(sb)
    assert ra.stoichiometry == rb.stoichiometry
    assert ra.to_string() != rb.to_string()
