"""Filters, Retry-After parsing and page-to-shard conversion (no server, no mp-api import)."""

from __future__ import annotations

import email.utils

import pytest
from mp_server import make_docs

from screening.sources.mp_pager import MPAuthError, MPSummaryPager, RetryPolicy, parse_retry_after, redact
from screening.sources.mp_query import SUMMARY_FIELDS, MPQuery
from screening.sources.mp_store import SHARD_SCHEMA, MPRejectReason, docs_to_table


def test_query_normalises_and_builds_mp_api_parameters():
    q = MPQuery(
        elements="o, fe", chemsys=["O-Fe", "Li-O-Fe"], band_gap_min=0.5, e_above_hull_max=0.05, nsites_max=20
    )
    assert q.elements == ("O", "Fe") and q.chemsys == ("Fe-O", "Fe-Li-O")
    assert q.criteria() == {
        "deprecated": False,
        "elements": "O,Fe",
        "chemsys": "Fe-O,Fe-Li-O",
        "band_gap_min": 0.5,
        "band_gap_max": 1.0e4,
        "energy_above_hull_min": 0.0,
        "energy_above_hull_max": 0.05,
        "nsites_min": 1,
        "nsites_max": 20,
    }
    assert MPQuery().criteria() == {"deprecated": False}  # never an unfiltered search
    assert MPQuery(has_elasticity=True).criteria()["has_props"] == "elasticity"
    assert q.fields == SUMMARY_FIELDS
    assert (
        MPQuery.from_dict(q.to_dict()) == q
        and MPQuery.from_dict(q.to_dict()).fingerprint() == q.fingerprint()
    )
    assert MPQuery(elements="O").fingerprint() != MPQuery(elements="S").fingerprint()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"elements": "Xx"}, "not an element symbol"),
        ({"chemsys": "Fe-Qq"}, "not an element symbol"),
        ({"band_gap_min": 3.0, "band_gap_max": 1.0}, "larger than maximum"),
        ({"band_gap_min": -1.0}, "non-negative"),
        ({"e_above_hull_max": float("nan")}, "finite"),
        ({"nsites_max": 0}, "positive integer"),
        ({"fields": ("formula_pretty",)}, "must include"),
    ],
)
def test_query_rejects_bad_filters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MPQuery(**kwargs)


def test_retry_after_parsing():
    assert (
        parse_retry_after("0") == 0.0 and parse_retry_after("7") == 7.0 and parse_retry_after(" 1.5 ") == 1.5
    )
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    now = 1_800_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_retry_policy_backoff_and_validation():
    import random

    p = RetryPolicy(backoff_base=1.0, backoff_max=8.0, max_wait=5.0)
    rng = random.Random(0)
    waits = [p.backoff(a, rng) for a in range(1, 8)]
    assert all(0 < w <= 5.0 for w in waits) and waits[0] <= 1.0
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(timeout=0)


def test_key_checks_and_redaction():
    with pytest.raises(MPAuthError, match="32 characters"):
        MPSummaryPager("abc", "http://127.0.0.1:9/")
    with pytest.raises(MPAuthError, match="no Materials Project API key"):
        MPSummaryPager("", "http://127.0.0.1:9/")
    assert redact("GET ?k=SECRET x SECRET", "SECRET") == "GET ?k=*** x ***"


def test_docs_to_table_rejects_and_duplicates():
    docs = make_docs(4, seed=2)
    broken = dict(docs[1], structure={"lattice": "nonsense"})
    no_id = {k: v for k, v in docs[2].items() if k != "material_id"}
    seen = {docs[3]["material_id"]}
    table, rejects, dups = docs_to_table([docs[0], broken, no_id, docs[3]], "2026.01.01", seen)
    assert table.schema == SHARD_SCHEMA and table.column("candidate_id").to_pylist() == [
        docs[0]["material_id"]
    ]
    assert [r.reason for r in rejects] == [MPRejectReason.BAD_STRUCTURE, MPRejectReason.MISSING_ID]
    assert rejects[0].id == docs[1]["material_id"] and dups == 1
    assert docs[0]["material_id"] in seen
