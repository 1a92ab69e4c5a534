"""Classification under compression (paper Tables VI-VIII): accuracy on raw spikes and after the codec.

For each data set, on its test split: accuracy of the FEM head on raw spikes (no codec), of the TFP-image
baseline head, and, when the codec is installed (spikesci.sci: the learned one, or `codec_model="x265"`, the
release-3 features through x265), accuracy after a real encode/decode at every quality with the real coded
size (bpp = 8 x bytes / (H x W x frames)), the bit saving against raw spikes (1 bpp) and the accuracy drop.
Also the per-class precision / recall / F1 report and a confusion-matrix picture of the raw-spike head.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spikesci.errors import SpikeSciError


def codec_available() -> bool:
    try:
        return importlib.util.find_spec("spikesci.sci") is not None
    except (ImportError, ValueError):
        return False


def _codec_status(codec: str | None = None) -> str | None:
    """None when the codec `codec` (default: the learned one) and its weights are installed, else why not."""
    if not codec_available():
        return "not available (spikesci.sci missing): raw-spike accuracy only"
    from spikesci import sci

    try:
        require = getattr(sci.load_model(codec).codec, "require", None)
        if require is not None:  # the x265 codec: is the encoder in this FFmpeg build?
            require()
    except SpikeSciError as exc:
        return f"not available ({exc}): raw-spike accuracy only"
    return None


def codec_heads(dataset: str, codec: str | None = None) -> tuple[str, str | None]:
    """(stage-2 head, stage-3 head or None) for `dataset` through `codec`: the heads trained on that codec's
    FEM (release 2 for the learned codec, release 3 for x265); the data set's own names when none match."""
    from spikesci.tasks.classify import available_models, shipped_heads

    try:
        from spikesci import sci
        from spikesci.tasks.features import _perception_key

        sm = sci.load_model(codec)
        stage2, stage3 = shipped_heads(dataset, f"fem-{_perception_key(sm.perception)}", sm.name)
    except (ImportError, SpikeSciError):
        stage2 = stage3 = None
    if stage2 is None:
        stage2 = dataset
        stage3 = f"{dataset}-coded" if f"{dataset}-coded" in available_models() else None
    return stage2, stage3


def _heads(dataset: str, main_name: str | None = None):
    from spikesci.tasks.classify import load_classifier

    main = load_classifier(main_name or dataset)
    try:
        base = load_classifier(f"{dataset}-tfp")
    except SpikeSciError:
        base = None
    return main, base


def _batch_predict(classifier, feats: torch.Tensor) -> np.ndarray:
    from spikesci.train.classify_stage import predict_logits

    return torch.softmax(predict_logits(classifier.head, feats), 1).numpy()


