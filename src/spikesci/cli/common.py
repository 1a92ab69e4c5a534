"""Arguments and checks shared by commands: sizes, --force, outputs that never clobber inputs or each other,
white rates, frame ranges, JSON and PNG output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from spikesci.errors import SpikeSciError

# spikesci.io.dat's defaults, repeated so that parsing needs no numpy (tests/test_startup.py keeps them equal)
DEFAULT_HEIGHT = 250
DEFAULT_WIDTH = 400
DEFAULT_WHITE_RATE = 0.6  # spikesci.simulate.camera's convention, repeated for the same reason

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def add_size_args(parser: argparse.ArgumentParser) -> None:
    """--height/--width for `.dat` input (a `.npz` carries its own size)."""
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help="frame height of .dat input (250)")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="frame width of .dat input (400)")


def add_force_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")


def check_size(height: int, width: int) -> None:
    """Refuse a non-positive --height/--width before any file is looked at."""
    if height < 1 or width < 1:
        raise SpikeSciError(f"--height and --width must be positive, got {height}x{width}")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: resolved through links, and by inode when both exist (hard links)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_suffix(path: str | Path, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse a suffix the command does not handle ('simulate writes .dat or .npz, not .txt'); `what` is
    'COMMAND writes' or 'COMMAND reads'; '' in `suffixes` stands for a folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in suffixes or (path.is_dir() and "" in suffixes):
        return
    names = [s for s in suffixes if s] + (["a folder (no suffix)"] if "" in suffixes else [])
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    raise SpikeSciError(f"{path}: {what} {listed}, not '{suffix or path.name}'")


def check_output(path: str | Path, force: bool, inputs: tuple = (), others: tuple = ()) -> Path:
    """Refuse an output that is an input or another output of the same command (data loss, issue 16), and
    refuse to overwrite an existing one unless --force."""
    path = Path(path)
    for src in inputs:
        if src is not None and src != "" and same_file(path, src):
            raise SpikeSciError(f"{path}: output would overwrite the input {src}")
    for other in others:
        if other is not None and other != "" and same_file(path, other):
            raise SpikeSciError(f"{path}: the same file is given for two outputs ({other})")
    if path.is_dir():
        raise SpikeSciError(f"{path}: is a folder, expected a file name")
    if path.exists() and not force:
        raise SpikeSciError(f"{path}: already exists (use --force to overwrite)")
    if not path.parent.exists():
        raise SpikeSciError(f"{path.parent}: output folder does not exist")
    return path


def check_folder(path: str | Path, force: bool, inputs: tuple = ()) -> Path:
    """An output folder: not a file, not an input, empty unless --force, its parent present."""
    path = Path(path)
    for src in inputs:
        if src is not None and src != "" and same_file(path, src):
            raise SpikeSciError(f"{path}: output would overwrite the input {src}")
    if path.exists() and not path.is_dir():
        raise SpikeSciError(f"{path}: exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not force:
        raise SpikeSciError(f"{path}: folder is not empty (use --force to write into it)")
    if not path.parent.exists():
        raise SpikeSciError(f"{path.parent}: output folder does not exist")
    return path


def check_input(path: str | Path) -> Path:
    """An input file that exists and is a file (a folder or a missing name is one clear line)."""
    path = Path(path)
    if not path.exists():
        raise SpikeSciError(f"{path}: no such file")
    if not path.is_file():
        raise SpikeSciError(f"{path}: is not a file")
    return path


def white_rate_arg(text: str) -> float | str:
    """argparse type of --white-rate: 'auto' or spikes per frame at full white in (0, 1]."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither 'auto' nor a number") from None
    if not 0 < value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"white rate {text} is outside (0, 1] spikes per frame (or 'auto')")
    return value


def rate_arg(text: str) -> float:
    """argparse type of a fixed white rate in (0, 1] (--white-rate of `info`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"white rate {text} is outside (0, 1] spikes per frame")
    return value


def check_frame(frame: int, total: int, what: str = "--frame") -> int:
    """A frame index inside a clip of `total` frames; the message gives the valid range."""
    if not 0 <= frame < total:
        raise SpikeSciError(f"{what} {frame} is outside the clip (valid: 0..{total - 1})")
    return frame


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=float)
    sys.stdout.write("\n")


def show_progress(json_mode: bool) -> bool:
    """Progress bars go to stderr: always in text mode, and with --json when stderr is a terminal (a person
    watching), never into a pipe or file that a program reads."""
    return not json_mode or sys.stderr.isatty()


def parse_range(text: str | None) -> tuple[int, int | None] | None:
    """'A:B' -> (A, B) with B None for 'A:' (to the end); None passes through."""
    if text is None:
        return None
    try:
        a, b = text.split(":")
        return int(a) if a else 0, int(b) if b else None
    except ValueError:
        raise SpikeSciError(f"bad frame range '{text}' (expected A:B)") from None


def save_png(path: str | Path, image) -> None:
    """Luminance in [0, 1] as an 8-bit grey PNG."""
    import numpy as np
    from PIL import Image

    Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="L").save(path)
