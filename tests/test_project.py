"""The project's own wiring: settings and the CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flows.cli import build_parser
from screening.settings import get_settings


def test_settings_env_and_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("MP_API_KEY", "x" * 32)
    monkeypatch.setenv("CLOUD_SYMPREC", "0.05")
    s = get_settings()
    assert s.symprec == 0.05
    assert s.mp_api_key.get_secret_value() == "x" * 32
    assert "x" * 32 not in repr(s)


def test_settings_yaml(monkeypatch, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("symprec: 0.1\n")
    monkeypatch.setenv("CLOUD_CONFIG", str(cfg))
    monkeypatch.delenv("CLOUD_SYMPREC", raising=False)
    assert get_settings().symprec == 0.1
    monkeypatch.setenv("CLOUD_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        get_settings()


def test_bad_setting_is_clear(monkeypatch):
    monkeypatch.setenv("CLOUD_SYMPREC", "-1")
    with pytest.raises(ValueError, match="symprec"):
        get_settings()


def test_cli_help_runs():
    parser = build_parser()
    assert parser.prog == "cloud"
    out = subprocess.run([sys.executable, "-m", "flows.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "cloud" in out.stdout
