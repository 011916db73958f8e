"""The model card is generated from the metrics files, and the committed card matches them."""

from __future__ import annotations

import pytest

from screening.evaluation.metrics_file import read_json, summarize, write_json
from screening.evaluation.model_card import (
    DEFAULT_BASELINES,
    DEFAULT_CHECKPOINT,
    DEFAULT_CLOUD,
    DEFAULT_LABELS_MANIFEST,
    render,
    write_model_card,
)


def _baselines():
    folds = {
        str(k): {
            "n_train": 100,
            "n_test": 20,
            "dummy": {"mae": 1.0 + k / 10},
            "ridge": {"mae": 0.5},
            "gbm": {"mae": 0.25 + k / 100},
        }
        for k in range(2)
    }
    summ = {
        "dummy": {"mae": summarize([1.0, 1.1])},
        "ridge": {"mae": summarize([0.5, 0.5])},
        "gbm": {"mae": summarize([0.25, 0.26])},
    }
    gbm_params = {"library": "lightgbm", "n_estimators_max": 3000, "num_leaves": 63, "val_fraction": 0.1}
    return {
        "folds": [0, 1],
        "gbm_params": gbm_params,
        "tasks": {"mp_e_form": {"unit": "eV/atom", "folds": folds, "summary": summ}},
    }


def test_render_states_the_rules_and_numbers():
    cloud = {
        "protocol": {"folds": [0], "seeds": [0], "note": "One fold only on CPU."},
        "runs": [{"train_seconds": 12.0}],
        "meta": {"machine": "x86_64, 2 CPUs"},
        "summary": {"pretrained": {"mp_e_form": {"mae": summarize([0.123456])}}, "scratch": {}},
        "ablation": {
            "fold": 0,
            "seeds": [0, 1, 2],
            "tasks": {
                "mp_e_form": {
                    "pretrained": [0.2, 0.21, 0.19],
                    "scratch": [0.25, 0.2, 0.3],
                    "summary_pretrained": summarize([0.2, 0.21, 0.19]),
                    "summary_scratch": summarize([0.25, 0.2, 0.3]),
                }
            },
        },
    }
    text = render(_baselines(), cloud, None, None, None)
    assert "not the model evaluated here" in text
    assert "? | - | Fe 2 O 3" in text and "out of their training distribution" in text
    assert "0.123 (1)" in text  # CLOUD, one fold
    assert "1.050 ± 0.0707 (2)" in text  # dummy over two folds
    header = next(line for line in text.splitlines() if line.startswith("| task |"))
    row = next(line for line in text.splitlines() if line.startswith("| `mp_e_form`"))
    assert "gradient boosting" in header and header.count("|") == row.count("|")
    assert "0.255 ± 0.0071 (2)" in row and "lightgbm" in text and "10% hold-out" in text  # column + note
    assert "0.0862" in text and "official" in text  # published CrabNet figure, labelled
    assert "2 of 3 seeds" in text  # ablation wins counted from the JSON
    assert "One fold only on CPU." in text
    empty = render(_baselines(), None, None, None, None)
    assert "not evaluated" in empty


def test_render_multi_fidelity_calibration_family_and_physics():
    metrics = {"mp_e_form": {"mae": 0.11, "coverage_1sigma": 0.68, "coverage_2sigma": 0.93,
                             "spearman_sigma_error": 0.41, "median_sigma": 0.07}}  # fmt: skip
    cloud = {
        "protocol": {"folds": [0], "init_variant": "scratch"},
        "runs": [{"fold": 0, "seed": 0, "variant": "scratch", "metrics": metrics,
                  "metrics_network": {"mp_e_form": {"mae": 0.2}}, "metrics_member": {"mp_e_form": {"mae": 0.12}}}],
        "family": [{"name": "lanthanides", "fold": 0, "steps": 50,
                    "mp_e_form": {"n_family": 30, "n_other": 300, "median_sigma_family": 0.2,
                                  "median_sigma_other": 0.1, "sigma_ratio": 2.0, "mae_family": 0.3, "mae_other": 0.1}}],
    }  # fmt: skip
    config = {"targets": [{"name": "e_form", "structure_via": "e_form_mlip"}, {"name": "e_form_mlip"}]}
    physics = {"model_id": "abc", "summary": {"elements": {"n": 3, "median_abs_e_form": 0.01, "max_abs_e_form": 0.1,
               "pass": True}, "polymorphs": {"clear_pairs": {"n": 10, "correct": 9}, "held_out_clear": {"n": 4,
               "correct": 3}, "ties": 0, "pass": True}}}  # fmt: skip
    text = render(_baselines(), cloud, None, config, None, None, physics)
    assert "e_form(s) = e_form(c) + e_form_mlip(s) - e_form_mlip(c)" in text
    assert "| `mp_e_form` | 0 | 0.110 | 0.680 | 0.930 | 0.410 | 0.0700 |" in text
    assert "| `mp_e_form` | 0 | 0.200 | 0.120 | 0.110 |" in text  # network / member / blend
    assert "| `mp_e_form` | 30 | 0.200 | 0.100 | 2.000 | 0.300 | 0.100 |" in text
    assert "9/10 clear pairs" in text and "3/4" in text
    assert "Not measured for this checkpoint" in text  # no pre-trained run: said, not a table of dashes


def test_write_model_card_needs_the_baselines(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the script"):
        write_model_card(tmp_path, baselines=tmp_path / "none.json", out=tmp_path / "card.md")
    write_json(tmp_path / "b.json", _baselines())
    out = write_model_card(
        tmp_path, baselines=tmp_path / "b.json", cloud=tmp_path / "no.json", out=tmp_path / "c.md"
    )
    assert out.read_text().startswith("# CLOUD default checkpoint")
    assert read_json(tmp_path / "b.json")["folds"] == [0, 1]


def test_committed_card_is_generated_from_committed_metrics(tmp_path):
    card = DEFAULT_CHECKPOINT / "MODEL_CARD.md"
    if not card.is_file():
        pytest.skip("no model card shipped yet")
    out = write_model_card(
        DEFAULT_CHECKPOINT, DEFAULT_BASELINES, DEFAULT_CLOUD, DEFAULT_LABELS_MANIFEST, tmp_path / "c.md"
    )
    assert out.read_text() == card.read_text(), "MODEL_CARD.md differs from the metrics files: regenerate it"
