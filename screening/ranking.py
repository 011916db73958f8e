"""Rank a campaign's candidates in SQL: the leaderboard view, filters as bound parameters.

The leaderboard joins, for one campaign, each predicted candidate's record (formula, SCOPE, space group), its
predictions (one column per target) and its Debye values at one temperature of the campaign's grid. Column
names given by users are checked against the leaderboard's columns (identifiers cannot be bound); values are
always bound parameters, never pasted into the SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from screening.objectives import (
    DEFAULT_MAX_BELOW_HULL_UNKNOWN,
    FAR_BELOW_HULL,
    FAR_BELOW_HULL_SQL,
    Bound,
    CompiledRanking,
    Ranking,
    compile_ranking,
)
from screening.store import ResultsStore
from screening.store.schemas import DEBYE_CURVES, ENCODED_FIELDS

_OPS = {"<", "<=", ">", ">=", "=", "!="}
_KEYS = ("campaign_id", "chunk_id", "candidate_id", "model_id", "symprec", "versions", "created_at")
CANDIDATE_COLUMNS = ("candidate_id", "formula", "spacegroup", "n_sites", "scope", "source")
DEBYE_COLUMNS = ("cv_J_per_molatom_K", "s_J_per_molatom_K", "u_J_per_molatom", "f_J_per_molatom")


@dataclass(frozen=True)
class Condition:
    """``column op value`` (op one of ``< <= > >= = !=``)."""

    column: str
    op: str
    value: Any


def parse_condition(text: str) -> Condition:
    """Parse ``"theta_K>400"``, ``"formula = NaCl"``, ``"spacegroup!=225"`` into a :class:`Condition`."""
    for op in ("<=", ">=", "!=", "<", ">", "="):
        if op in text:
            col, _, val = text.partition(op)
            col, val = col.strip(), val.strip()
            if not col or not val:
                break
            try:
                value: Any = int(val)
            except ValueError:
                try:
                    value = float(val)
                except ValueError:
                    value = val.strip("'\"")
            return Condition(col, op, value)
    raise ValueError(f"cannot read the condition {text!r}; write it as COLUMN OP VALUE, e.g. theta_K>400")


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def latest_campaign(store: ResultsStore) -> str | None:
    """The most recently planned campaign of the store (``None`` if there is none)."""
    ids = store.campaign_ids()
    return ids[-1] if ids else None


def target_columns(store: ResultsStore, campaign_id: str) -> list[str]:
    """The prediction columns (targets, ``theta_K``, uncertainties) a campaign's model wrote."""
    for path in sorted(store.layout.campaign_parts_dir(campaign_id).glob("chunk-*/predictions.parquet")):
        names = pq.read_schema(path).names
        return [n for n in names if n not in _KEYS]
    return []


def nearest_temperature(store: ResultsStore, campaign_id: str, temperature_K: float) -> float:
    """The temperature of the campaign's grid nearest to ``temperature_K``."""
    temps = store.read_campaign(campaign_id)["temperatures_K"]
    return min(temps, key=lambda t: abs(t - temperature_K))


def leaderboard_schema(targets: Sequence[str]) -> dict[str, pa.DataType]:
    """The leaderboard's columns and their types, for a campaign whose model predicts ``targets``.

    The one definition of what ``cloud top`` ranks and filters on: candidate fields, one float column per
    prediction column (:func:`target_columns` of a run campaign, the checkpoint's prediction columns at plan
    time), then the Debye values at one temperature.
    """
    from screening.hull import HullColumn

    encoded = {f.name: f.type for f in ENCODED_FIELDS}
    debye = {f.name: f.type for f in DEBYE_CURVES}
    cols: dict[str, pa.DataType] = {c: encoded[c] for c in CANDIDATE_COLUMNS}
    hull_types = {
        HullColumn.CHEMSYS: pa.string(),
        HullColumn.KNOWN_COMPOSITION: pa.bool_(),
        HullColumn.IMPLAUSIBLE: pa.bool_(),
        HullColumn.HULL_VERSION: pa.string(),
    }
    cols.update({t: hull_types.get(t, pa.float64()) for t in targets})
    # the hull step's columns (screening.hull): energies above the hull only for a model that predicts e_form
    hull = [c for c in HullColumn if c not in (HullColumn.E_ABOVE_HULL, HullColumn.E_ABOVE_HULL_STD)]
    if "e_form" in targets:
        hull += [HullColumn.E_ABOVE_HULL] + ([HullColumn.E_ABOVE_HULL_STD] if "e_form_std" in targets else [])
    for c in hull:
        cols.setdefault(str(c), hull_types.get(c, pa.float64()))
    # computed by the leaderboard query (screening.objectives.FAR_BELOW_HULL_SQL)
    if _has_far_below_hull(targets):
        cols[FAR_BELOW_HULL] = pa.bool_()
    cols["T_K"] = debye["T_K"]
    cols.update({c: debye[c] for c in DEBYE_COLUMNS})
    return cols


