"""CTA vs ATC vs CAAS on a clip: where in the pipeline should the bits be spent? (paper Sections III-C, V-C)

- CTA (code, then analyse): spike frames as 0/255 grey video through a conventional codec (several qualities,
  and losslessly), decoded, re-binarized (> 127), then reconstructed (TFP / TFI / net).
- ATC (analyse, then code): reconstruct first, one image every `stride` spike frames, then code that image
  sequence with the conventional codecs.
- CAAS (code features, analyse in the cloud): spikesci's own learned codec through the `spikesci.sci` facade.

Every point's rate is real coded bytes over the whole clip: bpp = 8 * bytes / (H * W * spike frames), so all
three paradigms share one axis. Quality is PSNR / SSIM of the decoded reconstruction against ground truth at
the evaluation frames or, for a clip without ground truth (a real recording), against the uncompressed `net`
reconstruction of the same clip (the no-reference view; TFP when no `net` model is installed).
A method whose parts are missing (an encoder, the `net` model, the facade) is skipped with a reason.
"""

from __future__ import annotations

import inspect
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from spikesci.baselines import get_codec
from spikesci.bench.methods import (
    RECONSTRUCTORS,
    MethodUnavailable,
    Reconstructor,
    caas_module,
    caas_offset,
    end_kflops,
    learned_stride,
    make_reconstructor,
    nearest,
)
from spikesci.bench.refine import refine_curves
from spikesci.errors import SpikeSciError
from spikesci.metrics import psnr, ssim
from spikesci.reconstruct import DEFAULT_WINDOW
from spikesci.simulate.camera import DEFAULT_WHITE_RATE

__all__ = ["CTA_QUALITIES", "Clip", "MethodUnavailable", "ParadigmConfig", "Point", "image_grid",
           "make_reconstructor", "run_paradigms", "score", "spread"]

DEFAULT_STRIDE = 8  # spike frames between reconstructed images, when the learned codec does not say
# images (ATC) and feature maps (CAAS) per group of pictures, for every method alike (equal random access):
# the intra period of standard test conditions, and the x265 feature codec's default (its intra maps cost
# several predicted ones: at 8, a clip of 15 maps pays two of them)
DEFAULT_GOP = 32
# CTA codes binary, noise-like frames: settings better than these ladders keep (nearly) every spike at
# 1.7-3 bpp, worse than raw 1 bpp (PSNR tuning: x264 crf 36 exact; x265 crf 36, SVT-AV1 / VP9 crf 54 flip
# < 0.5 %), so the useful range sits high on each codec's scale, from near exact to most spikes lost.
_CTA_AV1 = (55, 57, 59, 61, 63)
CTA_QUALITIES = {"x264": (36, 40, 44, 47, 51), "x265": (34, 37, 40, 43, 47), "vvc": (36, 39, 42, 45, 48),
                 "svt-av1": _CTA_AV1, "vp9": _CTA_AV1, "aom-av1": _CTA_AV1}


@dataclass(frozen=True)
class Clip:
    """Spikes (T, H, W) uint8 0/1; ground truth images (N, H, W) in [0, 1] at `truth_frames` when known."""

    name: str
    spikes: np.ndarray
    truth: np.ndarray | None = None
    truth_frames: np.ndarray | None = None
    white_rate: float = DEFAULT_WHITE_RATE


@dataclass(frozen=True)
class ParadigmConfig:
    """What to compare. Qualities: `points` settings spread over a codec's ladder (ATC) or CTA_QUALITIES."""

    codecs: tuple[str, ...] = ("x264", "x265", "svt-av1", "vp9", "vvc")
    lossless: tuple[str, ...] = ("ffv1",)  # lossless CTA anchors (one point each)
    reconstructors: tuple[str, ...] = RECONSTRUCTORS
    paradigms: tuple[str, ...] = ("CTA", "ATC", "CAAS")
    points: int = 6
    cta_qualities: dict[str, tuple[int, ...]] = field(default_factory=dict)
    atc_qualities: dict[str, tuple[int, ...]] = field(default_factory=dict)
    gop: int | None = None  # images (ATC) / maps (CAAS) per GOP, None: DEFAULT_GOP; CTA: gop * stride frames
    stride: int | None = None  # None: the learned codec's stride, else DEFAULT_STRIDE
    window: int = DEFAULT_WINDOW  # TFP window
    max_eval: int = 2  # evaluation frames per clip (nearest the middle): bounds `net` time on CTA decodes
    cta_speed: str = "fast"  # encoder speed class for CTA (long binary videos): fast, medium or strong
    atc_speed: str = "medium"  # and for ATC (a few images per clip)
    caas_qualities: tuple | None = None  # None: every quality of the facade
    caas_models: tuple[str | None, ...] = (None, "x265", "svt-av1")  # None: learned codec; else KLT + codec
    refine: bool = True  # bisect the settings of ATC curves with < 4 Pareto points (bench.refine)
    bd_method: str = "pchip"  # BD-rate interpolation of results["bd_rate"] and the first table (bench.rd)


