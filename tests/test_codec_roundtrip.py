"""Real bytes: every quality round-trips exactly, the rate estimate holds, decoding ignores thread count."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from spikesci.errors import ContainerError, ModelMismatchError
from spikesci.models.codec import CodecConfig, FeatureCodec

TINY = CodecConfig(channels=4, hidden=16, latent=16, hyper=8, hyper_hidden=16, context=8, mv_hidden=8,
                   mv_latent=4, mv_hyper=4, fmvr_hidden=8)


def moving_features(n=3, c=4, h=32, w=48, seed=0, shift=2):
    """Smooth random maps translating by `shift` px per map: something with motion for the inter coder."""
    g = torch.Generator().manual_seed(seed)
    big = torch.nn.functional.avg_pool2d(torch.randn(1, c, h + 14, w + shift * n + 14, generator=g), 7, 1)
    return torch.stack([big[0, :, 4:4 + h, 4 + shift * k:4 + shift * k + w] for k in range(n)]) * 3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("codec") / "tiny.pt"
    FeatureCodec(TINY).save(path)
    return path, FeatureCodec.load(path)


def test_round_trip_every_quality(tiny):
    _, codec = tiny
    feats = moving_features()
    sizes = []
    for q in range(TINY.qualities):
        payload, enc = codec.compress(feats, q)
        dec = codec.decompress(payload)
        assert dec["quality"] == q
        assert torch.equal(enc["x_hat"], dec["x_hat"]) and torch.equal(enc["flows"], dec["flows"])
        assert dec["x_hat"].shape == feats.shape and dec["flows"].shape == (2, 2, 32, 48)
        actual = 8 * (len(payload) - 12)
        assert abs(actual - enc["bits"]) <= 0.03 * enc["bits"] + 64, (actual, enc["bits"])
        sizes.append(len(payload))
    assert sizes == sorted(sizes)  # steps shrink with quality even untrained


def test_save_load_identical_stream(tiny, tmp_path):
    path, codec = tiny
    feats = moving_features(n=3, seed=2)
    payload, enc = codec.compress(feats, 1)
    again = FeatureCodec.load(path)
    assert again.sha256 == codec.sha256
    assert torch.equal(again.decompress(payload)["x_hat"], enc["x_hat"])


def test_damaged_payload_refused_or_bounded(tiny):
    _, codec = tiny
    payload, _ = codec.compress(moving_features(n=2), 0)
    with pytest.raises(ContainerError):
        codec.decompress(payload[:7])
    with pytest.raises(ContainerError):
        codec.decompress(b"XXXX" + payload[4:])
    with pytest.raises((ContainerError, ModelMismatchError)):
        codec.decompress(payload[:4] + bytes([9]) + payload[5:])  # quality 9
    rng = np.random.default_rng(0)
    for _ in range(5):  # flipped payload bits: never a crash (the container's CRC refuses them first)
        b = bytearray(payload)
        b[12 + int(rng.integers(len(b) - 12))] ^= 1 << int(rng.integers(8))
        try:
            out = codec.decompress(bytes(b))
            assert torch.isfinite(out["x_hat"]).all()
        except ContainerError:
            pass


SCRIPT = textwrap.dedent("""
    import hashlib, sys, torch
    from spikesci.models.codec import FeatureCodec
    threads, model, jobs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    torch.set_num_threads(threads)
    codec = FeatureCodec.load(model)
    g = torch.Generator().manual_seed(5)
    c = codec.config.in_channels
    big = torch.nn.functional.avg_pool2d(torch.randn(1, c, 48, 80, generator=g), 7, 1)
    feats = torch.stack([big[0, :, 4:36, 2 * k:2 * k + 48] for k in range(8)]) * 3
    for job in jobs:
        mode, blob = job.split("=")
        if mode == "enc":
            payload, out = codec.compress(feats, codec.config.qualities - 1)
            open(blob, "wb").write(payload)
        else:
            out = codec.decompress(open(blob, "rb").read())
        data = out["x_hat"].numpy().tobytes() + out["flows"].numpy().tobytes()
        print(mode, hashlib.sha256(data).hexdigest())
    print("threads", torch.get_num_threads())
