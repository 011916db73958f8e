"""The one settings object of the system.

Values come from (highest first) keyword arguments, environment variables with prefix ``CLOUD_``, an optional
YAML file named by ``CLOUD_CONFIG``, and the defaults below. The Materials Project key is a ``SecretStr`` read from
``CLOUD_MP_API_KEY`` or ``MP_API_KEY``; it is never logged and never written to results.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by ``CLOUD_CONFIG`` (if any)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("CLOUD_CONFIG")
        if not path:
            return {}
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"CLOUD_CONFIG={path!r} does not name a file")
        data = yaml.safe_load(p.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"CLOUD_CONFIG file {path!r} must hold a mapping, got {type(data).__name__}")
        return data


class Settings(BaseSettings):
    """System-wide settings (env prefix ``CLOUD_``)."""

    model_config = SettingsConfigDict(env_prefix="CLOUD_", extra="ignore")

    # --- symmetry / SCOPE
    symprec: float = Field(0.01, gt=0, description="Symmetry tolerance in Angstrom for SCOPE encoding.")

    # --- Materials Project
    mp_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("CLOUD_MP_API_KEY", "MP_API_KEY", "mp_api_key")
    )
    mp_endpoint: str = Field("https://api.materialsproject.org/", description="Materials Project API endpoint.")

    # --- where things live
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Bundled and built data sets.")
    results_dir: Path = Field(PROJECT_ROOT / "results", description="Campaign results (Parquet parts + DuckDB).")
    cache_dir: Path = Field(PROJECT_ROOT / ".cache", description="Derived data rebuilt on demand (hull facets).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls), file_secret_settings)


def get_settings(**overrides: Any) -> Settings:
    """Build the settings (fresh each call, so tests can change the environment)."""
    return Settings(**overrides)
