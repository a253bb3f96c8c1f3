"""GSQ family of the PyTorch reference (``vqtok_ref``): the "flexTokenizer" of
HelmholtzAI-FZJ/flex_gen (a MAGVIT-v2-like convolutional encoder/decoder) with its
GroupSphereQuantizer (``use_l2_norm=True``, plain argmin).

Layers, module order, tensor names and arithmetic follow upstream's
``flex_gen/autoencoders/flexTokenizer/{layers,flexTokenizerEncoder,flexTokenizerDecoder}.py`` and
``flex_gen/quantizers/{group_sphere_quantizer,utils}.py``:

- ``encoder.conv_in``, ``encoder.blocks.{n}`` (one flat list: ResNetBlock ``net.{0,2,3,6}`` and
  ``skip``, AttentionBlock ``norm``/``qkv_conv``/``proj_conv``, Downsample ``conv``),
  ``encoder.fianl_layers.{0,2}`` [sic]; no quant_conv, the encoder's output is the latent.
- ``decoder.conv_in``, ``decoder.blocks.{n}`` (also AdaptiveGroupNorm2D ``gamma``/``beta`` and
  Upsample / DepthToSpace2DWithConv ``conv``), ``decoder.final_layers.{0,2}``; no post_quant_conv.
- ``quantizers.codebook.weight [V, D/G]``: one codebook shared by the G groups of a position.

Differences from upstream, on purpose: ties are broken by ``torch.argmin`` (lowest index), not at
random (upstream's default ``argmin_func='random'``), and decoding takes the raw codebook rows at
the ids, where upstream's training forward feeds the decoder x + (q − x) (equal to q up to
rounding).

This file is written for vqtok; it follows the published architecture but is not upstream code.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqtok_ref_layers import CachedCodebook, relative_gaps

if TYPE_CHECKING:
    from vqtok_ref_config import EncoderDecoderConfig, ModelConfig

# Upstream hard-codes these: attention and adaptive norms use eps 1e-6 whatever the blocks use.
ATTENTION_EPS = 1e-6
ADAPTIVE_NORM_EPS = 1e-6


# --------------------------------------------------------------------------------------------
# Layers (flexTokenizer/layers.py)
# --------------------------------------------------------------------------------------------

class ResNetBlock(nn.Module):
    """net = GN, SiLU, conv3×3 in→out, GN, SiLU, Dropout2d(0), conv3×3 out→out; plus skip."""

    def __init__(self, cin: int, cout: int, groups: int, eps: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.GroupNorm(groups, cin, eps=eps),
            nn.SiLU(),
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.GroupNorm(groups, cout, eps=eps),
            nn.SiLU(),
            nn.Identity(),          # upstream's Dropout2d(p=0): keeps conv2 at index 6
            nn.Conv2d(cout, cout, 3, padding=1),
        )
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        return self.net(x) + self.skip(x)


class Downsample(nn.Module):
    """3×3 conv, stride 2, symmetric padding 1 (taming pads right/bottom only)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over H·W with one qkv 1×1 conv and SDPA (scale C^-0.5)."""

    def __init__(self, c: int, groups: int):
        super().__init__()
        self.channels = c
        self.norm = nn.GroupNorm(groups, c, eps=ATTENTION_EPS, affine=True)
        self.qkv_conv = nn.Conv2d(c, 3 * c, 1)
        self.proj_conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, _, hh, ww = x.shape
        qkv = self.qkv_conv(self.norm(x))
        # (B, 3C, H, W) → (B, HW, 3C), split along channels as upstream does: the same strided
        # views go into SDPA, so the same kernel runs.
        qkv = qkv.permute(0, 2, 3, 1).reshape(b, -1, qkv.shape[1]).contiguous()
        q, k, v = torch.split(qkv, self.channels, dim=2)
        h = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
        h = h.reshape(b, hh, ww, -1).permute(0, 3, 1, 2).contiguous()
        return x + self.proj_conv(h)


class AdaptiveGroupNorm2D(nn.Module):
    """GN without affine, then gamma(s)·GN(x) + beta(m), where s and m are the per-channel
    spatial std and mean of the decoder's input z (D channels)."""

    def __init__(self, cond_channels: int, c: int, groups: int):
        super().__init__()
        self.gn = nn.GroupNorm(groups, c, eps=ADAPTIVE_NORM_EPS, affine=False)
        self.gamma = nn.Linear(cond_channels, c)
        self.beta = nn.Linear(cond_channels, c)

    def forward(self, x, z):
        b, c = x.shape[:2]
        zf = z.reshape(z.shape[0], z.shape[1], -1)
        # Tensor.var's default is the unbiased (N−1) estimate, although upstream's comment says
        # "not unbias"; the code is what trained the checkpoints.
        scale = self.gamma((zf.var(dim=-1) + ADAPTIVE_NORM_EPS).sqrt()).view(b, c, 1, 1)
        bias = self.beta(zf.mean(dim=-1)).view(b, c, 1, 1)
        return scale * self.gn(x) + bias


