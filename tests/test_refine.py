"""Bisecting codec settings where an ATC curve has too few Pareto points (spikesci.bench.refine)."""

from types import SimpleNamespace

import numpy as np

from spikesci.bench.refine import ROUNDS, bisect_settings, pareto_settings, refine_curves

# TFI through SVT-AV1 on 203_part2 (session 11): quality peaks at CRF 55, so only 55 and 63 are Pareto
TFI_AV1 = {23: (0.0928, 24.98), 31: (0.0627, 25.20), 39: (0.0319, 25.74), 47: (0.0150, 25.90),
           55: (0.00468, 27.39), 63: (0.00111, 25.21)}


def test_pareto_settings_of_a_peaked_curve():
    assert pareto_settings(TFI_AV1) == [55, 63]


def test_bisect_between_pareto_settings_and_their_neighbours():
    assert bisect_settings(TFI_AV1) == (51, 59)


def test_no_new_settings_when_the_curve_is_scorable_or_the_ladder_is_exhausted():
    monotone = {q: (2.0 ** -q, 40.0 - q) for q in (22, 27, 32, 37)}
    assert bisect_settings(monotone) == ()
    assert bisect_settings({54: (0.01, 27.0), 55: (0.005, 27.4), 56: (0.004, 27.1)}) == ()


def _peaked(setting: int) -> SimpleNamespace:
    return SimpleNamespace(bpp=float(np.exp(-setting / 8.0)), psnr=28.0 - 0.02 * (setting - 58) ** 2)


def test_refine_curves_runs_rounds_and_records_every_point():
    done = {("TFI", "svt-av1"): {q: (_peaked(q).bpp, _peaked(q).psnr) for q in (23, 31, 39, 47, 55, 63)}}
    calls = []

    def run(todo):
        calls.append(todo)
        return [_peaked(entry[-1]) for entry in todo]

    found = refine_curves(done, run)
    tested = done[("TFI", "svt-av1")]
    assert calls[0] == [("TFI", "svt-av1", 51), ("TFI", "svt-av1", 59)]
    assert 1 < len(calls) <= ROUNDS
    assert len(found) == sum(len(c) for c in calls) == len(tested) - 6
    assert len(pareto_settings(tested)) > 2  # 55 and 63 alone before
    assert all(23 <= q <= 63 for q in tested)

