"""Argument types of the ``cloud`` command: a bad value is refused by argparse, before any work starts.

Used as ``add_argument("--chunk-size", type=positive_int)``; argparse then prints one line naming the option,
``cloud screen: error: argument --chunk-size: must be an integer >= 1, got '0'``, and exits with code 2
(:class:`OneLineParser` keeps it to that one line, without the usage block).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (``cloud COMMAND: error: ...``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def int_at_least(lo: int) -> Callable[[str], int]:
    """An integer ``>= lo``."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {text!r}")
        return value

    parse.__name__ = f"int_at_least_{lo}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def port(text: str) -> int:
    """A TCP port, 1..65535."""
    value = _int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number within 1..65535, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (no nan, no inf)."""
    value = _float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def finite_positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def finite_non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def float_in(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[str], float]:
    """A number within ``[lo, hi]`` (an end left out with ``lo_open`` / ``hi_open``)."""
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"

    def parse(text: str) -> float:
        value = _float(text)
        ok = math.isfinite(value) and (value > lo if lo_open else value >= lo)
        ok = ok and (value < hi if hi_open else value <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be within {left}{lo:g}, {hi:g}{right}, got {text!r}")
        return value

    parse.__name__ = f"float_in_{lo:g}_{hi:g}"
    return parse


def float_list(item: Callable[[str], float]) -> Callable[[str], list[float]]:
    """Comma-separated numbers, each checked by ``item`` (e.g. ``finite_positive_float``)."""

    def parse(text: str) -> list[float]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError("expected comma-separated numbers, got nothing")
        values = []
        for p in parts:
            try:
                values.append(item(p))
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"{exc} (in {text!r})") from None
        return values

    parse.__name__ = f"list_of_{getattr(item, '__name__', 'float')}"
    return parse


finite_positive_floats = float_list(finite_positive_float)
finite_non_negative_floats = float_list(finite_non_negative_float)
symprec = float_in(0.0, 1.0, lo_open=True)


def set_types(parser: argparse.ArgumentParser, **types: Callable[[str], object]) -> None:
    """Give existing arguments of ``parser`` (by ``dest``) stricter types, e.g. for argument sets defined in
    ``cloud_core`` (which cannot import this module)."""
    actions = {a.dest: a for a in parser._actions}
    for dest, kind in types.items():
        if dest not in actions:
            raise KeyError(f"parser {parser.prog!r} has no argument {dest!r}")
        actions[dest].type = kind
