"""Committed physical check sets for a CLOUD checkpoint (issue 12), built from structures that installed packages
ship, and the CHGNet energies that order the polymorph pairs.

Outputs (``data/checks/``, each with a provenance sidecar rendered into ``PROVENANCE.md``):

===============================  ==================================================================================
``famous_crystals.parquet``      well-known metals (expected band gap < 0.2 eV) and wide-gap insulators (PBE gap
                                 > 3 eV; expected > 1.5 eV), full-structure SCOPE strings, reference gap from the
                                 ``mp_gap`` labels where the formula has one
``elements.parquet``             the elemental ground states of ASE's DCDFT (Delta test) set; expected e_form = 0
``polymorph_structures.parquet`` every structure of the polymorph pairs, relaxed with CHGNet under its symmetry
``polymorph_pairs.parquet``      pairs of polymorphs of one formula, the lower-energy member and dE (eV/atom)
``held_out_formulas.txt``        the held-out pairs' formulas (absent from every label set; keep them out of all
                                 training)
===============================  ==================================================================================

Structures come from ``ase.build.bulk`` (fcc, bcc, hcp, diamond, rocksalt, zincblende, wurtzite, fluorite,
cesiumchloride) with a lattice guess from pymatgen's atomic radii or molar volumes (the SCOPE string depends on the
symmetry only; the relaxation fixes the size), or from the shipped corpora (``data/corpora``) with species
substituted and the volume scaled by the ratio of summed atomic-radius cubes.

Energies: CHGNet (:func:`screening.phonons.potential.load_potential`), cell + positions relaxed by FIRE through a
``FrechetCellFilter`` under ``FixSymmetry`` (fmax 0.05 eV/A, 500-step cap). A relaxation that does not converge,
changes its SCOPE string or changes its volume per atom by more than a factor 3 is a reject with a reason, and its
pairs are dropped. A pair whose CHGNet ordering contradicts a known experimental ground state is dropped too (CHGNet
is the only energy source here; such a pair would be a wrong fact). Relaxations are appended to a JSON-lines cache
as they finish, so a killed build resumes where it stopped.

    python -m screening.evaluation.check_sets                  # everything (CHGNet part ~40 min on one thread)
    python -m screening.evaluation.check_sets --skip-chgnet    # the structure lists only
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from screening.corpora.provenance import package_versions, write_provenance_md, write_sidecar

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "data" / "checks"
CORPORA = ROOT / "data" / "corpora"
LABELS = ROOT / "data" / "labels"
DEFAULT_CACHE = ROOT / "runs" / "checks" / "chgnet_relaxations.jsonl"

NEAR_DEGENERATE_EV = 0.05
"""Pairs with |dE| below this (eV/atom) are 'near-degenerate' and scored separately."""
FMAX = 0.05
MAX_STEPS = 500
SYMPREC = 0.01
MAX_VOLUME_RATIO = 3.0

FAMILIES = ("fcc_bcc_hcp_metals", "diamond_vs_close_packed", "rocksalt_vs_zincblende_cscl", "wurtzite_vs_rocksalt",
            "oxides")  # fmt: skip
ASE_KINDS = (
    "fcc",
    "bcc",
    "hcp",
    "diamond",
    "rocksalt",
    "zincblende",
    "wurtzite",
    "fluorite",
    "cesiumchloride",
)

#: corpus structures used as prototypes: kind -> (corpus file stem, candidate id, original species in the order
#: of the substituted species)
CORPUS_KINDS: dict[str, tuple[str, str, tuple[tuple[str, ...], ...]]] = {
    "rutile": ("robocrys_minerals", "robocrys:A2B_tP6_136_f_a:Rutile", (("Ti",), ("O",))),
    "anatase": ("robocrys_minerals", "robocrys:A2B_tI12_141_e_a:Anatase", (("Ti",), ("O",))),
    "alpha_quartz": ("robocrys_minerals", "robocrys:A2B_hP9_152_c_a:quartz (alpha)", (("Si",), ("O",))),
    "alpha_cristobalite": ("robocrys_minerals", "robocrys:A2B_tP12_92_b_a:low (alpha) Cristobalite", (("Si",), ("O",))),
    "corundum": ("robocrys_minerals", "robocrys:A2B3_hR10_167_c_e:Corundum", (("Al",), ("O",))),
    "baddeleyite": ("robocrys_minerals", "robocrys:A2B_mP12_14_2e_e:Baddeleyite", (("Zr",), ("O",))),
    "spinel": ("robocrys_minerals", "robocrys:A2BC4_cF56_227_d_a_e:Spinel", (("Mg",), ("Al",), ("O",))),
    "h_bn": ("robocrys_minerals", "robocrys:AB_hP4_194_c_d:Boron Nitride", (("B",), ("N",))),
    "bixbyite": ("aflow_prototypes", "aflow:203:AB3C6_cI80_206_a_d_e", (("Mn", "Fe"), ("O",))),
}  # fmt: skip

INTRO = (
    "Physical check sets for a CLOUD checkpoint (issue 12), built by `python -m screening.evaluation.check_sets` "
    "(screening/evaluation/check_sets.py) and scored by `bench/physics_checks.py`. Polymorph energies are CHGNet "
    "0.3.0 relaxations under each structure's symmetry: the only energy source available offline."
)
KNOWN_EXPERIMENT = (
    "experimental ground-state structure at ambient pressure (standard crystallographic tables)"
)


# ------------------------------------------------------------------------------------------------ structures
@dataclass(frozen=True)
class StructureSpec:
    """One structure to build: ``kind`` (an ASE crystal structure or a :data:`CORPUS_KINDS` key) decorated with
    ``species`` (one per sublattice, in the prototype's order)."""

    kind: str
    species: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{''.join(self.species)}:{self.kind}"

    @property
    def source(self) -> str:
        if self.kind in ASE_KINDS:
            return f"ase.build.bulk('{''.join(self.species)}', '{self.kind}')"
        stem, cid, _ = CORPUS_KINDS[self.kind]
        return f"data/corpora/{stem}.parquet:{cid} (species substituted, volume scaled)"


def _radius(el: str) -> float:
    from pymatgen.core import Element

    e = Element(el)
    r = e.atomic_radius or e.atomic_radius_calculated
    return float(r) if r else 1.5


def _volume_per_atom(el: str) -> float:
    """Volume per atom (A^3) of the element's own solid from pymatgen's molar volume, else from its radius."""
    from pymatgen.core import Element

    mv = Element(el).molar_volume
    if mv is not None and float(mv) > 0:
        return float(mv) * 1e24 / 6.02214076e23
    return 4.0 / 3.0 * math.pi * (1.1 * _radius(el)) ** 3 / 0.68


def _ase_atoms(kind: str, species: tuple[str, ...]) -> Any:
    from ase.build import bulk

    name = "".join(species)
    if len(species) == 1:
        el = species[0]
        v = _volume_per_atom(el)
        if kind == "fcc":
            return bulk(el, "fcc", a=(4 * v) ** (1 / 3))
        if kind == "bcc":
            return bulk(el, "bcc", a=(2 * v) ** (1 / 3))
        if kind == "hcp":
            a = (math.sqrt(2) * v) ** (1 / 3)
            return bulk(el, "hcp", a=a, c=a * math.sqrt(8 / 3))
        if kind == "diamond":
            return bulk(el, "diamond", a=8 * _radius(el) / math.sqrt(3))
        raise ValueError(f"no elemental {kind!r} structure")
    if kind == "fluorite":
        a_el, b_el = species
        name = f"{a_el}{b_el}2"
    d = sum(_radius(el) for el in species[:2])
    if kind == "rocksalt":
        return bulk(name, "rocksalt", a=2 * d)
    if kind == "zincblende":
        return bulk(name, "zincblende", a=4 * d / math.sqrt(3))
    if kind == "cesiumchloride":
        return bulk(name, "cesiumchloride", a=2 * d / math.sqrt(3))
    if kind == "wurtzite":
        a = d * math.sqrt(8 / 3)
        return bulk(name, "wurtzite", a=a, c=a * math.sqrt(8 / 3), u=0.375)
    if kind == "fluorite":
        return bulk(name, "fluorite", a=4 * d / math.sqrt(3))
    raise ValueError(f"unknown ASE kind {kind!r}")


@lru_cache(maxsize=8)
def _corpus(stem: str) -> pd.DataFrame:
    return pd.read_parquet(CORPORA / f"{stem}.parquet").set_index("candidate_id")


def _corpus_structure(kind: str, species: tuple[str, ...]) -> Any:
    from pymatgen.core import Structure

    stem, cid, original = CORPUS_KINDS[kind]
    s = Structure.from_str(_corpus(stem).loc[cid, "structure_json"], fmt="json")
    if len(original) != len(species):
        raise ValueError(f"{kind} has {len(original)} sublattices, got species {species}")
    mapping = {old: new for olds, new in zip(original, species, strict=True) for old in olds}
    old_r3 = sum(_radius(site.specie.symbol) ** 3 for site in s)
    s.replace_species(mapping)
    new_r3 = sum(_radius(site.specie.symbol) ** 3 for site in s)
    if any(mapping[k] != k for k in mapping):
        s.scale_lattice(s.volume * new_r3 / old_r3)
    return s


def build_structure(spec: StructureSpec) -> Any:
    """The pymatgen ``Structure`` of ``spec`` (primitive cell)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    if spec.kind in ASE_KINDS:
        return AseAtomsAdaptor.get_structure(_ase_atoms(spec.kind, spec.species))
    if spec.kind in CORPUS_KINDS:
        return _corpus_structure(spec.kind, spec.species)
    raise ValueError(f"unknown structure kind {spec.kind!r}")


def scope_of(structure: Any) -> str:
    """Full-structure SCOPE string (default tolerance)."""
    from cloud_core.scope import encode

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return encode(structure).to_string()


def reduced_formula(formula: str) -> str:
    from pymatgen.core import Composition

    return Composition(formula).reduced_formula


@lru_cache(maxsize=1)
def stoichiometry_key(formula: str) -> str:
    """The exact reduced stoichiometry as SCOPE writes it (``"Al2O3" -> "Al 2 O 3"``): the key formulas are
    compared by (element order and reduction are SCOPE's, so ``"O3Al2"`` and ``"Al4O6"`` give the same key)."""
    from cloud_core.scope import encode_formula

    return scope_stoichiometry(encode_formula(formula).to_string())


def scope_stoichiometry(scope: str) -> str:
    """The stoichiometry section of a SCOPE string (the text after its last ``|``)."""
    return scope.rsplit("|", 1)[-1].strip()


def label_formulas(labels_dir: str = str(LABELS)) -> frozenset[str]:
    """Stoichiometry keys (:func:`stoichiometry_key`) of every row of every label set (``data/labels/*.parquet``),
    read from their SCOPE strings (from the formula where a set has no ``scope`` column)."""
    out: set[str] = set()
    for path in sorted(Path(labels_dir).glob("*.parquet")):
        cols = pq_columns(path)
        if "scope" in cols:
            out.update(
                scope_stoichiometry(s) for s in pd.read_parquet(path, columns=["scope"])["scope"].unique()
            )
            continue
        for f in pd.read_parquet(path, columns=["formula"])["formula"].unique():
            try:
                out.add(stoichiometry_key(f))
            except Exception:  # noqa: BLE001 - an unparsable label formula cannot collide with ours
                continue
    return frozenset(out)


def pq_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(path).names


# ------------------------------------------------------------------------------------------------ famous crystals
METALS: tuple[tuple[str, StructureSpec], ...] = tuple(
    (el, StructureSpec(kind, (el,)))
    for el, kind in [
        ("Cu", "fcc"), ("Al", "fcc"), ("Fe", "bcc"), ("W", "bcc"), ("Ni", "fcc"), ("Ag", "fcc"), ("Au", "fcc"),
        ("Ti", "hcp"), ("Mg", "hcp"), ("Na", "bcc"), ("K", "bcc"), ("Zn", "hcp"), ("Pt", "fcc"), ("Pb", "fcc"),
        ("Cr", "bcc"), ("Mo", "bcc"), ("Pd", "fcc"), ("Co", "hcp"),
    ]
)  # fmt: skip
INSULATORS: tuple[tuple[str, StructureSpec], ...] = (
    ("NaCl rocksalt", StructureSpec("rocksalt", ("Na", "Cl"))),
    ("LiF rocksalt", StructureSpec("rocksalt", ("Li", "F"))),
    ("MgO rocksalt", StructureSpec("rocksalt", ("Mg", "O"))),
    ("Al2O3 corundum", StructureSpec("corundum", ("Al", "O"))),
    ("SiO2 alpha-quartz", StructureSpec("alpha_quartz", ("Si", "O"))),
    ("CaF2 fluorite", StructureSpec("fluorite", ("Ca", "F"))),
    ("KCl rocksalt", StructureSpec("rocksalt", ("K", "Cl"))),
    ("h-BN", StructureSpec("h_bn", ("B", "N"))),
    ("AlN wurtzite", StructureSpec("wurtzite", ("Al", "N"))),
    ("diamond", StructureSpec("diamond", ("C",))),
    ("ZrO2 baddeleyite", StructureSpec("baddeleyite", ("Zr", "O"))),
    ("HfO2 baddeleyite", StructureSpec("baddeleyite", ("Hf", "O"))),
    ("MgAl2O4 spinel", StructureSpec("spinel", ("Mg", "Al", "O"))),
    ("CaO rocksalt", StructureSpec("rocksalt", ("Ca", "O"))),
    ("BeO wurtzite", StructureSpec("wurtzite", ("Be", "O"))),
    ("LiCl rocksalt", StructureSpec("rocksalt", ("Li", "Cl"))),
    ("NaF rocksalt", StructureSpec("rocksalt", ("Na", "F"))),
)
GAP_SOURCE = (
    "data/labels/mp_gap.parquet: Matbench mp_gap (Materials Project PBE gaps), mean over the formula's entries "
    "(all its polymorphs)"
)


def _gap_labels() -> dict[str, float]:
    df = pd.read_parquet(LABELS / "mp_gap.parquet", columns=["scope", "target"])
    return {scope_stoichiometry(s): float(t) for s, t in zip(df["scope"], df["target"], strict=True)}


def build_famous_crystals() -> pd.DataFrame:
    """Metals and wide-gap insulators with their SCOPE strings and reference gaps where the labels hold one."""
    gaps = _gap_labels()
    rows = []
    for group, items in (("metal", METALS), ("insulator", INSULATORS)):
        for name, spec in items:
            s = build_structure(spec)
            formula = s.composition.reduced_formula
            gap = gaps.get(stoichiometry_key(formula))
            rows.append(
                {
                    "name": name if group == "insulator" else f"{name} {spec.kind}",
                    "formula": formula,
                    "scope": scope_of(s),
                    "group": group,
                    "structure_kind": spec.kind,
                    "structure_source": spec.source,
                    "structure_json": s.to_json(),
                    "mp_gap_formula_mean_ev": gap,
                    "mp_gap_source": GAP_SOURCE if gap is not None else None,
                    "expected": "band_gap < 0.2 eV" if group == "metal" else "band_gap > 1.5 eV",
                }
            )
    return pd.DataFrame(rows)


def build_elements() -> pd.DataFrame:
    """ASE's DCDFT elemental crystals (the Delta test's ground states), expected e_form = 0."""
    from pymatgen.core import Structure

    df = pd.read_parquet(CORPORA / "ase_dcdft.parquet")
    rows = []
    for r in df.itertuples():
        s = Structure.from_str(r.structure_json, fmt="json")
        rows.append(
            {
                "element": json.loads(r.meta_json)["name"],
                "formula": s.composition.reduced_formula,
                "scope": scope_of(s),
                "structure_source": f"data/corpora/ase_dcdft.parquet:{r.candidate_id} (ase/collections/dcdft.json)",
                "structure_json": r.structure_json,
                "expected_e_form": 0.0,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ polymorph pairs
@dataclass(frozen=True)
class PairSpec:
    """Two polymorphs of one formula; ``known_lower`` is the experimental ground state when one of them is."""

    family: str
    a: StructureSpec
    b: StructureSpec
    known_lower: str | None = None  # "a" or "b"


def _el(kind_a: str, kind_b: str, el: str, family: str, known: str | None = "a") -> PairSpec:
    return PairSpec(family, StructureSpec(kind_a, (el,)), StructureSpec(kind_b, (el,)), known)


def _ab(kind_a: str, kind_b: str, species: tuple[str, ...], family: str, known: str | None = "a") -> PairSpec:
    return PairSpec(family, StructureSpec(kind_a, species), StructureSpec(kind_b, species), known)


M, D, R, W, OX = FAMILIES
#: held-out compositions: AB formulas that no label set holds (checked at build time)
HELD_OUT_IONIC = (("Mg", "F"), ("Ca", "Cl"), ("Sr", "Br"), ("Ba", "F"), ("Ba", "Cl"), ("Zn", "F"), ("Sc", "F"),
                  ("Y", "F"), ("Mg", "Cl"), ("Sr", "Cl"), ("Ga", "F"), ("In", "F"))  # fmt: skip
HELD_OUT_COVALENT = (("B", "S"), ("B", "Se"), ("Al", "S"), ("Al", "Se"), ("Al", "Te"), ("B", "Te"))


def pair_specs() -> list[PairSpec]:
    """Every candidate pair, in build order: the groups interleaved, so a partial build covers every family."""
    metals = [_el("fcc", "bcc", el, M) for el in ("Cu", "Ag", "Al", "Ni", "Pt", "Ir", "Pb", "Au", "Pd", "Rh")]
    metals += [_el("bcc", "fcc", el, M) for el in ("Fe", "W", "Mo", "Cr", "Ta", "V", "Nb")]
    metals += [_el("bcc", "hcp", el, M) for el in ("W", "Mo")]
    metals += [_el("hcp", "bcc", el, M) for el in ("Mg", "Ti", "Zr", "Os", "Re")]
    metals += [_el("hcp", "fcc", el, M) for el in ("Ru", "Os", "Re")]
    diamond = [_el("diamond", k, el, D) for el in ("Si", "Ge") for k in ("fcc", "bcc", "hcp")]
    diamond += [_el("diamond", "bcc", "C", D), _el("diamond", "fcc", "Sn", D)]
    diamond += [_el("fcc", "diamond", el, D) for el in ("Cu", "Al", "Pb")]
    rocksalt = [
        _ab("rocksalt", "zincblende", ("Na", "Cl"), R),
        _ab("rocksalt", "cesiumchloride", ("Na", "Cl"), R),
        _ab("rocksalt", "cesiumchloride", ("K", "Cl"), R),
        _ab("rocksalt", "zincblende", ("Li", "F"), R),
        _ab("cesiumchloride", "rocksalt", ("Cs", "Cl"), R),
        _ab("cesiumchloride", "rocksalt", ("Cs", "I"), R),
    ]
    rocksalt += [
        _ab("zincblende", "rocksalt", sp, R) for sp in (("Ga", "As"), ("Zn", "S"), ("Al", "P"), ("In", "P"))
    ]
    wurtzite = [_ab("wurtzite", "rocksalt", sp, W) for sp in (("Zn", "O"), ("Al", "N"), ("Ga", "N"), ("In", "N"),
                                                              ("Be", "O"), ("Cd", "S"), ("Cd", "Se"), ("Si", "C"))]  # fmt: skip
    wurtzite += [_ab("rocksalt", "wurtzite", ("Mg", "O"), W)]
    oxides = [
        _ab("rutile", "anatase", ("Ti", "O"), OX, None),  # experiment: rutile; PBE's sign is method-dependent
        _ab("alpha_quartz", "alpha_cristobalite", ("Si", "O"), OX),
        _ab("alpha_quartz", "rutile", ("Si", "O"), OX),
        _ab("wurtzite", "zincblende", ("Zn", "O"), OX),
        _ab("corundum", "bixbyite", ("Al", "O"), OX),
        _ab("bixbyite", "corundum", ("Sc", "O"), OX),
        _ab("bixbyite", "corundum", ("Y", "O"), OX),
        _ab("baddeleyite", "fluorite", ("Zr", "O"), OX),
        _ab("baddeleyite", "fluorite", ("Hf", "O"), OX),
        _ab("rutile", "fluorite", ("Sn", "O"), OX),
        _ab("rocksalt", "cesiumchloride", ("Ca", "O"), OX),
        _ab("rocksalt", "zincblende", ("Mg", "O"), OX),
    ]
    held: list[PairSpec] = []
    for sp in HELD_OUT_IONIC:
        held += [_ab("rocksalt", "zincblende", sp, R, None), _ab("rocksalt", "cesiumchloride", sp, R, None)]
    for sp in HELD_OUT_COVALENT:
        held += [_ab("zincblende", "rocksalt", sp, R, None), _ab("wurtzite", "rocksalt", sp, W, None)]
    groups = [metals, diamond, rocksalt, wurtzite, oxides, held[0::2], held[1::2]]
    out: list[PairSpec] = []
    for i in range(max(len(g) for g in groups)):
        out += [g[i] for g in groups if i < len(g)]
    return out


def structure_specs(pairs: Iterable[PairSpec]) -> list[StructureSpec]:
    """Distinct structures of ``pairs`` in first-use order."""
    out: dict[str, StructureSpec] = {}
    for p in pairs:
        for s in (p.a, p.b):
            out.setdefault(s.key, s)
    return list(out.values())


# ------------------------------------------------------------------------------------------------ CHGNet
def relax_one(spec: StructureSpec, potential: Any) -> dict[str, Any]:
    """Relax one structure under its symmetry with CHGNet; a dict with ``status`` 'ok' or a reject reason."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    t0 = time.perf_counter()
    s0 = build_structure(spec)
    row: dict[str, Any] = {"key": spec.key, "kind": spec.kind, "formula": s0.composition.reduced_formula,
                           "n_sites": len(s0), "structure_source": spec.source}  # fmt: skip
    try:
        row["scope_initial"] = scope_of(s0)
    except Exception as exc:  # noqa: BLE001 - recorded as a reject
        return {**row, "status": "encode_failed", "message": str(exc)}
    atoms = AseAtomsAdaptor.get_atoms(s0)
    atoms.calc = potential.calculator()
    v0 = atoms.get_volume() / len(atoms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms.set_constraint(FixSymmetry(atoms, symprec=SYMPREC))
        opt = FIRE(FrechetCellFilter(atoms), logfile=None)
        try:
            converged = bool(opt.run(fmax=FMAX, steps=MAX_STEPS))
            energy = float(atoms.get_potential_energy()) / len(atoms)
        except Exception as exc:  # noqa: BLE001 - a blown-up relaxation is a reject, not a crash
            return {**row, "status": "relaxation_failed", "message": str(exc)}
    atoms.set_constraint()
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    for key in list(relaxed.site_properties):
        relaxed.remove_site_property(key)
    v1 = relaxed.volume / len(relaxed)
    row.update(energy_per_atom=energy, steps=int(opt.nsteps), converged=converged, volume_initial=v0,
               volume_per_atom=v1, seconds=time.perf_counter() - t0, structure_json=relaxed.to_json())  # fmt: skip
    try:
        row["scope"] = scope_of(relaxed)
    except Exception as exc:  # noqa: BLE001
        return {**row, "status": "encode_failed", "message": f"relaxed structure: {exc}"}
    if not converged:
        return {**row, "status": "not_converged", "message": f"not converged in {MAX_STEPS} FIRE steps"}
    if not math.isfinite(energy):
        return {**row, "status": "non_finite_energy", "message": "energy is not finite"}
    if not 1 / MAX_VOLUME_RATIO < v1 / v0 < MAX_VOLUME_RATIO:
        return {**row, "status": "volume_exploded", "message": f"volume per atom {v0:.2f} -> {v1:.2f} A^3"}
    if row["scope"] != row["scope_initial"]:
        return {**row, "status": "symmetry_changed", "message": f"{row['scope_initial']} -> {row['scope']}"}
    return {**row, "status": "ok", "message": ""}


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """Relaxations already done (last line per key wins)."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            out[d["key"]] = d
    return out


def run_relaxations(
    specs: list[StructureSpec], cache: Path, model_name: str = "0.3.0"
) -> dict[str, dict[str, Any]]:
    """Relax every spec not yet in ``cache`` (appending each result as it lands); all results by key."""
    from screening.phonons.potential import load_potential

    done = read_cache(cache)
    todo = [s for s in specs if s.key not in done]
    log.info("CHGNet relaxations: %d cached, %d to do", len(specs) - len(todo), len(todo))
    if not todo:
        return done
    potential = load_potential(model_name)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a") as fh:
        for i, spec in enumerate(todo, 1):
            row = relax_one(spec, potential)
            row["potential"] = potential.version
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            done[spec.key] = row
            log.info("[%d/%d] %s %s %s steps=%s %.1fs", i, len(todo), spec.key, row["status"],
                     row.get("energy_per_atom"), row.get("steps"), row.get("seconds", 0.0))  # fmt: skip
    return done


def assemble_pairs(
    pairs: list[PairSpec], relaxed: dict[str, dict[str, Any]]
) -> tuple[pd.DataFrame, list[dict]]:
    """The pairs table and the dropped pairs with reasons."""
    held = label_formulas()
    rows, dropped = [], []
    for p in pairs:
        ra, rb = relaxed.get(p.a.key), relaxed.get(p.b.key)
        name = f"{p.a.key} vs {p.b.key}"
        bad = [r for r in (ra, rb) if r is None or r.get("status") != "ok"]
        if bad:
            why = "; ".join(
                "not relaxed" if r is None else f"{r['key']}: {r['status']} ({r['message']})" for r in bad
            )
            dropped.append({"pair": name, "reason": why})
            continue
        formula = ra["formula"]
        if rb["formula"] != formula:
            raise ValueError(f"pair {name} has two formulas {formula} / {rb['formula']}")
        ea, eb = ra["energy_per_atom"], rb["energy_per_atom"]
        lower = "a" if ea < eb else "b"
        if p.known_lower is not None and p.known_lower != lower:
            dropped.append({"pair": name, "reason": f"CHGNet orders it against the experimental ground state "
                                                    f"({ea:.4f} vs {eb:.4f} eV/atom)"})  # fmt: skip
            continue
        de = abs(ea - eb)
        rows.append(
            {
                "pair_id": f"{formula}:{p.a.kind}-{p.b.kind}",
                "family": p.family,
                "formula": formula,
                "a_kind": p.a.kind,
                "a_scope": ra["scope"],
                "a_energy_per_atom": ea,
                "b_kind": p.b.kind,
                "b_scope": rb["scope"],
                "b_energy_per_atom": eb,
                "lower": lower,
                "lower_kind": p.a.kind if lower == "a" else p.b.kind,
                "lower_scope": ra["scope"] if lower == "a" else rb["scope"],
                "dE_eV_per_atom": de,
                "near_degenerate": bool(de < NEAR_DEGENERATE_EV),
                "held_out": stoichiometry_key(formula) not in held,
                "energy_source": f"{ra['potential']}; FixSymmetry(symprec {SYMPREC}) + FrechetCellFilter + FIRE, "
                f"fmax {FMAX} eV/A, <= {MAX_STEPS} steps",
                "known_lower_kind": None
                if p.known_lower is None
                else (p.a.kind if p.known_lower == "a" else p.b.kind),
                "known_ordering_source": None if p.known_lower is None else KNOWN_EXPERIMENT,
            }
        )
    return pd.DataFrame(rows), dropped


# ------------------------------------------------------------------------------------------------ main
def _write(df: pd.DataFrame, path: Path, entry: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)
    write_sidecar(path, {"rows": len(df), "license": "see source", **entry})


def build(out: Path = DEFAULT_OUT, cache: Path = DEFAULT_CACHE, skip_chgnet: bool = False) -> dict[str, int]:
    """Build every check set into ``out``; returns row counts."""
    out.mkdir(parents=True, exist_ok=True)
    versions = package_versions("ase", "pymatgen", "moyopy", "chgnet", "torch")
    cmd = "python -m screening.evaluation.check_sets"
    famous = build_famous_crystals()
    _write(famous, out / "famous_crystals.parquet", {
        "source": "ase.build.bulk (lattice guessed from pymatgen atomic radii / molar volumes) and "
                  "data/corpora/robocrys_minerals.parquet (species substituted where needed)",
        "license": "structures: ASE (LGPL), robocrys mineral database (BSD); gaps: Matbench (CC BY 4.0)",
        "builder": cmd, "versions": versions,
        "groups": famous["group"].value_counts().to_dict(),
        "mp_gap_formula_mean_ev": GAP_SOURCE + "; null where the label set lacks the formula. A per-formula "
        "mean, not the listed structure's gap (C: diamond and graphite together; BN: h-BN and c-BN)",
        "expectations": "metal: band_gap < 0.2 eV; insulator (PBE gap > 3 eV): band_gap > 1.5 eV",
    })  # fmt: skip
    elements = build_elements()
    _write(elements, out / "elements.parquet", {
        "source": "data/corpora/ase_dcdft.parquet (ASE collections dcdft.json: the Delta test's elemental crystals)",
        "license": "ASE (LGPL)", "builder": cmd, "versions": versions, "expectations": "e_form = 0 eV/atom",
    })  # fmt: skip
    counts = {"famous_crystals": len(famous), "elements": len(elements)}
    if skip_chgnet:
        write_provenance_md(out, title="Check sets (issue 12)", intro=INTRO)
        return counts
    pairs = pair_specs()
    specs = structure_specs(pairs)
    t0 = time.perf_counter()
    relaxed = run_relaxations(specs, cache)
    wall = time.perf_counter() - t0
    rel = pd.DataFrame([relaxed[s.key] for s in specs])
    table, dropped = assemble_pairs(pairs, relaxed)
    energy_cost = float(pd.to_numeric(rel.get("seconds"), errors="coerce").sum())
    _write(rel, out / "polymorph_structures.parquet", {
        "source": "CHGNet relaxations of the polymorph-pair structures (this builder)",
        "license": "structures: ASE (LGPL), robocrys (BSD), pymatgen AFLOW prototypes (MIT); energies: CHGNet",
        "builder": cmd, "versions": versions, "status": rel["status"].value_counts().to_dict(),
        "settings": {"fmax": FMAX, "max_steps": MAX_STEPS, "symprec": SYMPREC, "filter": "FrechetCellFilter",
                     "optimizer": "FIRE", "constraint": "FixSymmetry", "max_volume_ratio": MAX_VOLUME_RATIO,
                     "threads": "1 (OMP_NUM_THREADS=1)"},
        "cpu_seconds_relaxations": round(energy_cost, 1), "wall_seconds_this_run": round(wall, 1),
    })  # fmt: skip
    _write(table, out / "polymorph_pairs.parquet", {
        "source": "pairs of polymorph_structures.parquet; dE = |E_a - E_b| per atom from CHGNet 0.3.0",
        "license": "derived", "builder": cmd, "versions": versions,
        "families": table["family"].value_counts().to_dict(),
        "held_out_pairs": int(table["held_out"].sum()),
        "near_degenerate_pairs": int(table["near_degenerate"].sum()),
        "near_degenerate_below_eV_per_atom": NEAR_DEGENERATE_EV,
        "known_ordering": "known_ordering_source names the experimental ground state where one member is it; "
                          "null otherwise (hypothetical compositions, TiO2 rutile/anatase whose PBE sign differs "
                          "from experiment)",
        "dropped_pairs": dropped,
    })  # fmt: skip
    held = sorted(table.loc[table["held_out"], "formula"].unique())
    (out / "held_out_formulas.txt").write_text(
        "# formulas of the held-out polymorph pairs (data/checks/polymorph_pairs.parquet, held_out=True):\n"
        "# absent from every data/labels/*.parquet set; exclude them from all training (labels and MLIP labels)\n"
        + "".join(f"{f}\n" for f in held)
    )
    write_provenance_md(out, title="Check sets (issue 12)", intro=INTRO)
    counts.update(polymorph_pairs=len(table), held_out=int(table["held_out"].sum()), dropped=len(dropped))
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m screening.evaluation.check_sets", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default data/checks)")
    ap.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="JSON-lines cache of CHGNet relaxations"
    )
    ap.add_argument("--skip-chgnet", action="store_true", help="write the structure lists only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    counts = build(args.out, args.cache, args.skip_chgnet)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
