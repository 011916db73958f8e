"""Dask clusters for the ``screen`` flow: a local one by default, or an existing scheduler by address.

The local cluster has CPU workers (one thread each: encoding is pure Python, and torch inside a worker then
uses one thread, so workers never oversubscribe the cores) and, when CUDA is visible, one extra GPU worker
that advertises the Dask resource ``GPU`` so the predict step lands there. Worker processes get the Prefect
API URL in their environment, so their task runs report to the flow's server instead of starting their own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from distributed import Nanny, Scheduler, SpecCluster


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - torch without a working CUDA runtime
        return False


def worker_env() -> dict[str, str]:
    """Environment for worker processes: Prefect's API URL and home (so they join the flow's server)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    env = {"PREFECT_HOME": str(PREFECT_HOME.value()), "DASK_LOGGING__DISTRIBUTED": "error"}
    url = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if url:
        env["PREFECT_API_URL"] = url
    for key in ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK", "PREFECT_LOGGING_LEVEL", "CLOUD_CONFIG"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def local_cluster(
    n_workers: int | None = None,
    *,
    processes: bool = True,
    gpu_workers: int | None = None,
    gpu_resource: str = "GPU",
    threads_per_worker: int = 1,
    **_: Any,
) -> SpecCluster:
    """A local cluster: ``n_workers`` CPU workers (default: the cores) + GPU workers.

    ``gpu_workers=None`` adds one when CUDA is visible. ``processes=False`` runs workers as threads of this
    process (what a flow without a Prefect server must do). ``threads_per_worker`` > 1 runs that many tasks at
    once in each worker (torch still uses one thread per task: Dask sets ``OMP_NUM_THREADS=1``).
    """
    n = n_workers or len(os.sched_getaffinity(0))
    gpus = (1 if cuda_available() else 0) if gpu_workers is None else gpu_workers
    common: dict[str, Any] = {"nthreads": threads_per_worker, "host": "127.0.0.1"}
    if processes:
        cls: Any = Nanny
        common["env"] = worker_env()
        common["silence_logs"] = logging.ERROR
        common["preload"] = ["flows.worker_preload"]
    else:
        from distributed import Worker

        cls = Worker
    workers = {f"cpu-{i}": {"cls": cls, "options": dict(common)} for i in range(n)}
    for i in range(gpus):
        opts = dict(common, resources={gpu_resource: 1})
        if processes:
            opts["env"] = dict(common["env"], CUDA_VISIBLE_DEVICES=str(i))
        workers[f"gpu-{i}"] = {"cls": cls, "options": opts}
    scheduler = {"cls": Scheduler, "options": {"dashboard": False, "host": "127.0.0.1"}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR, name="cloud-local")
