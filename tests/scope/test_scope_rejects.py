"""Every reject reason, from real bad inputs; batches never stop; files, ASE Atoms and the CLI."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pymatgen.core import DummySpecies, Lattice, Structure

from cloud_core.rejects import Reject
from cloud_core.scope import ScopeError, ScopeRejectReason, encode, encode_many
from cloud_core.scope import symmetry as scope_symmetry
from flows.cli import main as cli_main

R = ScopeRejectReason


def rocksalt(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup(225, Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _reason(obj, **kwargs) -> ScopeRejectReason:
    with pytest.raises(ScopeError) as info:
        encode(obj, **kwargs)
    assert info.value.message
    return info.value.reason


def test_scope_reject_disordered() -> None:
    s = Structure(Lattice.cubic(3.6), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    assert _reason(s) == R.DISORDERED


def test_scope_reject_partial_occupancy() -> None:
    s = Structure(Lattice.cubic(4.2), [{"Fe": 0.9}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert _reason(s) == R.DISORDERED  # issue 11: a partially occupied site is disordered, in every format


def test_scope_reject_too_many_sites() -> None:
    s = rocksalt()  # 8 sites in the conventional cell
    assert len(s) == 8
    assert _reason(s, max_sites=7) == R.TOO_MANY_SITES
    assert encode(s, max_sites=8).spacegroup == 225


def test_scope_reject_invalid_lattice() -> None:
    flat = Atoms(
        "NaCl", cell=[[3, 0, 0], [0, 3, 0], [3, 3, 0]], scaled_positions=[[0, 0, 0], [0.5, 0.5, 0]], pbc=True
    )
    assert _reason(flat) == R.INVALID_LATTICE
    molecule = Atoms("N2", positions=[[0, 0, 0], [0, 0, 1.1]], cell=[10, 10, 10], pbc=False)
    assert _reason(molecule) == R.INVALID_LATTICE
    nan_cell = Atoms("Na", cell=[[np.nan, 0, 0], [0, 3, 0], [0, 0, 3]], positions=[[0, 0, 0]], pbc=True)
    assert _reason(nan_cell) == R.INVALID_LATTICE


def test_scope_reject_overlapping_atoms() -> None:
    s = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.02, 0, 0]])  # 0.08 A apart
    assert _reason(s) == R.OVERLAPPING_ATOMS
    # across the cell boundary, and in a very skewed cell (the neighbour search fallback)
    s = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0.001, 0.5, 0.5], [0.995, 0.5, 0.5]])
    assert _reason(s) == R.OVERLAPPING_ATOMS
    skewed = Lattice([[4.0, 0, 0], [3.9, 0.6, 0], [0, 0, 4.0]])
    s = Structure(skewed, ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s2 = Structure(
        skewed, ["Na", "Cl"], skewed.get_fractional_coords([[0, 0, 0], [3.9 - 4.0 + 0.05, 0.6, 0]])
    )
    assert encode(s, overlap_distance=0.5).spacegroup >= 1
    assert _reason(s2) == R.OVERLAPPING_ATOMS
    assert encode(s2, overlap_distance=0.0).spacegroup >= 1  # the check can be switched off


def test_scope_reject_unsupported_element() -> None:
    s = Structure(Lattice.cubic(4.0), [DummySpecies("X"), "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert _reason(s) == R.UNSUPPORTED_ELEMENT
    heavy = Structure(Lattice.cubic(4.0), ["Ds"], [[0, 0, 0]])  # Z = 110
    assert _reason(heavy) == R.UNSUPPORTED_ELEMENT
    ghost = Atoms(numbers=[0, 11], cell=[4, 4, 4], scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], pbc=True)
    assert _reason(ghost) == R.UNSUPPORTED_ELEMENT


def test_scope_reject_unreadable_file(tmp_path) -> None:
    junk = tmp_path / "junk.cif"
    junk.write_text("this is not a crystal structure\n")
    assert _reason(junk) == R.UNREADABLE_FILE
    assert _reason(str(tmp_path / "missing.cif")) == R.UNREADABLE_FILE
    assert _reason(tmp_path) == R.UNREADABLE_FILE  # a directory


def test_scope_reject_invalid_input() -> None:
    assert _reason(42) == R.INVALID_INPUT
    assert _reason(Structure(Lattice.cubic(3), [], [])) == R.INVALID_INPUT


def test_scope_symmetry_retried_then_not_found(monkeypatch) -> None:
    calls: list[float] = []
    real = scope_symmetry._RAW["moyopy"]

    def flaky(cell, symprec):
        calls.append(symprec)
        if symprec > 5e-4:
            raise RuntimeError("simulated failure of the search")
        return real(cell, symprec)

    monkeypatch.setitem(scope_symmetry._RAW, "moyopy", flaky)
    record = encode(rocksalt())
    assert calls[:3] == [0.01, 1e-3, 1e-4]
    assert record.spacegroup == 225 and record.symprec == pytest.approx(1e-4)

    def broken(cell, symprec):
        number, orbits, letters, used = real(cell, symprec)
        wrong = [letter if orbits[i] != 0 else "l" for i, letter in enumerate(letters)]  # 192l for Na's 4a
        return number, orbits, wrong, used

    monkeypatch.setitem(
        scope_symmetry._RAW, "moyopy", broken
    )  # inconsistent multiplicities at every tolerance
    with pytest.raises(ScopeError) as info:
        encode(rocksalt())
    assert info.value.reason == R.SYMMETRY_NOT_FOUND
    assert "inconsistent" in info.value.message


def test_scope_encode_many_keeps_going(tmp_path, monkeypatch) -> None:
    good = rocksalt()
    cif = tmp_path / "NaCl.cif"
    good.to(filename=str(cif))
    items = [
        good,
        Structure(Lattice.cubic(3.6), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]]),
        str(cif),
        tmp_path / "missing.cif",
        bulk("Cu", "fcc", a=3.61),
        "not a path at all",
    ]
    results, rejects = encode_many(items, ids=["a", "b", "c", "d", "e", "f"])
    assert [i for i, _ in results] == ["a", "c", "e"]
    assert results[0][1] == results[1][1]
    assert results[2][1].to_string() == "225 cF m-3m | Cu 4a | Cu 1"
    assert [(r.id, r.stage, r.reason) for r in rejects] == [
        ("b", "scope", "disordered"),
        ("d", "scope", "unreadable_file"),
        ("f", "scope", "unreadable_file"),
    ]
    assert all(isinstance(r, Reject) and r.message for r in rejects)
    # default ids: the path for paths, else the position
    results, rejects = encode_many([good, cif])
    assert [i for i, _ in results] == ["0", str(cif)]
    with pytest.raises(ValueError):
        encode_many([good], ids=["x", "y"])

    # an unexpected exception inside the encoder becomes an internal_error reject, the batch goes on
    def boom(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr("cloud_core.scope.encoder.find_symmetry", boom)
    results, rejects = encode_many([good, good])
    assert results == [] and [r.reason for r in rejects] == ["internal_error", "internal_error"]


def test_scope_reads_cif_poscar_and_ase(tmp_path) -> None:
    s = rocksalt()
    expected = "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1"
    s.to(filename=str(tmp_path / "NaCl.cif"))
    s.to(filename=str(tmp_path / "POSCAR"))
    assert encode(tmp_path / "NaCl.cif").to_string() == expected
    assert encode(str(tmp_path / "POSCAR")).to_string() == expected
    assert encode(bulk("NaCl", "rocksalt", a=5.64)).to_string() == expected
    assert encode(bulk("NaCl", "rocksalt", a=5.64, cubic=True)).n_sites == 2


def test_scope_cli_encode(tmp_path) -> None:
    cif = tmp_path / "NaCl.cif"
    rocksalt().to(filename=str(cif))
    junk = tmp_path / "junk.txt"
    junk.write_text("nothing\n")
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = cli_main(["encode", str(cif), str(junk), "--symprec", "0.01"])
    assert code == 0
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert lines[0] == {
        "id": str(cif),
        "scope": "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1",
        "spacegroup": 225,
        "n_sites": 2,
        "symprec": 0.01,
        "backend": "moyopy",
    }
    assert lines[1]["id"] == str(junk) and lines[1]["error"]["reason"] == "unreadable_file"
    assert lines[1]["error"]["message"]
    with pytest.raises(SystemExit) as info:  # usage errors: no path, bad tolerance
        cli_main(["encode"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli_main(["encode", str(cif), "--symprec", "-1"])
    assert info.value.code == 2


def test_scope_oxidation_states_and_ordered_occupancy_are_fine() -> None:
    plain = rocksalt()
    decorated = plain.copy()
    decorated.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
    assert encode(decorated) == encode(plain)
    nearly_one = Structure(plain.lattice, [{"Na": 1.0 - 1e-9}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert encode(nearly_one).to_string() == "221 cP m-3m | Na 1a Cl 1b | Na 1 Cl 1"
