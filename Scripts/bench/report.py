"""The table that Scripts/bench/run.py prints and saves beside its results JSON (also
`run.py --table-only FILE.json`): one row per contender and work, each with its ratio to vqtok."""
from __future__ import annotations

from make_bench_model import CONFIG


def model_flops(cfg: dict) -> tuple[float, float]:
    """(encoder, decoder) FLOPs per image: convolutions and attention matmuls (2 x multiply-adds)."""
    ed = cfg["encoder_decoder"]
    ch, mult, nrb, res, z = ed["ch"], ed["ch_mult"], ed["num_res_blocks"], ed["resolution"], ed["z_channels"]
    attn_res = set(ed["attn_resolutions"])
    levels = len(mult)

    def conv(cin, cout, side, k=3):
        return 2.0 * cin * cout * k * k * side * side

    def res_block(cin, cout, side):
        return conv(cin, cout, side) + conv(cout, cout, side) + (conv(cin, cout, side, 1) if cin != cout else 0)

    def attn(c, side):
        n = side * side
        return 4 * conv(c, c, side, 1) + 2 * (2.0 * n * n * c)

    enc = conv(ed["in_channels"], ch, res)
    side, block_in = res, ch
    in_mult = (1,) + tuple(mult)
    for i in range(levels):
        block_in, block_out = ch * in_mult[i], ch * mult[i]
        for _ in range(nrb):
            enc += res_block(block_in, block_out, side)
            block_in = block_out
            if side in attn_res:
                enc += attn(block_in, side)
        if i != levels - 1:
            side //= 2
            enc += conv(block_in, block_in, side)  # stride 2: output side
    enc += 2 * res_block(block_in, block_in, side) + attn(block_in, side)
    enc += conv(block_in, z, side)

    dec = conv(z, ch * mult[-1], side)
    block_in = ch * mult[-1]
    dec += 2 * res_block(block_in, block_in, side) + attn(block_in, side)
    for i in reversed(range(levels)):
        block_out = ch * mult[i]
        for _ in range(nrb + 1):
            dec += res_block(block_in, block_out, side)
            block_in = block_out
            if side in attn_res:
                dec += attn(block_in, side)
        if i != 0:
            side *= 2
            dec += conv(block_in, block_in, side)
    dec += conv(block_in, ed["out_channels"], side)
    return enc, dec


def med(entry: dict | None, field: str) -> float | None:
    if not entry or "error" in entry or field not in entry:
        return None
    return entry[field]["median"]


