"""The SCOPE record and its string form (the grammar).

Grammar (whitespace-separated tokens, three sections separated by the token ``|``)::

    <sg number> <Bravais lattice> <point group> | <El> <Wyckoff> <El> <Wyckoff> ... | <El> <digit>... ...

- ``225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1`` (rocksalt), ``167 hR -3m | Al 12c O 18e | Al 2 O 3`` (corundum).
- Bravais lattice: one of ``aP mP mS oP oS oI oF tP tI hR hP cP cI cF``; point group: the Hermann-Mauguin
  short symbol of the crystal class as spglib writes it. Both are implied by the number and are checked.
- One ``El`` token and one Wyckoff token (multiplicity in the conventional cell, rhombohedral groups on
  hexagonal axes, + letter) per orbit, canonical letters, canonical order (see :mod:`.canonical`).
- Stoichiometry: exact reduced integer formula, counts digit by digit (``C 1 4 9`` for C149), 1 explicit.
- Element order everywhere: (Pauling electronegativity, Z) ascending; elements without one last, by Z.
- Unknown symmetry (a composition only): ``? | - | Fe 2 O 3``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cloud_core.scope.canonical import Orbit, canonical_orbits
from cloud_core.scope.errors import ScopeError, ScopeRejectReason
from cloud_core.scope.formula import reduced_stoichiometry
from cloud_core.scope.tables import element_table, space_group

SEPARATOR = "|"
UNKNOWN_SPACEGROUP = "?"
NO_ORBITS = "-"


@dataclass(frozen=True, slots=True)
class ScopeRecord:
    """One crystal's SCOPE: symmetry, canonical Wyckoff orbits, exact stoichiometry.

    Attributes
    ----------
    spacegroup
        International space-group number, or ``None`` when only the composition is known.
    orbits
        Canonical Wyckoff orbits ``(element, multiplicity, letter)``; empty when the symmetry is unknown.
    stoichiometry
        Exact reduced integer formula, ``(("Fe", 2), ("O", 3))``, in SCOPE's element order.
    n_sites
        Sites in the primitive cell (``None`` when the symmetry is unknown).
    symprec
        Symmetry tolerance (A) that gave this record (``None`` for parsed strings and formulas). Not part of
        equality.
    backend
        ``"moyopy"``, ``"spglib"``, ``"formula"`` or ``"string"``. Not part of equality.
    """

    spacegroup: int | None
    orbits: tuple[Orbit, ...]
    stoichiometry: tuple[tuple[str, int], ...]
    n_sites: int | None
    symprec: float | None = field(default=None, compare=False)
    backend: str = field(default="string", compare=False)

    @property
    def bravais(self) -> str | None:
        """Bravais lattice symbol (``cF``), ``None`` when the symmetry is unknown."""
        return None if self.spacegroup is None else space_group(self.spacegroup).bravais

    @property
    def point_group(self) -> str | None:
        """Point group symbol (``m-3m``), ``None`` when the symmetry is unknown."""
        return None if self.spacegroup is None else space_group(self.spacegroup).point_group

    @property
    def formula(self) -> str:
        """The reduced formula in SCOPE order, e.g. ``"Fe2O3"``."""
        return "".join(f"{el}{n if n != 1 else ''}" for el, n in self.stoichiometry)

    def to_tokens(self) -> list[str]:
        """The SCOPE tokens (``to_string().split()``)."""
        if self.spacegroup is None:
            tokens = [UNKNOWN_SPACEGROUP, SEPARATOR, NO_ORBITS, SEPARATOR]
        else:
            info = space_group(self.spacegroup)
            tokens = [str(self.spacegroup), info.bravais, info.point_group, SEPARATOR]
            for orbit in self.orbits:
                tokens += [orbit.element, orbit.wyckoff]
            tokens.append(SEPARATOR)
        for el, n in self.stoichiometry:
            tokens.append(el)
            tokens.extend(str(n))
        return tokens

    def to_string(self) -> str:
        """The SCOPE string."""
        return " ".join(self.to_tokens())

    def __str__(self) -> str:
        return self.to_string()

    @classmethod
    def from_string(cls, text: str) -> ScopeRecord:
        """Parse a SCOPE string back into a record (the inverse of :meth:`to_string`).

        The string must be canonical: letters, orbit order and element order are checked, as are the Bravais
        lattice and point group against the number, and the stoichiometry against the orbits.

        Raises
        ------
        ScopeError
            ``invalid_scope`` with the first problem found.
        """
        if not isinstance(text, str):
            raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"expected a string, got {type(text).__name__}")
        tokens = text.split()
        if tokens.count(SEPARATOR) != 2:
            raise ScopeError(
                ScopeRejectReason.INVALID_SCOPE, f"expected three sections separated by '|': {text!r}"
            )
        first = tokens.index(SEPARATOR)
        second = tokens.index(SEPARATOR, first + 1)
        head, orbit_tokens, stoich_tokens = tokens[:first], tokens[first + 1 : second], tokens[second + 1 :]
        stoichiometry = _parse_stoichiometry(stoich_tokens, text)
        if head == [UNKNOWN_SPACEGROUP]:
            if orbit_tokens != [NO_ORBITS]:
                raise ScopeError(
                    ScopeRejectReason.INVALID_SCOPE, f"unknown symmetry needs '-' as orbits: {text!r}"
                )
            return cls(spacegroup=None, orbits=(), stoichiometry=stoichiometry, n_sites=None)
        if len(head) != 3 or not head[0].isdigit() or not 1 <= int(head[0]) <= 230:
            raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"bad space-group section {head!r} in {text!r}")
        number = int(head[0])
        info = space_group(number)
        if head[1] != info.bravais or head[2] != info.point_group:
            raise ScopeError(
                ScopeRejectReason.INVALID_SCOPE,
                f"space group {number} is {info.bravais} {info.point_group}, not {head[1]} {head[2]}",
            )
        if not orbit_tokens or len(orbit_tokens) % 2:
            raise ScopeError(
                ScopeRejectReason.INVALID_SCOPE, f"orbits must be element/Wyckoff pairs: {text!r}"
            )
        symbols = element_table()[1]
        raw: list[tuple[str, str]] = []
        for el, wyckoff in zip(orbit_tokens[::2], orbit_tokens[1::2], strict=True):
            letter, mult = wyckoff[-1:], wyckoff[:-1]
            if el not in symbols:
                raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"unknown element {el!r} in {text!r}")
            if (
                letter not in info.multiplicity
                or not mult.isdigit()
                or int(mult) != info.multiplicity[letter]
            ):
                raise ScopeError(
                    ScopeRejectReason.INVALID_SCOPE,
                    f"{wyckoff!r} is not a Wyckoff position of space group {number}",
                )
            raw.append((el, letter))
        orbits = canonical_orbits(number, raw)
        parsed = tuple(Orbit(el, info.multiplicity[letter], letter) for el, letter in raw)
        if parsed != orbits:
            expected = " ".join(f"{o.element} {o.wyckoff}" for o in orbits)
            raise ScopeError(
                ScopeRejectReason.INVALID_SCOPE,
                f"orbits are not canonical: expected {expected!r} in {text!r}",
            )
        counts: Counter[str] = Counter()
        for orbit in orbits:
            counts[orbit.element] += orbit.multiplicity
        if reduced_stoichiometry(counts) != stoichiometry:
            raise ScopeError(
                ScopeRejectReason.INVALID_SCOPE, f"stoichiometry does not match the orbits in {text!r}"
            )
        n_sites = sum(counts.values()) // info.centering_order
        return cls(spacegroup=number, orbits=orbits, stoichiometry=stoichiometry, n_sites=n_sites)


def parse_stoichiometry(text: str) -> tuple[tuple[str, int], ...]:
    """The stoichiometry section of a SCOPE string, checked as :meth:`ScopeRecord.from_string` checks it.

    Reads only the third section (``Fe 2 O 3`` -> ``(("Fe", 2), ("O", 3))``): the symmetry sections are not
    parsed, which makes it cheap enough for featurising large tables.

    Raises
    ------
    ScopeError
        ``invalid_scope`` when the string has not three sections or its stoichiometry is not canonical.
    """
    if not isinstance(text, str):
        raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"expected a string, got {type(text).__name__}")
    sections = text.split(SEPARATOR)
    if len(sections) != 3:
        raise ScopeError(
            ScopeRejectReason.INVALID_SCOPE, f"expected three sections separated by '|': {text!r}"
        )
    return _parse_stoichiometry(sections[2].split(), text)


def _parse_stoichiometry(tokens: list[str], text: str) -> tuple[tuple[str, int], ...]:
    symbols = element_table()[1]
    counts: dict[str, int] = {}
    current: str | None = None
    digits = ""
    order: list[str] = []

    def flush() -> None:
        if current is not None:
            if not digits or digits[0] == "0":
                raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"bad count for {current} in {text!r}")
            counts[current] = int(digits)

    for token in tokens:
        if len(token) == 1 and token.isdigit():
            if current is None:
                raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"count before any element in {text!r}")
            digits += token
        elif token in symbols:
            flush()
            if token in counts or token == current:
                raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"element {token} repeated in {text!r}")
            current, digits = token, ""
            order.append(token)
        else:
            raise ScopeError(
                ScopeRejectReason.INVALID_SCOPE, f"bad stoichiometry token {token!r} in {text!r}"
            )
    flush()
    if not counts:
        raise ScopeError(ScopeRejectReason.INVALID_SCOPE, f"empty stoichiometry in {text!r}")
    reduced = reduced_stoichiometry(counts)
    if tuple(order) != tuple(el for el, _ in reduced) or reduced != tuple((el, counts[el]) for el in order):
        raise ScopeError(
            ScopeRejectReason.INVALID_SCOPE,
            f"stoichiometry is not reduced or not in SCOPE element order: {text!r}",
        )
    return reduced
