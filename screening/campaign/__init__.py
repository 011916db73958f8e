"""Screening campaigns as plain functions: plan chunks, encode, predict, Debye, write, rank (no Prefect here).

The ``screen`` flow (:mod:`flows.screen`) wires the same functions as Prefect tasks on Dask workers;
:func:`~screening.campaign.runner.run_campaign` runs them in one process.
"""

from __future__ import annotations

from screening.campaign.spec import DEFAULT_TEMPERATURES_K, Filter, ScreenParameters, SourceSpec, params_hash

__all__ = ["DEFAULT_TEMPERATURES_K", "Filter", "ScreenParameters", "SourceSpec", "params_hash"]
