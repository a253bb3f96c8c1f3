#!/usr/bin/env python3
"""The search benchmark's real-data rows: the shipped model's codebook and real latents.

Random normal codebooks and queries (run.py's other rows) are the worst case for an exact
pruned search: in 8 dimensions every query sits about as far from its nearest code as from
many others. A trained tokenizer is the opposite case: its latents fall near codes. This
writes, for the model in Models/ (default: the shipped vqganlc-f8-tiny):

  codebook_shipped.npy       the projected codebook P = E·Wᵀ + b [codebook_size, embed_dim],
                             float32, as the runtime computes it at load
  queries_shipped_<q>.npy    q latents (encoder + quant_conv) of the photographs in
                             Tests/Fixtures/photos (scikit-image's, which the model never saw in
                             training), 1,024 per 256×256 photo: the first q of a seeded shuffle

with the repository's PyTorch reference (Scripts/reference/vqtok_ref.py).

    python make_search_inputs.py --out DIR --queries 256,4096 [--model Models/NAME]
"""
import argparse
import glob
import os
import sys

import numpy as np
import torch
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "Scripts", "reference"))
import vqtok_ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(REPO, "Models", "vqganlc-f8-tiny"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--queries", default="256,4096")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = vqtok_ref.load_model(args.model).eval()
    resolution = model.cfg.preprocessing.resolution
    photos = sorted(glob.glob(os.path.join(REPO, "Tests", "Fixtures", "photos", "*.png")))
    with torch.inference_mode():
        codebook = model.codebook().float().numpy()
        x = torch.stack([vqtok_ref.preprocess(Image.open(p), resolution) for p in photos])
        z = model.latents(x)  # [B, e, h, w]
        latents = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).numpy().astype(np.float32)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "codebook_shipped.npy"), np.ascontiguousarray(codebook))
    order = np.random.default_rng(9).permutation(len(latents))
    for q in (int(v) for v in args.queries.split(",")):
        if q > len(latents):
            raise SystemExit(f"{q} queries asked, {len(photos)} photos give {len(latents)} latents")
        np.save(os.path.join(args.out, f"queries_shipped_{q}.npy"), np.ascontiguousarray(latents[order[:q]]))
    print(f"codebook {codebook.shape}, {len(latents)} latents of {len(photos)} photos -> {args.out}")


if __name__ == "__main__":
    main()
