"""Seconds to start the campaign's local Dask cluster alone (process workers, preloaded) and to close it."""

from __future__ import annotations

import time


def main() -> None:
    t0 = time.perf_counter()
    from flows.dask_cluster import local_cluster

    t1 = time.perf_counter()
    cluster = local_cluster(None, processes=True)
    t2 = time.perf_counter()
    n = len(cluster.workers)
    cluster.close(timeout=30)
    print(
        f"import {t1 - t0:.2f}s, cluster of {n} workers (preloaded) ready after {t2 - t1:.2f}s, "
        f"close {time.perf_counter() - t2:.2f}s"
    )


if __name__ == "__main__":
    main()
