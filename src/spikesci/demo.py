"""The demo: one spike clip end to end, with every method measured the same way in one table.

It simulates a held-out bundled photograph moving slowly under a noisy camera (with two moving sprites),
writes the clip as a PKU `.dat`, reconstructs the middle frame with TFP, TFI and the shipped learned
perception (`net`), codes the FEM features with the learned codec at every quality (CAAS: real `.sci`
files decoded straight into pictures), codes the spikes losslessly (the `.spkz` archive and
general-purpose compressors), and reports bits per spike-pixel, PSNR/SSIM against the ground-truth
luminance, and seconds. A PNG shows each picture beside the truth.

Rows come from small builder functions (`ROW_BUILDERS`); add more with `add_row_builder`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from spikesci.io import write_dat
from spikesci.metrics import bpp, psnr, ssim
from spikesci.simulate.scenes import Scene, SceneConfig, make_scene, preset


@dataclass(frozen=True)
class DemoConfig:
    image: str = "camera"  # a held-out image: never seen in training
    height: int = 250
    width: int = 400
    frames: int = 160  # the learned path needs ~80 spike frames either side of the judged frame
    motion: str = "slow"
    sprites: int = 2
    seed: int = 0
    window: int = 41  # TFP window
    codecs: tuple[str, ...] = ("gzip", "bz2", "xz", "zstd-19")

    def scene_config(self) -> SceneConfig:
        return preset(self.motion, height=self.height, width=self.width, frames=self.frames,
                      sprites=self.sprites, split="heldout")


@dataclass
class Row:
    """One line of the table. `psnr`/`ssim` are None for rows that produce no picture of their own."""

    method: str
    bpp: float
    psnr: float | None
    ssim: float | None
    seconds: float
    note: str = ""
    image: np.ndarray | None = field(default=None, repr=False)  # (H, W) picture for the PNG, if any


@dataclass
class DemoContext:
    """What every row builder may use: the scene, its spikes on disk, the frame judged, where to write."""

    config: DemoConfig
    scene: Scene
    dat_path: Path
    out_dir: Path
    centre: int
    progress: bool = False  # per-map bars with ETA on stderr for the slow steps (the learned codec)

    @property
    def truth(self) -> np.ndarray:
        return self.scene.luminance[self.centre]

    def bpp(self, num_bytes: int) -> float:
        t, h, w = self.scene.spikes.shape
        return bpp(num_bytes, h, w, t)

    def judged(self, method: str, num_bytes: int, image: np.ndarray, seconds: float, note: str = "") -> Row:
        """A row for a picture of the centre frame, scored against the ground truth."""
        return Row(method, self.bpp(num_bytes), psnr(image, self.truth), ssim(image, self.truth), seconds,
                   note, image)


def _timed(fn: Callable, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def reconstruction_rows(ctx: DemoContext) -> list[Row]:
    """TFP and TFI straight from the raw `.dat` (1 bit per spike-pixel)."""
    from spikesci.reconstruct import tfi, tfp

    size = ctx.dat_path.stat().st_size
    spikes = ctx.scene.spikes
    image, sec = _timed(tfp, spikes, ctx.centre, window=ctx.config.window)
    rows = [ctx.judged(f"raw .dat + TFP({ctx.config.window})", size, image, sec, "reconstruction only")]
    image, sec = _timed(tfi, spikes, ctx.centre)
    rows.append(ctx.judged("raw .dat + TFI", size, image, sec, "reconstruction only"))
    return rows


def archive_rows(ctx: DemoContext) -> list[Row]:
    """The lossless `.spkz` archive (decoded pictures equal the raw ones, so no PSNR of its own)."""
    try:
        from spikesci.lossless import pack_spikes, unpack_spikes
    except ImportError:
        note = "skipped: spikesci.lossless.pack_spikes not available"
        return [Row("spkz (lossless)", float("nan"), None, None, 0.0, note)]
    path = ctx.out_dir / "demo.spkz"
    path.unlink(missing_ok=True)
    _, enc = _timed(pack_spikes, ctx.scene.spikes, path)
    back, dec = _timed(unpack_spikes, path)
    exact = np.array_equal(back, ctx.scene.spikes)
    note = f"exact round trip; enc {enc:.2f} s, dec {dec:.2f} s" if exact else "ROUND TRIP FAILED"
    return [Row("spkz (lossless)", ctx.bpp(path.stat().st_size), None, None, enc + dec, note)]


def general_codec_rows(ctx: DemoContext) -> list[Row]:
    """General-purpose compressors on the packed `.dat` bytes: the yardstick."""
    try:
        from spikesci.lossless.baselines import measure_general
    except ImportError:
        return [Row("general codecs", float("nan"), None, None, 0.0, "skipped: baselines not available")]
    rows = []
    for name in ctx.config.codecs:
        m = measure_general(ctx.scene.spikes, name)
        raw_mb = m["raw_bytes"] / 1e6
        seconds = raw_mb / m["encode_mbps"] + raw_mb / m["decode_mbps"]
        rows.append(Row(f"{name} (lossless)", m["bpp"], None, None, seconds,
                        f"enc {m['encode_mbps']:.1f} MB/s, dec {m['decode_mbps']:.1f} MB/s"))
    return rows


def net_rows(ctx: DemoContext) -> list[Row]:
    """The shipped learned perception (FEM + FAM) on uncompressed features: the quality ceiling of CAAS."""
    from spikesci.models.zoo import load_reconstruction

    perception = load_reconstruction()  # what `reconstruct --method net` uses (release 3)
    (images, _), sec = _timed(perception.reconstruct, ctx.scene.spikes, frames=[ctx.centre])
    return [ctx.judged("raw .dat + net (FEM+FAM)", ctx.dat_path.stat().st_size, images[0], sec,
                       "learned, features not coded")]


def caas_rows(ctx: DemoContext, model_name: str | None = None, qualities=None) -> list[Row]:
    """CAAS: FEM features coded to a real `.sci` file at every quality, decoded straight into the picture."""
    from spikesci import sci

    model = sci.load_model(model_name)
    stride, lookback = model.perception.stride, model.perception.lookback
    offset = (ctx.centre - lookback) % stride  # drop leading frames so a feature map lands on the centre
    clip = ctx.scene.spikes[offset:]
    rows = []
    tag = "" if model_name is None else f" {model_name}"
    for quality in qualities or sci.QUALITIES:
        path = ctx.out_dir / f"demo{tag.strip() and '_' + tag.strip()}_q{quality}.sci"
        path.unlink(missing_ok=True)
        stats, enc = _timed(sci.encode_spikes, clip, path, quality, progress=ctx.progress, model=model_name)
        result, dec = _timed(sci.decode_file, path, progress=ctx.progress)
        k = int(np.argmin(np.abs(np.asarray(result.frames) + offset - ctx.centre)))
        t, h, w = clip.shape
        size = path.stat().st_size
        row = ctx.judged(f"CAAS .sci{tag} quality {quality}", size, result.images[k], enc + dec,
                         f"enc {enc:.1f} s, dec {dec:.1f} s")
        row.bpp = bpp(path.stat().st_size, h, w, t)
        rows.append(row)
    return rows


def caas_x265_rows(ctx: DemoContext) -> list[Row]:
    """CAAS via x265: the release-3 maps as KLT planes through x265 (`encode --codec x265`), 2 qualities."""
    return caas_rows(ctx, "x265", (2, 4))


RowBuilder = Callable[[DemoContext], list[Row]]
ROW_BUILDERS: list[RowBuilder] = [reconstruction_rows, net_rows, caas_rows, caas_x265_rows, archive_rows,
                                  general_codec_rows]


def add_row_builder(builder: RowBuilder) -> None:
    """Register another method (e.g. the learned pipeline) to appear in the demo's table and PNG."""
    if builder not in ROW_BUILDERS:
        ROW_BUILDERS.append(builder)


