"""Canonical Wyckoff letters and orbit order.

A crystal's Wyckoff letters are only defined up to the space group's affine normalizer: shifting the origin by
(1/2, 1/2, 1/2) in Fm-3m swaps 4a and 4b, inversion in F-43m swaps 4c and 4d, permuting the axes of Pmmm
permutes its letters. The canonical form applies every relabeling of the group to *all* orbits at once, sorts
the orbits by a fixed chemical key (element electronegativity, Z, then multiplicity and letter) and keeps the
lexicographically smallest result. Enantiomorphic groups are different groups (152 vs 154), so chirality
is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from cloud_core.scope.tables import LETTER_RANK, LETTERS, element_by_symbol, space_group


class Orbit(NamedTuple):
    """One Wyckoff orbit: an element on one Wyckoff position (multiplicity in the conventional cell)."""

    element: str
    multiplicity: int
    letter: str

    @property
    def wyckoff(self) -> str:
        """The Wyckoff token, e.g. ``"4a"``."""
        return f"{self.multiplicity}{self.letter}"


def canonical_orbits(spacegroup: int, orbits: Iterable[tuple[str, str]]) -> tuple[Orbit, ...]:
    """Canonical, ordered orbits of one crystal.

    Parameters
    ----------
    spacegroup
        International space-group number.
    orbits
        ``(element symbol, Wyckoff letter)`` for every orbit, in any order and any equivalent setting.

    Returns
    -------
    tuple[Orbit, ...]
        Orbits with canonical letters, sorted by (electronegativity, Z, multiplicity, letter).
    """
    info = space_group(spacegroup)
    mult = info.multiplicity
    keyed: list[tuple[tuple[float, int], str, str]] = []
    for symbol, letter in orbits:
        el = element_by_symbol(symbol)
        if letter not in mult:
            raise KeyError(f"space group {spacegroup} has no Wyckoff position {letter!r}")
        keyed.append((el.order_key, symbol, letter))
    used = "".join(sorted({letter for _k, _s, letter in keyed}, key=LETTER_RANK.__getitem__))
    slot = {letter: i for i, letter in enumerate(used)}
    best: list[tuple[tuple[float, int], int, int, str]] | None = None
    for images in _images_of(spacegroup, used):
        candidate = sorted(
            (key, mult[LETTERS[images[slot[letter]]]], images[slot[letter]], sym)
            for key, sym, letter in keyed
        )
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return tuple(Orbit(sym, m, LETTERS[rank]) for _key, m, rank, sym in best)


@lru_cache(maxsize=65536)
def _images_of(spacegroup: int, used: str) -> tuple[tuple[int, ...], ...]:
    """Distinct images (letter ranks) of the letters ``used`` under the group's relabelings.

    P-1's affine normalizer alone has 1344 relabelings; a crystal uses a few letters, whose distinct images
    are far fewer, so they are computed once per (group, letters) and cached.
    """
    ranks = [LETTER_RANK[letter] for letter in used]
    return tuple(dict.fromkeys(tuple(perm[r] for r in ranks) for perm in space_group(spacegroup).relabelings))
