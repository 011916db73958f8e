"""A local Prefect server for command-line runs, shared by the flow and every Dask worker process.

If ``PREFECT_API_URL`` is set, that server is used. Otherwise one server is started for the run (in a
subprocess, on the project's ``PREFECT_HOME`` database, so the runs stay visible in ``cloud ui`` later) and its
URL is exported, so worker processes report to it instead of each starting their own.

Start and exit in seconds, not minutes:

- the server is the same uvicorn process Prefect's own ``SubprocessASGIServer`` runs, started with a plain
  ``subprocess.Popen`` so this process never imports ``prefect.server`` (FastAPI, SQLAlchemy: seconds of
  imports that only the server needs); its URL is known at once, so other start-up work overlaps with it;
- before the server stops, ``before_stop`` runs (the CLI closes its Dask cluster there, while worker processes
  can still deliver their last logs), then this process's log and event queues are drained
  (:func:`stop_shipping_to_api`) and shipping is switched off: a queue left to drain towards a stopped server
  retries for 20-80 s at exit.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TemporaryServer:
    """A Prefect API server in a subprocess (the command Prefect's ``SubprocessASGIServer`` runs)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Launch the process (returns at once; :meth:`wait_ready` waits for it to answer)."""
        import prefect
        from prefect.settings import get_current_settings

        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=env,
        )  # fmt: skip

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Poll ``/health`` until the server answers.

        Raises
        ------
        RuntimeError
            When the process exits or does not answer within ``timeout_s``.
        """
        import httpx

        assert self.process is not None, "start() first"
        deadline = time.monotonic() + timeout_s
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"the temporary Prefect server exited with code {self.process.returncode} during start-up"
                    )
                try:
                    if client.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"the temporary Prefect server did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def stop_shipping_to_api(timeout_s: float = 5.0) -> None:
    """Deliver this process's queued logs and events to the API now, then stop sending any more."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=timeout_s)
    os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"


@contextlib.contextmanager
def local_prefect_api(
    timeout_s: int = 120,
    on_url: Callable[[str], None] | None = None,
    before_stop: Callable[[], None] | None = None,
) -> Iterator[str]:
    """Yield the API URL of the server in use (starting a temporary one if none is configured).

    ``on_url(url)`` is called as soon as the URL is known and exported, before the server has finished
    starting, so slow start-up work (a Dask cluster whose workers need the URL) can overlap with it.
    ``before_stop()`` runs before a temporary server stops (and before log shipping is switched off).
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        if on_url is not None:
            on_url(url)
        try:
            yield url
        finally:
            if before_stop is not None:
                before_stop()
        return
    server = TemporaryServer()
    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        server.start()
        if on_url is not None:
            on_url(server.api_url)
        server.wait_ready(timeout_s)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server.api_url
            finally:
                if before_stop is not None:
                    before_stop()
                stop_shipping_to_api()
                with temporary_settings(updates={PREFECT_LOGGING_TO_API_ENABLED: False}):
                    server.stop()
    finally:
        if old is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = old
        server.stop()
