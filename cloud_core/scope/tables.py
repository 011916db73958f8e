"""Space-group and element tables that SCOPE needs, loaded once per process and cached.

Sources (all shipped inside installed packages, no network):

- Wyckoff multiplicities (conventional cell; rhombohedral groups on hexagonal axes) and the Wyckoff
  relabelings of each group's affine normalizer: ``pymatgen/analysis/prototypes/wyckoff-position-*.json.gz``
  (the Wren / aviary tables). They are read with ``gzip`` + ``json`` directly, without importing
  ``pymatgen.analysis.prototypes`` (which pulls in pyxtal and costs seconds).
- Bravais class and point group of each space-group type: moyopy's ``SpaceGroupType`` (derived, not typed).
- Pauling electronegativity and atomic number of each element: pymatgen's periodic table.

Letters are ranked ``a`` < ``b`` < ... < ``z`` < ``A``; ``A`` is how pymatgen, spglib and moyopy write the
27th Wyckoff position of Pmmm (``alpha`` in the International Tables).
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

#: Hermann-Mauguin short symbols of the 32 crystal classes, as spglib writes them.
POINT_GROUPS: tuple[str, ...] = (
    "1", "-1", "2", "m", "2/m", "222", "mm2", "mmm", "4", "-4", "4/m", "422", "4mm", "-42m", "4/mmm",
    "3", "-3", "32", "3m", "-3m", "6", "-6", "6/m", "622", "6mm", "-6m2", "6/mmm", "23", "m-3", "432",
    "-43m", "m-3m",
)  # fmt: skip

#: The 14 Bravais lattices (Pearson-style, base-centred written ``S``).
BRAVAIS_LATTICES: tuple[str, ...] = (
    "aP", "mP", "mS", "oP", "oS", "oI", "oF", "tP", "tI", "hR", "hP", "cP", "cI", "cF",
)  # fmt: skip

#: Lattice points per conventional cell for each centring letter of the Bravais symbol.
CENTERING_ORDER: dict[str, int] = {"P": 1, "S": 2, "I": 2, "R": 3, "F": 4}

#: Highest atomic number accepted by default (Lr); heavier elements have no crystal data to learn from.
MAX_SUPPORTED_Z = 103

#: Relabelings of the affine normalizers of groups 2-15 (lattice-basis changes that pymatgen's table lacks),
#: built by :mod:`cloud_core.scope.affine_normalizer`.
AFFINE_RELABELINGS = Path(__file__).resolve().parent.parent / "data" / "scope" / "affine_relabelings.json"

#: Wyckoff letters without free parameters of each group, built by :mod:`cloud_core.scope.fixed_positions`.
FIXED_POSITIONS = Path(__file__).resolve().parent.parent / "data" / "scope" / "fixed_positions.json"

LETTERS: str = "abcdefghijklmnopqrstuvwxyzA"
LETTER_RANK: dict[str, int] = {letter: i for i, letter in enumerate(LETTERS)}


@dataclass(frozen=True, slots=True)
class SpaceGroupInfo:
    """What SCOPE uses about one space-group type.

    Attributes
    ----------
    number
        International number, 1-230.
    bravais
        Bravais lattice symbol, one of :data:`BRAVAIS_LATTICES`.
    point_group
        Point group (crystal class), one of :data:`POINT_GROUPS`.
    hm_short
        Hermann-Mauguin short symbol of the standard setting (for messages).
    multiplicity
        Wyckoff letter -> multiplicity in the conventional cell.
    relabelings
        Each relabeling of the affine normalizer as a tuple ``perm`` with ``perm[rank] = new rank`` over
        letter ranks (:data:`LETTER_RANK`); the identity is included. pymatgen's table, completed for
        groups 2-15 by :data:`AFFINE_RELABELINGS`.
    centering_order
        Lattice points per conventional cell (1, 2, 3 or 4).
    fixed
        Letters of the positions without free parameters (a crystal occupies each at most once), from
        :data:`FIXED_POSITIONS`.
    """

    number: int
    bravais: str
    point_group: str
    hm_short: str
    multiplicity: dict[str, int]
    relabelings: tuple[tuple[int, ...], ...]
    centering_order: int
    fixed: frozenset[str] = frozenset()


def _prototype_data_dir() -> Path:
    spec = find_spec("pymatgen")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pymatgen is required for the SCOPE Wyckoff tables")
    return Path(next(iter(spec.submodule_search_locations))) / "analysis" / "prototypes"


def _load_json_gz(name: str) -> dict:
    path = _prototype_data_dir() / name
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _bravais_symbol(moyo_bravais: str) -> str:
    """Map moyopy's Bravais class (``mC``, ``oC``, ``oA``) to the grammar's ``S`` spelling."""
    family, centring = moyo_bravais[0], moyo_bravais[1]
    if centring in "ABC":
        centring = "S"
    symbol = family + centring
    if symbol not in BRAVAIS_LATTICES:
        raise ValueError(f"unexpected Bravais class {moyo_bravais!r}")
    return symbol


@cache
def space_group_table() -> dict[int, SpaceGroupInfo]:
    """All 230 space-group types, built once per process."""
    import moyopy

    multiplicities = _load_json_gz("wyckoff-position-multiplicities.json.gz")
    relabelings = _load_json_gz("wyckoff-position-relabelings.json.gz")
    affine = json.loads(AFFINE_RELABELINGS.read_text())["relabelings"] if AFFINE_RELABELINGS.is_file() else {}
    fixed = json.loads(FIXED_POSITIONS.read_text())["fixed"]
    n_letters = len(LETTERS)
    table: dict[int, SpaceGroupInfo] = {}
    for number in range(1, 231):
        sg_type = moyopy.SpaceGroupType(number)
        bravais = _bravais_symbol(sg_type.bravais_class)
        point_group = sg_type.geometric_crystal_class
        if point_group not in POINT_GROUPS:
            raise ValueError(f"unexpected point group {point_group!r} for space group {number}")
        mult = {str(k): int(v) for k, v in multiplicities[str(number)].items()}
        perms = []
        for relabeling in relabelings[str(number)]:
            perm = list(range(n_letters))
            for src, dst in relabeling.items():
                perm[LETTER_RANK[chr(int(src))]] = LETTER_RANK[dst]
            perms.append(tuple(perm))
        letters = "".join(sorted(mult, key=LETTER_RANK.__getitem__))
        for images in affine.get(str(number), ()):
            perm = list(range(n_letters))
            for src, dst in zip(letters, images, strict=True):
                perm[LETTER_RANK[src]] = LETTER_RANK[dst]
            perms.append(tuple(perm))
        identity = tuple(range(n_letters))
        if identity not in perms:
            perms.insert(0, identity)
        table[number] = SpaceGroupInfo(
            number=number,
            bravais=bravais,
            point_group=point_group,
            hm_short=sg_type.hm_short,
            multiplicity=mult,
            relabelings=tuple(dict.fromkeys(perms)),
            centering_order=CENTERING_ORDER[bravais[1]],
            fixed=frozenset(fixed[str(number)]),
        )
    return table


def space_group(number: int) -> SpaceGroupInfo:
    """Information about one space-group type (1-230); raises ``KeyError`` otherwise."""
    return space_group_table()[number]


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """Symbol, atomic number and Pauling electronegativity (NaN where it has none) of one element."""

    symbol: str
    z: int
    electronegativity: float

    @property
    def order_key(self) -> tuple[float, int]:
        """SCOPE's element order: (electronegativity, Z) ascending; elements without one last, by Z."""
        x = self.electronegativity
        return (math.inf if math.isnan(x) else x, self.z)


@cache
def element_table() -> tuple[dict[int, ElementInfo], dict[str, ElementInfo]]:
    """Elements 1-118 by atomic number and by symbol, built once per process."""
    import warnings

    from pymatgen.core.periodic_table import Element

    by_z: dict[int, ElementInfo] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, 119):
            el = Element.from_Z(z)
            x = el.X
            info = ElementInfo(
                symbol=el.symbol, z=z, electronegativity=float(x) if x is not None else math.nan
            )
            by_z[z] = info
    by_symbol = {info.symbol: info for info in by_z.values()}
    return by_z, by_symbol


@cache
def element_order_keys() -> dict[str, tuple[float, int]]:
    """Symbol -> :attr:`ElementInfo.order_key` of every element (SCOPE's element order), built once."""
    return {symbol: info.order_key for symbol, info in element_table()[1].items()}


def element_by_symbol(symbol: str) -> ElementInfo:
    """Look an element up by symbol; raises ``KeyError`` for anything that is not an element."""
    return element_table()[1][symbol]


def element_by_z(z: int) -> ElementInfo:
    """Look an element up by atomic number; raises ``KeyError`` outside 1-118."""
    return element_table()[0][z]
