from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import campaign_testkit as kit  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    kit.write_tiny_checkpoint(path)
    return path


@pytest.fixture(scope="session")
def small_pool(tmp_path_factory) -> Path:
    return kit.write_pool(tmp_path_factory.mktemp("pool") / "pool.parquet", 60)