def fmt(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def ratio(peer_ms: float | None, ours: float | None) -> str:
    return "—" if peer_ms is None or ours is None or ours == 0 else f"{peer_ms / ours:.2f}×"


def table(results: dict) -> str:
    enc_f, dec_f = model_flops(CONFIG)
    lines = [f"Machine: {results['machine'].get('Model name', '?')}, {results['machine'].get('CPU(s)', '?')} cores, "
             f"OPENBLAS_CORETYPE={results['machine']['OPENBLAS_CORETYPE']}; {results['machine']['date_utc']}.",
             "Medians in ms; ratio = peer / vqtok (above 1: vqtok faster)."]
    loads = [x for sec in ("model", "search", "conv") for row in results[sec].values() for e in row.values()
             if isinstance(e, dict) for x in e.get("loadavg_1min", [])]
    if loads:
        lines.append(f"1-minute load average around the runs: {min(loads):.1f}–{max(loads):.1f} "
                     f"(2 cores; other work was running on the machine).")
    lines.append("")
    if results["model"]:
        lines += [f"Encoder {enc_f / 1e9:.1f} GFLOP, decoder {dec_f / 1e9:.1f} GFLOP per image.", "",
                  "| work | batch | threads | vqtok ms | vqtok GFLOP/s | peer | peer ms | ratio |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, row in results["model"].items():
            b, t = row["batch"], row["threads"]
            for what, flops in (("encode", enc_f), ("decode", dec_f)):
                ours = med(row.get("vqtok"), f"{what}_ms")
                gf = None if ours is None else flops * b / (ours * 1e6)
                torch_best = None
                torch_name = "PyTorch"
                for layout in ("channels_last", "nchw"):
                    m = med(row.get(f"pytorch-{layout}"), f"{what}_ms")
                    if m is not None and (torch_best is None or m < torch_best):
                        torch_best, torch_name = m, f"PyTorch eager ({'channels_last' if layout == 'channels_last' else 'NCHW'})"
                ort = med(row.get("onnxruntime"), f"{what}_ms")
                lines.append(f"| {what} | {b} | {t} | {fmt(ours)} | {fmt(gf, 1)} | {torch_name} | {fmt(torch_best)} | "
                             f"{ratio(torch_best, ours)} |")
                lines.append(f"| {what} | {b} | {t} | {fmt(ours)} | {fmt(gf, 1)} | ONNX Runtime | {fmt(ort)} | "
                             f"{ratio(ort, ours)} |")
                patched = med(row.get("vqtok-patched"), f"{what}_ms")
                if patched is not None:
                    label = results.get("patched_label") or "vqtok, patched build"
                    lines.append(f"| {what} | {b} | {t} | {fmt(ours)} | {fmt(gf, 1)} | {label} (same run) | "
                                 f"{fmt(patched)} | {ratio(patched, ours)} |")
        agree = [f"{k}: " + ", ".join(f"{name} {share}" for name, share in v["ids_equal_to_pytorch"].items()
                                     if share is not None)
                 for k, v in results["model"].items()]
        lines += ["", "Share of ids equal to PyTorch's: " + "; ".join(agree)]
        diffs = [f"{k}: " + ", ".join(f"{name} {d:.1e}" for name, d in v.get("image_max_abs_diff_to_pytorch", {}).items()
                                     if d is not None)
                 for k, v in results["model"].items()]
        if any(v.get("image_max_abs_diff_to_pytorch") for v in results["model"].values()):
            lines += ["", "Decoded images' max |Δ| from PyTorch's (in [-1, 1]; the contract allows 1e-3): "
                      + "; ".join(diffs)]
        lines.append("")
        lines += ["| memory and start-up | batch | threads | vqtok load ms | vqtok RSS after load MB | "
                  "vqtok peak RSS MB | PyTorch peak RSS MB | ORT peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
        for row in results["model"].values():
            v = row.get("vqtok") or {}
            tp = max([(row.get(f"pytorch-{l}") or {}).get("peak_rss_mb") or 0 for l in ("channels_last", "nchw")])
            op = (row.get("onnxruntime") or {}).get("peak_rss_mb")
            lines.append(f"| | {row['batch']} | {row['threads']} | {fmt(v.get('load_ms'))} | "
                         f"{fmt(v.get('rss_after_load_mb'))} | {fmt(v.get('peak_rss_mb'))} | {fmt(tp or None)} | {fmt(op)} |")
        lines.append("")
    if results["search"]:
        turns = {row.get("rounds", 1) for row in results["search"].values()}
        if turns != {1}:
            lines += [f"Search rows: vqtok and FAISS took {'/'.join(map(str, sorted(turns)))} turns each, alternating, "
                      "each a fresh process; medians over every turn's runs.", ""]
        lines += ["| codebook search | data | queries | threads | vqtok ms | FAISS IndexFlatL2 ms | ratio | ids equal |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in results["search"].values():
            ours, theirs = med(row.get("vqtok"), "search_ms"), med(row.get("faiss"), "search_ms")
            lines.append(f"| {row['codes']}×{row['dim']} | {row.get('data', 'random normal')} | {row['queries']} | "
                         f"{row['threads']} | {fmt(ours, 2)} | {fmt(theirs, 2)} | {ratio(theirs, ours)} | "
                         f"{row.get('ids_equal_to_faiss')} |")
        lines.append("")
    if results["conv"]:
        for row in results["conv"].values():
            v = row.get("vqtok") or {}
            if "error" in v or not v:
                lines.append(f"conv, {row['threads']} thread(s): vqtok failed")
                continue
            peak = v["sgemm_peak_gflops"]
            torch_layers = {l["layer"]: l for l in (row.get("pytorch") or {}).get("layers", [])}
            lines += [f"Convolutions, batch {v['batch']}, {row['threads']} thread(s): sgemm peak "
                      f"{peak:.1f} GFLOP/s (" + ", ".join(f"{s['n']}³ {s['gflops']:.1f}" for s in v["sgemm"]) + ")", "",
                      "| layer | per encode+decode | vqtok im2col ms | GFLOP/s | of sgemm peak "
                      "| vqtok Winograd ms | direct GFLOP/s | of sgemm peak | PyTorch ms | ratio |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            # The network runs 3×3 stride-1 convolutions through Winograd and the rest through
            # im2col; the ratio to PyTorch is for the path the network takes. Winograd's GFLOP/s
            # count the direct convolution's flops, so they say how fast the layer is done.
            total_f = total_t = 0.0
            for l in v["layers"]:
                tl = torch_layers.get(l["layer"])
                tm = tl["ms"]["median"] if tl else None
                w = l.get("winograd")
                used_ms = w["ms"]["median"] if w else l["ms"]["median"]
                wcols = (f"{w['ms']['median']:.2f} ({w.get('tile', 'f2x2')}) | {w['gflops']:.1f} | "
                         f"{100 * w['of_peak']:.0f}%" if w
                         else "— | — | —")
                lines.append(f"| {l['layer']} | {l['count']} | {l['ms']['median']:.2f} | {l['gflops']:.1f} | "
                             f"{100 * l['of_peak']:.0f}% | {wcols} | {fmt(tm, 2)} | {ratio(tm, used_ms)} |")
                if l["layer"].startswith("3x3") and "s2" not in l["layer"]:
                    total_f += l["gflop"] * l["count"]
                    total_t += used_ms * l["count"]
            if total_t:
                agg = total_f / (total_t / 1e3)
                lines += ["", f"3×3 stride-1 convolutions as the network runs them, weighted by occurrence: "
                              f"{agg:.1f} direct-equivalent GFLOP/s, {100 * agg / peak:.0f}% of the sgemm peak.", ""]
    return "\n".join(lines)
