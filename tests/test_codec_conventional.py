"""The x265 feature codec (CAAS via a conventional codec): KLT, real x265 bytes, container, damage, CLI."""

import json

import numpy as np
import pytest
import torch

from spikesci.cli import main
from spikesci.errors import ContainerError, SpikeSciError
from spikesci.models.codec.conventional import (
    QUALITY_SETTINGS,
    ConventionalFeatureCodec,
    _project,
    _unproject,
    klt,
)

pytestmark = pytest.mark.skipif(ConventionalFeatureCodec().video.availability() is not None,
                                reason="x265 is not in this FFmpeg build")


def _features(n=4, h=36, w=44, seed=0):
    """Two strongly correlated channels, like the release-3 FEM's: one image plus a small residual."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([np.sin(xx / 5.0 + k / 3) + np.cos(yy / 7.0) for k in range(n)])
    small = 0.05 * rng.standard_normal((n, h, w))
    return torch.from_numpy(np.stack([base, 0.7 * base + small], axis=1).astype(np.float32))


def test_klt_orders_energy_and_inverts():
    f = _features().numpy()
    basis, mean = klt(f)
    np.testing.assert_allclose(basis.T.astype(np.float64) @ basis, np.eye(2), atol=1e-6)
    comps = _project(f, basis, mean)
    assert comps[0].var() > 100 * comps[1].var()  # the main component holds nearly all the energy
    np.testing.assert_allclose(_unproject(comps, basis, mean), f, atol=1e-5)


VIDEOS = [pytest.param(v, marks=pytest.mark.skipif(
    ConventionalFeatureCodec(video=v).video.availability() is not None, reason=f"{v} is not in this FFmpeg"))
    for v in ("x265", "svt-av1")]


@pytest.mark.parametrize("video", VIDEOS)
def test_roundtrip_is_exact_between_encoder_and_decoder_and_bits_add_up(video):
    codec, f = ConventionalFeatureCodec(video=video), _features()
    payload, info = codec.compress(f, 4)
    out = codec.decompress(payload, expect=(4, 36, 44))
    assert torch.equal(out["x_hat"], info["x_hat"]) and out["x_hat"].dtype == torch.float64
    assert sum(info["bits"].values()) == 8 * len(payload)
    assert out["quality"] == 4 and out["flows"].shape == (3, 2, 36, 44)
    err = (out["x_hat"] - f.double()).abs().max().item()
    assert err < 0.1 * float(f.max() - f.min())  # the best quality: close to the original maps
    again = codec.decompress(payload)
    assert torch.equal(again["x_hat"], out["x_hat"])  # deterministic
    end_side, info2 = codec.compress(f, 4, decoded=False)  # the encoder's path: same bytes, no decode
    assert end_side == payload and info2["x_hat"] is None and info2["bits"] == info["bits"]


@pytest.mark.parametrize("video", VIDEOS)
def test_lower_quality_is_smaller_and_lowest_drops_the_residual(video):
    codec, f = ConventionalFeatureCodec(video=video), _features()
    sizes = [len(codec.compress(f, q)[0]) for q in range(codec.levels)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    payload, info = codec.compress(f, 0)
    assert codec.ladder[0][1] is None and info["bits"]["residual"] == 0
    assert codec.ladder is QUALITY_SETTINGS or video != "x265"


@pytest.mark.parametrize("video", VIDEOS)
def test_damaged_chunks_are_container_errors(video):
    codec = ConventionalFeatureCodec(video=video)
    payload, _ = codec.compress(_features(), 2)
    other = ConventionalFeatureCodec(video="svt-av1" if video == "x265" else "x265")
    with pytest.raises(ContainerError):
        other.decompress(payload)  # a chunk of the other video codec
    with pytest.raises(ContainerError):
        codec.decompress(payload, expect=(5, 36, 44))
    with pytest.raises(ContainerError):
        codec.decompress(b"XXXX" + payload[4:])
    for cut in (3, 20, len(payload) // 2, len(payload) - 1):
        with pytest.raises(ContainerError):
            codec.decompress(payload[:cut])
    with pytest.raises(ContainerError):
        codec.decompress(payload + b"\0")


FORMAT_1 = {"x265": "51d06b0d1c797508a98c3c570d45b7719c5c1731e569c4991eb2ddba8fdb0a76",
            "svt-av1": "4a71a7b3b6a419a5475878aec62f16e062ba10bdb7f0ff31bf3b64f0b2965d4a"}


@pytest.mark.parametrize("video", VIDEOS)
def test_format_2_chunks_say_their_depth_and_format_1_chunks_still_decode(video):
    import hashlib
    from pathlib import Path

    f = _features()
    ten, eight = ConventionalFeatureCodec(video=video, bits=10), ConventionalFeatureCodec(video=video, bits=8)
    assert ten.sha256 == eight.sha256  # one codec family: FAMs and streams stay keyed
    assert ConventionalFeatureCodec(video=video).bits == (10 if video == "x265" else 8)  # measured choice
    p10, i10 = ten.compress(f, 4)
    p8, i8 = eight.compress(f, 4)
    assert p10[4] == p8[4] == 2 and (p10[14], p8[14]) == (10, 8)  # format byte; bits per sample
    assert torch.equal(eight.decompress(p10)["x_hat"], i10["x_hat"])  # each chunk says its own depth
    err10 = (i10["x_hat"] - f.double()).abs().mean().item()
    err8 = (i8["x_hat"] - f.double()).abs().mean().item()
    assert err10 < err8  # finer planes at the best quality
    for depth in (0, 9, 16):
        with pytest.raises(ContainerError, match="bits per sample"):
            ten.decompress(p10[:14] + bytes([depth]) + p10[15:])
    with pytest.raises(SpikeSciError, match="8 or 10 bits"):
        ConventionalFeatureCodec(video=video, bits=12)
    # a chunk written by release 3.4's code (format 1: 8-bit planes, a length per packet), committed
    tag = video.replace("-", "")
    old = (Path(__file__).parent / "fixtures" / f"kltchunk_v1_{tag}_q4.bin").read_bytes()
    assert old[4] == 1
    out = ten.decompress(old, expect=(4, 36, 44))["x_hat"]
    assert hashlib.sha256(out.numpy().tobytes()).hexdigest() == FORMAT_1[video]
    assert (out - f.double()).abs().mean().item() < 2 * err8  # and it is that picture, not another
    for cut in (20, len(old) // 2, len(old) - 1):
        with pytest.raises(ContainerError):
            ten.decompress(old[:cut])


def test_video_codecs_take_ten_bit_frames_only_where_they_can():
    from spikesci.baselines import get_codec

    frames = (np.arange(3 * 64 * 64).reshape(3, 64, 64) % 1024).astype(np.uint16)
    x265 = get_codec("x265")
    out = x265.decode(x265.encode(frames, 0, 3))  # CRF 0: near exact
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - frames).max() < 16
    with pytest.raises(SpikeSciError, match="0..1023"):
        x265.encode(frames * 2, 30, 3)
    with pytest.raises(SpikeSciError, match="uint8"):
        get_codec("x264").encode(frames, 30, 3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from spikesci.io import write_dat

    tmp = tmp_path_factory.mktemp("x265")
    rng = np.random.default_rng(1)
    spikes = (rng.random((90, 32, 40)) < np.linspace(0.1, 0.5, 40)).astype(np.uint8)
    write_dat(tmp / "clip.dat", spikes)
    return tmp, spikes


@pytest.mark.parametrize("video", VIDEOS)
def test_cli_encode_x265_then_decode(clip, capsys, video):
    tmp, spikes = clip
    out = tmp / f"clip-{video}.sci"
    assert main(["encode", str(tmp / "clip.dat"), "-o", str(out), "--codec", video, "--height", "32",
                 "--width", "40", "--quality", "2"]) == 0
    capsys.readouterr()
    from spikesci import sci

    res = sci.decode_file(out)
    assert res.header["model"] == video and res.features.shape[1:] == (2, 32, 40)
    assert res.images.shape == (res.features.shape[0], 32, 40)
    assert np.isfinite(res.images).all() and 0 <= res.images.min() and res.images.max() <= 1
    st = sci.encode_spikes(spikes, tmp / "acc.sci", 2, model=video, account=True)
    assert sum(st["bits_by_part"].values()) == 8 * st["bytes"] and st["bits_by_part"][f"{video} main"] > 0
    # a truncated stream is refused in one line, no picture written
    bad = tmp / "bad.sci"
    bad.write_bytes(out.read_bytes()[:-7])
    assert main(["decode", str(bad), "-o", str(tmp / "pics")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spikesci: error") and not (tmp / "pics").exists()
    # a corrupted chunk (CRC mismatch, found mid-decode): one line, and no output folder left behind
    data = bytearray(out.read_bytes())
    for i in range(200, len(data) - 40, 7):
        data[i] ^= 0x5A
    bad.write_bytes(bytes(data))
    assert main(["decode", str(bad), "-o", str(tmp / "pics2")]) != 0
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("spikesci")]
    assert len(err) == 1 and "damaged" in err[0] and not (tmp / "pics2").exists()


def test_cli_refuses_x265_with_a_learned_model(clip, capsys):
    tmp, _ = clip
    code = main(["encode", str(tmp / "clip.dat"), "-o", str(tmp / "y.sci"), "--codec", "x265", "--model",
                 "sci", "--height", "32", "--width", "40"])
    err = capsys.readouterr().err
    assert code != 0 and "--codec x265" in err and not (tmp / "y.sci").exists()


def test_x265_codec_and_atc_net_use_the_fem_its_fam_was_tuned_on():
    """The fine-tuned FAM of the x265 codec is keyed to one FEM (CAAS_MODEL): whatever `reconstruct --method
    net` ships next, the x265 codec and the ATC NET curves keep that FEM and its FAM."""
    from spikesci.models.codec.conventional import sci_model
    from spikesci.models.zoo import load_reconstruction
    from spikesci.sci import _codec_manifest

    entry = _codec_manifest()["models"]["x265"]
    caas = load_reconstruction(caas=True)
    assert caas.fem_checksum == entry["fem_sha256"]
    model = sci_model()
    assert model.perception.fem_checksum == entry["fem_sha256"]
    tuned, plain = next(model.fam.parameters()), next(model.perception.fam.parameters())
    assert not torch.equal(tuned, plain)  # the fine-tuned FAM is the one that decodes


def test_decode_classify_on_an_x265_stream_uses_the_release3_head(tmp_path, capsys):
    """x265 streams carry release-3 maps (2 channels, full resolution): `decode --task classify` must pick
    the head trained on that FEM and fine-tuned through x265, not a release-2 head (8 channels)."""
    from spikesci.io import write_npz
    from spikesci.models.zoo import load_reconstruction
    from spikesci.simulate import make_scene, preset
    from spikesci.tasks.classify import MANIFEST

    fem_key = f"fem-{load_reconstruction(caas=True).fem_checksum[:12]}"
    tuned = [n for n, e in json.loads(MANIFEST.read_text())["models"].items()
             if n.startswith("s-animals-") and e.get("source_key") == fem_key and e.get("codec") == "x265"]
    if not tuned:
        pytest.skip("no head of the x265 codec's FEM is shipped")
    scene = make_scene(preset("fast", height=64, width=64, frames=86, sprites=0), seed=3)
    src, out = tmp_path / "clip.npz", tmp_path / "clip.sci"
    write_npz(src, scene.spikes)
    assert main(["encode", str(src), "-o", str(out), "--codec", "x265", "--quality", "3"]) == 0
    capsys.readouterr()
    assert main(["decode", str(out), "--task", "classify", "--model", "s-animals", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["model"] == min(tuned, key=len) and len(got["probabilities"]) == 10
    assert abs(sum(got["probabilities"]) - 1) < 1e-4 and got["label"] == int(np.argmax(got["probabilities"]))


def test_x265_streams_default_to_long_gops_and_keep_the_asked_one(tmp_path):
    from spikesci import sci

    rng = np.random.default_rng(2)
    spikes = (rng.random((240, 32, 64)) < np.linspace(0.1, 0.5, 64)).astype(np.uint8)
    assert sci.default_gop("x265") == 32 and sci.default_gop() == sci.DEFAULT_GOP == 8
    long = sci.encode_spikes(spikes, tmp_path / "long.sci", 2, model="x265")
    short = sci.encode_spikes(spikes, tmp_path / "short.sci", 2, model="x265", gop=4)
    assert long["maps"] > 8 and long["gops"] == 1 and short["gops"] == -(-short["maps"] // 4)
    assert sci.decode_file(tmp_path / "long.sci").header["gop"] == 32
    assert sci.decode_file(tmp_path / "short.sci").images.shape[0] == short["maps"]
    assert long["bytes"] < short["bytes"]  # one keyframe instead of three


def test_streams_of_an_earlier_fem_decode_with_that_release_and_its_fam(tmp_path, monkeypatch):
    """CAAS moved to a newer FEM: a stream made on the earlier one names that FEM and still decodes, through
    the earlier perception and the FAM fine-tuned for it (codec manifest entry "x265-r3")."""
    from spikesci import sci
    from spikesci.models import zoo

    entries = sci._codec_manifest()["models"]
    if "x265-r3" not in entries or "x265" not in entries:
        pytest.skip("only one x265 release is shipped")
    old, new = entries["x265-r3"], entries["x265"]
    assert old["fem_sha256"] != new["fem_sha256"]
    spikes = (np.random.default_rng(4).random((120, 32, 48)) < 0.3).astype(np.uint8)
    monkeypatch.setattr(zoo, "CAAS_MODEL", old["perception"])  # encode as the earlier release did
    sci._load_model.cache_clear()
    sci.encode_spikes(spikes, tmp_path / "old.sci", 2, model="x265")
    monkeypatch.undo()
    sci._load_model.cache_clear()
    sci.encode_spikes(spikes, tmp_path / "new.sci", 2, model="x265")
    got_old, got_new = sci.decode_file(tmp_path / "old.sci"), sci.decode_file(tmp_path / "new.sci")
    assert got_old.header["fem_sha256"] == old["fem_sha256"]
    assert got_new.header["fem_sha256"] == new["fem_sha256"]
    model = sci._model_for(got_old.header, None)
    assert model.perception.name == old["perception"]
    assert sci.load_model("x265-r3").perception.name == old["perception"]  # by its entry's name too
    assert not torch.equal(next(model.fam.parameters()), next(model.perception.fam.parameters()))
    assert np.isfinite(got_old.images).all() and got_old.images.shape == got_new.images.shape
    assert not np.allclose(got_old.images, got_new.images)  # two FEMs, two FAMs: not one model twice
