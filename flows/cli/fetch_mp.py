"""``cloud fetch-mp``: download Materials Project candidates (resumable) into Parquet shards.

Run it again with the same arguments to resume an interrupted download; it goes on from the last stored
page. The key comes from ``MP_API_KEY`` / ``CLOUD_MP_API_KEY`` or, with ``--secret-block NAME``, from a Prefect
Secret block (Prefect is imported only then).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from flows.cli.argtypes import (
    finite_non_negative_float,
    finite_positive_float,
    positive_int,
)


def _page_size(text: str) -> int:
    """Documents per request: 1..1000 (the API serves at most 1000)."""
    value = positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(f"must be <= 1000 (the API's largest page), got {text!r}")
    return value


EXIT_AUTH = 3
EXIT_UNAVAILABLE = 4
EXIT_STATE = 5
EXIT_QUERY = 6


def load_key_from_prefect_secret(name: str) -> str:
    """The API key stored in the Prefect ``Secret`` block ``name`` (imports Prefect lazily)."""
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except Exception as exc:  # not found, no API, ...: one clear message (never the value)
        raise SystemExit(f"cloud fetch-mp: cannot read Prefect Secret block {name!r}: {exc}") from None
    if not isinstance(value, str) or not value:
        raise SystemExit(f"cloud fetch-mp: Prefect Secret block {name!r} does not hold a string key")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fetch-mp",
        help="download Materials Project candidates into Parquet shards (resumable)",
        description=(
            "Page through the Materials Project summary endpoint with the mp-api client and store each page as "
            "a Parquet shard. Run again with the same arguments to resume. Key: MP_API_KEY or CLOUD_MP_API_KEY "
            "(or --secret-block)."
        ),
    )
    p.add_argument("--out", required=True, help="download folder (shards/, manifest.json, labels.parquet)")
    p.add_argument(
        "--endpoint", default=None, help="API root (default: settings mp_endpoint, the public API)"
    )
    p.add_argument("--elements", default=None, help="materials containing all of these elements, e.g. O,Fe")
    p.add_argument("--chemsys", default=None, help="chemical systems, e.g. Fe-O or Fe-O,Li-Fe-O")
    p.add_argument("--band-gap-min", type=finite_non_negative_float, default=None, help="eV")
    p.add_argument("--band-gap-max", type=finite_non_negative_float, default=None, help="eV")
    p.add_argument(
        "--e-above-hull-max", type=finite_non_negative_float, default=None, help="eV/atom (0 = stable only)"
    )
    p.add_argument("--nsites-min", type=positive_int, default=None)
    p.add_argument("--nsites-max", type=positive_int, default=None)
    p.add_argument("--has-elasticity", action="store_true", help="only materials with elastic data (labels)")
    p.add_argument(
        "--labels",
        action="store_true",
        help="also write labels.parquet (K, G, density, elastic Debye temperature)",
    )
    p.add_argument("--page-size", type=_page_size, default=500, help="documents per request (<= 1000)")
    p.add_argument("--limit", type=positive_int, default=None, help="stop after this many materials")
    p.add_argument("--max-attempts", type=positive_int, default=8, help="attempts per request")
    p.add_argument(
        "--max-wait",
        type=finite_non_negative_float,
        default=120.0,
        help="longest single wait in s (caps Retry-After)",
    )
    p.add_argument(
        "--backoff",
        type=finite_non_negative_float,
        default=1.0,
        help="first backoff wait in s (doubles per retry)",
    )
    p.add_argument(
        "--timeout", type=finite_positive_float, default=60.0, help="seconds to wait for one answer"
    )
    p.add_argument("--secret-block", default=None, help="read the key from this Prefect Secret block")
    p.add_argument("--restart", action="store_true", help="forget what --out holds and start over")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-page progress")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    from screening.sources.materials_project import (
        MPAuthError,
        MPQuery,
        MPQueryError,
        MPStateError,
        MPUnavailableError,
        RetryPolicy,
        fetch_summary,
    )

    try:
        query = MPQuery(
            elements=args.elements or (),
            chemsys=args.chemsys or (),
            band_gap_min=args.band_gap_min,
            band_gap_max=args.band_gap_max,
            e_above_hull_max=args.e_above_hull_max,
            nsites_min=args.nsites_min,
            nsites_max=args.nsites_max,
            has_elasticity=args.has_elasticity,
        )
        retry = RetryPolicy(
            max_attempts=args.max_attempts,
            backoff_base=args.backoff,
            max_wait=args.max_wait,
            timeout=args.timeout,
        )
    except ValueError as exc:
        print(f"cloud fetch-mp: {exc}", file=sys.stderr)
        return 2
    key = load_key_from_prefect_secret(args.secret_block) if args.secret_block else None
    try:
        report = fetch_summary(
            args.out,
            query,
            api_key=key,
            endpoint=args.endpoint,
            page_size=args.page_size,
            limit=args.limit,
            retry=retry,
            restart=args.restart,
            write_label_file=args.labels,
        )
    except MPAuthError as exc:
        print(f"cloud fetch-mp: {exc}", file=sys.stderr)
        return EXIT_AUTH
    except MPUnavailableError as exc:
        print(f"cloud fetch-mp: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except MPStateError as exc:
        print(f"cloud fetch-mp: {exc}", file=sys.stderr)
        return EXIT_STATE
    except MPQueryError as exc:
        print(f"cloud fetch-mp: {exc}", file=sys.stderr)
        return EXIT_QUERY
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.summary())
    return 0
