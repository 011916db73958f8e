"""A random symmetric pool: charge-balanced compositions x space groups, built by pyxtal.

Each attempt draws

- a composition: 2-4 elements with small formula-unit counts, made charge balanced with ions weighted by their
  ICSD occurrence (:func:`screening.corpora.pretrain.decorate_ionic`: sum of charges zero, anions more
  electronegative than cations);
- a number of formula units Z (1, 2, 4, ...), keeping the cell within ``max_sites`` atoms;
- a space group, weighted by how often it occurs among Materials Project structures (pyxtal's
  ``spg_num_wps_mp.csv``), among those whose Wyckoff positions can hold exactly these atom counts
  (``pyxtal.symmetry.Group.check_compatible``);

and asks pyxtal for a random crystal with that symmetry (``pyxtal.from_random``, seeded). Failures are
:class:`~cloud_core.rejects.Reject` s with ``stage="generate"`` and a :class:`PyxtalRejectReason`. Candidates are
de-duplicated by canonical SCOPE string (every candidate is encoded). Candidate ``index`` is
``pyxtal-<seed>-<index>``; the stream is reproducible for a seed.
"""

from __future__ import annotations

import logging
import random
import warnings
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np

from cloud_core.rejects import Reject
from screening.sources.candidate import Candidate
from screening.sources.prototype_pool import PoolStats

log = logging.getLogger(__name__)

SOURCE = "pyxtal_pool"
STAGE = "generate"
#: Probability of 2, 3, 4 elements.
N_ELEMENT_WEIGHTS = (0.45, 0.4, 0.15)
#: Formula-unit counts tried (in random order) for a composition.
Z_CHOICES = (1, 2, 3, 4, 6, 8)
#: Space groups tried per composition before the attempt is given up.
SPACEGROUP_TRIES = 12


class PyxtalRejectReason(StrEnum):
    """Why an attempt gave no candidate."""

    NO_COMPOSITION = "no_composition"
    INCOMPATIBLE = "no_compatible_spacegroup"
    GENERATION_FAILED = "generation_failed"
    SCOPE_FAILED = "scope_failed"
    SYMMETRY_CHANGED = "symmetry_changed"
    DUPLICATE = "duplicate"


@lru_cache(maxsize=1)
def spacegroup_weights() -> tuple[list[int], list[int]]:
    """Space groups and their structure counts in pyxtal's MP table (every group gets at least 1)."""
    from screening.corpora.pretrain import load_skeletons

    counts = Counter({sg: 1 for sg in range(1, 231)})
    for s in load_skeletons():
        counts[s.spacegroup] += s.count
    groups = sorted(counts)
    return groups, [counts[g] for g in groups]


