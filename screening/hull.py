"""Reference convex hull of known phases: energy above hull for every candidate, one chemical system at a time.

The source is the per-formula minimum formation energy table ``data/labels/mp_e_form.parquet`` (columns
``formula, scope, target, fold``; ``target`` in eV/atom). Elements are pinned at 0 eV/atom. For a chemical
system S (a set of n elements) the known phases are the table's formulas whose elements are a subset of S.

The lower convex hull of those points, as a function of the composition fractions x (n numbers summing to 1),
is convex and piecewise linear, so it is the maximum of its facets' linear functions:

    E_hull(x) = max_f  c_f . x          (c_f: one row per lower facet, n coefficients; E in eV/atom)

    e_above_hull(x, E) = E - E_hull(x)  (negative: below the known hull)

Facets come from qhull (scipy) over the system's points plus one apex above the simplex (so a system with
no compound below zero is still full-dimensional); lower facets are those whose outward normal points down.
A campaign evaluates ``X @ C.T`` and a row-wise maximum per chemical system, vectorised in numpy.

The number of facets grows exponentially with the number of elements (a 9-element system of the table has
hundreds of known phases in 8 dimensions: qhull ran for minutes and took gigabytes). Systems of more than
:data:`MAX_FACET_ELEMENTS` elements, rare among candidates, are therefore solved per composition as the linear
programme that defines the hull (HiGHS through scipy), with the system's compounds below zero and the elements:

    E_hull(x) = min_l  sum_i l_i E_i    subject to   sum_i l_i x_i = x,   l >= 0

Facets are computed on first use of a chemical system and cached on disk under
``<cache_dir>/hull/<hull version>/`` (Parquet shards, each written atomically by one process), where the hull
version is ``v<builder version>-<first 12 hex of the source file's sha256>``: a new table or a new builder
makes a new cache, never a stale one. Every predictions row records the version (``hull_version``).

Plausibility: a prediction more than :data:`IMPLAUSIBLE_BELOW_HULL_EV` below the hull at a known composition,
or an element predicted below zero by more than :data:`ELEMENT_SIGMAS` standard deviations, is ``implausible``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: Bump when the facets a source table gives change (it is part of the hull version and of the cache key).
HULL_BUILDER_VERSION = 1
#: Below the hull by more than this (eV/atom) at a known composition: implausible.
IMPLAUSIBLE_BELOW_HULL_EV = 0.1
#: An element predicted below zero by more than this many standard deviations: implausible.
ELEMENT_SIGMAS = 2.0
#: Chemical systems of more elements than this: hull energies by linear programming, not facets.
MAX_FACET_ELEMENTS = 6
_LP_TOL = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
#: Consolidate the cache's shards into one when there are more than this many.
_MAX_SHARDS = 32

_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")
_SIMPLE = re.compile(r"(?:[A-Z][a-z]?\d*\.?\d*)+")


class HullColumn(StrEnum):
    """Columns the hull step adds to a campaign's predictions (energies in eV/atom)."""

    CHEMSYS = "chemsys"  # elements joined by "-", sorted alphabetically
    E_ABOVE_HULL = "e_above_hull"
    E_ABOVE_HULL_STD = "e_above_hull_std"
    KNOWN_COMPOSITION = "known_composition"
    IMPLAUSIBLE = "implausible"
    HULL_VERSION = "hull_version"


@functools.cache
def element_symbols() -> frozenset[str]:
    from pymatgen.core.periodic_table import Element

    return frozenset(e.symbol for e in Element)


@functools.lru_cache(maxsize=1_000_000)
def parse_formula(formula: str) -> tuple[tuple[str, ...], tuple[float, ...]] | None:
    """``(sorted elements, atomic fractions)`` of a formula (``None`` if it cannot be read).

    Plain formulas (``Fe2O3``) are read with a regular expression; others (parentheses) through pymatgen.
    """
    amounts: dict[str, float] = defaultdict(float)
    if _SIMPLE.fullmatch(formula):
        symbols = element_symbols()
        for el, num in _TOKEN.findall(formula):
            if el not in symbols:
                return None
            amounts[el] += float(num) if num else 1.0
    else:
        from pymatgen.core import Composition

        try:
            comp = Composition(formula)
        except Exception:
            return None
        for el, amt in comp.get_el_amt_dict().items():
            amounts[el] += float(amt)
    total = sum(amounts.values())
    if not amounts or total <= 0 or any(a < 0 for a in amounts.values()):
        return None
    els = tuple(sorted(a for a in amounts if amounts[a] > 0))
    return els, tuple(amounts[e] / total for e in els)


