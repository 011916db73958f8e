"""Seconds to start a temporary Prefect server alone (no Dask cluster beside it) and to stop it."""

from __future__ import annotations

import os
import time


def main() -> None:
    t0 = time.perf_counter()
    from flows.prefect_server import TemporaryServer

    t1 = time.perf_counter()
    server = TemporaryServer()
    server.start()
    t2 = time.perf_counter()
    server.wait_ready()
    t3 = time.perf_counter()
    server.stop()
    t4 = time.perf_counter()
    print(
        f"import {t1 - t0:.2f}s, launch {t2 - t1:.2f}s, ready after {t3 - t2:.2f}s, stop {t4 - t3:.2f}s; "
        f"PREFECT_HOME={os.environ.get('PREFECT_HOME')}"
    )


if __name__ == "__main__":
    main()
