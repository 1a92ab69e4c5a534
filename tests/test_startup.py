"""Start-up (issue 16): `--help`, argument errors and `info` must not import torch (or av, matplotlib,
skimage, scipy), which cost ~3 s before; measured by what is imported, never by the clock."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from spikesci.cli import COMMANDS, build_parser
from spikesci.io import write_dat, write_npz

HEAVY = ("torch", "av", "matplotlib", "skimage", "scipy", "sklearn")


def _loaded_after(code: str) -> list[str]:
    """Heavy modules in sys.modules after running `code` in a fresh interpreter."""
    probe = code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_parsing_any_command_imports_nothing_heavy():
    commands = [c for c in COMMANDS if c != "train"]  # train's parser belongs to the training code
    code = ("from spikesci.cli import build_parser\nimport spikesci\n"
            f"for c in {commands!r} + [None]:\n    build_parser([c] if c else [])\n")
    probe = code + "import sys\nprint('numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr  # parsing needs not even numpy
    code += ("import spikesci.cli.common, spikesci.sci_header, spikesci.io, spikesci.metrics\n"
             "import spikesci.progress, spikesci.reconstruct.exposure, spikesci.simulate.camera\n"
             "import spikesci.lossless")
    assert _loaded_after(code) == []


def test_help_and_argument_errors_import_nothing_heavy():
    code = ("from spikesci.cli import main\n"
            "for argv in (['--help'], ['decode', '--help'], ['reconstruct'],"
            " ['info', 'x', '--white-rate', '0'], ['encode', 'a.dat', '-o', 'b.sci', '--quality', '9'],"
            " ['nosuch']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass")
    assert _loaded_after(code) == []


def test_info_never_imports_torch(tmp_path):
    spikes = (np.random.default_rng(0).random((30, 16, 24)) < 0.2).astype(np.uint8)
    write_dat(tmp_path / "a.dat", spikes)
    write_npz(tmp_path / "a.npz", spikes)
    code = (f"from spikesci.cli import main\nfrom pathlib import Path\nd = Path({str(tmp_path)!r})\n"
            "assert main(['info', str(d / 'a.dat'), '--height', '16', '--width', '24']) == 0\n"
            "assert main(['info', str(d / 'a.npz'), '--json']) == 0\n"
            "assert main(['pack', str(d / 'a.npz'), '-o', str(d / 'a.spkz'), '--json']) == 0\n"
            "assert main(['info', str(d / 'a.spkz')]) == 0")
    assert "torch" not in _loaded_after(code)


def test_import_spikesci_is_light_and_documented_names_reachable():
    assert _loaded_after("import spikesci\nspikesci.io.read_dat\nspikesci.metrics.psnr") == []


def test_top_level_help_table_matches_the_commands():
    """The one-line help of `spikesci --help` (a table, so no module is imported for it) is each module's."""
    parser = build_parser(everything=True)
    group = next(a for a in parser._actions if a.dest == "command")
    helps = {c.dest: c.help for c in group._choices_actions}
    assert set(helps) == set(COMMANDS)
    for name, (_, text) in COMMANDS.items():
        if text is None:  # shown from the module itself
            continue
        assert helps[name] == text, f"update COMMANDS[{name!r}] in spikesci/cli/__init__.py to its help"


def test_light_copies_of_constants_match():
    from spikesci.cli import common
    from spikesci.io import dat
    from spikesci.simulate import camera

    assert (common.DEFAULT_HEIGHT, common.DEFAULT_WIDTH) == (dat.DEFAULT_HEIGHT, dat.DEFAULT_WIDTH)
    assert common.DEFAULT_WHITE_RATE == camera.DEFAULT_WHITE_RATE


def test_motion_modes_match_the_codec():
    from spikesci.models.codec.codec import MOTION_MODES
    from spikesci.sci_header import MOTION_MODES as LIGHT

    assert tuple(LIGHT) == tuple(MOTION_MODES)
