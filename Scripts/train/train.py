#!/usr/bin/env python3
"""Train the small VQGAN-LC-style tokenizer shipped in Models/.

VQGAN-LC recipe, scaled down for a 2-core CPU:
  - taming encoder/decoder (Scripts/train/model.py, upstream tensor names);
  - a frozen codebook E (tok_embeddings.weight, never trained) of `codebook_size` rows, each a
    random 8x8 RGB patch (values in [-1, 1], flattened in (channel, y, x) order, 192-d) cut from
    the training images: the codebook is initialised from features, as VQGAN-LC's is from CLIP
    features;
  - a trained linear projector P = E·Wᵀ + b (codebook_projection), initialised to the whitening
    PCA of E (so the projected codebook starts spread out with unit variance per dimension);
  - nearest P row by squared L2, straight-through estimator, codebook loss ‖sg(z) − P[id]‖² (which
    trains W and b), commitment loss β‖z − sg(P[id])‖², reconstruction MSE in [-1, 1]; no GAN,
    no perceptual loss.
Everything is seeded (numpy + torch, fixed thread count): the same command gives the same weights.
Checkpoints are written every --ckpt-minutes and at the end (a usable model exists at any time);
Scripts/train/evaluate.py evaluates and exports any of them.

Two stages (the commands used for Models/vqganlc-f8-tiny):
  # 1. everything from scratch, E = image patches
  python Scripts/train/train.py --data Scripts/train/.data --out Scripts/train/runs/f8 \
      --steps 10000 --seed 0 --swd 1 --log-every 50
  python Scripts/train/evaluate.py --ckpt Scripts/train/runs/f8/ckpt.pt --export Scripts/train/runs/f8-export
  # 2. E = k-means centres of stage 1's encoder features, then the decoder learns that codebook
  python Scripts/train/train.py --data Scripts/train/.data --out Scripts/train/runs/f8-lc \
      --codebook-from Scripts/train/runs/f8-export --steps 4000 --crop 160 --batch 2 \
      --lr 5e-4 --warmup 50 --seed 0 --log-every 50

Stage 2 is VQGAN-LC's recipe with stage 1's encoder in the part of CLIP: the frozen codebook is
made of features of the training images (k-means centres of the encoder's z_channels features,
from 256×256 crops: the size the tokenizer is used at),
the projector starts as quant_conv (so P starts as the centres' latents), and the encoder stays
frozen so that the codebook keeps partitioning its latents; the decoder, post_quant_conv and the
projector train.
"""
import argparse
import glob
import json
import math
import os
import sys
import time

# OpenMP threads that spin while waiting are ruinous on a shared, oversubscribed machine: with 2
# spinning threads one training step took 5x longer than with 1 passive thread (measured here).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import VQGANLC  # noqa: E402

DEFAULT_CONFIG = {
    "schema_version": 1,
    "name": "vqganlc-f8-tiny",
    "family": "vqgan_lc",
    "encoder_decoder": {"ch": 16, "ch_mult": [1, 2, 2, 4], "num_res_blocks": 1,
                        "attn_resolutions": [], "resolution": 256, "z_channels": 64,
                        "in_channels": 3, "out_channels": 3, "attention_placement": "resolution",
                        "norm_groups": 8, "norm_eps": 1e-6},
    "quantizer": {"kind": "projected_l2", "codebook_size": 16384, "embed_dim": 8,
                  "frozen_codebook_dim": 192},
    "preprocessing": {"resolution": 256, "interpolation": "bilinear"},
}


class Images:
    """All training images in memory (uint8 HWC); crops sampled by area."""

    def __init__(self, folder, rng):
        files = sorted(glob.glob(os.path.join(folder, "*.png")))
        if not files:
            raise SystemExit(f"no training images in {folder}; run prepare_data.py first")
        self.files = files
        self.ims = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        area = np.array([im.shape[0] * im.shape[1] for im in self.ims], dtype=np.float64)
        self.p = area / area.sum()
        self.rng = rng

    def crops(self, n, size, flip=True):
        out = np.empty((n, size, size, 3), dtype=np.uint8)
        idx = self.rng.choice(len(self.ims), size=n, p=self.p)
        for k, i in enumerate(idx):
            im = self.ims[i]
            y = self.rng.integers(0, im.shape[0] - size + 1)
            x = self.rng.integers(0, im.shape[1] - size + 1)
            c = im[y:y + size, x:x + size]
            if flip and self.rng.random() < 0.5:
                c = c[:, ::-1]
            out[k] = c
        return out


