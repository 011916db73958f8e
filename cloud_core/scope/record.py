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
- Validity (every rule, with its reason code): :mod:`cloud_core.scope.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud_core.scope.canonical import Orbit
from cloud_core.scope.tables import space_group
from cloud_core.scope.validate import NO_ORBITS, SEPARATOR, UNKNOWN_SPACEGROUP


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

        The string must be valid and canonical: :func:`cloud_core.scope.validate.parse_scope` checks every
        rule (the one validator; see its module docstring).

        Raises
        ------
        InvalidScopeError
            A :class:`ScopeError` whose reason names the first rule broken.
        """
        from cloud_core.scope.validate import parse_scope

        return parse_scope(text)


def parse_stoichiometry(text: str) -> tuple[tuple[str, int], ...]:
    """The stoichiometry section of a SCOPE string (``Fe 2 O 3`` -> ``(("Fe", 2), ("O", 3))``), checked.

    Reads only the third section, so it is cheap enough for featurising large tables; see
    :func:`cloud_core.scope.validate.parse_formula_section`.
    """
    from cloud_core.scope.validate import parse_formula_section

    return parse_formula_section(text)
