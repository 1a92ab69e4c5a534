"""Learned feature codec benchmark (issue 5): RD curve of `.sci` vs lossless baselines and uncompressed `net`.

Bits per spike-pixel from actual file sizes (8 * bytes / (H * W * spike frames)) against the PSNR of the
decoded reconstruction (FAM on decoded features + FMVR flows), at every quality, on held-out simulated scenes
(slow, fast) and the spike-REDS clips (frame 150 vs the ground truth); beside it the project's lossless
archive, xz and order-0 entropy, TFP and the uncompressed `net`. Also seconds per feature map and FLOPs per
pixel, end side vs cloud side. `--fuzz N` also throws N damaged files at the `.sci` reader.

    python benchmarks/bench_codec.py [--quick] [--out bench_out/codec] [--model CODEC.pt] [--fuzz 3000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm


def fuzz(count: int, seed: int = 0) -> dict:
    """Encode a small clip, then decode `count` truncated / bit-flipped / spliced copies. Every one must be
    refused with a SpikeSciError or decode to exactly one of the two source streams (damage confined to the
    preamble's reserved field, or a splice that left the other file whole). Any other exception counts."""
    import tempfile

    from spikesci import sci
    from spikesci.errors import SpikeSciError

    rng = np.random.default_rng(seed)
    spikes = (rng.random((100, 40, 48)) < 0.3).astype(np.uint8)
    counts = {"refused": 0, "identical": 0, "other_exception": 0, "wrong_output": 0}
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.sci", Path(tmp) / "b.sci"
        sci.encode_spikes(spikes, a, quality=sci.QUALITIES[0], gop=2)
        sci.encode_spikes(spikes[:, ::-1].copy(), b, quality=sci.QUALITIES[0], gop=2)
        refs = [sci.decode_features(p)[2] for p in (a, b)]
        da, db = a.read_bytes(), b.read_bytes()
        bad = Path(tmp) / "bad.sci"
        for _ in tqdm(range(count), desc="fuzz"):
            kind = rng.integers(3)
            i = int(rng.integers(len(da)))
            data = bytearray(da)
            if kind == 0:
                data = data[:i]
            elif kind == 1:
                for _ in range(int(rng.integers(1, 4))):
                    data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
            else:
                data = data[:i] + db[i:]
            bad.write_bytes(bytes(data))
            t0 = time.time()
            try:
                got = sci.decode_features(bad)[2]
                ok = any(torch.equal(got, r) for r in refs)
                counts["identical" if ok else "wrong_output"] += 1
            except SpikeSciError:
                counts["refused"] += 1
            except Exception:  # noqa: BLE001 - that is what we count
                counts["other_exception"] += 1
            worst = max(worst, time.time() - t0)
    return {"cases": count, **counts, "slowest_s": worst}


def main() -> int:
    from spikesci.models.codec.bench import run_benchmark

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one small scene per kind, one spike-REDS clip")
    p.add_argument("--out", default="bench_out/codec", help="folder for bench_codec.json / bench_codec.png")
    p.add_argument("--model", default=None, help="codec .pt (default: the shipped one)")
    p.add_argument("--fuzz", type=int, default=0, help="also fuzz the .sci reader with N damaged files")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = run_benchmark(quick=args.quick, json_path=None, plot_path=str(out / "bench_codec.png"),
                           model=args.model)
    if args.fuzz:
        result["fuzz"] = fuzz(args.fuzz)
        print("fuzz:", json.dumps(result["fuzz"]))
    (out / "bench_codec.json").write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k != "items"}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