class PyxtalPool:
    """A seeded, streaming pool of random symmetric crystals.

    Parameters
    ----------
    size
        Candidates to produce.
    seed
        Random seed (same seed, same candidates in the same order).
    batch_size
        Candidates per yielded batch.
    max_sites
        Largest conventional cell (atoms); default 40.
    symprec
        Symmetry tolerance for SCOPE encoding.
    max_attempts
        Give up after this many attempts in a row without a new candidate (the pool is then reported
        exhausted).
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        *,
        batch_size: int = 200,
        max_sites: int | None = 40,
        symprec: float = 0.01,
        max_attempts: int = 2000,
    ) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.size = size
        self.seed = seed
        self.batch_size = batch_size
        self.max_sites = max_sites or 40
        self.symprec = symprec
        self.max_attempts = max_attempts
        self.dedup = "scope"
        self.stats = PoolStats()

    def candidate_id(self, index: int) -> str:
        return f"pyxtal-{self.seed}-{index:08d}"

    def __iter__(self) -> Iterator[list[Candidate]]:
        return self.batches()

    def batches(self) -> Iterator[list[Candidate]]:
        """Yield lists of candidates (rejects are counted in :attr:`stats`)."""
        for cands, _rejects in self.batches_with_rejects():
            if cands:
                yield cands

    def batches_with_rejects(self) -> Iterator[tuple[list[Candidate], list[Reject]]]:
        """Yield ``(candidates, rejects)``; each failed attempt is one reject with its reason."""
        from cloud_core.scope import encode, scope_version
        from screening.corpora.pretrain import decorate_ionic, ion_tables

        self.stats = stats = PoolStats()
        rng = random.Random(f"cloud-pyxtal-pool-{self.seed}")
        tables = ion_tables(1.0)  # ICSD frequencies as they are: common chemistry
        groups, weights = spacegroup_weights()
        seen: set[str] = set()
        cands: list[Candidate] = []
        rejects: list[Reject] = []
        since_last = 0
        while stats.accepted < self.size:
            if since_last >= self.max_attempts:
                stats.exhausted = True
                log.warning("pyxtal pool: %d attempts without a new candidate; stopping", since_last)
                break
            attempt = stats.attempts
            stats.attempts += 1
            since_last += 1
            rid = f"pyxtal-{self.seed}-attempt-{attempt:08d}"
            result = self._attempt(rng, tables, groups, weights, decorate_ionic, encode)
            if isinstance(result[0], str):  # (reason, message)
                reason, message = result
                stats.failures[reason] += 1
                rejects.append(Reject(rid, STAGE, reason, message))
            else:
                structure, meta = result
                scope = meta.pop("scope")
                if scope in seen:
                    stats.failures[PyxtalRejectReason.DUPLICATE] += 1
                    rejects.append(
                        Reject(rid, STAGE, PyxtalRejectReason.DUPLICATE, f"SCOPE already in pool: {scope}")
                    )
                else:
                    seen.add(scope)
                    since_last = 0
                    cands.append(
                        Candidate(
                            self.candidate_id(stats.accepted),
                            SOURCE,
                            structure,
                            structure.composition.reduced_formula,
                            meta,
                            scope,
                            self.symprec,
                            scope_version(),
                        )
                    )
                    stats.accepted += 1
            if len(cands) >= self.batch_size:
                yield cands, rejects
                cands, rejects = [], []
        if cands or rejects:
            yield cands, rejects

    def _attempt(self, rng, tables, groups, weights, decorate_ionic, encode):
        """One attempt: ``(structure, meta)`` or ``(reason, message)``."""
        from pyxtal import pyxtal
        from pyxtal.symmetry import Group

        from cloud_core.scope.validate import validate_scope

        m = rng.choices((2, 3, 4), weights=N_ELEMENT_WEIGHTS)[0]
        units = [rng.randint(1, 4) for _ in range(m)]
        ions = decorate_ionic(units, rng, tables)
        if ions is None:
            return PyxtalRejectReason.NO_COMPOSITION, f"no charge-balanced ions for formula units {units}"
        species = [s.symbol for s in ions]
        zs = [z for z in Z_CHOICES if z * sum(units) <= self.max_sites]
        if not zs:
            return PyxtalRejectReason.NO_COMPOSITION, f"{sum(units)} atoms per formula unit > max_sites"
        z = rng.choice(zs)
        num = [n * z for n in units]
        tried: list[int] = []
        for _ in range(SPACEGROUP_TRIES):
            sg = rng.choices(groups, weights=weights)[0]
            tried.append(sg)
            try:
                compatible, _free = Group(sg).check_compatible(num)
            except Exception:  # pyxtal raises for some count patterns; treat as incompatible
                compatible = False
            if not compatible:
                continue
            xtal = pyxtal()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    xtal.from_random(
                        3, sg, species, num, random_state=np.random.default_rng(rng.getrandbits(63))
                    )
                if not xtal.valid:
                    raise RuntimeError("pyxtal returned an invalid crystal")
                structure = xtal.to_pymatgen()
            except Exception as exc:  # pyxtal signals failures with many exception types
                return (
                    PyxtalRejectReason.GENERATION_FAILED,
                    f"space group {sg}, {dict(zip(species, num, strict=True))}: {exc}"[:300],
                )
            try:
                rec = encode(structure, symprec=self.symprec)
                scope = validate_scope(rec.to_string())  # validated on write
            except Exception as exc:
                return PyxtalRejectReason.SCOPE_FAILED, f"{type(exc).__name__}: {exc}"[:300]
            meta: dict[str, Any] = {
                "spacegroup_requested": sg,
                "z": z,
                "oxidation_states": {s.symbol: s.charge for s in ions},
                "scope": scope,
                "dedup": "scope",
            }
            if rec.spacegroup != sg:
                meta["spacegroup_found"] = rec.spacegroup
            return structure, meta
        return (
            PyxtalRejectReason.INCOMPATIBLE,
            f"atom counts {num} fit none of space groups {sorted(set(tried))}",
        )


def pyxtal_pool(size: int, seed: int = 0, **kwargs: Any) -> Iterator[list[Candidate]]:
    """Shorthand for ``PyxtalPool(size, seed, **kwargs).batches()``."""
    return PyxtalPool(size, seed, **kwargs).batches()
