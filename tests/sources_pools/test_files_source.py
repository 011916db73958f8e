from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ase.io import write as ase_write
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.cif import CifWriter

from screening.sources.candidate import candidates_to_table
from screening.sources.files import FileRejectReason, FileSource, file_format

FORMATS = ("cif", "poscar", "extxyz", "json")
BROKEN = {
    "cif": "data_broken\n_cell_length_a 3.0\n_cell_length_b\nloop_\n_atom_site_label\n_atom_site_fract_x\nNa 0.0 0.5\n",
    "poscar": "not a poscar\n1.0\nthree numbers expected here\n",
    "extxyz": '2\nLattice="3 0 0 0 3 0" Properties=species:S:1:pos:R:3\nNa 0 0 0\n',
    "json": '{"lattice": {"matrix": [[3, 0, 0], [0, 3, 0]]}, "sites": [',
}


def _structure(i: int) -> Structure:
    a = 3.5 + 0.001 * i
    el = ["Na", "K", "Mg", "Ca"][i % 4]
    return Structure(Lattice.cubic(a), [el, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _write(path, fmt: str, s: Structure) -> None:
    if fmt == "cif":
        CifWriter(s).write_file(path)
    elif fmt == "poscar":
        s.to(filename=str(path), fmt="poscar")
    elif fmt == "extxyz":
        ase_write(path, AseAtomsAdaptor.get_atoms(s), format="extxyz")
    else:
        path.write_text(json.dumps(s.as_dict()))


def test_thousand_files_with_five_percent_broken(tmp_path):
    expected_broken = set()
    for i in range(1000):
        fmt = FORMATS[i % 4]
        name = {"cif": f"s{i:04d}.cif", "poscar": f"s{i:04d}.vasp", "extxyz": f"s{i:04d}.extxyz"}.get(
            fmt, f"s{i:04d}.json"
        )
        sub = tmp_path / f"d{i % 3}"
        sub.mkdir(exist_ok=True)
        path = sub / name
        if i % 20 == 7:  # 50 broken files, spread over every format
            if i % 100 == 47:
                path.write_text("")  # empty file
            else:
                path.write_text(BROKEN[fmt])
            expected_broken.add(f"d{i % 3}/{name}")
        else:
            _write(path, fmt, _structure(i))
    (tmp_path / "README.txt").write_text("not a structure")  # skipped, not rejected
    source = FileSource(tmp_path, batch_size=128)
    batches = list(source.batches())
    cands = [c for b, _ in batches for c in b]
    rejects = [r for _, rs in batches for r in rs]
    assert len(cands) == 950 and len(rejects) == 50
    assert all(len(b) <= 128 for b, _ in batches)
    assert {r.id for r in rejects} == expected_broken
    assert all(r.stage == "read" and r.reason in set(FileRejectReason) and r.message for r in rejects)
    assert Counter(r.reason for r in rejects)["empty"] == 10
    assert len({c.id for c in cands}) == 950
    assert [p.name for p in source.skipped] == ["README.txt"]
    by_id = {c.id: c for c in cands}
    c = by_id["d1/s0001.vasp"]
    assert c.source == "files" and c.formula == "KCl"
    assert abs(c.structure.lattice.a - 3.501) < 1e-6


def test_jsonl_parquet_and_multi_structure_files(tmp_path):
    s1, s2 = _structure(0), _structure(1)
    lines = [
        json.dumps(s1.as_dict()),
        "{broken",
        json.dumps({"material_id": "mp-1", "structure": s2.as_dict()}),
        json.dumps({"id": "x", "foo": 1}),
        "",
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(lines))
    # two data blocks in one CIF, two frames in one extxyz
    (tmp_path / "two.cif").write_text(
        str(CifWriter(s1)) + "\n" + str(CifWriter(s2)).replace("data_", "data_b", 1)
    )
    ase_write(tmp_path / "two.extxyz", [AseAtomsAdaptor.get_atoms(s) for s in (s1, s2)], format="extxyz")
    from screening.sources.candidate import Candidate

    table = candidates_to_table([Candidate("c1", "mp", s1), Candidate("c2", "mp", formula="Fe2O3")])
    pq.write_table(table, tmp_path / "cands.parquet")
    pq.write_table(
        pa.table({"name": ["n1"], "structure": [json.dumps(s2.as_dict())]}), tmp_path / "plain.parquet"
    )
    cands, rejects = FileSource(tmp_path).read_all()
    ids = sorted(c.id for c in cands)
    assert ids == sorted(
        [
            "a.jsonl:1",
            "mp-1",
            "two.cif#0",
            "two.cif#1",
            "two.extxyz#0",
            "two.extxyz#1",
            "c1",
            "c2",
            "plain.parquet#0",
        ]
    )
    assert sorted((r.id, r.reason) for r in rejects) == [("a.jsonl:2", "bad_json"), ("x", "no_structure")]
    by_id = {c.id: c for c in cands}
    assert by_id["c2"].structure is None and by_id["c2"].formula == "Fe2O3"
    assert by_id["mp-1"].structure == s2


def test_single_files_and_errors(tmp_path):
    p = tmp_path / "POSCAR"
    _write(p, "poscar", _structure(2))
    cands, rejects = FileSource(p).read_all()
    assert [c.id for c in cands] == ["POSCAR"] and not rejects
    other = tmp_path / "notes.md"
    other.write_text("hi")
    cands, rejects = FileSource(other).read_all()
    assert not cands and rejects[0].reason == "unsupported_format"
    with pytest.raises(FileNotFoundError):
        FileSource(tmp_path / "missing")
    assert file_format(tmp_path / "CONTCAR_relaxed") == "poscar"
    assert file_format(tmp_path / "x.XYZ") == "extxyz"
