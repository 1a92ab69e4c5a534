"""Stage 2 for classification (paper Fig. 7b): train the FAM head with cross-entropy, FEM frozen.

The frozen source's features of the whole data set are computed once (cached beside the data), so each
epoch only runs the small head: minutes on one CPU thread. The best epoch on the validation split is kept.
Stage 3 (fine-tuning on decoded features, Fig. 7c) reuses `fit` on features that went through the codec.

    python -m spikesci.train.classify_stage --dataset s-digits --source fem --out classify_s-digits.pt
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spikesci.models.classify import ClassifyHead, HeadConfig, head_state


@dataclass(frozen=True)
class ClassifyTrainConfig:
    dataset: str = "s-digits"
    source: str = "fem"  # fem | tfp41 (the single-image baseline) | tfpWxN
    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    width: int = 16
    noise: float = 0.1  # Gaussian noise on normalised features: robustness to coding distortion
    seed: int = 0
    threads: int = 1
    cache: str | None = None
    codec: str | None = None  # stage 3: fine-tune on features decoded by this codec model ("sci")
    init: str | None = None  # stage 3: the stage-2 checkpoint to start from
    coded: str = "mix"  # stage 3: "mix" = each clip at one quality (i mod Q); "all" = at every quality
    exact_features: int = 0  # stage 3: 1 = code float32 maps as `encode` does (not the float16 feature cache)
    stem: int = 0  # stride of the head's first layer; 0 = 2 for maps wider than 48 px, else 1


def train_step(
    head: ClassifyHead,
    optimizer: torch.optim.Optimizer,
    features: torch.Tensor,
    labels: torch.Tensor,
    noise: float = 0.0,
) -> float:
    """One cross-entropy step; returns the loss before the update."""
    head.train()
    x = features.float()
    if noise > 0:
        x = x + noise * head.std.view(1, 1, -1, 1, 1) * torch.randn_like(x)
    loss = F.cross_entropy(head(x), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def predict_logits(head: ClassifyHead, features: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    head.eval()
    return torch.cat(
        [head(features[i : i + batch_size].float()) for i in range(0, len(features), batch_size)]
    )


def fit(
    head: ClassifyHead,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: ClassifyTrainConfig,
    progress: bool = True,
    log=None,
) -> dict:
    """Train `head` in place (AdamW, cosine schedule), keep the best validation epoch; returns the history."""
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * max(1, -(-len(train[0]) // cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    best, best_state, history = -1.0, None, []
    bar = tqdm(range(cfg.epochs), desc="classify head", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        order = torch.randperm(len(train[0]), generator=gen)
        losses = []
        for a in range(0, len(order), cfg.batch_size):
            idx = order[a : a + cfg.batch_size]
            losses.append(train_step(head, opt, train[0][idx], train[1][idx], cfg.noise))
            sched.step()
        val_acc = float((predict_logits(head, val[0]).argmax(1) == val[1]).float().mean())
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_accuracy": val_acc})
        if log is not None:
            log.write(json.dumps(history[-1]) + "\n")
            log.flush()
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", val=f"{val_acc:.3f}")
        if val_acc > best:
            best, best_state = val_acc, copy.deepcopy(head.state_dict())
    if best_state is not None:
        head.load_state_dict(best_state)
    head.eval()
    return {"best_val_accuracy": best, "history": history}


def split_features(dataset: str, split: str, source, cache=None, progress: bool = True):
    """(features, labels) of a split, features from the (cached) frozen source."""
    from spikesci.data.classify import load_dataset
    from spikesci.tasks.features import compute_features

    ds = load_dataset(dataset, split, cache=cache, progress=progress)
    feats = compute_features(ds, source, getattr(ds, "folder", None), progress=progress)
    return ds, feats, torch.as_tensor(ds.labels)


def decoded_features(
    feats: torch.Tensor, codec, quality: int, progress: bool = True
) -> tuple[torch.Tensor, int]:
    """Each clip's maps through the real codec at quality index `quality` (one GOP per clip): the decoded
    maps (what the cloud sees; compress() returns the decoder's exact result) and the payload bytes."""
    from tqdm import tqdm

    out = torch.empty_like(feats)
    total = 0
    for i in tqdm(
        range(len(feats)), desc=f"codec q{quality}", unit="clip", disable=not progress, leave=False
    ):
        payload, res = codec.compress(feats[i].float(), quality)
        out[i] = res["x_hat"].to(out.dtype)
        total += len(payload)
    return out, total


def _coded_mix(feats: torch.Tensor, codec, progress: bool) -> torch.Tensor:
    """Clip i decoded at quality index i mod Q (Q = the codec's qualities). Not cached on purpose: decoded
    features depend on the codec's code as well as its weights, and a stale cache silently misleads."""
    out = torch.empty_like(feats)
    q_of = torch.arange(len(feats)) % codec.levels
    for q in range(codec.levels):
        idx = torch.nonzero(q_of == q).flatten()
        out[idx] = decoded_features(feats[idx], codec, q, progress)[0]
    return out


def _coded_all(feats: torch.Tensor, codec, progress: bool) -> torch.Tensor:
    """Every clip decoded at every quality, concatenated quality by quality (Q times the clips)."""
    return torch.cat([decoded_features(feats, codec, q, progress)[0] for q in range(codec.levels)])


def finetune_through_codec(cfg: ClassifyTrainConfig, progress: bool = True, log=None):
    """Stage 3 (Fig. 7c): the stage-2 head fine-tuned on raw features plus decoded ones (every quality).

    The FEM and the encoder stay frozen; the decoder is fixed too (its integer paths make decoding exact),
    so only the head adapts to coding distortion. Returns the head and checkpoint metadata.
    """
    from spikesci import sci
    from spikesci.models.classify import head_from_state
    from spikesci.tasks.features import get_source

    if not cfg.init:
        raise ValueError("stage 3 needs --init, the stage-2 checkpoint")
    torch.manual_seed(cfg.seed)
    start = time.time()
    state = torch.load(cfg.init, map_location="cpu", weights_only=True)
    head, meta2 = head_from_state(state), state["meta"]
    model = sci.load_model(cfg.codec)
    source = get_source(cfg.source)
    from spikesci.tasks.features import _perception_key

    if f"fem-{_perception_key(model.perception)}" != source.key:
        raise ValueError("the codec was trained on another FEM than the head's features")
    ds, xtr, ytr = split_features(cfg.dataset, "train", source, cfg.cache, progress)
    val_ds, xva, yva = split_features(cfg.dataset, "val", source, cfg.cache, progress)
    if cfg.coded not in ("mix", "all"):
        raise ValueError(f"coded must be 'mix' or 'all', got {cfg.coded!r}")
    if cfg.exact_features:  # code what `spikesci encode` codes: float32 maps, not the float16 cache
        from spikesci.tasks.features import compute_features

        xtr_c = compute_features(ds, source, None, progress, dtype=torch.float32)
        xva_c = compute_features(val_ds, source, None, progress, dtype=torch.float32)
        cast = torch.float32  # decoded maps sit on a 2^-10 grid that float16 cannot hold
    else:  # the first release's recipe (kept so that its commands reproduce the shipped heads)
        xtr_c, xva_c, cast = xtr, xva, xtr.dtype
    if cfg.coded == "all":  # every rate for every clip: the lowest rates get as many examples as raw
        q = model.codec.levels
        x_all = torch.cat([xtr.to(cast), _coded_all(xtr_c, model.codec, progress).to(cast)])
        y_all = ytr.repeat(q + 1)
        xv_all, yv_all = _coded_all(xva_c, model.codec, progress), yva.repeat(q)
    else:  # every clip through the codec once, at quality (index mod qualities): all rates, less time
        x_all = torch.cat([xtr.to(cast), _coded_mix(xtr_c, model.codec, progress).to(cast)])
        y_all = torch.cat([ytr, ytr])
        xv_all, yv_all = _coded_mix(xva_c, model.codec, progress), yva
    result = fit(head, (x_all, y_all), (xv_all, yv_all), cfg, progress, log)
    _, xte, yte = split_features(cfg.dataset, "test", source, cfg.cache, progress)
    meta = dict(meta2)
    meta["test_accuracy"] = float((predict_logits(head, xte).argmax(1) == yte).float().mean())
    meta.update(
        {
            "stage": 3,
            "codec": model.name,
            "codec_sha256": model.checksum,
            "train_config": asdict(cfg),
            "best_val_accuracy": result["best_val_accuracy"],
            "stage2_val_accuracy": meta2["best_val_accuracy"],
            "wall_seconds": round(time.time() - start, 1),
            "history": result["history"],
        }
    )
    return head, meta


def train_classifier(cfg: ClassifyTrainConfig, progress: bool = True, log=None) -> tuple[ClassifyHead, dict]:
    """Stage 2 end to end: data -> frozen features -> head. Returns the head and checkpoint metadata."""
    from spikesci.tasks.features import get_source

    torch.manual_seed(cfg.seed)
    start = time.time()
    source = get_source(cfg.source)
    train_ds, xtr, ytr = split_features(cfg.dataset, "train", source, cfg.cache, progress)
    _, xva, yva = split_features(cfg.dataset, "val", source, cfg.cache, progress)
    _, xte, yte = split_features(cfg.dataset, "test", source, cfg.cache, progress)
    features_s = time.time() - start
    stem = cfg.stem or (2 if min(xtr.shape[-2:]) > 48 else 1)  # spatial layers at <= 32x32 by default
    head = ClassifyHead(
        HeadConfig(
            in_channels=xtr.shape[2], num_classes=train_ds.num_classes, width=cfg.width, stem_stride=stem
        )
    )
    head.set_normalisation(xtr)
    result = fit(head, (xtr, ytr), (xva, yva), cfg, progress, log)
    test_acc = float((predict_logits(head, xte).argmax(1) == yte).float().mean())
    meta = {
        "dataset": train_ds.name,
        "class_names": train_ds.class_names,
        "clip_shape": list(train_ds.shape),
        "feature_shape": list(xtr.shape[1:]),
        "source": cfg.source,
        "source_key": source.key,
        "train_config": asdict(cfg),
        "best_val_accuracy": result["best_val_accuracy"],
        "test_accuracy": test_acc,
        "stage": 2,
        "features_seconds": round(features_s, 1),
        "wall_seconds": round(time.time() - start, 1),
        "history": result["history"],
    }
    return head, meta


def update_manifest(checkpoint: str | Path, meta: dict) -> Path:
    """Record a shipped head in classify_manifest.json beside it: file, SHA-256, command, seed, data."""
    import hashlib

    import torch as _torch

    checkpoint = Path(checkpoint)
    manifest = checkpoint.parent / "classify_manifest.json"
    data = json.loads(manifest.read_text()) if manifest.is_file() else {"models": {}}
    name = checkpoint.stem.removeprefix("classify_")
    cfg = meta["train_config"]
    data["models"][name] = {
        "file": checkpoint.name,
        "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
        "bytes": checkpoint.stat().st_size,
        "command": meta.get("command"),
        "seed": cfg["seed"],
        "data": f"{meta['dataset']} (spikesci.data.classify, generated; clips {meta['clip_shape']})",
        "source": meta["source"],
        "source_key": meta["source_key"],
        "epochs": cfg["epochs"],
        "stage": meta.get("stage", 2),
        "codec": meta.get("codec"),
        "val_accuracy": round(meta["best_val_accuracy"], 4),
        "test_accuracy": round(meta["test_accuracy"], 4),
        "wall_seconds": meta["wall_seconds"],
        "threads": cfg["threads"],
        "torch": _torch.__version__,
    }
    data["models"] = dict(sorted(data["models"].items()))
    manifest.write_text(json.dumps(data, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spikesci.train.classify_stage", description=__doc__)
    defaults = ClassifyTrainConfig()
    for name, value in asdict(defaults).items():
        kind = type(value) if value is not None else str
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=value)
    parser.add_argument("--out", required=True, help="checkpoint path (.pt)")
    parser.add_argument("--log", help="JSON-lines log of the epochs")
    parser.add_argument(
        "--manifest", action="store_true", help="record the checkpoint in classify_manifest.json"
    )
    args = vars(parser.parse_args(argv))
    out, log_path, manifest = args.pop("out"), args.pop("log"), args.pop("manifest")
    cfg = ClassifyTrainConfig(**args)
    torch.set_num_threads(cfg.threads)
    log = open(log_path, "a") if log_path else None  # noqa: SIM115 - closed below
    try:
        if cfg.codec:
            head, meta = finetune_through_codec(cfg, progress=True, log=log)
        else:
            head, meta = train_classifier(cfg, progress=True, log=log)
    finally:
        if log:
            log.close()
    meta["command"] = "python -m spikesci.train.classify_stage " + " ".join(argv or sys.argv[1:])
    torch.save({**head_state(head), "meta": meta}, out)
    if manifest:
        update_manifest(out, meta)
    print(json.dumps({k: v for k, v in meta.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
