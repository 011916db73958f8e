"""The phonon reference set: the phonon stage over real inorganic structures that installed packages ship.

Sources (all offline): pymatgen's AFLOW prototypes (``pymatgen/analysis/prototypes/aflow_prototypes.json.gz``),
pymatgen's test structures (``pymatgen/util/structures``), pyxtal's inorganic CIFs/POSCARs
(``pyxtal/database/cifs``), ASE's ``dcdft`` elemental crystals. Kept: ordered, inorganic (not C with H),
Z <= 94, no noble gases or diatomic molecular solids, <= ``max_sites`` primitive sites; duplicates by (reduced
formula, space group) keep the first source in that priority (ASE, pymatgen, pyxtal, AFLOW). The candidates are
ordered by an estimated cost (supercell atoms x displacements + relaxation), then id, and the first ``limit``
are computed: the set is deterministic for a given ``limit``.

The builder appends every finished structure to a JSON-lines cache, so a killed build resumes where it stopped;
the committed Parquet and its PROVENANCE.md are written at the end.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pymatgen.core import Structure

from screening.phonons.stage import PhononSettings, default_temperatures, run_phonon_stage
from screening.phonons.table import result_to_row, rows_to_table

REFERENCE_FILE = "phonon_reference.parquet"
REJECTS_FILE = "phonon_reference_rejects.parquet"
DEFAULT_LIMIT = 120
DEFAULT_MAX_SITES = 20
_NOBLE = {"He", "Ne", "Ar", "Kr", "Xe", "Rn"}
_MOLECULAR = {"H", "N", "O", "F", "Cl", "Br", "I"}  # elemental solids made of diatomic molecules
_SOURCE_PRIORITY = ("ase-dcdft", "pymatgen-test", "pyxtal", "aflow-prototype")


@dataclass(frozen=True)
class ReferenceCandidate:
    """One structure of the reference pool."""

    id: str
    source: str
    structure: Structure
    n_sites: int
    spacegroup: int
    est_cost: float


def _raw_structures() -> list[tuple[str, str, Structure]]:
    """(id, source, structure) from every bundled source, in a fixed order."""
    import ase
    import pymatgen.analysis.prototypes as protos
    import pymatgen.util
    import pyxtal
    from ase.db import connect
    from pymatgen.io.ase import AseAtomsAdaptor

    out: list[tuple[str, str, Structure]] = []
    db = connect(os.path.join(os.path.dirname(ase.__file__), "collections", "dcdft.json"))
    for row in db.select():
        out.append((f"dcdft:{row.formula}", "ase-dcdft", AseAtomsAdaptor.get_structure(row.toatoms())))
    for path in sorted(glob.glob(os.path.join(pymatgen.util.__path__[0], "structures", "*.json"))):
        name = os.path.basename(path)[:-5]
        out.append((f"pmg:{name}", "pymatgen-test", Structure.from_file(path)))
    for path in sorted(glob.glob(os.path.join(os.path.dirname(pyxtal.__file__), "database", "cifs", "*"))):
        if path.endswith((".cif", ".vasp")):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out.append((f"pyxtal:{os.path.basename(path)}", "pyxtal", Structure.from_file(path)))
            except Exception:  # a CIF pymatgen cannot read is not part of the pool
                continue
    with gzip.open(os.path.join(os.path.dirname(protos.__file__), "aflow_prototypes.json.gz"), "rt") as fh:
        for entry in json.load(fh):
            st = Structure.from_dict(entry["snl"])
            # one AFLOW label can name several prototypes (A_hR1_166_a: alpha-Po and alpha-Hg)
            out.append((f"aflow:{entry['tags']['aflow']}:{st.composition.reduced_formula}", "aflow-prototype", st))
    seen: dict[str, int] = {}
    unique = []
    for sid, source, st in out:
        seen[sid] = seen.get(sid, 0) + 1
        unique.append((sid if seen[sid] == 1 else f"{sid}#{seen[sid]}", source, st))
    return unique


def estimate_cost(structure: Structure, settings: PhononSettings) -> float:
    """Rough cost in atom-evaluations: relaxation (~40 steps on the cell) + displaced supercells x their atoms."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    from screening.phonons.stage import supercell_multiples

    mult = supercell_multiples(structure, settings.supercell_min_length)
    unit = PhonopyAtoms(
        symbols=[s.specie.symbol for s in structure],
        cell=structure.lattice.matrix,
        scaled_positions=structure.frac_coords,
        masses=[float(s.specie.atomic_mass) for s in structure],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = Phonopy(unit, supercell_matrix=np.diag(mult), primitive_matrix="P", symprec=settings.symprec)
        ph.generate_displacements(distance=settings.displacement)
    n_disp = len(ph.supercells_with_displacements)
    return float(40 * len(structure) * 4 + n_disp * len(ph.supercell))


def reference_candidates(
    *, max_sites: int = DEFAULT_MAX_SITES, settings: PhononSettings | None = None
) -> list[ReferenceCandidate]:
    """The filtered, de-duplicated pool, ordered by (estimated cost, id)."""
    import spglib

    settings = settings or PhononSettings()
    seen: dict[tuple[str, int], str] = {}
    picked: list[ReferenceCandidate] = []
    raw = sorted(_raw_structures(), key=lambda r: _SOURCE_PRIORITY.index(r[1]))  # stable: keeps order within
    for sid, source, s in raw:
        if not s.is_ordered:
            continue
        els = {e.symbol for e in s.composition.elements}
        if ("C" in els and "H" in els) or els & _NOBLE or (len(els) == 1 and els <= _MOLECULAR):
            continue
        if any(e.Z > 94 for e in s.composition.elements):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prim = s.get_primitive_structure(tolerance=0.05).get_reduced_structure()
        if len(prim) > max_sites:
            continue
        cell = (prim.lattice.matrix, prim.frac_coords, [site.specie.Z for site in prim])
        ds = spglib.get_symmetry_dataset(cell, symprec=settings.symprec)
        sg = int(ds.number) if ds is not None else 0
        key = (prim.composition.reduced_formula, sg)
        if key in seen:
            continue
        seen[key] = sid
        picked.append(ReferenceCandidate(sid, source, prim, len(prim), sg, estimate_cost(prim, settings)))
    picked.sort(key=lambda c: (c.est_cost, c.id))
    return picked


def _cached_pool(
    path: Path, max_sites: int, settings: PhononSettings, log: Callable[[str], None]
) -> list[ReferenceCandidate]:
    """The candidate pool, enumerated once (minutes on a busy 2-core machine) and kept next to the cache."""
    if path.exists():
        try:
            data = json.loads(path.read_text())
            return [
                ReferenceCandidate(
                    d["id"],
                    d["source"],
                    Structure.from_dict(d["structure"]),
                    d["n_sites"],
                    d["spacegroup"],
                    d["est_cost"],
                )
                for d in data
            ]
        except (json.JSONDecodeError, KeyError, TypeError):
            log(f"ignoring unreadable pool cache {path}")
    log("enumerating the candidate pool (symmetry + displacement count of every bundled structure)")
    pool = reference_candidates(max_sites=max_sites, settings=settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            [
                {
                    "id": c.id,
                    "source": c.source,
                    "structure": c.structure.as_dict(),
                    "n_sites": c.n_sites,
                    "spacegroup": c.spacegroup,
                    "est_cost": c.est_cost,
                }
                for c in pool
            ]
        )
    )
    tmp.replace(path)
    return pool


