"""Many files at once: `pack DIR_OR_FILES... -o OUTDIR --jobs N` and the same for `unpack`.

Every output is checked before any work starts (none may exist without --force, none may be an input,
no two inputs may share an output), so a batch either runs or refuses in one line. Files run in `jobs`
forked processes, one core each; a lone file runs in this process with both cores on its chunks.
One progress bar counts the input bytes done over all files (each file reports after every chunk).
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from spikesci.errors import SpikeSciError

PACK_SUFFIXES = (".dat", ".npz")
_QUEUE = None  # set in forked workers: where they report progress


@dataclass
class Job:
    """One file to pack or unpack; `nbytes` is the input's size on disk (the progress unit)."""

    src: Path
    dst: Path
    nbytes: int
    options: dict = field(default_factory=dict)


def _collect(inputs: list[Path], suffixes: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(file, path relative to the output folder) for each input file and each matching file under an
    input folder (recursively, sorted)."""
    found = []
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            found += [(p, p.relative_to(item)) for p in files]
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise SpikeSciError(f"{item}: no such file or folder")
    if not found:
        raise SpikeSciError(f"no {' or '.join(suffixes)} files in {', '.join(map(str, inputs))}")
    return found


def _check_outputs(jobs: list[Job], force: bool) -> list[Job]:
    inputs = {j.src.resolve() for j in jobs}
    seen: dict[Path, Path] = {}
    for j in jobs:
        out = j.dst.resolve()
        if out in inputs:
            raise SpikeSciError(f"{j.dst}: output would overwrite an input")
        if out in seen:
            raise SpikeSciError(f"{seen[out]} and {j.src} would both be written to {j.dst}")
        seen[out] = j.src
        if j.dst.exists() and not force:
            raise SpikeSciError(f"{j.dst}: already exists (use --force to overwrite)")
    return jobs


def plan_pack(inputs: list[Path], outdir: Path, force: bool = False) -> list[Job]:
    """Jobs packing every `.dat`/`.npz` of `inputs` into `outdir` (folder structure kept, `.spkz`)."""
    jobs = [
        Job(src, outdir / rel.with_suffix(".spkz"), src.stat().st_size)
        for src, rel in _collect(inputs, PACK_SUFFIXES)
    ]
    return _check_outputs(jobs, force)


def plan_unpack(inputs: list[Path], outdir: Path, force: bool = False) -> list[Job]:
    """Jobs unpacking every `.spkz` of `inputs` into `outdir`, each back to the kind it was packed from
    (`.npz` for a `.npz`, else `.dat`)."""
    from spikesci.lossless.format import Archive

    jobs = []
    for src, rel in _collect(inputs, (".spkz",)):
        with Archive(src) as arc:
            suffix = ".npz" if arc.source == ".npz" else ".dat"
        jobs.append(Job(src, outdir / rel.with_suffix(suffix), src.stat().st_size))
    return _check_outputs(jobs, force)


def _run_one(kind: str, job: Job, index: int, progress, workers: int | None) -> dict:
    from spikesci.lossless.archive import pack, unpack

    def report(done: int, total: int | None) -> None:
        if total:
            progress(index, job.nbytes * done // total)

    job.dst.parent.mkdir(parents=True, exist_ok=True)
    if kind == "pack":
        stats = pack(job.src, job.dst, progress=report, workers=workers, **job.options)
    else:
        stats = unpack(job.src, job.dst, progress=report, workers=workers)
    progress(index, job.nbytes)
    stats["input"], stats["output"], stats["input_bytes"] = str(job.src), str(job.dst), job.nbytes
    return stats


def _worker(kind: str, job: Job, index: int) -> dict:
    def progress(i: int, done: int) -> None:
        _QUEUE.put((i, done))

    return _run_one(kind, job, index, progress, 1)


def _init(q) -> None:
    global _QUEUE
    _QUEUE = q


def run(kind: str, jobs: list[Job], njobs: int = 2, progress: bool = True) -> tuple[list[dict], list[str]]:
    """Pack or unpack every job; returns (stats of the files that succeeded, one line per failure)."""
    from tqdm import tqdm

    bar = tqdm(
        total=sum(j.nbytes for j in jobs),
        desc=kind,
        unit="B",
        unit_scale=True,
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    done = [0] * len(jobs)

    def advance(i: int, nbytes: int) -> None:
        bar.update(max(0, nbytes - done[i]))
        done[i] = max(done[i], nbytes)

    results: dict[int, dict] = {}
    errors: list[str] = []
    try:
        if njobs <= 1 or len(jobs) == 1:
            for i, job in enumerate(jobs):
                try:
                    results[i] = _run_one(kind, job, i, advance, None)
                except SpikeSciError as exc:
                    errors.append(f"{job.src}: {exc}")
        else:
            ctx = multiprocessing.get_context("fork")
            q = ctx.Queue()
            with ProcessPoolExecutor(njobs, mp_context=ctx, initializer=_init, initargs=(q,)) as pool:
                futures = {pool.submit(_worker, kind, job, i): i for i, job in enumerate(jobs)}
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(q, advance)
                    for fut in finished:
                        i = futures[fut]
                        try:
                            results[i] = fut.result()
                        except SpikeSciError as exc:
                            errors.append(f"{jobs[i].src}: {exc}")
                _drain(q, advance)
    finally:
        bar.close()
    return [results[i] for i in sorted(results)], errors


def _drain(q, advance) -> None:
    while True:
        try:
            advance(*q.get_nowait())
        except queue.Empty:
            return


def summary(kind: str, rows: list[dict], seconds: float) -> str:
    """One line per file and a total: frames, sizes, bits per spike-pixel, speed in MB/s of `.dat`."""
    head = f"{'file':40s} {'frames':>7s} {'.dat MB':>8s} {'.spkz MB':>9s} {'bpp':>7s} {'MB/s':>7s} {'s':>6s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        name = Path(r["input"]).name[-40:]
        lines.append(
            f"{name:40s} {r['frames']:7d} {r['raw_bytes'] / 1e6:8.2f} {r['bytes'] / 1e6:9.3f} "
            f"{r['bpp']:7.4f} {r['mbps']:7.1f} {r['seconds']:6.2f}"
        )
    raw = sum(r["raw_bytes"] for r in rows)
    arc = sum(r["bytes"] for r in rows)
    pixels = sum(r["frames"] * r["height"] * r["width"] for r in rows)
    bpp = 8.0 * arc / pixels if pixels else 0.0
    lines.append("-" * len(head))
    total = f"{kind} total: {len(rows)} files"
    lines.append(
        f"{total:40s} {sum(r['frames'] for r in rows):7d} {raw / 1e6:8.2f} {arc / 1e6:9.3f} "
        f"{bpp:7.4f} {raw / 1e6 / max(seconds, 1e-9):7.1f} {seconds:6.2f}"
    )
    return "\n".join(lines)


def timed_run(kind: str, jobs: list[Job], njobs: int, progress: bool) -> tuple[list[dict], list[str], float]:
    """`run`, plus the wall time of the whole batch."""
    t0 = time.perf_counter()
    rows, errors = run(kind, jobs, njobs, progress)
    return rows, errors, time.perf_counter() - t0
