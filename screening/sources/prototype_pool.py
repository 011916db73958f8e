"""A generated candidate pool: the AFLOW prototypes that pymatgen ships, decorated by charge-balanced substitution.

Each prototype's element sublattices (all sites of one element) are replaced by distinct elements in common
oxidation states (:mod:`screening.corpora.ions`) so that

- the formula is charge balanced (``sum(n_i * q_i) == 0``), with at least one cation and one anion;
- every anion is more electronegative than every cation;
- every sublattice has, among its nearest-neighbour sublattices in the prototype, one of the opposite sign
  (cations touch anions);
- the packing fraction of the radii used lies in :data:`PACKING_RANGE`;

single-element prototypes are decorated with elements that are solids (oxidation state 0). The lattice keeps the
prototype's shape and is scaled so that the closest cation-anion contact equals the sum of the ions' Shannon
crystal radii (like-sign pairs are kept at >= 0.85 of their radius sum); elemental prototypes are scaled so that
the nearest-neighbour distance is twice the atomic radius.

The pool is a seeded stream: the same ``seed`` gives the same candidates in the same order, and the candidate at
position ``index`` is ``proto-<seed>-<index>``. Candidates are de-duplicated by canonical SCOPE string when
:mod:`cloud_core.scope` is importable, else by (prototype, species assignment); the key used is recorded in each
candidate's ``meta["dedup"]``. With SCOPE de-duplication each candidate carries its canonical string (``scope``,
with ``scope_symprec`` and ``scope_version``), which lets a campaign skip the symmetry search.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from screening.corpora.ions import Ion, elemental_table, ion_table
from screening.sources.candidate import Candidate

log = logging.getLogger(__name__)

SOURCE = "prototype_pool"
#: Like-sign sublattices may come no closer than this fraction of their radius sum.
LIKE_SIGN_FACTOR = 0.85
#: Sublattices whose distance is within this factor of a sublattice's closest contact are its nearest neighbours.
NN_TOLERANCE = 1.05
#: Accepted range of the packing fraction (sum of sphere volumes of the radii used / cell volume): rejects
#: molecular frameworks decorated with atoms (far too open) and overstuffed cells.
PACKING_RANGE = (0.28, 0.9)
#: Consecutive failed attempts after which a prototype counts as exhausted and is no longer sampled.
DEFAULT_MAX_FAILS = 400


@dataclass(frozen=True)
class Prototype:
    """One AFLOW prototype, pre-digested for fast decoration.

    Parameters
    ----------
    label
        AFLOW label, e.g. ``"AB_cF8_225_a_b"``.
    mineral
        Mineral / common name from the AFLOW tags (may be empty).
    spacegroup
        International space-group number.
    matrix
        Lattice matrix (rows are vectors), Angstrom.
    frac_coords
        Fractional coordinates, shape ``(n_sites, 3)``.
    site_group
        For each site, the index of its sublattice.
    counts
        Number of sites of each sublattice in the cell.
    min_dist
        ``(k, k)`` closest distance between sublattices (``inf`` if none within the cut-off).
    sign_patterns
        Admissible (cation +1 / anion -1) patterns over the sublattices; empty for elemental prototypes.
    """

    label: str
    mineral: str
    spacegroup: int
    matrix: np.ndarray
    frac_coords: np.ndarray
    site_group: np.ndarray
    counts: tuple[int, ...]
    min_dist: np.ndarray
    sign_patterns: tuple[tuple[int, ...], ...]
    index: int = -1

    @property
    def n_groups(self) -> int:
        return len(self.counts)

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.matrix)))


def _prototype_file() -> Path:
    # locate the package without importing it: its __init__ loads large Wyckoff tables (~5 s)
    import importlib.util

    spec = importlib.util.find_spec("pymatgen.analysis.prototypes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pymatgen.analysis.prototypes is not installed (pymatgen >= 2024.6 ships it)")
    return Path(next(iter(spec.submodule_search_locations))) / "aflow_prototypes.json.gz"


def _digest(entry: dict[str, Any], index: int = -1) -> Prototype:
    from pymatgen.core import Structure

    s = Structure.from_dict(entry["snl"])
    tags = entry.get("tags", {})
    label = tags.get("aflow", "")
    symbols = [site.specie.symbol for site in s]
    groups = sorted(set(symbols), key=symbols.index)
    site_group = np.array([groups.index(x) for x in symbols], dtype=np.int64)
    counts = tuple(int((site_group == g).sum()) for g in range(len(groups)))
    k = len(groups)
    # closest distance between sublattices, periodic images included
    cutoff = 4.5
    centers, points, _, dists = s.get_neighbor_list(cutoff)
    min_dist = np.full((k, k), np.inf)
    for i, j, d in zip(site_group[centers], site_group[points], dists, strict=True):
        if d > 1e-6 and d < min_dist[i, j]:
            min_dist[i, j] = d
    min_dist = np.minimum(min_dist, min_dist.T)
    patterns: list[tuple[int, ...]] = []
    if k >= 2:
        nearest = [np.flatnonzero(min_dist[g] <= NN_TOLERANCE * min_dist[g].min()) for g in range(k)]
        for signs in itertools.product((1, -1), repeat=k):
            if len(set(signs)) < 2:
                continue
            if all(any(signs[h] != signs[g] for h in nearest[g]) for g in range(k)):
                patterns.append(signs)
    try:
        spacegroup = int(label.split("_")[2])
    except (IndexError, ValueError):
        spacegroup = s.get_space_group_info()[1]
    return Prototype(
        label=label,
        mineral=str(tags.get("mineral") or ""),
        spacegroup=spacegroup,
        matrix=np.array(s.lattice.matrix),
        frac_coords=np.array(s.frac_coords),
        site_group=site_group,
        counts=counts,
        min_dist=min_dist,
        sign_patterns=tuple(patterns),
        index=index,
    )


@lru_cache(maxsize=1)
def load_prototypes() -> tuple[Prototype, ...]:
    """The 288 AFLOW prototypes that pymatgen ships, in file order, digested for decoration."""
    with gzip.open(_prototype_file(), "rt") as fh:
        entries = json.load(fh)
    return tuple(_digest(e, i) for i, e in enumerate(entries))


@dataclass
class PoolStats:
    """What a pool run did: attempts, accepted candidates and why attempts failed."""

    attempts: int = 0
    accepted: int = 0
    failures: Counter = field(default_factory=Counter)
    exhausted_prototypes: list[str] = field(default_factory=list)
    exhausted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "accepted": self.accepted,
            "failures": dict(sorted(self.failures.items())),
            "exhausted_prototypes": len(self.exhausted_prototypes),
            "exhausted": self.exhausted,
        }


@dataclass(frozen=True, slots=True)
class Decoration:
    """A species assignment for one prototype: one ion per sublattice, and the lattice scale factor."""

    prototype: Prototype
    ions: tuple[Ion, ...]
    scale: float

    def key(self) -> str:
        """``<AFLOW label>:<ion on sublattice 0>-<ion on sublattice 1>...``, e.g. ``AB_cF8_225_a_b:Na+1-Cl-1``."""
        return self.prototype.label + ":" + "-".join(f"{i.symbol}{i.charge:+d}" for i in self.ions)

    def structure(self, *, digits: int | None = 6):
        """The decorated pymatgen ``Structure`` (coordinates rounded to ``digits`` decimals if given)."""
        from pymatgen.core import Lattice, Structure

        p = self.prototype
        matrix = p.matrix * self.scale
        frac = p.frac_coords % 1.0
        if digits is not None:
            matrix = np.round(matrix, digits - 1)
            frac = np.round(frac, digits) % 1.0
        species = [self.ions[g].symbol for g in p.site_group]
        return Structure(Lattice(matrix), species, frac)

    def oxidation_states(self) -> dict[str, int]:
        return {i.symbol: i.charge for i in self.ions}


def _scale(p: Prototype, ions: tuple[Ion, ...]) -> float | None:
    """Lattice scale factor so that contacts match ionic (or atomic) radii; None if no contact is known."""
    k = p.n_groups
    best = 0.0
    for i in range(k):
        for j in range(i, k):
            d = p.min_dist[i, j]
            if not math.isfinite(d):
                continue
            target = ions[i].radius + ions[j].radius
            if ions[i].charge * ions[j].charge > 0:
                target *= LIKE_SIGN_FACTOR
            best = max(best, target / d)
    return best if best > 0 else None


def _pick(rng: np.random.Generator, options: list[Ion]) -> Ion:
    return options[int(rng.integers(len(options)))]


class _Tables:
    def __init__(self) -> None:
        ions = ion_table()
        self.cations = [i for i in ions if i.charge > 0]
        self.anions = [i for i in ions if i.charge < 0]
        self.by_charge: dict[int, list[Ion]] = {}
        for i in ions:
            self.by_charge.setdefault(i.charge, []).append(i)
        self.elements = list(elemental_table())


def sample_decoration(
    p: Prototype, rng: np.random.Generator, tables: _Tables | None = None
) -> Decoration | str:
    """One random charge-balanced decoration of ``p``, or a failure reason (a short string)."""
    t = tables or _Tables()
    k = p.n_groups
    if k == 1:
        ion = _pick(rng, t.elements)
        ions: tuple[Ion, ...] = (ion,)
    else:
        if not p.sign_patterns:
            return "no_ionic_pattern"
        signs = p.sign_patterns[int(rng.integers(len(p.sign_patterns)))]
        order = [int(x) for x in rng.permutation(k)]
        chosen: dict[int, Ion] = {}
        used: set[str] = set()
        for g in order[:-1]:
            pool = t.cations if signs[g] > 0 else t.anions
            ion = _pick(rng, pool)
            if ion.symbol in used:
                return "repeated_element"
            chosen[g] = ion
            used.add(ion.symbol)
        last = order[-1]
        residual = -sum(p.counts[g] * chosen[g].charge for g in chosen)
        if residual % p.counts[last]:
            return "charge_unbalanceable"
        q = residual // p.counts[last]
        if q == 0 or (q > 0) != (signs[last] > 0):
            return "charge_unbalanceable"
        options = [i for i in t.by_charge.get(q, []) if i.symbol not in used]
        if not options:
            return "charge_unbalanceable"
        chosen[last] = _pick(rng, options)
        ions = tuple(chosen[g] for g in range(k))
        cat_x = max(i.electronegativity for i in ions if i.charge > 0)
        an_x = min(i.electronegativity for i in ions if i.charge < 0)
        if cat_x >= an_x:
            return "electronegativity_order"
    scale = _scale(p, ions)
    if scale is None or not (0.3 < scale < 4.0):
        return "bad_scale"
    volume = p.volume * scale**3
    packing = (
        sum(n * 4.0 / 3.0 * math.pi * ion.radius**3 for n, ion in zip(p.counts, ions, strict=True)) / volume
    )
    if not PACKING_RANGE[0] <= packing <= PACKING_RANGE[1]:
        return "bad_packing"
    return Decoration(p, ions, float(scale))


#: Distinct stand-in elements, one per sublattice, used to find each prototype's Wyckoff orbits once.
_PLACEHOLDERS = ("Na", "Cl", "O", "Fe", "Ca")
#: Cell scales at which a prototype's orbits must agree before the fast SCOPE path is trusted for it.
_CHECK_SCALES = (0.5, 1.0, 3.0)


@dataclass(frozen=True)
class _ProtoOrbits:
    spacegroup: int
    orbits: tuple[tuple[int, str], ...]  # (sublattice, Wyckoff letter) per orbit
    n_sites: int


@lru_cache(maxsize=4)
def prototype_orbits(symprec: float) -> tuple[_ProtoOrbits | None, ...]:
    """Each prototype's space group and (sublattice, Wyckoff letter) orbits, found once with stand-in elements.

    Substituting distinct elements for the sublattices and scaling the cell uniformly keeps the symmetry, so
    a decoration's canonical SCOPE follows from these orbits by :func:`cloud_core.scope.canonical_orbits` with
    no symmetry search. A prototype whose symmetry at ``symprec`` changes with the cell's scale (a borderline
    distortion) gets ``None``: its decorations are encoded one by one.
    """
    from cloud_core.scope import encode

    out: list[_ProtoOrbits | None] = []
    for p in load_prototypes():
        found = set()
        for scale in _CHECK_SCALES:
            from pymatgen.core import Lattice, Structure

            st = Structure(Lattice(p.matrix * scale), [_PLACEHOLDERS[g] for g in p.site_group], p.frac_coords)
            try:
                rec = encode(st, symprec=symprec)
            except Exception:  # not encodable at this scale: leave it to the slow path
                found.add(None)
                break
            orbits = tuple((_PLACEHOLDERS.index(o.element), o.letter) for o in rec.orbits)
            found.add((rec.spacegroup, tuple(sorted(orbits)), rec.n_sites))
        if len(found) == 1 and None not in found:
            sg, orbits, n_sites = found.pop()
            out.append(_ProtoOrbits(sg, orbits, n_sites))
        else:
            out.append(None)
    return tuple(out)


def _scope_encoder(dedup: str, symprec: float):
    """Return ``f(decoration, structure) -> scope string`` (raises on failure) or None for key de-duplication."""
    if dedup == "key":
        return None
    try:
        from cloud_core.scope import ScopeRecord, canonical_orbits, encode
        from cloud_core.scope.formula import reduced_stoichiometry
        from cloud_core.scope.validate import validate_scope
    except ImportError:
        if dedup == "scope":
            raise ImportError("dedup='scope' needs cloud_core.scope, which is not importable") from None
        return None
    table = prototype_orbits(symprec)

    def _enc(dec: Decoration, structure) -> str:
        """The decoration's SCOPE string, validated on write (an invalid one raises ``InvalidScopeError``)."""
        known = table[dec.prototype.index] if dec.prototype.index >= 0 else None
        if known is None:
            return validate_scope(encode(structure, symprec=symprec).to_string())
        symbols = [ion.symbol for ion in dec.ions]
        orbits = canonical_orbits(known.spacegroup, [(symbols[g], letter) for g, letter in known.orbits])
        counts = {symbols[g]: n for g, n in enumerate(dec.prototype.counts)}
        record = ScopeRecord(known.spacegroup, orbits, reduced_stoichiometry(counts), known.n_sites)
        return validate_scope(record.to_string())

    return _enc


