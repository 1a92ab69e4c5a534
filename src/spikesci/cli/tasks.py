"""`spikesci classify IN.dat|IN.npz` and `spikesci bench classify --dataset NAME --json OUT.json`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spikesci.cli.common import add_size_args, check_input, check_size, check_suffix, parse_range, print_json
from spikesci.errors import SpikeSciError


def register(commands, bench) -> None:
    p = commands.add_parser(
        "classify",
        help="classify a spike clip (label and class probabilities)",
        description="Classify a spike clip with a shipped head on FEM features.",
    )
    p.add_argument("input", help="spike clip: .dat (give --height/--width) or .npz (key spk)")
    p.add_argument(
        "--model",
        default="s-digits-r3.4",
        help="head: s-digits-r3.4, s-animals-r3.4, s-natural-r3.4 (release-3.4 FEM, the one both feature "
        "codecs code; default s-digits-r3.4), NAME-r3 (release 3, for x265 streams of that FEM), s-digits, "
        "s-animals, s-natural (release-2 FEM, for streams of the earlier learned codec), NAME-tfp (one TFP "
        "image, the baseline), or a .pt checkpoint",
    )
    add_size_args(p)
    p.add_argument("--frames", metavar="A:B",
                   help="frame range A:B of the clip to read (default: all, centre window used); negative "
                   "ends count from the end, e.g. --frames -100: for the last 100 frames")
    p.add_argument("--json", action="store_true", help="print a JSON object (label, probabilities, ...)")
    p.set_defaults(func=run_classify)

    b = bench.add_parser(
        "classify",
        help="accuracy on raw spikes and after coding at every quality",
        description="Classification under compression on the S-* test splits (Tables VI-VIII).",
    )
    b.add_argument("--dataset", default="all", help="s-digits, s-animals, s-natural, a comma list, or all")
    b.add_argument("--json", dest="json_out", help="write the results to this JSON file")
    b.add_argument("--out-dir", default=".", help="folder for the confusion-matrix PNGs (default .)")
    b.add_argument("--limit", type=int, help="use the first N test clips (default: all)")
    b.add_argument("--coded-limit", type=int, help="encode/decode only the first N of them (default: all)")
    b.add_argument("--qualities", help="comma list of codec qualities (default: every one)")
    b.add_argument("--no-codec", action="store_true", help="raw-spike accuracy only")
    b.add_argument("--codec", choices=("learned", "x265"), default="x265",
                   help="codec to code the clips with (as `encode --codec`): learned or x265 (both code "
                   "release 3.4's features; the -r3.4 heads, with the -coded one tuned on x265 maps)")
    b.add_argument("--model", help="head to evaluate (default: the data set's own; needed for a .npz folder)")
    b.add_argument("--cache", help="data set cache folder (default $SPIKESCI_CACHE or ~/.cache/spikesci)")
    b.set_defaults(func=run_bench)


def run_classify(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from spikesci.io.npz import read_npz
    from spikesci.io.spikes import read_spikes
    from spikesci.tasks.classify import assess, load_classifier

    path = check_input(args.input)
    check_suffix(path, (".dat", ".npz"), "classify reads")
    check_size(args.height, args.width)
    frames = parse_range(args.frames)
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    true_label = None
    if path.suffix.lower() == ".npz":
        spikes, true_label = read_npz(path, frames=frames, with_label=True)
    else:
        spikes = read_spikes(path, args.height, args.width, frames=frames)
    classifier = load_classifier(args.model)
    label, probs = classifier.predict(np.asarray(spikes))
    names = classifier.class_names
    h, w = spikes.shape[1:]
    half = classifier.meta.get("source") == "fem"  # release 2 folds to half resolution; release 3 does not
    trust = assess(probs, classifier, (-(-h // 2), -(-w // 2)) if half else (h, w))
    out = {
        "label": label,
        "label_name": names[label],
        "probabilities": [round(float(p), 6) for p in probs],
        "classes": names,
        "model": classifier.name,
        "frames_used": classifier.frames,
        **trust,
    }
    if true_label is not None:
        out["file_label"] = true_label
    if args.json:
        print_json(out)
        return 0
    print(f"{path.name}: {names[label]} (class {label}, p={probs[label]:.3f}) with model {classifier.name}")
    for i in np.argsort(-probs)[:5]:
        print(f"  {names[i]:<22}{probs[i]:.4f}")
    if true_label is not None:
        print(f"  label stored in the file: {true_label}")
    if trust["low_confidence"]:
        print(f"  low confidence: {trust['warning']}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from spikesci.data.classify import DATASETS
    from spikesci.tasks.evaluate import evaluate_dataset, format_tables

    torch.set_num_threads(1)
    names = (
        list(DATASETS) if args.dataset == "all" else [n.strip() for n in args.dataset.split(",") if n.strip()]
    )
    out_dir = Path(args.out_dir)
    if not out_dir.is_dir():
        raise SpikeSciError(f"{out_dir}: output folder does not exist")
    if args.json_out and not Path(args.json_out).resolve().parent.is_dir():
        raise SpikeSciError(f"{args.json_out}: output folder does not exist")
    qualities = None
    if args.qualities:
        try:
            qualities = [int(q) for q in args.qualities.split(",")]
        except ValueError:
            raise SpikeSciError(
                f"bad --qualities '{args.qualities}' (expected integers like 0,1,2,3)"
            ) from None
    results = {}
    for name in names:
        results[name] = evaluate_dataset(
            name,
            out_dir,
            args.limit,
            not args.no_codec,
            qualities,
            args.cache,
            coded_limit=args.coded_limit,
            model=args.model,
            codec_model=None if args.codec == "learned" else args.codec,
        )
        print(format_tables(results[name]), flush=True)
        print()
    summary = {  # raw_accuracy and points first: the keys every consumer reads
        name: {"raw_accuracy": r["raw_accuracy"], "points": r["points"], **r} for name, r in results.items()
    }
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=1, default=float) + "\n")
        print(f"wrote {args.json_out}", file=sys.stderr)
    return 0
