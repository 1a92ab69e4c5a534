"""The `spikesci` command: a thin layer that parses, calls the API, and prints or writes.

Each command lives in its own module with a `register(commands, bench)` function that adds its
sub-parsers (`bench` is the sub-parser group of `spikesci bench ...`) and sets `func` on them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from spikesci.errors import SpikeSciError

# Command modules, in the order their commands appear in --help. A module that is not there is skipped.
COMMAND_MODULES = (
    "spikesci.cli.files",  # info, simulate, reconstruct
    "spikesci.cli.demo",
    "spikesci.cli.archive",  # pack, unpack
    "spikesci.cli.learned",  # train
    "spikesci.cli.codec",  # encode, decode, bench codec
    "spikesci.cli.tasks",  # classify
    "spikesci.cli.benches",  # bench ...
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikesci",
        description="Spike Coding for Intelligence: compress spike-camera streams for machines.",
    )
    from spikesci import __version__

    parser.add_argument("--version", action="version", version=f"spikesci {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench_parser = commands.add_parser("bench", help="benchmarks that print JSON and tables")
    bench = bench_parser.add_subparsers(dest="bench", metavar="BENCH")
    bench_parser.set_defaults(func=lambda args: bench_parser.print_help() or 2)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(commands, bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors become one line on stderr and a non-zero exit (SPIKESCI_DEBUG=1: traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
        print(f"spikesci: {kind}: {exc}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
