"""Test kit for campaign tests: a small pool of real crystals and a tiny, untrained but real CLOUD checkpoint.

Nothing here is shipped: the pool is built from pymatgen prototypes with many element choices, the checkpoint
from the model package's own API (random weights, fixed seed), so the numbers are deterministic.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from screening.sources.candidate import CANDIDATE_SCHEMA

_FCC = [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
_SC = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
_PROTOS = {
    # name: (lattice vectors in units of a, a, fractional coordinates per species slot); primitive cells
    "rocksalt": (_FCC, 5.6, [[[0, 0, 0]], [[0.5, 0.5, 0.5]]]),
    "cscl": (_SC, 4.1, [[[0, 0, 0]], [[0.5, 0.5, 0.5]]]),
    "zincblende": (_FCC, 5.4, [[[0, 0, 0]], [[0.25, 0.25, 0.25]]]),
    "fluorite": (_FCC, 5.5, [[[0, 0, 0]], [[0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]]),
    "perovskite": (_SC, 3.9, [[[0, 0, 0]], [[0.5, 0.5, 0.5]], [[0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]]),
}
_CATIONS = ["Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Sr", "Ba", "Zn", "Cd", "Al", "Ga", "In", "Sc", "Y"]
_ANIONS = ["O", "S", "Se", "Te", "F", "Cl", "Br", "I", "N", "P"]
_B = ["Ti", "Zr", "Nb", "Ta"]


def pool_rows(n: int) -> list[dict]:
    """``n`` distinct candidates (structures as pymatgen JSON), cycling through prototypes and elements."""
    from pymatgen.core import Lattice, Structure

    rows = []
    seen = set()
    for (name, (vecs, a, slots)), cat, an, b in itertools.product(_PROTOS.items(), _CATIONS, _ANIONS, _B):
        elements = [cat, an] if len(slots) == 2 else [cat, b, an]
        if (name, tuple(elements)) in seen:
            continue
        seen.add((name, tuple(elements)))
        species = [el for el, sites in zip(elements, slots, strict=True) for _ in sites]
        coords = [xyz for sites in slots for xyz in sites]
        s = Structure(Lattice([[a * x for x in v] for v in vecs]), species, coords)
        rows.append(
            {
                "candidate_id": f"t-{len(rows):05d}",
                "source": "testkit",
                "formula": s.composition.reduced_formula,
                "structure_json": json.dumps(s.as_dict()),
                "meta_json": None,
            }
        )
        if len(rows) >= n:
            break
    return rows


def write_pool(path: Path, n: int, *, bad: bool = True) -> Path:
    """A candidate pool Parquet with ``n`` good candidates, plus (``bad``) a corrupt one and a formula-only one."""
    rows = pool_rows(n)
    if bad:
        rows.insert(3, {"candidate_id": "t-corrupt", "source": "testkit", "formula": "NaCl",
                        "structure_json": "{\"not\": \"a structure\"}", "meta_json": None})  # fmt: skip
        rows.insert(7, {"candidate_id": "t-formula", "source": "testkit", "formula": "Fe2O3",
                        "structure_json": None, "meta_json": None})  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA), path)
    return path


def write_tiny_checkpoint(path: Path, seed: int = 0) -> str:
    """A tiny real CLOUD checkpoint (random weights, fixed seed) with two regression targets and, when the
    Debye layer is installed, a Debye head. Returns its model id."""
    import torch

    from cloud_core.model import (
        CloudModel,
        HeadSpec,
        ModelConfig,
        TargetSpec,
        get_vocabulary,
        save_checkpoint,
    )

    heads = [HeadSpec("e_form"), HeadSpec("band_gap")]
    targets = [
        TargetSpec("e_form", mean=-1.0, std=0.5, unit="eV/atom"),
        TargetSpec("band_gap", mean=1.0, std=1.0),
    ]
    try:
        import cloud_core.debye  # noqa: F401  (registers the "debye" head kind)
        from cloud_core.model import HEAD_BUILDERS

        if "debye" in HEAD_BUILDERS:
            heads.append(HeadSpec("theta", kind="debye"))
            targets.append(TargetSpec("theta", kind="debye"))
    except ImportError:
        pass
    torch.manual_seed(seed)
    cfg = ModelConfig.from_size("tiny", len(get_vocabulary()), n_layers=1, d_model=32, n_heads=2, d_ff=64,
                                max_len=128, heads=heads)  # fmt: skip
    return save_checkpoint(path, CloudModel(cfg).eval(), targets=targets)
