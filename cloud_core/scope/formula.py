"""Exact reduced integer stoichiometry, in SCOPE's element order."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from cloud_core.scope.errors import ScopeError, ScopeRejectReason
from cloud_core.scope.tables import element_order_keys

#: Largest denominator accepted when a formula's amounts are read as rationals (``Fe0.5O0.75`` -> ``Fe2O3``).
MAX_DENOMINATOR = 100
#: Largest reduced count accepted (a guard against float noise that would give huge integers).
MAX_COUNT = 9999


def sort_elements(symbols: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """Symbols in SCOPE's element order: (Pauling electronegativity, Z), elements without one last by Z."""
    return sorted(symbols, key=element_order_keys().__getitem__)


def reduced_stoichiometry(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Reduce integer counts by their gcd and order them: ``{"O": 6, "Fe": 4} -> (("Fe", 2), ("O", 3))``."""
    positive = {el: int(n) for el, n in counts.items() if n}
    if not positive:
        raise ScopeError(ScopeRejectReason.INVALID_INPUT, "empty composition")
    if any(n < 0 for n in positive.values()):
        raise ScopeError(ScopeRejectReason.INVALID_INPUT, f"negative amount in {dict(counts)}")
    g = 0
    for n in positive.values():
        g = math.gcd(g, n)
    return tuple((el, positive[el] // g) for el in sort_elements(list(positive)))


def rational_stoichiometry(
    amounts: Mapping[str, float], *, max_denominator: int = MAX_DENOMINATOR
) -> tuple[tuple[str, int], ...]:
    """Exact reduced integer stoichiometry of possibly fractional amounts.

    Each amount must be, within 1e-6 relative, a rational with denominator <= ``max_denominator``; the amounts
    are then scaled by the least common denominator and reduced.

    Raises
    ------
    ScopeError
        ``non_integer_formula`` when an amount is not such a rational or the result is absurdly large.
    """
    fractions: dict[str, Fraction] = {}
    for el, x in amounts.items():
        xf = float(x)
        if not math.isfinite(xf) or xf < 0:
            raise ScopeError(ScopeRejectReason.INVALID_INPUT, f"amount of {el} is {x!r}")
        if xf == 0:
            continue
        frac = Fraction(xf).limit_denominator(max_denominator)
        if abs(float(frac) - xf) > 1e-6 * max(1.0, xf):
            raise ScopeError(
                ScopeRejectReason.NON_INTEGER_FORMULA,
                f"amount {xf!r} of {el} is not a rational with denominator <= {max_denominator}",
            )
        fractions[el] = frac
    if not fractions:
        raise ScopeError(ScopeRejectReason.INVALID_INPUT, "empty composition")
    lcm = 1
    for frac in fractions.values():
        lcm = lcm * frac.denominator // math.gcd(lcm, frac.denominator)
    counts = {el: int(frac * lcm) for el, frac in fractions.items()}
    result = reduced_stoichiometry(counts)
    if max(n for _, n in result) > MAX_COUNT:
        raise ScopeError(
            ScopeRejectReason.NON_INTEGER_FORMULA,
            f"reduced formula needs counts above {MAX_COUNT}: {dict(result)}",
        )
    return result
