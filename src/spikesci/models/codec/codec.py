"""FeatureCodec: a group of pictures (GOP) of feature maps <-> bytes, plus the training forward pass.

CompressAI's pattern: `forward()` (training: reconstructions, likelihoods, estimated bits) and
`compress()` / `decompress()` (real bytes from one constriction range coder per GOP). The first map of a GOP
is intra-coded, the others inter-coded against the previous *decoded* map; decoded motion vectors are refined
by FMVR and returned with the maps for the FAM. Maps of any size are padded (replicate) to a multiple of
`config.multiple` and cropped back.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikesci.errors import ContainerError, ModelMismatchError
from spikesci.models.codec.config import CodecConfig
from spikesci.models.codec.entropy import Tables, build_tables
from spikesci.models.codec.exact import QConv, exact_state, freeze_all, load_exact_state
from spikesci.models.codec.fmvr import FMVR
from spikesci.models.codec.global_mode import constant_field, decode_mode, encode_mode, quantize_vector
from spikesci.models.codec.hyperprior import HyperpriorCoder
from spikesci.models.codec.inter import InterCodec
from spikesci.models.codec.intra import IntraCodec
from spikesci.models.codec.motion import estimate_motion, motion_candidates
from spikesci.models.codec.residual import decode_residual, default_steps, encode_residual

GOP_TAG = b"GOP1"  # format 1: every predicted map carries learned motion-vector latents
GOP_TAG_MODES = b"GOP2"  # format 2: a mode symbol per predicted map first (global_mode.py)
_GOP_HEAD = struct.Struct("<4sBBHHH")  # tag, quality, maps, channels, height, width
MAX_SIDE = 8192
MAX_GOP = 255
FORMAT = "spikesci-codec"
MOTION_MODES = ("rdo", "local")

RDO_LAMBDAS = (1.0, 4.0, 16.0, 96.0, 600.0)
"""Encoder-side rate-distortion weight per coding level: the training lambdas of the learned levels, and for
the residual level the q4 lambda scaled by the square of its step ratio (0.09375 / 0.0390625)^2 ~ 5.8 (so the
same relative weight of distortion as its finer quantiser implies)."""
RDO_PIXELS_PER_VALUE = 4 * 20
"""Spike-pixels behind one feature pixel: 2x2 input pixels, 20 spike frames per map (the training's bpp)."""


class _Recorder:
    """Stands in for the range encoder in a dry run: keeps the calls, so the chosen run can be replayed into
    the real encoder (same calls in the same order = the same bytes) instead of being coded twice."""

    def __init__(self):
        self.calls: list[tuple] = []

    def encode(self, *args) -> None:
        self.calls.append(args)

    def replay(self, encoder) -> None:
        for args in self.calls:
            encoder.encode(*args)


class FeatureCodec(nn.Module):
    """Intra + inter (DCVC-style) + FMVR feature codec with `config.qualities` rate points (0 = lowest)."""

    def __init__(self, config: CodecConfig = CodecConfig()):
        super().__init__()
        self.config = config
        self.intra = IntraCodec(config)
        self.inter = InterCodec(config)
        self.fmvr = FMVR(config.channels, config.fmvr_hidden)
        self.tables = Tables(build_tables())
        self.sha256 = ""
        self.meta: dict = {}
        self.residual_steps = default_steps(config.qualities)

    # -- helpers -------------------------------------------------------------------------------------
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        m = self.config.multiple
        h, w = x.shape[-2:]
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            shape = x.shape
            x = F.pad(x.reshape(-1, *shape[-3:]), (0, pw, 0, ph), mode="replicate")
            x = x.reshape(*shape[:-2], h + ph, w + pw)
        return x

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """(M, C / f^2, H, W) -> (M, C, ceil(H / f), ceil(W / f)): pixel phases as channels."""
        f = self.config.fold
        h, w = x.shape[-2:]
        if h % f or w % f:
            x = F.pad(x, (0, (-w) % f, 0, (-h) % f), mode="replicate")
        return F.pixel_unshuffle(x, f)

    def _unfold_result(self, out: dict, h: int, w: int) -> dict:
        """Folded x_hat / flows back to the input layout (..., C / f^2, h, w); flows in input pixels."""
        f = self.config.fold
        if f == 1:
            return out
        x = out["x_hat"]
        out["x_hat"] = F.pixel_shuffle(x.reshape(-1, *x.shape[-3:]), f).reshape(
            *x.shape[:-3], x.shape[-3] // (f * f), x.shape[-2] * f, x.shape[-1] * f)[..., :h, :w]
        fl = out["flows"]
        out["flows"] = (fl.repeat_interleave(f, -2).repeat_interleave(f, -1) * f)[..., :h, :w]
        return out

    def coders(self) -> list[HyperpriorCoder]:
        return [self.intra.coder, self.inter.coder, self.inter.mv_coder]

    # -- training ------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, quality: int) -> dict:
        """x (B, N, C, h, w) float32 -> dict(x_hat, flows (B, N-1, 2, h, w), bits estimated for the batch,
        mv_err: mean |decoded - estimated motion| (anchors the motion-vector codec to the block matcher))."""
        if self.config.fold == 1:
            return self._forward(x, quality)
        b, n, _, h, w = x.shape
        folded = self._fold(x.reshape(b * n, *x.shape[2:]))
        out = self._forward(folded.reshape(b, n, *folded.shape[1:]), quality)
        return self._unfold_result(out, h, w)

    def _forward(self, x: torch.Tensor, quality: int) -> dict:
        b, n, c, h, w = x.shape
        xp = self._pad(x)
        x_hat, liks = self.intra(xp[:, 0], quality)
        outs, flows = [x_hat], []
        if n > 1:  # motion between originals, all pairs at once (compress() matches against decoded maps)
            hp, wp = xp.shape[-2:]
            cur = xp[:, 1:].reshape(-1, c, hp, wp)
            ref = xp[:, :-1].reshape(-1, c, hp, wp)
            motion = estimate_motion(cur, ref, self.config.search).view(b, n - 1, 2, hp, wp)
        mv_err = x.new_zeros(())
        for k in range(1, n):
            x_hat, v_hat, warped, lk = self.inter(xp[:, k], x_hat, quality, motion[:, k - 1])
            mv_err = mv_err + (v_hat - motion[:, k - 1]).abs().mean() / (n - 1)
            flows.append(self.fmvr(v_hat, x_hat, warped))
            outs.append(x_hat)
            liks = liks + lk
        bits = sum(-torch.log2(lik).sum() for lik in liks)
        x_hat = torch.stack(outs, 1)[..., :h, :w]
        flow_t = torch.stack(flows, 1)[..., :h, :w] if flows else x.new_zeros(b, 0, 2, h, w)
        return {"x_hat": x_hat, "flows": flow_t, "bits": bits, "mv_err": mv_err}

    # -- real coding ---------------------------------------------------------------------------------
    @property
    def levels(self) -> int:
        """Rate points of real coding: the learned qualities, then any extra residual-refinement levels on top
        of the highest learned one (one residual step per level, `residual_steps`)."""
        return len(self.residual_steps)

    def _latent(self, quality: int) -> int:
        """The learned quality a coding level uses for its latents (extra levels reuse the highest)."""
        return min(quality, self.config.qualities - 1)

    def _check_quality(self, quality: int) -> int:
        if not 0 <= int(quality) < self.levels:
            raise ModelMismatchError(f"quality index {quality} out of range 0..{self.levels - 1}")
        return int(quality)

    def _predicted(self, x: torch.Tensor, ref: torch.Tensor, lq: int, step: float, h: int, w: int, encoder,
                   flow: torch.Tensor | None, modes: bool = False,
                   vector: tuple[int, int] | None = None, skip: bool = False) -> tuple:
        """One inter-coded map (plus its residual level): (x_hat, v_hat, warped, estimated bits).

        `modes` (format 2): a mode symbol first; with `vector` the map moves by that global translation
        (quarter pixels) and no motion latents are coded (`skip`: no feature latents either), else `flow`
        is coded as learned latents."""
        mode_bits, fixed = 0.0, None
        if modes:
            mode_bits = encode_mode(encoder, vector, skip)
            fixed = constant_field(vector, x) if vector is not None else None
        x_hat, v_hat, warped, bits = self.inter.compress(x, ref, lq, encoder, self.tables, flow=flow,
                                                         fixed=fixed, skip=skip)
        bits += mode_bits
        if step > 0:
            x_hat, b = encode_residual(x, x_hat, step, h, w, encoder, self.tables)
            bits += b
        return x_hat, v_hat, warped, bits

    def _rdo_weight(self, quality: int, x: torch.Tensor) -> float:
        """Bits per unit of squared error: the training loss bpp + lambda * MSE / var(F) in bits of one map
        (bpp over RDO_PIXELS_PER_VALUE spike-pixels per feature pixel, MSE over the channels)."""
        lam = RDO_LAMBDAS[min(quality, len(RDO_LAMBDAS) - 1)]
        return lam * RDO_PIXELS_PER_VALUE / self.config.channels / (float(x.var()) + 1e-6)

    def _rdo_predicted(self, x: torch.Tensor, ref: torch.Tensor, quality: int, h: int, w: int,
                       encoder) -> tuple:
        """`_predicted` (format 2) with the candidate motion of lowest bits + lambda * distortion, each coded
        in a dry run; the winner's symbols are replayed into `encoder`. Candidates (motion.motion_candidates):
        the block-matching and the smoothed field as learned latents, the global translation and no motion
        as global-mode vectors (a few bits instead of a field's latents)."""
        step, lq = self.residual_steps[quality], self._latent(quality)
        weight = self._rdo_weight(quality, x)
        best, best_cost = None, float("inf")
        local, smooth, pan, still = motion_candidates(x, ref, self.inter.search)
        vectors = dict.fromkeys([quantize_vector(pan), quantize_vector(still)])  # one when the pan is 0
        tries = [(local, None, False), (smooth, None, False)]
        tries += [(None, v, skip) for skip in (False, True) for v in vectors]
        for flow, vector, skip in tries:
            recorder = _Recorder()
            out = self._predicted(x, ref, lq, step, h, w, recorder, flow, True, vector, skip)
            cost = out[3] + weight * float(((out[0] - x.double())[..., :h, :w] ** 2).sum())
            if cost < best_cost:
                best, best_cost = (out, recorder), cost
        best[1].replay(encoder)
        return best[0]

    @torch.no_grad()
    def compress(self, feats: torch.Tensor, quality: int, flows: bool = True,
                 motion: str = "rdo") -> tuple[bytes, dict]:
        """feats (N, C, h, w) -> (payload bytes, dict(x_hat, flows exact float64, bits estimated)).

        `flows=False`: skip FMVR (the end side never needs refined vectors; they are a cloud-side product and
        do not feed the references), so the returned flows are zeros; the bytes are the same.
        `motion`: "rdo" codes, for each predicted map, the cheapest of a few candidate motion fields in rate
        plus distortion (a few dry runs per map; format 2, with the global-translation mode); "local" codes
        the block-matching field as it is (faster, format 1: the first release's bytes). Both decode with
        the same decoder."""
        import constriction

        if motion not in MOTION_MODES:
            raise ValueError(f"motion must be one of {MOTION_MODES}, got {motion!r}")
        quality = self._check_quality(quality)
        self._ensure_exported()
        n, c, h0, w0 = feats.shape
        if c != self.config.in_channels or not 1 <= n <= MAX_GOP or max(h0, w0) > MAX_SIDE:
            raise ModelMismatchError(f"codec expects (1..{MAX_GOP}, {self.config.in_channels}, h, w) maps, "
                                     f"got {tuple(feats.shape)}")
        feats = self._fold(feats.float()) if self.config.fold > 1 else feats
        h, w = feats.shape[-2:]
        xp = self._pad(feats.float())
        enc = constriction.stream.queue.RangeEncoder()
        step = self.residual_steps[quality]
        lq = self._latent(quality)
        x_hat, bits = self.intra.compress(xp[:1], lq, enc, self.tables)
        if step > 0:
            x_hat, b = encode_residual(xp[:1], x_hat, step, h, w, enc, self.tables)
            bits += b
        outs, vectors = [x_hat], []
        for k in range(1, n):
            x = xp[k:k + 1]
            if motion == "rdo":
                x_hat, v_hat, warped, b = self._rdo_predicted(x, x_hat, quality, h, w, enc)
            else:
                x_hat, v_hat, warped, b = self._predicted(x, x_hat, lq, step, h, w, enc, None)
            bits += b
            vectors.append(self.fmvr(v_hat, x_hat, warped) if flows else torch.zeros_like(v_hat))
            outs.append(x_hat)
        words = np.asarray(enc.get_compressed(), dtype="<u4").tobytes()
        tag = GOP_TAG_MODES if motion == "rdo" else GOP_TAG
        payload = _GOP_HEAD.pack(tag, quality, n, c, h0, w0) + words  # the input maps' shape
        return payload, self._unfold_result(self._result(outs, vectors, h, w, bits), h0, w0)

    @torch.no_grad()
    def decompress(self, payload: bytes, expect: tuple[int, int, int] | None = None) -> dict:
        """Inverse of `compress`: dict(x_hat (N, C, h, w), flows (N-1, 2, h, w)) exact float64, quality.

        `expect` = (maps, h, w) from the container header: checked before any decoding work."""
        import constriction

        if len(payload) < _GOP_HEAD.size or (len(payload) - _GOP_HEAD.size) % 4:
            raise ContainerError("feature stream chunk has a bad length")
        tag, quality, n, c, h0, w0 = _GOP_HEAD.unpack_from(payload)
        bad_size = not (0 < h0 <= MAX_SIDE and 0 < w0 <= MAX_SIDE)
        if tag not in (GOP_TAG, GOP_TAG_MODES) or c != self.config.in_channels or n < 1 or bad_size:
            raise ContainerError("feature stream chunk header is damaged or made by another model")
        if expect is not None and (n, h0, w0) != tuple(expect):
            raise ContainerError(f"feature stream chunk holds {n} maps of {h0}x{w0}, the header says "
                                 f"{expect[0]} of {expect[1]}x{expect[2]}")
        f = self.config.fold
        h, w = -(-h0 // f), -(-w0 // f)  # the folded maps the transforms code
        quality = self._check_quality(quality)
        self._ensure_exported()
        words = np.frombuffer(payload, dtype="<u4", offset=_GOP_HEAD.size).astype(np.uint32)
        m = self.config.multiple
        shape = (h + (-h) % m, w + (-w) % m)
        try:
            dec = constriction.stream.queue.RangeDecoder(words)
            step = self.residual_steps[quality]
            lq = self._latent(quality)
            x_hat = self.intra.decompress(dec, shape, lq, self.tables)
            if step > 0:
                x_hat = decode_residual(x_hat, step, h, w, dec, self.tables)
            outs, flows = [x_hat], []
            for _ in range(1, n):
                vector, skip = decode_mode(dec) if tag == GOP_TAG_MODES else (None, False)
                fixed = constant_field(vector, x_hat) if vector is not None else None
                x_hat, v_hat, warped = self.inter.decompress(dec, x_hat, lq, self.tables, fixed=fixed,
                                                             skip=skip)
                if step > 0:
                    x_hat = decode_residual(x_hat, step, h, w, dec, self.tables)
                flows.append(self.fmvr(v_hat, x_hat, warped))
                outs.append(x_hat)
        except (ValueError, RuntimeError, AssertionError, OverflowError) as exc:
            raise ContainerError(f"feature stream is damaged ({exc})") from None
        out = self._unfold_result(self._result(outs, flows, h, w, None), h0, w0)
        out["quality"] = quality
        return out

    @staticmethod
    def _result(outs, flows, h, w, bits) -> dict:
        x_hat = torch.cat(outs, 0)[..., :h, :w]
        flows_t = torch.cat(flows, 0)[..., :h, :w] if flows else torch.zeros(0, 2, h, w, dtype=torch.float64)
        return {"x_hat": x_hat, "flows": flows_t, "bits": bits}

    def _ensure_exported(self) -> None:
        if self.intra.coder.step64.numel() == 0:
            self.export()

    # -- export / load -------------------------------------------------------------------------------
    def export(self) -> None:
        """Fix integer weights and float64 constants from the float parameters (after training)."""
        freeze_all(self)
        for coder in self.coders():
            coder.export_constants()

    def save(self, path: str | Path, meta: dict | None = None) -> str:
        """Write weights, integer weights, constants and tables; returns the file's sha256."""
        self.export()
        quantized = {f"{n}.{p}" for n, m in self.named_modules() if isinstance(m, QConv)
                     for p in ("weight", "bias")}
        consts = {}
        for i, coder in enumerate(self.coders()):
            consts[f"{i}.step"] = coder.step64
            consts[f"{i}.log_step"] = coder.log_step64
            consts[f"{i}.z_index"] = coder.z_index
        blob = {
            "format": FORMAT, "version": 1, "config": self.config.to_dict(), "meta": dict(meta or {}),
            "state": {k: v.detach().clone() for k, v in self.state_dict().items() if k not in quantized},
            "exact": exact_state(self), "constants": consts, "tables": torch.from_numpy(self.tables.probs),
            "residual_steps": [float(v) for v in self.residual_steps],
        }
        buf = io.BytesIO()
        torch.save(blob, buf)
        data = buf.getvalue()
        Path(path).write_bytes(data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        return self.sha256

    @classmethod
    def load(cls, path: str | Path) -> FeatureCodec:
        """Load a saved codec; decoding then uses only the stored integers, constants and tables."""
        data = Path(path).read_bytes()
        try:
            blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            if blob.get("format") != FORMAT or blob.get("version") != 1:
                raise ValueError("not a codec file")
            model = cls(CodecConfig.from_dict(blob["config"]))
            model.load_state_dict(blob["state"], strict=False)
            load_exact_state(model, blob["exact"])
            for m in model.modules():
                if isinstance(m, QConv):  # float weights for fine-tuning, equal to the integers
                    m.weight.data.copy_(m.w64)
                    m.bias.data.copy_(m.b64)
            for i, coder in enumerate(model.coders()):
                coder.step64 = blob["constants"][f"{i}.step"].double()
                coder.log_step64 = blob["constants"][f"{i}.log_step"].double()
                coder.z_index = blob["constants"][f"{i}.z_index"].long()
            model.tables = Tables(blob["tables"].double().numpy())
            steps = [float(v) for v in blob.get("residual_steps", [0.0] * model.config.qualities)]
            if len(steps) < model.config.qualities or len(steps) > 16 or any(v < 0 for v in steps):
                raise ValueError("bad residual steps")
            model.residual_steps = steps
        except (ValueError, KeyError, RuntimeError, TypeError, pickle.UnpicklingError, EOFError) as exc:
            unreadable = isinstance(exc, (pickle.UnpicklingError, EOFError))
            reason = "not a saved torch file" if unreadable else str(exc).splitlines()[0][:120]
            raise ModelMismatchError(f"{path}: not a usable spikesci codec weights file ({reason})") from None
        model.meta = blob.get("meta", {})
        model.sha256 = hashlib.sha256(data).hexdigest()
        return model.eval()
