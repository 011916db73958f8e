"""``cloud report``: one self-contained HTML report of a campaign (plots as inline SVG, nothing fetched)."""

from __future__ import annotations

import argparse

from flows.cli.objective_args import (
    add_campaign_args,
    add_objective_args,
    objective_fields,
    open_campaign,
    run_user_command,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a campaign's HTML report (objective vs stability, distributions, Cv(T), rejects, provenance)",
    )
    add_campaign_args(p, k_help="leaders in the report")
    p.add_argument("--out", metavar="FILE", help="HTML file (default: <campaign dir>/report.html)")
    add_objective_args(p, default_help="the campaign's own")
    p.set_defaults(handler=lambda args: run_user_command(lambda: _cmd_report(args)))


def _cmd_report(args: argparse.Namespace) -> int:
    from screening.objectives import Ranking
    from screening.report import campaign_ranking, write_report

    store, campaign = open_campaign(args)
    fields = objective_fields(args)
    ranking = campaign_ranking(store, campaign)
    if fields:
        ranking = Ranking(**{**ranking.model_dump(exclude_unset=True), **fields})
    path = write_report(store, campaign, ranking, args.out, k=args.top_k)
    print(f"report: {path}")
    return 0