""")


def _run(tmp_path, threads, model, *jobs):
    script = tmp_path / "det.py"
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(threads), str(model), *jobs], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = [line.split() for line in res.stdout.splitlines()]
    assert lines[-1] == ["threads", str(threads)]
    return [digest for _, digest in lines[:-1]]


def _model_file(tiny, tmp_path):
    """The shipped codec when there is one (realistic), else the tiny random one (still chains 8 maps)."""
    try:
        from spikesci.models.zoo import WEIGHTS_DIR
        from spikesci.sci import _codec_manifest

        path = WEIGHTS_DIR / _codec_manifest()["models"]["sci"]["file"]
        if path.exists():
            return path
    except Exception:  # noqa: BLE001
        pass
    return tiny[0]


def test_cross_thread_determinism(tiny, tmp_path):
    """Encode with 1 thread / decode with 2, and the reverse: identical decoded maps and flows (8-map GOP)."""
    model = _model_file(tiny, tmp_path)
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    (enc1,) = _run(tmp_path, 1, model, f"enc={a}")
    dec2, enc2 = _run(tmp_path, 2, model, f"dec={a}", f"enc={b}")
    assert dec2 == enc1
    (dec1,) = _run(tmp_path, 1, model, f"dec={b}")
    assert dec1 == enc2
    assert a.stat().st_size > 100


def test_extra_residual_level_on_top_quality(tiny, tmp_path):
    """A coding level beyond the learned qualities reuses the top latents with a finer residual step: more
    bytes, closer maps, exact round trip; the learned levels' bytes do not change; out of range refused."""
    path, _ = tiny
    codec = FeatureCodec.load(path)
    feats = moving_features(seed=5) / 3  # residuals stay inside the symbol range (+-127 steps)
    top = TINY.qualities - 1
    before = [codec.compress(feats, q)[0] for q in range(TINY.qualities)]
    codec.residual_steps = list(codec.residual_steps) + [codec.residual_steps[-1] / 2]
    assert codec.levels == TINY.qualities + 1
    codec.save(tmp_path / "five.pt")
    again = FeatureCodec.load(tmp_path / "five.pt")
    assert again.levels == TINY.qualities + 1
    assert [again.compress(feats, q)[0] for q in range(TINY.qualities)] == before
    payload, enc = again.compress(feats, top + 1)
    dec = again.decompress(payload)
    assert dec["quality"] == top + 1 and torch.equal(dec["x_hat"], enc["x_hat"])
    assert len(payload) > len(before[top])
    err = [float(((codec.compress(feats, q)[1]["x_hat"] - feats) ** 2).mean()) for q in (top, top + 1)]
    assert err[1] < err[0]
    with pytest.raises(ModelMismatchError):
        again.compress(feats, top + 2)


def test_end_side_compress_skips_fmvr_same_bytes(tiny):
    """The camera side needs no refined vectors: compress(flows=False) writes the same bytes and maps."""
    _, codec = tiny
    feats = moving_features(seed=7)
    payload, full = codec.compress(feats, 1)
    payload2, lean = codec.compress(feats, 1, flows=False)
    assert payload2 == payload and torch.equal(lean["x_hat"], full["x_hat"])
    assert not lean["flows"].any()


def test_global_motion_finds_a_pan():
    from spikesci.models.codec.motion import global_motion, motion_candidates

    feats = moving_features(n=2, shift=2).double()
    cands = motion_candidates(feats[1:2], feats[:1], search=6)
    assert len(cands) == 4 and all(c.shape == (1, 2, 32, 48) for c in cands)
    assert torch.count_nonzero(cands[-1]) == 0  # "no motion" is always a candidate
    g = global_motion(feats[1:2], feats[:1], cands[0] + 0.5)  # from block matching, off by half a pixel
    assert torch.allclose(g[0, :, 0, 0].float(), torch.tensor([2.0, 0.0]), atol=0.26), g[0, :, 0, 0]
    assert torch.equal(g, g[:, :, :1, :1].expand_as(g))  # one vector for the whole map


