#!/usr/bin/env python3
"""Writes the full-size VQGAN-LC f16 benchmark model: config.json + model.safetensors.

Random weights from a fixed seed (every contender loads the same file), under the upstream
tensor names (shared/reference/keys/keys_vqganlc_f16_dim8.txt): ch 128, ch_mult 1,1,2,2,4, two
res blocks, attention at 16, z 256, frozen codebook 100000x768 with a projector 768->8.
148.6M parameters, about 594 MB of F32. Never committed: the default output folder,
Benchmarks/.cache/ (ignored by Benchmarks/.gitignore), is made again when missing.

Only numpy is needed to write the file. With --calibrate (Scripts/bench/run.sh passes it), the
PyTorch reference (Scripts/reference/vqtok_ref.py) encodes a few random images, and the
projector (codebook_projection.weight/bias) is rescaled so that the projected codebook
P = E·Wᵀ + b has the per-dimension mean and spread of the encoder's latents: random weights
otherwise tend to send every latent to a handful of codes, and a codebook search that always
answers the same few ids measures nothing. The number of distinct ids per image is printed.

Usage: make_bench_model.py [--out DIR] [--seed N] [--calibrate] [--force]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "Benchmarks" / ".cache" / "bench-vqganlc-f16"

CONFIG = {
    "schema_version": 1,
    "name": "bench-vqganlc-f16",
    "family": "vqgan_lc",
    "encoder_decoder": {
        "ch": 128, "ch_mult": [1, 1, 2, 2, 4], "num_res_blocks": 2, "attn_resolutions": [16],
        "resolution": 256, "z_channels": 256, "in_channels": 3, "out_channels": 3,
        "attention_placement": "resolution", "norm_groups": 32, "norm_eps": 1e-6,
    },
    "quantizer": {"kind": "projected_l2", "codebook_size": 100000, "embed_dim": 8,
                  "frozen_codebook_dim": 768},
    "preprocessing": {"resolution": 256, "interpolation": "bilinear"},
}


# --------------------------------------------------------------------------- architecture

def taming_shapes(cfg: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor, in upstream state-dict order (taming Encoder/Decoder)."""
    ed = cfg["encoder_decoder"]
    ch, mult, nrb = ed["ch"], ed["ch_mult"], ed["num_res_blocks"]
    attn_res, res, z = set(ed["attn_resolutions"]), ed["resolution"], ed["z_channels"]
    levels = len(mult)
    out: list[tuple[str, tuple[int, ...]]] = []

    def conv(name, cout, cin, k):
        out.append((f"{name}.weight", (cout, cin, k, k)))
        out.append((f"{name}.bias", (cout,)))

    def norm(name, c):
        out.append((f"{name}.weight", (c,)))
        out.append((f"{name}.bias", (c,)))

    def resblock(name, cin, cout):
        norm(f"{name}.norm1", cin)
        conv(f"{name}.conv1", cout, cin, 3)
        norm(f"{name}.norm2", cout)
        conv(f"{name}.conv2", cout, cout, 3)
        if cin != cout:
            conv(f"{name}.nin_shortcut", cout, cin, 1)

    def attn(name, c):
        norm(f"{name}.norm", c)
        for p in ("q", "k", "v", "proj_out"):
            conv(f"{name}.{p}", c, c, 1)

    # Encoder
    conv("encoder.conv_in", ch, ed["in_channels"], 3)
    in_mult = (1,) + tuple(mult)
    curr = res
    block_in = ch
    for i in range(levels):
        block_in, block_out = ch * in_mult[i], ch * mult[i]
        for j in range(nrb):
            resblock(f"encoder.down.{i}.block.{j}", block_in, block_out)
            block_in = block_out
            if curr in attn_res:
                attn(f"encoder.down.{i}.attn.{j}", block_in)
        if i != levels - 1:
            conv(f"encoder.down.{i}.downsample.conv", block_in, block_in, 3)
            curr //= 2
    resblock("encoder.mid.block_1", block_in, block_in)
    attn("encoder.mid.attn_1", block_in)
    resblock("encoder.mid.block_2", block_in, block_in)
    norm("encoder.norm_out", block_in)
    conv("encoder.conv_out", z, block_in, 3)

    # Decoder
    block_in = ch * mult[-1]
    curr = res // 2 ** (levels - 1)
    conv("decoder.conv_in", block_in, z, 3)
    resblock("decoder.mid.block_1", block_in, block_in)
    attn("decoder.mid.attn_1", block_in)
    resblock("decoder.mid.block_2", block_in, block_in)
    for i in reversed(range(levels)):
        block_out = ch * mult[i]
        for j in range(nrb + 1):
            resblock(f"decoder.up.{i}.block.{j}", block_in, block_out)
            block_in = block_out
            if curr in attn_res:
                attn(f"decoder.up.{i}.attn.{j}", block_in)
        if i != 0:
            conv(f"decoder.up.{i}.upsample.conv", block_in, block_in, 3)
            curr *= 2
    norm("decoder.norm_out", block_in)
    conv("decoder.conv_out", ed["out_channels"], block_in, 3)

    q = cfg["quantizer"]
    e, n, d = q["embed_dim"], q["codebook_size"], q["frozen_codebook_dim"]
    out.append(("tok_embeddings.weight", (n, d)))
    conv("quant_conv", e, z, 1)
    conv("post_quant_conv", z, e, 1)
    out.append(("codebook_projection.weight", (e, d)))
    out.append(("codebook_projection.bias", (e,)))
    return out


