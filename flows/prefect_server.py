"""A local Prefect server for command-line runs, shared by the flow and every Dask worker process.

If ``PREFECT_API_URL`` is set, that server is used. Otherwise one server is started for the run (in a
subprocess, on the project's ``PREFECT_HOME`` database, so the runs stay visible in ``cloud ui`` later) and its
URL is exported, so worker processes report to it instead of each starting their own.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_prefect_api(timeout_s: int = 120, on_url: Callable[[str], None] | None = None) -> Iterator[str]:
    """Yield the API URL of the server in use (starting a temporary one if none is configured).

    ``on_url(url)`` is called as soon as the URL is known and exported, before the server has finished
    starting, so slow start-up work (a Dask cluster whose workers need the URL) can overlap with it.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        if on_url is not None:
            on_url(url)
        yield url
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer(port=_free_port())
    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        if on_url is not None:
            on_url(server.api_url)
        server.start(timeout=timeout_s)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        if old is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = old
        server.stop()
