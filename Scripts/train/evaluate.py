#!/usr/bin/env python3
"""Export a training checkpoint to a model directory and/or evaluate a model directory.

Export (Models/<name>/config.json + model.safetensors, upstream tensor names, f16 storage):
  python Scripts/train/evaluate.py --ckpt Scripts/train/runs/f8/ckpt.pt --export Models/vqganlc-f8-tiny

Evaluate a model directory on the held-out tiles (and the secondary scikit-image photos):
  python Scripts/train/evaluate.py --model Models/vqganlc-f8-tiny --data Scripts/train/.data \
      --json Models/vqganlc-f8-tiny/eval.json

Both may be given at once (export, then evaluate what was exported: the f16 weights that ship).
The model directory is loaded with the repository's PyTorch reference
(Scripts/reference/vqtok_ref.py, the implementation the Swift runtime is tested against) when it
is present, else with Scripts/train/model.py.

Metrics, on uint8 pixels (the reconstruction is clamped to [-1, 1], mapped to [0, 255] and rounded
as the reference's postprocess does):
  PSNR   10·log10(255² / MSE) per image over all pixels and channels; the mean over images is
         reported (and the PSNR of the pooled MSE);
  SSIM   Wang et al. 2004: 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, computed
         per channel on the valid region (no padding) and averaged over channels, then images;
  utilisation  distinct token ids over all held-out tokens / codebook size; also the perplexity
         exp(H) of the id histogram.
"""
import argparse
import glob
import importlib.util
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def load_ref(path):
    spec = importlib.util.spec_from_file_location("vqtok_ref", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vqtok_ref"] = mod
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------------
# SSIM / PSNR
# ------------------------------------------------------------------------------------------

def _gauss_window(size=11, sigma=1.5):
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]  # [1,1,k,k]


def ssim(a, b, data_range=255.0):
    """a, b: uint8 HWC arrays. Mean SSIM over the valid region, averaged over channels."""
    x = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[:, None]  # [C,1,H,W]
    y = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1)[:, None]
    w = _gauss_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mx * mx
    syy = F.conv2d(y * y, w) - my * my
    sxy = F.conv2d(x * y, w) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean(dim=(1, 2, 3)).mean())


