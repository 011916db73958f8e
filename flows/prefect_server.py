"""A local Prefect server for command-line runs, shared by the flow and every Dask worker process.

If ``PREFECT_API_URL`` is set, that server is used. Otherwise one server is started for the run (in a
subprocess, on the project's ``PREFECT_HOME`` database, so the runs stay visible in ``cloud ui`` later) and its
URL is exported, so worker processes report to it instead of each starting their own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def local_prefect_api(timeout_s: int = 90) -> Iterator[str]:
    """Yield the API URL of the server in use (starting a temporary one if none is configured)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        yield url
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=timeout_s)
    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        if old is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = old
        server.stop()
