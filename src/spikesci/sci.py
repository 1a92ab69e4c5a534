"""`.sci` feature streams: spikes -> FEM features -> learned codec bytes -> decoded features -> tasks.

The facade the CLI, the demo and the benchmarks call:
    QUALITIES                                   rate points, low to high
    encode_spikes(spikes, path, quality)        -> dict(bytes, bpp, seconds, ...)
    encode_file(src, dst, quality, h, w)        .dat / .npz in, .sci out
    decode_file(path, task="reconstruct")       -> SciResult(images, frames, features, flows, header)
    iter_decode(path)                           streams (features, flows) GOP by GOP (bounded memory)

File layout (io/container.py framing): magic b"SCI\\x00", version 1, a JSON header (height, width, spike
frames, window, lookback, stride, quality, model, codec and FEM checksums, GOP size, map count and
times), then one chunk per group of pictures (GOP), each a self-contained range-coded payload
(models/codec/codec.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from spikesci.errors import ContainerError, ModelMismatchError, SpikeSciError
from spikesci.io.container import ContainerWriter
from spikesci.models.codec import FeatureCodec
from spikesci.sci_frames import COVERS, aligned_frames, map_frames  # noqa: F401 - part of sci's API
from spikesci.sci_header import (  # noqa: F401 - the constants are part of this facade
    CONVENTIONAL,
    DEFAULT_CODEC,
    DEFAULT_GOP,
    DEFAULT_QUALITY,
    HEADER_DICT,
    HEADER_DICTS,
    KIND,
    MAGIC,
    MAX_FRAMES,
    MOTION_MODES,
    QUALITIES,
    VERSION,
    VERSIONS,
    open_stream,
    read_header,
)


@dataclass
class SciModel:
    """The codec with the perception model (FEM + FAM) it was trained between."""

    name: str
    codec: FeatureCodec
    perception: object  # spikesci.models.zoo.Perception
    fam: torch.nn.Module  # the FAM fine-tuned with the decoder (Fig. 7c), or the perception's FAM

    @property
    def checksum(self) -> str:
        return self.codec.sha256

    @property
    def maps(self) -> int:
        """Decoded maps per picture: the cloud FAM's own window (a fine-tuned FAM may read more maps than
        the perception release's FAM; the end side codes every map anyway)."""
        config = getattr(self.fam, "config", None)
        return int(getattr(config, "maps", self.perception.maps))


def _codec_manifest() -> dict:
    import json

    from spikesci.models.zoo import WEIGHTS_DIR

    path = WEIGHTS_DIR / "codec_manifest.json"
    if not path.exists():
        raise SpikeSciError(f"{path}: no codec weights shipped with this installation")
    return json.loads(path.read_text())


_REGISTERED: dict[str, SciModel] = {}


def register_model(sm: SciModel) -> None:
    """Make an in-memory model available by name (tests, benchmarks of unshipped weights)."""
    _REGISTERED[sm.name] = sm


def make_model(codec: FeatureCodec, perception, name: str = "custom", fam=None) -> SciModel:
    """A SciModel from loaded parts (the codec's checksum must be set, e.g. by FeatureCodec.save/load)."""
    return SciModel(name, codec.eval(), perception, fam if fam is not None else perception.fam)


def load_model(model: str | None = None) -> SciModel:
    """Registered or shipped codec `model` (default "sci", checksum-verified) or a codec .pt path."""
    name = model or DEFAULT_CODEC
    if name in _REGISTERED:
        return _REGISTERED[name]
    return _load_model(name)




