"""Build the Wyckoff relabelings of the *affine* normalizers of the triclinic and monoclinic groups (1-15).

pymatgen's (Wren's) relabeling table holds, for groups 1-15, only the Euclidean normalizer of a generic
metric, i.e. origin shifts. Their affine normalizers also contain changes of the lattice basis (any unimodular
basis in P-1; the a-c plane bases that keep the glide and centring in the monoclinic groups), which relate
Wyckoff sets too: in P-1 any two occupied inversion centres can be brought to 1a and 1b, in P2/c
``Ag 2e, Au 2a`` and ``Ag 2e, Au 2b`` are the same crystal in two bases. Without them the string of a P-1 or
monoclinic crystal would depend on which of several equally reduced bases the symmetry library picked.

This module finds those elements by brute force, once, offline: every candidate ``(P, p)`` (P unimodular with
small entries, p on a 1/4 grid) that maps the group onto itself is applied to a generic point of each Wyckoff
position (pyxtal's tables of the standard settings) and the image's position is identified. The letter
permutations, closed under composition together with pymatgen's, are written to
``cloud_core/data/scope/affine_relabelings.json``, which :mod:`cloud_core.scope.tables` reads.

Run: ``python -m cloud_core.scope.affine_normalizer`` (needs pyxtal; a few seconds).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "scope" / "affine_relabelings.json"
GROUPS = tuple(range(2, 16))
_TOL = 1e-6


def _group_ops(number: int) -> tuple[list[np.ndarray], list]:
    from pyxtal.symmetry import Group

    group = Group(number)
    general = max(group.Wyckoff_positions, key=lambda wp: wp.multiplicity)
    ops = [np.array(op.affine_matrix, dtype=float) for op in general.ops]
    return ops, list(group.Wyckoff_positions)


def _in_group(op: np.ndarray, ops: list[np.ndarray]) -> bool:
    for g in ops:
        if np.allclose(op[:3, :3], g[:3, :3], atol=_TOL):
            d = op[:3, 3] - g[:3, 3]
            if np.allclose(d - np.round(d), 0.0, atol=_TOL):
                return True
    return False


def _normalizes(transform: np.ndarray, inverse: np.ndarray, ops: list[np.ndarray]) -> bool:
    return all(_in_group(inverse @ g @ transform, ops) for g in ops)


def _position_of(point: np.ndarray, ops: list[np.ndarray], positions_by_mult: list) -> str:
    """Letter of the Wyckoff position holding ``point`` (smallest multiplicity whose manifold contains it)."""
    images = [(g[:3, :3] @ point + g[:3, 3]) for g in ops]
    for wp in positions_by_mult:
        proj = np.array(wp.ops[0].affine_matrix, dtype=float)
        for y in images:
            d = proj[:3, :3] @ y + proj[:3, 3] - y
            if np.allclose(d - np.round(d), 0.0, atol=1e-5):
                return wp.letter
    raise RuntimeError(f"no Wyckoff position holds {point}")


def _candidate_linear_parts(number: int) -> list[np.ndarray]:
    mats = []
    if number <= 2:
        for entries in itertools.product((-1, 0, 1), repeat=9):
            m = np.array(entries, dtype=float).reshape(3, 3)
            if abs(round(np.linalg.det(m))) == 1:
                mats.append(m)
    else:  # monoclinic, unique axis b: b -> +-b, a-c plane -> any unimodular basis with small entries
        for a11, a13, a31, a33 in itertools.product(range(-2, 3), repeat=4):
            if abs(a11 * a33 - a13 * a31) != 1:
                continue
            for sb in (-1, 1):
                mats.append(np.array([[a11, 0, a13], [0, sb, 0], [a31, 0, a33]], dtype=float))
    return mats


def letter_permutations(number: int, seed: int = 0) -> set[tuple[str, ...]]:
    """Letter permutations (images of the letters in alphabetical order) of the affine normalizer found."""
    ops, positions = _group_ops(number)
    by_mult = sorted(positions, key=lambda wp: wp.multiplicity)
    letters = sorted(wp.letter for wp in positions)
    rng = np.random.default_rng(seed)
    generic = {}
    for wp in positions:
        proj = np.array(wp.ops[0].affine_matrix, dtype=float)
        generic[wp.letter] = proj[:3, :3] @ rng.random(3) + proj[:3, 3]
    grid = 2 if number <= 2 else 4  # P-1's normalizer shifts by half vectors; centred monoclinic by quarters
    shifts = [np.array(s) / grid for s in itertools.product(range(grid), repeat=3)]
    perms: set[tuple[str, ...]] = set()
    for linear in _candidate_linear_parts(number):
        inv_linear = np.linalg.inv(linear)
        for shift in shifts:
            transform = np.eye(4)
            transform[:3, :3] = linear
            transform[:3, 3] = shift
            inverse = np.eye(4)
            inverse[:3, :3] = inv_linear
            inverse[:3, 3] = -inv_linear @ shift
            if not _normalizes(transform, inverse, ops):
                continue
            image = tuple(
                _position_of(inv_linear @ (generic[letter] - shift), ops, by_mult) for letter in letters
            )
            perms.add(image)
    return perms


def close_permutations(letters: str, perms: set[tuple[str, ...]]) -> list[str]:
    """The group generated by ``perms`` (each a tuple of images of ``letters``), as image strings, sorted."""
    index = {letter: i for i, letter in enumerate(letters)}
    gens = [tuple(index[x] for x in p) for p in perms]
    identity = tuple(range(len(letters)))
    group = {identity}
    frontier = [identity]
    while frontier:
        new = []
        for g in frontier:
            for h in gens:
                gh = tuple(h[g[i]] for i in range(len(g)))
                if gh not in group:
                    group.add(gh)
                    new.append(gh)
        frontier = new
    return sorted("".join(letters[i] for i in g) for g in group)


def build(path: Path = OUTPUT) -> dict[str, list[str]]:
    """Compute the closed relabelings of groups 2-15 (with pymatgen's) and write them as JSON."""
    import gzip

    from cloud_core.scope.tables import _prototype_data_dir

    with gzip.open(_prototype_data_dir() / "wyckoff-position-relabelings.json.gz", "rt") as fh:
        wren = json.load(fh)
    out: dict[str, list[str]] = {}
    for number in GROUPS:
        found = letter_permutations(number)
        letters = "".join(sorted(next(iter(found)))) if found else ""
        for m in wren[str(number)]:
            found.add(tuple(m.get(str(ord(letter)), letter) for letter in letters))
        out[str(number)] = close_permutations(letters, found)
        print(
            f"space group {number:3d}: {len(wren[str(number)]):3d} relabelings in pymatgen -> {len(out[str(number)])}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "description": "Wyckoff letter permutations of the affine normalizers of space groups 2-15 "
        "(images of the letters in alphabetical order), built by cloud_core/scope/affine_normalizer.py",
        "relabelings": out,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=0) + "\n")
    tmp.replace(path)
    return out


if __name__ == "__main__":
    build()
