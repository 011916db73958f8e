"""Model tests run single-threaded: the machine's cores are shared, and OpenMP threads that spin against
other processes make small CPU models many times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