def settings_hash(settings: PhononSettings, temperatures: np.ndarray) -> str:
    """Short hash of everything that changes the numbers (a cache made with other settings is not reused)."""
    blob = json.dumps({"s": asdict(settings), "t": [float(t) for t in temperatures]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    with path.open() as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: that structure is simply recomputed
                continue
    return rows


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def build_reference(
    out_dir: Path,
    *,
    cache_dir: Path,
    limit: int | None = DEFAULT_LIMIT,
    max_sites: int = DEFAULT_MAX_SITES,
    settings: PhononSettings | None = None,
    torch_threads: int | None = 1,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[Path, int, int]:
    """Build (or resume) the reference set and write ``out_dir/phonon_reference.parquet`` + PROVENANCE.md.

    Parameters
    ----------
    out_dir
        Where the Parquet files and PROVENANCE.md go (``data/phonon_reference``).
    cache_dir
        Where finished structures are appended as JSON lines (resume after a kill).
    limit
        Compute the ``limit`` cheapest candidates (``None``: all).
    max_sites
        Largest primitive cell in the pool.
    workers
        Worker processes (each loads CHGNet once; this process alone writes the cache).

    Returns
    -------
    (parquet path, number of results, number of rejects)
    """
    settings = settings or PhononSettings(max_sites=max_sites)
    temps = default_temperatures()
    t_start = time.time()
    tag = settings_hash(settings, temps)
    cache_dir.mkdir(parents=True, exist_ok=True)
    pool_key = f"{max_sites}-{settings.symprec:g}-{settings.supercell_min_length:g}"
    pool = _cached_pool(cache_dir / f"pool-{pool_key}.json", max_sites, settings, log)
    chosen = pool if limit is None else pool[: max(0, int(limit))]
    log(f"pool: {len(pool)} candidates <= {max_sites} sites; computing {len(chosen)}")

    res_path, rej_path = cache_dir / f"results-{tag}.jsonl", cache_dir / f"rejects-{tag}.jsonl"
    done = {r["id"]: r for r in _read_jsonl(res_path)}
    rejected = {r["id"]: r for r in _read_jsonl(rej_path)}
    todo = [c for c in chosen if c.id not in done and c.id not in rejected]
    if len(todo) < len(chosen):
        log(f"resuming: {len(chosen) - len(todo)} already in {cache_dir}")
    src = {c.id: c.source for c in chosen}
    cpu0 = time.process_time()
    t_work = time.time()

    def record(
        i: int, cand: ReferenceCandidate, seconds: float, rows: list[dict], rejects: list[dict]
    ) -> None:
        msg = ""
        for row in rows:
            row["source"] = src[row["id"]]
            _append_jsonl(res_path, row)
            done[row["id"]] = row
            msg = f"theta={row['debye_theta_fit_K']} K stable={row['dynamically_stable']}"
        for j in rejects:
            _append_jsonl(rej_path, j)
            rejected[j["id"]] = j
            msg = f"REJECT {j['reason']}: {j['message']}"
        log(f"[{i}/{len(todo)}] {cand.id} ({cand.n_sites} sites) {seconds:.1f}s {msg}")

    if workers <= 1:
        for i, cand in enumerate(todo, start=1):
            t0 = time.time()
            rows, rejs = _compute_one(cand.id, cand.structure.as_dict(), settings, temps, torch_threads)
            record(i, cand, time.time() - t0, rows, rejs)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # workers compute, this process is the only writer of the cache
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = {
                ex.submit(_compute_one, c.id, c.structure.as_dict(), settings, temps, torch_threads): (
                    c,
                    time.time(),
                )
                for c in todo
            }
            for i, fut in enumerate(as_completed(futs), start=1):
                cand, _ = futs[fut]
                rows, rejs = fut.result()
                record(i, cand, rows[0]["seconds"] if rows else 0.0, rows, rejs)
    cpu_children = _children_cpu()
    log(f"computed {len(todo)} in {time.time() - t_work:.0f}s wall")

    ids = [c.id for c in chosen]
    rows = [_refit(done[i]) for i in ids if i in done]
    rej_rows = [rejected[i] for i in ids if i in rejected]
    out_dir.mkdir(parents=True, exist_ok=True)
    table = rows_to_table(rows)
    path = out_dir / REFERENCE_FILE
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    rej_table = pa.Table.from_pylist(
        rej_rows,
        schema=pa.schema([(k, pa.string()) for k in ("id", "stage", "reason", "message")]),
    )
    pq.write_table(rej_table, out_dir / REJECTS_FILE, compression="zstd")
    _write_provenance(
        out_dir,
        settings,
        temps,
        pool,
        chosen,
        rows,
        rej_rows,
        limit,
        max_sites,
        tag,
        time.time() - t_start,
        time.process_time() - cpu0 + cpu_children,
        workers,
    )
    log(f"wrote {path} ({len(rows)} structures, {len(rej_rows)} rejects)")
    return path, len(rows), len(rej_rows)


def _compute_one(
    sid: str,
    structure: dict[str, Any],
    settings: PhononSettings,
    temps: np.ndarray,
    torch_threads: int | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One structure through the stage, as cache rows (runs in a worker process or in-process)."""
    results, rejects = run_phonon_stage(
        [(sid, Structure.from_dict(structure))],
        settings=settings,
        temperatures=temps,
        torch_threads=torch_threads,
    )
    return [result_to_row(r) for r in results], [j.to_dict() for j in rejects]


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(ru.ru_utime + ru.ru_stime)


def _refit(row: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the Debye fit from the stored curve (the fit can improve without recomputing phonons)."""
    from screening.phonons.debye_fit import fit_debye_temperature

    row = dict(row)
    try:
        fit = fit_debye_temperature(np.asarray(row["temperatures_K"]), np.asarray(row["cv_J_per_molatom_K"]))
        row["debye_theta_fit_K"], row["debye_fit_rmse_J_per_molatom_K"] = fit.theta, fit.rmse
    except ValueError:
        row["debye_theta_fit_K"] = row["debye_fit_rmse_J_per_molatom_K"] = None
    return row


def _write_provenance(
    out_dir: Path,
    settings: PhononSettings,
    temps: np.ndarray,
    pool: list[ReferenceCandidate],
    chosen: list[ReferenceCandidate],
    rows: list[dict[str, Any]],
    rejects: list[dict[str, Any]],
    limit: int | None,
    max_sites: int,
    tag: str,
    wall_s: float,
    cpu_s: float,
    workers: int,
) -> None:
    import chgnet
    import phonopy
    import pymatgen.core
    import torch

    by_source: dict[str, int] = {}
    for r in rows:
        by_source[r["source"]] = by_source.get(r["source"], 0) + 1
    n_unstable = sum(not r["dynamically_stable"] for r in rows)
    pot_version = rows[0]["potential_version"] if rows else "n/a"
    lines = [
        "# Phonon reference set",
        "",
        "Harmonic phonon thermodynamics from a universal interatomic potential, written by",
        "`cloud build-phonon-reference` (`screening.phonons.reference.build_reference`). Do not edit by hand.",
        "",
        "## How it was made",
        f"- Potential: CHGNet `{settings.model_name}` loaded from the chgnet wheel ({pot_version}); torch {torch.__version__}.",
        f"- Relaxation: FIRE with the cell (UnitCellFilter) under ASE FixSymmetry (symprec {settings.symprec} A), "
        f"fmax {settings.fmax} eV/A, at most {settings.max_relax_steps} steps; not converged = reject.",
        f"- Phonons: phonopy {phonopy.__version__}, finite displacements of {settings.displacement} A, diagonal "
        f"supercell of the primitive cell with every lattice vector >= {settings.supercell_min_length} A (each row "
        f"records its `supercell_matrix`), all displaced supercells of a structure in one CHGNet batch, "
        f"symmetrised force constants, Gamma-centred q-mesh of length {settings.mesh_length} A (row `mesh`), "
        f"symprec {settings.symprec}.",
        f"- Thermodynamics per mole of atoms (phonopy's per mole of cells divided by the atoms of the primitive "
        f"cell): Cv, S in J/(mol K); U (zero-point included) and F in J/mol; T = {temps[0]:g}..{temps[-1]:g} K "
        f"step {temps[1] - temps[0]:g} K.",
        f"- Stability: a mesh frequency below -{settings.imaginary_tolerance_thz} THz flags `dynamically_stable = "
        f"false` (thermodynamics then sum the real modes only).",
        "- `debye_theta_fit_K`: the Debye temperature whose Debye Cv (`cloud_core.debye.debye_cv`) best fits the "
        "phonon Cv over 20-300 K (least squares).",
        "",
        "## What is in it",
        f"- Pool: {len(pool)} ordered inorganic structures with <= {max_sites} primitive sites from ASE dcdft "
        "elemental crystals, pymatgen test structures, pyxtal's CIFs and pymatgen's AFLOW prototypes (no C+H "
        "molecular crystals, noble gases or diatomic molecular solids; duplicates by reduced formula + space group "
        "removed).",
        f"- Computed: the {len(chosen)} cheapest by estimated cost (limit={limit}), ordered by (cost, id); "
        f"{len(rows)} results ({n_unstable} flagged dynamically unstable), {len(rejects)} rejects "
        f"(`{REJECTS_FILE}`).",
        "- Results by source: " + ", ".join(f"{k} {v}" for k, v in sorted(by_source.items())) + ".",
        f"- Last build run: {wall_s / 60:.1f} min wall, {cpu_s / 60:.1f} min CPU ({workers} worker process(es), one "
        f"torch thread each) on a shared 2-core CPU, no GPU (cache tag {tag}; a resumed run counts only its own "
        f"work); pymatgen {pymatgen.core.__version__}, chgnet {chgnet.__version__}.",
        f"- Per-structure stage wall times (column `seconds`, measured in the worker while the machine was shared): "
        f"sum {sum(r['seconds'] for r in rows) / 60:.1f} min, median {float(np.median([r['seconds'] for r in rows])) if rows else 0:.1f} s.",
        "",
        "## Rebuild",
        "```",
        f"nice -n 10 cloud build-phonon-reference --limit {limit if limit is not None else 0} --max-sites {max_sites} "
        f"--workers {workers}",
        "```",
        "",
    ]
    (out_dir / "PROVENANCE.md").write_text("\n".join(lines))
