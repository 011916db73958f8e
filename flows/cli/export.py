"""``cloud export``: a campaign's leaders for an objective as CIF or POSCAR files + an index (for DFT)."""

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
        "export",
        help="write the leaders' structures (CIF or POSCAR, one file each + index.csv)",
        description="Rank a finished campaign for an objective and write each leader's structure, named by its "
        "candidate id, with an index.csv (rank, id, file, formula, SCOPE, score, energy above hull).",
    )
    add_campaign_args(p)
    p.add_argument("--format", choices=["cif", "poscar"], default="cif")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--by", help="custom objective: column to rank by")
    p.add_argument("--ascending", action="store_true", help="custom objective: smallest first")
    p.add_argument(
        "--where", action="append", default=[], metavar="COND", help="extra filter, e.g. 'band_gap>1'"
    )
    add_objective_args(p)
    p.set_defaults(handler=lambda args: run_user_command(lambda: _cmd_export(args)))


def _cmd_export(args: argparse.Namespace) -> int:
    import csv

    from screening.export import StructureFormat, export_leaders
    from screening.objectives import Objective, Ranking
    from screening.ranking import parse_condition

    store, campaign = open_campaign(args)
    fields = objective_fields(args)
    if fields.get("objective") is Objective.CUSTOM or (args.by and "objective" not in fields):
        fields.update(objective=Objective.CUSTOM, by=args.by, descending=not args.ascending)
    index = export_leaders(store, campaign, Ranking(**fields), args.out, k=args.top_k,
                           fmt=StructureFormat(args.format),
                           conditions=[parse_condition(w) for w in args.where])  # fmt: skip
    with open(index) as fh:
        rows = list(csv.DictReader(fh))
    n_files = sum(1 for r in rows if r["file"])
    print(f"campaign {campaign}: {len(rows)} leaders, {n_files} structure files + {index}")
    return 0
