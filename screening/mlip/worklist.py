"""The deterministic work list of the CHGNet labelling job, most valuable structures first.

Tier A (full relaxation, at most :data:`MAX_SITES` primitive sites), in this order of groups:

=====  ==============================================================================================
``0``  elements: every elemental structure of the committed corpora (ASE DCDFT first: its WIEN2k bulk moduli
       calibrate ours), then fcc / bcc / hcp / diamond / simple cubic decorations of every element
       (they fix the elemental references of the formation energies)
``1``  binary ionic polymorph sets: one cation (each common oxidation state) with one anion, charge balanced,
       on every prototype of that stoichiometry (rocksalt / CsCl / zincblende / wurtzite / NiAs; fluorite /
       rutile / CdI2 / anatase and their anti forms; corundum; BiF3 / ReO3 ...), formulas the Materials Project
       knows (so they calibrate), oxides and fluorides first
``2``  binary intermetallic polymorph sets (B2 / L1_0 / NiAs; L1_2 / D0_3; C15 / AlB2 / C11b) of formulas the
       Materials Project knows: :data:`MAX_INTERMETALLIC_SETS` of them, in the order of a hash of the formula
``3``  the real-structure corpora (AFLOW prototypes as shipped, pymatgen, pyxtal, robocrys minerals)
``4``  the rest: ionic polymorph sets of formulas the Materials Project does not list
=====  ==============================================================================================

Within tier A, a structure whose input SCOPE string an earlier item already has is dropped (same string, same
label). Tier B is the bundled pool (``data/pools/prototype_pool_v1.parquet``) in file order. Item ids are stable
(``A:<source>:<key>``, ``B:<candidate id>``), so a rerun skips what is done whatever the list's length.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

log = logging.getLogger(__name__)

MAX_SITES = 12
ROOT = Path(__file__).resolve().parents[2]
CORPORA_DIR = ROOT / "data" / "corpora"
POOL_FILE = ROOT / "data" / "pools" / "prototype_pool_v1.parquet"
#: Elemental corpora first (DCDFT carries WIEN2k bulk moduli), then the others.
CORPORA = ("ase_dcdft", "aflow_prototypes", "pymatgen_structures", "pyxtal_structures", "robocrys_minerals")

ELEMENT_PROTOTYPES = {
    "fcc": "A_cF4_225_a",
    "bcc": "A_cI2_229_a",
    "hcp": "A_hP2_194_c",
    "diamond": "A_cF8_227_a",
    "sc": "A_cP1_221_a",
}
#: Elements never decorated on metal prototypes (noble gases; molecular elements come from DCDFT instead).
SKIP_ELEMENT_DECORATION = frozenset({"He", "Ne", "Ar", "Kr", "Xe", "Rn", "H", "N", "O", "F", "Cl", "Br", "I"})
MAX_Z = 94  # CHGNet 0.3.0 covers Z <= 94
#: Intermetallic polymorph sets kept (the Materials Project lists thousands): a hash-ordered, chemistry-spread
#: sample of this many formulas.
MAX_INTERMETALLIC_SETS = 400

#: Binary ionic prototypes: (name, AFLOW label, cation count, anion count). The cation goes on the sublattice that
#: holds the prototype's less electronegative element for 1:1 families, else on the one with the cation's count.
IONIC_PROTOTYPES: tuple[tuple[str, str], ...] = (
    ("rocksalt", "AB_cF8_225_a_b"),
    ("cscl", "AB_cP2_221_b_a"),
    ("zincblende", "AB_cF8_216_c_a"),
    ("wurtzite", "AB_hP4_186_b_b"),
    ("nias", "AB_hP4_194_c_a"),
    ("fluorite", "AB2_cF12_225_a_c"),
    ("rutile", "A2B_tP6_136_f_a"),
    ("cdi2", "AB2_hP3_164_a_d"),
    ("anatase", "A2B_tI12_141_e_a"),
    ("cuprite", "A2B_cP6_224_b_a"),
    ("corundum", "A2B3_hR10_167_c_e"),
    ("bif3", "AB3_cF16_225_a_bc"),
    ("reo3", "A3B_cP4_221_d_a"),
)
INTERMETALLIC_PROTOTYPES: tuple[tuple[str, str], ...] = (
    ("b2", "AB_cP2_221_b_a"),
    ("l10", "AB_tP2_123_a_d"),
    ("nias", "AB_hP4_194_c_a"),
    ("l12", "AB3_cP4_221_a_c"),
    ("d03", "AB3_cF16_225_a_bc"),
    ("c15", "A2B_cF24_227_d_a"),
    ("alb2", "AB2_hP3_191_a_d"),
    ("c11b", "AB2_tI6_139_a_e"),
)
#: Anions in order of value (oxides and fluorides first: they decide the MP2020 question).
ANIONS: tuple[tuple[str, int], ...] = (
    ("O", -2),
    ("F", -1),
    ("S", -2),
    ("Cl", -1),
    ("N", -3),
    ("Se", -2),
    ("Br", -1),
    ("I", -1),
    ("Te", -2),
    ("P", -3),
    ("As", -3),
)


@dataclass
class WorkItem:
    """One structure to label.

    Attributes
    ----------
    id
        Stable id (``A:<source>:<key>`` or ``B:<candidate id>``).
    tier
        ``"A"`` (relaxation) or ``"B"`` (volume-only equation of state).
    source
        Corpus or prototype family, e.g. ``"ase_dcdft"``, ``"element_prototype"``, ``"ionic_prototype"``.
    group
        Polymorph set key (the reduced formula for decorations) or corpus name.
    priority
        Work-order group (see the module docstring).
    structure
        A pymatgen ``Structure`` or its JSON (parsed when computed).
    """

    id: str
    tier: str
    source: str
    group: str
    priority: int
    structure: Any

    def get_structure(self):
        from pymatgen.core import Structure

        if isinstance(self.structure, str):
            self.structure = Structure.from_dict(json.loads(self.structure))
        return self.structure


# ------------------------------------------------------------------------------------------------ helpers


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, Any]:
    from screening.sources.prototype_pool import load_prototypes

    out: dict[str, Any] = {}
    for p in load_prototypes():
        out.setdefault(p.label, p)
    return out


@lru_cache(maxsize=1)
def _original_species() -> dict[str, list[str]]:
    """Element of each sublattice in the prototype as shipped (to put cations where the prototype has them)."""
    import gzip

    from pymatgen.core import Structure

    from screening.sources.prototype_pool import _prototype_file

    out: dict[str, list[str]] = {}
    with gzip.open(_prototype_file(), "rt") as fh:
        for entry in json.load(fh):
            label = entry.get("tags", {}).get("aflow", "")
            if label in out:
                continue
            s = Structure.from_dict(entry["snl"])
            symbols = [site.specie.symbol for site in s]
            out[label] = sorted(set(symbols), key=symbols.index)
    return out


def _decorate(label: str, species: tuple[str, ...], radii: tuple[float, ...], charges: tuple[int, ...]):
    """The prototype ``label`` with ``species[g]`` on sublattice ``g``, scaled so contacts match the radii."""
    from screening.corpora.ions import Ion
    from screening.sources.prototype_pool import Decoration, _scale

    p = _prototypes()[label]
    ions = tuple(Ion(s, q, r, 0.0) for s, q, r in zip(species, charges, radii, strict=True))
    scale = _scale(p, ions)
    if scale is None or not 0.3 < scale < 4.0:
        return None
    return Decoration(p, ions, float(scale)).structure(digits=6)


def _atomic_radius(symbol: str) -> float | None:
    from pymatgen.core import Element

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = Element(symbol).atomic_radius
    return None if r is None else float(r)


def _ionic_radius(symbol: str, charge: int) -> float | None:
    from pymatgen.core import Species

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            r = Species(symbol, charge).ionic_radius
        except Exception:  # pymatgen raises for unknown species
            return None
    return None if r is None else float(r)


def _reduced(counts: dict[str, int]) -> str:
    from pymatgen.core import Composition

    return Composition(counts).reduced_formula


# -------------------------------------------------------------------------------------------- the groups


def element_items() -> Iterator[WorkItem]:
    """Elemental prototype decorations (priority 0): five polymorphs of every element, by Z."""
    from pymatgen.core import Element

    for el in Element:
        if el.Z > MAX_Z or el.symbol in SKIP_ELEMENT_DECORATION:
            continue
        r = _atomic_radius(el.symbol)
        if r is None:
            continue
        for name, label in ELEMENT_PROTOTYPES.items():
            s = _decorate(label, (el.symbol,), (r,), (0,))
            if s is not None:
                yield WorkItem(f"A:element:{name}:{el.symbol}", "A", "element_prototype", el.symbol, 0, s)


def _cation_sublattice(label: str, counts: tuple[int, ...], n_cation: int, n_anion: int) -> int | None:
    """Index of the sublattice that takes the cation (or ``None`` if the counts do not fit)."""
    if len(counts) != 2:
        return None
    ratio = [c / math.gcd(*counts) for c in counts]
    want = (n_cation, n_anion)
    if tuple(ratio) == want and tuple(reversed(ratio)) != want:
        return 0
    if tuple(reversed(ratio)) == want and tuple(ratio) != want:
        return 1
    if tuple(ratio) == want:  # 1:1 family: cation where the prototype has its less electronegative element
        from pymatgen.core import Element

        orig = _original_species().get(label)
        if not orig or len(orig) != 2:
            return 0
        return 0 if Element(orig[0]).X <= Element(orig[1]).X else 1
    return None


def _polymorph_set(
    kind: str, prototypes: tuple[tuple[str, str], ...], a: str, b: str, n_a: int, n_b: int, radii, charges
) -> list[WorkItem]:
    formula = _reduced({a: n_a, b: n_b})
    items = []
    for name, label in prototypes:
        p = _prototypes().get(label)
        if p is None:
            continue
        g = _cation_sublattice(label, p.counts, n_a, n_b)
        if g is None:
            continue
        species = (a, b) if g == 0 else (b, a)
        rr = tuple(radii) if g == 0 else tuple(reversed(radii))
        qq = tuple(charges) if g == 0 else tuple(reversed(charges))
        s = _decorate(label, species, rr, qq)
        if s is not None:
            items.append(WorkItem(f"A:{kind}:{name}:{formula}", "A", f"{kind}_prototype", formula, 1, s))
    return items


def ionic_sets() -> Iterator[list[WorkItem]]:
    """Binary ionic polymorph sets, anions in :data:`ANIONS` order, cations by Z and charge."""
    from pymatgen.core import Element

    for anion, qa in ANIONS:
        ra = _ionic_radius(anion, qa)
        if ra is None:
            continue
        xa = Element(anion).X
        for el in Element:
            if el.Z > MAX_Z or el.symbol == anion or el.symbol in SKIP_ELEMENT_DECORATION:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if not (el.X < xa):
                    continue
                states = sorted(q for q in el.common_oxidation_states if q > 0)
            for qc in states:
                rc = _ionic_radius(el.symbol, qc)
                if rc is None:
                    continue
                g = math.gcd(qc, -qa)
                n_c, n_a = -qa // g, qc // g
                items = _polymorph_set(
                    "ionic", IONIC_PROTOTYPES, el.symbol, anion, n_c, n_a, (rc, ra), (qc, qa)
                )
                if len(items) >= 2:
                    yield items


def intermetallic_sets(mp_formulas: set[str]) -> Iterator[list[WorkItem]]:
    """Binary intermetallic polymorph sets of formulas the Materials Project lists (pairs by Z)."""
    from pymatgen.core import Element

    metals = []
    for el in Element:
        if el.Z > MAX_Z or not (
            el.is_transition_metal
            or el.is_alkali
            or el.is_alkaline
            or el.is_post_transition_metal
            or el.is_rare_earth
        ):
            continue
        r = _atomic_radius(el.symbol)
        if r is not None:
            metals.append((el.symbol, r, float(el.X)))
    for i, (a, ra, xa) in enumerate(metals):
        for b, rb, xb in metals[i + 1 :]:
            # the less electronegative metal first (A sublattice of the AFLOW label)
            (s1, r1), (s2, r2) = ((a, ra), (b, rb)) if xa <= xb else ((b, rb), (a, ra))
            for n1, n2 in ((1, 1), (1, 3), (3, 1), (1, 2), (2, 1)):
                if _reduced({s1: n1, s2: n2}) not in mp_formulas:
                    continue
                items = _polymorph_set(
                    "intermetallic", INTERMETALLIC_PROTOTYPES, s1, s2, n1, n2, (r1, r2), (0, 0)
                )
                if len(items) >= 2:
                    yield items


def corpus_items(corpora_dir: Path = CORPORA_DIR) -> Iterator[WorkItem]:
    """Every structure of the committed real-structure corpora (elemental ones get priority 0)."""
    for name in CORPORA:
        path = corpora_dir / f"{name}.parquet"
        if not path.is_file():
            log.warning("corpus %s missing: skipped", path)
            continue
        t = pq.read_table(path, columns=["candidate_id", "formula", "structure_json"]).to_pydict()
        for cid, formula, sj in zip(t["candidate_id"], t["formula"], t["structure_json"], strict=True):
            if sj is None:
                continue
            elemental = len(json.loads(sj)["sites"]) > 0 and _n_elements(formula) == 1
            yield WorkItem(f"A:{name}:{cid}", "A", name, formula, 0 if elemental else 3, sj)


def _n_elements(formula: str) -> int:
    from pymatgen.core import Composition

    return len(Composition(formula).elements)


def pool_items(pool_file: Path = POOL_FILE) -> Iterator[WorkItem]:
    """Tier B: the bundled pool, in file order."""
    t = pq.read_table(pool_file, columns=["candidate_id", "formula", "structure_json"]).to_pydict()
    for cid, formula, sj in zip(t["candidate_id"], t["formula"], t["structure_json"], strict=True):
        yield WorkItem(f"B:{cid}", "B", "prototype_pool", formula, 10, sj)


# -------------------------------------------------------------------------------------------- the list


def primitive_input(structure):
    """The reduced primitive cell the job labels (site properties dropped)."""
    prim = structure.get_primitive_structure(tolerance=0.05).get_reduced_structure()
    prim = prim.copy()
    for key in list(prim.site_properties):
        prim.remove_site_property(key)
    return prim


def _stable_hash(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def tier_a_items(
    mp_formulas: set[str],
    *,
    corpora_dir: Path = CORPORA_DIR,
    max_sites: int = MAX_SITES,
    max_intermetallic_sets: int = MAX_INTERMETALLIC_SETS,
) -> list[WorkItem]:
    """Tier A in work order, de-duplicated by input SCOPE string (first wins), at most ``max_sites`` sites.

    Each kept item's ``structure`` is replaced by its primitive cell; its SCOPE string is stored on the item as
    ``scope`` (attribute) for the builder.
    """
    from cloud_core.scope import ScopeError, encode

    corpus = list(corpus_items(corpora_dir))
    ionic = [s for s in ionic_sets()]
    ionic_mp = [s for s in ionic if s[0].group in mp_formulas]
    ionic_rest = [s for s in ionic if s[0].group not in mp_formulas]
    for s in ionic_rest:
        for it in s:
            it.priority = 4
    inter = sorted(intermetallic_sets(mp_formulas), key=lambda s: _stable_hash(s[0].group))[
        :max_intermetallic_sets
    ]
    for s in inter:
        for it in s:
            it.priority = 2
    ordered: list[WorkItem] = [it for it in corpus if it.priority == 0]
    ordered += list(element_items())
    ordered += [it for s in ionic_mp for it in s]
    ordered += [it for s in inter for it in s]
    ordered += [it for it in corpus if it.priority == 3]
    ordered += [it for s in ionic_rest for it in s]

    seen: set[str] = set()
    out: list[WorkItem] = []
    for it in ordered:
        try:
            prim = primitive_input(it.get_structure())
            if len(prim) > max_sites:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scope = encode(prim).to_string()
        except (ScopeError, ValueError):
            continue
        if scope in seen:
            continue
        seen.add(scope)
        it.structure = prim
        it.scope = scope  # type: ignore[attr-defined]
        out.append(it)
    return out


def build_worklist(
    tiers: Iterable[str] = ("A", "B"),
    *,
    mp_formulas: set[str] | None = None,
    corpora_dir: Path = CORPORA_DIR,
    pool_file: Path = POOL_FILE,
    max_sites: int = MAX_SITES,
    tier_a_limit: int | None = None,
) -> list[WorkItem]:
    """The whole work list in order: tier A (if asked, at most ``tier_a_limit`` items) then tier B."""
    from screening.mlip.mp_reference import mp_min_formation_energy

    tiers = tuple(tiers)
    out: list[WorkItem] = []
    if "A" in tiers:
        formulas = set(mp_min_formation_energy()) if mp_formulas is None else mp_formulas
        a = tier_a_items(formulas, corpora_dir=corpora_dir, max_sites=max_sites)
        out += a if tier_a_limit is None else a[:tier_a_limit]
    if "B" in tiers:
        out += list(pool_items(pool_file))
    return out
