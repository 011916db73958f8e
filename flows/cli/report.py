"""``cloud report``: one self-contained HTML report of a campaign (plots as inline SVG, nothing fetched)."""

from __future__ import annotations

import argparse
import sys

from flows.cli.objective_args import add_objective_args, objective_fields, one_line


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a campaign's HTML report (objective vs stability, distributions, Cv(T), rejects, provenance)",
    )
    p.add_argument("--campaign", metavar="ID", help="campaign id (default: the latest)")
    p.add_argument("-k", "--top-k", type=int, default=20, help="leaders in the report")
    p.add_argument("--out", metavar="FILE", help="HTML file (default: <campaign dir>/report.html)")
    add_objective_args(p, default_help="the campaign's own")
    p.add_argument("--results", metavar="DIR", help="results store directory (default: settings.results_dir)")
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from screening.objectives import Ranking
    from screening.ranking import latest_campaign
    from screening.report import campaign_ranking, write_report
    from screening.settings import get_settings
    from screening.store import ResultsStore

    store = ResultsStore(args.results or get_settings().results_dir)
    try:
        campaign = args.campaign or latest_campaign(store)
        if campaign is None:
            raise FileNotFoundError(f"no campaign in the store at {store.root}; run `cloud main` first")
        if args.top_k < 1:
            raise ValueError(f"-k must be at least 1, got {args.top_k}")
        fields = objective_fields(args)
        ranking = campaign_ranking(store, campaign)
        if fields:
            ranking = Ranking(**{**ranking.model_dump(exclude_unset=True), **fields})
        path = write_report(store, campaign, ranking, args.out, k=args.top_k)
    except ValidationError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0
