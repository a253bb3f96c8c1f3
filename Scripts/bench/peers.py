#!/usr/bin/env python3
"""The peers of `vqtok bench`, each at its best, one measurement per process.

    peers.py torch  --model DIR --batch B --threads T --layout {nchw,channels_last} ...
    peers.py onnx-export --model DIR --batch B --out DIR
    peers.py ort    --onnx-dir DIR --batch B --threads T ...
    peers.py faiss  --codebook cb.npy --queries q.npy --threads T ...
    peers.py torchconv --threads T       (conv2d on the layer shapes of `vqtok bench conv`)
    peers.py sgemm  --threads T          (numpy's own OpenBLAS, for reference only)

Each prints one JSON object on stdout: medians in milliseconds, plus every run. The launcher
(run.py) sets OPENBLAS_CORETYPE and the thread variables before Python starts, because the
OpenBLAS that FAISS bundles reads them only when it loads.

How each peer is run at its best (shared/reference/peer-benchmarks.md):
- PyTorch eager: torch.inference_mode(), torch.set_num_threads(T), model and input in the
  default layout or in channels_last (both are timed; run.py keeps the faster). Encode is the
  reference encoder + quant_conv, then the distances to P as one addmm (‖c‖² − 2 z·cᵀ; the
  per-row ‖z‖² changes no argmin) and argmin. Decode is an embedding lookup in P,
  post_quant_conv and the decoder.
- ONNX Runtime: the same two functions exported with the TorchScript exporter (opset 17,
  static batch), ORT_ENABLE_ALL graph optimizations, intra_op_num_threads = T,
  inter_op_num_threads = 1, sequential execution.
- FAISS: IndexFlatL2, faiss.omp_set_num_threads(T), distance_compute_blas_threshold lowered
  to 20 (as shipped it takes a per-query path below 128k queries), k = 1.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def summary(runs_ms: list[float]) -> dict:
    return {"median": statistics.median(runs_ms), "min": min(runs_ms), "max": max(runs_ms),
            "runs": [round(r, 3) for r in runs_ms]}


def peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, warmup: int, repeats: int) -> tuple[list[float], object]:
    out = None
    for _ in range(warmup):
        out = fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return runs, out


# --------------------------------------------------------------------------- the reference model

def load_reference_model(model_dir):
    sys.path.insert(0, str(REPO / "Scripts" / "reference"))
    import vqtok_ref  # type: ignore
    return vqtok_ref.load_model(str(model_dir))


def reference_latents(model, x):
    import torch
    with torch.inference_mode():
        return model.quant_conv(model.encoder(x)).float()


def reference_ids(model, x) -> np.ndarray:
    import torch
    with torch.inference_mode():
        z = reference_latents(model, x)
        return TorchCodec(model).ids(z).numpy()


class TorchCodec:
    """Encode to ids and decode from ids with the reference model's modules. For GSQ (no
    quant convs), the latent's groups are normalized and matched one by one, and decode embeds
    the raw rows (ids [B, h, w, G])."""

    def __init__(self, model):
        import torch
        self.torch = torch
        self.model = model
        self.grouped = hasattr(model, "group_vectors")
        with torch.inference_mode():
            self.cb = model.codebook().float().contiguous()            # P [n, e] (GSQ: normalized [n, d])
            self.cbt = self.cb.t().contiguous()                        # [e, n]
            self.cn = (self.cb * self.cb).sum(1).contiguous()          # ‖c‖² [n]

    def ids(self, z):
        b, e, h, w = z.shape
        zf = self.model.group_vectors(z) if self.grouped else z.permute(0, 2, 3, 1).reshape(-1, e)
        d = self.torch.addmm(self.cn, zf, self.cbt, beta=1, alpha=-2)
        return self.torch.argmin(d, dim=1).reshape(b, h, w, -1) if self.grouped \
            else self.torch.argmin(d, dim=1).reshape(b, h, w)

    def encode(self, x):
        if self.grouped:
            return self.ids(self.model.encoder(x))
        return self.ids(self.model.quant_conv(self.model.encoder(x)))

    def decode(self, ids):
        if self.grouped:
            return self.model.decoder(self.model.embed_ids(ids))
        q = self.torch.nn.functional.embedding(ids, self.cb).permute(0, 3, 1, 2)
        return self.model.decoder(self.model.post_quant_conv(q))


# --------------------------------------------------------------------------- PyTorch eager

def cmd_torch(a) -> dict:
    import torch
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = load_reference_model(a.model)
    x = torch.from_numpy(np.load(a.input))
    fmt = torch.channels_last if a.layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    codec = TorchCodec(model)
    out: dict = {"contender": f"pytorch-{a.layout}", "torch": torch.__version__,
                 "threads": torch.get_num_threads(), "batch": x.shape[0]}
    with torch.inference_mode():
        if "encode" in a.what:
            runs, ids = timed(lambda: codec.encode(x), a.warmup, a.repeats)
            out["encode_ms"] = summary(runs)
            ids_np = ids.numpy().astype(np.int32)
            if a.ids_out:
                np.save(a.ids_out, ids_np)
        else:
            ids_np = np.load(a.ids)
        if "decode" in a.what:
            ids_t = torch.from_numpy(ids_np.astype(np.int64))
            runs, img = timed(lambda: codec.decode(ids_t), a.warmup, a.repeats)
            out["decode_ms"] = summary(runs)
            if a.image_out:
                np.save(a.image_out, img.contiguous().numpy())
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# --------------------------------------------------------------------------- ONNX Runtime

def cmd_onnx_export(a) -> dict:
    import torch

    model = load_reference_model(a.model)
    codec = TorchCodec(model)

    class Enc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.quant_conv = model.encoder, model.quant_conv
            self.register_buffer("cbt", codec.cbt.clone())
            self.register_buffer("cn", codec.cn.clone())

        def forward(self, x):
            z = self.quant_conv(self.encoder(x))
            b, e, h, w = z.shape
            zf = z.permute(0, 2, 3, 1).reshape(-1, e)
            d = self.cn - 2 * (zf @ self.cbt)
            return torch.argmin(d, dim=1).reshape(b, h, w)

    class Dec(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder, self.post_quant_conv = model.decoder, model.post_quant_conv
            self.register_buffer("cb", codec.cb.clone())

        def forward(self, ids):
            q = torch.nn.functional.embedding(ids, self.cb).permute(0, 3, 1, 2)
            return self.decoder(self.post_quant_conv(q))

    cfg = model.cfg
    res = cfg.preprocessing.resolution
    f = cfg.encoder_decoder.downsample_factor() if callable(
        getattr(cfg.encoder_decoder, "downsample_factor", None)) else 2 ** (len(cfg.encoder_decoder.ch_mult) - 1)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    b = a.batch
    t0 = time.time()
    with torch.no_grad():
        torch.onnx.export(Enc().eval(), (torch.zeros(b, 3, res, res),), str(out_dir / f"encode_b{b}.onnx"),
                          input_names=["image"], output_names=["ids"], opset_version=17, dynamo=False)
        torch.onnx.export(Dec().eval(), (torch.zeros(b, res // f, res // f, dtype=torch.int64),),
                          str(out_dir / f"decode_b{b}.onnx"),
                          input_names=["ids"], output_names=["image"], opset_version=17, dynamo=False)
    return {"exported": str(out_dir), "batch": b, "seconds": round(time.time() - t0, 1)}


def ort_session(path: Path, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def cmd_ort(a) -> dict:
    import onnxruntime as ort
    x = np.load(a.input)
    b = x.shape[0]
    d = Path(a.onnx_dir)
    out: dict = {"contender": "onnxruntime", "onnxruntime": ort.__version__,
                 "threads": a.threads, "batch": b}
    if "encode" in a.what:
        s = ort_session(d / f"encode_b{b}.onnx", a.threads)
        runs, res = timed(lambda: s.run(None, {"image": x})[0], a.warmup, a.repeats)
        out["encode_ms"] = summary(runs)
        ids = res.astype(np.int32)
        if a.ids_out:
            np.save(a.ids_out, ids)
        del s
    else:
        ids = np.load(a.ids)
    if "decode" in a.what:
        s = ort_session(d / f"decode_b{b}.onnx", a.threads)
        ids64 = ids.astype(np.int64)
        runs, img = timed(lambda: s.run(None, {"ids": ids64})[0], a.warmup, a.repeats)
        out["decode_ms"] = summary(runs)
        if a.image_out:
            np.save(a.image_out, img)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# --------------------------------------------------------------------------- FAISS

def cmd_faiss(a) -> dict:
    import faiss
    faiss.omp_set_num_threads(a.threads)
    faiss.cvar.distance_compute_blas_threshold = a.blas_threshold
    cb = np.ascontiguousarray(np.load(a.codebook), dtype=np.float32)
    q = np.ascontiguousarray(np.load(a.queries), dtype=np.float32)
    index = faiss.IndexFlatL2(cb.shape[1])
    index.add(cb)
    runs, (_, ids) = timed(lambda: index.search(q, 1), a.warmup, a.repeats)
    if a.ids_out:
        np.save(a.ids_out, ids[:, 0].astype(np.int32))
    return {"contender": "faiss", "faiss": faiss.__version__, "threads": a.threads,
            "codes": cb.shape[0], "dim": cb.shape[1], "queries": q.shape[0],
            "blas_threshold": a.blas_threshold, "search_ms": summary(runs)}


# --------------------------------------------------------------------------- PyTorch conv2d

# The same layers as `vqtok bench conv` (name, in, out, side, kernel, stride, padding l,r,t,b).
CONV_LAYERS = [
    ("3x3 128->128 @256", 128, 128, 256, 3, 1, (1, 1, 1, 1)),
    ("3x3 128->128 @128", 128, 128, 128, 3, 1, (1, 1, 1, 1)),
    ("3x3 256->256 @64", 256, 256, 64, 3, 1, (1, 1, 1, 1)),
    ("3x3 256->256 @32", 256, 256, 32, 3, 1, (1, 1, 1, 1)),
    ("3x3 512->512 @16", 512, 512, 16, 3, 1, (1, 1, 1, 1)),
    ("3x3 s2 128->128 @256 (downsample)", 128, 128, 256, 3, 2, (0, 1, 0, 1)),
    ("1x1 512->512 @16 (attention q/k/v/out)", 512, 512, 16, 1, 1, (0, 0, 0, 0)),
]


def cmd_torchconv(a) -> dict:
    """PyTorch's conv2d on the layers of `vqtok bench conv`, the faster of NCHW and channels_last."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    g = torch.Generator().manual_seed(0)
    rows = []
    with torch.inference_mode():
        for name, cin, cout, side, k, stride, pad in CONV_LAYERS:
            best = None
            for fmt in (torch.contiguous_format, torch.channels_last):
                x = (torch.rand(a.batch, cin, side, side, generator=g) * 2 - 1).contiguous(memory_format=fmt)
                w = ((torch.rand(cout, cin, k, k, generator=g) - 0.5) * 0.1).contiguous(memory_format=fmt)
                bias = torch.rand(cout, generator=g) * 0.2 - 0.1
                if pad == (1, 1, 1, 1):
                    fn = lambda: F.conv2d(x, w, bias, stride=stride, padding=1)  # noqa: E731
                elif pad == (0, 0, 0, 0):
                    fn = lambda: F.conv2d(x, w, bias, stride=stride)  # noqa: E731
                else:
                    fn = lambda: F.conv2d(F.pad(x, pad), w, bias, stride=stride)  # noqa: E731
                runs, y = timed(fn, a.warmup, a.repeats)
                m = statistics.median(runs)
                if best is None or m < best[0]:
                    best = (m, runs, "channels_last" if fmt is torch.channels_last else "nchw", y.shape)
            m, runs, layout, shape = best
            flops = 2.0 * a.batch * cout * cin * k * k * shape[2] * shape[3]
            rows.append({"layer": name, "layout": layout, "ms": summary(runs), "gflops": flops / (m * 1e6)})
    return {"contender": "pytorch-conv2d", "threads": a.threads, "batch": a.batch, "layers": rows}


