"""Why a crystal could not be encoded: reason codes and the exception that carries one."""

from __future__ import annotations

from enum import StrEnum


class ScopeRejectReason(StrEnum):
    """Reason codes of the ``scope`` stage (the ``reason`` of a :class:`~cloud_core.rejects.Reject`)."""

    DISORDERED = "disordered"
    """A site holds more than one species or is partially occupied, in any input format (a CIF with
    fractional occupancies included): SCOPE describes ordered crystals."""
    SYMMETRY_NOT_FOUND = "symmetry_not_found"
    """No tolerance gave a consistent space group and Wyckoff assignment."""
    TOO_MANY_SITES = "too_many_sites"
    """More sites than the configured limit (in the given cell or in the primitive cell)."""
    INVALID_LATTICE = "invalid_lattice"
    """Non-finite, degenerate (zero volume) or non-periodic lattice."""
    OVERLAPPING_ATOMS = "overlapping_atoms"
    """Two atoms closer than the overlap threshold (0.5 A by default)."""
    UNSUPPORTED_ELEMENT = "unsupported_element"
    """A dummy species, or an element beyond the supported range (Z > 103)."""
    UNREADABLE_FILE = "unreadable_file"
    """The path does not exist or no reader could parse it as a crystal structure."""
    NON_INTEGER_FORMULA = "non_integer_formula"
    """A composition whose amounts are not small exact rationals."""
    INVALID_INPUT = "invalid_input"
    """An object of the wrong type, or an empty structure / formula."""
    INVALID_SCOPE = "invalid_scope"
    """A SCOPE string that does not follow the grammar (sections, tokens, counts)."""
    INCONSISTENT_SYMMETRY = "inconsistent_symmetry"
    """A SCOPE string whose Bravais lattice or point group is not that of its space-group number."""
    INVALID_WYCKOFF = "invalid_wyckoff"
    """A SCOPE orbit that is not a Wyckoff position (letter and multiplicity) of the string's space group."""
    REPEATED_FIXED_POSITION = "repeated_fixed_position"
    """A SCOPE string that occupies a Wyckoff position without free parameters more than once."""
    FORMULA_MISMATCH = "formula_mismatch"
    """A SCOPE string whose formula is not its orbits' multiplicities reduced (or names other elements)."""
    NOT_CANONICAL = "not_canonical"
    """A valid SCOPE crystal not written in its canonical form (the message shows the canonical string)."""
    INTERNAL_ERROR = "internal_error"
    """An unexpected exception inside the encoder (a bug: please report it)."""


class ScopeError(ValueError):
    """An input that SCOPE cannot encode (or a string it cannot parse).

    Parameters
    ----------
    reason
        The reason code.
    message
        A human-readable explanation.
    """

    def __init__(self, reason: ScopeRejectReason | str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = ScopeRejectReason(reason)
        self.message = message