@lru_cache(maxsize=4)
def _load_model(name: str) -> SciModel:
    from spikesci.models.zoo import WEIGHTS_DIR, load_perception, sha256_file

    if name in CONVENTIONAL:  # CAAS via x265 / SVT-AV1: the release-3 FEM's maps, its own FAM in the cloud
        from spikesci.models.codec.conventional import sci_model

        return sci_model(name)
    path = Path(name)
    if path.suffix == ".pt" and path.exists():
        codec = FeatureCodec.load(path)
        name = path.stem
    else:
        entry = _codec_manifest().get("models", {}).get(name)
        if entry is None:
            raise ModelMismatchError(f"unknown codec model '{name}' (this spikesci ships: "
                                     f"{', '.join(_codec_manifest().get('models', {})) or 'none'})")
        if is_conventional(entry):  # e.g. "x265-r3": x265 on that FEM
            from spikesci.models.codec.conventional import sci_model

            return sci_model(entry.get("video", "x265"), entry.get("fem_sha256"))
        path = WEIGHTS_DIR / entry["file"]
        if not path.exists() or sha256_file(path) != entry["sha256"]:
            raise ModelMismatchError(f"{path}: codec weights are missing or do not match the manifest")
        codec = FeatureCodec.load(path)
    pname = codec.meta.get("perception", "perception")
    perception = load_perception(pname)
    want = codec.meta.get("fem_sha256")
    if want:
        from spikesci.models.zoo import read_manifest

        entry = read_manifest().get("models", {}).get(pname, {})
        got = entry.get("sha256", {}).get(entry.get("files", {}).get("fem", ""), "")
        if got != want:
            raise ModelMismatchError(
                f"codec '{name}' was trained on FEM weights {want[:12]}..., but the installed '{pname}' FEM "
                f"is {got[:12]}...: retrain the codec (spikesci train --stage codec) or install matching "
                "weights")
    return SciModel(name, codec, perception, _coded_fam(name, codec, perception))


def is_conventional(entry: dict) -> bool:
    """Whether a codec manifest entry is an x265 / SVT-AV1 feature codec (no learned weights of its own)."""
    return str(entry.get("kind", "")).startswith("conventional")


@lru_cache(maxsize=4)
def _conventional_model(name: str, fem_sha256: str) -> SciModel:
    """The x265 / SVT-AV1 model for a stream made on FEM `fem_sha256`: the one `encode` uses (cached by
    load_model) when that is the stream's FEM, else the earlier release that FEM belongs to."""
    from spikesci.models.codec.conventional import sci_model

    current = load_model(name)
    if (current.perception.fem_checksum or current.perception.checksum) == fem_sha256:
        return current
    return sci_model(name, fem_sha256)


def _coded_fam(name: str, codec: FeatureCodec, perception) -> torch.nn.Module:
    """The FAM fine-tuned on this codec's decoded maps (stage 3, `spikesci train --stage codec-fam`) when the
    codec manifest lists one for this very codec, else the perception's stage-2 FAM."""
    import copy

    from spikesci.models.zoo import WEIGHTS_DIR, sha256_file

    if "fam_state" in codec.meta:  # a FAM saved inside a codec file (train_codec with fam=...)
        fam = copy.deepcopy(perception.fam)
        fam.load_state_dict(codec.meta["fam_state"])
        return fam.eval()
    entry = _codec_manifest().get("models", {}).get(name, {}) if codec.sha256 else {}
    if not entry.get("fam_file") or entry.get("sha256") != codec.sha256:
        return perception.fam
    path = WEIGHTS_DIR / entry["fam_file"]
    if not path.exists() or sha256_file(path) != entry.get("fam_sha256"):
        raise ModelMismatchError(f"{path}: the codec's fine-tuned FAM is missing or does not match "
                                 "the manifest")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    keyed = blob.get("codec_sha256")
    if codec.sha256 not in (keyed if isinstance(keyed, list) else [keyed]):  # one FAM may serve releases
        raise ModelMismatchError(f"{path} was fine-tuned on another codec than '{name}'")
    if "config" in blob:
        from spikesci.models.zoo import fam_from_blob

        fam = fam_from_blob(blob)
    else:
        fam = copy.deepcopy(perception.fam)
        fam.load_state_dict(blob["state"])
    for p in fam.parameters():
        p.requires_grad_(False)
    return fam.eval()


def quality_index(quality: int) -> int:
    if quality not in QUALITIES:
        raise SpikeSciError(f"quality must be one of {QUALITIES} (higher = better and bigger), got {quality}")
    return QUALITIES.index(quality)


def default_gop(model: str | None = None) -> int:
    """Feature maps per GOP when a stream does not say: 32 for the x265 / SVT-AV1 codecs (a feature map's
    intra picture costs several predicted ones), 8 for the learned codec (as trained and measured)."""
    if model in CONVENTIONAL:
        from spikesci.models.codec.conventional import DEFAULT_GOP as CONVENTIONAL_GOP

        return CONVENTIONAL_GOP
    return DEFAULT_GOP


