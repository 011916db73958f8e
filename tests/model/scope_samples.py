"""Valid SCOPE strings for model tests (random symmetry and orbits; canonical, formula from the orbits)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cloud_core.model.vocab import _wyckoff_table

_GROUPS = {225: ("cF", "m-3m"), 221: ("cP", "m-3m"), 194: ("hP", "6/mmm"), 62: ("oP", "mmm"), 14: ("mP", "2/m"),
           166: ("hR", "-3m"), 139: ("tI", "4/mmm"), 1: ("aP", "1"), 2: ("aP", "-1"), 12: ("mS", "2/m")}  # fmt: skip
_ELEMENTS = ["Li", "Na", "K", "Mg", "Ca", "Ti", "Fe", "Ni", "Cu", "Zn", "Al", "Si", "N", "O", "S", "F", "Cl"]


def random_scopes(n: int, seed: int = 0, unknown_fraction: float = 0.2) -> list[str]:
    """``n`` random SCOPE strings that pass the validator (canonical, formula from the orbits)."""
    from cloud_core.scope import ScopeRecord, canonical_orbits
    from cloud_core.scope.formula import reduced_stoichiometry
    from cloud_core.scope.tables import space_group

    rng = np.random.default_rng(seed)
    table = _wyckoff_table()
    out = []
    groups = sorted(_GROUPS)
    for _ in range(n):
        els = list(rng.choice(_ELEMENTS, size=int(rng.integers(1, 4)), replace=False))
        counts = [int(c) for c in rng.integers(1, 13, size=len(els))]
        if rng.random() < unknown_fraction:
            stoich = reduced_stoichiometry(dict(zip(els, counts, strict=True)))
            out.append(ScopeRecord(None, (), stoich, None).to_string())
            continue
        sg = int(rng.choice(groups))
        info = space_group(sg)
        letters = sorted(table[sg])
        orbits: list[tuple[str, str]] = []
        for e in els:
            for _ in range(int(rng.integers(1, 3))):
                letter = letters[int(rng.integers(0, min(len(letters), 4)))]
                if letter in info.fixed and any(letter == used for _e, used in orbits):
                    letter = max(letters, key=table[sg].__getitem__)  # the general position is free
                orbits.append((e, letter))
        mult: dict[str, int] = {}
        for e, letter in orbits:
            mult[e] = mult.get(e, 0) + table[sg][letter]
        n_sites = sum(mult.values()) // info.centering_order
        record = ScopeRecord(sg, canonical_orbits(sg, orbits), reduced_stoichiometry(mult), n_sites)
        out.append(record.to_string())
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
