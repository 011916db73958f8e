"""Dask worker preload: import the heavy libraries of the pipeline when a worker starts.

Listed as the workers' ``preload`` by :func:`flows.dask_cluster.local_cluster`, so the imports (Prefect's task
engine, pymatgen, the SCOPE tables, torch) happen while the cluster starts, overlapped with other start-up
work, instead of inside the first chunk's task.
"""

from __future__ import annotations

import prefect.task_engine  # noqa: F401
import pymatgen.core  # noqa: F401
import torch  # noqa: F401

import cloud_core.scope  # noqa: F401
import screening.campaign.stages  # noqa: F401
