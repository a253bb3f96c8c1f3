#!/usr/bin/env python3
"""Prepare the training and held-out images for the shipped tokenizer.

Training photographs come from two Debian 12 packages, held-out photographs from a third Debian
package (plus a small secondary set from scikit-image, a PyPI package).  Only photographs are used
(no drawings or renders); the lists below are exhaustive and carry each file's license as stated in
the package's debian/copyright (and, for plasma, the wallpaper's own metadata.json).

If a package's files are not under /usr/share, the package is fetched with `apt-get download` and
unpacked with `dpkg-deb -x` into <out>/debs (no root needed, nothing installed system-wide).

Output (<out>, default Scripts/train/.data):
  train/<package>__<name>__s<short>.png   each training photo resized (antialiased) so its short
                                          side is 288, 416 and 576 px; training takes random crops
  heldout/<name>__r<row>c<col>.png        non-overlapping 256x256 tiles of the held-out photos
                                          resized to short side 768 (12 tiles per photo)
  heldout_skimage/<name>.png              scikit-image photos, short side -> 256, center crop 256
  manifest.json                           every source file, its package, version and license

Usage: python prepare_data.py [--out DIR]
"""
import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
from urllib.parse import unquote

import numpy as np
from PIL import Image

MATE = "/usr/share/backgrounds/mate/nature/"
LOMIRI16 = "/usr/share/backgrounds/"
PLASMA = "/usr/share/wallpapers/"

# (package, path inside the package, author/copyright, license)
TRAIN = [
    ("mate-backgrounds", MATE + "Aqua.jpg", "2008 Charles Barbin", "GPL-2+"),
    ("mate-backgrounds", MATE + "Blinds.jpg", "2008 Lennart Poettering, Andrea Cimitan", "GPL-2+"),
    ("mate-backgrounds", MATE + "Dune.jpg", "2007 Marco Cogoni, 2008 Hylke Bons", "GPL-2+"),
    ("mate-backgrounds", MATE + "FreshFlower.jpg", "2005 Jens Ansorg", "GPL-2+"),
    ("mate-backgrounds", MATE + "Garden.jpg", "2008 Charles Barbin", "GPL-2+"),
    ("mate-backgrounds", MATE + "GreenMeadow.jpg", "2005 Timothy Schellhase, 2008 Lapo Calamandrei", "GPL-2+"),
    ("mate-backgrounds", MATE + "LadyBird.jpg", "2008 Charles Barbin", "GPL-2+"),
    ("mate-backgrounds", MATE + "RainDrops.jpg", "2008 blackcombwhistler07", "GPL-2+"),
    ("mate-backgrounds", MATE + "Storm.jpg", "2008 Sergey Nazarov", "GPL-2+"),
    ("mate-backgrounds", MATE + "TwoWings.jpg", "2008 Charles Barbin, Hylke Bons", "GPL-2+"),
    ("mate-backgrounds", MATE + "Wood.jpg", "2008 Jean-Francois Fortin Tam", "GPL-2+"),
    ("mate-backgrounds", MATE + "YellowFlower.jpg", "2008 Charles Barbin", "GPL-2+"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "aitzgorri_by_Aitzol_Berasategi.jpg", "2018 Aitzol Berasategi", "CC-BY-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "Bridge_by_Sander_Klootwijk.jpg", "2018 Sander Klootwijk", "CC-BY-SA-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "Dragonfly_by_Bolly.jpg", "2018 Bolly", "CC-BY-SA-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "free_by_Peter_Nerlich.jpg", "2018 Peter Nerlich", "CC-BY-SA-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "friends_by_Aitzol_Berasategi.jpg", "2018 Aitzol Berasategi", "CC-BY-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "life_by_Aitzol_Berasategi.jpg", "2018 Aitzol Berasategi", "CC-BY-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "picosdeeuropa_by_Aitzol_Berasategi.jpg", "2018 Aitzol Berasategi", "CC-BY-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "Picture_0B_by_freespace.jpg", "2018 Trevor \"Freespace\"", "CC-BY-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "Picture_1A_by_freespace.jpg", "2018 Trevor \"Freespace\"", "CC-BY-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "seeding_by_Clements_Engelhardt.jpg", "2018 Clemens Engelhardt", "CC0-1.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "sunset_by_Aitzol_Berasategi.jpg", "2018 Aitzol Berasategi", "CC-BY-4.0"),
    ("lomiri-wallpapers-16.04", LOMIRI16 + "Wine_by_Jakkub_Mede.jpg", "2018 Jakub Mede", "CC-BY-4.0"),
]
# Photographs in plasma-workspace-wallpapers (Debian copyright: GPL-2+ for the package; each
# wallpaper's metadata.json says LGPLv3).  The 2560x1600 rendition of each is used.
PLASMA_PHOTOS = [
    ("BytheWater", "Maciej Wiklo"), ("ColdRipple", "Risto Saukonpää"),
    ("ColorfulCups", "Dmitri Popov"), ("DarkestHour", "Risto Saukonpää"),
    ("EveningGlow", "Ian Hex"), ("FallenLeaf", "Martin Klapetek"), ("Grey", "Sigi Sagi"),
    ("Kite", "Risto Saukonpää"), ("OneStandsOut", "Risto Saukonpää"), ("Path", "Risto Saukonpää"),
    ("summer_1am", "Risto Saukonpää"),
]
HELDOUT = [("plasma-workspace-wallpapers", PLASMA + f"{d}/contents/images/2560x1600.jpg", a,
            "GPL-2+ (debian/copyright); LGPL-3 (metadata.json)") for d, a in PLASMA_PHOTOS]
