"""A closed, deterministic vocabulary for SCOPE strings, derived from chemistry and symmetry.

No tokenizer is trained: every token that a valid SCOPE string can contain is enumerated from tables
(230 space groups, 14 Bravais lattices, 32 point groups, every Wyckoff multiplicity+letter that exists in
some space group, 118 elements, the digits), so two installations always build the same vocabulary, and
its hash (stored in every checkpoint) proves it.

Tokenisation is section aware. A SCOPE string

    ``<sg> <Bravais> <point group> | <El> <Wyckoff> ... | <El> <digit>... ...``

is read section by section, so the space-group number ``1``, the point group ``1`` and the stoichiometry
digit ``1`` become three distinct tokens (``sg:1``, ``pg:1``, ``n:1``). Element tokens are shared by the
orbit and stoichiometry sections (the section embedding tells them apart).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")
SECTION_TOKEN = "|"
UNKNOWN_SYMMETRY = "?"
UNKNOWN_ORBITS = "-"
BRAVAIS = ("aP", "mP", "mS", "oP", "oS", "oI", "oF", "tP", "tI", "hR", "hP", "cP", "cI", "cF")
POINT_GROUPS = (
    "1", "-1", "2", "m", "2/m", "222", "mm2", "mmm", "4", "-4", "4/m", "422", "4mm", "-42m", "4/mmm",
    "3", "-3", "32", "3m", "-3m", "6", "-6", "6/m", "622", "6mm", "-6m2", "6/mmm", "23", "m-3", "432",
    "-43m", "m-3m",
)  # fmt: skip
N_SPACE_GROUPS = 230
# Z = 1..118 (checked against pymatgen's periodic table in the tests)
ELEMENTS = (
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",
    "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce",
    "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir",
    "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc",
    "Lv", "Ts", "Og",
)  # fmt: skip
N_ELEMENTS = len(ELEMENTS)
WYCKOFF_TABLE = "analysis/prototypes/wyckoff-position-multiplicities.json.gz"

PAD_ID, CLS_ID, SEP_ID, MASK_ID, UNK_ID = range(5)


class ScopeTokenError(ValueError):
    """A SCOPE string that does not follow the grammar (or holds a token outside the vocabulary)."""


@cache
def _wyckoff_table() -> dict[int, dict[str, int]]:
    """Space group -> {Wyckoff letter: multiplicity in the conventional cell} (pymatgen's shipped table).

    The file is located without importing pymatgen (which is slow to import).
    """
    spec = importlib.util.find_spec("pymatgen")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pymatgen is not installed: the SCOPE vocabulary needs its Wyckoff tables")
    path = Path(list(spec.submodule_search_locations)[0]) / WYCKOFF_TABLE
    raw = json.loads(gzip.decompress(path.read_bytes()))
    return {
        int(sg): {letter: int(m) for letter, m in table.items()} for sg, table in raw.items() if int(sg) > 0
    }


def _element_symbols() -> tuple[str, ...]:
    return ELEMENTS


def _wyckoff_key(token: str) -> tuple[int, str]:
    digits = token.rstrip("abcdefghijklmnopqrstuvwxyzA")
    return int(digits), token[len(digits) :]


@dataclass(frozen=True)
class Encoded:
    """A batch of tokenised SCOPE strings, padded to the longest one.

    Attributes
    ----------
    input_ids, section_ids
        int64 arrays of shape (batch, length); padding is ``PAD_ID`` / 0.
    lengths
        int64 array (batch,), number of real tokens per row (including [CLS] and [SEP]).
    """

    input_ids: np.ndarray
    section_ids: np.ndarray
    lengths: np.ndarray

    @property
    def attention_mask(self) -> np.ndarray:
        """Boolean (batch, length): True on real tokens."""
        return np.arange(self.input_ids.shape[1])[None, :] < self.lengths[:, None]


class Vocabulary:
    """The closed SCOPE vocabulary.

    Token strings are namespaced: ``sg:225`` (space group), ``bl:cF`` (Bravais lattice), ``pg:m-3m`` (point
    group), ``wy:4a`` (Wyckoff multiplicity+letter), ``Na`` (element), ``n:7`` (stoichiometry digit), plus
    the special tokens, ``|``, ``?`` and ``-``. Ids follow that order and never depend on data.
    """

    VERSION = 1

    def __init__(self) -> None:
        wyckoff = sorted({f"{m}{letter}" for t in _wyckoff_table().values() for letter, m in t.items()},
                         key=_wyckoff_key)  # fmt: skip
        tokens: list[str] = list(SPECIAL_TOKENS) + [SECTION_TOKEN, UNKNOWN_SYMMETRY, UNKNOWN_ORBITS]
        tokens += [f"sg:{i}" for i in range(1, N_SPACE_GROUPS + 1)]
        tokens += [f"bl:{b}" for b in BRAVAIS]
        tokens += [f"pg:{p}" for p in POINT_GROUPS]
        tokens += [f"wy:{w}" for w in wyckoff]
        tokens += list(_element_symbols())
        tokens += [f"n:{d}" for d in range(10)]
        self.tokens: tuple[str, ...] = tuple(tokens)
        self.index: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        if len(self.index) != len(tokens):  # pragma: no cover - a table bug, not user input
            raise RuntimeError("duplicate tokens in the SCOPE vocabulary")
        self._elements = frozenset(_element_symbols())
        self._wyckoff = _wyckoff_table()
        structural = {SECTION_TOKEN, UNKNOWN_SYMMETRY, UNKNOWN_ORBITS, *SPECIAL_TOKENS}
        self.maskable = np.array([t not in structural for t in tokens], dtype=bool)
        self.maskable_ids = np.flatnonzero(self.maskable)

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, hash={self.hash[:12]})"

    @property
    def hash(self) -> str:
        """sha256 over the version and the ordered token list: the vocabulary's identity in checkpoints."""
        payload = json.dumps({"version": self.VERSION, "tokens": self.tokens}, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    # ------------------------------------------------------------------ tokenisation
    def _split(self, scope: str) -> tuple[list[str], list[str], list[str]]:
        if not isinstance(scope, str):
            raise ScopeTokenError(f"a SCOPE string must be str, got {type(scope).__name__}")
        parts = scope.split()
        if parts.count(SECTION_TOKEN) != 2:
            raise ScopeTokenError(f"expected 3 sections separated by ' | ', got {scope!r}")
        i, j = parts.index(SECTION_TOKEN), len(parts) - 1 - parts[::-1].index(SECTION_TOKEN)
        return parts[:i], parts[i + 1 : j], parts[j + 1 :]

    def encode(self, scope: str) -> tuple[list[int], list[int]]:
        """Token ids and section ids (0 symmetry, 1 orbits, 2 stoichiometry) with [CLS] ... [SEP].

        Raises
        ------
        ScopeTokenError
            If the string does not follow the SCOPE grammar.
        """
        sym, orbits, stoich = self._split(scope)
        ix = self.index
        ids = [CLS_ID]
        sec = [0]
        # symmetry section
        if sym == [UNKNOWN_SYMMETRY]:
            sg = None
            ids.append(ix[UNKNOWN_SYMMETRY])
        elif len(sym) == 3:
            try:
                sg = int(sym[0])
            except ValueError:
                sg = 0
            if not 1 <= sg <= N_SPACE_GROUPS or sym[0] != str(sg):
                raise ScopeTokenError(f"bad space-group number {sym[0]!r} in {scope!r}")
            bl, pg = f"bl:{sym[1]}", f"pg:{sym[2]}"
            if bl not in ix:
                raise ScopeTokenError(f"unknown Bravais lattice {sym[1]!r} in {scope!r}")
            if pg not in ix:
                raise ScopeTokenError(f"unknown point group {sym[2]!r} in {scope!r}")
            ids += [ix[f"sg:{sg}"], ix[bl], ix[pg]]
        else:
            raise ScopeTokenError(
                f"symmetry section must be '<sg> <Bravais> <point group>' or '?': {scope!r}"
            )
        ids.append(ix[SECTION_TOKEN])
        sec += [0] * (len(ids) - len(sec))
        # orbit section
        if sg is None:
            if orbits != [UNKNOWN_ORBITS]:
                raise ScopeTokenError(f"unknown symmetry '?' needs orbit section '-': {scope!r}")
            ids.append(ix[UNKNOWN_ORBITS])
        else:
            if not orbits or len(orbits) % 2:
                raise ScopeTokenError(f"orbit section must be pairs '<El> <Wyckoff>': {scope!r}")
            table = self._wyckoff[sg]
            for el, wy in zip(orbits[::2], orbits[1::2], strict=True):
                if el not in self._elements:
                    raise ScopeTokenError(f"unknown element {el!r} in {scope!r}")
                try:
                    mult, letter = _wyckoff_key(wy)
                except ValueError:
                    mult, letter = -1, ""
                if table.get(letter) != mult:
                    raise ScopeTokenError(
                        f"Wyckoff position {wy!r} does not exist in space group {sg}: {scope!r}"
                    )
                ids += [ix[el], ix[f"wy:{wy}"]]
        ids.append(ix[SECTION_TOKEN])
        sec += [1] * (len(ids) - len(sec))
        # stoichiometry section
        if not stoich or stoich[0] not in self._elements:
            raise ScopeTokenError(f"stoichiometry section must start with an element: {scope!r}")
        prev_el = False
        for tok in stoich:
            if tok in self._elements:
                if prev_el:
                    raise ScopeTokenError(f"element {tok!r} follows an element without a count: {scope!r}")
                ids.append(ix[tok])
                prev_el = True
            elif len(tok) == 1 and tok.isdigit():
                if prev_el and tok == "0":
                    raise ScopeTokenError(f"a count cannot start with 0: {scope!r}")
                ids.append(ix[f"n:{tok}"])
                prev_el = False
            else:
                raise ScopeTokenError(f"bad stoichiometry token {tok!r} in {scope!r}")
        if prev_el:
            raise ScopeTokenError(f"stoichiometry ends with an element and no count: {scope!r}")
        ids.append(SEP_ID)
        sec += [2] * (len(ids) - len(sec))
        return ids, sec

    def tokenize(self, scope: str) -> list[int]:
        """Token ids of one SCOPE string, [CLS] first and [SEP] last."""
        return self.encode(scope)[0]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Token strings for ids (namespaced, e.g. ``sg:225``)."""
        return [self.tokens[int(i)] for i in ids]

    def encode_batch(self, scopes: Sequence[str], max_length: int | None = None) -> Encoded:
        """Tokenise and right-pad a batch.

        Parameters
        ----------
        scopes
            SCOPE strings.
        max_length
            If given, a string longer than this (in tokens) raises :class:`ScopeTokenError`.
        """
        encoded = [self.encode(s) for s in scopes]
        return self.pad(encoded, max_length=max_length)

    @staticmethod
    def pad(encoded: Sequence[tuple[Sequence[int], Sequence[int]]], max_length: int | None = None) -> Encoded:
        """Right-pad already tokenised (ids, sections) pairs into an :class:`Encoded` batch."""
        lengths = np.fromiter((len(e[0]) for e in encoded), dtype=np.int64, count=len(encoded))
        width = int(lengths.max()) if len(encoded) else 0
        if max_length is not None and width > max_length:
            bad = int(np.argmax(lengths))
            raise ScopeTokenError(
                f"item {bad} has {width} tokens, more than the model's maximum {max_length}"
            )
        ids = np.full((len(encoded), width), PAD_ID, dtype=np.int64)
        sec = np.zeros((len(encoded), width), dtype=np.int64)
        for row, (i, s) in enumerate(encoded):
            ids[row, : len(i)] = i
            sec[row, : len(s)] = s
        return Encoded(ids, sec, lengths)


@cache
def get_vocabulary() -> Vocabulary:
    """The process-wide vocabulary (built once)."""
    return Vocabulary()