@dataclass
class Point:
    paradigm: str
    method: str
    bpp: float
    psnr: float
    ssim: float
    clip: str
    setting: str
    bytes: int
    reference: str  # "truth", "net" or "tfp" (no-reference view)
    seconds: float
    end_kflops: float = 0.0  # network kFLOPs per pixel per image/map on the end side (codec not counted)
    end_seconds: float = 0.0  # end-side seconds per image/map here: analysis (ATC) or FEM (CAAS) + encoder


# ---------------------------------------------------------------- frames and scoring


def image_grid(frames: int, stride: int, anchor: int) -> np.ndarray:
    """Spike frames of the image sequence: every `stride` frames, through `anchor` (a ground-truth frame)."""
    return np.arange(anchor % stride, frames, stride)


@dataclass
class Evaluation:
    """Where a clip is scored and against what."""

    grid: np.ndarray  # centres of the ATC image sequence
    frames: np.ndarray  # evaluation frames (a subset of the grid)
    reference: np.ndarray  # (N, H, W) images the methods are scored against
    kind: str  # "truth", "net" or "tfp"
    by_frame: dict = field(default_factory=dict)  # extra reference images at other frames (CAAS)
    make_reference: Reconstructor | None = None


def plan(clip: Clip, stride: int, max_eval: int, reference_maker: Reconstructor | None, kind: str
         ) -> Evaluation:
    t = clip.spikes.shape[0]
    if clip.truth is not None:
        truth_frames = np.asarray(clip.truth_frames)
        anchor = int(truth_frames[len(truth_frames) // 2])
        grid = image_grid(t, stride, anchor)
        usable = np.intersect1d(grid, truth_frames)
    else:
        grid = image_grid(t, stride, t // 2)
        usable = grid
    if usable.size == 0:
        raise SpikeSciError(f"{clip.name}: no ground-truth frame inside the clip")
    order = np.argsort(np.abs(usable - t // 2), kind="stable")
    frames = np.sort(usable[order[:max_eval]])
    if clip.truth is not None:
        ref = np.asarray(clip.truth, np.float32)[nearest(clip.truth_frames, frames)]
        return Evaluation(grid, frames, ref, "truth")
    ref = reference_maker(clip.spikes, frames)
    return Evaluation(grid, frames, ref, kind, make_reference=reference_maker)


def score(images: np.ndarray, frames: np.ndarray, clip: Clip, ev: Evaluation) -> tuple[float, float]:
    """Mean PSNR / SSIM over the evaluation frames, from images sitting at spike `frames`.

    A method whose images sit elsewhere (CAAS) is scored with its image nearest each evaluation frame, against
    the reference at that image's own frame where one exists (truth at every frame, no-reference view), else
    against the single ground-truth frame.
    """
    images, frames = np.asarray(images, np.float32), np.asarray(frames)
    if np.array_equal(frames, ev.frames):
        picked, refs = images, ev.reference
    else:
        idx = nearest(frames, ev.frames)
        picked, at = images[idx], frames[idx]
        if clip.truth is not None and len(clip.truth_frames) > 1:
            refs = np.asarray(clip.truth, np.float32)[nearest(clip.truth_frames, at)]
        elif clip.truth is not None:
            refs = ev.reference
        else:
            key = tuple(int(f) for f in at)
            if key not in ev.by_frame:
                ev.by_frame[key] = ev.make_reference(clip.spikes, at)
            refs = ev.by_frame[key]
    picked = np.clip(picked, 0.0, 1.0)
    ps = [psnr(a, b, data_range=1.0) for a, b in zip(picked, refs)]
    ss = [ssim(a, b, data_range=1.0) for a, b in zip(picked, refs)]
    return float(np.mean(ps)), float(np.mean(ss))


# ---------------------------------------------------------------- the three paradigms


def spread(ladder: tuple, points: int) -> tuple:
    """`points` settings spread evenly over a ladder, both ends included."""
    if points >= len(ladder):
        return tuple(ladder)
    return tuple(ladder[i] for i in np.unique(np.round(np.linspace(0, len(ladder) - 1, points)).astype(int)))


def _qualities(codec, table: dict, defaults: dict | None, points: int) -> tuple:
    if codec.name in table:
        return tuple(table[codec.name])
    return spread(tuple((defaults or {}).get(codec.name, codec.qualities)), points)


def cta_jobs(clip: Clip, cfg: ParadigmConfig, recons: dict, ev: Evaluation, stride: int
             ) -> Iterator[Callable]:
    """One job per (codec, quality): code the spike video once, reconstruct it with every method."""
    video = clip.spikes.astype(np.uint8) * np.uint8(255)
    t, h, w = clip.spikes.shape
    settings = [(c, q) for c in cfg.codecs for q in _qualities(get_codec(c), cfg.cta_qualities, CTA_QUALITIES,
                                                                 cfg.points)]
    settings += [(c, None) for c in cfg.lossless]
    for name, quality in settings:
        def job(name=name, quality=quality) -> list[Point]:
            codec = get_codec(name, speed=cfg.cta_speed)
            t0 = time.perf_counter()
            coded = codec.roundtrip(video, quality, gop=cfg.gop * stride)
            spikes = (coded.frames > 127).astype(np.uint8)
            rate = 8.0 * coded.num_bytes / (h * w * t)
            per_image = coded.encode_seconds / max(len(ev.grid), 1)  # the end side only encodes
            points = []
            for rname, rec in recons.items():
                p, s = score(rec(spikes, ev.frames), ev.frames, clip, ev)
                points.append(Point("CTA", f"{name}+{rname.upper()}", rate, p, s, clip.name,
                                    codec.label(quality), coded.num_bytes, ev.kind, time.perf_counter() - t0,
                                    0.0, per_image))
            return points

        yield job


def atc_settings(cfg: ParadigmConfig, recons: dict) -> list[tuple[str, str, int]]:
    """(reconstructor, codec, quality) of each ATC point: `points` settings spread over a codec's ladder."""
    return [(rname, cname, q) for rname in recons for cname in cfg.codecs
            for q in _qualities(get_codec(cname), cfg.atc_qualities, None, cfg.points)]


def atc_jobs(clip: Clip, cfg: ParadigmConfig, recons: dict, ev: Evaluation,
             settings: list[tuple[str, str, int]], cache: dict) -> Iterator[Callable]:
    """One job per (method, codec, quality); each method's images are reconstructed once, into `cache`."""
    t, h, w = clip.spikes.shape
    pos = np.searchsorted(ev.grid, ev.frames)
    for rname, cname, quality in settings:
        def job(rname=rname, rec=recons[rname], cname=cname, quality=quality) -> list[Point]:
            codec = get_codec(cname, speed=cfg.atc_speed)
            t0 = time.perf_counter()
            if rname not in cache:
                r0 = time.perf_counter()
                seq = np.clip(rec(clip.spikes, ev.grid), 0.0, 1.0)
                cache[rname] = (np.round(seq * 255.0).astype(np.uint8),
                                (time.perf_counter() - r0) / max(len(ev.grid), 1))
            images, rec_seconds = cache[rname]
            coded = codec.roundtrip(images, quality, gop=cfg.gop)
            decoded = coded.frames[pos].astype(np.float32) / 255.0
            p, s = score(decoded, ev.frames, clip, ev)
            rate = 8.0 * coded.num_bytes / (h * w * t)
            end_s = rec_seconds + coded.encode_seconds / max(len(ev.grid), 1)
            return [Point("ATC", f"{rname.upper()}+{cname}", rate, p, s, clip.name,
                          codec.label(quality), coded.num_bytes, ev.kind, time.perf_counter() - t0,
                          end_kflops(rname, cfg.window), end_s)]

        yield job


def _run_atc(clip: Clip, cfg: ParadigmConfig, recons: dict, ev: Evaluation, settings: list, cache: dict
             ) -> list[Point]:
    return [job()[0] for job in atc_jobs(clip, cfg, recons, ev, settings, cache)]


def caas_jobs(clip: Clip, cfg: ParadigmConfig, ev: Evaluation, sci, workdir: Path) -> Iterator[Callable]:
    """One job per quality: encode to a real .sci file, decode straight to images, score.

    Rate = file size (container included) over the spike frames coded (the clip from the aligning offset).
    """
    _, h, w = clip.spikes.shape
    anchor = int(ev.frames[len(ev.frames) // 2])
    for model in cfg.caas_models:
        if model is not None and model not in getattr(sci, "CONVENTIONAL", ()):
            continue  # a provider that does not offer this codec
        method = "spikesci" if model is None else f"spikesci-{model}"
        for quality in cfg.caas_qualities or tuple(sci.QUALITIES):
            def job(quality=quality, model=model, method=method) -> list[Point]:
                path = workdir / f"{_safe(clip.name)}-{method}-q{quality}.sci"
                t0 = time.perf_counter()
                start = caas_offset(sci, anchor, model)
                spikes = clip.spikes[start:]
                t = spikes.shape[0]
                opts = {"model": model} if model else {}
                if cfg.gop and "gop" in inspect.signature(sci.encode_spikes).parameters:
                    opts["gop"] = int(cfg.gop)  # the same GOP as the ATC anchors: equal random access
                stats = sci.encode_spikes(spikes, path, quality, **opts)
                size = path.stat().st_size
                decoded = sci.decode_file(path)
                frames = np.asarray(decoded.frames) + start
                p, s = score(np.asarray(decoded.images), frames, clip, ev)
                path.unlink()
                stats = stats if isinstance(stats, dict) else {}
                end_s = stats.get("seconds", 0.0) / max(stats.get("maps", 1), 1)
                try:
                    kflops = end_kflops("caas", model=model)
                except Exception:  # noqa: BLE001 - a provider without a countable FEM: cost unknown
                    kflops = float("nan")
                return [Point("CAAS", method, 8.0 * size / (h * w * t), p, s, clip.name, f"quality={quality}",
                              size, ev.kind, time.perf_counter() - t0, kflops, end_s)]

            yield job


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def run_paradigms(clips: list[Clip], cfg: ParadigmConfig = ParadigmConfig(), progress: bool = True,
                  log: Callable[[str], None] = print, caas=None) -> dict:
    """Run every available method on every clip; returns {"points": [...], "skipped": [...], ...}.

    `caas` is the learned codec's provider (QUALITIES, encode_spikes, decode_file); None imports spikesci.sci.
    """
    from tqdm import tqdm

    from spikesci.baselines import codec_report

    stride = int(cfg.stride or learned_stride() or DEFAULT_STRIDE)
    gop = int(cfg.gop or DEFAULT_GOP)
    report = codec_report()
    skipped: list[str] = []
    wanted = tuple(dict.fromkeys(cfg.codecs + cfg.lossless))
    for name in wanted:
        if report.get(name, "unknown codec") != "available":
            skipped.append(f"codec {name}: {report.get(name, 'unknown codec')}")
    avail = tuple(c for c in cfg.codecs if report.get(c) == "available")
    lossless = tuple(c for c in cfg.lossless if report.get(c) == "available")
    cfg = _replace(cfg, codecs=avail, lossless=lossless, gop=gop)
    sci = None
    if "CAAS" in cfg.paradigms:
        try:
            sci = caas if caas is not None else caas_module()
        except MethodUnavailable as exc:
            skipped.append(str(exc))
    points: list[Point] = []
    eval_frames: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="spikesci-paradigms-") as tmp:
        for clip in clips:
            recons = {}
            for rname in cfg.reconstructors:
                try:
                    recons[rname] = make_reconstructor(rname, cfg.window, clip.white_rate)
                except MethodUnavailable as exc:
                    if str(exc) not in skipped:
                        skipped.append(str(exc))
            ref_kind = "net" if "net" in recons else "tfp"
            ref_maker = recons.get("net") or make_reconstructor("tfp", cfg.window, clip.white_rate)
            ev = plan(clip, stride, cfg.max_eval, ref_maker, ref_kind)
            eval_frames[clip.name] = [int(f) for f in ev.frames]
            jobs = []
            if "CTA" in cfg.paradigms:
                jobs += [("CTA", j, None) for j in cta_jobs(clip, cfg, recons, ev, stride)]
            atc_cache: dict = {}
            atc_done: dict = {}
            if "ATC" in cfg.paradigms:
                settings = atc_settings(cfg, recons)
                jobs += [("ATC", j, key) for key, j in zip(settings, atc_jobs(clip, cfg, recons, ev, settings,
                                                                             atc_cache))]
            if sci is not None:
                jobs += [("CAAS", j, None) for j in caas_jobs(clip, cfg, ev, sci, Path(tmp))]
            for paradigm, job, key in tqdm(jobs, desc=clip.name, disable=not progress, leave=False):
                if paradigm == "CAAS" and sci is None:
                    continue
                try:
                    found = job()
                    points.extend(found)
                    if key is not None:
                        atc_done.setdefault(key[:2], {})[key[2]] = (found[0].bpp, found[0].psnr)
                except SpikeSciError as exc:
                    if paradigm != "CAAS":
                        raise
                    # e.g. no codec weights shipped: one clear line, and no further CAAS attempts
                    skipped.append(f"CAAS skipped: {exc}")
                    log(f"CAAS skipped: {exc}")
                    sci = None
            extra = refine_curves(atc_done, partial(_run_atc, clip, cfg, recons, ev, cache=atc_cache)
                                  ) if cfg.refine else []
            points.extend(extra)
            if not progress:
                log(f"{clip.name}: {len(jobs) + len(extra)} runs")
    return {"points": [vars(p) for p in points], "skipped": skipped, "codecs": report, "stride": stride,
            "eval_frames": eval_frames,
            "gop": gop, "cta_gop_frames": gop * stride}


def _replace(cfg: ParadigmConfig, **changes) -> ParadigmConfig:
    from dataclasses import replace

    return replace(cfg, **changes)