# -- encoding ------------------------------------------------------------------------------------------
def encode_spikes(spikes: np.ndarray, path: str | Path, quality: int = DEFAULT_QUALITY,
                  model: str | None = None, gop: int | None = None, progress: bool = False,
                  frames=None, motion: str = "rdo", account: bool = False) -> dict:
    """Encode a (T, H, W) 0/1 clip into a `.sci` file; GOP by GOP, so memory stays bounded on long clips.

    `frames`: spike frames the feature maps are centred on (increasing, normally `stride` apart); default
    every `stride` frames from the first full window. `motion`: "rdo" (default) codes the cheapest of a few
    motion fields per predicted map, "local" the block-matching field (2.5x faster to encode, more bytes);
    both decode alike. Returns dict(bytes, bpp (8 * bytes / (H * W * T)), seconds, maps, gops, quality,
    ratio_raw, path); with `account`, also bits_by_part: the file's bits split by what they code
    (models/codec/accounting.py; "container" = the file's framing), summing to 8 * bytes.
    """
    qi = quality_index(quality)
    if not hasattr(spikes, "shape") or len(spikes.shape) != 3 or min(spikes.shape) < 1:
        raise SpikeSciError(f"spikes must be a non-empty (frames, height, width) array, got "
                            f"{getattr(spikes, 'shape', None)}")
    gop = default_gop(model) if gop is None else gop
    if not 1 <= gop <= 255:
        raise SpikeSciError("GOP size must be 1..255")
    if motion not in MOTION_MODES:
        raise SpikeSciError(f"motion must be one of {', '.join(MOTION_MODES)}, got '{motion}'")
    sm = load_model(model)
    per = sm.perception
    t_len, h, w = spikes.shape
    if frames is None:
        frames = per.default_frames(t_len)
    frames = np.asarray(frames, dtype=np.int64).ravel()
    if frames.size == 0 or frames.min() < 0 or frames.max() >= t_len or np.any(np.diff(frames) <= 0):
        raise SpikeSciError(f"map frames must be increasing and lie in 0..{t_len - 1}")
    header = {
        "format": "sci", "height": int(h), "width": int(w), "frames": int(t_len), "window": per.window,
        "lookback": per.lookback, "stride": per.stride, "quality": int(quality), "model": sm.name,
        "codec_sha256": sm.checksum, "fem_sha256": per.fem_checksum or per.checksum,
        "gop": int(gop),
        "maps": int(len(frames)), "map_frames": [int(f) for f in frames],
        "channels": sm.codec.config.in_channels, "motion": motion,
    }
    from spikesci.reconstruct.exposure import auto_white_rate

    # the clip's exposure, so `decode --white-rate auto` shows a dim recording as bright as `reconstruct`
    header["white_rate"] = round(auto_white_rate(spikes), 6)
    t0 = time.time()
    path = Path(path)
    parts: dict[str, int] = {}
    end_side = {} if hasattr(sm.codec, "intra") else {"decoded": False}  # x265: no reference loop to run
    from spikesci.progress import map_ticks, progress_bar

    with ContainerWriter(path, MAGIC, VERSION, header, deflate_header=True,
                         header_dict=HEADER_DICTS[VERSION]) as writer, \
            progress_bar(len(frames), "encode", "map", enabled=progress) as bar, \
            map_ticks(sm.codec, motion, bar.update):
        for a in range(0, len(frames), gop):
            feats, _ = per.extract(spikes, frames[a:a + gop])
            if not account:
                payload, _ = sm.codec.compress(feats, qi, flows=False, motion=motion,  # FMVR: cloud side
                                               **end_side)
            else:
                from spikesci.models.codec.accounting import compress_accounted

                payload, bits = compress_accounted(sm.codec, feats, qi, motion)
                for part, b in bits.items():
                    parts[part] = parts.get(part, 0) + b
            writer.write_chunk(payload)
            if not hasattr(sm.codec, "intra"):  # a conventional codec: no per-map hooks for map_ticks
                bar.update(feats.shape[0])
    seconds = time.time() - t0
    size = path.stat().st_size
    out = {"path": str(path), "bytes": size, "bpp": 8.0 * size / (h * w * t_len), "seconds": seconds,
           "maps": len(frames), "gops": -(-len(frames) // gop), "quality": quality,
           "ratio_raw": (h * w * t_len / 8.0) / size, "frames": t_len, "height": h, "width": w}
    if account:
        out["bits_by_part"] = {**parts, "container": 8 * size - sum(parts.values())}
    return out


def encode_file(src: str | Path, dst: str | Path, quality: int = DEFAULT_QUALITY, height: int = 250,
                width: int = 400, model: str | None = None, progress: bool = False,
                gop: int | None = None, motion: str = "rdo", cover: str = "windows",
                at: int | None = None) -> dict:
    """`.dat` / `.npz` spike file -> `.sci`. `cover`: "windows" places maps only where their whole window of
    spike frames lies inside the clip (the default, the measured rate points); "clip" covers every frame
    (`map_frames`), at the cost of a map or two more and mirrored windows at the ends. `at`: shift the
    map grid so that one map lies on this spike frame (`aligned_frames`)."""
    from spikesci.io.spikes import read_spikes

    if cover not in COVERS:
        raise SpikeSciError(f"cover must be one of {', '.join(COVERS)}, got {cover!r}")
    spikes = read_spikes(src, height=height, width=width)
    if spikes.shape[0] == 0:
        raise SpikeSciError(f"{src}: holds no frames (an empty spike file)")
    frames, length = None, spikes.shape[0]
    if at is not None:
        per = load_model(model).perception
        first, last = (0, length - 1) if cover == "clip" else (per.lookback, length - 1 - per.lookahead)
        frames = aligned_frames(length, per.stride, at, first, last)
    elif cover == "clip":
        frames = map_frames(length, load_model(model).perception.stride)
    return encode_spikes(spikes, dst, quality, model=model, progress=progress, gop=gop, motion=motion,
                         frames=frames)


# -- decoding ------------------------------------------------------------------------------------------
def _model_for(header: dict, model: str | None) -> SciModel:
    if model is None and header.get("model") in CONVENTIONAL and header.get("fem_sha256"):
        sm = _conventional_model(header["model"], str(header["fem_sha256"]))  # the FEM release it names
    else:
        sm = load_model(model or _shipped_name(header["codec_sha256"]) or header["model"])
    if sm.checksum != header["codec_sha256"]:
        raise ModelMismatchError(
            f"stream was made by codec weights {header['codec_sha256'][:12]}... (model '{header['model']}'), "
            f"but the available '{sm.name}' weights are {sm.checksum[:12]}...: decode with the same weights")
    if not _same_fem(header, sm.perception):
        made = str(header.get("fem_sha256") or header.get("perception_sha256"))
        have = sm.perception.fem_checksum or sm.perception.checksum
        raise ModelMismatchError(f"stream's features come from FEM weights {made[:12]}..., the installed "
                                 f"ones are {have[:12]}...: decode with the same FEM weights")
    if header["channels"] != sm.codec.config.in_channels:
        raise ModelMismatchError("stream has a different number of feature channels than the codec")
    return sm


def _shipped_name(codec_sha256: str) -> str | None:
    """The shipped codec model with these weights, if any: a stream names the codec's checksum, so one made
    by an earlier release ('sci' then, e.g. 'sci-r1' now) still finds its weights after 'sci' moves on."""
    try:
        models = _codec_manifest().get("models", {})
    except SpikeSciError:
        return None
    return next((name for name, entry in models.items() if entry.get("sha256") == codec_sha256
                 and (name in CONVENTIONAL or not is_conventional(entry))),
                None)  # "x265-r3" (an earlier FEM's x265 entry) is reached through the stream's FEM instead


def _same_fem(header: dict, perception) -> bool:
    """Whether a stream's features came from the installed FEM. The FAM (cloud side) never touches the coded
    maps, so a new FAM must not orphan old streams: streams name their FEM (`fem_sha256`); streams written
    before that name FEM + FAM together, accepted when that pair is the installed one or an earlier release
    with the same FEM (the manifest's `compatible_checksums`)."""
    if header.get("fem_sha256"):
        return header["fem_sha256"] == (perception.fem_checksum or perception.checksum)
    made = str(header.get("perception_sha256"))
    if made == perception.checksum:
        return True
    from spikesci.models.zoo import read_manifest

    entry = read_manifest().get("models", {}).get(perception.name, {})
    return made in entry.get("compatible_checksums", [])


def iter_decode(path: str | Path, model: str | None = None
                ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield (first map index, features (n, C, h, w), refined flows (n-1, 2, h, w)) per GOP, exact float64."""
    with open_stream(path) as reader:
        hd = read_header(reader)
        sm = _model_for(hd, model)
        total, gop = hd["maps"], hd["gop"]
        if reader.num_chunks != -(-total // gop):
            raise ContainerError(f"{Path(path).name}: {reader.num_chunks} chunks for {total} maps "
                                 f"of GOP {gop} (damaged or truncated)")
        s = sm.perception.scale
        fh, fw = -(-hd["height"] // s), -(-hd["width"] // s)
        for i, payload in enumerate(reader.iter_chunks()):
            out = sm.codec.decompress(payload, expect=(min(gop, total - i * gop), fh, fw))
            x_hat = out["x_hat"]
            if out["quality"] != quality_index(hd["quality"]):
                raise ContainerError(f"{Path(path).name}: chunk {i} quality does not match the header")
            yield i * gop, x_hat, out["flows"]


@dataclass
class SciResult:
    """Decoded stream: images (N, H, W) float32 [0, 1] at spike frames `frames`; features, flows, header."""

    images: np.ndarray | None
    frames: np.ndarray
    features: np.ndarray
    flows: np.ndarray
    header: dict
    outputs: dict = field(default_factory=dict)


TaskFn = Callable[[SciModel, torch.Tensor, list, dict], dict]
TASKS: dict[str, TaskFn] = {}


def register_task(name: str, fn: TaskFn) -> None:
    """Add a task: fn(model, features (N, C, h, w), flows (N-1 entries, None where not coded), header)."""
    TASKS[name] = fn


def decode_features(path: str | Path, model: str | None = None) -> tuple[SciModel, dict, torch.Tensor, list]:
    """All decoded maps and per-pair flows (None across GOP boundaries)."""
    with open_stream(path) as reader:
        hd = read_header(reader)
    sm = _model_for(hd, model)
    feats, flows = [], []
    for start, x_hat, fl in iter_decode(path, model):
        if start > 0:
            flows.append(None)
        feats.append(x_hat)
        flows.extend(fl[k] for k in range(fl.shape[0]))
    c = hd["channels"]
    features = torch.cat(feats) if feats else torch.zeros(0, c, 1, 1, dtype=torch.float64)
    return sm, hd, features, flows


def decode_file(path: str | Path, task: str = "reconstruct", model: str | None = None,
                flows: str = "codec", progress: bool = False, options: dict | None = None,
                precision: str = "float32") -> SciResult:
    """Decode a `.sci` file and run `task` on the decoded features (see TASKS).

    flows: "codec" hands the decoded, FMVR-refined motion to the task (the paper's design); "fam" lets the
    FAM estimate motion on the decoded features itself (for comparison). `progress`: a per-map bar with
    ETA on stderr for the pictures; `options`: task options (classify: {"model": head name}) handed to the
    task in the header under "task_options"; `precision` of the pictures' FAM (sci_pictures.PRECISIONS)."""
    if task not in TASKS:
        raise SpikeSciError(f"unknown task '{task}' (available: {', '.join(sorted(TASKS))})")
    if flows not in ("codec", "fam"):
        raise SpikeSciError(f"flows must be 'codec' or 'fam', got {flows!r}")
    sm, hd, features, coded = decode_features(path, model)
    task_flows = coded if flows == "codec" else [None] * len(coded)
    if task == "reconstruct":
        outputs = {"images": reconstruct_maps(sm, features, task_flows, hd, progress=progress,
                                              precision=precision)}
    else:
        outputs = TASKS[task](sm, features, task_flows, dict(hd, task_options=dict(options or {})))
    flows = coded
    flow_arr = np.stack([np.zeros((2, *features.shape[-2:]), np.float32) if f is None else f.float().numpy()
                         for f in flows]) if flows else np.zeros((0, 2, *features.shape[-2:]), np.float32)
    return SciResult(outputs.pop("images", None), np.asarray(hd["map_frames"], dtype=np.int64),
                     features.float().numpy(), flow_arr, hd, outputs)


from spikesci.sci_pictures import (  # noqa: E402, F401 - part of this facade; they import it lazily
    PRECISIONS,
    iter_images,
    reconstruct_maps,
)


def _reconstruct(sm: SciModel, features: torch.Tensor, flows: list, header: dict) -> dict:
    return {"images": reconstruct_maps(sm, features, flows, header)}


register_task("reconstruct", _reconstruct)


def _classify(sm: SciModel, features: torch.Tensor, flows: list, header: dict) -> dict:
    """`decode --task classify`: the classification head on the decoded features (no images rebuilt)."""
    from spikesci.tasks.classify import decode_task

    return decode_task(features, header, header.get("task_options", {}).get("model"))


register_task("classify", _classify)
