"""README.md is assembled from docs/: a doc edited without rebuilding the README would leave it stale."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_built_from_docs():
    build = runpy.run_path(str(ROOT / "docs" / "build_readme.py"))["build"]
    assert (ROOT / "README.md").read_text() == build(), "run: python docs/build_readme.py"