def make_weights(cfg: dict, seed: int) -> dict[str, np.ndarray]:
    """Random weights that keep activations O(1) through the network."""
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}
    for name, shape in taming_shapes(cfg):
        leaf = name.rsplit(".", 1)[-1]
        if name == "tok_embeddings.weight":
            a = rng.standard_normal(shape, dtype=np.float32)
        elif name == "codebook_projection.weight":
            a = rng.standard_normal(shape, dtype=np.float32) * np.float32(shape[1] ** -0.5)
        elif name == "codebook_projection.bias":
            a = np.zeros(shape, np.float32)
        elif len(shape) == 4:  # conv weight: variance-preserving (fan-in)
            fan_in = shape[1] * shape[2] * shape[3]
            a = rng.standard_normal(shape, dtype=np.float32) * np.float32((1.0 / fan_in) ** 0.5)
        elif ".norm" in name and leaf == "weight":  # GroupNorm gain
            a = 1 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
        else:  # biases (GroupNorm shift, conv bias)
            a = 0.05 * rng.standard_normal(shape, dtype=np.float32)
        w[name] = np.ascontiguousarray(a, dtype=np.float32)
    return w


# --------------------------------------------------------------------------- safetensors

def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt", "generator": "make_bench_model.py"}}
    offset = 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for a in tensors.values():
            f.write(a.astype("<f4", copy=False).tobytes(order="C"))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- calibration

def test_images(batch: int, size: int, seed: int) -> np.ndarray:
    """Smooth random images in [-1, 1] (the benchmark's input too): low-frequency noise, upsampled."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(-1, 1, size=(batch, 3, size // 16, size // 16)).astype(np.float32)
    x = small.repeat(16, axis=2).repeat(16, axis=3)
    x += 0.25 * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(x, -1, 1).astype(np.float32)


def calibrate(out: Path, weights: dict[str, np.ndarray]) -> bool:
    sys.path.insert(0, str(REPO / "Scripts" / "reference"))
    try:
        import torch
        importlib.import_module("vqtok_ref")  # only checked for here; peers uses it
    except Exception as err:  # the reference or torch is not there: keep the uncalibrated file
        print(f"calibration skipped ({err.__class__.__name__}: {err})", file=sys.stderr)
        return False
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peers import load_reference_model, reference_latents, reference_ids  # type: ignore

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = load_reference_model(out)
    x = test_images(2, CONFIG["preprocessing"]["resolution"], seed=1)
    z = reference_latents(model, torch.from_numpy(x))  # [B, e, h, w]
    zf = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).double().numpy()
    mean, std = zf.mean(0), zf.std(0) + 1e-6
    # P = E·Wᵀ + b with E ~ N(0, 1): row j of W scaled to norm std_j gives P[:, j] ~ N(b_j, std_j²).
    wproj = weights["codebook_projection.weight"].astype(np.float64)
    wproj = wproj / np.linalg.norm(wproj, axis=1, keepdims=True) * std[:, None]
    weights["codebook_projection.weight"] = wproj.astype(np.float32)
    weights["codebook_projection.bias"] = mean.astype(np.float32)
    write_safetensors(out / "model.safetensors", weights)
    model = load_reference_model(out)
    ids = reference_ids(model, torch.from_numpy(x))
    distinct = [len(np.unique(i)) for i in ids.reshape(ids.shape[0], -1)]
    print(f"calibrated: latent mean {np.round(mean, 3).tolist()}, std {np.round(std, 3).tolist()}; "
          f"distinct ids per {ids[0].size}-token image: {distinct}")
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--force", action="store_true", help="rewrite even if the model exists")
    ap.add_argument("--check-keys", type=Path, help="compare names/shapes with an upstream key list")
    args = ap.parse_args()

    if args.check_keys:
        want = {}
        for line in args.check_keys.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, shape = line.split(" ", 1)
            want[name] = tuple(json.loads(shape))
        have = dict(taming_shapes(CONFIG))
        bad = {k for k in want.keys() | have.keys() if want.get(k) != have.get(k)}
        print(f"{len(have)} tensors, {sum(int(np.prod(s)) for s in have.values())} elements; "
              f"{len(bad)} differ from {args.check_keys.name}: {sorted(bad)[:10]}")
        sys.exit(1 if bad else 0)

    out: Path = args.out
    stamp = out / ".complete"
    if stamp.exists() and not args.force:
        print(f"{out} exists ({stamp.read_text().strip()}); --force rewrites it")
        return
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    weights = make_weights(CONFIG, args.seed)
    (out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    write_safetensors(out / "model.safetensors", weights)
    n = sum(a.size for a in weights.values())
    print(f"wrote {out}/model.safetensors: {len(weights)} tensors, {n} parameters, "
          f"{(out / 'model.safetensors').stat().st_size / 1e6:.0f} MB in {time.time() - t0:.1f} s")
    calibrated = calibrate(out, weights) if args.calibrate else False
    stamp.write_text(f"seed {args.seed}, calibrated {calibrated}\n")


if __name__ == "__main__":
    main()