def to_tensor(u8):
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def init_codebook(model, images, f):
    """E: random f×f patches of the training images; W, b: whitening PCA of E."""
    K, D = model.tok_embeddings.weight.shape
    e = model.codebook_projection.weight.shape[0]
    assert D == 3 * f * f, (D, f)
    E = to_tensor(images.crops(K, f, flip=False)).reshape(K, D)  # (c, y, x) order
    with torch.no_grad():
        model.tok_embeddings.weight.copy_(E)
        mean = E.mean(0)
        cov = (E - mean).t() @ (E - mean) / (K - 1)
        evals, evecs = torch.linalg.eigh(cov.double())
        top = torch.argsort(evals, descending=True)[:e]
        W = (evecs[:, top] / evals[top].clamp_min(1e-8).sqrt()).t().float()  # [e, D]
        model.codebook_projection.weight.copy_(W)
        model.codebook_projection.bias.copy_(-(W @ mean))
    return evals[top].tolist()


def features_codebook(model, images, K, rng, crops=288, crop=256, iters=12, chunk=4096):
    """E: k-means centres of the encoder's features of the training images (stage 2).

    `crops` random crops are encoded to h [N, z_channels] and their latents z = quant_conv(h)
    [N, e]; k-means runs on z (the space the search runs in), seeded from K random latents, and
    each centre's E row is the mean h of its cluster. quant_conv is linear, so with
    W, b = quant_conv the projected codebook P = E·Wᵀ + b is exactly the centres.
    Returns (E [K, z_channels], W [e, z_channels], b [e], the cluster sizes)."""
    W = model.quant_conv.weight.detach().flatten(1)
    b = model.quant_conv.bias.detach()
    feats = []
    with torch.no_grad():
        for first in range(0, crops, 32):
            h = model.encoder(to_tensor(images.crops(min(32, crops - first), crop)))
            feats.append(h.permute(0, 2, 3, 1).reshape(-1, h.shape[1]))
    H = torch.cat(feats)
    Z = H @ W.t() + b
    scores = torch.empty(chunk, K)  # reused: a fresh 1 GB block per chunk costs more in page faults than the sgemm

    def nearest(centres):
        c2 = (centres * centres).sum(1)[None, :]
        return torch.cat([torch.addmm(c2, Z[s:s + chunk], centres.t(), alpha=-2.0,
                                      out=scores[:min(chunk, Z.shape[0] - s)]).argmin(1)
                          for s in range(0, Z.shape[0], chunk)])

    centres = Z[torch.from_numpy(rng.choice(Z.shape[0], K, replace=False))].clone()
    for _ in range(iters):
        ids = nearest(centres)
        sizes = torch.bincount(ids, minlength=K)
        sums = torch.zeros_like(centres).index_add_(0, ids, Z)
        filled = sizes > 0
        centres[filled] = sums[filled] / sizes[filled, None].float()
        empty = int((~filled).sum())
        if empty:  # an empty cluster restarts at a random latent
            centres[~filled] = Z[torch.from_numpy(rng.choice(Z.shape[0], empty, replace=False))]
    ids = nearest(centres)
    sizes = torch.bincount(ids, minlength=K)
    E = torch.zeros(K, H.shape[1]).index_add_(0, ids, H)
    E[sizes > 0] /= sizes[sizes > 0, None].float()
    empty = sizes == 0  # still empty after the last assignment: the latent it restarted at
    E[empty] = torch.linalg.lstsq(W, (centres[empty] - b).t()).solution.t()
    return E, W, b, sizes


def load_stage1(path):
    """Stage 1 for --codebook-from: a train.py checkpoint, or a model directory exported by
    evaluate.py (config.json + model.safetensors, float16 widened to float32)."""
    if not os.path.isdir(path):
        return torch.load(path, map_location="cpu", weights_only=False)
    from safetensors.torch import load_file
    return {"config": json.load(open(os.path.join(path, "config.json"))),
            "model": {k: v.float() for k, v in load_file(os.path.join(path, "model.safetensors")).items()}}


def sliced_wasserstein(z, P, projections=64):
    """Squared sliced Wasserstein-2 distance from the latents z [N, e] to as many random rows of
    the codebook P [K, e]: both are projected on random unit directions, sorted, and compared
    quantile by quantile. Pulls the latents toward the codebook's whole distribution, so that
    they land on all of its rows rather than a dense corner (utilisation)."""
    rows = torch.randint(0, P.shape[0], (z.shape[0],), device=z.device)
    dirs = F.normalize(torch.randn(z.shape[1], projections, device=z.device), dim=0)
    zs = (z @ dirs).sort(0).values
    ps = (P[rows] @ dirs).sort(0).values
    return F.mse_loss(zs, ps)


