#!/usr/bin/env python3
"""vqtok against its peers, side by side in one run: prints the table of issue 6.

Run it through Scripts/bench/run.sh, which makes the peers' virtualenv (Benchmarks/.venv) and
builds vqtok in release mode first. Rows, each the same work for vqtok and its peer, on the
same weights and inputs and the same number of threads:

- encode (image tensor -> ids) and decode (ids -> image tensor) of the full-size VQGAN-LC f16
  model at 256x256, batch 1 and 8, 1 and 2 threads, against PyTorch eager (the reference model
  of Scripts/reference/vqtok_ref.py on the same safetensors; default layout and channels_last,
  the faster kept) and ONNX Runtime (the same functions exported, all graph optimizations);
- codebook search, 100000x8 and 16384x8 random normal codebooks and the shipped model's own
  16384x8 codebook with latents of real photos, 256 and 4096 queries, against FAISS IndexFlatL2
  (BLAS threshold lowered);
- the convolutions' GFLOP/s against the sgemm peak measured in the same process, with
  PyTorch's conv2d on the same shapes beside them.

Every contender runs in its own process with OPENBLAS_CORETYPE set before it starts
(SkylakeX where the CPU has AVX-512F, else Haswell), OMP/MKL/OPENBLAS thread variables set to
T, and for T = 1 pinned to one core with taskset (so no library can use the other core).
Figures are medians of --repeats timed runs after one warm-up (search rows: of --rounds turns
of vqtok and FAISS, alternating, each a fresh process); ratios are peer / vqtok
(above 1: vqtok is faster). Results go to Benchmarks/results/<date>.json and the table to
stdout (and to the .md beside the JSON).

Usage: run.py [--threads 2,1] [--batches 1,8] [--sections model,search,conv] [--repeats N] [--rounds N]
              [--skip-torch-nchw] [--quick]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = REPO / "Benchmarks" / ".cache"
MODEL = CACHE / "bench-vqganlc-f16"
VENV_PY = REPO / "Benchmarks" / ".venv" / "bin" / "python"
VQTOK = REPO / ".build" / "release" / "vqtok"
sys.path.insert(0, str(HERE))
from make_bench_model import CONFIG, test_images  # noqa: E402
from report import table  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine

def coretype() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "Haswell"
    return "SkylakeX" if " avx512f" in flags else "Haswell"


def machine() -> dict:
    info = {"date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "platform": platform.platform(), "cores": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L2 cache", "L3 cache",
                             "Hypervisor vendor"):
                info[k.strip()] = v.strip()
        info["avx512f"] = " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    info["OPENBLAS_CORETYPE"] = coretype()
    return info


def env_for(threads: int) -> dict:
    env = dict(os.environ)
    env.update({"OPENBLAS_CORETYPE": coretype(), "OPENBLAS_NUM_THREADS": str(threads),
                "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                "VQTOK_THREADS": str(threads)})
    return env


def pinned(threads: int, cmd: list[str]) -> list[str]:
    if threads == 1 and shutil.which("taskset"):
        return ["taskset", "-c", "0"] + cmd
    return cmd


def run_json(cmd: list[str], threads: int, timeout: int = 3600) -> dict:
    t0 = time.time()
    load_before = os.getloadavg()[0]
    full = pinned(threads, cmd)
    log("  $", " ".join(str(c) for c in full))
    p = subprocess.run([str(c) for c in full], capture_output=True, text=True, env=env_for(threads),
                       timeout=timeout)
    if p.returncode != 0:
        log(f"  failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
        return {"error": (p.stderr.strip() or p.stdout.strip())[-2000:], "returncode": p.returncode}
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    out["wall_s"] = round(time.time() - t0, 1)
    # the 1-minute load average around the run: the machine is shared, say how quiet it was
    out["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out


def peer(*args) -> list[str]:
    return [str(VENV_PY), str(HERE / "peers.py"), *map(str, args)]


# --------------------------------------------------------------------------- FLOPs

# --------------------------------------------------------------------------- preparation

def prepare(args) -> None:
    # The model, its images and ONNX files only for the model rows (the search needs numpy and faiss).
    if "model" in args.sections and not (MODEL / ".complete").exists():
        log("making the benchmark model (about 600 MB)")
        subprocess.run([str(VENV_PY), str(HERE / "make_bench_model.py"), "--out", str(MODEL), "--calibrate"],
                       check=True, env=env_for(2))
    for b in (args.batches if "model" in args.sections else []):
        path = CACHE / f"images_b{b}.npy"
        if not path.exists():
            np.save(path, test_images(b, CONFIG["preprocessing"]["resolution"], seed=100 + b))
        if "ort" in args.contenders:
            onnx_dir = CACHE / "onnx"
            if not (onnx_dir / f"decode_b{b}.onnx").exists():
                log(f"exporting ONNX at batch {b}")
                out = run_json(peer("onnx-export", "--model", MODEL, "--batch", b, "--out", onnx_dir), 2)
                if "error" in out:
                    raise SystemExit(f"ONNX export failed: {out['error']}")
    # Random normal codebooks and queries, one seed per file (the same files on every run).
    for n, d in args.codebooks:
        if n == "shipped":
            continue
        path = CACHE / f"codebook_{n}x{d}.npy"
        if not path.exists():
            np.save(path, np.random.default_rng([7, n, d]).standard_normal((n, d), dtype=np.float32))
        for q in args.queries:
            path = CACHE / f"queries_{q}x{d}.npy"
            if not path.exists():
                np.save(path, np.random.default_rng([8, q, d]).standard_normal((q, d), dtype=np.float32))
    # The shipped model's codebook and real latents, made anew each run (the model may change).
    if "search" in args.sections and any(n == "shipped" for n, _ in args.codebooks):
        subprocess.run([str(VENV_PY), str(HERE / "make_search_inputs.py"), "--out", str(CACHE),
                        "--queries", ",".join(str(q) for q in args.queries)], check=True, env=env_for(2))


def search_inputs(n, d, q: int) -> tuple[Path, Path]:
    """The codebook and query files of one search row."""
    if n == "shipped":
        return CACHE / "codebook_shipped.npy", CACHE / f"queries_shipped_{q}.npy"
    return CACHE / f"codebook_{n}x{d}.npy", CACHE / f"queries_{q}x{d}.npy"


# --------------------------------------------------------------------------- sections

def agreement(a: Path, b: Path) -> float | None:
    try:
        x, y = np.load(a).reshape(-1), np.load(b).reshape(-1)
    except (OSError, ValueError):
        return None
    return float((x == y).mean()) if x.shape == y.shape else None


def max_abs_diff(a: Path, b: Path) -> float | None:
    try:
        x, y = np.load(a), np.load(b)
    except (OSError, ValueError):
        return None
    return float(np.abs(x - y).max()) if x.shape == y.shape else None


def model_row(args, results: dict, t: int, b: int) -> None:
    work = CACHE / "work"
    work.mkdir(exist_ok=True)
    reps = args.repeats or (5 if b == 1 else 3)
    key = f"model_b{b}_t{t}"
    row: dict = {"batch": b, "threads": t, "repeats": reps, "warmup": 1}
    images = CACHE / f"images_b{b}.npy"
    common = ["--threads", t, "--warmup", 1, "--repeats", reps]
    log(f"encode/decode batch {b}, {t} thread(s)")
    for stale in work.glob(f"*_{key}.npy"):  # an earlier run's contender must not be compared
        stale.unlink()

    def outputs(name: str) -> list:
        return ["--ids-out", work / f"ids_{name}_{key}.npy", "--image-out", work / f"image_{name}_{key}.npy"]

    if "vqtok" in args.contenders:
        row["vqtok"] = run_json([VQTOK, "bench", "model", "--model", MODEL, "--input", images,
                                 *outputs("vqtok"), *common], t)
    if args.patched and b <= args.patched_max_batch:
        row["vqtok-patched"] = run_json([args.patched, "bench", "model", "--model", MODEL, "--input", images,
                                         *outputs("vqtok-patched"), *common], t)
    for layout in ("channels_last", "nchw"):
        name = f"pytorch-{layout}"
        if name in args.contenders and (layout == "channels_last" or b <= args.nchw_max_batch):
            row[name] = run_json(peer("torch", "--model", MODEL, "--input", images, "--layout", layout,
                                      *outputs(name), *common), t)
    if "ort" in args.contenders:
        row["onnxruntime"] = run_json(peer("ort", "--onnx-dir", CACHE / "onnx", "--input", images,
                                           *outputs("ort"), *common), t)
    reference = "pytorch-channels_last" if (work / f"ids_pytorch-channels_last_{key}.npy").exists() else "pytorch-nchw"
    names = {"vqtok": "vqtok", "onnxruntime": "ort", "vqtok-patched": "vqtok-patched"}
    # Each decodes its own ids: where they equal PyTorch's, the images are comparable.
    row["ids_equal_to_pytorch"] = {
        label: agreement(work / f"ids_{name}_{key}.npy", work / f"ids_{reference}_{key}.npy")
        for label, name in names.items()}
    row["image_max_abs_diff_to_pytorch"] = {
        label: max_abs_diff(work / f"image_{name}_{key}.npy", work / f"image_{reference}_{key}.npy")
        for label, name in names.items()}
    results["model"][key] = row
    save(args, results)


def search_section(args, results: dict, threads: list[int]) -> None:
    work = CACHE / "work"
    work.mkdir(exist_ok=True)
    for t in threads:
        for n, d in args.codebooks:
            for q in args.queries:
                name = "shipped" if n == "shipped" else f"{n}x{d}"
                key = f"search_{name}_q{q}_t{t}"
                cb, qs = search_inputs(n, d, q)
                reps = args.repeats or 21
                common = ["--threads", t, "--warmup", 3, "--repeats", reps]
                log(f"codebook search {name}, {q} queries, {t} thread(s)")
                shape = np.load(cb, mmap_mode="r").shape
                row: dict = {"codes": shape[0], "dim": shape[1], "queries": q, "threads": t, "repeats": reps,
                             "data": "shipped model, photo latents" if n == "shipped" else "random normal"}
                # vqtok and FAISS take turns, each in a fresh process per round: a shared machine's
                # slow minutes then fall on both, and the median is over every round's runs.
                rounds: dict[str, list[dict]] = {"vqtok": [], "faiss": []}
                for _ in range(args.rounds):
                    if "vqtok" in args.contenders:
                        rounds["vqtok"].append(run_json([VQTOK, "bench", "search", "--codebook", cb, "--queries-file", qs,
                                                         "--ids-out", work / f"ids_vqtok_{key}.npy", *common], t))
                    if "faiss" in args.contenders:
                        rounds["faiss"].append(run_json(peer("faiss", "--codebook", cb, "--queries", qs,
                                                             "--ids-out", work / f"ids_faiss_{key}.npy", *common), t))
                row["rounds"] = args.rounds
                for name, runs in rounds.items():
                    if runs:
                        row[name] = merged_rounds(runs, "search_ms")
                row["ids_equal_to_faiss"] = agreement(work / f"ids_vqtok_{key}.npy", work / f"ids_faiss_{key}.npy")
                results["search"][key] = row
                save(args, results)


def merged_rounds(rounds: list[dict], field: str) -> dict:
    """The first round's report, its `field` summarizing the timed runs of every round (and
    each round's median beside them); the first failed round's report if any failed."""
    failed = [r for r in rounds if "error" in r or field not in r]
    if failed:
        return failed[0]
    runs = [x for r in rounds for x in r[field]["runs"]]
    merged = dict(rounds[0])
    merged[field] = {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs,
                     "round_medians": [r[field]["median"] for r in rounds]}
    return merged


def conv_section(args, results: dict, threads: list[int]) -> None:
    for t in threads:
        reps = args.repeats or 5
        log(f"convolutions, {t} thread(s)")
        row: dict = {"threads": t}
        if "vqtok" in args.contenders:
            row["vqtok"] = run_json([VQTOK, "bench", "conv", "--threads", t, "--warmup", 1, "--repeats", reps], t)
        if any(c.startswith("pytorch") for c in args.contenders):
            row["pytorch"] = run_json(peer("torchconv", "--threads", t, "--warmup", 1, "--repeats", reps), t)
        results["conv"][f"conv_t{t}"] = row
        save(args, results)


# --------------------------------------------------------------------------- table

def save(args, results: dict) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--sections", default="model,search,conv",
                    help="any of model, search, conv")
    ap.add_argument("--contenders", default="vqtok,pytorch-channels_last,pytorch-nchw,ort,faiss")
    ap.add_argument("--codebooks", default="100000x8,16384x8,shipped",
                    help="NxD random normal codebooks; 'shipped': the shipped model's codebook and "
                         "latents of real photos (make_search_inputs.py)")
    ap.add_argument("--queries", default="256,4096")
    ap.add_argument("--repeats", type=int, default=0, help="timed runs (default: 5 at batch 1, 3 at batch 8, "
                                                           "21 for search)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="search rows: turns of vqtok and FAISS, each a fresh process of --repeats runs")
    ap.add_argument("--nchw-max-batch", type=int, default=8,
                    help="time PyTorch's default layout only up to this batch (channels_last always)")
    ap.add_argument("--patched", help="a second vqtok binary (e.g. another branch's release build), "
                                      "timed beside vqtok in the model rows")
    ap.add_argument("--patched-max-batch", type=int, default=1)
    ap.add_argument("--patched-label", default="", help="how the table names the --patched binary")
    ap.add_argument("--stop-after", type=float, default=0, help="minutes after which no new row starts")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--table-only", type=Path, help="print the table of an earlier results JSON")
    args = ap.parse_args()
    if args.table_only:
        print(table(json.loads(args.table_only.read_text())))
        return
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    args.threads = [int(x) for x in args.threads.split(",")]
    args.batches = [int(x) for x in args.batches.split(",")]
    args.sections = args.sections.split(",")
    args.contenders = [c if c != "onnxruntime" else "ort" for c in args.contenders.split(",")]
    args.codebooks = [("shipped", 0) if c == "shipped" else tuple(int(v) for v in c.split("x"))
                      for c in args.codebooks.split(",")]
    args.queries = [int(x) for x in args.queries.split(",")]
    if not args.out:
        # One file per run: a second run started in the same minute gets a suffix, not the
        # first one's name.
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M")
        results_dir = REPO / "Benchmarks" / "results"
        args.out = results_dir / f"{stamp}.json"
        n = 2
        while args.out.exists():
            args.out = results_dir / f"{stamp}-{n}.json"
            n += 1
    CACHE.mkdir(parents=True, exist_ok=True)

    results = {"machine": machine(), "command": " ".join(sys.argv), "model": {}, "search": {}, "conv": {},
               "patched_label": args.patched_label}
    shutil.rmtree(CACHE / "work", ignore_errors=True)  # ids of earlier runs must not be compared
    (CACHE / "work").mkdir(parents=True)
    prepare(args)
    # Most telling rows first (2 threads, batch 1; the short sections), so that a run cut short
    # by --stop-after still has them; a row is never started after the limit.
    plan: list[tuple] = []
    ts = sorted(args.threads, reverse=True)
    if "model" in args.sections and ts and 1 in args.batches:
        plan.append(("model", ts[0], 1))
    if "search" in args.sections:
        plan.append(("search", ts))
    if "conv" in args.sections:
        plan.append(("conv", ts))
    if "model" in args.sections:
        for t in ts:
            for b in sorted(args.batches):
                if (t, b) != (ts[0], 1) or 1 not in args.batches:
                    plan.append(("model", t, b))
    t0 = time.time()
    results["skipped"] = []
    for item in plan:
        if args.stop_after and time.time() - t0 > args.stop_after * 60:
            log(f"--stop-after {args.stop_after} min reached: skipping {item}")
            results["skipped"].append(list(item[:1]) + [str(x) for x in item[1:]])
            continue
        if item[0] == "model":
            model_row(args, results, item[1], item[2])
        elif item[0] == "search":
            search_section(args, results, item[1])
        else:
            conv_section(args, results, item[1])
    results["elapsed_s"] = round(time.time() - t0)
    save(args, results)
    text = table(results)
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)
    log(f"results: {args.out}")


if __name__ == "__main__":
    main()