def class_report(labels: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    """Per-class precision, recall, F1 and support (sklearn), plus overall accuracy."""
    from sklearn.metrics import precision_recall_fscore_support

    k = np.arange(len(names))
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=k, zero_division=0)
    rows = [
        {"class": n, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, n in enumerate(names)
    ]
    return {"classes": rows, "accuracy": float(np.mean(labels == pred))}


def save_confusion(labels: np.ndarray, pred: np.ndarray, names: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(labels, pred, labels=np.arange(len(names)))
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > cm.max() / 2 else "black"
        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def coded_points(dataset, heads: dict, limit: int, qualities=None, progress: bool = True,
                 codec: str | None = None) -> list[dict]:
    """Encode each test clip at each quality with the real codec into a `.sci` file, decode the file to
    features and classify them with every head in `heads` (name -> Classifier); bpp from the file sizes."""
    from tqdm import tqdm

    from spikesci import sci

    qualities = list(qualities if qualities is not None else sci.QUALITIES)
    n = min(limit, len(dataset))
    frames = next(iter(heads.values())).frames
    points = []
    with tempfile.TemporaryDirectory(prefix="spikesci-cls-") as tmp:
        path = Path(tmp) / "clip.sci"
        for q in qualities:
            correct = dict.fromkeys(heads, 0)
            total_bytes, payload_bytes, pixels, start = 0, 0, 0, time.time()
            for i in tqdm(range(n), desc=f"quality {q}", unit="clip", disable=not progress, leave=False):
                spikes, label = dataset[i]
                clip = _centre(spikes, frames)
                path.unlink(missing_ok=True)
                stats = sci.encode_spikes(clip, path, q, model=codec)
                total_bytes += int(stats["bytes"])
                payload_bytes += _payload_bytes(path)
                pixels += clip.size
                _, _, features, _ = sci.decode_features(path)
                for key, head in heads.items():
                    correct[key] += int(head.predict_features(features)[0] == label)
            point = {"quality": q, "bpp": 8.0 * total_bytes / pixels, "samples": n}
            point["bpp_payload"] = 8.0 * payload_bytes / pixels  # without the fixed per-file header
            point.update({f"accuracy_{k}": c / n for k, c in correct.items()})
            point["seconds_per_clip"] = round((time.time() - start) / n, 3)
            points.append(point)
    return points


def _payload_bytes(path: Path) -> int:
    """Bytes of the coded feature chunks in a `.sci` file (its size minus the container's header)."""
    from spikesci import sci

    with sci.open_stream(path) as reader:
        return sum(len(reader.read_chunk(i)) for i in range(reader.num_chunks))


def _centre(spikes: np.ndarray, frames: int) -> np.ndarray:
    start = max(0, (spikes.shape[0] - frames) // 2)
    return np.ascontiguousarray(spikes[start : start + frames])


def evaluate_dataset(
    name: str,
    out_dir: Path | None = None,
    limit: int | None = None,
    codec: bool = True,
    qualities=None,
    cache=None,
    progress: bool = True,
    coded_limit: int | None = None,
    model: str | None = None,
    codec_model: str | None = None,
) -> dict:
    """Every number of the classification benchmark for one data set (see the module docstring)."""
    from spikesci.data.classify import load_dataset
    from spikesci.tasks.classify import load_classifier
    from spikesci.tasks.features import compute_features

    test = load_dataset(name, "test", cache=cache, progress=progress)
    n = len(test) if limit is None else min(limit, len(test))
    labels = test.labels[:n]
    if model:  # the user's head (a data set folder of .npz clips names one)
        from spikesci.tasks.classify import available_models

        stage2, stage3 = model, (f"{model}-coded" if f"{model}-coded" in available_models() else None)
    else:
        stage2, stage3 = codec_heads(name, codec_model)
    main, base = _heads(model or name, stage2)
    folder = getattr(test, "folder", None)
    start = time.time()
    feats = compute_features(test, _source(main), folder, progress, limit=n)
    probs = _batch_predict(main, feats)
    raw_seconds = time.time() - start
    pred = probs.argmax(1)
    result = {
        "dataset": name,
        "samples": n,
        "clip_shape": list(test.shape),
        "model": main.name,
        "model_sha256": main.sha256[:16],
        "raw_accuracy": float(np.mean(pred == labels)),
        "raw_seconds_per_clip": raw_seconds / n,
        "report": class_report(labels, pred, main.class_names),
        "points": [],
    }
    if base is not None:
        bfeats = compute_features(test, _source(base), folder, progress, limit=n)
        result["baseline"] = {
            "method": f"same head on one TFP image ({base.meta['source']})",
            "accuracy": float(np.mean(_batch_predict(base, bfeats).argmax(1) == labels)),
        }
    if out_dir is not None:
        png = Path(out_dir) / f"confusion_{Path(name).name}.png"
        save_confusion(
            labels,
            pred,
            main.class_names,
            png,
            f"{name}: FEM head on raw spikes, test accuracy {result['raw_accuracy']:.3f}",
        )
        result["confusion_png"] = os.fspath(png)
    status = _codec_status(codec_model) if codec else "skipped (--no-codec)"
    if status is None:
        heads = {"stage2": main}
        if stage3 is not None:
            heads["stage3"] = load_classifier(stage3)  # fine-tuned through the codec (Fig. 7c)
        points = coded_points(
            test, heads, n if coded_limit is None else min(n, coded_limit), qualities, progress, codec_model
        )
        result["codec_model"] = codec_model or "sci"
        for p in points:
            p["accuracy"] = p.get("accuracy_stage3", p["accuracy_stage2"])
            p["head"] = heads["stage3" if "accuracy_stage3" in p else "stage2"].name
            p["bit_saving"] = 1.0 - p["bpp"]  # raw spikes cost 1 bit per pixel and frame
            p["accuracy_drop"] = result["raw_accuracy"] - p["accuracy"]
        result["points"] = points
    else:
        result["codec"] = status
    return result


def _source(classifier):
    from spikesci.tasks.classify import _source

    return _source(classifier.meta["source"], classifier.meta.get("source_key"))


def format_tables(result: dict) -> str:
    """Plain-text tables: accuracy vs rate (Table VII) and the per-class report (Table VIII)."""
    lines = [
        f"== {result['dataset']} ({result['samples']} test clips, {'x'.join(map(str, result['clip_shape']))})"
    ]
    lines.append(f"{'method':<34}{'bpp':>8}{'saving %':>10}{'acc %':>8}{'drop':>7}{'bpp w/o header':>16}")
    lines.append(
        f"{'FEM head, raw spikes':<34}{1.0:>8.3f}{0.0:>10.2f}{100 * result['raw_accuracy']:>8.2f}{'-':>7}"
    )
    if "baseline" in result:
        lines.append(
            f"{'TFP image baseline, raw spikes':<34}{1.0:>8.3f}{0.0:>10.2f}"
            f"{100 * result['baseline']['accuracy']:>8.2f}{'-':>7}"
        )
    for p in result["points"]:
        label = f"codec q{p['quality']} ({p['head']}, {p['samples']} clips)"
        lines.append(
            f"{label:<34}{p['bpp']:>8.4f}{100 * p['bit_saving']:>10.2f}"
            f"{100 * p['accuracy']:>8.2f}{100 * p['accuracy_drop']:>7.1f}{p['bpp_payload']:>16.4f}"
        )
        if "accuracy_stage3" in p:
            lines.append(
                f"{'  same, stage-2 head (no fine-tune)':<34}{'':>18}{100 * p['accuracy_stage2']:>8.2f}"
            )
    if "codec" in result:
        lines.append(f"(codec: {result['codec']})")
    lines.append(f"{'class':<22}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>9}")
    for row in result["report"]["classes"]:
        lines.append(
            f"{row['class']:<22}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
            f"{row['support']:>9}"
        )
    lines.append(f"{'accuracy':<22}{result['report']['accuracy']:>10.4f}")
    return "\n".join(lines)
