from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))

import campaign_testkit as kit  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server():
    """One Prefect test server for the whole session (~12 s); yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def flow_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    kit.write_tiny_checkpoint(path)
    return path


@pytest.fixture(scope="session")
def flow_pool(tmp_path_factory) -> Path:
    return kit.write_pool(tmp_path_factory.mktemp("pool") / "pool.parquet", 60)
