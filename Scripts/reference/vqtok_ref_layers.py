"""Layers of the PyTorch reference (``vqtok_ref``): taming-transformers'
``taming/modules/diffusionmodules/model.py`` semantics, and LlamaGen's arrangement of the same
blocks under its own names. Built from ``vqtok_ref.EncoderDecoderConfig``; see vqtok_ref's docstring
and Scripts/reference/README.md for what each one computes.

This file is written for vqtok; it follows the published architectures but is not upstream code.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

if TYPE_CHECKING:
    from vqtok_ref_config import EncoderDecoderConfig

def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def normalize(channels: int, groups: int, eps: float) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=eps, affine=True)


class ResnetBlock(nn.Module):
    """norm1 → swish → conv1 → norm2 → swish → (dropout 0) → conv2, plus x or nin_shortcut(x)."""

    def __init__(self, cin: int, cout: int, groups: int, eps: float):
        super().__init__()
        self.in_channels, self.out_channels = cin, cout
        self.norm1 = normalize(cin, groups, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = normalize(cout, groups, eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention over the H·W positions, scale C^-0.5, residual."""

    def __init__(self, c: int, groups: int, eps: float):
        super().__init__()
        self.norm = normalize(c, groups, eps)
        self.q = nn.Conv2d(c, c, 1, 1, 0)
        self.k = nn.Conv2d(c, c, 1, 1, 0)
        self.v = nn.Conv2d(c, c, 1, 1, 0)
        self.proj_out = nn.Conv2d(c, c, 1, 1, 0)

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)          # b, hw(query), c
        k = k.reshape(b, c, hh * ww)                           # b, c, hw(key)
        w = torch.bmm(q, k) * (int(c) ** (-0.5))               # b, query, key
        w = F.softmax(w, dim=2)
        v = v.reshape(b, c, hh * ww)
        out = torch.bmm(v, w.permute(0, 2, 1))                 # b, c, query
        return x + self.proj_out(out.reshape(b, c, hh, ww))


class Downsample(nn.Module):
    """Zero pad right and bottom by one, then 3×3 conv with stride 2 and no padding."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0))


class Upsample(nn.Module):
    """Nearest-neighbour ×2, then 3×3 conv (stride 1, pad 1)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _has_attention(ed: EncoderDecoderConfig, level: int, curr_res: int) -> bool:
    if ed.attention_placement == "lowest_level":
        return level == len(ed.ch_mult) - 1
    return curr_res in ed.attn_resolutions


class _Level(nn.Module):
    """One resolution level. The block list is called ``block`` (taming) or ``res`` (llamagen)."""

    def __init__(self, block_name: str, blocks: Sequence[nn.Module], attns: Sequence[nn.Module]):
        super().__init__()
        self.block_name = block_name
        setattr(self, block_name, nn.ModuleList(blocks))
        self.attn = nn.ModuleList(attns)

    @property
    def blocks(self) -> nn.ModuleList:
        return getattr(self, self.block_name)

    def run_blocks(self, h):
        for j, blk in enumerate(self.blocks):
            h = blk(h)
            if len(self.attn) > 0:
                h = self.attn[j](h)
        return h


class _MidTaming(nn.Module):
    def __init__(self, c, groups, eps):
        super().__init__()
        self.block_1 = ResnetBlock(c, c, groups, eps)
        self.attn_1 = AttnBlock(c, groups, eps)
        self.block_2 = ResnetBlock(c, c, groups, eps)

    def forward(self, h):
        return self.block_2(self.attn_1(self.block_1(h)))


def _mid(style: str, c: int, groups: int, eps: float) -> nn.Module:
    if style == "taming":
        return _MidTaming(c, groups, eps)
    return nn.Sequential(ResnetBlock(c, c, groups, eps), AttnBlock(c, groups, eps),
                         ResnetBlock(c, c, groups, eps))   # keys mid.0 / mid.1 / mid.2