def test_motion_modes_decode_alike_and_rdo_is_no_worse(tiny):
    """`rdo` and `local` are encoder choices: the same decoder reads both; rdo's choice costs no more in
    bits + lambda * distortion than the block-matching field (one of its candidates)."""
    import spikesci.models.codec.codec as C

    _, codec = tiny
    feats = moving_features(n=3, shift=1)
    for mode in ("local", "rdo"):
        payload, enc = codec.compress(feats, 1, motion=mode)
        assert torch.equal(codec.decompress(payload)["x_hat"], enc["x_hat"])
    with pytest.raises(ValueError, match="motion"):
        codec.compress(feats, 1, motion="nonsense")
    codec._ensure_exported()
    x = codec._pad(feats[1:2].float())
    ref = codec.intra.compress(codec._pad(feats[:1].float()), 1, C._Recorder(), codec.tables)[0]
    h, w = feats.shape[-2:]
    weight = codec._rdo_weight(1, x)

    def cost(x_hat, bits):
        return bits + weight * float(((x_hat - x.double())[..., :h, :w] ** 2).sum())

    local = codec._predicted(x, ref, 1, 0.0, h, w, C._Recorder(), None)
    chosen = codec._rdo_predicted(x, ref, 1, h, w, C._Recorder())
    assert cost(chosen[0], chosen[3]) <= cost(local[0], local[3]) + 1e-6


def test_mode_symbols_round_trip():
    import constriction

    from spikesci.models.codec.global_mode import decode_mode, encode_mode

    cases = [(None, False), ((3, -5), False), ((0, 0), True), ((256, -256), True), ((-256, 255), False)]
    enc = constriction.stream.queue.RangeEncoder()
    for vector, skip in cases:
        encode_mode(enc, vector, skip)
    dec = constriction.stream.queue.RangeDecoder(enc.get_compressed())
    assert [decode_mode(dec) for _ in cases] == cases
    with pytest.raises(ValueError, match="skip"):
        encode_mode(enc, None, True)


@pytest.mark.parametrize("vector,skip", [(None, False), ((8, 0), False), ((8, 0), True), ((0, 0), True)])
def test_every_motion_mode_decodes_exactly(tiny, vector, skip):
    """Format 2 streams: learned vectors, a global translation, and skip all decode to the encoder's maps."""
    import constriction

    import spikesci.models.codec.codec as C

    _, codec = tiny
    feats = moving_features(n=3, shift=2)
    h, w = feats.shape[-2:]
    xp = codec._pad(feats.float())
    enc = constriction.stream.queue.RangeEncoder()
    x_hat, _ = codec.intra.compress(xp[:1], 1, enc, codec.tables)
    outs = [x_hat]
    for k in (1, 2):
        x_hat, *_ = codec._predicted(xp[k:k + 1], x_hat, 1, 0.0, h, w, enc, None, True, vector, skip)
        outs.append(x_hat)
    words = np.asarray(enc.get_compressed(), dtype="<u4").tobytes()
    payload = C._GOP_HEAD.pack(C.GOP_TAG_MODES, 1, 3, feats.shape[1], h, w) + words
    dec = codec.decompress(payload)
    assert torch.equal(dec["x_hat"], torch.cat(outs)[..., :h, :w])
    if skip:  # the motion-compensated reference: a pan of 2 px moves the previous map by 2 px
        assert torch.equal(dec["x_hat"][1], dec["x_hat"][2]) == (vector == (0, 0))


def test_rdo_writes_format_2_and_local_format_1(tiny):
    import spikesci.models.codec.codec as C

    _, codec = tiny
    feats = moving_features(n=3, shift=2)
    assert codec.compress(feats, 0, motion="rdo")[0][:4] == C.GOP_TAG_MODES
    assert codec.compress(feats, 0, motion="local")[0][:4] == C.GOP_TAG
