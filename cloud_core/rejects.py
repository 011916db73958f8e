"""Errors are data: a candidate that fails a stage becomes a :class:`Reject`, never an exception that stops a batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Reject:
    """One candidate that a stage could not process.

    Parameters
    ----------
    id
        The candidate's stable id.
    stage
        The pipeline stage that rejected it (``"read"``, ``"scope"``, ``"predict"``, ``"phonon"``, ...).
    reason
        A short machine-readable reason code (a StrEnum value of the stage), e.g. ``"disordered"``.
    message
        A human-readable explanation.
    """

    id: str
    stage: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
