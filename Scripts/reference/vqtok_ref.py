"""PyTorch reference for vqtok: the taming-family and GSQ image tokenizers built from a model directory.

A model directory holds ``config.json`` (the schema in Models/README.md; the Swift side decodes the
same file into ``ModelConfig``) and ``model.safetensors`` under the upstream tensor names:

- ``taming`` / ``vqgan_lc``: ``encoder.down.{i}.block.{j}.*``, ``encoder.mid.block_1`` ...,
  ``decoder.up.{i}.*`` with ``up.0`` the highest resolution (taming-transformers naming);
- ``llamagen``: ``encoder.conv_blocks.{i}.res.{j}.*``, ``encoder.mid.{0,1,2}``,
  ``decoder.conv_blocks.{k}.*`` with ``conv_blocks.0`` the lowest resolution (runs first);
- ``gsq``: flex_gen's flexTokenizer, ``encoder.blocks.{n}.*`` / ``decoder.blocks.{n}.*`` (flat
  lists), ``quantizers.codebook.weight``; built by vqtok_ref_gsq.py (see there).

Quantizers (``quantizer.kind``):

- ``l2``           ``quantize.embedding.weight [n, e]``; nearest row by squared L2.
- ``projected_l2`` (VQGAN-LC) ``tok_embeddings.weight [n, F]`` (frozen) and
                   ``codebook_projection.{weight [e, F], bias [e]}``; P = E·Wᵀ + b; nearest row of P.
- ``cosine``       (LlamaGen) ``quantize.embedding.weight [n, e]``; latent and rows l2-normalized,
                   nearest normalized row by squared L2; decoding looks up normalized rows.
- ``grouped_spherical`` (GSQ) ``quantizers.codebook.weight [n, e/G]`` shared by the G groups of a
                   position; each group and each row l2-normalized, ids [B, h, w, G]; decoding
                   looks up the raw (not normalized) rows.

Distances are computed as upstream does, d = ‖z‖² + ‖c‖² − 2 z·cᵀ in float32, and the id is
``torch.argmin`` (first index on exact ties). ``gaps`` are a float64 diagnostic for near-ties.

This file is written for vqtok; it follows the published architectures but is not upstream code.

CLI (run from the repository root):
    python Scripts/reference/vqtok_ref.py inspect --model DIR
    python Scripts/reference/vqtok_ref.py encode  --model DIR [--npy out.npy] image ...
    python Scripts/reference/vqtok_ref.py decode  --model DIR ids.npy -o out.png
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# Tensors an upstream checkpoint may carry that inference never reads.
IGNORED_PREFIXES = ("loss.", "discriminator.", "perceptual_loss.")
IGNORED_KEYS = ("quantize.codebook_used",)


# --------------------------------------------------------------------------------------------
# config.json (vqtok_ref_config.py) and the layers (vqtok_ref_layers.py), beside this file
# (found from anywhere this file is loaded)
# --------------------------------------------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from vqtok_ref_config import (  # noqa: E402,F401  (re-exported: vqtok_ref is the public module)
    FAMILIES, PLACEMENTS, QUANTIZER_KINDS, SCHEMA_VERSION, EncoderDecoderConfig, ModelConfig, PreprocessingConfig,
    QuantizerConfig,
)
from vqtok_ref_layers import (  # noqa: E402,F401  (re-exported: vqtok_ref is the public module)
    AttnBlock, CachedCodebook, Decoder, Downsample, Encoder, ResnetBlock, Upsample, _Codebook, normalize,
    relative_gaps, swish,
)
from vqtok_ref_gsq import GSQTokenizer  # noqa: E402,F401  (family gsq)

# What the reference offers, its own and re-exported (so that the imports above count as used).
__all__ = [
    "FAMILIES", "PLACEMENTS", "QUANTIZER_KINDS", "SCHEMA_VERSION", "EncoderDecoderConfig", "ModelConfig",
    "PreprocessingConfig", "QuantizerConfig", "AttnBlock", "Decoder", "Downsample", "Encoder", "ResnetBlock",
    "Upsample", "normalize", "relative_gaps", "swish", "GSQTokenizer", "VQTokenizer", "build", "filter_state_dict",
    "taming_to_llamagen_key", "load_model", "save_model", "resized_size", "adm_center_crop", "preprocess_pil",
    "pixels_to_tensor", "preprocess", "postprocess", "main",
]


# --------------------------------------------------------------------------------------------
# The tokenizer
# --------------------------------------------------------------------------------------------

class VQTokenizer(CachedCodebook):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        ed, q = cfg.encoder_decoder, cfg.quantizer
        style = "llamagen" if cfg.family == "llamagen" else "taming"
        self.encoder = Encoder(ed, style)
        self.decoder = Decoder(ed, style)
        self.quant_conv = nn.Conv2d(ed.z_channels, q.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(q.embed_dim, ed.z_channels, 1)
        if q.kind == "projected_l2":
            self.tok_embeddings = nn.Embedding(q.codebook_size, q.frozen_codebook_dim)
            self.tok_embeddings.weight.requires_grad_(False)
            self.codebook_projection = nn.Linear(q.frozen_codebook_dim, q.embed_dim, bias=True)
        else:
            self.quantize = _Codebook(q.codebook_size, q.embed_dim)

    # -- the matching table ------------------------------------------------------------------

    def match_rows(self) -> torch.Tensor:
        """Rows the latents are matched against and decoded from, [n, e] float32 (``codebook()``
        caches them). l2: E.  projected_l2: P = E·Wᵀ + b (nn.Linear).  cosine: E / max(‖E‖, 1e-12)
        per row."""
        kind = self.cfg.quantizer.kind
        if kind == "projected_l2":
            return self.codebook_projection(self.tok_embeddings.weight)
        if kind == "cosine":
            return F.normalize(self.quantize.embedding.weight, p=2, dim=-1)
        return self.quantize.embedding.weight

    # -- encode / decode -----------------------------------------------------------------------

    @torch.no_grad()
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """quant_conv(encoder(x)): [B, e, h, w]."""
        return self.quant_conv(self.encoder(x))

    @torch.no_grad()
    def quantize_latents(self, z: torch.Tensor):
        """Nearest codebook row per position. Returns (ids int64 [B,h,w], gaps float32 [B,h,w])."""
        b, e, hh, ww = z.shape
        zf = z.permute(0, 2, 3, 1).reshape(-1, e)
        if self.cfg.quantizer.kind == "cosine":
            zf = F.normalize(zf, p=2, dim=-1)
        cb = self.codebook()
        d = (torch.sum(zf ** 2, dim=1, keepdim=True) + torch.sum(cb ** 2, dim=1)
             - 2 * torch.einsum("bd,dn->bn", zf, cb.t()))
        ids = torch.argmin(d, dim=1)
        gaps = relative_gaps(zf, cb)
        return ids.reshape(b, hh, ww), gaps.reshape(b, hh, ww)

    @torch.no_grad()
    def encode(self, x: torch.Tensor):
        """x: [B,3,H,W] in [-1,1]. Returns (latents [B,e,h,w] f32, ids [B,h,w] int64, gaps f32)."""
        z = self.latents(x)
        ids, gaps = self.quantize_latents(z)
        return z, ids, gaps

    @torch.no_grad()
    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B,h,w] → codebook rows as [B,e,h,w] (what the decoder's post_quant_conv sees)."""
        cb = self.codebook()
        return F.embedding(ids.long(), cb).permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B,h,w] → images [B,3,H,W], unclamped decoder output."""
        return self.decoder(self.post_quant_conv(self.embed_ids(ids)))


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

def build(cfg: ModelConfig):
    """A VQTokenizer, or for family gsq a GSQTokenizer (same interface, ids [B,h,w,G])."""
    if cfg.family == "gsq":
        return GSQTokenizer(cfg).eval()
    return VQTokenizer(cfg).eval()


def filter_state_dict(sd: dict) -> dict:
    """Drop training-only tensors; widen f16/bf16/f64 to f32."""
    out = {}
    for k, v in sd.items():
        if k in IGNORED_KEYS or k.startswith(IGNORED_PREFIXES):
            continue
        out[k] = v.float() if v.is_floating_point() else v
    return out


def taming_to_llamagen_key(name: str, num_levels: int) -> str:
    """Map a taming tensor name to LlamaGen's (design: tokenizer-architectures.md §3)."""
    m = re.match(r"^(encoder|decoder)\.mid\.(block_1|attn_1|block_2)\.(.*)$", name)
    if m:
        return f"{m.group(1)}.mid.{ {'block_1': 0, 'attn_1': 1, 'block_2': 2}[m.group(2)] }.{m.group(3)}"
    m = re.match(r"^encoder\.down\.(\d+)\.(block|attn|downsample)(.*)$", name)
    if m:
        part = "res" if m.group(2) == "block" else m.group(2)
        return f"encoder.conv_blocks.{m.group(1)}.{part}{m.group(3)}"
    m = re.match(r"^decoder\.up\.(\d+)\.(block|attn|upsample)(.*)$", name)
    if m:
        part = "res" if m.group(2) == "block" else m.group(2)
        return f"decoder.conv_blocks.{num_levels - 1 - int(m.group(1))}.{part}{m.group(3)}"
    return name


