"""``python -m cloud_core.composition``: copy crabnet's Magpie table into the package (see ``properties``)."""

from __future__ import annotations

from cloud_core.composition.properties import main

if __name__ == "__main__":
    raise SystemExit(main())
