"""Training model for the VQGAN-LC-style tokenizer shipped in Models/.

The encoder and decoder are the taming ones, written out here with the upstream module names so
that ``state_dict()`` has exactly the upstream tensor names (encoder.down.{i}.block.{j}.norm1...,
quant_conv, post_quant_conv, tok_embeddings.weight, codebook_projection.weight/bias), which is what
the Swift runtime loads.  If the repository's PyTorch reference (Scripts/reference/vqtok_ref.py) is
importable, ``train.py`` checks that both give identical outputs for the same weights.

Training-only parts (straight-through estimator, commitment/codebook losses) live here too; they
add no tensors to the state dict.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def Normalize(c, groups=32, eps=1e-6):
    return nn.GroupNorm(num_groups=groups, num_channels=c, eps=eps, affine=True)


def swish(x):
    return x * torch.sigmoid(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x, return_latents=False):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x, return_latents=False):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, groups, eps):
        super().__init__()
        self.norm1 = Normalize(cin, groups, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = Normalize(cout, groups, eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)
        else:
            self.nin_shortcut = None

    def forward(self, x, return_latents=False):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups, eps):
        super().__init__()
        self.norm = Normalize(c, groups, eps)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, return_latents=False):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)  # b, hw, c
        k = k.reshape(b, c, hh * ww).permute(0, 2, 1)
        v = v.reshape(b, c, hh * ww).permute(0, 2, 1)
        o = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)).squeeze(1)
        o = o.permute(0, 2, 1).reshape(b, c, hh, ww)
        return x + self.proj_out(o)


class _Level(nn.Module):
    pass


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels,
                 in_channels=3, norm_groups=32, norm_eps=1e-6, **_):
        super().__init__()
        g, e = norm_groups, norm_eps
        self.num_resolutions = len(ch_mult)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        curr_res = resolution
        in_ch_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i in range(self.num_resolutions):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_ch_mult[i], ch * ch_mult[i]
            for _ in range(num_res_blocks):
                block.append(ResnetBlock(block_in, block_out, g, e))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in, g, e))
            down = _Level()
            down.block, down.attn = block, attn
            if i != self.num_resolutions - 1:
                down.downsample = Downsample(block_in)
                curr_res //= 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, g, e)
        self.mid.attn_1 = AttnBlock(block_in, g, e)
        self.mid.block_2 = ResnetBlock(block_in, block_in, g, e)
        self.norm_out = Normalize(block_in, g, e)
        self.conv_out = nn.Conv2d(block_in, z_channels, 3, 1, 1)

    def forward(self, x, return_latents=False):
        h = self.conv_in(x)
        for i, lvl in enumerate(self.down):
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn) > 0:
                    h = lvl.attn[j](h)
            if i != self.num_resolutions - 1:
                h = lvl.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels,
                 out_channels=3, norm_groups=32, norm_eps=1e-6, **_):
        super().__init__()
        g, e = norm_groups, norm_eps
        self.num_resolutions = len(ch_mult)
        block_in = ch * ch_mult[-1]
        curr_res = resolution // 2 ** (self.num_resolutions - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, g, e)
        self.mid.attn_1 = AttnBlock(block_in, g, e)
        self.mid.block_2 = ResnetBlock(block_in, block_in, g, e)
        self.up = nn.ModuleList()
        for i in reversed(range(self.num_resolutions)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i]
            for _ in range(num_res_blocks + 1):
                block.append(ResnetBlock(block_in, block_out, g, e))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in, g, e))
            up = _Level()
            up.block, up.attn = block, attn
            if i != 0:
                up.upsample = Upsample(block_in)
                curr_res *= 2
            self.up.insert(0, up)
        self.norm_out = Normalize(block_in, g, e)
        self.conv_out = nn.Conv2d(block_in, out_channels, 3, 1, 1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for i in reversed(range(self.num_resolutions)):
            lvl = self.up[i]
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn) > 0:
                    h = lvl.attn[j](h)
            if i != 0:
                h = lvl.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class VQGANLC(nn.Module):
    """Encoder, decoder, frozen codebook E (tok_embeddings), projector (codebook_projection)."""

    def __init__(self, cfg):
        super().__init__()
        ed, q = cfg["encoder_decoder"], cfg["quantizer"]
        self.encoder = Encoder(**ed)
        self.decoder = Decoder(**ed)
        self.tok_embeddings = nn.Embedding(q["codebook_size"], q["frozen_codebook_dim"])
        self.tok_embeddings.weight.requires_grad_(False)
        self.quant_conv = nn.Conv2d(ed["z_channels"], q["embed_dim"], 1)
        self.post_quant_conv = nn.Conv2d(q["embed_dim"], ed["z_channels"], 1)
        self.codebook_projection = nn.Linear(q["frozen_codebook_dim"], q["embed_dim"], bias=True)
        nn.init.normal_(self.codebook_projection.weight, std=q["embed_dim"] ** -0.5)

    def projected_codebook(self):
        return self.codebook_projection(self.tok_embeddings.weight)  # [K, embed_dim]

    @staticmethod
    def nearest(z, P, chunk=8192):
        """z: [B, D, H, W]; returns ids [B, H, W] of the nearest P row by squared L2."""
        b, d, h, w = z.shape
        zf = z.permute(0, 2, 3, 1).reshape(-1, d)
        p2 = (P * P).sum(1)[None, :]
        out = []
        for s in range(0, zf.shape[0], chunk):
            # ‖z‖² is the same for every row and does not change the argmin.
            dist = torch.addmm(p2, zf[s:s + chunk], P.t(), alpha=-2.0)
            out.append(dist.argmin(1))
        return torch.cat(out).reshape(b, h, w)

    def encode(self, x):
        z = self.quant_conv(self.encoder(x))
        P = self.projected_codebook()
        with torch.no_grad():
            ids = self.nearest(z.detach(), P.detach())
        return z, ids, P

    def decode_ids(self, ids, P=None):
        if P is None:
            P = self.projected_codebook()
        zq = F.embedding(ids, P).permute(0, 3, 1, 2)
        return self.decoder(self.post_quant_conv(zq))

    def forward(self, x, return_latents=False):
        """Training forward: straight-through estimator; returns recon, ids, losses."""
        z, ids, P = self.encode(x)
        zq = F.embedding(ids, P).permute(0, 3, 1, 2)  # gradient flows to W, b
        codebook_loss = F.mse_loss(zq, z.detach())
        commit_loss = F.mse_loss(z, zq.detach())
        zst = z + (zq - z).detach()
        xr = self.decoder(self.post_quant_conv(zst))
        if return_latents:
            return xr, ids, codebook_loss, commit_loss, z
        return xr, ids, codebook_loss, commit_loss
