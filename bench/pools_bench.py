"""Throughput of the generated pools, the pre-training corpus generator and the files source.

Run: ``python bench/pools_bench.py`` (prints a table, writes ``bench/results/pools_bench.json``). Single process;
the machine's load average is recorded because the numbers scale with the CPU left over.
"""

from __future__ import annotations

import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "pools_bench.json"


def _time(fn) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn()
    return time.perf_counter() - t, n


def main() -> None:
    from screening.corpora.pretrain import CorpusGenerator, PretrainConfig, prototype_skeletons
    from screening.sources.files import FileSource
    from screening.sources.prototype_pool import PrototypePool, load_prototypes, prototype_orbits
    from screening.sources.pyxtal_pool import PyxtalPool

    rows = []

    def add(name: str, seconds: float, n: int, unit: str) -> None:
        rows.append(
            {
                "what": name,
                "n": n,
                "seconds": round(seconds, 2),
                "per_second": round(n / seconds, 1),
                "unit": unit,
            }
        )

    s, _ = _time(lambda: len(load_prototypes()))
    add("load 288 AFLOW prototypes", s, 288, "prototypes")
    s, _ = _time(lambda: len(prototype_orbits(0.01)))
    add("prototype orbit table (one-off, 3 scales)", s, 288, "prototypes")
    s, n = _time(lambda: sum(len(b) for b in PrototypePool(3000, 1, max_sites=40, dedup="scope")))
    add("prototype pool, SCOPE dedup", s, n, "candidates")
    s, n = _time(lambda: sum(len(b) for b in PrototypePool(3000, 1, max_sites=40, dedup="key")))
    add("prototype pool, key dedup", s, n, "candidates")
    s, n = _time(lambda: sum(len(b) for b in PyxtalPool(15, 1, max_sites=40)))
    add("pyxtal pool (<= 40 sites)", s, n, "candidates")
    prototype_skeletons()
    gen = CorpusGenerator(PretrainConfig(), random.Random(0), [], set())
    s, n = _time(lambda: len([gen.row() for _ in range(20_000)]))
    add("pre-training corpus rows (no real)", s, n, "strings")

    from pymatgen.core import Lattice, Structure

    with tempfile.TemporaryDirectory() as tmp:
        st = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        for i in range(300):
            st.to(filename=str(Path(tmp) / (f"s{i}.cif" if i % 2 else f"s{i}.vasp")))
        s, n = _time(lambda: len(FileSource(tmp).read_all()[0]))
        add("files source (CIF + POSCAR)", s, n, "files")

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_1min": os.getloadavg()[0],
        },
        "rows": rows,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'what':45s} {'n':>7s} {'s':>8s} {'per s':>9s}")
    for r in rows:
        print(f"{r['what']:45s} {r['n']:7d} {r['seconds']:8.2f} {r['per_second']:9.1f} {r['unit']}")
    print(
        f"load average {result['machine']['loadavg_1min']:.1f} on {result['machine']['cpus']} CPUs -> {OUT}"
    )


if __name__ == "__main__":
    main()
