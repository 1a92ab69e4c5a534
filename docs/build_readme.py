"""Assemble README.md from docs/readme_head.md and the long-form docs (each top heading demoted one level,
image paths made relative to the repository root). Edit the docs, then run: python docs/build_readme.py"""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SECTIONS = ["simulation", "foundation", "lossless", "perception", "codec", "classification", "paradigms"]


def demote(text: str) -> str:
    out, fence = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fence = not fence
        out.append("#" + line if not fence and re.match(r"^#+ ", line) else line)
    return re.sub(r"\]\((?!http)(?!docs/)([^)]+\.png)\)", r"](docs/\1)", "\n".join(out))


def build() -> str:
    parts = [(DOCS / "readme_head.md").read_text().rstrip("\n")]
    parts += [demote((DOCS / f"{name}.md").read_text()).rstrip("\n") for name in SECTIONS]
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    (DOCS.parent / "README.md").write_text(build())
