"""The universal interatomic potential behind the phonon stage (CHGNet, loaded from its wheel, no network)."""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from pymatgen.core import Structure

DEFAULT_MODEL = "0.3.0"
"""CHGNet checkpoint shipped inside the ``chgnet`` wheel (also ``0.2.0`` and ``r2scan``)."""

_LOAD_LOCK = threading.Lock()


@dataclass
class Potential:
    """A loaded CHGNet model with its provenance.

    Parameters
    ----------
    model
        The ``chgnet.model.CHGNet`` instance.
    name
        Model name as given to ``CHGNet.load`` (e.g. ``"0.3.0"``).
    version
        The model's own version string and the ``chgnet`` package version, e.g. ``"CHGNet 0.3.0 (chgnet 0.4.2)"``.
    """

    model: Any
    name: str
    version: str
    _calculator: Any = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """Short provenance label written next to every computed value."""
        return f"chgnet-{self.name}"

    def calculator(self) -> Any:
        """An ASE calculator over this model (created once)."""
        if self._calculator is None:
            from chgnet.model.dynamics import CHGNetCalculator

            with contextlib.redirect_stdout(io.StringIO()):
                self._calculator = CHGNetCalculator(model=self.model, use_device="cpu")
        return self._calculator

    def forces(self, structures: Sequence[Structure], batch_size: int | None = None) -> list[np.ndarray]:
        """Forces (eV/Angstrom) on every atom of every structure, all structures in one call.

        Parameters
        ----------
        structures
            The structures (e.g. all displaced supercells of one material).
        batch_size
            Structures per forward pass; ``None`` puts them all in one batch.
        """
        if not structures:
            return []
        bs = len(structures) if batch_size is None else max(1, int(batch_size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            preds = self.model.predict_structure(list(structures), task="ef", batch_size=bs)
        if isinstance(preds, dict):  # CHGNet returns a bare dict for a one-element list
            preds = [preds]
        return [np.asarray(p["f"], dtype=float) for p in preds]


def set_torch_threads(n: int | None) -> None:
    """Limit torch's intra-op threads (``None`` leaves torch's default)."""
    if n is None:
        return
    import torch

    if n < 1:
        raise ValueError(f"torch threads must be >= 1, got {n}")
    torch.set_num_threads(int(n))


@lru_cache(maxsize=4)
def load_potential(model_name: str = DEFAULT_MODEL) -> Potential:
    """Load a CHGNet model from the weights shipped in its wheel (once per process).

    Parameters
    ----------
    model_name
        ``"0.3.0"`` (default), ``"0.2.0"`` or ``"r2scan"``.

    Raises
    ------
    ValueError
        If the model name is not one CHGNet ships.
    """
    import chgnet
    from chgnet.model import CHGNet

    with _LOAD_LOCK, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = CHGNet.load(model_name=model_name, use_device="cpu", verbose=False)
        except Exception as exc:  # chgnet raises a bare ValueError/FileNotFoundError for an unknown name
            raise ValueError(f"cannot load CHGNet model {model_name!r}: {exc}") from exc
    model.eval()
    own = getattr(model, "version", None) or model_name
    return Potential(model=model, name=model_name, version=f"CHGNet {own} (chgnet {chgnet.__version__})")
