"""One page at a time from the Materials Project summary endpoint, through the real ``mp_api`` client.

Why not ``MPRester().materials.summary.search(...)``: it fetches every page in one call, raises
``MPRestError`` on the first HTTP 500 and drops the pages it already had, and retries only 429/502/504 (inside
urllib3, invisibly). So this module asks the real client for exactly one page per call and does the retrying:

- A request is ``SummaryRester._query_resource(criteria, num_chunks=1, chunk_size=limit)`` with ``_skip``,
  ``_limit``, ``_fields`` and ``_sort_fields=material_id`` in the criteria. That is the call ``search`` ends in
  (``search -> _search -> _get_all_documents -> _query_resource``); with ``num_chunks=1`` the client sends one
  ``GET /materials/summary/?...&_skip=S&_limit=L&_sort_fields=material_id&_fields=...`` with the
  ``x-api-key`` header and returns ``{"data": [...], "meta": {...}}``; ``use_document_model=False`` keeps the
  documents as plain dicts. The field names are checked once against ``SummaryDoc`` here (mp-api's own
  check rebuilds the model's JSON schema once per field per request: ~0.1-0.2 s per field).
- mp-api mounts a ``urllib3`` ``Retry`` adapter (429/502/504, connection and read errors, up to 3 times) on
  its session. It is replaced by an adapter with no retries, so every fault reaches this module, is counted,
  and is waited out with one policy (:class:`RetryPolicy`) that honours ``Retry-After``.
- mp-api turns HTTP errors into ``MPRestError`` with only a message. A response hook on the client's session
  records the status and ``Retry-After`` of each answer, so the error is classified by its status code,
  not by parsing messages: 401/403 -> :class:`MPAuthError` at once; 429, 408 and 5xx -> wait and retry;
  other 4xx -> :class:`MPQueryError` at once; HTTP 200 with a body that is not the expected JSON -> retry;
  no answer at all (timeout, refused or dropped connection) -> retry.
- ``/heartbeat`` (the database release) is read through the same session and retry policy; mp-api's own
  heartbeat helper is cached per process and would never see a new release.

The API key is passed to ``MPRester`` and lives only in its session's headers; no message of this module
contains it (messages are also passed through :func:`redact`).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

log = logging.getLogger("screening.sources.mp")

SORT_FIELD = "material_id"


class MPAuthError(RuntimeError):
    """The API key is missing or the server refused it (HTTP 401/403). Retrying will not help."""


class MPQueryError(RuntimeError):
    """The server refused the query itself (HTTP 4xx other than 401/403/408/429). Retrying will not help."""


class MPUnavailableError(RuntimeError):
    """The server kept failing after all retries; what was fetched so far is kept, run again to resume."""


class _Malformed(ValueError):
    """An HTTP 200 answer that is not the expected JSON document."""


@dataclass(frozen=True)
class RetryPolicy:
    """How to wait out transient faults.

    Parameters
    ----------
    max_attempts
        Attempts per request (first try included) before :class:`MPUnavailableError`.
    backoff_base, backoff_max
        Exponential backoff without ``Retry-After``: ``min(backoff_max, backoff_base * 2**(attempt-1))``
        seconds, times a random factor in [0.5, 1].
    max_wait
        Upper bound of any single wait, ``Retry-After`` included (a longer ``Retry-After`` is cut to this).
    timeout
        Seconds to wait for an answer to one request.
    """

    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_wait: float = 120.0
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("backoff_base", "backoff_max", "max_wait"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        base = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return min(self.max_wait, base * rng.uniform(0.5, 1.0))


@dataclass
class RequestStats:
    """What the pager did: requests sent, faults seen by kind, seconds waited."""

    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    waited_s: float = 0.0
    waits: list[float] = field(default_factory=list)

    @property
    def retries(self) -> int:
        return sum(self.faults.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "faults": dict(sorted(self.faults.items())),
            "waited_s": round(self.waited_s, 3),
        }


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    return text.replace(secret, "***") if secret else text


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


class MPSummaryPager:
    """Fetches single pages of the summary endpoint with the real ``MPRester``, retrying transient faults.

    Parameters
    ----------
    api_key
        The 32-character Materials Project API key.
    endpoint
        API root, e.g. ``"https://api.materialsproject.org/"`` or a local test server's URL.
    retry
        The retry policy.
    sleep
        The function that waits (``time.sleep``; tests may pass a recorder).
    seed
        Seed of the backoff jitter.
    """

    def __init__(
        self,
        api_key: str,
        endpoint: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        if not api_key:
            raise MPAuthError("no Materials Project API key given")
        if len(api_key) != 32:
            raise MPAuthError(
                f"a Materials Project API key has 32 characters, this one has {len(api_key)}: "
                "check MP_API_KEY (get a key at https://materialsproject.org/api)"
            )
        self._key = api_key
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.stats = RequestStats()
        self._last: tuple[int, str | None] | None = None
        self._mpr: Any = None
        self._summary: Any = None
        self._fields_ok: set[tuple[str, ...]] = set()

    # ------------------------------------------------------------------ plumbing
    def _on_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._last = (int(response.status_code), response.headers.get("Retry-After"))
        return response

    def _classify(self, exc: BaseException) -> tuple[str, float | None]:
        """(kind, retry_after) of a failed attempt; kind 'auth' and 'query' are fatal."""
        import requests

        if isinstance(exc, _Malformed):
            return "malformed", None
        if self._last is not None:
            status, retry_after = self._last
            if status in (401, 403):
                return "auth", None
            if status == 429 or status == 408 or status >= 500:
                return str(status), parse_retry_after(retry_after)
            if status == 200:
                return "malformed", None
            return "query", None
        for e in _chain(exc):
            if isinstance(e, requests.Timeout):
                return "timeout", None
            if isinstance(e, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
                return "connection", None
            if isinstance(e, requests.RequestException):
                return "connection", None
            if isinstance(e, ValueError) and type(e).__name__ == "JSONDecodeError":
                return "malformed", None
        return "query", None

    def _attempt(self, what: str, fn: Callable[[], Any]) -> Any:
        policy = self.retry
        for attempt in range(1, policy.max_attempts + 1):
            self._last = None
            self.stats.requests += 1
            try:
                return fn()
            except Exception as exc:
                kind, retry_after = self._classify(exc)
                msg = redact(f"{type(exc).__name__}: {exc}", self._key).strip()
                if kind == "auth":
                    status = self._last[0] if self._last else "?"
                    raise MPAuthError(
                        f"the Materials Project at {self.endpoint} refused the API key (HTTP {status}) "
                        f"while {what}: check MP_API_KEY / CLOUD_MP_API_KEY"
                    ) from None
                if kind == "query":
                    raise MPQueryError(f"{what} failed and retrying will not help: {msg}") from None
                self.stats.faults[kind] += 1
                if attempt == policy.max_attempts:
                    raise MPUnavailableError(
                        f"{what} failed {attempt} times (last: {kind}: {msg[:300]}); "
                        "what was fetched is kept, run again to resume"
                    ) from None
                if retry_after is not None:
                    delay = min(retry_after, policy.max_wait)
                    how = f"Retry-After {retry_after:g} s" + (
                        " (capped)" if retry_after > policy.max_wait else ""
                    )
                else:
                    delay = policy.backoff(attempt, self._rng)
                    how = "backoff"
                log.warning(
                    "%s: %s (attempt %d/%d), waiting %.2f s (%s)",
                    what,
                    kind,
                    attempt,
                    policy.max_attempts,
                    delay,
                    how,
                )
                self.stats.waits.append(delay)
                self.stats.waited_s += delay
                if delay > 0:
                    self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ public
    def connect(self) -> None:
        """Build the ``MPRester`` (it reads ``/heartbeat`` on construction) and take over its retrying."""
        if self._mpr is not None:
            return
        from requests.adapters import HTTPAdapter

        def build() -> Any:
            import warnings

            from mp_api.client import MPRester

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "no API key" chatter; our own checks are stricter
                mpr = MPRester(
                    api_key=self._key,
                    endpoint=self.endpoint,
                    use_document_model=False,
                    mute_progress_bars=True,
                )
                summary = mpr.materials.summary
            return mpr, summary

        self._mpr, self._summary = self._attempt("connecting", build)
        session = self._mpr.session
        no_retry = HTTPAdapter(max_retries=0)  # faults must reach us, not be retried (or hidden) by urllib3
        session.mount("http://", no_retry)
        session.mount("https://", no_retry)
        if self._on_response not in session.hooks["response"]:
            session.hooks["response"].append(self._on_response)
        if self._summary.session is not session:  # pragma: no cover - mp-api shares one session today
            raise RuntimeError(
                "mp-api summary rester does not share the MPRester session; unsupported version"
            )

    def close(self) -> None:
        if self._mpr is not None:
            self._mpr.session.close()
        self._mpr = self._summary = None

    def __enter__(self) -> MPSummaryPager:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_fields(self, fields: list[str] | tuple[str, ...]) -> None:
        key = tuple(fields)
        if key in self._fields_ok:
            return
        available = set(self._summary.available_fields)
        invalid = [f for f in fields if f.split(".", 1)[0] not in available]
        if invalid:
            raise MPQueryError(f"invalid summary fields {invalid}; available: {sorted(available)}")
        self._fields_ok.add(key)

    def heartbeat(self) -> str:
        """The database release the server reports now (``db_version`` of ``/heartbeat``)."""
        self.connect()
        url = urljoin(self.endpoint, "heartbeat")

        def get() -> str:
            response = self._mpr.session.get(url, timeout=self.retry.timeout)
            if response.status_code != 200:
                raise RuntimeError(f"heartbeat answered HTTP {response.status_code}")
            try:
                version = response.json()["db_version"]
            except (ValueError, KeyError, TypeError) as exc:
                raise _Malformed(f"heartbeat answer is not the expected JSON: {exc}") from None
            if not isinstance(version, str) or not version:
                raise _Malformed(f"heartbeat db_version {version!r} is not a non-empty string")
            return version

        return self._attempt("reading /heartbeat", get)

    def page(
        self, criteria: dict[str, Any], fields: list[str] | tuple[str, ...], *, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of summary documents.

        Parameters
        ----------
        criteria
            Filter parameters (see :meth:`MPQuery.criteria`); must not be empty.
        fields
            Summary fields to return.
        skip, limit
            Offset and size of the page in the ``material_id`` order.

        Returns
        -------
        docs, total_doc
            The documents (plain dicts) and the number of documents the query matches.
        """
        if not criteria:
            raise ValueError("a query needs at least one filter (an unfiltered search is routed to S3)")
        if limit < 1 or skip < 0:
            raise ValueError(f"bad page: skip={skip}, limit={limit}")
        self.connect()
        params = dict(criteria)
        params.update({"_skip": skip, "_limit": limit, "_sort_fields": SORT_FIELD})
        what = f"fetching summary page (_skip={skip}, _limit={limit})"

        self._check_fields(fields)
        params["_fields"] = ",".join(fields)

        def get() -> tuple[list[dict[str, Any]], int]:
            result = self._summary._query_resource(
                criteria=dict(params),
                fields=None,  # sent as _fields above, checked once: mp-api rebuilds SummaryDoc's schema per field
                use_document_model=False,
                num_chunks=1,
                chunk_size=limit,
                timeout=self.retry.timeout,
            )
            if not isinstance(result, dict) or not isinstance(result.get("data"), list):
                raise _Malformed("answer has no 'data' list")
            total = (result.get("meta") or {}).get("total_doc")
            if not isinstance(total, int) or total < 0:
                raise _Malformed(f"answer has no valid meta.total_doc ({total!r})")
            docs = result["data"]
            if len(docs) > limit or not all(isinstance(d, dict) for d in docs):
                raise _Malformed(f"answer holds {len(docs)} items for _limit={limit} or non-objects")
            return docs, total

        return self._attempt(what, get)
