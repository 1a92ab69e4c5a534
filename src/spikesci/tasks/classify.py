"""Classify a spike clip, or a decoded feature sequence, with a shipped head (`--model NAME`).

Heads live in spikesci/weights/classify_<name>.pt (listed with their checksums in classify_manifest.json):
s-digits, s-animals and s-natural run on FEM features; the `-tfp` variants are the single-TFP-image
baselines. A clip is cut to the frames the head was trained on (centred) and its features are resized to the
trained feature size when the clip's size differs (a 250x250 recording is read as the 64x64 canvas would be).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spikesci.errors import ModelMismatchError, SpikeFileError, SpikeSciError
from spikesci.models.classify import ClassifyHead, head_from_state

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
MANIFEST = WEIGHTS / "classify_manifest.json"
DEFAULT_MODEL = "s-digits"


def available_models() -> list[str]:
    """Names of the shipped heads (from the manifest, else from the files present)."""
    if MANIFEST.is_file():
        return sorted(json.loads(MANIFEST.read_text())["models"])
    return sorted(p.stem.removeprefix("classify_") for p in WEIGHTS.glob("classify_*.pt"))


def _model_path(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".pt" and path.is_file():  # a checkpoint trained by the user
        return path
    candidate = WEIGHTS / f"classify_{name.lower()}.pt"
    if not candidate.is_file():
        known = ", ".join(available_models()) or "none shipped"
        raise SpikeSciError(f"unknown classification model '{name}' (known: {known}; or a .pt checkpoint)")
    return candidate


@dataclass
class Classifier:
    """A loaded head with what it needs to read a clip: class names, clip and feature shapes, its source."""

    name: str
    head: ClassifyHead
    meta: dict
    sha256: str

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def frames(self) -> int:
        return int(self.meta["clip_shape"][0])

    @torch.no_grad()
    def predict_features(self, features) -> tuple[int, np.ndarray]:
        """(label, probabilities) from a feature sequence (N, C, h, w) (or (C, h, w), or a batch of one)."""
        x = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features).float()
        if x.ndim == 3:
            x = x[None]
        if x.ndim == 5:
            if x.shape[0] != 1:
                raise SpikeSciError(f"expected one feature sequence, got a batch of {x.shape[0]}")
            x = x[0]
        if x.ndim != 4:
            raise SpikeSciError(f"features must be (N, C, h, w), got shape {tuple(x.shape)}")
        want_c, want_h, want_w = self.meta["feature_shape"][1:]
        if x.shape[1] != want_c:
            raise ModelMismatchError(
                f"features have {x.shape[1]} channels but model '{self.name}' expects {want_c} "
                f"(made by another feature extractor?)"
            )
        x = _fit_size(x, want_h, want_w)
        probs = torch.softmax(self.head(x[None]), dim=1)[0].numpy().astype(np.float64)
        return int(probs.argmax()), probs

    def predict(self, spikes: np.ndarray) -> tuple[int, np.ndarray]:
        """(label, probabilities) of a clip (T, H, W) of 0/1 spikes."""
        spikes = np.asarray(spikes)
        if spikes.ndim != 3:
            raise SpikeFileError(f"spikes must be (T, H, W), got shape {spikes.shape}")
        T = self.frames
        if spikes.shape[0] < T:
            raise SpikeFileError(f"clip has {spikes.shape[0]} frames; model '{self.name}' needs at least {T}")
        start = (spikes.shape[0] - T) // 2
        clip = np.ascontiguousarray(spikes[start : start + T], dtype=np.uint8)
        return self.predict_features(_source(self.meta["source"], self.meta.get("source_key"))(clip))


def _fit_size(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Centre-crop to the aspect of (h, w), then resize: features of another canvas size, read as ours."""
    H, W = x.shape[-2:]
    if (H, W) == (h, w):
        return x
    if H * w > W * h:  # too tall
        keep = max(1, round(W * h / w))
        x = x[..., (H - keep) // 2 : (H - keep) // 2 + keep, :]
    elif H * w < W * h:
        keep = max(1, round(H * w / h))
        x = x[..., :, (W - keep) // 2 : (W - keep) // 2 + keep]
    mode = "area" if x.shape[-1] >= w else "bilinear"
    return F.interpolate(x, size=(h, w), mode=mode, **({} if mode == "area" else {"align_corners": False}))


@lru_cache(maxsize=4)
def _source(name: str, key: str | None):
    from spikesci.tasks.features import get_source

    source = get_source(name)
    if key is not None and source.key != key:
        raise ModelMismatchError(
            f"this head was trained on features '{key}' but the installed extractor gives '{source.key}' "
            "(retrain the head or reinstall matching weights)"
        )
    return source


@lru_cache(maxsize=8)
def _load(path: str) -> Classifier:
    """Read a checkpoint; a shipped one must match its SHA-256 in the manifest first."""
    data = Path(path).read_bytes()
    name = Path(path).stem.removeprefix("classify_")
    digest = hashlib.sha256(data).hexdigest()
    if Path(path).parent == WEIGHTS and MANIFEST.is_file():
        want = json.loads(MANIFEST.read_text())["models"].get(name, {}).get("sha256")
        if want != digest:
            raise ModelMismatchError(
                f"{path}: checksum {digest[:12]}... does not match classify_manifest.json "
                f"({str(want)[:12]}...): the file is damaged or from other weights"
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        head = head_from_state(state)
    except Exception as exc:  # noqa: BLE001 - any failure to read a checkpoint is the user's file
        raise SpikeSciError(f"{path}: not a classification checkpoint ({exc})") from None
    return Classifier(name, head, state.get("meta", {}), digest)


def load_classifier(model: str = DEFAULT_MODEL) -> Classifier:
    """A shipped head by name (s-digits, s-animals, s-natural, ...-tfp) or a checkpoint path."""
    return _load(os.fspath(_model_path(model)))


def predict(spikes: np.ndarray, model: str = DEFAULT_MODEL) -> tuple[int, np.ndarray]:
    """(label index, class probabilities) of a spike clip (T, H, W)."""
    return load_classifier(model).predict(spikes)


def classify_features(features, model_name: str = DEFAULT_MODEL) -> tuple[int, np.ndarray]:
    """(label index, class probabilities) from decoded features (N, C, h, w): `decode --task classify`."""
    return load_classifier(model_name).predict_features(features)


LOW_CONFIDENCE = 0.6  # below this top probability an answer is flagged (a 10-class head: chance is 0.1)
ASPECT_TOLERANCE = 0.25  # relative difference of height/width ratio beyond which a clip is out of domain


def assess(probs, classifier: Classifier, feature_hw: tuple[int, int] | None = None) -> dict:
    """How far to trust an answer: `confidence` (top probability), `low_confidence` (below LOW_CONFIDENCE,
    or a clip unlike the head's training clips), and a `warning` that says why, so a head that answers
    confidently on any clip (issue 16) at least says when the clip is not what it was trained on."""
    probs = np.asarray(probs, dtype=np.float64)
    top = np.sort(probs)[::-1]
    reasons = []
    if top[0] < LOW_CONFIDENCE:
        reasons.append(f"top probability {top[0]:.2f} < {LOW_CONFIDENCE}")
    if feature_hw is not None:
        want_h, want_w = classifier.meta["feature_shape"][-2:]
        h, w = feature_hw
        if abs((h / w) / (want_h / want_w) - 1) > ASPECT_TOLERANCE or max(h / want_h, w / want_w) > 4:
            reasons.append(f"clip features are {h}x{w}, the head was trained on {want_h}x{want_w} "
                           f"({classifier.meta.get('dataset', classifier.name)} clips): out of domain")
    out = {"confidence": float(top[0]), "low_confidence": bool(reasons)}
    if reasons:
        out["warning"] = "; ".join(reasons)
    return out


def shipped_heads(family: str, fem_key: str, codec: str | None = None) -> tuple[str | None, str | None]:
    """(stage-2 head, stage-3 head fine-tuned through `codec`) of data set `family` (s-animals, or a variant
    such as s-animals-r3) among the shipped heads trained on the FEM `fem_key` ('fem-<sha256[:12]>');
    None where none is shipped. The shortest name wins: s-animals before s-animals-r3."""
    models = json.loads(MANIFEST.read_text())["models"] if MANIFEST.is_file() else {}
    same_fem = sorted((n for n, e in models.items() if (n == family or n.startswith(f"{family}-"))
                       and e.get("source_key") == fem_key), key=len)
    stage2 = next((n for n in same_fem if not models[n].get("codec")), None)
    stage3 = next((n for n in same_fem if codec and models[n].get("codec") == codec), None)
    return stage2, stage3


def head_for_stream(name: str, header: dict | None = None) -> str:
    """The shipped head of data set family `name` that reads a `.sci` stream best: one trained on the stream's
    FEM (its `fem_sha256`), fine-tuned through the stream's codec when shipped. The learned codec carries
    release-2 maps, the x265 codec release-3 maps, so the head must follow the stream, not the name alone.
    A .pt path, or a stream without an FEM checksum, keeps the old rule: NAME-coded when shipped, else
    NAME."""
    if name.endswith(".pt"):
        return name
    header = header or {}
    if header.get("fem_sha256"):
        stage2, stage3 = shipped_heads(name, f"fem-{str(header['fem_sha256'])[:12]}", header.get("model"))
        if stage3 or stage2:
            return stage3 or stage2
    if not name.endswith("-coded") and f"{name}-coded" in available_models():
        return f"{name}-coded"  # the head fine-tuned on decoded features (stage 3) reads them best
    return name


def decode_task(features, header: dict | None = None, model_name: str | None = None) -> dict:
    """`spikesci decode IN.sci --task classify`: a dict the decoder can print or write as JSON.

    For spikesci.sci.register_task("classify", lambda sm, f, flows, hd: decode_task(f, hd)).
    """
    name = head_for_stream(model_name or (header or {}).get("classify_model") or DEFAULT_MODEL, header)
    classifier = load_classifier(name)
    label, probs = classifier.predict_features(features)
    return {
        "label": label,
        "label_name": classifier.class_names[label],
        "probabilities": [float(p) for p in probs],
        "classes": classifier.class_names,
        "model": classifier.name,
        **assess(probs, classifier, tuple(np.asarray(features.shape[-2:]).tolist())),
    }
