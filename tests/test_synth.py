"""Training data v2: deterministic, endless, never the held-out images, a camera that fires as documented."""

from dataclasses import replace

import numpy as np

from spikesci.data.leaves import LeavesConfig, dead_leaves
from spikesci.data.synth import DATA_MIXES, SynthConfig, SynthStream, make_sample, simulate_camera, with_mix
from spikesci.simulate.images import list_images

SMALL = SynthConfig(size=24, frames=21)


def test_same_seed_same_sample_other_index_other_sample():
    a, b = make_sample(SMALL, 5), make_sample(SMALL, 5)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.target, b.target)
    c = make_sample(SMALL, 6)
    assert not np.array_equal(a.spikes, c.spikes)
    d = make_sample(replace(SMALL, seed=1), 5)
    assert not np.array_equal(a.target, d.target)


def test_shapes_ranges_and_spikes_are_binary():
    s = make_sample(SMALL, 0)
    assert s.spikes.shape == (21, 24, 24) and s.spikes.dtype == np.uint8
    assert set(np.unique(s.spikes)) <= {0, 1}
    assert s.target.shape == (24, 24) and 0 <= s.target.min() and s.target.max() <= 1


def test_training_never_draws_held_out_images_and_validation_only_them():
    held = set(list_images("heldout"))
    train = {make_sample(replace(SMALL, photo_fraction=1.0), i).meta["source"] for i in range(40)}
    assert train and not train & held
    val = {make_sample(replace(SMALL, photo_fraction=1.0, split="validation"), i).meta["source"]
           for i in range(12)}
    assert val <= held


def test_validation_seeds_are_disjoint_from_training():
    a = make_sample(SMALL, 0)
    b = make_sample(replace(SMALL, split="validation"), 0)
    assert not np.array_equal(a.spikes, b.spikes)


def test_camera_fires_white_times_luminance_plus_floor():
    rng = np.random.default_rng(0)
    lum = np.full((4000, 4, 4), 0.5, dtype=np.float32)
    spikes = simulate_camera(rng, lum, white=0.5, floor=0.03, mismatch=0.0, read_noise=0.0)
    assert abs(spikes.mean() - (0.5 * 0.5 + 0.03)) < 0.002
    dark = simulate_camera(rng, np.zeros((4000, 4, 4), np.float32), 0.5, 0.02, 0.0, 0.02)
    assert 0.015 < dark.mean() < 0.025  # a dark pixel is never silent, and read noise adds no bias


def test_dead_leaves_fill_the_range_with_edges():
    img = dead_leaves(np.random.default_rng(1), 96, LeavesConfig(leaves=150))
    assert img.shape == (96, 96) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.05
    assert len(np.unique(img)) > 50  # many leaves, not a flat picture


def test_stream_resumes_where_it_stopped():
    first = [t for _, t in zip(range(3), SynthStream(SMALL, start=0))]
    later = next(iter(SynthStream(SMALL, start=2)))
    assert np.array_equal(first[2][0].numpy(), later[0].numpy())


def test_named_mixes_change_only_motion_and_backgrounds():
    assert with_mix(SynthConfig(), "default") == SynthConfig()
    mixed = with_mix(SMALL, "spike-reds")
    assert mixed.size == SMALL.size and mixed.frames == SMALL.frames and mixed.leaves == SMALL.leaves
    assert mixed.speeds == DATA_MIXES["spike-reds"]["speeds"] != SMALL.speeds
    assert abs(sum(w for w, _, _ in mixed.speeds) - 1) < 1e-9


def test_ideal_camera_share_fires_without_floor_and_leaves_other_mixes_unchanged():
    ideal = with_mix(SMALL, "spike-reds-ideal")
    metas = [make_sample(ideal, i).meta for i in range(12)]
    assert any(m["floor"] == 0.0 and m["white"] == 0.6 for m in metas)
    assert any(m["floor"] > 0.0 for m in metas)
    plain = with_mix(SMALL, "spike-reds")  # no ideal share: the same samples as before the field existed
    assert np.array_equal(make_sample(plain, 3).spikes, make_sample(replace(plain, ideal=0.0), 3).spikes)
