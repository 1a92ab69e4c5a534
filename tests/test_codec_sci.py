"""`.sci` files: facade round trip, refusals (other weights, damage, versions), fuzzing, CLI end to end."""

import argparse
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesci import sci
from spikesci.errors import ContainerError, ModelMismatchError, SpikeSciError
from spikesci.io.spikes import write_spikes
from spikesci.models.codec import CodecConfig, FeatureCodec

SMALL = CodecConfig(hidden=16, latent=16, hyper=8, hyper_hidden=16, context=8, mv_hidden=8, mv_latent=4,
                    mv_hyper=4, fmvr_hidden=8)


def _perception():
    try:
        from spikesci.models.zoo import load_perception

        return load_perception()
    except SpikeSciError:  # no shipped FEM/FAM yet: random ones exercise the same code
        from spikesci.models import FAM, FEM
        from spikesci.models.zoo import Perception

        torch.manual_seed(0)
        return Perception(FEM(), FAM())


def _codec(tmp, seed, channels):
    torch.manual_seed(seed)
    path = tmp / f"codec{seed}.pt"
    FeatureCodec(CodecConfig(**{**SMALL.to_dict(), "channels": channels})).save(path)
    return FeatureCodec.load(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sci")
    per = _perception()
    sci.register_model(sci.make_model(_codec(tmp, 0, per.channels), per, name="test-a"))
    sci.register_model(sci.make_model(_codec(tmp, 1, per.channels), per, name="test-b"))
    rng = np.random.default_rng(0)
    spikes = (rng.random((100, 36, 44)) < np.linspace(0.1, 0.5, 44)).astype(np.uint8)
    path = tmp / "clip.sci"
    stats = sci.encode_spikes(spikes, path, quality=2, model="test-a", gop=2)
    return tmp, spikes, path, stats


def test_encode_decode_facade(setup):
    tmp, spikes, path, stats = setup
    assert stats["bytes"] == path.stat().st_size and stats["bytes"] > 0
    assert stats["bpp"] == pytest.approx(8 * stats["bytes"] / spikes.size)
    res = sci.decode_file(path)
    n = stats["maps"]
    assert res.images.shape == (n, 36, 44) and res.images.dtype == np.float32
    assert 0.0 <= res.images.min() and res.images.max() <= 1.0
    assert res.frames.tolist() == res.header["map_frames"] and len(res.frames) == n
    assert res.features.shape[:2] == (n, sci.load_model("test-a").codec.config.channels)
    assert res.flows.shape == (n - 1, 2, 18, 22)
    again = sci.decode_file(path)
    assert np.array_equal(again.features, res.features) and np.array_equal(again.images, res.images)
    streamed = list(sci.iter_images(path))  # GOP-by-GOP decoding gives the same images
    assert [f for f, _ in streamed] == res.frames.tolist()
    assert np.array_equal(np.stack([img for _, img in streamed]), res.images)


def test_version_1_streams_with_a_plain_header_still_decode(setup, tmp_path):
    from spikesci.io.container import ContainerWriter

    _, _, path, _ = setup
    old = tmp_path / "v1.sci"
    with sci.open_stream(path) as reader:
        header = {k: v for k, v in reader.header.items() if k != "stream_id"}
        with ContainerWriter(old, sci.MAGIC, 1, header) as writer:  # as spikesci wrote them before
            for chunk in reader.iter_chunks():
                writer.write_chunk(chunk)
    assert old.stat().st_size > path.stat().st_size + 150  # the deflated header is the smaller
    assert np.array_equal(sci.decode_file(old).images, sci.decode_file(path).images)


def test_version_2_streams_decode_and_version_3_headers_know_the_x265_fem(setup, tmp_path):
    """Version 2 deflated the header with the session-8 dictionary; version 3's adds the release-3.4 FEM,
    so an x265 header on that FEM costs no more than one on release 3 did."""
    import zlib

    from spikesci.io.container import ContainerWriter

    _, _, path, _ = setup
    old = tmp_path / "v2.sci"
    with sci.open_stream(path) as reader:
        header = {k: v for k, v in reader.header.items() if k != "stream_id"}
        with ContainerWriter(old, sci.MAGIC, 2, header, deflate_header=True,
                             header_dict=sci.HEADER_DICTS[2]) as writer:  # as sessions 8-10 wrote them
            for chunk in reader.iter_chunks():
                writer.write_chunk(chunk)
    assert sci.VERSION == 3 and sci.HEADER_DICTS[3].startswith(sci.HEADER_DICTS[2])
    assert np.array_equal(sci.decode_file(old).images, sci.decode_file(path).images)

    def deflated(text: bytes, version: int) -> int:
        z = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=sci.HEADER_DICTS[version])
        return len(z.compress(text) + z.flush())

    x265 = (b'{"channels":2,'
            b'"codec_sha256":"4acaa2e11ebba4937fcab14d83ccf1ddd25a84563b5ecbb46703a37e5696d4c9",'
            b'"fem_sha256":"8b6cd3c9134c5028f3674b3e27ebc7654c137118d54ca9f5b37087f86097ddf6","format":"sci"}')
    assert deflated(x265, 3) + 25 < deflated(x265, 2)


