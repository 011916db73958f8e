"""``cloud export``: a campaign's leaders for an objective as CIF or POSCAR files + an index (for DFT)."""

from __future__ import annotations

import argparse
import sys

from flows.cli.objective_args import add_objective_args, objective_fields, one_line


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write the leaders' structures (CIF or POSCAR, one file each + index.csv)",
        description="Rank a finished campaign for an objective and write each leader's structure, named by its "
        "candidate id, with an index.csv (rank, id, file, formula, SCOPE, score, energy above hull).",
    )
    p.add_argument("--campaign", metavar="ID", help="campaign id (default: the latest)")
    p.add_argument("-k", "--top-k", type=int, default=20, help="how many leaders")
    p.add_argument("--format", choices=["cif", "poscar"], default="cif")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--by", help="custom objective: column to rank by")
    p.add_argument("--ascending", action="store_true", help="custom objective: smallest first")
    p.add_argument(
        "--where", action="append", default=[], metavar="COND", help="extra filter, e.g. 'band_gap>1'"
    )
    add_objective_args(p)
    p.add_argument("--results", metavar="DIR", help="results store directory (default: settings.results_dir)")
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from screening.export import StructureFormat, export_leaders
    from screening.objectives import Objective, Ranking
    from screening.ranking import latest_campaign, parse_condition
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
        if fields.get("objective") is Objective.CUSTOM or (args.by and "objective" not in fields):
            fields.update(objective=Objective.CUSTOM, by=args.by, descending=not args.ascending)
        index = export_leaders(store, campaign, Ranking(**fields), args.out, k=args.top_k,
                               fmt=StructureFormat(args.format),
                               conditions=[parse_condition(w) for w in args.where])  # fmt: skip
    except ValidationError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import csv

    with open(index) as fh:
        rows = list(csv.DictReader(fh))
    n_files = sum(1 for r in rows if r["file"])
    print(f"campaign {campaign}: {len(rows)} leaders, {n_files} structure files + {index}")
    return 0
