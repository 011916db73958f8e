"""The Materials Project as a candidate source: a resumable, fault-tolerant summary download.

:func:`fetch_summary` pages through ``/materials/summary/`` with the real ``mp_api`` client (one request per
page, sorted on ``material_id``; see :mod:`screening.sources.mp_pager`), writes each page as a Parquet shard
before it moves its cursor on (:mod:`screening.sources.mp_store`), and so can be killed at any moment and run
again: it goes on from the first page it does not have, and ends with every matching material exactly once.
If the server's database release (``/heartbeat`` ``db_version``) differs from the one the download started
with, the download starts over (pages of two releases are never mixed).

Reading a download back: :func:`read_candidates` / :func:`iter_candidate_batches` give
:class:`~screening.sources.candidate.Candidate` objects (id = material_id, source ``"mp"``, meta with the
scalar fields), :func:`labels_table` the training labels (K_VRH, G_VRH, density and the elastic Debye
temperature from ``cloud_core.debye``).

The API key comes from the argument, else the settings (``MP_API_KEY`` / ``CLOUD_MP_API_KEY``); the flows layer
can read it from a Prefect Secret block and pass it in. It is never logged and never written to any file.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cloud_core.rejects import Reject
from screening.sources.candidate import CANDIDATE_SCHEMA, Candidate, candidates_from_table
from screening.sources.mp_pager import (
    MPAuthError,
    MPQueryError,
    MPSummaryPager,
    MPUnavailableError,
    RetryPolicy,
    redact,
)
from screening.sources.mp_query import MPQuery
from screening.sources.mp_store import (
    SHARD_SCHEMA,
    Manifest,
    MPShardStore,
    PageRecord,
    _atomic_write_bytes,
    docs_to_table,
)

log = logging.getLogger("screening.sources.mp")

__all__ = [
    "LABEL_SCHEMA",
    "SHARD_SCHEMA",
    "FetchReport",
    "MPAuthError",
    "MPQuery",
    "MPQueryError",
    "MPStateError",
    "MPUnavailableError",
    "PageEvent",
    "RetryPolicy",
    "fetch_summary",
    "download_fingerprint",
    "iter_candidate_batches",
    "iter_candidate_tables",
    "labels_table",
    "read_candidates",
    "read_table",
    "resolve_api_key",
    "write_labels",
]

LABELS_NAME = "labels.parquet"


class MPStateError(RuntimeError):
    """The download folder holds a download that cannot be continued with these arguments."""


@dataclass(frozen=True)
class PageEvent:
    """Progress after one page was stored (given to ``on_page``)."""

    page: int
    skip: int
    n_docs: int
    n_rows: int
    total_doc: int
    rows_stored: int
    shard: str


@dataclass
class FetchReport:
    """What a :func:`fetch_summary` call did and where the result is."""

    out_dir: str
    shard_dir: str
    endpoint: str
    db_version: str
    query: str
    total_doc: int | None
    rows: int
    shards: int
    pages_fetched: int
    resumed_from_skip: int
    restarts: int
    complete: bool
    stopped_at_limit: bool
    duplicates_dropped: int
    rejects: int
    requests: int
    retries: int
    faults: dict[str, int] = field(default_factory=dict)
    waited_s: float = 0.0
    elapsed_s: float = 0.0
    labels: str | None = None
    label_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A few human-readable lines."""
        state = (
            "complete" if self.complete else ("stopped at --limit" if self.stopped_at_limit else "incomplete")
        )
        lines = [
            f"Materials Project download ({state}): {self.rows} materials in {self.shards} shards "
            f"(server total {self.total_doc}, db_version {self.db_version})",
            f"  shards: {self.shard_dir}",
            f"  this run: {self.pages_fetched} pages, {self.requests} requests, {self.retries} retries "
            f"{self.faults or ''}, waited {self.waited_s:.1f} s, {self.elapsed_s:.1f} s"
            + (f", resumed at _skip={self.resumed_from_skip}" if self.resumed_from_skip else "")
            + (f", restarted {self.restarts}x (new database release)" if self.restarts else ""),
        ]
        if self.duplicates_dropped or self.rejects:
            lines.append(
                f"  dropped {self.duplicates_dropped} duplicates, {self.rejects} rejects (see manifest)"
            )
        if self.labels:
            lines.append(f"  labels: {self.labels} ({self.label_rows} rows)")
        return "\n".join(lines)


