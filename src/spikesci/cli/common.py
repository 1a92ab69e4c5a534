"""Arguments and checks shared by commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spikesci.errors import SpikeSciError
from spikesci.io.dat import DEFAULT_HEIGHT, DEFAULT_WIDTH


def add_size_args(parser: argparse.ArgumentParser) -> None:
    """--height/--width for `.dat` input (a `.npz` carries its own size)."""
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help="frame height of .dat input (250)")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="frame width of .dat input (400)")


def add_force_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")


def check_output(path: str | Path, force: bool, inputs: tuple = ()) -> Path:
    """Refuse to overwrite an existing output (or an input) unless --force."""
    path = Path(path)
    for src in inputs:
        if Path(src).exists() and path.exists() and path.resolve() == Path(src).resolve():
            raise SpikeSciError(f"{path}: output would overwrite the input")
    if path.exists() and not force:
        raise SpikeSciError(f"{path}: already exists (use --force to overwrite)")
    if not path.parent.exists():
        raise SpikeSciError(f"{path.parent}: output folder does not exist")
    return path


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=float)
    sys.stdout.write("\n")


def parse_range(text: str | None) -> tuple[int, int | None] | None:
    """'A:B' -> (A, B) with B None for 'A:' (to the end); None passes through."""
    if text is None:
        return None
    try:
        a, b = text.split(":")
        return int(a) if a else 0, int(b) if b else None
    except ValueError:
        raise SpikeSciError(f"bad frame range '{text}' (expected A:B)") from None
