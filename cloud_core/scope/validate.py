"""The one SCOPE validator: what a valid SCOPE string is, checked the same way at every entry point.

``cloud predict`` and :class:`~cloud_core.model.predictor.Predictor`, the campaign encode step, the training
data readers and the pool writers all call this module (``ScopeRecord.from_string`` too). A string is valid
when, in this order (the first rule broken is the reason of the :class:`InvalidScopeError`):

1. it parses (three ``|`` sections, element symbols, Wyckoff tokens ``<multiplicity><letter>``, counts as
   digits without a leading zero, no element twice in the formula), otherwise ``invalid_scope``;
2. every element is supported (atomic number <= 103, as the encoder requires), otherwise
   ``unsupported_element``;
3. its Bravais lattice and point group are those of its space-group number (``225 cF m-3m``), otherwise
   ``inconsistent_symmetry``;
4. every orbit is a Wyckoff position of that group, letter and multiplicity, otherwise ``invalid_wyckoff``;
5. a position without free parameters (``4a`` = ``0,0,0`` in Fm-3m) is used at most once, otherwise
   ``repeated_fixed_position`` (:mod:`cloud_core.scope.fixed_positions`);
6. the formula is the orbits' multiplicities reduced, with exactly the orbits' elements, otherwise
   ``formula_mismatch``;
7. it *is* its canonical form (element order, reduced counts, canonical Wyckoff letters over the affine
   normalizer, orbit order, single spaces), otherwise ``not_canonical``, and the message shows the canonical
   string.

A string of unknown symmetry, ``? | - | Fe 2 O 3``, is valid when its formula part is (rules 1, 2 and 7).

Speed: the per-group tables (multiplicities, fixed positions, relabelings) are built once per process and the
images of each set of used letters under the normalizer are cached (:func:`cloud_core.scope.canonical`);
:func:`check_scopes` also validates each distinct string of a batch once. ``bench/scope_validate_bench.py``
measures strings per second on the bundled pool.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cloud_core.scope.canonical import canonical_orbits
from cloud_core.scope.errors import ScopeError, ScopeRejectReason
from cloud_core.scope.formula import reduced_stoichiometry
from cloud_core.scope.tables import MAX_SUPPORTED_Z, element_table, space_group

if TYPE_CHECKING:
    from cloud_core.rejects import Reject
    from cloud_core.scope.record import ScopeRecord

SEPARATOR = "|"
UNKNOWN_SPACEGROUP = "?"
NO_ORBITS = "-"
#: Stage written on the rejects of :func:`validate_many` (the same stage as the encoder's).
STAGE = "scope"

R = ScopeRejectReason


class InvalidScopeError(ScopeError):
    """A SCOPE string that breaks one of the validator's rules.

    Attributes
    ----------
    reason
        Which rule (a :class:`~cloud_core.scope.errors.ScopeRejectReason`).
    message
        What is wrong, naming the string.
    canonical
        The canonical form of the string when it is a valid crystal written non-canonically
        (``not_canonical``), else ``None``.
    """

    def __init__(self, reason: ScopeRejectReason | str, message: str, canonical: str | None = None) -> None:
        super().__init__(reason, message)
        self.canonical = canonical


def _fail(reason: ScopeRejectReason, message: str, text: str) -> InvalidScopeError:
    return InvalidScopeError(reason, f"{message} in {text!r}")


def _parse_formula(tokens: list[str], text: str, symbols: dict[str, Any]) -> dict[str, int]:
    """The formula section as written: element -> count, in the written order (grammar only)."""
    counts: dict[str, int] = {}
    current: str | None = None
    digits = ""
    for token in tokens:
        if len(token) == 1 and "0" <= token <= "9":
            if current is None:
                raise _fail(R.INVALID_SCOPE, "count before any element", text)
            if not digits and token == "0":
                raise _fail(R.INVALID_SCOPE, f"count of {current} starts with 0", text)
            digits += token
        elif token in symbols:
            if current is not None:
                if not digits:
                    raise _fail(R.INVALID_SCOPE, f"no count for {current}", text)
                counts[current] = int(digits)
            if token in counts or token == current:
                raise _fail(R.INVALID_SCOPE, f"element {token} repeated in the formula", text)
            current, digits = token, ""
        else:
            raise _fail(R.INVALID_SCOPE, f"bad formula token {token!r}", text)
    if current is None:
        raise _fail(R.INVALID_SCOPE, "empty formula", text)
    if not digits:
        raise _fail(R.INVALID_SCOPE, f"no count for {current}", text)
    counts[current] = int(digits)
    return counts


def _check_supported(elements: Iterable[str], text: str, symbols: dict[str, Any]) -> None:
    for el in elements:
        if symbols[el].z > MAX_SUPPORTED_Z:
            raise _fail(
                R.UNSUPPORTED_ELEMENT, f"{el} is beyond the supported elements (Z <= {MAX_SUPPORTED_Z})", text
            )


def _formula_text(stoichiometry: Iterable[tuple[str, int]]) -> str:
    return "".join(f"{el}{n if n != 1 else ''}" for el, n in stoichiometry)


def parse_formula_section(text: str) -> tuple[tuple[str, int], ...]:
    """Only the formula section of a SCOPE string, read and checked (reduced, in SCOPE element order).

    Raises
    ------
    InvalidScopeError
        ``invalid_scope`` for a string without three sections or a bad formula; ``not_canonical`` for a formula
        that is not reduced or not in SCOPE element order.
    """
    if not isinstance(text, str):
        raise InvalidScopeError(R.INVALID_SCOPE, f"expected a string, got {type(text).__name__}")
    sections = text.split(SEPARATOR)
    if len(sections) != 3:
        raise _fail(R.INVALID_SCOPE, "expected three sections separated by '|'", text)
    counts = _parse_formula(sections[2].split(), text, element_table()[1])
    reduced = reduced_stoichiometry(counts)
    if tuple(counts.items()) != tuple(reduced):
        raise _fail(
            R.NOT_CANONICAL,
            f"formula is not reduced or not in SCOPE element order ({_formula_text(reduced)})",
            text,
        )
    return reduced


def parse_scope(text: str) -> ScopeRecord:
    """Validate a SCOPE string and return its record (``ScopeRecord.from_string`` calls this).

    Raises
    ------
    InvalidScopeError
        With the reason of the first rule broken (see the module docstring).
    """
    from cloud_core.scope.record import ScopeRecord

    if not isinstance(text, str):
        raise InvalidScopeError(R.INVALID_SCOPE, f"expected a string, got {type(text).__name__}")
    tokens = text.split()
    if tokens.count(SEPARATOR) != 2:
        raise _fail(R.INVALID_SCOPE, "expected three sections separated by '|'", text)
    first = tokens.index(SEPARATOR)
    second = tokens.index(SEPARATOR, first + 1)
    head, orbit_tokens, formula_tokens = tokens[:first], tokens[first + 1 : second], tokens[second + 1 :]
    symbols = element_table()[1]
    written = _parse_formula(formula_tokens, text, symbols)

    if head == [UNKNOWN_SPACEGROUP]:
        if orbit_tokens != [NO_ORBITS]:
            raise _fail(R.INVALID_SCOPE, "unknown symmetry ('?') needs '-' as its orbits", text)
        _check_supported(written, text, symbols)
        record = ScopeRecord(None, (), reduced_stoichiometry(written), None)
        return _canonical_or_fail(record, text)

    if len(head) != 3 or not head[0].isdigit() or head[0][0] == "0" or not 1 <= int(head[0]) <= 230:
        raise _fail(R.INVALID_SCOPE, f"bad space-group section {' '.join(head)!r}", text)
    if not orbit_tokens or len(orbit_tokens) % 2:
        raise _fail(R.INVALID_SCOPE, "orbits must be element/Wyckoff pairs", text)
    raw: list[tuple[str, str]] = []
    for el, wyckoff in zip(orbit_tokens[::2], orbit_tokens[1::2], strict=True):
        if el not in symbols:
            raise _fail(R.INVALID_SCOPE, f"{el!r} is not an element", text)
        raw.append((el, wyckoff))
    _check_supported({el for el, _ in raw} | set(written), text, symbols)

    number = int(head[0])
    info = space_group(number)
    if head[1] != info.bravais or head[2] != info.point_group:
        raise _fail(
            R.INCONSISTENT_SYMMETRY,
            f"space group {number} ({info.hm_short}) is '{number} {info.bravais} {info.point_group}', "
            f"not '{' '.join(head)}'",
            text,
        )
    tokens_of = _wyckoff_tokens(number)
    orbits: list[tuple[str, str]] = []
    for el, wyckoff in raw:
        letter = tokens_of.get(wyckoff)
        if letter is None:
            raise _fail(
                R.INVALID_WYCKOFF, f"{wyckoff!r} is not a Wyckoff position of space group {number}", text
            )
        orbits.append((el, letter))
    if info.fixed:
        used = Counter(letter for _el, letter in orbits if letter in info.fixed)
        repeated = sorted(f"{info.multiplicity[letter]}{letter}" for letter, n in used.items() if n > 1)
        if repeated:
            raise _fail(
                R.REPEATED_FIXED_POSITION,
                f"{', '.join(repeated)} of space group {number} has no free parameter and is occupied "
                "more than once",
                text,
            )
    counts: dict[str, int] = {}
    for el, letter in orbits:
        counts[el] = counts.get(el, 0) + info.multiplicity[letter]
    stoichiometry = reduced_stoichiometry(counts)
    if reduced_stoichiometry(written) != stoichiometry:
        raise _fail(
            R.FORMULA_MISMATCH,
            f"the orbits give {_formula_text(stoichiometry)}, the formula says "
            f"{''.join(f'{el}{n}' for el, n in written.items())}",
            text,
        )
    record = ScopeRecord(
        spacegroup=number,
        orbits=canonical_orbits(number, orbits),
        stoichiometry=stoichiometry,
        n_sites=sum(counts.values()) // info.centering_order,
    )
    return _canonical_or_fail(record, text)


@cache
def _wyckoff_tokens(number: int) -> dict[str, str]:
    """Wyckoff token (``"4a"``) -> letter, for one space group."""
    return {f"{m}{letter}": letter for letter, m in space_group(number).multiplicity.items()}


def _canonical_or_fail(record: ScopeRecord, text: str) -> ScopeRecord:
    canonical = record.to_string()
    if canonical != text:
        raise InvalidScopeError(
            R.NOT_CANONICAL, f"{text!r} is not canonical: write {canonical!r}", canonical=canonical
        )
    return record


def validate_scope(text: str) -> str:
    """Check one SCOPE string; return it (it is canonical) or raise :class:`InvalidScopeError`.

    Examples
    --------
    >>> validate_scope("225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1")
    '225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1'
    """
    parse_scope(text)
    return text


def canonical_scope(text: str) -> str:
    """The canonical form of a SCOPE string that is valid except for its form (``not_canonical``).

    Raises
    ------
    InvalidScopeError
        For any other rule broken.
    """
    try:
        return validate_scope(text)
    except InvalidScopeError as exc:
        if exc.canonical is None:
            raise
        return exc.canonical


@dataclass(frozen=True)
class ScopeCheck:
    """The result of :func:`check_scopes` on a batch.

    Attributes
    ----------
    valid
        Boolean array, one entry per input string, True where the string is valid.
    errors
        Input position -> the error of each invalid string.
    """

    valid: np.ndarray
    errors: dict[int, InvalidScopeError] = field(default_factory=dict)

    @property
    def n_invalid(self) -> int:
        return len(self.errors)

    def reason_counts(self) -> dict[str, int]:
        """Reason code -> number of invalid strings, most frequent first."""
        return dict(Counter(str(e.reason) for e in self.errors.values()).most_common())

    def rejects(self, ids: Sequence[Any], stage: str = STAGE) -> list[Reject]:
        """One :class:`~cloud_core.rejects.Reject` per invalid string, ``ids`` giving the id of each input."""
        from cloud_core.rejects import Reject

        return [Reject(str(ids[i]), stage, str(e.reason), e.message) for i, e in sorted(self.errors.items())]


def check_scopes(strings: Iterable[str | None] | Any) -> ScopeCheck:
    """Validate a batch: a list of strings, or a pyarrow ``Array`` / ``ChunkedArray`` of strings (a column).

    A null is invalid (``invalid_scope``). Each distinct string is validated once.
    """
    if hasattr(strings, "to_pylist"):
        strings = strings.to_pylist()
    strings = list(strings)
    valid = np.ones(len(strings), dtype=bool)
    errors: dict[int, InvalidScopeError] = {}
    seen: dict[str, InvalidScopeError | None] = {}
    for i, s in enumerate(strings):
        if s is None:
            err: InvalidScopeError | None = InvalidScopeError(R.INVALID_SCOPE, "missing SCOPE string (null)")
        elif s in seen:
            err = seen[s]
        else:
            try:
                parse_scope(s)
                err = None
            except InvalidScopeError as exc:
                err = exc
            seen[s] = err
        if err is not None:
            valid[i] = False
            errors[i] = err
    return ScopeCheck(valid=valid, errors=errors)


def require_valid_scopes(strings: Iterable[str | None] | Any, where: str) -> None:
    """For writers of SCOPE strings (corpus builders): raise if any string is invalid (a bug in the writer).

    Raises
    ------
    InvalidScopeError
        With the reason of the first invalid string, the count and the reasons of all of them.
    """
    check = check_scopes(strings)
    if check.n_invalid:
        first = next(iter(check.errors.values()))
        reasons = ", ".join(f"{k} {v}" for k, v in check.reason_counts().items())
        raise InvalidScopeError(
            first.reason,
            f"{where}: {check.n_invalid} invalid SCOPE strings ({reasons}); first: {first.message}",
        )


def validate_many(
    strings: Iterable[str | None] | Any, ids: Sequence[Any] | None = None, *, stage: str = STAGE
) -> tuple[list[tuple[str, str]], list[Reject]]:
    """Validate a batch; errors are data.

    Parameters
    ----------
    strings
        SCOPE strings (a list or a pyarrow string column).
    ids
        One id per string (default: the position as a string).
    stage
        Stage written on the rejects.

    Returns
    -------
    valid, rejects
        ``(id, string)`` of each valid string in input order, and one reject per invalid one.
    """
    if hasattr(strings, "to_pylist"):
        strings = strings.to_pylist()
    strings = list(strings)
    ids = [str(i) for i in range(len(strings))] if ids is None else [str(i) for i in ids]
    if len(ids) != len(strings):
        raise ValueError(f"{len(ids)} ids for {len(strings)} SCOPE strings")
    check = check_scopes(strings)
    valid = [(ids[i], strings[i]) for i in np.flatnonzero(check.valid)]
    return valid, check.rejects(ids, stage)


__all__ = [
    "STAGE",
    "InvalidScopeError",
    "ScopeCheck",
    "canonical_scope",
    "check_scopes",
    "parse_scope",
    "require_valid_scopes",
    "validate_many",
    "validate_scope",
]
