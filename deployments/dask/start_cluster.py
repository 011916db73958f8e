"""Start a Dask cluster for screening campaigns and print its scheduler address.

Kinds:

- ``local``: the same local cluster the flow creates by default (CPU workers + one GPU worker if CUDA is seen).
- ``slurm``: CPU and GPU jobs from ``slurm_jobqueue.yaml`` via dask-jobqueue (``pip install dask-jobqueue``).
- ``cuda``: one dask-cuda worker per local GPU, each advertising ``GPU=1`` (``pip install dask-cuda``), next to
  local CPU workers.

Pass the printed address to a campaign (``cloud screen --dask-address tcp://...`` or the ``dask_address``
field of the UI form). The cluster lives until this script is stopped (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def _slurm(jobs: int, gpu_jobs: int):
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        sys.exit("dask-jobqueue is not installed: pip install dask-jobqueue")
    spec = yaml.safe_load((HERE / "slurm_jobqueue.yaml").read_text())
    cpu = SLURMCluster(**{k: v for k, v in spec["cpu"].items() if v is not None})
    cpu.scale(jobs=jobs)
    clusters = [cpu]
    if gpu_jobs:
        # GPU jobs join the CPU cluster's scheduler so one address serves both
        gpu = SLURMCluster(**{k: v for k, v in spec["gpu"].items() if v is not None}, scheduler_options={})
        gpu_script = gpu.job_script().replace(gpu.scheduler_address, cpu.scheduler_address)
        print("submit GPU jobs with this script (joins the CPU scheduler):\n" + gpu_script)
        gpu.close()
    return cpu.scheduler_address, clusters


def _cuda(cpu_workers: int):
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        sys.exit("dask-cuda is not installed: pip install dask-cuda")
    from distributed import Client, Nanny

    gpu = LocalCUDACluster(resources={"GPU": 1}, threads_per_worker=1)
    client = Client(gpu)
    for _ in range(cpu_workers):  # CPU workers for SCOPE encoding, on the same scheduler
        Nanny(gpu.scheduler_address, nthreads=1)
    client.close()
    return gpu.scheduler_address, [gpu]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["local", "slurm", "cuda"])
    p.add_argument("--workers", type=int, default=None, help="local/cuda: CPU workers")
    p.add_argument("--jobs", type=int, default=4, help="slurm: CPU jobs")
    p.add_argument("--gpu-jobs", type=int, default=1, help="slurm: GPU jobs")
    args = p.parse_args(argv)
    if args.kind == "local":
        sys.path.insert(0, str(HERE.parents[1]))
        from flows.dask_cluster import local_cluster

        cluster = local_cluster(args.workers)
        address, keep = cluster.scheduler_address, [cluster]
    elif args.kind == "slurm":
        address, keep = _slurm(args.jobs, args.gpu_jobs)
    else:
        address, keep = _cuda(args.workers or 0)
    print(f"scheduler: {address}\nuse: cloud screen --dask-address {address}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        for c in keep:
            c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
