"""Grammar-valid SCOPE strings for model tests (random symmetry, orbits and stoichiometry)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cloud_core.model.vocab import _wyckoff_table

_GROUPS = {225: ("cF", "m-3m"), 221: ("cP", "m-3m"), 194: ("hP", "6/mmm"), 62: ("oP", "mmm"), 14: ("mP", "2/m"),
           166: ("hR", "-3m"), 139: ("tI", "4/mmm"), 1: ("aP", "1"), 2: ("aP", "-1"), 12: ("mS", "2/m")}  # fmt: skip
_ELEMENTS = ["Li", "Na", "K", "Mg", "Ca", "Ti", "Fe", "Ni", "Cu", "Zn", "Al", "Si", "N", "O", "S", "F", "Cl"]


def random_scopes(n: int, seed: int = 0, unknown_fraction: float = 0.2) -> list[str]:
    rng = np.random.default_rng(seed)
    table = _wyckoff_table()
    out = []
    groups = sorted(_GROUPS)
    for _ in range(n):
        els = list(rng.choice(_ELEMENTS, size=int(rng.integers(1, 4)), replace=False))
        counts = [int(c) for c in rng.integers(1, 13, size=len(els))]
        stoich = " ".join(f"{e} {' '.join(str(c))}" for e, c in zip(els, counts, strict=True))
        if rng.random() < unknown_fraction:
            out.append(f"? | - | {stoich}")
            continue
        sg = int(rng.choice(groups))
        letters = sorted(table[sg])
        orbits = []
        for e in els:
            for _ in range(int(rng.integers(1, 3))):
                letter = letters[int(rng.integers(0, min(len(letters), 4)))]
                orbits.append(f"{e} {table[sg][letter]}{letter}")
        bl, pg = _GROUPS[sg]
        out.append(f"{sg} {bl} {pg} | {' '.join(orbits)} | {stoich}")
    return out


def write_shards(directory, n_shards: int, rows: int, row_group: int, seed: int = 0) -> list[str]:
    """Write ``n_shards`` Parquet files of ``rows`` SCOPE strings each (row groups of ``row_group``)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_shards):
        scopes = random_scopes(rows, seed=seed * 1000 + i)
        path = directory / f"shard-{i:03d}.parquet"
        pq.write_table(pa.table({"scope": scopes}), path, row_group_size=row_group)
        paths.append(str(path))
    return paths
