"""Command-line options of a named objective (``cloud main``, ``cloud screen``, ``cloud top``, ``cloud export``,
``cloud report``), and the campaign options and error handling of the commands that read a finished campaign.

The choices come from :mod:`screening.objectives` (one definition); values are checked by the same pydantic
models the flow uses, so a bad value is one error line naming the option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from screening.objectives import Objective, UncertaintyMode

if TYPE_CHECKING:
    from screening.store import ResultsStore

#: Columns shown first for a ranked leaderboard (then the remaining predictions and their uncertainties).
LEADER_COLUMNS = ("rank", "candidate_id", "formula", "chemsys", "spacegroup", "score", "e_above_hull",
                  "e_above_hull_std", "known_composition")  # fmt: skip
_HIDDEN = {"scope", "source", "T_K", "u_J_per_molatom", "f_J_per_molatom", "s_J_per_molatom_K", "hull_version",
           "implausible", "far_below_hull", "n_sites"}  # fmt: skip


def leader_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns to print for ranked rows: identity, score, stability, then each prediction and its std."""
    if not rows:
        return []
    first = [c for c in LEADER_COLUMNS if c in rows[0]]
    rest = [c for c in rows[0] if c not in first and c not in _HIDDEN]
    return first + rest


def one_line(exc: BaseException) -> str:
    """A pydantic ValidationError (or any error) as one line naming the field."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            e = errors()[0]
            loc = ".".join(str(x) for x in e.get("loc", ()))
            return f"{loc}: {e.get('msg')}" if loc else str(e.get("msg"))
        except Exception:
            pass
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _elements(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


def _threshold(text: str) -> float | None:
    if text.lower() in ("none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of eV/atom or 'none', got {text!r}") from None


def add_objective_args(
    p: argparse.ArgumentParser, *, default_help: str = Objective.HEAT_SPREADER.value
) -> None:
    """Add ``--objective`` and the options of a ranking to ``p`` (unset options keep the models' defaults)."""
    names = ", ".join(o.value for o in Objective)
    unset = argparse.SUPPRESS  # options the user did not give leave the models' defaults alone
    p.add_argument(
        "--objective",
        type=Objective,
        choices=list(Objective),
        default=unset,
        metavar="NAME",
        help=f"the question to answer: {names} (default: {default_help})",
    )
    p.add_argument(
        "--uncertainty",
        type=UncertaintyMode,
        choices=list(UncertaintyMode),
        metavar="MODE",
        default=unset,
        help="mean (default), optimistic or conservative: shift values by --k-sigma standard deviations",
    )
    p.add_argument(
        "--k-sigma",
        type=float,
        default=unset,
        help="standard deviations of the uncertainty shift (default 1)",
    )
    p.add_argument(
        "--max-e-above-hull",
        type=_threshold,
        metavar="EV",
        default=unset,
        help="stability threshold in eV/atom above the reference hull (default 0.1; 'none': off)",
    )
    p.add_argument(
        "--exclude-elements",
        type=_elements,
        default=unset,
        metavar="EL,EL",
        help="leaders contain none of these",
    )
    p.add_argument(
        "--require-elements",
        type=_elements,
        default=unset,
        metavar="EL,EL",
        help="leaders contain all of these",
    )
    p.add_argument(
        "--allow-default-excluded",
        action="store_true",
        default=unset,
        help="admit radioactive elements and noble gases (excluded by default)",
    )
    p.add_argument(
        "--include-implausible",
        action="store_true",
        default=unset,
        help="admit implausible predictions (implausible, far_below_hull)",
    )
    p.add_argument(
        "--max-below-hull-unknown",
        type=_threshold,
        metavar="EV",
        default=unset,
        help="flag (far_below_hull) and exclude compositions unknown to the reference hull predicted more than "
        "EV eV/atom below it (default 0.2; 'none': off)",
    )
    p.add_argument(
        "--per-formula",
        type=int,
        default=unset,
        metavar="N",
        help="at most N leaders per formula (default 1)",
    )
    p.add_argument(
        "--per-chemsys", type=int, default=unset, metavar="N", help="at most N leaders per chemical system"
    )


def objective_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The ranking fields the user set (names as in ScreenParameters / Ranking); unset ones are left out."""
    names = (
        "objective",
        "uncertainty",
        "k_sigma",
        "max_e_above_hull",
        "exclude_elements",
        "require_elements",
        "allow_default_excluded",
        "include_implausible",
        "max_below_hull_unknown",
        "per_formula",
        "per_chemsys",
    )
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def add_campaign_args(p: argparse.ArgumentParser, *, k_help: str = "how many leaders") -> None:
    """``--campaign``, ``-k/--top-k`` and ``--results``: a finished campaign and how many leaders to read."""
    p.add_argument("--campaign", metavar="ID", help="campaign id (default: the latest)")
    p.add_argument("-k", "--top-k", type=int, default=20, help=k_help)
    p.add_argument("--results", metavar="DIR", help="results store directory (default: settings.results_dir)")


def open_campaign(args: argparse.Namespace) -> tuple[ResultsStore, str]:
    """The store and campaign of :func:`add_campaign_args`' options (the latest campaign by default).

    Raises
    ------
    FileNotFoundError
        When the store holds no campaign.
    ValueError
        When ``-k`` is below 1.
    """
    from screening.ranking import latest_campaign
    from screening.settings import get_settings
    from screening.store import ResultsStore

    store = ResultsStore(args.results or get_settings().results_dir)
    campaign = args.campaign or latest_campaign(store)
    if campaign is None:
        raise FileNotFoundError(f"no campaign in the store at {store.root}; run `cloud main` first")
    if args.top_k < 1:
        raise ValueError(f"-k must be at least 1, got {args.top_k}")
    return store, campaign


def run_user_command(body: Callable[[], int]) -> int:
    """Run a command's ``body``; an error the user can fix is one line on stderr and exit code 2."""
    from pydantic import ValidationError

    try:
        return body()
    except ValidationError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 2