# --------------------------------------------------------------------------- numpy sgemm

def cmd_sgemm(a) -> dict:
    n = a.n
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n), dtype=np.float32)
    y = rng.standard_normal((n, n), dtype=np.float32)
    runs, _ = timed(lambda: x @ y, a.warmup, a.repeats)
    med = statistics.median(runs)
    return {"contender": "numpy-sgemm", "n": n, "ms": summary(runs),
            "gflops": 2 * n ** 3 / (med * 1e6)}


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--warmup", type=int, default=1)
        p.add_argument("--repeats", type=int, default=5)

    p = sub.add_parser("torch"); common(p)
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--layout", choices=["nchw", "channels_last"], default="nchw")
    p.add_argument("--what", default="encode,decode")
    p.add_argument("--ids", help="ids .npy to decode when encode is not run")
    p.add_argument("--ids-out"); p.add_argument("--image-out")

    p = sub.add_parser("onnx-export")
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("ort"); common(p)
    p.add_argument("--onnx-dir", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--what", default="encode,decode")
    p.add_argument("--ids"); p.add_argument("--ids-out"); p.add_argument("--image-out")

    p = sub.add_parser("faiss"); common(p)
    p.add_argument("--codebook", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--blas-threshold", type=int, default=20)
    p.add_argument("--ids-out")

    p = sub.add_parser("torchconv"); common(p)
    p.add_argument("--batch", type=int, default=1)

    p = sub.add_parser("sgemm"); common(p)
    p.add_argument("--n", type=int, default=1024)

    a = ap.parse_args()
    fn = {"torch": cmd_torch, "onnx-export": cmd_onnx_export, "ort": cmd_ort,
          "faiss": cmd_faiss, "torchconv": cmd_torchconv, "sgemm": cmd_sgemm}[a.cmd]
    print(json.dumps(fn(a)))


if __name__ == "__main__":
    main()
