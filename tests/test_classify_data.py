"""S-* classification data sets: deterministic by seed, disjoint splits, shapes, cache, .npz folders."""

from dataclasses import replace

import numpy as np
import pytest

from spikesci.data.classify import (
    DATASETS,
    ClassifySpec,
    _animals,
    _split_indices,
    build_cache,
    class_names,
    generate_split,
    load_dataset,
)
from spikesci.errors import SpikeSciError
from spikesci.io.npz import write_npz

TINY = ClassifySpec(
    "tiny", "digits", height=24, width=24, frames=12, sizes=(20, 6, 10), object_size=(10.0, 12.0)
)


def _all(spec, split):
    chunks = list(generate_split(spec, split, progress=False))
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def test_generation_is_deterministic_and_seed_dependent():
    a, la = _all(TINY, "test")
    b, lb = _all(TINY, "test")
    assert a.shape == (10, 12, 24, 24) and a.dtype == np.uint8 and set(np.unique(a)) <= {0, 1}
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    c, _ = _all(replace(TINY, seed=1), "test")
    assert not np.array_equal(a, c)


def test_object_moves_and_is_brighter_than_background():
    spikes, _ = _all(replace(TINY, camera=replace(TINY.camera, read_noise=0.0)), "train")
    clip = spikes[0].astype(np.float32)
    first, last = clip[:6].mean(0), clip[6:].mean(0)
    assert clip.mean() > 0.02
    # the spike-rate centroid moves between the halves of the clip (the object crosses the canvas)
    ys, xs = np.mgrid[:24, :24]
    centroid = [np.array([(m * ys).sum(), (m * xs).sum()]) / m.sum() for m in (first, last)]
    assert np.hypot(*(centroid[0] - centroid[1])) > 0.5


def test_splits_are_disjoint_stratified_and_sized():
    labels = np.repeat(np.arange(10), 30)
    parts = _split_indices(300, (200, 40, 60), 0, labels)
    assert [len(p) for p in parts] == [200, 40, 60]
    assert len(np.unique(np.concatenate(parts))) == 300
    for p, n in zip(parts, (200, 40, 60)):
        assert np.bincount(labels[p], minlength=10).min() >= n // 10 - 1
    with pytest.raises(SpikeSciError):
        _split_indices(10, (8, 2, 2), 0, np.arange(10))


def test_cache_roundtrip_packed_bits(tmp_path):
    folder = build_cache(TINY, tmp_path, progress=False)
    assert build_cache(TINY, tmp_path, progress=False) == folder  # generated once
    test = load_dataset(TINY, "test", cache=tmp_path, progress=False)
    spikes, labels = _all(TINY, "test")
    assert len(test) == 10 and test.shape == (12, 24, 24)
    assert np.array_equal(test[3][0], spikes[3]) and test[3][1] == labels[3]
    assert (folder / "test_bits.npy").stat().st_size < spikes.size // 7  # one bit per spike
    assert test.class_names == [str(i) for i in range(10)]


def test_named_sets_and_sources():
    assert set(DATASETS) == {"s-digits", "s-animals", "s-natural"}
    images, labels = _animals()
    assert images.shape == (10000, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert np.bincount(labels).tolist() == [1000] * 10
    assert class_names(DATASETS["s-animals"])[0] == "bear"
    spec = replace(DATASETS["s-natural"], sizes=(4, 2, 3), height=32, width=32, frames=8)
    spikes, labels = _all(spec, "test")
    assert spikes.shape == (3, 8, 32, 32) and labels.tolist() == [0, 1, 2]
    with pytest.raises(SpikeSciError):
        load_dataset("s-nothing", "train")
    with pytest.raises(SpikeSciError):
        load_dataset("s-digits", "holdout")


def test_npz_folder_is_a_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        write_npz(tmp_path / f"clip{i}.npz", (rng.random((5, 8, 8)) < 0.2).astype(np.uint8), label=i % 3)
    parts = [load_dataset(str(tmp_path), s, progress=False) for s in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 10 and len(parts[2]) == 2
    spikes, label = parts[0][0]
    assert spikes.shape == (5, 8, 8) and label in (0, 1, 2) and parts[0].num_classes == 3
    write_npz(tmp_path / "nolabel.npz", np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(SpikeSciError, match="label"):
        load_dataset(str(tmp_path), "train", progress=False)