def _key(els: tuple[str, ...], fracs: Sequence[float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return els, tuple(round(f, 9) for f in fracs)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def lower_hull_facets(points: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Linear coefficients (F x n) of the lower hull's facets of points in an n-element system.

    Parameters
    ----------
    points
        (m, n) atomic fractions (rows sum to 1); the n elements themselves are added at 0 eV/atom.
    energies
        (m,) formation energies (eV/atom).

    Returns
    -------
    numpy.ndarray
        ``C`` such that the hull energy at fractions x is ``max(C @ x)``; one zero row when nothing lies
        below zero.
    """
    n = points.shape[1] if points.ndim == 2 else 0
    below = energies < -1e-12
    if n <= 1 or not below.any():
        return np.zeros((1, max(n, 1)))
    from scipy.spatial import ConvexHull, QhullError

    pts = np.vstack([np.eye(n), points[below]])
    e = np.concatenate([np.zeros(n), energies[below]])
    apex = np.full((1, n), 1.0 / n)
    pts = np.vstack([pts, apex])
    e = np.concatenate([e, [1.0 + float(np.abs(e).max())]])
    coords = np.column_stack([pts[:, 1:], e])  # drop the first fraction: x_0 = 1 - sum(others)
    try:
        eq = ConvexHull(coords, qhull_options="Qt").equations
    except QhullError:  # nearly degenerate input: joggle (as pymatgen's PhaseDiagram falls back to)
        eq = ConvexHull(coords, qhull_options="QJ").equations
    lower = eq[eq[:, -2] < -1e-9]
    normal, e_coef, offset = lower[:, :-2], lower[:, -2], lower[:, -1]
    # normal . x' + e_coef * E + offset = 0  ->  E = a . x' + b with a = -normal/e_coef, b = -offset/e_coef
    a = -normal / e_coef[:, None]
    b = -offset / e_coef
    coeffs = np.column_stack([b, a + b[:, None]])  # E = b*x_0 + sum_i (a_i + b) x_i on the simplex
    return np.unique(np.round(coeffs, 12), axis=0)


@dataclass
class HullCache:
    """On-disk facets of one hull version (Parquet shards: ``chemsys``, ``n``, ``coeffs`` flattened)."""

    directory: Path

    def load(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.glob("facets-*.parquet")):
            try:
                t = pq.read_table(path).to_pydict()
            except (FileNotFoundError, OSError):  # consolidated away by another process meanwhile
                continue
            for cs, n, flat in zip(t["chemsys"], t["n"], t["coeffs"], strict=True):
                out[cs] = np.asarray(flat, dtype=float).reshape(-1, n)
        return out

    def save(self, facets: dict[str, np.ndarray]) -> None:
        """Write ``facets`` as one new shard (atomic); consolidate when shards pile up."""
        if not facets:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write(facets, self.directory / f"facets-{uuid.uuid4().hex}.parquet")
        shards = sorted(self.directory.glob("facets-*.parquet"))
        if len(shards) > _MAX_SHARDS:
            merged = self.load()
            self._write(merged, self.directory / f"facets-{uuid.uuid4().hex}.parquet")
            for path in shards:
                path.unlink(missing_ok=True)

    @staticmethod
    def _write(facets: dict[str, np.ndarray], path: Path) -> None:
        names = sorted(facets)
        table = pa.table(
            {
                "chemsys": pa.array(names, pa.string()),
                "n": pa.array([facets[c].shape[1] for c in names], pa.int32()),
                "coeffs": pa.array([facets[c].ravel().tolist() for c in names], pa.list_(pa.float64())),
            }
        )
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)


class ReferenceHull:
    """The convex hull of known phases (one table of per-formula formation energies; elements at 0).

    Parameters
    ----------
    energies
        ``{formula: formation energy (eV/atom)}``; formulas of the same reduced composition keep the minimum.
    version
        The hull version recorded with every result.
    cache_dir
        Where facets are cached (``None``: in memory only).
    """

    def __init__(self, energies: dict[str, float], version: str, cache_dir: Path | None = None) -> None:
        self.version = version
        self._cache = HullCache(cache_dir) if cache_dir is not None else None
        best: dict[tuple, float] = {}
        for formula, e in energies.items():
            parsed = parse_formula(formula)
            if parsed is None or not np.isfinite(e):
                continue
            els, fracs = parsed
            e = 0.0 if len(els) == 1 else float(e)
            k = _key(els, fracs)
            best[k] = min(e, best.get(k, np.inf))
        self._known = best
        by_sys: dict[tuple[str, ...], list[tuple[tuple[float, ...], float]]] = defaultdict(list)
        for (els, fracs), e in best.items():
            if len(els) > 1:
                by_sys[els].append((fracs, e))
        self._by_system = dict(by_sys)
        self._facets: dict[str, np.ndarray] | None = None
        self._new: dict[str, np.ndarray] = {}

    @classmethod
    def from_parquet(cls, path: str | Path, cache_dir: Path | None = None) -> ReferenceHull:
        """Build from a label table with ``formula`` and ``target`` columns (``mp_e_form.parquet``)."""
        path = Path(path)
        t = pq.read_table(path, columns=["formula", "target"]).to_pydict()
        version = f"v{HULL_BUILDER_VERSION}-{file_sha256(path)[:12]}"
        energies: dict[str, float] = {}
        for f, e in zip(t["formula"], t["target"], strict=True):
            if f is not None and e is not None:
                energies[f] = min(float(e), energies.get(f, np.inf))
        return cls(energies, version, None if cache_dir is None else Path(cache_dir) / version)

    @property
    def n_known(self) -> int:
        return len(self._known)

    def is_known(self, elements: tuple[str, ...], fractions: Sequence[float]) -> bool:
        return _key(elements, fractions) in self._known

    def known_energy(self, elements: tuple[str, ...], fractions: Sequence[float]) -> float | None:
        return self._known.get(_key(elements, fractions))

    def system_points(self, elements: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Known compounds of the system (all its sub-systems), as ``(fractions (m, n), energies (m,))``."""
        n = len(elements)
        pos = {e: i for i, e in enumerate(elements)}
        rows, energies = [], []
        for r in range(2, n + 1):
            for sub in combinations(elements, r):
                for fracs, e in self._by_system.get(sub, ()):
                    x = np.zeros(n)
                    x[[pos[s] for s in sub]] = fracs
                    rows.append(x)
                    energies.append(e)
        if not rows:
            return np.zeros((0, n)), np.zeros(0)
        return np.array(rows), np.array(energies)

    def facets(self, elements: tuple[str, ...]) -> np.ndarray:
        """Lower-facet coefficients of one chemical system (cached in memory and, via :meth:`flush`, on disk)."""
        if self._facets is None:
            self._facets = self._cache.load() if self._cache is not None else {}
        cs = "-".join(elements)
        c = self._facets.get(cs)
        if c is None:
            c = lower_hull_facets(*self.system_points(elements))
            self._facets[cs] = c
            self._new[cs] = c
        return c

    def flush(self) -> None:
        """Persist the facets computed since the last flush."""
        if self._cache is not None and self._new:
            self._cache.save(self._new)
        self._new = {}

    def hull_energy(self, elements: tuple[str, ...], fractions: np.ndarray) -> np.ndarray:
        """Hull energies (eV/atom) at compositions ``fractions`` ((m, n), columns in ``elements`` order)."""
        x = np.atleast_2d(np.asarray(fractions, dtype=float))
        if len(elements) > MAX_FACET_ELEMENTS:
            return self.hull_energy_lp(elements, x)
        c = self.facets(elements)
        return (x @ c.T).max(axis=1)

    def hull_energy_lp(self, elements: tuple[str, ...], fractions: np.ndarray) -> np.ndarray:
        """Hull energies by linear programming (one small LP per composition; any number of elements)."""
        from scipy.optimize import linprog

        points, energies = self.system_points(elements)
        below = energies < -1e-12
        n = len(elements)
        a_eq = np.vstack([np.eye(n), points[below]]).T  # (n, elements + compounds)
        cost = np.concatenate([np.zeros(n), energies[below]])
        out = np.empty(len(fractions))
        for i, x in enumerate(np.atleast_2d(fractions)):
            res = linprog(cost, A_eq=a_eq, b_eq=x, bounds=(0, None), method="highs", options=_LP_TOL)
            out[i] = res.fun if res.status == 0 else np.nan
        return out

    def stability(
        self,
        formulas: Sequence[str | None],
        e_form: np.ndarray | None,
        e_form_std: np.ndarray | None = None,
    ) -> pa.Table:
        """The :class:`HullColumn` columns for candidates (one row per formula, in order).

        ``e_form`` (eV/atom) may be ``None`` (a model without formation energy): energies are then null.
        ``e_above_hull_std`` is ``e_form_std`` (the reference hull carries no uncertainty), null when absent.
        """
        m = len(formulas)
        codes: dict[str, int] = {}
        inverse = np.fromiter(
            (codes.setdefault(f, len(codes)) if f is not None else -1 for f in formulas),
            dtype=np.int64,
            count=m,
        )
        uniq = list(codes)
        parsed = [parse_formula(f) for f in uniq]
        chemsys_u = np.array(["-".join(p[0]) if p else "" for p in parsed], dtype=object)
        known_u = np.array([p is not None and _key(*p) in self._known for p in parsed], dtype=bool)
        single_u = np.array([p is not None and len(p[0]) == 1 for p in parsed], dtype=bool)
        hull_u = np.full(len(uniq), np.nan)
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, p in enumerate(parsed):
            if p is not None:
                groups[p[0]].append(i)
        for els, idx in groups.items():
            x = np.array([parsed[i][1] for i in idx])
            hull_u[idx] = self.hull_energy(els, x)
        self.flush()
        ok = inverse >= 0
        safe = np.where(ok, inverse, 0)
        hull = np.where(ok, hull_u[safe], np.nan)
        known = ok & known_u[safe]
        single = ok & single_u[safe]
        chemsys = [chemsys_u[j] or None if j >= 0 else None for j in inverse]
        if e_form is None:
            e_hull = np.full(m, np.nan)
        else:
            e_hull = np.asarray(e_form, dtype=float) - hull
        std = None if e_form_std is None else np.asarray(e_form_std, dtype=float)
        implausible = known & (e_hull < -IMPLAUSIBLE_BELOW_HULL_EV)
        if std is not None:
            implausible |= single & np.isfinite(std) & (e_hull < -ELEMENT_SIGMAS * std)
        valid = np.isfinite(e_hull)
        return pa.table(
            {
                HullColumn.CHEMSYS: pa.array(chemsys, pa.string()),
                HullColumn.E_ABOVE_HULL: pa.array(e_hull, pa.float64(), mask=~valid),
                HullColumn.E_ABOVE_HULL_STD: pa.array(
                    np.zeros(m) if std is None else std,
                    pa.float64(),
                    mask=np.ones(m, bool) if std is None else ~(valid & np.isfinite(std)),
                ),
                HullColumn.KNOWN_COMPOSITION: pa.array(known, pa.bool_(), mask=~ok),
                HullColumn.IMPLAUSIBLE: pa.array(implausible, pa.bool_(), mask=~valid),
                HullColumn.HULL_VERSION: pa.array([self.version] * m, pa.string()),
            }
        )


def default_source() -> Path:
    """The shipped table the reference hull is built from (``<data_dir>/labels/mp_e_form.parquet``)."""
    from screening.settings import get_settings

    return Path(get_settings().data_dir) / "labels" / "mp_e_form.parquet"


def default_cache_dir() -> Path:
    from screening.settings import get_settings

    return Path(get_settings().cache_dir) / "hull"


@functools.lru_cache(maxsize=4)
def _load(source: str, cache_dir: str, mtime_ns: int) -> ReferenceHull:
    return ReferenceHull.from_parquet(source, Path(cache_dir))


def reference_hull(source: str | Path | None = None, cache_dir: str | Path | None = None) -> ReferenceHull:
    """The reference hull (built once per process and source file version).

    Raises
    ------
    FileNotFoundError
        When the source table is missing.
    """
    path = Path(source) if source is not None else default_source()
    if not path.is_file():
        raise FileNotFoundError(f"reference hull source {path} not found (a Parquet with formula, target)")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return _load(str(path.resolve()), str(cache), path.stat().st_mtime_ns)


def stability_for(
    formulas: Iterable[str | None], predictions: pa.Table, hull: ReferenceHull | None = None
) -> pa.Table:
    """The hull columns of a predictions table (uses its ``e_form`` and ``e_form_std`` columns if present)."""
    hull = hull if hull is not None else reference_hull()
    cols = predictions.column_names

    def _col(name: str) -> np.ndarray | None:
        if name not in cols:
            return None
        return predictions.column(name).to_numpy(zero_copy_only=False).astype(float)

    return hull.stability(list(formulas), _col("e_form"), _col("e_form_std"))