def format_table(rows: list[Row]) -> str:
    """A plain-text table: method, bpp, PSNR, SSIM, seconds, note."""
    def num(x, fmt):
        missing = x is None or (isinstance(x, float) and np.isnan(x))
        return f"{'-':>{fmt.split('.')[0]}}" if missing else format(x, fmt)

    width = max(len("method"), *(len(r.method) for r in rows))
    lines = [f"{'method':<{width}}  {'bpp':>6}  {'PSNR dB':>7}  {'SSIM':>6}  {'seconds':>7}  note"]
    lines.append("-" * len(lines[0]) + "-" * 20)
    for r in rows:
        scores = f"{num(r.bpp, '6.3f')}  {num(r.psnr, '7.2f')}  {num(r.ssim, '6.3f')}"
        lines.append(f"{r.method:<{width}}  {scores}  {num(r.seconds, '7.2f')}  {r.note}")
    return "\n".join(lines)


def save_figure(ctx: DemoContext, rows: list[Row], path: Path) -> None:
    """Ground truth beside every row that has a picture, titled with its scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pictured = [r for r in rows if r.image is not None]
    n = 1 + len(pictured)
    h, w = ctx.truth.shape
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n * w / max(h, w) + 0.5, 3.6 * h / max(h, w) + 0.6))
    axes = np.atleast_1d(axes)
    panels = [(f"ground truth, frame {ctx.centre}", ctx.truth)]
    panels += [(f"{r.method}\n{r.psnr:.2f} dB, SSIM {r.ssim:.3f}", r.image) for r in pictured]
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _step_note(i: int, n: int, builder: RowBuilder, start: float, done: list[float]) -> str:
    """'demo step 3/5: caas rows (about 40 s left)': what runs now and, once a step has run, an ETA from
    the mean step time so far (the steps differ, so it is a rough guide, said as such)."""
    name = builder.__name__.replace("_", " ")
    eta = ""
    if done:
        left = (n - i + 1) * (sum(done) / len(done))
        eta = f", roughly {left:.0f} s left"
    return f"demo step {i}/{n}: {name} ({time.perf_counter() - start:.0f} s so far{eta})"


def run_demo(out_dir: str | Path = "demo_out", config: DemoConfig = DemoConfig(),
             log: Callable[[str], None] = print, progress: Callable[[str], None] | None = None) -> dict:
    """Run the whole demo; write demo.dat, demo.png, demo.json (and demo.spkz) into `out_dir`.

    `progress` (e.g. a print to stderr) hears which step runs, with a rough ETA, and turns on the per-map
    bars of the learned codec; the table itself goes to `log`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    scene, sec = _timed(make_scene, config.scene_config(), config.seed, config.image)
    t, h, w = scene.spikes.shape
    log(f"simulated {t} spike frames of {h}x{w} from held-out image '{config.image}' ({config.motion} "
        f"motion, {config.sprites} sprites, noisy camera) in {sec:.2f} s; "
        f"firing rate {scene.spikes.mean():.3f}")
    dat_path = out / "demo.dat"
    write_dat(dat_path, scene.spikes)
    ctx = DemoContext(config, scene, dat_path, out, centre=t // 2, progress=progress is not None)
    rows: list[Row] = []
    done: list[float] = []
    for i, builder in enumerate(ROW_BUILDERS, 1):
        if progress is not None:
            progress(_step_note(i, len(ROW_BUILDERS), builder, start, done))
        t0 = time.perf_counter()
        rows.extend(builder(ctx))
        done.append(time.perf_counter() - t0)
    log("")
    log(format_table(rows))
    save_figure(ctx, rows, out / "demo.png")
    results = {
        "config": asdict(config), "frames": t, "height": h, "width": w, "centre_frame": ctx.centre,
        "firing_rate": float(scene.spikes.mean()), "seconds_total": time.perf_counter() - start,
        "rows": [{k: v for k, v in asdict(r).items() if k != "image"} for r in rows],
    }
    (out / "demo.json").write_text(json.dumps(results, indent=2, default=float))
    log(f"\nwrote {dat_path}, {out / 'demo.png'}, {out / 'demo.json'} "
        f"({results['seconds_total']:.1f} s in all)")
    return results