def _has_far_below_hull(targets: Sequence[str]) -> bool:
    return "e_above_hull" in targets and "known_composition" in targets


def leaderboard_columns(targets: Sequence[str]) -> list[str]:
    """Names of the leaderboard's columns (see :func:`leaderboard_schema`)."""
    return list(leaderboard_schema(targets))


def check_ranking(
    targets: Sequence[str], by: str | None, conditions: Iterable[Condition] = ()
) -> tuple[str, list[Condition]]:
    """Check a ranking column and filters against the leaderboard of a model predicting ``targets``.

    Returns the resolved ranking column (default ``theta_K`` if predicted, else the first target) and the
    conditions with values of the column's type (a number for a numeric column, text for a text column).

    Raises
    ------
    ValueError
        One line naming the unknown column (and listing the valid ones), the bad operator, or the value that
        does not fit its column's type.
    """
    schema = leaderboard_schema(targets)
    columns = ", ".join(schema)
    if by is None:
        by = "theta_K" if "theta_K" in targets else (targets[0] if targets else "candidate_id")
    if by not in schema:
        raise ValueError(f"cannot rank by {by!r}: choose one of {columns}")
    checked = []
    for cond in conditions:
        if cond.column not in schema:
            raise ValueError(f"unknown filter column {cond.column!r}: choose one of {columns}")
        if cond.op not in _OPS:
            raise ValueError(f"unknown operator {cond.op!r}: use one of {' '.join(sorted(_OPS))}")
        kind = schema[cond.column]
        value = cond.value
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(
                    f"filter {cond.column}{cond.op}{value}: {cond.column} holds numbers, {value!r} is not one"
                )
        else:
            value = str(value)
        checked.append(Condition(cond.column, cond.op, value))
    return by, checked


def _leaderboard_cte(targets: Sequence[str]) -> str:
    """The body of the ``lb`` relation: one row per predicted candidate of ``$cid``, Debye values at ``$t``.

    With the hull's columns it also computes ``far_below_hull`` with the threshold ``$fbh`` (eV/atom; see
    :func:`leaderboard_params`).
    """
    pred_cols = ", ".join(f"p.{_quote(c)}" for c in targets)
    if _has_far_below_hull(targets):
        pred_cols += f", {FAR_BELOW_HULL_SQL} AS {_quote(FAR_BELOW_HULL)}"
    debye_cols = ", ".join(f"d.{_quote(c)}" for c in DEBYE_COLUMNS)
    return f"""
        SELECT {", ".join(f"c.{_quote(c)}" for c in CANDIDATE_COLUMNS)}{", " + pred_cols if pred_cols else ""},
               d."T_K", {debye_cols}
        FROM candidates c
        JOIN predictions p ON p.campaign_id = c.campaign_id AND p.candidate_id = c.candidate_id
        LEFT JOIN debye_curves d
               ON d.campaign_id = c.campaign_id AND d.candidate_id = c.candidate_id AND d."T_K" = $t
        WHERE c.campaign_id = $cid AND c.status = 'ok'"""


def leaderboard_params(
    store: ResultsStore,
    campaign_id: str,
    temperature_K: float = 300.0,
    max_below_hull_unknown: float | None = DEFAULT_MAX_BELOW_HULL_UNKNOWN,
) -> dict[str, Any]:
    """The bound parameters of the ``lb`` relation (:func:`_leaderboard_cte`) for one campaign."""
    params: dict[str, Any] = {"cid": campaign_id, "t": nearest_temperature(store, campaign_id, temperature_K)}
    if _has_far_below_hull(target_columns(store, campaign_id)):
        params["fbh"] = max_below_hull_unknown
    return params


