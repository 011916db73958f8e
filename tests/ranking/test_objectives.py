"""Named objectives rank a small hand-made leaderboard as expected, in every uncertainty mode, with caps."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from screening.objectives import (
    Bound,
    Objective,
    ObjectiveError,
    Ranking,
    UncertaintyMode,
    compile_ranking,
)
from screening.ranking import ranked_query

# id, formula, chemsys, e_above_hull, e_above_hull_std, implausible, band_gap, band_gap_std,
# log10_kappa_300K, log10_kappa_300K_std, theta_K, theta_K_std
ROWS = [
    ("a", "AlN", "Al-N", 0.00, 0.02, False, 4.0, 0.1, 2.0, 0.05, 900, 50),
    ("b", "BN", "B-N", 0.05, 0.08, False, 4.5, 0.1, 2.2, 0.40, 1500, 50),  # best mean kappa, uncertain
    ("c", "SiC", "C-Si", 0.12, 0.05, False, 2.3, 0.1, 2.1, 0.05, 1100, 50),  # above 0.1 unless optimistic
    ("d", "GaN", "Ga-N", 0.00, 0.01, False, 3.2, 0.1, 1.9, 0.02, 600, 50),
    ("e", "Bi2Te3", "Bi-Te", 0.00, 0.01, False, 0.6, 0.2, -0.3, 0.05, 150, 20),
    ("f", "PbTe", "Pb-Te", 0.02, 0.01, False, 0.3, 0.25, -0.2, 0.30, 160, 20),  # gap 0.3 +- 0.25
    ("g", "SnSe", "Se-Sn", 0.08, 0.05, False, 0.9, 0.1, -0.25, 0.01, 140, 20),  # e_hull 0.08 + 0.05 > 0.1
    ("h", "ZrO2", "O-Zr", 0.00, 0.01, False, 4.0, 0.3, 0.3, 0.05, 500, 30),
    ("i", "La2Zr2O7", "La-O-Zr", 0.03, 0.02, False, 3.1, 0.2, 0.2, 0.05, 450, 30),  # gap 3.1 - 0.2 < 3
    ("j", "Y2O3", "O-Y", 0.00, 0.01, False, 4.5, 0.2, 0.5, 0.05, 550, 30),
    ("k", "ThO2", "O-Th", 0.00, 0.01, False, 4.5, 0.2, 0.1, 0.05, 450, 30),  # radioactive
    ("l", "AlN", "Al-N", 0.01, 0.02, False, 4.1, 0.1, 1.8, 0.05, 800, 50),  # second AlN polymorph
    ("m", "Al3N", "Al-N", -0.5, 0.02, True, 3.0, 0.1, 3.0, 0.05, 2000, 50),  # implausible
    ("n", "XeF2", "F-Xe", 0.00, 0.01, False, 3.5, 0.1, 0.0, 0.05, 300, 20),  # noble gas
]
COLS = ["candidate_id", "formula", "chemsys", "e_above_hull", "e_above_hull_std", "implausible", "band_gap",
        "band_gap_std", "log10_kappa_300K", "log10_kappa_300K_std", "theta_K", "theta_K_std"]  # fmt: skip


def lb() -> pa.Table:
    return pa.table({c: [r[i] for r in ROWS] for i, c in enumerate(COLS)})


def leaders(ranking: Ranking, k: int = 20, extra=(), table: pa.Table | None = None) -> list[str]:
    table = lb() if table is None else table
    compiled = compile_ranking(ranking, table.column_names, extra)
    params = dict(compiled.params, k=k)
    con = duckdb.connect()
    con.register("lb_table", table)
    sql = ranked_query("SELECT * FROM lb_table", table.column_names, compiled, params)
    return [r[0] for r in con.execute(f"SELECT candidate_id FROM ({sql})", params).fetchall()]


C, OPT, M = UncertaintyMode.CONSERVATIVE, UncertaintyMode.OPTIMISTIC, UncertaintyMode.MEAN


@pytest.mark.parametrize(
    ("objective", "mode", "expected"),
    [
        # stable (<= 0.1), plausible, one per formula, highest kappa first
        (Objective.HEAT_SPREADER, M, ["b", "a", "d", "j", "h", "i", "f", "g", "e"]),
        # kappa - sigma: b (2.2-0.4) drops below a, d; e_hull + sigma <= 0.1 drops b (0.13) and g (0.13)
        (Objective.HEAT_SPREADER, C, ["a", "d", "j", "h", "i", "e", "f"]),
        # kappa + sigma; e_hull - sigma lets c in (0.07)
        (Objective.HEAT_SPREADER, OPT, ["b", "c", "a", "d", "j", "h", "i", "f", "g", "e"]),
        # lowest kappa, gap 0.1..1.5: e, g, f ordered by kappa
        (Objective.THERMOELECTRIC, M, ["e", "g", "f"]),
        # conservative: f's gap 0.3 - 0.25 < 0.1 out, g's e_hull 0.13 out
        (Objective.THERMOELECTRIC, C, ["e"]),
        # optimistic: kappa - sigma puts f (-0.5) first, then e (-0.35), g (-0.26)
        (Objective.THERMOELECTRIC, OPT, ["f", "e", "g"]),
        # oxides, gap >= 3, lowest kappa; Th excluded (radioactive)
        (Objective.THERMAL_BARRIER, M, ["i", "h", "j"]),
        (Objective.THERMAL_BARRIER, C, ["h", "j"]),  # i: gap 3.1 - 0.2 < 3
        (Objective.THERMAL_BARRIER, OPT, ["i", "h", "j"]),
    ],
)
def test_objectives_rank_the_hand_made_table(objective, mode, expected):
    assert leaders(Ranking(objective=objective, uncertainty=mode)) == expected


def test_custom_objective_any_column_and_filters():
    r = Ranking(objective=Objective.CUSTOM, by="theta_K", descending=False, max_e_above_hull=None)
    assert leaders(r, k=3) == ["g", "e", "f"]
    got = leaders(r, extra=[Bound("band_gap", ">=", 4.0)])
    assert got == ["h", "j", "l", "b"]  # k (Th) and m (implausible) out; one AlN: l (800 K), not a (900 K)
    with pytest.raises(ObjectiveError, match="nope"):
        leaders(r, extra=[Bound("nope", ">", 1)])


def test_element_rules_and_default_exclusions():
    base = dict(objective=Objective.CUSTOM, by="theta_K", max_e_above_hull=None)
    assert "k" not in leaders(Ranking(**base)) and "n" not in leaders(Ranking(**base))
    assert "k" in leaders(Ranking(**base, allow_default_excluded=True))
    assert leaders(Ranking(**base, require_elements=["N"])) == ["b", "a", "d"]
    assert set(leaders(Ranking(**base, exclude_elements=["N", "O"]))) == {"c", "e", "f", "g"}
    with pytest.raises(ValueError, match="Qq"):
        Ranking(exclude_elements=["Qq"])


def test_diversity_caps_hold():
    base = dict(objective=Objective.CUSTOM, by="theta_K", max_e_above_hull=None, include_implausible=True)
    one = leaders(Ranking(**base))
    assert one.count("a") + one.count("l") + one.count("m") == 2  # AlN once, Al3N once
    two = leaders(Ranking(**base, per_formula=2))
    assert "a" in two and "l" in two
    sys1 = leaders(Ranking(**base, per_formula=2, per_chemsys=1))
    assert sys1[0] == "m" and "a" not in sys1 and "l" not in sys1  # Al-N: only its best (m)
    chemsys = dict(zip([r[0] for r in ROWS], [r[2] for r in ROWS], strict=True))
    assert len({chemsys[c] for c in sys1}) == len(sys1)


def test_missing_columns_and_uncertainties_fail_with_one_line():
    no_kappa = lb().drop_columns(["log10_kappa_300K", "log10_kappa_300K_std"])
    with pytest.raises(ObjectiveError, match="log10_kappa_300K"):
        leaders(Ranking(objective=Objective.THERMOELECTRIC), table=no_kappa)
    # heat spreaders fall back to the Debye temperature
    assert leaders(Ranking(objective=Objective.HEAT_SPREADER), table=no_kappa)[0] == "b"
    no_std = lb().drop_columns([c for c in COLS if c.endswith("_std")])
    with pytest.raises(ObjectiveError, match="_std"):
        leaders(Ranking(uncertainty=C), table=no_std)
    assert leaders(Ranking(uncertainty=M), table=no_std)[0] == "b"
    with pytest.raises(ObjectiveError, match="e_above_hull_std"):  # a std column with no values
        compile_ranking(Ranking(uncertainty=OPT), COLS, has_std=lambda c: c != "e_above_hull")


def test_unknown_composition_far_below_the_hull_is_flagged_and_excluded_by_default():
    """Be2NF-like: a composition the reference does not know, predicted far below the known hull."""
    from screening.objectives import FAR_BELOW_HULL, FAR_BELOW_HULL_SQL

    # id, formula, chemsys, e_above_hull, known_composition, implausible, theta_K
    rows = [
        ("p", "Be2NF", "Be-F-N", -0.28, False, False, 2000),  # unknown, 0.28 below: flagged
        ("q", "Be3SN4", "Be-N-S", -0.08, False, False, 1900),  # unknown, 0.08 below: kept
        ("r", "BeO", "Be-O", -0.05, True, False, 1800),  # known, within 0.1: kept
        ("s", "AlN", "Al-N", 0.02, False, False, 900),  # unknown, above the hull: kept
        ("t", "BN", "B-N", -0.30, True, True, 1700),  # known, 0.3 below: the hull step's flag
    ]
    cols = ["candidate_id", "formula", "chemsys", "e_above_hull", "known_composition", "implausible",
            "theta_K"]  # fmt: skip
    table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})
    available = [*cols, FAR_BELOW_HULL]

    def run(ranking: Ranking) -> tuple[list[str], dict[str, bool]]:
        compiled = compile_ranking(ranking, available)
        params = dict(compiled.params, k=20)
        con = duckdb.connect()
        con.register("lb_table", table)
        relation = f"SELECT *, {FAR_BELOW_HULL_SQL} AS {FAR_BELOW_HULL} FROM lb_table"
        out = con.execute(f"SELECT candidate_id, {FAR_BELOW_HULL} FROM ({ranked_query(relation, available, compiled, params)})", params).fetchall()  # fmt: skip
        return [r[0] for r in out], {r[0]: r[1] for r in out}

    base = dict(objective=Objective.CUSTOM, by="theta_K", max_e_above_hull=None)
    got, _ = run(Ranking(**base))
    assert got == ["q", "r", "s"]  # p (far below, unknown) and t (implausible) excluded by default
    got, flags = run(Ranking(**base, include_implausible=True))
    assert got == ["p", "q", "r", "t", "s"] and flags["p"] is True and not flags["q"] and not flags["t"]
    got, flags = run(Ranking(**base, max_below_hull_unknown=0.3))  # the user's threshold admits p
    assert got == ["p", "q", "r", "s"] and flags["p"] is False
    got, flags = run(Ranking(**base, max_below_hull_unknown=0.05))  # a stricter one drops q too
    assert got == ["r", "s"]
    got, flags = run(Ranking(**base, max_below_hull_unknown=None))  # off: no flag at all
    assert got == ["p", "q", "r", "s"] and flags["p"] is None
    with pytest.raises(ValueError, match="max_below_hull_unknown"):
        Ranking(max_below_hull_unknown=-0.1)
