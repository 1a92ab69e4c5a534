"""The `spikesci` command: a thin layer that parses, calls the API, and prints or writes.

Each command lives in its own module with a `register(commands, bench)` function that adds its
sub-parsers (`bench` is the sub-parser group of `spikesci bench ...`) and sets `func` on them.

Start-up is kept short (issue 16: `--help` and argument errors well under half a second) by importing only
the module of the command asked for: the top-level help is built from the one-line table below, which a test
keeps equal to the modules' own help strings. No module may import torch (or av, matplotlib, skimage) while
registering its parser; tests/test_startup.py checks it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from spikesci.errors import SpikeSciError

# command -> (module that registers it, one-line help), in the order of --help. Help None: the module is
# imported for `spikesci --help` and its own help shown (commands kept by other code, light to import).
COMMANDS: dict[str, tuple[str, str | None]] = {
    "info": ("spikesci.cli.info", "frames, size and firing rate of a spike file (.dat/.npz/.spkz/.sci)"),
    "simulate": ("spikesci.cli.simulate", "spikes from an image, a folder of frames or a video"),
    "reconstruct": ("spikesci.cli.reconstruct", "images from spikes with TFP, TFI or the learned net"),
    "score": ("spikesci.cli.score", "PSNR and SSIM of a picture against a ground-truth picture"),
    "demo": ("spikesci.cli.demo",
             "simulate, write, reconstruct and code a spike clip; print a table, write a PNG"),
    "pack": ("spikesci.cli.archive", None),  # None: the module is light, its own help is used
    "unpack": ("spikesci.cli.archive", None),
    "train": ("spikesci.cli.learned",
              "train the learned models (stage fem, fam, all, codec, codec-fam, "
              "codec-task, perception3, reference, fam-x265, codec3)"),
    "encode": ("spikesci.cli.codec", "spikes -> .sci learned feature stream (lossy, for machines)"),
    "decode": ("spikesci.cli.codec",
               ".sci -> images (or other task outputs) straight from the decoded features"),
    "classify": ("spikesci.cli.tasks", "classify a spike clip (label and class probabilities)"),
    "bench": ("", "benchmarks that print JSON and tables"),
}
# modules that add `spikesci bench ...` sub-commands
BENCH_MODULES = ("spikesci.cli.archive", "spikesci.cli.codec", "spikesci.cli.tasks", "spikesci.cli.benches")
# kept for callers of the old name: every command module, in --help order
COMMAND_MODULES = tuple(dict.fromkeys(m for m, _ in COMMANDS.values() if m)) + ("spikesci.cli.benches",)

# a value that starts with a minus but is no option: '-5:3', '-5:', '-10:-2' (frame ranges)
_NEGATIVE_RANGE = re.compile(r"^-\d+:-?\d*$")


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (usage is one `--help` away), like every other spikesci error."""

    def error(self, message: str):
        message = " ".join(message.split())
        self.exit(2, f"spikesci: error: {message} (see '{self.prog} --help')\n")


class _Skip:
    """Stands in for the sub-parser group of commands that were not asked for: takes their parsers, keeps
    none (but their one-line help), so a module may register several commands although one is used."""

    def __init__(self):
        self.helps: dict[str, str] = {}

    def add_parser(self, name, **kwargs) -> argparse.ArgumentParser:
        self.helps[name] = kwargs.get("help", "")
        return argparse.ArgumentParser(prog=name, add_help=False)


def _own_helps(module: str) -> dict[str, str]:
    """The one-line helps a (light) command module gives its commands, without keeping its parsers."""
    mod = _import(module)
    skip = _Skip()
    if mod is not None:
        mod.register(skip, _Skip())
    return skip.helps


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # a command module not installed in this build: its commands are left out
            return None
        raise


def _wanted(argv: list[str]) -> str | None:
    """The command named on the line (the first word that is one), or None."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None, everything: bool = False) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the named command's module is imported (the rest get a placeholder
    with their one-line help), with `everything` every module registers its commands in full."""
    from spikesci import __version__

    parser = Parser(
        prog="spikesci",
        description="Spike Coding for Intelligence: compress spike-camera streams for machines.",
    )
    parser.add_argument("--version", action="version", version=f"spikesci {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if everything else _wanted(list(sys.argv[1:] if argv is None else argv))
    modules = {m for m, _ in COMMANDS.values() if m} | {"spikesci.cli.benches"} if everything else set()
    if wanted == "bench":
        modules |= set(BENCH_MODULES)
    elif wanted:
        modules.add(COMMANDS[wanted][0])
    loaded = {name: mod for name in sorted(modules) if (mod := _import(name)) is not None}
    bench = None
    for name, (module, text) in COMMANDS.items():  # in --help order; a loaded module adds its own below
        if name == "bench":
            bench_parser = commands.add_parser("bench", help=text)
            bench = bench_parser.add_subparsers(dest="bench", metavar="BENCH")
            bench_parser.set_defaults(func=lambda args, p=bench_parser: p.print_help() or 2)
        elif module not in loaded:  # a placeholder: its help is shown only when no command is named
            if text is None:
                text = _own_helps(module).get(name, "") if wanted is None else ""
            commands.add_parser(name, help=text)
    bench_group = bench if wanted == "bench" or everything else _Skip()
    for name in sorted(loaded, key=lambda n: COMMAND_MODULES.index(n) if n in COMMAND_MODULES else 99):
        group = commands if (wanted != "bench" or everything) else _Skip()
        loaded[name].register(group, bench_group)
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--frames -5:3` -> `--frames=-5:3`: argparse takes a word that starts with '-' for an option, so the
    range form users type would fail with 'expected one argument'."""
    out: list[str] = []
    for word in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_RANGE.match(word):
            out[-1] = f"{out[-1]}={word}"
        else:
            out.append(word)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors become one line on stderr and a non-zero exit (SPIKESCI_DEBUG=1: traceback)."""
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version exit 0 as argparse does; an argument error returns 2
        if exc.code in (0, None):
            raise
        return int(exc.code) if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("spikesci: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error worth a message
        sys.stderr.close()
        return 141
    except Exception as exc:  # noqa: BLE001 - the CLI's contract is one line, never a traceback
        if os.environ.get("SPIKESCI_DEBUG"):
            raise
        kind = "error" if isinstance(exc, SpikeSciError) else f"error ({type(exc).__name__})"
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"spikesci: {kind}: {message}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