def load_model(model_dir: str):
    """Build from ``config.json`` and load ``model.safetensors`` with strict name/shape checks."""
    from safetensors.torch import load_file
    cfg = ModelConfig.load(os.path.join(model_dir, "config.json"))
    model = build(cfg)
    sd = filter_state_dict(load_file(os.path.join(model_dir, "model.safetensors")))
    for k, v in sd.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"{k}: non-finite values")
    model.load_state_dict(sd, strict=True)
    return model


def save_model(model, model_dir: str, dtype: str = "F32") -> None:
    """Write config.json and model.safetensors (F32, or F16/BF16 if asked) under upstream names."""
    from safetensors.torch import save_file
    os.makedirs(model_dir, exist_ok=True)
    model.cfg.save(os.path.join(model_dir, "config.json"))
    tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    sd = {k: v.detach().contiguous().to(tdt) for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(model_dir, "model.safetensors"))


# --------------------------------------------------------------------------------------------
# Pre- and post-processing (taming / VQGAN-LC: shortest side to S, center crop, x/127.5 − 1)
# --------------------------------------------------------------------------------------------

def resized_size(w: int, h: int, s: int):
    """Shortest side → s; the other side scaled and rounded half up (integer arithmetic)."""
    if w <= h:
        return s, max(s, (h * s * 2 + w) // (2 * w))
    return max(s, (w * s * 2 + h) // (2 * h)), s


def adm_center_crop(img, resolution: int):
    """LlamaGen's ``center_crop_arr`` (from ADM): BOX halvings while the shortest side is at least
    twice ``resolution``, BICUBIC so that it equals ``resolution`` (sides rounded half to even),
    then the center square at ((W−S)//2, (H−S)//2)."""
    from PIL import Image
    while min(*img.size) >= 2 * resolution:
        img = img.resize(tuple(x // 2 for x in img.size), resample=Image.BOX)
    scale = resolution / min(*img.size)
    img = img.resize(tuple(round(x * scale) for x in img.size), resample=Image.BICUBIC)
    left, top = (img.size[0] - resolution) // 2, (img.size[1] - resolution) // 2
    return img.crop((left, top, left + resolution, top + resolution))


def preprocess_pil(img, resolution: int, interpolation: str = "bilinear", shortest_side: Optional[int] = None,
                   center_crop: Optional[str] = None):
    """PIL image → PIL RGB image of resolution×resolution: shortest side resized to ``resolution``
    (or to ``shortest_side``, timm's evaluation resize) with PIL's resampling filter (which
    antialiases when shrinking), then a center crop at ((W−S)//2, (H−S)//2). No resize when the
    shortest side already has that size. ``center_crop="adm"``: ``adm_center_crop`` instead."""
    from PIL import Image
    img = img.convert("RGB")
    if center_crop == "adm":
        return adm_center_crop(img, resolution)
    w, h = img.size
    nw, nh = resized_size(w, h, shortest_side or resolution)
    if (nw, nh) != (w, h):
        resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[interpolation]
        img = img.resize((nw, nh), resample=resample)
    left, top = (nw - resolution) // 2, (nh - resolution) // 2
    return img.crop((left, top, left + resolution, top + resolution))


def pixels_to_tensor(rgb_uint8: np.ndarray) -> torch.Tensor:
    """uint8 HWC → float32 CHW as taming does: float32(float64(v) / 127.5 − 1)."""
    a = (rgb_uint8.astype(np.float64) / 127.5 - 1.0).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def preprocess(img, resolution: int, interpolation: str = "bilinear", shortest_side: Optional[int] = None,
               center_crop: Optional[str] = None) -> torch.Tensor:
    """PIL image → float32 [3, S, S] in [-1, 1]."""
    return pixels_to_tensor(np.asarray(preprocess_pil(img, resolution, interpolation, shortest_side, center_crop),
                                       dtype=np.uint8))


def postprocess(x: torch.Tensor) -> np.ndarray:
    """[B,3,H,W] or [3,H,W] → uint8 HWC (batched: BHWC): clamp to [-1,1], (x+1)·127.5, round
    (half to even, torch.round)."""
    y = torch.round((x.clamp(-1.0, 1.0) + 1.0) * 127.5).to(torch.uint8)
    if y.dim() == 4:
        return y.permute(0, 2, 3, 1).contiguous().numpy()
    return y.permute(1, 2, 0).contiguous().numpy()


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def _load_ids(path: str, grid_ndim: int = 2) -> torch.Tensor:
    """ids of one image ([h,w], or [h,w,G] for gsq: grid_ndim 3) or of a batch of them."""
    if path.endswith(".json"):
        with open(path) as f:
            d = json.load(f)
        a = np.asarray(d["ids"], dtype=np.int64).reshape([-1] + list(d["shape"]))
    else:
        a = np.load(path).astype(np.int64)
    if a.ndim == grid_ndim:
        a = a[None]
    return torch.from_numpy(a)


def main(argv=None) -> int:
    import argparse
    import time
    from PIL import Image
    p = argparse.ArgumentParser(prog="vqtok_ref", description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("inspect")
    pi.add_argument("--model", required=True)
    pe = sub.add_parser("encode")
    pe.add_argument("--model", required=True)
    pe.add_argument("--npy", help="write ids [N,h,w] (gsq: [N,h,w,G]) int64 here instead of printing JSON")
    pe.add_argument("images", nargs="+")
    pd = sub.add_parser("decode")
    pd.add_argument("--model", required=True)
    pd.add_argument("ids", help=".npy ([h,w] or [N,h,w]; gsq: [h,w,G] or [N,h,w,G]) or vqtok JSON")
    pd.add_argument("-o", "--output", required=True, help="PNG path; with N>1 images, _i is appended")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    cfg = model.cfg
    if a.cmd == "inspect":
        n = sum(t.numel() for t in model.state_dict().values())
        g = cfg.preprocessing.resolution // cfg.downsample_factor
        info = {"name": cfg.name, "family": cfg.family, "quantizer": cfg.quantizer.kind,
                "grid": [g, g], "codebook_size": cfg.quantizer.codebook_size,
                "embed_dim": cfg.quantizer.embed_dim, "parameters": n}
        if cfg.quantizer.groups is not None:
            info["groups"] = cfg.quantizer.groups
        print(json.dumps(info, indent=2))
        return 0
    if a.cmd == "encode":
        s = cfg.preprocessing.resolution
        p = cfg.preprocessing
        x = torch.stack([preprocess(Image.open(f), s, p.interpolation, p.shortest_side, p.center_crop) for f in a.images])
        t0 = time.perf_counter()
        _, ids, _ = model.encode(x)
        dt = time.perf_counter() - t0
        if a.npy:
            np.save(a.npy, ids.numpy())
        else:
            for f, grid in zip(a.images, ids):
                print(json.dumps({"model": cfg.name, "image": f, "shape": list(grid.shape),
                                  "codebook_size": cfg.quantizer.codebook_size,
                                  "ids": grid.flatten().tolist()}))
        print(f"encode: {len(a.images)} image(s) in {dt * 1000:.1f} ms", file=__import__("sys").stderr)
        return 0
    ids = _load_ids(a.ids, 3 if cfg.family == "gsq" else 2)
    imgs = postprocess(model.decode(ids))
    for i, im in enumerate(imgs):
        out = a.output if len(imgs) == 1 else f"{os.path.splitext(a.output)[0]}_{i}{os.path.splitext(a.output)[1]}"
        Image.fromarray(im).save(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
