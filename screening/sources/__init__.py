"""Candidate sources: the Materials Project, generated pools, files. Each yields batches of :class:`Candidate`."""

from screening.sources.candidate import (
    CANDIDATE_SCHEMA,
    Candidate,
    candidates_from_table,
    candidates_to_table,
)

__all__ = ["CANDIDATE_SCHEMA", "Candidate", "candidates_from_table", "candidates_to_table"]
