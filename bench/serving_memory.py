"""Memory, recall and latency of the in-memory table's vector storage options, at 1M rows, without Chroma.

For each dimension (visual 64 and 139, text 384) and each implementation, one fresh subprocess builds a
`VectorTable` of N random unit vectors with the real sheets' facets cycled (as `bench.query_latency
--table-only` does) and reports the RSS the table added, its arrays' bytes, and p50/p95 of mask + search
(k=100) with no filter, a broad and a narrow one. Implementations: ``float32`` (store/matrix.py at
--baseline-ref, the table before this change) and ``int8x2`` (today's: two int8 planes, coarse scan plus
re-scoring). In the int8x2 process, the scan-only options are also measured in numpy on the same vectors:
``float16`` (stored half precision, widened for the product), ``int8`` (coarse plane alone, no re-scoring)
and the table's search, each as recall@100 against the exact float32 scan and the scan's latency.

    python -m bench.serving_memory --index /tmp/pf_full [--rows 1000000] [--dims 64 139 384] [--out F.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench.query_latency import SHEETS_PER_PATENT, K, choose_filters, machine, percentiles, rss_mb
from store.index import FigureStore

QUERIES = 30


def _baseline_module(ref: str):  # noqa: ANN202
    """store/matrix.py as it was at `ref`, imported under another name."""
    src = subprocess.run(["git", "show", f"{ref}:store/matrix.py"], capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "matrix_baseline.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("matrix_baseline", path)
    assert spec is not None and spec.loader is not None
    mod = sys.modules["matrix_baseline"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _vectors(n: int, dim: int, lo: int, hi: int) -> np.ndarray:
    """Rows lo:hi of the same N unit vectors every time (seeded per block)."""
    out = np.empty((hi - lo, dim), dtype=np.float32)
    for b in range(lo // 50_000, (hi - 1) // 50_000 + 1):
        block = np.random.default_rng(b).standard_normal((50_000, dim)).astype(np.float32)
        a, z = max(lo, b * 50_000), min(hi, (b + 1) * 50_000)
        out[a - lo : z - lo] = block[a - b * 50_000 : z - b * 50_000]
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def one(impl: str, dim: int, n: int, index: Path, ref: str) -> dict:
    """Build one table in this (fresh) process and measure it."""
    src = FigureStore.open(index)
    metas = list(src.all_metadata().values())
    src.close()
    mod = _baseline_module(ref) if impl == "float32" else importlib.import_module("store.matrix")
    rss = rss_mb()
    t = time.perf_counter()
    table = mod.VectorTable(dim)
    for lo in range(0, n, 50_000):
        hi = min(n, lo + 50_000)
        rows = [dict(metas[i % len(metas)], patent_id=f"SYN{i // SHEETS_PER_PATENT:07d}") for i in range(lo, hi)]
        table.add([f"SYN{i // SHEETS_PER_PATENT:07d}-S{i % SHEETS_PER_PATENT + 1}" for i in range(lo, hi)],
                  _vectors(n, dim, lo, hi), rows)
    out: dict = {"impl": impl, "dim": dim, "rows": n, "build_s": round(time.perf_counter() - t, 1),
                 "rss_added_mb": round(rss_mb() - rss, 1), "array_mb": round(table.nbytes() / 1e6, 1), "queries": {}}
    rnd = random.Random(dim)
    qrows = [rnd.randrange(n) for _ in range(QUERIES)]
    queries = [(v + np.random.default_rng(r).standard_normal(dim).astype(np.float32) * 0.05).tolist()
               for r, v in zip(qrows, [_vectors(n, dim, r, r + 1)[0] for r in qrows], strict=True)]
    for name, f in choose_filters(metas).items():
        where = f.where() if f is not None else None
        wall = []
        for q in queries:
            t = time.perf_counter()
            table.search(q, K, table.mask(where))
            wall.append((time.perf_counter() - t) * 1000)
        out["queries"][name] = percentiles(wall[3:])
    with tempfile.TemporaryDirectory() as tmp:  # what a serving process starting from the snapshot holds
        table.save(Path(tmp) / "t.npz", {})
        out["snapshot_mb"] = round((Path(tmp) / "t.npz").stat().st_size / 1e6, 1)
        cmd = [sys.executable, "-m", "bench.serving_memory", "--index", str(index), "--baseline-ref", ref,
               "--load", impl, str(Path(tmp) / "t.npz")]
        out |= json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    if impl != "float32":
        out["options"] = _options(table, n, dim, queries)
    return out


def load(impl: str, path: Path, ref: str) -> dict:
    """RSS a fresh process adds by loading a snapshot, and the time it takes."""
    mod = _baseline_module(ref) if impl == "float32" else importlib.import_module("store.matrix")
    rss, t = rss_mb(), time.perf_counter()
    table, _ = mod.VectorTable.load(path)
    return {"load_s": round(time.perf_counter() - t, 1), "rss_loaded_mb": round(rss_mb() - rss, 1),
            "loaded_rows": len(table)}


def _options(table, n: int, dim: int, queries: list[list[float]]) -> dict:  # noqa: ANN001
    """Recall@100 against the exact float32 scan, and unfiltered scan latency, of each storage option."""
    from store.matrix import _product

    exact = _vectors(n, dim, 0, n)
    half = exact.astype(np.float16)
    coarse, scale = table._coarse[:n], table._scale[:n]  # rows 0..n-1 are the vectors in order
    scans = {
        "float32": lambda q: _product(exact, q),
        "float16": lambda q: _product_f16(half, q),
        "int8": lambda q: _product(coarse, q) * scale,
    }
    res: dict = {}
    truth = [set(np.argpartition(-(exact @ np.float32(q)), K - 1)[:K].tolist()) for q in queries]
    for name, scan in scans.items():
        wall, recall = [], []
        for q, want in zip(queries, truth, strict=True):
            qv = np.asarray(q, dtype=np.float32) / np.float32(np.linalg.norm(q))  # float32: no widened copy
            t = time.perf_counter()
            got = np.argpartition(-scan(qv), K - 1)[:K]
            wall.append((time.perf_counter() - t) * 1000)
            recall.append(len(want & set(got.tolist())) / K)
        res[name] = {"recall": round(float(np.mean(recall)), 4), **percentiles(wall[3:])}
    wall, recall = [], []
    for q, want in zip(queries, truth, strict=True):
        t = time.perf_counter()
        got = table.search(q, K)
        wall.append((time.perf_counter() - t) * 1000)
        recall.append(len(want & {table.row_of[i] for i, _ in got}) / K)
    res["int8x2 (int8 scan + re-score)"] = {"recall": round(float(np.mean(recall)), 4), **percentiles(wall[3:])}
    return res


def _product_f16(matrix: np.ndarray, q: np.ndarray, block: int = 8192) -> np.ndarray:
    out = np.empty(len(matrix), dtype=np.float32)
    buf = np.empty((block, matrix.shape[1]), dtype=np.float32)
    with threadpool_limits(1, "blas"):
        for lo in range(0, len(matrix), block):
            part = matrix[lo : lo + block]
            wide = buf[: len(part)]
            wide[...] = part
            np.matmul(wide, q, out=out[lo : lo + len(part)])
    return out


def fmt(levels: list[dict], rows: int) -> str:
    lines = [f"Per table of {rows:,} rows, no Chroma; {machine()}. RSS added by building the table (`add`, as "
             "`--table-only` does) and by loading its snapshot in a fresh process. Latency: mask + search, "
             f"k={K}, wall p50 / p95 ms.", "",
             "| dim | storage | RSS built MB | RSS loaded MB | arrays MB | snapshot MB | build s | load s "
             "| unfiltered | broad | narrow |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for lv in levels:
        q = lv["queries"]
        lines.append(f"| {lv['dim']} | {lv['impl']} | {lv['rss_added_mb']:.0f} | {lv.get('rss_loaded_mb', 0):.0f} "
                     f"| {lv['array_mb']:.0f} | {lv.get('snapshot_mb', 0):.0f} | {lv['build_s']} "
                     f"| {lv.get('load_s')} | "
                     + " | ".join(f"{q[k]['p50_ms']:.1f} / {q[k]['p95_ms']:.1f}" for k in ("none", "broad", "narrow"))
                     + " |")
    lines += ["", "Scan options on the same vectors: recall@100 against the exact float32 scan, unfiltered scan "
              "wall p50 / p95 ms:", "", "| dim | option | recall@100 | p50 / p95 ms |", "|---|---|---|---|"]
    for lv in levels:
        for name, o in lv.get("options", {}).items():
            lines.append(f"| {lv['dim']} | {name} | {o['recall']:.4f} | {o['p50_ms']:.1f} / {o['p95_ms']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.serving_memory", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="a real index, for its facets (read only)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 139, 384])
    ap.add_argument("--impls", nargs="+", default=["float32", "int8x2"])
    ap.add_argument("--baseline-ref", default="98f4ae8", help="the commit whose store/matrix.py is 'float32'")
    ap.add_argument("--one", nargs=2, metavar=("IMPL", "DIM"), help=argparse.SUPPRESS)
    ap.add_argument("--load", nargs=2, metavar=("IMPL", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=Path("serving_memory.json"))
    args = ap.parse_args()
    if args.load:
        print(json.dumps(load(args.load[0], Path(args.load[1]), args.baseline_ref)))
        return
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.rows, args.index, args.baseline_ref)))
        return
    levels = []
    for dim in args.dims:
        for impl in args.impls:
            cmd = [sys.executable, "-m", "bench.serving_memory", "--index", str(args.index), "--rows", str(args.rows),
                   "--baseline-ref", args.baseline_ref, "--one", impl, str(dim)]
            levels.append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
            print(json.dumps(levels[-1]), flush=True)
    args.out.write_text(json.dumps(levels, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(fmt(levels, args.rows) + "\n", encoding="utf-8")
    print(fmt(levels, args.rows))


if __name__ == "__main__":
    main()