class PrototypePool:
    """A seeded, streaming pool of decorated AFLOW prototypes.

    Parameters
    ----------
    size
        Number of candidates to produce (the stream may end earlier if every prototype is exhausted; see
        :attr:`stats`).
    seed
        Random seed; the same seed gives the same candidates, in the same order, with the same ids.
    batch_size
        Candidates per yielded batch.
    max_sites
        Skip prototypes with more sites than this in their cell (``None``: all).
    dedup
        ``"scope"`` (canonical SCOPE string; needs :mod:`cloud_core.scope`), ``"key"`` ((prototype, species)),
        or ``"auto"`` (SCOPE when available).
    symprec
        Symmetry tolerance for SCOPE encoding.
    max_fails
        Consecutive failed attempts after which a prototype is dropped from sampling.
    digits
        Decimals kept in fractional coordinates (the lattice keeps one fewer); ``None`` keeps all.
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        *,
        batch_size: int = 1000,
        max_sites: int | None = None,
        dedup: Literal["scope", "key", "auto"] = "auto",
        symprec: float = 0.01,
        max_fails: int = DEFAULT_MAX_FAILS,
        digits: int | None = 6,
    ) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if dedup not in ("scope", "key", "auto"):
            raise ValueError(f"dedup must be 'scope', 'key' or 'auto', got {dedup!r}")
        self.size = size
        self.seed = seed
        self.batch_size = batch_size
        self.max_sites = max_sites
        self.symprec = symprec
        self.max_fails = max_fails
        self.digits = digits
        self._encoder = _scope_encoder(dedup, symprec)
        self.dedup = "scope" if self._encoder is not None else "key"
        self._version: str | None = None
        if self._encoder is not None:
            from cloud_core.scope import scope_version

            self._version = scope_version()
        self.stats = PoolStats()

    def prototypes(self) -> list[Prototype]:
        protos = [p for p in load_prototypes() if p.n_groups == 1 or p.sign_patterns]
        if self.max_sites is not None:
            protos = [p for p in protos if len(p.site_group) <= self.max_sites]
        return protos

    def candidate_id(self, index: int) -> str:
        return f"proto-{self.seed}-{index:08d}"

    def __iter__(self) -> Iterator[list[Candidate]]:
        return self.batches()

    def batches(self) -> Iterator[list[Candidate]]:
        """Yield lists of up to ``batch_size`` candidates until ``size`` are produced or the pool is exhausted."""
        self.stats = stats = PoolStats()
        rng = np.random.default_rng(self.seed)
        tables = _Tables()
        active = self.prototypes()
        fails = [0] * len(active)
        seen: set[str] = set()
        batch: list[Candidate] = []
        while stats.accepted < self.size:
            if not active:
                stats.exhausted = True
                log.warning(
                    "prototype pool exhausted after %d candidates (asked for %d)", stats.accepted, self.size
                )
                break
            slot = int(rng.integers(len(active)))
            p = active[slot]
            stats.attempts += 1
            result = sample_decoration(p, rng, tables)
            cand = None
            if isinstance(result, str):
                stats.failures[result] += 1
            else:
                cand = self._make(result, stats.accepted, seen, stats)
            if cand is None:
                fails[slot] += 1
                if fails[slot] >= self.max_fails:
                    stats.exhausted_prototypes.append(p.label)
                    del active[slot], fails[slot]
                continue
            fails[slot] = 0
            stats.accepted += 1
            batch.append(cand)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _make(self, dec: Decoration, index: int, seen: set[str], stats: PoolStats) -> Candidate | None:
        key = dec.key()
        if key in seen:
            stats.failures["duplicate"] += 1
            return None
        structure = dec.structure(digits=self.digits)
        meta: dict[str, Any] = {
            "prototype": dec.prototype.label,
            "decoration": key,
            "oxidation_states": dec.oxidation_states(),
            "dedup": self.dedup,
        }
        scope = None
        if self._encoder is not None:
            try:
                scope = self._encoder(dec, structure)
            except Exception as exc:  # a structure the SCOPE encoder cannot handle is dropped, and counted
                stats.failures[f"scope_{getattr(exc, 'reason', type(exc).__name__)}"] += 1
                seen.add(key)
                return None
            if scope in seen:
                stats.failures["duplicate"] += 1
                seen.add(key)
                return None
            seen.add(scope)
        seen.add(key)
        return Candidate(
            self.candidate_id(index),
            SOURCE,
            structure,
            structure.composition.reduced_formula,
            meta,
            scope,
            self.symprec if scope else None,
            self._version if scope else None,
        )


def prototype_pool(size: int, seed: int = 0, **kwargs: Any) -> Iterator[list[Candidate]]:
    """Shorthand for ``PrototypePool(size, seed, **kwargs).batches()``."""
    return PrototypePool(size, seed, **kwargs).batches()
