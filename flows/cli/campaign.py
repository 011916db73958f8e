"""Campaign commands: ``cloud main``, ``cloud screen``, ``cloud top``, ``cloud ui`` (``cloud query``: query.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flows.cli.argtypes import (
    finite_positive_float,
    finite_positive_floats,
    non_negative_int,
    port,
    positive_int,
    symprec,
)
from flows.cli.objective_args import add_objective_args, leader_columns, objective_fields, one_line
from screening.objectives import Objective


# ------------------------------------------------------------------------------------------- arguments
def _add_store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", metavar="DIR", help="results store directory (default: settings.results_dir)")


def _condition(text: str):
    """``--where`` value -> a ranking condition (the column is checked against the leaderboard later)."""
    from screening.ranking import parse_condition

    try:
        return parse_condition(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_screen_args(p: argparse.ArgumentParser, *, main: bool = False) -> None:
    p.add_argument("--campaign", metavar="ID", help="campaign id; the same id resumes a campaign")
    if not main:
        p.add_argument("--source", choices=["pool", "files", "mp", "prototypes", "pyxtal"], default="pool")
        p.add_argument(
            "--path",
            help="pool: candidate Parquet (default: the bundled pool); files: a folder, file or glob; "
            "mp: a folder written by `cloud fetch-mp`",
        )
        p.add_argument(
            "--size", type=positive_int, default=1000, help="prototypes/pyxtal: how many to generate"
        )
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--offset", type=non_negative_int, default=0, help="pool: skip this many candidates")
    p.add_argument("--limit", type=positive_int, help="at most this many candidates")
    p.add_argument("--checkpoint", help="model checkpoint directory (default: the shipped model)")
    p.add_argument(
        "--chunk-size",
        type=positive_int,
        help="candidates per chunk (default: 2000; main: sized to the cores)",
    )
    p.add_argument("--batch-size", type=positive_int, default=512)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--inference", choices=["float32", "int8"], default="float32",
        help="model arithmetic: float32, or int8 (fast CPU inference, checked against float32 at load; its own "
        "model id, so another campaign than float32's)",
    )  # fmt: skip
    p.add_argument("--symprec", type=symprec, default=0.01)
    p.add_argument(
        "--temperatures",
        type=finite_positive_floats,
        help="comma-separated temperatures in K (default: 10..1000 K grid)",
    )
    p.add_argument("--rank-by", help="custom objective: leaderboard column to rank by (default: theta_K)")
    p.add_argument(
        "--ascending", action="store_true", help="custom objective: rank the smallest values first"
    )
    add_objective_args(p)
    p.add_argument(
        "--extra-objective", action="append", default=[], type=Objective, choices=list(Objective), metavar="NAME",
        help="also rank for this objective (repeatable; one artifact each)",
    )  # fmt: skip
    p.add_argument(
        "--where",
        action="append",
        type=_condition,
        default=[],
        metavar="COND",
        help="filter, e.g. 'theta_K>400'",
    )
    p.add_argument("--top-k", type=positive_int, default=20)
    p.add_argument("--rank-temperature", type=finite_positive_float, default=300.0)
    p.add_argument("--dask-address", help="scheduler address of an existing Dask cluster")
    p.add_argument("--workers", type=positive_int, help="local Dask cluster: workers (default: one per core)")
    p.add_argument(
        "--threads", action="store_true", help="local Dask workers as threads instead of processes"
    )
    p.add_argument(
        "--validate-top-k", type=non_negative_int, default=0, help="validate this many leaders with phonons"
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_store_arg(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "main",
        help="the main job: screen the bundled candidate pool with the shipped model (Prefect + Dask, local)",
        description="Screen the bundled prototype pool (>= 12,000 candidates) with the shipped CLOUD model on a "
        "local Prefect server and a local Dask cluster; print the top-k and where the results are.",
    )
    _add_screen_args(p, main=True)
    p.set_defaults(handler=_cmd_main)

    p = subparsers.add_parser("screen", help="run or resume a screening campaign (the `screen` flow)")
    _add_screen_args(p)
    p.set_defaults(handler=_cmd_screen)

    p = subparsers.add_parser("top", help="ranked candidates of a campaign, with filters")
    p.add_argument("--campaign", metavar="ID", help="campaign id (default: the latest)")
    p.add_argument("--by", help="custom objective: column to rank by (default: theta_K)")
    p.add_argument("--ascending", action="store_true", help="custom objective: smallest first")
    add_objective_args(p, default_help="custom: --by and --where")
    p.add_argument("-k", "--top-k", type=positive_int, default=20)
    p.add_argument(
        "--where",
        action="append",
        type=_condition,
        default=[],
        metavar="COND",
        help="e.g. 'theta_K>400', 'spacegroup=225'",
    )
    p.add_argument(
        "--temperature",
        type=finite_positive_float,
        default=300.0,
        help="temperature of the Debye columns (K)",
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _add_store_arg(p)
    p.set_defaults(handler=_cmd_top)

    p = subparsers.add_parser("ui", help="start the Prefect server and UI (local)")
    p.add_argument("--port", type=port, default=4200)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(handler=_cmd_ui)


# ------------------------------------------------------------------------------------------- helpers
def _store(args: argparse.Namespace):
    from screening.settings import get_settings
    from screening.store import ResultsStore

    return ResultsStore(args.results or get_settings().results_dir)


def _params_from_args(args: argparse.Namespace, *, source: dict[str, Any]) -> Any:
    from screening.campaign import ScreenParameters

    fields: dict[str, Any] = {
        "campaign_id": args.campaign,
        "source": source,
        "checkpoint": args.checkpoint,
        "batch_size": args.batch_size,
        "device": args.device,
        "inference": args.inference,
        "symprec": args.symprec,
        "rank_by": args.rank_by,
        "descending": not args.ascending,
        "top_k": args.top_k,
        "rank_temperature_K": args.rank_temperature,
        "dask_address": args.dask_address,
        "n_workers": args.workers,
        "local_workers": "threads" if args.threads else "processes",
        "validate_top_k": args.validate_top_k,
        "results_dir": args.results,
    }
    fields.update(objective_fields(args))
    if args.extra_objective:
        fields["extra_objectives"] = args.extra_objective
    if args.chunk_size is not None:
        fields["chunk_size"] = args.chunk_size
    if args.temperatures:
        fields["temperatures_K"] = args.temperatures
    if args.where:
        fields["filters"] = [vars(cond) for cond in args.where]
    return ScreenParameters(**fields)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None, max_width: int = 48) -> str:
    """Plain-text table of ``rows`` (long cells are cut)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c))[:max_width] for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