class Upsample(nn.Module):
    """Nearest ×2, then 3×3 conv."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """DCR depth-to-space: out[b, c, h·s+i, w·s+j] = in[b, (i·s + j)·C + c, h, w]."""
    c, h, w = x.shape[-3:]
    s = block * block
    outer = x.shape[:-3]
    x = x.view(-1, block, block, c // s, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.contiguous().view(*outer, c // s, h * block, w * block)


class DepthToSpace2DWithConv(nn.Module):
    """3×3 conv C→4C, then depth_to_space by 2."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, 4 * c, 3, padding=1)

    def forward(self, x):
        return depth_to_space(self.conv(x), 2)


def _final_layers(cin: int, cout: int, kernel: int, groups: int, eps: float) -> nn.Sequential:
    return nn.Sequential(nn.GroupNorm(groups, cin, eps=eps), nn.SiLU(),
                         nn.Conv2d(cin, cout, kernel, padding=kernel // 2))


# --------------------------------------------------------------------------------------------
# Encoder and decoder (flexTokenizerEncoder.py, flexTokenizerDecoder.py)
# --------------------------------------------------------------------------------------------

class GsqEncoder(nn.Module):
    def __init__(self, ed: EncoderDecoderConfig):
        super().__init__()
        g, eps = ed.norm_groups, ed.norm_eps
        nb = ed.encoder_blocks
        self.conv_in = nn.Conv2d(ed.in_channels, ed.ch, 3, padding=1)
        blocks = []
        cin, factor = ed.ch, 1
        for i, m in enumerate(ed.ch_mult):
            cout = ed.ch * m
            if cin != cout:                       # MAGVIT's channel-change block
                blocks.append(ResNetBlock(cin, cout, g, eps))
            for _ in range(nb[i]):
                blocks.append(ResNetBlock(cout, cout, g, eps))
                if factor in ed.attn_resolutions:
                    blocks.append(AttentionBlock(cout, g))
            if i < len(ed.ch_mult) - 1:
                blocks.append(Downsample(cout))
                factor *= 2
            cin = cout
        for i in range(nb[-1]):
            blocks.append(ResNetBlock(cin, cin, g, eps))
            if ed.mid_attention and i < nb[-1] - 1:
                blocks.append(AttentionBlock(cin, g))
        self.blocks = nn.ModuleList(blocks)
        self.fianl_layers = _final_layers(cin, ed.z_channels, 1, g, eps)   # upstream's spelling

    def forward(self, x):
        h = self.conv_in(x)
        for blk in self.blocks:
            h = blk(h)
        return self.fianl_layers(h)


class GsqDecoder(nn.Module):
    def __init__(self, ed: EncoderDecoderConfig):
        super().__init__()
        g, eps, d = ed.norm_groups, ed.norm_eps, ed.z_channels
        nb = ed.decoder_blocks
        L = len(ed.ch_mult)
        c = ed.ch * ed.ch_mult[-1]
        self.conv_in = nn.Conv2d(d, c, 3, padding=1)
        blocks = []
        for i in range(nb[-1]):
            blocks.append(ResNetBlock(c, c, g, eps))
            if ed.mid_attention and i < nb[-1] - 1:
                blocks.append(AttentionBlock(c, g))
        if ed.adaptive_norm:
            blocks.append(AdaptiveGroupNorm2D(d, c, g))
        cin, factor = c, 2 ** (L - 1)
        level_blocks = nb[:-1][::-1]
        for i, m in enumerate(ed.ch_mult[::-1]):
            cout = ed.ch * m
            if cin != cout:
                blocks.append(ResNetBlock(cin, cout, g, eps))
            for _ in range(level_blocks[i]):
                blocks.append(ResNetBlock(cout, cout, g, eps))
                if factor in ed.attn_resolutions:
                    blocks.append(AttentionBlock(cout, g))
            if i < L - 1:
                blocks.append(DepthToSpace2DWithConv(cout) if ed.depth_to_space else Upsample(cout))
                if ed.adaptive_norm:
                    blocks.append(AdaptiveGroupNorm2D(d, cout, g))
                factor //= 2
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.final_layers = _final_layers(cin, ed.out_channels, 3, g, eps)

    def forward(self, z):
        h = self.conv_in(z)
        for blk in self.blocks:
            h = blk(h, z) if isinstance(blk, AdaptiveGroupNorm2D) else blk(h)
        return self.final_layers(h)


# --------------------------------------------------------------------------------------------
# The tokenizer
# --------------------------------------------------------------------------------------------

class _SharedCodebook(nn.Module):
    """Holds ``codebook`` so that the key is ``quantizers.codebook.weight`` [V, D/G]."""

    def __init__(self, n: int, d: int):
        super().__init__()
        self.codebook = nn.Embedding(n, d)


class GSQTokenizer(CachedCodebook):
    """Same interface as ``vqtok_ref.VQTokenizer``, with ids and gaps [B, h, w, G]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        q = cfg.quantizer
        self.groups = q.groups
        self.group_dim = q.embed_dim // q.groups
        self.encoder = GsqEncoder(cfg.encoder_decoder)
        self.decoder = GsqDecoder(cfg.encoder_decoder)
        self.quantizers = _SharedCodebook(q.codebook_size, self.group_dim)

    def match_rows(self) -> torch.Tensor:
        """Rows the latent groups are matched against, [V, d]: F.normalize(codebook) (``codebook()``
        caches them). Decoding reads the raw rows, ``quantizers.codebook.weight``."""
        return F.normalize(self.quantizers.codebook.weight, p=2, dim=-1)

    @torch.no_grad()
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """encoder(x): [B, D, h, w]."""
        return self.encoder(x)

    def group_vectors(self, z: torch.Tensor) -> torch.Tensor:
        """[B, D, h, w] → l2-normalized group vectors [B·h·w·G, d]; group g of a position is
        channels [g·d, (g+1)·d) (einops "(g d)")."""
        b, dd, hh, ww = z.shape
        zf = z.permute(0, 2, 3, 1).reshape(b * hh * ww, dd).reshape(-1, self.group_dim)
        return F.normalize(zf, p=2, dim=-1)

    @torch.no_grad()
    def quantize_latents(self, z: torch.Tensor):
        """Nearest normalized codebook row per group. Returns (ids int64 [B,h,w,G], gaps [B,h,w,G])."""
        b, _, hh, ww = z.shape
        x = self.group_vectors(z)
        y_t = self.codebook().t()
        # upstream's compute_dist, same expression order
        d = (torch.sum(x ** 2, dim=-1, keepdim=True) + torch.sum(y_t ** 2, dim=0, keepdim=True)
             - 2 * torch.matmul(x, y_t))
        ids = torch.argmin(d, dim=-1)
        gaps = relative_gaps(x, self.codebook())
        shape = (b, hh, ww, self.groups)
        return ids.reshape(shape), gaps.reshape(shape)

    @torch.no_grad()
    def encode(self, x: torch.Tensor):
        """x: [B,3,H,W] in [-1,1]. Returns (latents [B,D,h,w], ids [B,h,w,G] int64, gaps f32)."""
        z = self.latents(x)
        ids, gaps = self.quantize_latents(z)
        return z, ids, gaps

    @torch.no_grad()
    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B,h,w,G] → raw codebook rows, groups concatenated, as [B,D,h,w]."""
        b, hh, ww, g = ids.shape
        code = F.embedding(ids.long(), self.quantizers.codebook.weight)      # B,h,w,G,d
        return code.reshape(b, hh, ww, g * self.group_dim).permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B,h,w,G] → images [B,3,H,W], unclamped decoder output."""
        return self.decoder(self.embed_ids(ids))
