"""PROVENANCE.md files written by the builders (never by hand): source, license and row counts per file.

Each builder records one JSON sidecar per output file (``<name>.provenance.json``); :func:`write_provenance_md`
renders every sidecar in a folder into that folder's ``PROVENANCE.md``, so rebuilding one file keeps the others'
entries.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

SIDECAR_SUFFIX = ".provenance.json"


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (``"absent"`` if not installed)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def sidecar_path(data_file: str | Path) -> Path:
    p = Path(data_file)
    return p.with_name(p.name.split(".")[0] + SIDECAR_SUFFIX)


def write_sidecar(data_file: str | Path, entry: dict[str, Any]) -> Path:
    """Write the provenance sidecar of ``data_file`` (atomically). ``entry`` needs ``source``, ``license``,
    ``rows``; anything else JSON-able is kept."""
    for key in ("source", "license", "rows"):
        if key not in entry:
            raise ValueError(f"provenance entry for {data_file} lacks {key!r}")
    p = Path(data_file)
    record = {
        "file": p.name,
        "bytes": p.stat().st_size if p.exists() else None,
        "built_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        **entry,
    }
    out = sidecar_path(p)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out)
    return out


def read_sidecars(folder: str | Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob(f"*{SIDECAR_SUFFIX}"))]


def write_provenance_md(folder: str | Path, title: str, intro: str) -> Path:
    """Render every sidecar in ``folder`` into ``folder/PROVENANCE.md``."""
    folder = Path(folder)
    entries = read_sidecars(folder)
    lines = [f"# {title}", "", intro.strip(), "", "Written by the builder; do not edit by hand.", ""]
    lines += ["| file | rows | bytes | source | license |", "|---|---:|---:|---|---|"]
    for e in entries:
        lines.append(
            f"| `{e['file']}` | {e['rows']:,} | {e.get('bytes') or 0:,} | {e['source']} | {e['license']} |"
        )
    lines.append("")
    for e in entries:
        lines.append(f"## `{e['file']}`")
        lines.append("")
        for key in sorted(e):
            if key in ("file", "source", "license", "rows", "bytes"):
                continue
            value = e[key]
            if isinstance(value, dict | list):
                value = json.dumps(value, sort_keys=True)
            lines.append(f"- {key}: {value}")
        lines.append("")
    out = folder / "PROVENANCE.md"
    out.write_text("\n".join(lines))
    return out
