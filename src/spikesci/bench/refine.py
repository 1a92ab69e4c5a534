"""Denser codec settings where an anchor curve has too few Pareto points to be scored.

Why: a reconstruction whose quality peaks inside a codec's ladder leaves few Pareto points on a coarse ladder.
TFI is the case in point: its noise, coded faithfully at low CRFs, scores lower against ground truth than the
same image smoothed by a high CRF, so on SVT-AV1's step-8 ladder only CRF 55 and 63 survive, and a BD-rate
needs 4 points. Bisecting the quality scale around the Pareto settings only adds options to the anchor: its
Pareto front can only move up, so a comparison against the refined curve is never easier than before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from spikesci.bench.rd import pareto

MIN_POINTS = 4  # what bench.rd.bd_one needs from each curve
ROUNDS = 3  # bisection rounds per curve: a step-8 ladder reaches step 1


def pareto_settings(tested: Mapping[int, tuple[float, float]]) -> list[int]:
    """The settings whose (rate, quality) points lie on the Pareto front, in ascending setting order."""
    keys = sorted(tested)
    rate = np.array([tested[k][0] for k in keys], dtype=np.float64)
    quality = np.array([tested[k][1] for k in keys], dtype=np.float64)
    front = set(zip(*pareto(rate, quality)))
    return [k for k, r, q in zip(keys, rate, quality) if (r, q) in front]


def bisect_settings(tested: Mapping[int, tuple[float, float]], min_points: int = MIN_POINTS
                    ) -> tuple[int, ...]:
    """New integer settings halfway between each Pareto setting and its tested neighbours.

    `tested` maps a codec setting (e.g. a CRF) to (bpp, PSNR). Returns () when the curve already has
    `min_points` Pareto points or when the ladder cannot be split further (neighbours one step apart).
    """
    front = pareto_settings(tested)
    if len(front) >= min_points:
        return ()
    keys = sorted(tested)
    new: set[int] = set()
    for setting in front:
        i = keys.index(setting)
        for j in (i - 1, i + 1):
            if 0 <= j < len(keys):
                mid = (setting + keys[j]) // 2
                if mid not in tested and mid != setting and mid != keys[j]:
                    new.add(mid)
    return tuple(sorted(new))


def refine_curves(done: dict, run: Callable[[list[tuple]], list]) -> list:
    """Run bisected settings for every curve of `done` that needs them, up to ROUNDS times; the new points.

    `done` maps a curve key (e.g. (reconstructor, codec)) to {setting: (bpp, PSNR)} and is updated in place;
    `run` takes [(*key, setting), ...] and returns one point (with .bpp and .psnr) per entry, in order.
    """
    found: list = []
    for _ in range(ROUNDS):
        todo = [(*key, s) for key, tested in done.items() for s in bisect_settings(tested)]
        if not todo:
            break
        for entry, point in zip(todo, run(todo)):
            done[tuple(entry[:-1])][entry[-1]] = (point.bpp, point.psnr)
            found.append(point)
    return found