def leaderboard_sql(
    store: ResultsStore,
    campaign_id: str,
    *,
    by: str | None = None,
    descending: bool = True,
    k: int = 20,
    conditions: Iterable[Condition] = (),
    temperature_K: float = 300.0,
) -> tuple[str, dict[str, Any], str]:
    """Build the ranking query. Returns ``(sql, params, by)`` with the resolved ranking column.

    Raises
    ------
    ValueError
        For an unknown ranking or filter column, or a bad operator; the message lists the valid columns.
    """
    targets = target_columns(store, campaign_id)
    by, checked = check_ranking(targets, by, conditions)
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    params = leaderboard_params(store, campaign_id, temperature_K)
    where = []
    for i, cond in enumerate(checked):
        where.append(f"{_quote(cond.column)} {cond.op} $f{i}")
        params[f"f{i}"] = cond.value
    params["k"] = int(k)
    lb = _leaderboard_cte(targets)
    sql = f"""
    WITH lb AS ({lb}
    ), kept AS (SELECT * FROM lb {"WHERE " + " AND ".join(where) if where else ""})
    SELECT row_number() OVER (ORDER BY {_quote(by)} {"DESC" if descending else "ASC"} NULLS LAST, candidate_id) AS rank,
           *
    FROM kept
    ORDER BY rank
    LIMIT $k
    """
    return sql, params, by


def top_k(
    store: ResultsStore,
    campaign_id: str,
    *,
    by: str | None = None,
    descending: bool = True,
    k: int = 20,
    conditions: Iterable[Condition] = (),
    temperature_K: float = 300.0,
) -> pa.Table:
    """The ``k`` best candidates of a campaign (see :func:`leaderboard_sql`)."""
    sql, params, _ = leaderboard_sql(
        store,
        campaign_id,
        by=by,
        descending=descending,
        k=k,
        conditions=conditions,
        temperature_K=temperature_K,
    )
    return store.query(sql, params)


def column_has_values(store: ResultsStore, campaign_id: str, column: str) -> bool:
    """Whether any prediction of the campaign has a non-null ``column`` (a prediction column)."""
    if column not in target_columns(store, campaign_id):
        return False
    t = store.query(
        f"SELECT count({_quote(column)}) AS n FROM predictions WHERE campaign_id = $cid", {"cid": campaign_id}
    )
    return t.column("n")[0].as_py() > 0


def ranked_query(
    relation_sql: str, columns: Sequence[str], compiled: CompiledRanking, params: dict[str, Any]
) -> str:
    """SQL ranking the rows of ``relation_sql`` as ``compiled`` says, diversity caps applied (sets ``params``).

    Rows are filtered, scored, cut to ``per_formula`` per formula, then to ``per_chemsys`` per chemical system,
    and the best ``$k`` returned with ``rank`` and ``score``.
    """
    params["pf"] = int(compiled.per_formula)
    order = f"score {'DESC' if compiled.descending else 'ASC'} NULLS LAST, candidate_id"
    per_chemsys = ""
    if compiled.per_chemsys is not None:
        params["pc"] = int(compiled.per_chemsys)
        per_chemsys = "WHERE _nc <= $pc"
    system = "chemsys" if "chemsys" in columns else "formula"
    return f"""
    WITH lb AS ({relation_sql}
    ), kept AS (SELECT *, {compiled.score_sql} AS score FROM lb WHERE {" AND ".join(compiled.where)}),
    by_formula AS (SELECT *, row_number() OVER (PARTITION BY formula ORDER BY {order}) AS _nf FROM kept),
    by_system AS (
        SELECT *, row_number() OVER (PARTITION BY {system} ORDER BY {order}) AS _nc FROM by_formula WHERE _nf <= $pf
    )
    SELECT row_number() OVER (ORDER BY {order}) AS rank, * EXCLUDE (_nf, _nc)
    FROM by_system {per_chemsys}
    ORDER BY rank
    LIMIT $k
    """