def lr_at(step, steps, lr, warmup):
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def save(path, model, opt, step, args, cfg, log):
    tmp = path + ".tmp"
    torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "opt": opt.state_dict(), "step": step,
                "args": vars(args), "config": cfg, "log": log}, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="Scripts/train/.data")
    ap.add_argument("--out", default="Scripts/train/runs/f8")
    ap.add_argument("--config", default=None, help="config.json to train (default: built-in)")
    ap.add_argument("--steps", type=int, default=2200)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--beta", type=float, default=0.25, help="commitment loss weight")
    ap.add_argument("--proj-lr-mult", type=float, default=0.05,
                    help="learning-rate multiplier of the projector W, b. At 1.0 the projected codebook "
                         "collapsed onto one direction (singular values 14, 1, ..., 0.004 after 850 steps) "
                         "and the encoder followed: a 1-D latent, 30%% utilisation")
    ap.add_argument("--stats", type=float, default=1.0,
                    help="weight of the moment-matching loss between the latents and the projected codebook "
                         "(without it, 2200-step runs used 1,000-5,000 of the 16,384 codes)")
    ap.add_argument("--swd", type=float, default=0.0,
                    help="weight of the sliced Wasserstein distance from the latents to the projected codebook "
                         "(matches the whole distribution, not only its first two moments)")
    ap.add_argument("--l1", type=float, default=0.0, help="extra L1 reconstruction weight")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a busy 2-core machine; results depend on it)")
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--resume", default=None, help="checkpoint to continue from")
    ap.add_argument("--codebook-from", default=None,
                    help="stage 2: a stage-1 checkpoint (or exported model directory) whose encoder makes the frozen codebook "
                         "(k-means centres of its features) and stays frozen; the rest fine-tunes")
    ap.add_argument("--codebook-crops", type=int, default=288,
                    help="stage 2: random crops encoded for the k-means (288 × 1024 latents)")
    ap.add_argument("--codebook-crop-size", type=int, default=256,
                    help="stage 2: side of those crops. The size the tokenizer is used at: the features of "
                         "96×96 crops (a third of them at the border, the mid-block attention seeing a small "
                         "context) made a codebook that held-out 256×256 images used 75%% of, against 93%%")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, or auto (cuda when available)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = DEFAULT_CONFIG if args.config is None else json.load(open(args.config))
    stage1 = None
    if args.codebook_from:
        stage1 = load_stage1(args.codebook_from)
        cfg = json.loads(json.dumps(stage1["config"]))
        cfg["quantizer"]["frozen_codebook_dim"] = cfg["encoder_decoder"]["z_channels"]
    os.makedirs(args.out, exist_ok=True)
    json.dump(cfg, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    with open(os.path.join(args.out, "command.txt"), "w") as fh:
        fh.write(" ".join([os.path.basename(sys.executable)] + sys.argv) + "\n")

    images = Images(os.path.join(args.data, "train"), rng)
    f = 2 ** (len(cfg["encoder_decoder"]["ch_mult"]) - 1)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    model = VQGANLC(cfg)
    if stage1 is None:
        pca = init_codebook(model, images, f)  # on the CPU, so E and W do not depend on the device
        codebook_note = f"PCA variances {np.round(pca, 3).tolist()}"
    else:
        first = VQGANLC(stage1["config"])
        first.load_state_dict(stage1["model"])
        first.eval()
        t_cb = time.time()
        E, W, b, sizes = features_codebook(first, images, cfg["quantizer"]["codebook_size"], rng,
                                           crops=args.codebook_crops, crop=args.codebook_crop_size)
        state = {k: v for k, v in stage1["model"].items()
                 if not k.startswith(("tok_embeddings.", "codebook_projection."))}
        state.update({"tok_embeddings.weight": E, "codebook_projection.weight": W.clone(),
                      "codebook_projection.bias": b.clone()})
        model.load_state_dict(state)
        for p in list(model.encoder.parameters()) + list(model.quant_conv.parameters()):
            p.requires_grad_(False)
        codebook_note = (f"k-means of stage 1's features in {time.time() - t_cb:.0f} s, cluster sizes "
                         f"{int(sizes.min())}..{int(sizes.max())}, {int((sizes == 0).sum())} empty")
    model.to(device)
    with torch.no_grad():
        P0 = model.projected_codebook()
        mu_p0, cov_p0 = P0.mean(0), torch.cov(P0.t())
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"{len(images.ims)} training images; trainable params {n_params}; "
          f"codebook {tuple(model.tok_embeddings.weight.shape)} ({codebook_note})",
          flush=True)
    proj = list(model.codebook_projection.parameters())
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("codebook_projection.")]
    opt = torch.optim.Adam([{"params": rest, "lr_mult": 1.0},
                            {"params": proj, "lr_mult": args.proj_lr_mult}], lr=args.lr, betas=(0.9, 0.99))
    step0, log = 0, []
    if args.resume:
        ck = torch.load(args.resume, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step0, log = ck["step"], ck.get("log", [])
        rng = np.random.default_rng(args.seed + step0)
        images.rng = rng
        torch.manual_seed(args.seed + step0)
        print(f"resumed from {args.resume} at step {step0}", flush=True)

    K = cfg["quantizer"]["codebook_size"]
    window = []  # ids of the last steps, for utilisation in a sliding window
    t0 = time.time()
    t_ckpt = time.time()
    acc = {"mse": 0.0, "cb": 0.0, "n": 0}
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    model.train()
    for step in range(step0, args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup) * g["lr_mult"]
        x = to_tensor(images.crops(args.batch, args.crop)).to(device)
        xr, ids, cb_loss, commit, z_lat = model(x, return_latents=True)
        mse = F.mse_loss(xr, x)
        loss = mse + cb_loss + args.beta * commit
        if args.stats > 0 and z_lat.requires_grad:  # (stage 2: the encoder is frozen)
            # Match the first two moments of the latents to those of the initial projected
            # codebook (whitened: mean 0, covariance I), so that the latents spread over all of P
            # instead of a corner of it (utilisation). The target is fixed: matching P's current
            # moments ran away (latents and P stretched each other along one direction).
            zf = z_lat.permute(0, 2, 3, 1).reshape(-1, z_lat.shape[1])
            stats = F.mse_loss(zf.mean(0), mu_p0) + F.mse_loss(torch.cov(zf.t()), cov_p0)
            loss = loss + args.stats * stats
        if args.swd > 0 and z_lat.requires_grad:
            zf = z_lat.permute(0, 2, 3, 1).reshape(-1, z_lat.shape[1])
            loss = loss + args.swd * sliced_wasserstein(zf, model.projected_codebook().detach())
        if args.l1 > 0:
            loss = loss + args.l1 * (xr - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        window.append(ids.flatten())
        acc["mse"] += mse.item()
        acc["cb"] += cb_loss.item()
        acc["n"] += 1
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            w = torch.cat(window[-200:])
            counts = torch.bincount(w, minlength=K).double().cpu()
            pr = counts / counts.sum()
            ppl = torch.exp(-(pr[pr > 0] * pr[pr > 0].log()).sum()).item()
            m = acc["mse"] / acc["n"]
            # PSNR on [0, 1] pixels: MSE in [-1, 1] is 4x larger.
            psnr = 10 * math.log10(4.0 / max(m, 1e-12))
            el = time.time() - t0
            rec = dict(step=step + 1, mse=m, psnr=psnr, cb=acc["cb"] / acc["n"],
                       used=int((counts > 0).sum()), window_tokens=int(w.numel()),
                       perplexity=ppl, lr=opt.param_groups[0]["lr"], elapsed_s=el)
            with torch.no_grad():
                sv = torch.linalg.svdvals(model.projected_codebook() - model.projected_codebook().mean(0))
            rec["P_singular_values"] = (sv / math.sqrt(K)).tolist()
            log.append(rec)
            print(f"step {step + 1} mse {m:.5f} psnr {psnr:.2f} cb {rec['cb']:.4f} "
                  f"used {rec['used']}/{K} of {rec['window_tokens']} tok ppl {ppl:.0f} "
                  f"lr {rec['lr']:.2e} P-sv {sv[0].item() / math.sqrt(K):.2f}..{sv[-1].item() / math.sqrt(K):.3f} {el / 60:.1f} min", flush=True)
            acc = {"mse": 0.0, "cb": 0.0, "n": 0}
            window = window[-200:]
        if time.time() - t_ckpt > args.ckpt_minutes * 60:
            save(ckpt_path, model, opt, step + 1, args, cfg, log)
            t_ckpt = time.time()
    save(ckpt_path, model, opt, args.steps, args, cfg, log)
    wall = time.time() - t0
    with open(os.path.join(args.out, "done.json"), "w") as fh:
        json.dump({"steps": args.steps, "wall_s": wall, "resumed_from": step0}, fh)
    print(f"done: {args.steps} steps in {wall / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
