"""Assemble README.md from docs/readme_head.md (the short front page) and an index of the long-form docs
(every other docs/*.md with its title and what it holds), so the README stays short and never goes stale.
Edit the docs, then run: python docs/build_readme.py (tests/test_readme.py checks the README is current)."""

from pathlib import Path

DOCS = Path(__file__).resolve().parent
# reading order of the index and what each doc holds; docs not listed here follow in name order
ABOUT = {
    "overview": "every command and what it promises (inputs, outputs, frames, exposure, progress, start-up), "
                "the Python API, dependencies and the shipped weights",
    "simulation": "the integrate-and-fire camera, simulated scenes with ground truth, the file commands",
    "foundation": "the intensity convention, TFP and TFI, metrics and the foundation benchmark",
    "lossless": "the .spkz archive (pack / unpack): context model, format, speed and size against xz, zstd, bz2",
    "perception": "the learned FEM (camera side) and FAM (cloud side): design, training, measurements",
    "codec": "the learned feature codec and .sci streams: format, motion modes, qualities, rate-distortion",
    "classification": "S-DIGITS, S-ANIMALS, S-NATURAL: heads on raw spikes and on decoded features",
    "paradigms": "code-then-analyse vs analyse-then-code vs CAAS with real codecs: RD curves, BD-rates",
}


def title(path: Path) -> str:
    line = next((ln for ln in path.read_text().splitlines() if ln.startswith("#")), path.stem)
    return line.lstrip("#").strip().replace("`", "")


def docs() -> list[Path]:
    found = {p.stem: p for p in DOCS.glob("*.md") if p.stem != "readme_head"}
    return [found[n] for n in ABOUT if n in found] + [found[n] for n in sorted(found) if n not in ABOUT]


def build() -> str:
    head = (DOCS / "readme_head.md").read_text().rstrip("\n")
    index = ["## Documentation", ""]
    for path in docs():
        about = ABOUT.get(path.stem)
        index.append(f"- [{title(path)}](docs/{path.name})" + (f": {about}" if about else ""))
    return head + "\n\n" + "\n".join(index) + "\n"


if __name__ == "__main__":
    (DOCS.parent / "README.md").write_text(build())