def test_refusals(setup):
    tmp, spikes, path, _ = setup
    with pytest.raises(ModelMismatchError):
        sci.decode_file(path, model="test-b")  # other weights
    with pytest.raises(SpikeSciError):
        sci.encode_spikes(spikes, tmp / "x.sci", quality=99, model="test-a")
    with pytest.raises(SpikeSciError):
        sci.decode_file(path, task="nonsense")
    data = path.read_bytes()
    for cut in (3, 20, len(data) // 2, len(data) - 1):
        (tmp / "cut.sci").write_bytes(data[:cut])
        with pytest.raises(ContainerError):
            sci.decode_file(tmp / "cut.sci")
    (tmp / "v9.sci").write_bytes(data[:4] + struct.pack("<H", 9) + data[6:])
    with pytest.raises(ContainerError, match="version 9"):
        sci.decode_file(tmp / "v9.sci")
    (tmp / "magic.sci").write_bytes(b"SPKZ" + data[4:])
    with pytest.raises(ContainerError):
        sci.decode_file(tmp / "magic.sci")


_REFS: dict = {}


def _reference(path):
    if path not in _REFS:
        _REFS[path] = sci.decode_features(path)[2]
    return _REFS[path]


def _features_or_error(path):
    try:
        return sci.decode_features(path)[2]
    except SpikeSciError:
        return None


@settings(max_examples=120, deadline=30000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(kind=st.sampled_from(["cut", "flip", "splice"]), pos=st.floats(0, 1), bit=st.integers(0, 7),
       extra=st.integers(1, 3))
def test_fuzz_damaged_files(setup, kind, pos, bit, extra):
    """Truncated, bit-flipped and spliced files: refused with a SpikeSciError, or decoded identically (damage
    in the preamble's reserved field, or a splice that leaves the other file whole); no other exception."""
    tmp, spikes, path, _ = setup
    data = bytearray(path.read_bytes())
    other = path.with_name("other.sci")
    if not other.exists():
        sci.encode_spikes(spikes[:, ::-1].copy(), other, quality=2, model="test-a", gop=2)
    i = int(pos * (len(data) - 1))
    if kind == "cut":
        data = data[:i]
    elif kind == "flip":
        for k in range(extra):
            data[(i + 97 * k) % len(data)] ^= 1 << bit
    else:
        od = other.read_bytes()
        data = data[:i] + od[i:]
    bad = tmp / "fuzz.sci"
    bad.write_bytes(bytes(data))
    got = _features_or_error(bad)
    if got is not None:  # only when what is left is one whole, valid file (a splice at its magic bytes)
        assert any(torch.equal(got, _reference(p)) for p in (path, other))


def _cli(argv):
    from spikesci.cli import codec as cli_codec

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    cli_codec.register(commands, commands.add_parser("bench").add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_encode_decode(setup, capsys):
    import json

    tmp, spikes, _, _ = setup
    src = tmp / "clip.npz"
    write_spikes(src, spikes[:60, :20, :24])  # one feature map: the CLI plumbing, quickly
    out = tmp / "cli.sci"
    assert _cli(["encode", str(src), "-o", str(out), "--quality", "4", "--model", "test-a", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["bytes"] == out.stat().st_size and {"bpp", "seconds"} <= set(stats)
    with pytest.raises(SpikeSciError, match="exists"):
        _cli(["encode", str(src), "-o", str(out), "--model", "test-a"])
    folder = tmp / "frames"
    assert _cli(["decode", str(out), "-o", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(list(folder.glob("frame_*.png"))) == summary["maps"]
    assert _cli(["decode", str(out), "-o", str(tmp / "one.png"), "--frame", "30"]) == 0
    assert (tmp / "one.png").stat().st_size > 0
    assert _cli(["decode", str(out), "-o", str(tmp / "all.npz")]) == 0
    with np.load(tmp / "all.npz") as z:
        assert z["images"].shape == (summary["maps"], 20, 24)


def test_shipped_codec_every_quality():
    """The shipped codec on real FEM features of a small clip: exact round trip and honest rate estimate."""
    try:
        sm = sci.load_model()
    except SpikeSciError:
        pytest.skip("no shipped codec")
    from spikesci.simulate.scenes import make_scene, preset

    scene = make_scene(preset("slow", height=40, width=48, frames=80, split="heldout"), seed=4)
    feats, _ = sm.perception.extract(scene.spikes)
    sizes = []
    for qi in range(len(sci.QUALITIES)):
        payload, enc = sm.codec.compress(feats, qi)
        dec = sm.codec.decompress(payload)
        assert torch.equal(enc["x_hat"], dec["x_hat"]) and torch.equal(enc["flows"], dec["flows"])
        assert abs(8 * (len(payload) - 12) - enc["bits"]) <= 0.03 * enc["bits"] + 64
        sizes.append(len(payload))
    assert sizes == sorted(sizes)


def test_codec_for_other_fem_refused(tmp_path):
    """A codec trained on other FEM weights than the installed ones is refused, not silently used."""
    try:
        from spikesci.models.zoo import load_perception

        load_perception()
    except SpikeSciError:
        pytest.skip("no shipped perception model")
    path = tmp_path / "stale.pt"
    FeatureCodec(SMALL).save(path, {"perception": "perception", "fem_sha256": "0" * 64})
    with pytest.raises(ModelMismatchError, match="FEM"):
        sci.load_model(str(path))


def test_streams_are_keyed_to_the_fem_not_the_fam(setup):
    """The FAM never touches coded maps: a stream names its FEM; a new cloud-side FAM must not orphan it."""
    _, _, path, _ = setup
    header = sci.decode_file(path).header
    per = sci.load_model("test-a").perception
    assert header["fem_sha256"] == (per.fem_checksum or per.checksum)
    assert sci._same_fem(header, per)
    assert not sci._same_fem({**header, "fem_sha256": "1" * 64}, per)
    assert "perception_sha256" not in header  # FEM + FAM: not what the stream depends on
    old = {k: v for k, v in header.items() if k != "fem_sha256"}  # written before streams named their FEM
    old["perception_sha256"] = per.checksum
    assert sci._same_fem(old, per)
    assert not sci._same_fem({**old, "perception_sha256": "2" * 64}, per)


def test_motion_modes_in_files(setup):
    """`motion` is an encoder choice recorded in the header; both modes decode with the same model."""
    tmp, spikes, path, _ = setup
    local = tmp / "local.sci"
    sci.encode_spikes(spikes, local, quality=2, model="test-a", gop=2, motion="local")
    res = sci.decode_file(local)
    assert res.header["motion"] == "local" and sci.decode_file(path).header["motion"] == "rdo"
    assert res.images.shape == sci.decode_file(path).images.shape
    with pytest.raises(SpikeSciError, match="motion"):
        sci.encode_spikes(spikes, tmp / "bad.sci", quality=2, model="test-a", motion="fast")
    assert not (tmp / "bad.sci").exists()


def test_first_release_streams_still_decode_after_the_fam_update():
    """Streams of the first release named FEM + FAM together; the manifest lists those pairs (same FEM)."""
    from spikesci.models.zoo import load_perception, read_manifest

    try:
        per = load_perception()
    except SpikeSciError:
        pytest.skip("no shipped perception model")
    listed = read_manifest()["models"]["perception"].get("compatible_checksums", [])
    if not listed:
        pytest.skip("no earlier release listed")
    assert all(sci._same_fem({"perception_sha256": c}, per) for c in listed)
    assert per.checksum not in listed  # the current pair is accepted on its own


def test_streams_of_an_earlier_codec_release_find_their_weights(tmp_path):
    """A stream names its codec's checksum: one made by an earlier shipped release (kept under its own name)
    decodes without naming the model, with those weights and the stage-3 FAM listed for them."""
    try:
        models = sci._codec_manifest()["models"]
        sm = sci.load_model()
    except SpikeSciError:
        pytest.skip("no shipped codec")
    earlier = [name for name, entry in models.items()  # learned releases (x265 ones: test_codec_conventional)
               if name != sci.DEFAULT_CODEC and not sci.is_conventional(entry)]
    if not earlier:
        pytest.skip("no earlier codec release shipped")
    rng = np.random.default_rng(3)
    spikes = (rng.random((90, 32, 40)) < 0.3).astype(np.uint8)
    for name in [sci.DEFAULT_CODEC] + earlier:
        path = tmp_path / f"{name}.sci"
        sci.encode_spikes(spikes, path, quality=1, model=name)
        old = sci.load_model(name)
        assert sci._shipped_name(old.checksum) == name
        res = sci.decode_file(path)  # no model named: found by checksum
        assert res.header["codec_sha256"] == old.checksum
        assert np.array_equal(res.images, sci.decode_file(path, model=name).images)
        tuned = bool(models.get(name, {}).get("fam_file"))  # a stage-3 FAM listed for this release
        assert (old.fam is not old.perception.fam) == tuned
    assert sm.checksum not in [sci.load_model(n).checksum for n in earlier]
