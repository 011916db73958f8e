"""The shipped default checkpoint loads with no network and reproduces the sample predictions of its metrics file."""

from __future__ import annotations

import socket

import numpy as np

from cloud_core.model import Predictor, checkpoint_id
from screening.evaluation.metrics_file import read_json
from screening.evaluation.model_card import DEFAULT_CHECKPOINT

TASKS = {"e_form", "band_gap", "log10_k_vrh", "log10_g_vrh"}


def test_shipped_model_offline_matches_metrics_file(monkeypatch):
    metrics = read_json(DEFAULT_CHECKPOINT / "metrics.json")

    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    pred = Predictor.from_checkpoint(None, device="cpu", threads=1)
    assert pred.model_id == metrics["model_id"] == checkpoint_id(DEFAULT_CHECKPOINT)
    assert TASKS <= set(pred.targets) and "theta_K" in pred.targets
    sample = metrics["sample_predictions"]
    table = pred.predict(sample["scope"])
    for column, expected in sample["predictions"].items():
        np.testing.assert_allclose(table.column(column).to_numpy(), expected, rtol=sample["rtol"], atol=1e-6)
    assert (table.column("theta_K").to_numpy() > 0).all()
    assert sum(f.stat().st_size for f in DEFAULT_CHECKPOINT.iterdir()) < 50e6
    assert (DEFAULT_CHECKPOINT / "MODEL_CARD.md").is_file()
