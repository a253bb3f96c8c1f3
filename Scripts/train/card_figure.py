"""The model card's picture: held-out photos beside their reconstructions made by vqtok itself.

Each photo goes through the real command line, `vqtok encode` then `vqtok decode`; this script
only crops the originals the way the model does (shortest side to its resolution, center crop)
and lays the pairs out in a grid.

    python Scripts/train/card_figure.py --vqtok .build/release/vqtok --model Models/NAME \
        --out Models/NAME/reconstructions.png photo.png ...
"""
import argparse
import json
import os
import subprocess
import tempfile

from PIL import Image


def center_crop(image, side):
    w, h = image.size
    scale = side / min(w, h)
    image = image.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vqtok", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("photos", nargs="+")
    args = ap.parse_args()
    side = json.load(open(os.path.join(args.model, "config.json")))["preprocessing"]["resolution"]
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, photo in enumerate(args.photos):
            ids, rec = os.path.join(tmp, f"{n}.npy"), os.path.join(tmp, f"{n}.png")
            subprocess.run([args.vqtok, "encode", "--model", args.model, "--format", "npy", "-o", ids, photo], check=True)
            subprocess.run([args.vqtok, "decode", "--model", args.model, ids, "-o", rec], check=True)
            pairs.append((center_crop(Image.open(photo).convert("RGB"), side), Image.open(rec).convert("RGB")))
    gap = 8
    sheet = Image.new("RGB", (2 * side + 3 * gap, len(pairs) * (side + gap) + gap), "white")
    for row, (original, reconstruction) in enumerate(pairs):
        y = gap + row * (side + gap)
        sheet.paste(original, (gap, y))
        sheet.paste(reconstruction, (2 * gap + side, y))
    sheet.save(args.out, optimize=True)


if __name__ == "__main__":
    main()