def objective_sql(
    store: ResultsStore,
    campaign_id: str,
    ranking: Ranking,
    *,
    k: int = 20,
    conditions: Iterable[Condition] = (),
    temperature_K: float = 300.0,
) -> tuple[str, dict[str, Any], CompiledRanking]:
    """The leaderboard of a campaign for a named objective (see :mod:`screening.objectives`).

    The query keeps the objective's rows, ranks them by the (uncertainty-shifted) ``score``, keeps at most
    ``per_formula`` rows per formula and then at most ``per_chemsys`` per chemical system, and returns the best
    ``k`` with their ``rank`` and ``score``.

    Raises
    ------
    ObjectiveError
        When the objective needs a column (or an uncertainty) the campaign lacks, or a filter is unknown.
    """
    columns = leaderboard_columns(target_columns(store, campaign_id))
    extra = []
    for cond in conditions:
        if cond.op not in _OPS:
            raise ValueError(f"unknown operator {cond.op!r}: use one of {' '.join(sorted(_OPS))}")
        extra.append(Bound(cond.column, cond.op, cond.value))  # type: ignore[arg-type]
    compiled = compile_ranking(
        ranking,
        columns,
        extra,
        has_std=lambda col: column_has_values(store, campaign_id, f"{col}_std"),
    )
    params = leaderboard_params(store, campaign_id, temperature_K, ranking.max_below_hull_unknown)
    params.update(compiled.params)
    params["k"] = int(k)
    sql = ranked_query(_leaderboard_cte(target_columns(store, campaign_id)), columns, compiled, params)
    return sql, params, compiled


def rank_objective(
    store: ResultsStore,
    campaign_id: str,
    ranking: Ranking,
    *,
    k: int = 20,
    conditions: Iterable[Condition] = (),
    temperature_K: float = 300.0,
) -> pa.Table:
    """The ``k`` leaders of a campaign for ``ranking`` (see :func:`objective_sql`)."""
    sql, params, _ = objective_sql(
        store, campaign_id, ranking, k=k, conditions=conditions, temperature_K=temperature_K
    )
    return store.query(sql, params)


def implausible_candidates(
    store: ResultsStore, campaign_id: str, ranking: Ranking, *, k: int = 10, temperature_K: float = 300.0
) -> tuple[dict[str, int], pa.Table]:
    """What the plausibility rules flag: ``({flag column: count}, the k flagged rows furthest below the hull)``.

    Flags: ``implausible`` (stored by the hull step) and ``far_below_hull`` (computed with the ranking's
    ``max_below_hull_unknown``); columns the campaign lacks are left out.
    """
    targets = target_columns(store, campaign_id)
    flags = [c for c in ("implausible", FAR_BELOW_HULL) if c in leaderboard_schema(targets)]
    if not flags:
        return {}, pa.table({"candidate_id": pa.array([], pa.string())})
    params = leaderboard_params(store, campaign_id, temperature_K, ranking.max_below_hull_unknown)
    lb = _leaderboard_cte(targets)
    counts = ", ".join(f"count(*) FILTER (WHERE coalesce({_quote(c)}, false)) AS {_quote(c)}" for c in flags)
    n = store.query(f"WITH lb AS ({lb}) SELECT {counts} FROM lb", params).to_pylist()[0]
    show = [c for c in ("candidate_id", "formula", "chemsys", "e_form", "e_above_hull", "e_above_hull_std",
                        "known_composition", *flags) if c in leaderboard_schema(targets)]  # fmt: skip
    any_flag = " OR ".join(f"coalesce({_quote(c)}, false)" for c in flags)
    rows = store.query(
        f"WITH lb AS ({lb}) SELECT {', '.join(map(_quote, show))} FROM lb WHERE {any_flag} "
        f"ORDER BY e_above_hull ASC NULLS LAST, candidate_id LIMIT {int(k)}",
        params,
    )
    return {c: int(n[c]) for c in flags}, rows


def curves_of(store: ResultsStore, campaign_id: str, candidate_ids: Sequence[str]) -> pa.Table:
    """Debye curves (``candidate_id, T_K, cv_J_per_molatom_K, ...``) of some candidates, ordered by T."""
    if not candidate_ids:
        return pa.table({"candidate_id": pa.array([], pa.string())})
    return store.query(
        "SELECT candidate_id, T_K, cv_J_per_molatom_K, s_J_per_molatom_K, u_J_per_molatom, f_J_per_molatom "
        "FROM debye_curves WHERE campaign_id = $cid AND list_contains($ids, candidate_id) ORDER BY candidate_id, T_K",
        {"cid": campaign_id, "ids": list(candidate_ids)},
    )