SKIMAGE = [("astronaut", "public domain (NASA)"), ("chelsea", "CC0 (Stefan van der Walt)"),
           ("coffee", "CC0 (Rachel Michetti)"), ("rocket", "public domain (SpaceX)")]

TRAIN_SHORT_SIDES = (288, 416, 576)
HELDOUT_SHORT_SIDE = 768
TILE = 256


def pkg_version(pkg):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:
        return None


def locate(pkg, path, debdir):
    """Return a readable path of `path` from `pkg`: the installed file, or an unpacked .deb."""
    if os.path.exists(path):
        return path, pkg_version(pkg)
    root = os.path.join(debdir, pkg)
    if not os.path.isdir(root):
        os.makedirs(debdir, exist_ok=True)
        subprocess.run(["apt-get", "download", pkg], cwd=debdir, check=True)
        deb = sorted(glob.glob(os.path.join(debdir, f"{pkg}_*.deb")))[-1]
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    deb = sorted(glob.glob(os.path.join(debdir, f"{pkg}_*.deb")))
    version = unquote(os.path.basename(deb[-1]).split("_")[1]) if deb else None
    return root + path, version


def resize_short(im, short):
    w, h = im.size
    s = short / min(w, h)
    size = (max(short, round(w * s)), max(short, round(h * s)))
    return im.resize(size, Image.BICUBIC, reducing_gap=3.0)


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".data"))
    args = ap.parse_args()
    out = args.out
    debdir = os.path.join(out, "debs")
    for sub in ("train", "heldout", "heldout_skimage"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    manifest = {"train": [], "heldout": [], "heldout_skimage": []}

    for pkg, path, author, lic in TRAIN:
        src, ver = locate(pkg, path, debdir)
        im = Image.open(src).convert("RGB")
        name = os.path.splitext(os.path.basename(path))[0]
        for s in TRAIN_SHORT_SIDES:
            resize_short(im, s).save(os.path.join(out, "train", f"{pkg}__{name}__s{s}.png"))
        manifest["train"].append(dict(package=pkg, version=ver, file=path, copyright=author,
                                      license=lic, size=list(im.size), sha256=sha256(src)))
        print("train", pkg, name, im.size, flush=True)

    for pkg, path, author, lic in HELDOUT:
        src, ver = locate(pkg, path, debdir)
        im = Image.open(src).convert("RGB")
        name = path.split("/")[-4]
        r = np.asarray(resize_short(im, HELDOUT_SHORT_SIDE))
        h, w, _ = r.shape
        nr, nc = h // TILE, w // TILE
        y0, x0 = (h - nr * TILE) // 2, (w - nc * TILE) // 2
        for i in range(nr):
            for j in range(nc):
                t = r[y0 + i * TILE:y0 + (i + 1) * TILE, x0 + j * TILE:x0 + (j + 1) * TILE]
                Image.fromarray(t).save(os.path.join(out, "heldout", f"{name}__r{i}c{j}.png"))
        manifest["heldout"].append(dict(package=pkg, version=ver, file=path, copyright=author,
                                        license=lic, size=list(im.size), tiles=nr * nc,
                                        sha256=sha256(src)))
        print("heldout", name, im.size, nr * nc, "tiles", flush=True)

    import skimage
    from skimage import data as skdata
    for name, lic in SKIMAGE:
        im = Image.fromarray(getattr(skdata, name)()).convert("RGB")
        r = resize_short(im, TILE)
        w, h = r.size
        x0, y0 = (w - TILE) // 2, (h - TILE) // 2
        r.crop((x0, y0, x0 + TILE, y0 + TILE)).save(os.path.join(out, "heldout_skimage", f"{name}.png"))
        manifest["heldout_skimage"].append(dict(package=f"scikit-image {skimage.__version__} (PyPI)",
                                                file=f"skimage.data.{name}()", license=lic,
                                                size=list(im.size)))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    n_tiles = len(glob.glob(os.path.join(out, "heldout", "*.png")))
    print(f"done: {len(manifest['train'])} training photos, {n_tiles} held-out tiles "
          f"({n_tiles * (TILE // 8) ** 2} f8 tokens)")


if __name__ == "__main__":
    sys.exit(main())
