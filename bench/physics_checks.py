"""Physical checks of a CLOUD checkpoint on the committed check sets (issue 12).

Elements at zero formation energy, the pool's elemental candidates, band gaps of famous metals and insulators,
no negative band gap or Debye temperature, and polymorph ordering against CHGNet energy differences (clear pairs,
near-degenerate and held-out pairs separately). See :mod:`screening.evaluation.physics_checks`.

    python bench/physics_checks.py                     # the shipped checkpoint
    python bench/physics_checks.py --checkpoint DIR    # another one

Writes ``bench/results/physics_checks.json`` (summary + per-row predictions) and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screening.evaluation.metrics_file import run_metadata, write_json  # noqa: E402
from screening.evaluation.physics_checks import (  # noqa: E402
    DEFAULT_CHECKS,
    DEFAULT_POOL,
    CheckSetsError,
    evaluate,
    summary_table,
)

OUT = ROOT / "bench" / "results" / "physics_checks.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--checkpoint", type=Path, default=None, help="checkpoint directory (default: the shipped one)"
    )
    ap.add_argument(
        "--checks", type=Path, default=DEFAULT_CHECKS, help="check-set folder (default data/checks)"
    )
    ap.add_argument("--pool", type=Path, default=DEFAULT_POOL, help="candidate pool Parquet")
    ap.add_argument("--out", type=Path, default=OUT, help="results JSON")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args(argv)

    from cloud_core.model import Predictor

    if args.checkpoint is not None and not (args.checkpoint / "config.json").is_file():
        print(
            f"error: --checkpoint {args.checkpoint} is not a checkpoint directory (no config.json)",
            file=sys.stderr,
        )
        return 2
    try:
        predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu", threads=args.threads)
        doc = evaluate(predictor, args.checks, args.pool)
    except CheckSetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc["checkpoint"] = str(args.checkpoint) if args.checkpoint is not None else "shipped default"
    doc["meta"] = run_metadata()
    write_json(args.out, doc)
    print(summary_table(doc))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