def resolve_api_key(api_key: Any = None) -> str:
    """The Materials Project API key: ``api_key`` if given (str or SecretStr), else the settings.

    Raises
    ------
    MPAuthError
        If there is no key.
    """
    if api_key is not None:
        value = api_key.get_secret_value() if hasattr(api_key, "get_secret_value") else str(api_key)
        if value:
            return value
    from screening.settings import get_settings

    secret = get_settings().mp_api_key
    if secret is not None and secret.get_secret_value():
        return secret.get_secret_value()
    raise MPAuthError(
        "no Materials Project API key: set MP_API_KEY (or CLOUD_MP_API_KEY), or give the name of a Prefect "
        "Secret block holding it (cloud fetch-mp --secret-block NAME)"
    )


def fetch_summary(
    out_dir: str | os.PathLike[str],
    query: MPQuery | None = None,
    *,
    api_key: Any = None,
    endpoint: str | None = None,
    page_size: int = 500,
    limit: int | None = None,
    retry: RetryPolicy | None = None,
    heartbeat_every: int = 20,
    max_restarts: int = 3,
    restart: bool = False,
    write_label_file: bool = False,
    on_page: Callable[[PageEvent], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchReport:
    """Download (or resume downloading) Materials Project summary documents into Parquet shards.

    Parameters
    ----------
    out_dir
        The download folder (see :mod:`screening.sources.mp_store` for its layout).
    query
        Filters; ``MPQuery()`` (all non-deprecated materials) if ``None``.
    api_key
        The key; default: settings (``MP_API_KEY`` / ``CLOUD_MP_API_KEY``).
    endpoint
        API root; default: settings ``mp_endpoint``.
    page_size
        Documents per request (1..1000).
    limit
        Stop once this many documents (counted in the sorted result) are stored; ``None`` = all.
    retry
        Retry policy for transient faults (429, 5xx, timeouts, dropped connections, malformed answers).
    heartbeat_every
        Re-read the database release every this many pages (and always before declaring completion).
    max_restarts
        How many times a changing database release may restart the download in one call.
    restart
        Forget what the folder holds and start over.
    write_label_file
        Also write ``labels.parquet`` (K, G, density, elastic Debye temperature) when the download is
        complete or stopped at ``limit`` (imports the Debye layer, which loads torch).
    on_page
        Called after each stored page.
    sleep
        The wait function used between retries.

    Returns
    -------
    FetchReport

    Raises
    ------
    MPAuthError
        No key, or the server refused it (at once, nothing retried).
    MPQueryError
        The server refused the query (4xx).
    MPUnavailableError
        A request kept failing; everything stored so far is kept, call again to resume.
    MPStateError
        ``out_dir`` holds a download of another query or endpoint.
    """
    t0 = time.time()
    query = query or MPQuery()
    if not 1 <= page_size <= 1000:
        raise ValueError(f"page_size must be within 1..1000, got {page_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    key = resolve_api_key(api_key)
    if endpoint is None:
        from screening.settings import get_settings

        endpoint = get_settings().mp_endpoint
    endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
    criteria = query.criteria()
    store = MPShardStore(out_dir)
    pager = MPSummaryPager(key, endpoint, retry=retry, sleep=sleep)  # checks the key's form first

    manifest = store.load()
    if manifest is not None and (restart or not manifest.pages):
        if manifest.pages:
            log.info("restart requested: removing the download in %s", store.out_dir)
        store.reset()
        manifest = None
    if manifest is not None:
        if manifest.fingerprint != query.fingerprint():
            raise MPStateError(
                f"{store.out_dir} holds a download of another query ({MPQuery.from_dict(manifest.query).describe()}); "
                "use another folder or restart=True / --restart"
            )
        if manifest.endpoint != endpoint:
            raise MPStateError(
                f"{store.out_dir} holds a download from {manifest.endpoint}, not {endpoint}; "
                "use another folder or restart=True / --restart"
            )

    try:
        pager.connect()
        db_version = pager.heartbeat()
        restarts = 0
        if manifest is not None and manifest.db_version != db_version:
            log.warning(
                "database release changed (%s -> %s): starting the download over",
                manifest.db_version,
                db_version,
            )
            store.reset()
            manifest = None
            restarts += 1

        def fresh(version: str) -> Manifest:
            m = Manifest(
                query=query.to_dict(),
                fingerprint=query.fingerprint(),
                endpoint=endpoint,
                db_version=version,
                page_size=page_size,
            )
            store.save(m)
            return m

        if manifest is None:
            manifest = fresh(db_version)
        else:
            removed = store.remove_orphans(manifest)
            if removed:
                log.info("removed %d files the manifest does not name: %s", len(removed), ", ".join(removed))
        resumed_from = manifest.next_skip
        if resumed_from:
            log.info("resuming %s at _skip=%d (%d rows stored)", store.out_dir, resumed_from, manifest.n_rows)
        seen = store.seen_ids(manifest)
        pages_fetched = 0
        stopped_at_limit = False

        while True:
            exhausted = manifest.complete or (
                manifest.total_doc is not None and manifest.next_skip >= manifest.total_doc
            )
            if not exhausted and limit is not None and manifest.next_skip >= limit:
                stopped_at_limit = True
                break
            if not exhausted:
                n = page_size if limit is None else min(page_size, limit - manifest.next_skip)
                skip = manifest.next_skip
                docs, total = pager.page(criteria, query.fields, skip=skip, limit=n)
                if docs:
                    table, rejects, dups = docs_to_table(docs, manifest.db_version, seen)
                    shard = store.write_shard(manifest.next_page, table)
                    manifest.pages.append(
                        PageRecord(
                            page=manifest.next_page,
                            skip=skip,
                            n_docs=len(docs),
                            n_rows=table.num_rows,
                            file=shard,
                            duplicates=dups,
                            rejects=[r.to_dict() for r in rejects],
                        )
                    )
                    manifest.next_page += 1
                    manifest.next_skip = skip + len(docs)
                manifest.total_doc = total
                if not docs:  # nothing more at this offset: the result set ends here
                    manifest.total_doc = min(total, skip)
                store.save(manifest)
                if docs:
                    pages_fetched += 1
                    event = PageEvent(
                        page=manifest.next_page - 1,
                        skip=skip,
                        n_docs=len(docs),
                        n_rows=manifest.pages[-1].n_rows,
                        total_doc=total,
                        rows_stored=manifest.n_rows,
                        shard=manifest.pages[-1].file,
                    )
                    log.info(
                        "page %d: %d documents (_skip=%d), %d/%d stored",
                        event.page,
                        event.n_docs,
                        skip,
                        manifest.next_skip,
                        total,
                    )
                    if on_page is not None:
                        on_page(event)
                exhausted = manifest.total_doc is not None and manifest.next_skip >= manifest.total_doc
                due = bool(docs) and heartbeat_every > 0 and pages_fetched % heartbeat_every == 0
                if not exhausted and not due:
                    continue
            # completion (or a periodic check): is this still the release we started with?
            now = pager.heartbeat()
            if now != manifest.db_version:
                restarts += 1
                if restarts > max_restarts:
                    raise MPUnavailableError(
                        f"the database release changed {restarts} times during the download; try again later"
                    )
                log.warning(
                    "database release changed during the download (%s -> %s): starting over",
                    manifest.db_version,
                    now,
                )
                store.reset()
                manifest = fresh(now)
                seen = set()
                continue
            if exhausted:
                if not manifest.complete:
                    manifest.complete = True
                    store.save(manifest)
                break

        if manifest.total_doc is not None and manifest.complete:
            accounted = manifest.n_rows + manifest.n_duplicates + manifest.n_rejects
            if accounted != manifest.total_doc:
                log.warning(
                    "server reported %d matching documents; stored %d, dropped %d duplicates and %d rejects",
                    manifest.total_doc,
                    manifest.n_rows,
                    manifest.n_duplicates,
                    manifest.n_rejects,
                )
        labels_path = label_rows = None
        if write_label_file and (manifest.complete or stopped_at_limit):
            labels_path, label_rows = write_labels(store.out_dir)
        stats = pager.stats
        return FetchReport(
            out_dir=str(store.out_dir),
            shard_dir=str(store.shard_dir),
            endpoint=endpoint,
            db_version=manifest.db_version,
            query=query.describe(),
            total_doc=manifest.total_doc,
            rows=manifest.n_rows,
            shards=len(manifest.pages),
            pages_fetched=pages_fetched,
            resumed_from_skip=resumed_from,
            restarts=restarts,
            complete=manifest.complete,
            stopped_at_limit=stopped_at_limit,
            duplicates_dropped=manifest.n_duplicates,
            rejects=manifest.n_rejects,
            requests=stats.requests,
            retries=stats.retries,
            faults=dict(sorted(stats.faults.items())),
            waited_s=round(stats.waited_s, 3),
            elapsed_s=round(time.time() - t0, 3),
            labels=str(labels_path) if labels_path else None,
            label_rows=label_rows,
        )
    except (MPAuthError, MPQueryError, MPUnavailableError) as exc:
        # messages are built without the key; redact once more in case a server echoed it
        raise type(exc)(redact(str(exc), key)) from None
    finally:
        pager.close()


# ---------------------------------------------------------------------------------------------- reading
def read_table(out_dir: str | os.PathLike[str]) -> pa.Table:
    """Every stored row of a download (:data:`~screening.sources.mp_store.SHARD_SCHEMA`), in page order."""
    return MPShardStore(out_dir).read_table()


def iter_candidate_tables(out_dir: str | os.PathLike[str]) -> Iterator[pa.Table]:
    """The download's candidates as tables with :data:`~screening.sources.candidate.CANDIDATE_SCHEMA`, one
    shard (page) at a time (what a campaign reads; no structure is parsed)."""
    for table in MPShardStore(out_dir).iter_tables():
        for col in CANDIDATE_SCHEMA:  # shards store no SCOPE string yet: null columns
            if col.name not in table.column_names:
                table = table.append_column(col, pa.nulls(table.num_rows, col.type))
        yield table.select(CANDIDATE_SCHEMA.names).cast(CANDIDATE_SCHEMA)


def iter_candidate_batches(out_dir: str | os.PathLike[str]) -> Iterator[list[Candidate]]:
    """The download's candidates, one shard (page) at a time."""
    for table in iter_candidate_tables(out_dir):
        yield candidates_from_table(table)


def download_fingerprint(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a campaign screening a download depends on: its database release, row count, completeness and
    the SHA-256 of its shards' bytes (in page order; the folder's location does not enter).

    Raises
    ------
    FileNotFoundError
        When ``out_dir`` holds no download.
    """
    store = MPShardStore(out_dir)
    manifest = store.load()
    if manifest is None:
        raise FileNotFoundError(f"{out_dir} holds no Materials Project download (no manifest.json)")
    shards = store.shard_paths(manifest)
    stamp = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in shards)
    return {
        "db_version": manifest.db_version,
        "rows": manifest.n_rows,
        "complete": manifest.complete,
        "sha256": _shards_sha256(stamp),
    }


@functools.lru_cache(maxsize=16)
def _shards_sha256(stamp: tuple[tuple[str, int, int], ...]) -> str:
    """SHA-256 over the shards' names and bytes (cached per (path, mtime, size), so a campaign hashes once)."""
    h = hashlib.sha256()
    for path, _, _ in stamp:
        h.update(Path(path).name.encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_candidates(out_dir: str | os.PathLike[str]) -> list[Candidate]:
    """All candidates of a download (id = material_id, source ``"mp"``, meta with the scalar fields)."""
    return [c for batch in iter_candidate_batches(out_dir) for c in batch]


LABEL_SCHEMA = pa.schema(
    [
        pa.field("material_id", pa.string(), nullable=False),
        pa.field("formula", pa.string()),
        pa.field("nsites", pa.int32()),
        pa.field("k_vrh", pa.float64()),
        pa.field("g_vrh", pa.float64()),
        pa.field("density", pa.float64()),
        pa.field("theta_elastic", pa.float64()),
        pa.field("db_version", pa.string()),
    ]
)


def labels_table(out_dir: str | os.PathLike[str]) -> tuple[pa.Table, list[Reject]]:
    """Training labels of a download: the materials with elastic data.

    Columns (:data:`LABEL_SCHEMA`): material_id, formula, nsites, k_vrh and g_vrh (GPa, Voigt-Reuss-Hill),
    density (g/cm3), theta_elastic (K, the elastic Debye temperature from
    :func:`cloud_core.debye.elastic_theta_labels`: sound velocities from K, G and density, atom density from
    the density and the formula's molar mass and atom count) and db_version.

    Materials without moduli are skipped. Materials with a non-positive bulk or shear modulus become rejects
    (stage ``mp_labels``, reason ``non_positive_modulus``); those the Debye layer cannot use become its
    rejects (stage ``elastic_theta``).
    """
    import math

    from pymatgen.core import Composition

    from cloud_core.debye.elastic import elastic_theta_labels

    cols = ["candidate_id", "formula", "nsites", "k_vrh", "g_vrh", "density", "db_version"]
    rows = read_table(out_dir).select(cols).to_pylist()
    rejects: list[Reject] = []
    keep = []
    for r in rows:
        k, g = r["k_vrh"], r["g_vrh"]
        if k is None or g is None:
            continue
        if not (math.isfinite(k) and math.isfinite(g) and k > 0 and g > 0):
            rejects.append(
                Reject(r["candidate_id"], "mp_labels", "non_positive_modulus", f"K={k} GPa, G={g} GPa")
            )
            continue
        keep.append(r)
    masses, counts = [], []
    for r in keep:
        try:
            comp = Composition(r["formula"])
            masses.append(float(comp.weight))
            counts.append(float(comp.num_atoms))
        except Exception:  # an unparsable formula: the Debye layer rejects the missing values
            masses.append(None)
            counts.append(None)
    ids = [r["candidate_id"] for r in keep]
    theta, theta_rejects = elastic_theta_labels(
        ids,
        [r["k_vrh"] for r in keep],
        [r["g_vrh"] for r in keep],
        [r["density"] for r in keep],
        masses,
        counts,
    )
    rejects.extend(theta_rejects)
    out: dict[str, list[Any]] = {f.name: [] for f in LABEL_SCHEMA}
    for r in keep:
        if r["candidate_id"] not in theta:
            continue
        out["material_id"].append(r["candidate_id"])
        out["theta_elastic"].append(theta[r["candidate_id"]])
        for name in ("formula", "nsites", "k_vrh", "g_vrh", "density", "db_version"):
            out[name].append(r[name])
    return pa.table(out, schema=LABEL_SCHEMA), rejects


def write_labels(out_dir: str | os.PathLike[str]) -> tuple[Path, int]:
    """Write ``labels.parquet`` into the download folder (atomically); returns (path, rows)."""
    import io

    labels, rejects = labels_table(out_dir)
    if rejects:
        log.info("%d materials with unusable elastic data left out of the labels", len(rejects))
    buf = io.BytesIO()
    pq.write_table(labels, buf, compression="zstd")
    path = Path(out_dir) / LABELS_NAME
    _atomic_write_bytes(path, buf.getvalue())
    return path, labels.num_rows
