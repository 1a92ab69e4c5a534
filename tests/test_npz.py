"""`.npz` spike files (SpiReco / UHSR layout): round trip, labels, ranges, and refusal of bad files."""

from pathlib import Path

import numpy as np
import pytest

from spikesci.errors import SpikeFileError
from spikesci.io import read_dat, read_npz, read_spikes, write_dat, write_npz

UHSR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "uhsr_ucaltech_4144_helicopter.npz"


def _spikes(shape=(5, 7, 9), seed=0):
    return (np.random.default_rng(seed).random(shape) < 0.3).astype(np.uint8)


def test_round_trip_with_and_without_label(tmp_path):
    spikes = _spikes()
    write_npz(tmp_path / "a.npz", spikes)
    back = read_npz(tmp_path / "a.npz")
    assert back.dtype == np.uint8 and np.array_equal(back, spikes)
    assert read_npz(tmp_path / "a.npz", with_label=True)[1] is None
    write_npz(tmp_path / "b.npz", spikes, label=47)
    got, label = read_npz(tmp_path / "b.npz", with_label=True)
    assert label == 47 and np.array_equal(got, spikes)
    with np.load(tmp_path / "b.npz") as data:
        assert "spk" in data.files  # the key other tools (SpiReco, Spike-Zoo) expect
    assert not list(tmp_path.glob("*.part*"))


def test_frame_ranges_and_other_keys(tmp_path):
    spikes = _spikes((8, 4, 4), 1)
    write_npz(tmp_path / "a.npz", spikes)
    assert np.array_equal(read_npz(tmp_path / "a.npz", frames=(2, 5)), spikes[2:5])
    assert np.array_equal(read_spikes(tmp_path / "a.npz", frames=3), spikes[:3])
    with pytest.raises(SpikeFileError, match="outside"):
        read_npz(tmp_path / "a.npz", frames=(0, 9))
    np.savez(tmp_path / "other.npz", spikes=spikes.astype(bool))
    assert np.array_equal(read_npz(tmp_path / "other.npz"), spikes)


def test_bad_files_raise_spike_file_error(tmp_path):
    with pytest.raises(SpikeFileError, match="no such file"):
        read_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "nokey.npz", image=np.zeros((2, 2)))
    with pytest.raises(SpikeFileError, match="no spike array"):
        read_npz(tmp_path / "nokey.npz")
    np.savez(tmp_path / "values.npz", spk=np.full((1, 2, 2), 3, np.uint8))
    with pytest.raises(SpikeFileError, match="0 and 1"):
        read_npz(tmp_path / "values.npz")
    np.savez(tmp_path / "flat.npz", spk=np.zeros((4, 4), np.uint8))
    with pytest.raises(SpikeFileError, match=r"\(T, H, W\)"):
        read_npz(tmp_path / "flat.npz")
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file at all")
    with pytest.raises(SpikeFileError, match="not a readable"):
        read_npz(tmp_path / "junk.npz")
    write_npz(tmp_path / "ok.npz", _spikes())
    data = (tmp_path / "ok.npz").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(SpikeFileError):
            read_npz(tmp_path / "cut.npz")


@pytest.mark.skipif(not UHSR.is_file(), reason="UHSR recording not present in ../shared/data (optional)")
def test_real_uhsr_recording_and_its_250x250_dat_round_trip(tmp_path):
    spikes, label = read_npz(UHSR, with_label=True)
    assert spikes.shape == (200, 250, 250) and label == 47
    assert spikes.mean() == pytest.approx(0.0314, abs=0.002)
    write_dat(tmp_path / "uhsr.dat", spikes)  # 62500 bits a frame: padded to 7813 bytes
    assert (tmp_path / "uhsr.dat").stat().st_size == 200 * 7813
    assert np.array_equal(read_dat(tmp_path / "uhsr.dat", 250, 250), spikes)
