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

from cloud_core.scope.tables import LETTER_RANK, LETTERS, element_order_keys, space_group


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
    mult = space_group(spacegroup).multiplicity
    order_keys = element_order_keys()
    keyed: list[tuple[tuple[float, int], str, str]] = []
    for symbol, letter in orbits:
        if letter not in mult:
            raise KeyError(f"space group {spacegroup} has no Wyckoff position {letter!r}")
        keyed.append((order_keys[symbol], symbol, letter))
    keys = sorted({key for key, _sym, _letter in keyed})
    rank = {key: i for i, key in enumerate(keys)}
    symbol_of = {rank[key]: sym for key, sym, _letter in keyed}
    pattern = tuple(sorted((rank[key], LETTER_RANK[letter]) for key, _sym, letter in keyed))
    return tuple(
        Orbit(symbol_of[r], mult[LETTERS[letter]], LETTERS[letter])
        for r, letter in _canonical_pattern(spacegroup, pattern)
    )


@lru_cache(maxsize=262144)
def _canonical_pattern(spacegroup: int, pattern: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """Canonical ``(element rank, letter rank)`` orbits of a pattern (sorted ``(element rank, letter rank)``).

    Only the order of the elements matters to the canonical form, not which elements they are, so a pool of
    decorations of the same prototypes hits this cache for almost every crystal.
    """
    mult = space_group(spacegroup).multiplicity
    used = "".join(LETTERS[r] for r in sorted({letter for _r, letter in pattern}))
    slot = {LETTER_RANK[letter]: i for i, letter in enumerate(used)}
    best: list[tuple[int, int, int]] | None = None
    for images in _images_of(spacegroup, used):
        candidate = sorted(
            (r, mult[LETTERS[images[slot[letter]]]], images[slot[letter]]) for r, letter in pattern
        )
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return tuple((r, letter) for r, _m, letter in best)


@lru_cache(maxsize=65536)
def _images_of(spacegroup: int, used: str) -> tuple[tuple[int, ...], ...]:
    """Distinct images (letter ranks) of the letters ``used`` under the group's relabelings.

    P-1's affine normalizer alone has 1344 relabelings; a crystal uses a few letters, whose distinct images
    are far fewer, so they are computed once per (group, letters) and cached.
    """
    ranks = [LETTER_RANK[letter] for letter in used]
    return tuple(dict.fromkeys(tuple(perm[r] for r in ranks) for perm in space_group(spacegroup).relabelings))