_TOP_COLUMNS = ("rank", "candidate_id", "formula", "spacegroup", "n_sites")
_TOP_SKIP = {"scope", "source", "T_K", "u_J_per_molatom", "f_J_per_molatom"}


def top_columns(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    rest = [c for c in rows[0] if c not in _TOP_COLUMNS and c not in _TOP_SKIP]
    return [*_TOP_COLUMNS, *rest, "scope"]


def _print_rows(rows: list[dict[str, Any]], fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "json":
        print(json.dumps(rows, default=str, indent=1))
    elif fmt == "csv":
        import csv

        w = csv.DictWriter(
            sys.stdout, fieldnames=columns or (list(rows[0]) if rows else []), extrasaction="ignore"
        )
        w.writeheader()
        w.writerows(rows)
    else:
        print(format_table(rows, columns))


class _Progress:
    """A progress bar fed by the store: counts candidates of committed chunks (works for any executor)."""

    def __init__(self, store, campaign_id: str, enabled: bool) -> None:
        self.store, self.campaign_id, self.enabled = store, campaign_id, enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join(5)

    def _run(self) -> None:
        import pyarrow.parquet as pq
        from tqdm import tqdm

        bar, seen, done = None, set(), 0
        layout = self.store.layout
        while True:
            stop = self._stop.is_set()
            try:
                if bar is None and self.store.has_plan(self.campaign_id):
                    row = self.store.read_campaign(self.campaign_id)
                    bar = tqdm(total=row["n_candidates"], unit="cand", desc=f"screen {self.campaign_id}",
                               dynamic_ncols=True, file=sys.stderr, smoothing=0.1)  # fmt: skip
                if bar is not None:
                    before = done
                    for chunk in sorted(self.store.committed_chunks(self.campaign_id) - seen):
                        path = layout.chunk_dir(self.campaign_id, chunk) / "chunks.parquet"
                        done += pq.read_table(path, columns=["n_candidates"]).column(0)[0].as_py()
                        seen.add(chunk)
                    if done > before:
                        bar.update(done - before)
            except OSError:
                pass
            if stop:
                break
            self._stop.wait(0.5)
        if bar is not None:
            bar.close()


def _process_started_at() -> float:
    """Wall clock (epoch s) when this process started (Linux ``/proc``; now, elsewhere)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + start
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


#: Start-up and exit steps, in order, as (timeline key, what the time up to it is spent on).
TIMELINE_STEPS: tuple[tuple[str, str], ...] = (
    ("process_start", ""),
    ("cli_ready", "Python start-up and the CLI's imports"),
    ("lock_checked", "model id (checkpoint hash), campaign id, lock probe"),
    ("server_ready", "temporary Prefect server start (overlaps the Dask cluster start)"),
    ("cluster_ready", "Dask cluster start (workers import torch, pymatgen, Prefect)"),
    ("flow_started", "flow run created on the server"),
    ("planned", "plan: read the source, check stored SCOPE strings, write chunk inputs"),
    ("first_chunk_started", "sub-flow run, first tasks submitted to Dask"),
    ("chunks_done", "all chunks"),
    ("ranked", "rank (SQL)"),
    ("artifacts_done", "artifacts (top-k table, Cv plot)"),
    ("flow_done", "flow run finished on the server"),
    ("torn_down", "Dask cluster closed, logs delivered, Prefect server stopped"),
)


def format_timeline(timeline: dict[str, float]) -> str:
    """One line: seconds since the process started at each step that was reached."""
    t0 = timeline.get("process_start") or min(timeline.values())
    parts = [f"{key} {timeline[key] - t0:.1f}" for key, _ in TIMELINE_STEPS[1:] if key in timeline]
    return "timeline (s since start): " + ", ".join(parts)


def _run_screen(args: argparse.Namespace, params: Any) -> int:
    from screening.campaign.predict import resolve_checkpoint
    from screening.campaign.runner import campaign_id_for, check_ranking_parameters
    from screening.store.layout import StoreLayout
    from screening.store.lock import probe_campaign_lock

    timeline = {"process_start": _process_started_at(), "cli_ready": time.time()}
    t0 = time.perf_counter()
    checkpoint, model_id = resolve_checkpoint(params.checkpoint, params.inference)
    check_ranking_parameters(params, checkpoint)  # --where / --rank-by against the leaderboard, before any work
    campaign_id = campaign_id_for(params, model_id)
    params = params.model_copy(update={"campaign_id": campaign_id})
    root = params.resolved_results_dir()
    # refuse a running campaign now, before any server or cluster starts (the flow takes the lock for the run)
    probe_campaign_lock(StoreLayout(root).lock_path(campaign_id))
    timeline["lock_checked"] = time.time()
    print(f"campaign {campaign_id}: results in {root}", file=sys.stderr)
    from flows.prefect_server import local_prefect_api

    cluster = _ClusterStarter(params)
    try:
        # the local Dask cluster starts (workers importing the pipeline) while the Prefect server starts; it is
        # closed before the server stops, so its workers deliver their last logs to a server that still listens
        with local_prefect_api(on_url=cluster.start, before_stop=cluster.close) as api:
            timeline["server_ready"] = time.time()
            print(f"Prefect API {api}", file=sys.stderr)
            from flows.screen import screen

            logging.getLogger("distributed").setLevel(logging.ERROR)  # worker start/stop chatter
            params = cluster.wait(params)
            timeline["cluster_ready"] = time.time()
            from screening.store import ResultsStore

            store = ResultsStore(root)
            try:
                with _Progress(store, campaign_id, enabled=not args.no_progress), _one_line_console_logs():
                    summary = screen(params)
            except Exception as exc:
                if params.dask_address and not scheduler_reachable(params.dask_address):
                    print(f"error: the Dask scheduler at {params.dask_address} is gone ({type(exc).__name__}); "
                          f"committed chunks are kept: start a scheduler and rerun with --campaign {campaign_id} "
                          "to finish the rest", file=sys.stderr)  # fmt: skip
                    return 1
                raise
            timeline.update(summary.pop("timeline", {}))
            timeline["flow_done"] = time.time()
        timeline["torn_down"] = time.time()
    finally:
        cluster.close()
    # printed after the tear-down: the command exits as soon as the summary is out
    summary["timeline"] = timeline
    _print_summary(args, params, store, campaign_id, summary, time.perf_counter() - t0)
    return 0


def scheduler_reachable(address: str, timeout_s: float = 2.0) -> bool:
    """Whether a TCP connection to the Dask scheduler at ``address`` (``tcp://host:port``) opens."""
    import socket

    host, _, port = address.rpartition("://")[2].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


class _StripTracebacks(logging.Filter):
    """Console records as one line: the traceback stays in the Prefect API's logs (the UI), not the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = record.exc_text = record.stack_info = None
        return True


@contextlib.contextmanager
def _one_line_console_logs():
    """While a campaign runs, Prefect's console handlers print records without tracebacks (a failure the CLI
    explains, such as a lost scheduler, is then one error line; an unexpected one is re-raised with its own)."""
    handlers = [h for name in ("prefect", "") for h in logging.getLogger(name).handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]  # fmt: skip
    strip = _StripTracebacks()
    for h in handlers:
        h.addFilter(strip)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(strip)


class _ClusterStarter:
    """Starts the campaign's local Dask cluster in a background thread (unless an address is given)."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self.cluster = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self, api_url: str) -> None:
        if self.params.dask_address:
            return

        def run() -> None:
            try:
                from flows.dask_cluster import local_cluster

                self.cluster = local_cluster(
                    self.params.n_workers,
                    processes=self.params.local_workers == "processes",
                    gpu_resource=self.params.gpu_resource,
                )
            except BaseException as exc:  # reported in wait()
                self.error = exc

        self.thread = threading.Thread(target=run, name="dask-cluster-start", daemon=True)
        self.thread.start()

    def wait(self, params: Any) -> Any:
        if self.thread is None:
            return params
        self.thread.join()
        if self.error is not None:
            raise RuntimeError(f"could not start the local Dask cluster: {self.error}") from self.error
        return params.model_copy(update={"dask_address": self.cluster.scheduler_address})

    def close(self) -> None:
        """Close the cluster (once; later calls do nothing)."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            cluster.close(timeout=30)


def _print_summary(
    args: argparse.Namespace, params: Any, store: Any, campaign_id: str, summary: dict, seconds: float
) -> None:
    summary["wall_seconds"] = seconds
    if args.json:
        print(json.dumps(summary, default=str, indent=1))
        return
    top = summary["top"]
    print()
    ranking = params.ranking()
    print(f"Top {len(top)} of campaign {campaign_id} for {ranking.objective} "
          f"({ranking.uncertainty} values{'' if ranking.uncertainty == 'mean' else f', {ranking.k_sigma:g} sigma'}"
          f"; Debye values at {params.rank_temperature_K:g} K):")  # fmt: skip
    if ranking.objective is not Objective.CUSTOM:
        print(f"  {ranking.question.question}")
    if ranking.max_e_above_hull is not None:
        print(f"  stable: e_above_hull <= {ranking.max_e_above_hull:g} eV/atom; at most {ranking.per_formula} "
              f"per formula; implausible predictions and {', '.join(ranking.excluded_elements()[:3])}... excluded")  # fmt: skip
    print(format_table(top, leader_columns(top)))
    if top and all(r.get("e_above_hull_std") is None for r in top):
        print(
            "  (this model gives no uncertainties: the *_std columns are empty; retrain with uncertainty for them)"
        )
    print()
    row = store.query("SELECT * FROM campaigns WHERE campaign_id = $c", {"c": campaign_id}).to_pylist()[0]
    rate = summary["n_candidates"] / seconds if seconds > 0 else float("nan")
    print(f"campaign {campaign_id}: {row['n_candidates']} candidates, {row['n_ok']} predicted, "
          f"{row['n_rejected']} rejected, {row['n_chunks_done']}/{row['n_chunks']} chunks ({row['status']}); "
          f"{summary['chunks_run']} chunks run now{' (resumed)' if summary['resumed'] else ''}")  # fmt: skip
    print(f"wall time {seconds:.1f} s ({rate:.0f} candidates/s end to end)")
    if summary.get("timeline"):
        print(format_timeline(summary["timeline"]))
    print(f"results:  {store.root}  (Parquet parts under parts/{campaign_id}/)")
    print(f"DuckDB:   {store.db_path}  (views only; open read-only)")
    if summary.get("artifacts"):
        print(f"Cv plot:  {summary['artifacts']}")
    if summary.get("report"):
        print(f"report:   {summary['report']}  (cloud report --campaign {campaign_id})")
    print(
        f"more:     cloud top --campaign {campaign_id} --objective thermoelectric --uncertainty conservative"
    )
    print(
        f"          cloud query \"SELECT stage, reason, count(*) FROM rejects WHERE campaign_id = '{campaign_id}' GROUP BY ALL\"",
        flush=True,
    )


# ------------------------------------------------------------------------------------------- handlers
def validation_message(exc: Any) -> str:
    """A pydantic ``ValidationError`` as one line: ``where: what; where: what``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _clear_errors(fn):
    """Report the errors a user can fix (bad input, missing files, a running or changed campaign) in one line."""

    def wrapped(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from screening.campaign.plan import CampaignParametersChanged
        from screening.store import CampaignLockedError

        try:
            return fn(args)
        except ValidationError as exc:
            print(f"error: {validation_message(exc)}", file=sys.stderr)
            return 1
        except (FileNotFoundError, CampaignLockedError, CampaignParametersChanged) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    wrapped.__name__ = fn.__name__
    return wrapped


@_clear_errors
def _cmd_screen(args: argparse.Namespace) -> int:
    source = {"kind": args.source, "path": args.path, "limit": args.limit, "offset": args.offset,
              "size": args.size, "seed": args.seed}  # fmt: skip
    return _run_screen(args, _params_from_args(args, source=source))


@_clear_errors
def _cmd_main(args: argparse.Namespace) -> int:
    from screening.campaign.source_tables import default_pool_path

    pool = default_pool_path()
    if not pool.is_file():
        print(f"error: the bundled candidate pool {pool} is missing", file=sys.stderr)
        return 1
    if not args.campaign:
        args.campaign = "main-" + time.strftime("%Y%m%d-%H%M%S")
    if not hasattr(args, "per_chemsys"):
        args.per_chemsys = 2  # the top 20 spans at least 10 chemical systems
    if not args.chunk_size:
        import pyarrow.parquet as pq

        n = pq.ParquetFile(pool).metadata.num_rows if args.limit is None else args.limit
        workers = args.workers or len(os.sched_getaffinity(0))
        args.chunk_size = max(100, min(2000, -(-n // (workers * 4))))  # ~4 chunks per worker
    return _run_screen(args, _params_from_args(args, source={"kind": "pool", "limit": args.limit}))


def _cmd_top(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from screening.objectives import Ranking
    from screening.ranking import check_ranking, latest_campaign, rank_objective, target_columns

    store = _store(args)
    campaign = args.campaign or latest_campaign(store)
    if campaign is None:
        print(
            f"error: no campaign in the store at {store.root}; run `cloud main` or `cloud screen` first",
            file=sys.stderr,
        )
        return 1
    try:
        # filters checked against the campaign's leaderboard (column names and value types) before any SQL
        _, conds = check_ranking(target_columns(store, campaign), None, list(args.where))
        fields = {"objective": Objective.CUSTOM, **objective_fields(args)}
        if fields["objective"] is Objective.CUSTOM:
            fields.update(by=args.by, descending=not args.ascending)
        ranking = Ranking(**fields)
        rows = rank_objective(store, campaign, ranking, k=args.top_k, conditions=conds,
                              temperature_K=args.temperature).to_pylist()  # fmt: skip
    except ValidationError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "table":
        print(f"campaign {campaign}: {ranking.objective}" + (f" ({ranking.question.question})" if ranking.objective
              is not Objective.CUSTOM else ""))  # fmt: skip
    _print_rows(rows, args.format, leader_columns(rows) if args.format == "table" else None)
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(Path(__file__).resolve().parents[2] / ".prefect"))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env["PREFECT_UI_API_URL"] = f"http://{args.host}:{args.port}/api"
    print(f"Prefect UI at http://{args.host}:{args.port}  (set PREFECT_API_URL=http://{args.host}:{args.port}/api "
          "in other shells to run flows against it; Ctrl-C stops it)", flush=True)  # fmt: skip
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", args.host, "--port", str(args.port)]
    os.execvpe(cmd[0], cmd, env)
    return 0  # pragma: no cover
