"""Golden SCOPE strings of well-known crystals.

Each expected string is written from the crystal's Wyckoff positions in the literature / International Tables
and the AFLOW prototype label pymatgen ships (never from the encoder's output); the test also checks that the
expected letters are a relabeling (pymatgen's raw table) of the AFLOW label's letters, so a typo in the
expectation cannot pass silently.
"""

from __future__ import annotations

from collections import Counter

import pytest
from scope_aflow_labels import aflow_entry, elements_alphabetical, letters_equivalent, parse_aflow_label

from cloud_core.scope import ScopeRecord, encode

GOLDEN: list[tuple[str, str, str]] = [
    # (name, AFLOW label, expected SCOPE)
    ("rocksalt NaCl", "AB_cF8_225_a_b", "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1"),
    ("CsCl", "AB_cP2_221_b_a", "221 cP m-3m | Cs 1a Cl 1b | Cs 1 Cl 1"),
    ("diamond", "A_cF8_227_a", "227 cF m-3m | C 8a | C 1"),
    ("zincblende ZnS", "AB_cF8_216_c_a", "216 cF -43m | Zn 4a S 4c | Zn 1 S 1"),
    ("wurtzite ZnS", "AB_hP4_186_b_b", "186 hP 6mm | Zn 2b S 2b | Zn 1 S 1"),
    ("fluorite CaF2", "AB2_cF12_225_a_c", "225 cF m-3m | Ca 4a F 8c | Ca 1 F 2"),
    ("rutile TiO2", "A2B_tP6_136_f_a", "136 tP 4/mmm | Ti 2a O 4f | Ti 1 O 2"),
    ("anatase TiO2", "A2B_tI12_141_e_a", "141 tI 4/mmm | Ti 4a O 8e | Ti 1 O 2"),
    ("cubic perovskite CaTiO3", "AB3C_cP5_221_a_c_b", "221 cP m-3m | Ca 1a Ti 1b O 3c | Ca 1 Ti 1 O 3"),
    ("spinel MgAl2O4", "A2BC4_cF56_227_d_a_e", "227 cF m-3m | Mg 8a Al 16d O 32e | Mg 1 Al 2 O 4"),
    ("corundum Al2O3", "A2B3_hR10_167_c_e", "167 hR -3m | Al 12c O 18e | Al 2 O 3"),
    ("L1_2 Cu3Au", "AB3_cP4_221_a_c", "221 cP m-3m | Cu 3c Au 1a | Cu 3 Au 1"),
    ("Heusler Cu2MnAl", "AB2C_cF16_225_a_c_b", "225 cF m-3m | Mn 4a Al 4b Cu 8c | Mn 1 Al 1 Cu 2"),
    ("half-Heusler MgAgAs", "ABC_cF12_216_b_c_a", "216 cF -43m | Mg 4a Ag 4b As 4c | Mg 1 Ag 1 As 1"),
    ("cuprite Cu2O", "A2B_cP6_224_b_a", "224 cP m-3m | Cu 4b O 2a | Cu 2 O 1"),
    ("A15 Cr3Si", "A3B_cP8_223_c_a", "223 cP m-3m | Cr 6c Si 2a | Cr 3 Si 1"),
    ("NiAs", "AB_hP4_194_c_a", "194 hP 6/mmm | Ni 2a As 2c | Ni 1 As 1"),
    ("C14 MgZn2", "AB2_hP12_194_f_ah", "194 hP 6/mmm | Mg 4f Zn 2a Zn 6h | Mg 1 Zn 2"),
    ("C15 MgCu2", "A2B_cF24_227_d_a", "227 cF m-3m | Mg 8a Cu 16d | Mg 1 Cu 2"),
    ("CdI2", "AB2_hP3_164_a_d", "164 hP -3m | Cd 1a I 2d | Cd 1 I 2"),
    ("D0_3 BiF3", "AB3_cF16_225_a_bc", "225 cF m-3m | Bi 4a F 4b F 8c | Bi 1 F 3"),
    ("graphite", "A_hP4_194_bc", "194 hP 6/mmm | C 2b C 2c | C 1"),
    ("hcp Mg", "A_hP2_194_c", "194 hP 6/mmm | Mg 2c | Mg 1"),
    ("bcc W", "A_cI2_229_a", "229 cI m-3m | W 2a | W 1"),
    ("alpha quartz SiO2", "A2B_hP9_152_c_a", "152 hP 32 | Si 3a O 6c | Si 1 O 2"),
    ("cinnabar HgS", "AB_hP6_154_a_b", "154 hP 32 | Hg 3a S 3b | Hg 1 S 1"),
]


@pytest.mark.parametrize(("name", "label", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_scope_golden_crystal(name: str, label: str, expected: str) -> None:
    structure = aflow_entry(label)["structure"]
    # the expectation itself must agree with AFLOW's label up to a normalizer relabeling
    number, aflow_letters = parse_aflow_label(label, elements_alphabetical(structure))
    expected_record = ScopeRecord.from_string(expected)
    assert expected_record.spacegroup == number
    expected_letters: dict[str, Counter[str]] = {}
    for orbit in expected_record.orbits:
        expected_letters.setdefault(orbit.element, Counter())[orbit.letter] += 1
    assert letters_equivalent(number, aflow_letters, expected_letters), (
        name,
        aflow_letters,
        expected_letters,
    )

    record = encode(structure)
    assert record.to_string() == expected
    assert record == expected_record
    assert record.n_sites == len(structure.get_primitive_structure())
