"""Named objectives: the scientific questions a campaign's leaderboard answers, one place in the code.

An objective is a question with filters, a ranking column and a direction. How it treats uncertainty is the
:class:`UncertaintyMode` (``k`` standard deviations, ``k_sigma``), applied to every column it reads that has a
``<column>_std`` companion:

- ``mean``: the predicted values as they are;
- ``optimistic``: each value shifted ``k sigma`` towards the preferred direction (a maximised score gets
  ``x + k sigma``; an upper bound ``x <= t`` reads ``x - k sigma <= t``);
- ``conservative``: the other way, so the stability filter reads ``e_above_hull + k sigma <= threshold`` and a
  maximised score ``x - k sigma``.

Every objective keeps candidates that are

- stable enough: ``e_above_hull <= max_e_above_hull`` (default 0.1 eV/atom; ``None`` turns it off),
- plausible unless ``include_implausible``: ``implausible`` (the hull step's flag: a known composition more
  than 0.1 eV/atom below the hull, or an element below zero by more than 2 sigma) is false, and
  ``far_below_hull`` is false: a composition the reference does not know, predicted more than
  ``max_below_hull_unknown`` (default 0.2 eV/atom) below the known hull: in the Materials Project's
  well-sampled chemical systems a real new phase rarely sits that far below the known ones, so for a
  hypothetical candidate such a prediction is more likely a model error. How often real held-out MP formulas
  sit below a hull of the other folds, and how many of those the model predicts far below are really stable,
  is measured by ``bench/eval_checkpoint.py stability`` (the model card's stability section): the reason the
  default is 0.2 and not the 0.1 of known compositions. Held-out formulas are all real MP entries, a far higher
  prior of stability than a pool of hypothetical candidates has;
- free of radioactive elements and noble gases (unless ``allow_default_excluded``), of ``exclude_elements``,
  and hold all of ``require_elements`` (plus the objective's own, e.g. O for thermal barriers),

then applies its own bounds and the user's filters, ranks, and keeps at most ``per_formula`` leaders per
formula (default 1) and, optionally, ``per_chemsys`` per chemical system. Ranking is not part of a campaign's
parameter hash: a finished campaign is re-ranked for any objective (``cloud top --objective``).

:func:`compile_ranking` turns a :class:`Ranking` into SQL pieces over the leaderboard's columns;
:mod:`screening.ranking` runs them. Objectives that need a column the campaign lacks fail before anything
runs, with one line naming the column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Objective(StrEnum):
    """The questions a campaign can answer (a choice in the Prefect UI, ``--objective`` on the CLI)."""

    HEAT_SPREADER = "heat_spreader"
    THERMOELECTRIC = "thermoelectric"
    THERMAL_BARRIER = "thermal_barrier"
    CUSTOM = "custom"


class UncertaintyMode(StrEnum):
    """How predicted uncertainties shift values before filtering and ranking."""

    MEAN = "mean"
    OPTIMISTIC = "optimistic"
    CONSERVATIVE = "conservative"


#: Elements with no stable isotope (Tc, Pm and everything from Po on).
RADIOACTIVE: tuple[str, ...] = (
    "Tc", "Pm", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf",
    "Es", "Fm", "Md", "No", "Lr",
)  # fmt: skip
NOBLE_GASES: tuple[str, ...] = ("He", "Ne", "Ar", "Kr", "Xe", "Rn")
DEFAULT_EXCLUDED: tuple[str, ...] = tuple(dict.fromkeys((*RADIOACTIVE, *NOBLE_GASES)))
#: Default stability threshold (eV/atom above the reference hull).
DEFAULT_MAX_E_ABOVE_HULL = 0.1
#: Default: an unknown composition predicted more than this (eV/atom) below the known hull is implausible.
DEFAULT_MAX_BELOW_HULL_UNKNOWN = 0.2

#: The leaderboard's flag of an unknown composition predicted far below the known hull (threshold ``$fbh``).
FAR_BELOW_HULL = "far_below_hull"
#: Its SQL over the leaderboard's columns (NULL when the threshold is NULL: the rule is off).
FAR_BELOW_HULL_SQL = '("known_composition" = false AND "e_above_hull" < -CAST($fbh AS DOUBLE))'

Op = Literal["<", "<=", ">", ">=", "=", "!="]


@dataclass(frozen=True)
class Bound:
    """``column op value`` that a leader must meet (before any uncertainty shift)."""

    column: str
    op: Op
    value: float | int | str


@dataclass(frozen=True)
class Question:
    """A named objective: what it asks, the column(s) it ranks by and its own bounds.

    ``score`` lists acceptable ranking columns in order of preference; the first the campaign has is used.
    """

    name: Objective
    question: str
    score: tuple[str, ...]
    maximize: bool
    bounds: tuple[Bound, ...] = ()
    require_elements: tuple[str, ...] = ()


QUESTIONS: dict[Objective, Question] = {
    Objective.HEAT_SPREADER: Question(
        Objective.HEAT_SPREADER,
        "Stable compounds that spread heat best: highest lattice thermal conductivity (AFLOW AGL, 300 K), or "
        "highest Debye temperature when the model has no conductivity output.",
        ("log10_kappa_300K", "theta_K"),
        maximize=True,
    ),
    Objective.THERMOELECTRIC: Question(
        Objective.THERMOELECTRIC,
        "Stable semiconductors that conduct heat worst: lowest lattice thermal conductivity, band gap 0.1-1.5 eV.",
        ("log10_kappa_300K",),
        maximize=False,
        bounds=(Bound("band_gap", ">=", 0.1), Bound("band_gap", "<=", 1.5)),
    ),
    Objective.THERMAL_BARRIER: Question(
        Objective.THERMAL_BARRIER,
        "Stable oxides for thermal barrier coatings: lowest lattice thermal conductivity, band gap >= 3 eV.",
        ("log10_kappa_300K",),
        maximize=False,
        bounds=(Bound("band_gap", ">=", 3.0),),
        require_elements=("O",),
    ),
    Objective.CUSTOM: Question(
        Objective.CUSTOM,
        "Any leaderboard column, ranked as asked, with the user's filters.",
        (),
        maximize=True,
    ),
}


def check_elements(symbols: list[str]) -> list[str]:
    """``symbols`` if each is an element symbol; else ValueError naming the bad ones."""
    from screening.hull import element_symbols

    bad = [e for e in symbols if e not in element_symbols()]
    if bad:
        raise ValueError(f"unknown element symbol(s) {', '.join(map(repr, bad))}")
    return list(symbols)


class Ranking(BaseModel):
    """How to rank a campaign: an objective, its uncertainty mode, element rules and diversity caps."""

    model_config = ConfigDict(extra="forbid")

    objective: Objective = Field(Objective.HEAT_SPREADER, description="The question the leaderboard answers.")
    uncertainty: UncertaintyMode = Field(
        UncertaintyMode.MEAN, description="mean, optimistic or conservative (shift by k_sigma std)."
    )
    k_sigma: float = Field(1.0, ge=0, le=10, description="Standard deviations of the uncertainty shift.")
    max_e_above_hull: float | None = Field(
        DEFAULT_MAX_E_ABOVE_HULL,
        description="Stability threshold (eV/atom above the reference hull); null: off.",
    )
    by: str | None = Field(None, description="custom: the column to rank by (default: theta_K).")
    descending: bool = Field(True, description="custom: rank the largest values first.")
    exclude_elements: list[str] = Field(default_factory=list, description="Leaders contain none of these.")
    require_elements: list[str] = Field(default_factory=list, description="Leaders contain all of these.")
    allow_default_excluded: bool = Field(
        False, description="Admit radioactive elements and noble gases (excluded by default)."
    )
    include_implausible: bool = Field(
        False, description="Admit predictions flagged implausible (implausible or far_below_hull)."
    )
    max_below_hull_unknown: float | None = Field(
        DEFAULT_MAX_BELOW_HULL_UNKNOWN,
        ge=0,
        description="Flag (far_below_hull) and exclude compositions unknown to the reference hull predicted more "
        "than this many eV/atom below it; null: off.",
    )
    per_formula: int = Field(1, ge=1, description="At most this many leaders per formula.")
    per_chemsys: int | None = Field(None, ge=1, description="At most this many leaders per chemical system.")

    @field_validator("exclude_elements", "require_elements")
    @classmethod
    def _elements(cls, v: list[str]) -> list[str]:
        return check_elements(v)

    @property
    def question(self) -> Question:
        return QUESTIONS[self.objective]

    def excluded_elements(self) -> list[str]:
        base = [] if self.allow_default_excluded else list(DEFAULT_EXCLUDED)
        return sorted(set(base) | set(self.exclude_elements))

    def required_elements(self) -> list[str]:
        return sorted(set(self.require_elements) | set(self.question.require_elements))


class ObjectiveError(ValueError):
    """The objective cannot be answered on this campaign (a missing column, no uncertainties)."""


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


@dataclass
class CompiledRanking:
    """SQL pieces of a ranking over the leaderboard relation (columns as in ``leaderboard_columns``)."""

    score_column: str
    score_sql: str  # the (shifted) value ranked
    descending: bool
    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    per_formula: int = 1
    per_chemsys: int | None = None
    used_columns: list[str] = field(default_factory=list)


def _shifted(column: str, prefer_high: bool, mode: UncertaintyMode, columns: Sequence[str]) -> str:
    """SQL for ``column`` shifted by ``k sigma`` as the mode asks (``$ksig`` is the bound k)."""
    if mode is UncertaintyMode.MEAN:
        return _q(column)
    std = f"{column}_std"
    towards_high = (mode is UncertaintyMode.OPTIMISTIC) == prefer_high
    return f"({_q(column)} {'+' if towards_high else '-'} $ksig * {_q(std)})"


def required_columns(ranking: Ranking, available: Sequence[str]) -> tuple[str, list[str]]:
    """``(score column, columns the ranking reads)``; raises :class:`ObjectiveError` naming a missing one."""
    q = ranking.question
    if ranking.objective is Objective.CUSTOM:
        score = ranking.by or ("theta_K" if "theta_K" in available else None)
        if score is None:
            raise ObjectiveError("objective custom needs --by COLUMN (this campaign has no theta_K)")
        candidates: tuple[str, ...] = (score,)
    else:
        candidates = q.score
    score = next((c for c in candidates if c in available), None)
    if score is None:
        raise ObjectiveError(
            f"objective {ranking.objective} needs the column {candidates[0]!r}, which this campaign's model "
            f"does not predict"
        )
    used = [score, *(b.column for b in q.bounds)]
    if ranking.max_e_above_hull is not None:
        used.append("e_above_hull")
    for col in used:
        if col not in available:
            raise ObjectiveError(
                f"objective {ranking.objective} needs the column {col!r}, which this campaign does not have"
            )
    return score, list(dict.fromkeys(used))


def check_ranking(
    ranking: Ranking, available: Sequence[str], has_std: Callable[[str], bool] | None = None
) -> tuple[str, list[str]]:
    """Check that ``ranking`` can be answered with the ``available`` columns (before any work runs).

    ``has_std(column)`` tells whether ``<column>_std`` holds values (default: the column exists).

    Raises
    ------
    ObjectiveError
        Naming the missing column, or the missing uncertainty for a mode other than ``mean``.
    """
    score, used = required_columns(ranking, available)
    if ranking.uncertainty is not UncertaintyMode.MEAN:
        for col in used:
            if pd_numeric(col) and not (f"{col}_std" in available and (has_std is None or has_std(col))):
                raise ObjectiveError(
                    f"uncertainty mode {ranking.uncertainty} needs {col}_std, but this campaign's model gives no "
                    f"uncertainty for {col}; use --uncertainty mean"
                )
    return score, used


def pd_numeric(column: str) -> bool:
    """Whether a leaderboard column is a number with a possible ``_std`` (not ids, strings or flags)."""
    return column not in {
        "candidate_id", "formula", "scope", "source", "chemsys", "hull_version", "known_composition",
        "implausible", FAR_BELOW_HULL, "spacegroup", "n_sites", "T_K",
    }  # fmt: skip


def compile_ranking(
    ranking: Ranking,
    available: Sequence[str],
    extra: Sequence[Bound] = (),
    has_std: Callable[[str], bool] | None = None,
) -> CompiledRanking:
    """SQL pieces for ``ranking`` plus the user's ``extra`` bounds (all values bound as parameters).

    Raises
    ------
    ObjectiveError
        See :func:`check_ranking`; also for an ``extra`` bound on an unknown column.
    """
    score, used = check_ranking(ranking, available, has_std)
    q = ranking.question
    mode = ranking.uncertainty
    descending = ranking.descending if ranking.objective is Objective.CUSTOM else q.maximize
    out = CompiledRanking(
        score_column=score,
        score_sql=_shifted(score, descending, mode, available),
        descending=descending,
        per_formula=ranking.per_formula,
        per_chemsys=ranking.per_chemsys,
        used_columns=used,
    )
    if mode is not UncertaintyMode.MEAN:
        out.params["ksig"] = float(ranking.k_sigma)
    bounds = list(q.bounds)
    if ranking.max_e_above_hull is not None:
        bounds.insert(0, Bound("e_above_hull", "<=", float(ranking.max_e_above_hull)))
    for i, b in enumerate([*bounds, *extra]):
        if b.column not in available:
            raise ObjectiveError(f"unknown filter column {b.column!r}: choose one of {', '.join(available)}")
        shift = (
            mode is not UncertaintyMode.MEAN
            and b.op in ("<", "<=", ">", ">=")
            and pd_numeric(b.column)
            and f"{b.column}_std" in available
        )
        # an upper bound prefers low values, a lower bound high ones
        expr = _shifted(b.column, b.op in (">", ">="), mode, available) if shift else _q(b.column)
        out.where.append(f"{expr} {b.op} $b{i}")
        out.params[f"b{i}"] = b.value
    if "implausible" in available and not ranking.include_implausible:
        out.where.append('coalesce("implausible", false) = false')
    if FAR_BELOW_HULL in available:  # the leaderboard computes the flag with this threshold ($fbh)
        out.params["fbh"] = ranking.max_below_hull_unknown
        if ranking.max_below_hull_unknown is not None and not ranking.include_implausible:
            out.where.append(f"coalesce({_q(FAR_BELOW_HULL)}, false) = false")
    if "chemsys" in available:
        excluded, required = ranking.excluded_elements(), ranking.required_elements()
        if excluded:
            out.where.append("NOT list_has_any(string_split(coalesce(chemsys, ''), '-'), $excl)")
            out.params["excl"] = excluded
        if required:
            out.where.append("list_has_all(string_split(coalesce(chemsys, ''), '-'), $req)")
            out.params["req"] = required
    elif ranking.required_elements() or ranking.exclude_elements:
        raise ObjectiveError("element rules need the chemsys column, which this campaign does not have")
    out.where.append(f"{out.score_sql} IS NOT NULL")
    return out