def psnr_mse(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return (10 * math.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")), mse


# ------------------------------------------------------------------------------------------
# Model I/O
# ------------------------------------------------------------------------------------------

def export(ckpt_path, out_dir, name=None):
    from safetensors.torch import save_file
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    cfg = dict(ck["config"])
    if name:
        cfg["name"] = name
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in ck["model"].items()}
    meta = {"format": "pt", "source": "vqtok Scripts/train/train.py", "step": str(ck["step"])}
    save_file(sd, os.path.join(out_dir, "model.safetensors"), metadata=meta)
    size = os.path.getsize(os.path.join(out_dir, "model.safetensors"))
    print(f"exported step {ck['step']} to {out_dir}: {len(sd)} tensors, {size / 1e6:.2f} MB")
    return ck


class Runner:
    """encode(x) -> ids, decode(ids) -> x for a model directory."""

    def _ref_encode(self, x):
        # The reference's quantize_latents, without its float64 near-tie diagnostic (which
        # dominates the time on a CPU): d = ‖z‖² + ‖c‖² − 2 z·cᵀ in float32, argmin.
        z = self.model.latents(x)
        b, e, hh, ww = z.shape
        zf = z.permute(0, 2, 3, 1).reshape(-1, e)
        cb = self.model.codebook()
        d = (torch.sum(zf ** 2, dim=1, keepdim=True) + torch.sum(cb ** 2, dim=1)
             - 2 * torch.einsum("bd,dn->bn", zf, cb.t()))
        return torch.argmin(d, dim=1).reshape(b, hh, ww)

    def __init__(self, model_dir, ref_path):
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        if ref_path and os.path.exists(ref_path):
            ref = load_ref(ref_path)
            self.model = ref.load_model(model_dir)
            self.kind = f"reference ({os.path.relpath(ref_path, REPO)})"
            self.encode = self._ref_encode
            self.decode = self.model.decode
        else:
            from safetensors.torch import load_file
            from model import VQGANLC
            m = VQGANLC(self.cfg)
            m.load_state_dict({k: v.float() for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()})
            m.eval()
            self.model = m
            self.kind = "Scripts/train/model.py"
            P = m.projected_codebook().detach()
            self.encode = lambda x: m.nearest(m.quant_conv(m.encoder(x)), P)
            self.decode = lambda ids: m.decode_ids(ids, P)


def to_uint8(x):
    return torch.round((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def evaluate_set(runner, files, batch=4, recon_dir=None):
    per, all_ids = [], []
    for s in range(0, len(files), batch):
        fs = files[s:s + batch]
        ims = [np.asarray(Image.open(f).convert("RGB")) for f in fs]
        x = torch.from_numpy(np.stack(ims).astype(np.float64) / 127.5 - 1.0).float().permute(0, 3, 1, 2)
        with torch.no_grad():
            ids = runner.encode(x)
            xr = runner.decode(ids)
        out = to_uint8(xr)
        all_ids.append(ids.reshape(-1))
        print(f"  {s + len(fs)}/{len(files)}", end="\r", flush=True)
        for f, a, b in zip(fs, ims, out):
            p, mse = psnr_mse(a, b)
            per.append({"file": os.path.basename(f), "psnr": p, "mse": mse, "ssim": ssim(a, b)})
            if recon_dir:
                os.makedirs(recon_dir, exist_ok=True)
                Image.fromarray(b).save(os.path.join(recon_dir, os.path.basename(f)))
    ids = torch.cat(all_ids)
    K = runner.cfg["quantizer"]["codebook_size"]
    counts = torch.bincount(ids, minlength=K).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    mse_pooled = float(np.mean([r["mse"] for r in per]))
    return {
        "images": len(per),
        "tokens": int(ids.numel()),
        "psnr_mean": float(np.mean([r["psnr"] for r in per])),
        "psnr_of_mean_mse": 10 * math.log10(255.0 ** 2 / mse_pooled),
        "ssim_mean": float(np.mean([r["ssim"] for r in per])),
        "codebook_size": K,
        "distinct_ids": int((counts > 0).sum()),
        "utilization": float((counts > 0).sum() / K),
        "perplexity": float(torch.exp(-(nz * nz.log()).sum())),
        "per_image": per,
    }


def encode_time_ms(runner, threads, reps=7):
    torch.set_num_threads(threads)
    x = torch.zeros(1, 3, 256, 256).uniform_(-1, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        runner.encode(x)
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            runner.encode(x)
            ts.append(time.perf_counter() - t)
    return 1000 * float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", help="training checkpoint to export")
    ap.add_argument("--export", help="model directory to write from --ckpt")
    ap.add_argument("--name", help="model name written into config.json")
    ap.add_argument("--model", help="model directory to evaluate")
    ap.add_argument("--data", default=os.path.join(HERE, ".data"))
    ap.add_argument("--ref", default=os.path.join(REPO, "Scripts", "reference", "vqtok_ref.py"))
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N held-out tiles")
    ap.add_argument("--recon", help="write reconstructions (PNG) under this folder")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-encode", action="store_true", help="also time one 256×256 encode")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.ckpt and args.export:
        export(args.ckpt, args.export, args.name)
        if not args.model:
            args.model = args.export
    if not args.model:
        return 0
    runner = Runner(args.model, args.ref)
    print(f"evaluating {args.model} with {runner.kind}", flush=True)
    res = {"model": args.model, "implementation": runner.kind}
    files = sorted(glob.glob(os.path.join(args.data, "heldout", "*.png")))
    if args.limit:
        files = files[:args.limit]
    res["heldout"] = evaluate_set(runner, files, recon_dir=args.recon and os.path.join(args.recon, "heldout"))
    sk = sorted(glob.glob(os.path.join(args.data, "heldout_skimage", "*.png")))
    if sk:
        res["heldout_skimage"] = evaluate_set(runner, sk, recon_dir=args.recon and os.path.join(args.recon, "skimage"))
    if args.time_encode:
        res["pytorch_encode_ms_256"] = encode_time_ms(runner, args.threads)
    for k in ("heldout", "heldout_skimage"):
        if k in res:
            r = res[k]
            print(f"{k}: {r['images']} images, {r['tokens']} tokens: PSNR {r['psnr_mean']:.2f} dB "
                  f"(pooled {r['psnr_of_mean_mse']:.2f}), SSIM {r['ssim_mean']:.4f}, "
                  f"utilisation {r['utilization'] * 100:.1f}% ({r['distinct_ids']}/{r['codebook_size']}), "
                  f"perplexity {r['perplexity']:.0f}")
    if "pytorch_encode_ms_256" in res:
        print(f"PyTorch encode 256x256, {args.threads} threads: {res['pytorch_encode_ms_256']:.0f} ms (median)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