class Encoder(nn.Module):
    def __init__(self, ed: EncoderDecoderConfig, style: str):
        super().__init__()
        g, eps = ed.norm_groups, ed.norm_eps
        L = len(ed.ch_mult)
        self.num_levels = L
        self.style = style
        self.conv_in = nn.Conv2d(ed.in_channels, ed.ch, 3, 1, 1)
        in_mult = (1,) + tuple(ed.ch_mult)
        curr_res = ed.resolution
        levels = []
        block_in = ed.ch
        for i in range(L):
            block_in = ed.ch * in_mult[i]
            block_out = ed.ch * ed.ch_mult[i]
            blocks, attns = [], []
            for _ in range(ed.num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, g, eps))
                block_in = block_out
                if _has_attention(ed, i, curr_res):
                    attns.append(AttnBlock(block_in, g, eps))
            lvl = _Level("block" if style == "taming" else "res", blocks, attns)
            if i != L - 1:
                lvl.downsample = Downsample(block_in)
                curr_res //= 2
            levels.append(lvl)
        if style == "taming":
            self.down = nn.ModuleList(levels)
        else:
            self.conv_blocks = nn.ModuleList(levels)
        self.mid = _mid(style, block_in, g, eps)
        self.norm_out = normalize(block_in, g, eps)
        self.conv_out = nn.Conv2d(block_in, ed.z_channels, 3, 1, 1)

    @property
    def levels(self) -> nn.ModuleList:
        return self.down if self.style == "taming" else self.conv_blocks

    def forward(self, x):
        h = self.conv_in(x)
        for i, lvl in enumerate(self.levels):
            h = lvl.run_blocks(h)
            if i != self.num_levels - 1:
                h = lvl.downsample(h)
        h = self.mid(h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, ed: EncoderDecoderConfig, style: str):
        super().__init__()
        g, eps = ed.norm_groups, ed.norm_eps
        L = len(ed.ch_mult)
        self.num_levels = L
        self.style = style
        block_in = ed.ch * ed.ch_mult[-1]
        curr_res = ed.resolution // 2 ** (L - 1)
        self.conv_in = nn.Conv2d(ed.z_channels, block_in, 3, 1, 1)
        self.mid = _mid(style, block_in, g, eps)
        by_level = {}
        for i in reversed(range(L)):                 # lowest resolution first, as it runs
            block_out = ed.ch * ed.ch_mult[i]
            blocks, attns = [], []
            for _ in range(ed.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, block_out, g, eps))
                block_in = block_out
                if _has_attention(ed, i, curr_res):
                    attns.append(AttnBlock(block_in, g, eps))
            lvl = _Level("block" if style == "taming" else "res", blocks, attns)
            if i != 0:
                lvl.upsample = Upsample(block_in)
                curr_res *= 2
            by_level[i] = lvl
        if style == "taming":
            # decoder.up.{i}: i is the resolution level, up.0 the highest resolution.
            self.up = nn.ModuleList([by_level[i] for i in range(L)])
        else:
            # decoder.conv_blocks.{k}: k = 0 is the lowest resolution (level L-1).
            self.conv_blocks = nn.ModuleList([by_level[i] for i in reversed(range(L))])
        self.norm_out = normalize(block_in, g, eps)
        self.conv_out = nn.Conv2d(block_in, ed.out_channels, 3, 1, 1)

    def levels_in_run_order(self):
        if self.style == "taming":
            return [(i, self.up[i]) for i in reversed(range(self.num_levels))]
        return [(self.num_levels - 1 - k, lvl) for k, lvl in enumerate(self.conv_blocks)]

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for i, lvl in self.levels_in_run_order():
            h = lvl.run_blocks(h)
            if i != 0:
                h = lvl.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class _Codebook(nn.Module):
    """Holds ``embedding`` so that the key is ``quantize.embedding.weight``."""

    def __init__(self, n: int, e: int):
        super().__init__()
        self.embedding = nn.Embedding(n, e)


def relative_gaps(zf: torch.Tensor, cb: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """(second-best − best) / max(|best|, 1e-12) of d = ‖z‖² + ‖c‖² − 2 z·c, all in float64."""
    cb64 = cb.double()
    cn = torch.sum(cb64 ** 2, dim=1)
    out = []
    for s in range(0, zf.shape[0], chunk):
        z64 = zf[s:s + chunk].double()
        d = torch.sum(z64 ** 2, dim=1, keepdim=True) + cn - 2 * (z64 @ cb64.t())
        two = torch.topk(d, 2, dim=1, largest=False).values
        best, second = two[:, 0], two[:, 1]
        out.append((second - best) / torch.clamp(best.abs(), min=1e-12))
    return torch.cat(out).float()


class CachedCodebook(nn.Module):
    """Base of the tokenizers: the rows ids are matched against (``match_rows``, derived from
    the weights) computed once and cached; loading weights drops the cache."""

    def __init__(self):
        super().__init__()
        self._codebook_cache = None

    def match_rows(self) -> torch.Tensor:
        raise NotImplementedError

    def codebook(self) -> torch.Tensor:
        """``match_rows()`` as float32, cached; call ``invalidate_codebook()`` after changing weights."""
        if self._codebook_cache is None:
            with torch.no_grad():
                self._codebook_cache = self.match_rows().detach().clone()
        return self._codebook_cache

    def invalidate_codebook(self) -> None:
        self._codebook_cache = None

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self.invalidate_codebook()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
