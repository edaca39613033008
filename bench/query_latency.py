"""Query latency against index size, memory, and query-encoding time.

What is measured:

- p50/p95 latency of `FigureStore.query_visual` (k=100, the candidate pool `tools.search` asks for) with no
  filter, a broad filter (the commonest figure kind) and a narrow one (one CPC subclass and a publication
  date range), at the real index's size and then at growing sizes (default 10k, 100k, 1M figures);
- the share of that spent in `complete_ids()` (SQLite), and the time to insert the padding;
- resident memory (RSS) of this process after each size, and what loading each encoder adds;
- encoding time of a query image (a stored sheet) and a query text, separately (first call, then p50).

The padded indexes live in a temporary folder, never in the real index: the real sheets (vectors, facets,
patent rows) are copied in first, then synthetic figures are added: random unit vectors of the visual
encoder's dimension, 10 per synthetic patent, each with the facets of a real sheet (cycled), so filters
select the same share as on the real data. Synthetic rows are written in batches through the store's
collection handle and patent table, because `FigureStore.add_patent` (one patent at a time, three
collections, one SQLite transaction each) would take hours at a million figures.

A size is skipped when the projected insert time would overrun the time budget (default 20 minutes);
the report then gives the largest size reached and how latency grew up to it.

Run:  python -m bench.query_latency --index data/index [--sizes 10000 100000 1000000] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.filters import Filters
from core.types import Patent
from store.index import VISUAL, FigureStore

K = 100  # tools.search.POOL
BATCH = 5000
SHEETS_PER_PATENT = 10
TEXT_QUERY = "gripping unit of an overhead hoist moving on a rail"


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 1e6


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    p95 = s[min(len(s) - 1, max(0, int(round(0.95 * len(s))) - 1))]
    return {"p50_ms": round(statistics.median(s), 2), "p95_ms": round(p95, 2), "max_ms": round(s[-1], 2),
            "n": len(s)}


def time_calls(fn: Callable[[object], object], args: list[object], warmup: int = 3,
               budget_s: float = 30.0) -> dict[str, float]:
    """Latency percentiles of fn over args (after a few warm-up calls); stops early (at least 10 calls)
    once `budget_s` is spent, so a slow variant at a large size cannot eat the whole run."""
    for a in args[:warmup]:
        fn(a)
    out = []
    start = time.perf_counter()
    for a in args:
        t = time.perf_counter()
        fn(a)
        out.append((time.perf_counter() - t) * 1000)
        if len(out) >= 10 and time.perf_counter() - start > budget_s:
            break
    return percentiles(out)


def choose_filters(metas: list[dict]) -> dict[str, Filters]:
    """A broad filter (the commonest figure kind) and a narrow one (one CPC subclass + a date range)."""
    kinds = Counter(m.get("kind") for m in metas)
    subclasses = Counter(k[4:] for m in metas for k in m if k.startswith("cpc_") and len(k) == 8)
    dates = sorted(int(m.get("pub_date") or 0) for m in metas if m.get("pub_date"))
    broad = Filters(kinds=[kinds.most_common(1)[0][0]])
    narrow_args: dict = {}
    if subclasses:
        # a mid-frequency subclass: selective, but not a single patent
        ranked = subclasses.most_common()
        narrow_args["cpc"] = [ranked[min(len(ranked) - 1, len(ranked) // 4)][0]]
    if dates:
        narrow_args["date_from"] = dates[len(dates) // 4]
    return {"none": None, "broad": broad, "narrow": Filters(**narrow_args)}


def selectivity(metas: list[dict], filters: Filters | None) -> float:
    if filters is None:
        return 1.0
    return round(sum(1 for m in metas if filters.match(m)) / max(1, len(metas)), 4)


def measure_level(store: FigureStore, queries: list[list[float]], filters: dict[str, Filters | None],
                  metas: list[dict], scan: ExactScan | None = None) -> dict:
    """Latency of each filter variant, the complete_ids() share, and RSS, at the store's current size."""
    out: dict = {"figures": store._col(VISUAL).count(), "rss_mb": 0.0, "queries": {}}
    for name, f in filters.items():
        stats = time_calls(lambda v, f=f: store.query_visual(v, K, f), queries)
        stats["selectivity"] = selectivity(metas, f)
        out["queries"][name] = stats
    out["complete_ids"] = time_calls(lambda _: store.complete_ids(), list(range(20)))
    out["rss_mb"] = round(rss_mb(), 1)
    if scan is not None:
        out["exact_scan"] = {name: time_calls(lambda v, f=f: scan.query(v, K, f), queries)
                             for name, f in filters.items()}
    return out


class ExactScan:
    """Reference point, not patfig's engine: exact cosine over an in-memory matrix with columnar facet masks.

    Shows what a filtered query costs without an ANN index when the filter is applied as a mask first.
    """

    def __init__(self, vectors: list[np.ndarray], metas: list[dict]) -> None:
        self.matrix = np.vstack(vectors).astype(np.float32)
        self.kind = np.array([m.get("kind", "") for m in metas])
        self.date = np.array([int(m.get("pub_date") or 0) for m in metas])
        self.cpc = {k: np.array([bool(m.get(k)) for m in metas])
                    for k in {k for m in metas for k in m if k.startswith("cpc_")}}

    def mask(self, f: Filters | None) -> np.ndarray | None:
        if f is None:
            return None
        mask = np.ones(len(self.kind), dtype=bool)
        if f.kinds:
            mask &= np.isin(self.kind, f.kinds)
        if f.cpc:
            mask &= np.logical_or.reduce([self.cpc.get(f"cpc_{p}", np.zeros_like(mask)) for p in f.cpc])
        if f.date_from:
            mask &= self.date >= f.date_from
        if f.date_to:
            mask &= (self.date > 0) & (self.date <= f.date_to)
        return mask

    def query(self, vector: list[float], k: int, f: Filters | None) -> np.ndarray:
        sims = self.matrix @ np.asarray(vector, dtype=np.float32)
        mask = self.mask(f)
        if mask is not None:
            sims = np.where(mask, sims, -np.inf)
        top = np.argpartition(-sims, min(k, len(sims) - 1))[:k]
        return top[np.argsort(-sims[top])]


def copy_real(src: FigureStore, dst: FigureStore) -> tuple[list[dict], int]:
    """Copy the real index's patents, sheets and vectors into `dst` (no passages). Returns metas and count."""
    enc = src.encoders()
    dst.bind_encoders(enc["visual"], enc["text"])
    metas = []
    for p in src.patents():
        sheets = src.sheets(p.patent_id)
        if not sheets:
            continue
        ids = [s.figure_id for s in sheets]
        vis, txt = src.vectors("visual", ids), src.vectors("text", ids)
        dst.add_patent(p, sheets, [vis[i] for i in ids], [txt[i] for i in ids], [], [])
        metas.extend(src.metadata(ids).values())
    return metas, len(metas)


def pad(store: FigureStore, start: int, target: int, dim: int, metas: list[dict],
        rng: np.random.Generator) -> tuple[list[np.ndarray], list[dict]]:
    """Add synthetic figures numbered start..target-1 in batches (random unit vectors, real facets)."""
    col = store._col(VISUAL)
    written_vectors: list[np.ndarray] = []
    written_metas: list[dict] = []
    doc = Patent(patent_id="SYN", office="US", number="0").model_dump_json()
    for lo in range(start, target, BATCH):
        hi = min(target, lo + BATCH)
        vec = rng.standard_normal((hi - lo, dim)).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        ids, batch_meta, patents = [], [], {}
        for i in range(lo, hi):
            pid = f"SYN{i // SHEETS_PER_PATENT:07d}"
            fid = f"{pid}-S{i % SHEETS_PER_PATENT + 1}"
            m = dict(metas[i % len(metas)])
            m.update(patent_id=pid, figure_id=fid, sheet_no=i % SHEETS_PER_PATENT + 1)
            ids.append(fid)
            batch_meta.append(m)
            patents[pid] = None
        col.add(ids=ids, embeddings=vec, metadatas=batch_meta)
        written_vectors.append(vec)
        written_metas.extend(batch_meta)
        with store.db:
            store.db.executemany(
                "INSERT OR IGNORE INTO patents VALUES(?, 'complete', 'synthetic', '', ?, ?)",
                [(pid, doc, time.time()) for pid in patents],
            )
    return written_vectors, written_metas


def encoding(services) -> dict:
    """Load time, RSS added, first-call and p50 encode time of the visual and the text encoder."""
    from PIL import Image

    out: dict = {}
    sheets = services.store.sheets()
    image = None
    for s in sheets:
        p = services.store.image_path(s)
        if p.is_file():
            with Image.open(p) as im:
                image = im.convert("RGB")
            out["image"] = {"figure_id": s.figure_id, "size": list(image.size)}
            break
    jobs = (("visual", lambda e: e.embed_images([image]), image is not None),
            ("text", lambda e: e.embed_texts([TEXT_QUERY]), True))
    for name, call, possible in jobs:
        if not possible:
            out[name] = {"error": "no stored sheet image to encode"}
            continue
        before = rss_mb()
        t = time.perf_counter()
        try:
            enc = services.visual if name == "visual" else services.text
            loaded = time.perf_counter()
            call(enc)
        except Exception as e:  # a missing model must not lose the latency numbers measured so far
            out[name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        first = time.perf_counter()
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            call(enc)
            runs.append((time.perf_counter() - t0) * 1000)
        out[name] = {
            "encoder": enc.name,
            "load_s": round(loaded - t, 2),
            "first_call_ms": round((first - loaded) * 1000, 1),
            "p50_ms": round(statistics.median(runs), 1),
            "rss_added_mb": round(rss_mb() - before, 1),
        }
    return out


def run(index: Path, sizes: list[int], n_queries: int, budget_s: float, workdir: Path | None) -> dict:
    from core.settings import load_settings
    from patfig.wiring import build_services

    t_start = time.perf_counter()
    rss0 = rss_mb()
    services = build_services(load_settings(index_dir=index))
    src = services.store
    enc = src.encoders()
    if "visual" not in enc:
        raise SystemExit(f"the index at {index} is empty: ingest some patents first")
    dim = enc["visual"].dim
    real_metas = list(src.all_metadata().values())
    ids = sorted(src.all_metadata())
    rnd = random.Random(0)
    qids = [rnd.choice(ids) for _ in range(n_queries)]
    qvec = src.vectors("visual", sorted(set(qids)))
    queries = [qvec[i] for i in qids]
    filters = choose_filters(real_metas)
    report: dict = {
        "index": str(index),
        "visual_encoder": {"name": enc["visual"].name, "dim": dim},
        "k": K,
        "queries_per_level": n_queries,
        "filters": {k: (f.describe() if f else {}) for k, f in filters.items()},
        "rss_start_mb": round(rss0, 1),
        "levels": [],
        "skipped": [],
    }
    level = measure_level(src, queries, filters, real_metas)
    level["label"] = "sample index"
    report["levels"].append(level)

    tmp = Path(tempfile.mkdtemp(prefix="patfig-latency-", dir=workdir))
    try:
        dst = FigureStore.open(tmp, create=True)
        t = time.perf_counter()
        metas, count = copy_real(src, dst)
        report["copy_real_s"] = round(time.perf_counter() - t, 2)
        real_vectors = dst.vectors("visual", [m["figure_id"] for m in metas])
        all_vectors = [np.asarray([real_vectors[m["figure_id"]] for m in metas], dtype=np.float32)]
        all_metas = list(metas)
        rng = np.random.default_rng(0)
        rate = None  # figures per second, measured on the first padding step
        for target in sorted(sizes):
            if target <= count:
                continue
            elapsed = time.perf_counter() - t_start
            if rate is not None:
                projected = (target - count) / rate * 1.3 + 60
                if elapsed + projected > budget_s:
                    report["skipped"].append({"figures": target, "reason": (
                        f"projected {projected / 60:.0f} min of inserts at {rate:.0f} figures/s; "
                        f"{(budget_s - elapsed) / 60:.0f} min of the budget left")})
                    continue
            t = time.perf_counter()
            new_vectors, new_metas = pad(dst, count, target, dim, metas, rng)
            took = time.perf_counter() - t
            all_vectors.extend(new_vectors)
            all_metas.extend(new_metas)
            rate = (target - count) / took
            count = target
            level = measure_level(dst, queries, filters, metas, ExactScan(all_vectors, all_metas))
            level["label"] = f"{target:,} figures"
            level["insert_s"] = round(took, 1)
            level["insert_per_s"] = round(rate)
            level["disk_mb"] = round(sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / 1e6, 1)
            report["levels"].append(level)
            print(f"  {level['label']}: inserted in {took:.0f} s; filtered p95 "
                  f"{level['queries']['narrow']['p95_ms']} ms", flush=True)
        if len(report["levels"]) > 1:
            # complete_ids() scans the patents table, documents included; a covering index avoids that.
            dst.db.execute("CREATE INDEX IF NOT EXISTS bench_status ON patents(status, patent_id)")
            report["complete_ids_with_status_index"] = time_calls(lambda _: dst.complete_ids(), list(range(20)))
        dst.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["encoding"] = encoding(services)
    report["rss_end_mb"] = round(rss_mb(), 1)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    big = [lv for lv in report["levels"] if lv["figures"] >= 100_000]
    if big:
        p95 = max(big[0]["queries"][f]["p95_ms"] for f in ("broad", "narrow"))
        report["goal"] = {"figures": big[0]["figures"], "filtered_p95_ms": p95, "target_ms": 100,
                          "met": p95 < 100}
    services.close()
    return report


def format_report(r: dict) -> str:
    lines = [f"query latency: {r['index']} - visual {r['visual_encoder']['name']} (dim {r['visual_encoder']['dim']}),"
             f" k={r['k']}, {r['queries_per_level']} queries per size",
             "filters: " + "; ".join(f"{k} {v or '-'}" for k, v in r["filters"].items()),
             "",
             f"{'figures':>10} {'none p50/p95':>15} {'broad p50/p95':>15} {'narrow p50/p95':>16} "
             f"{'complete_ids':>13} {'RSS MB':>8} {'insert/s':>9}"]
    for lv in r["levels"]:
        q = lv["queries"]

        def pp(name: str, q=q) -> str:
            return f"{q[name]['p50_ms']:.1f}/{q[name]['p95_ms']:.1f}"

        lines.append(f"{lv['figures']:>10,} {pp('none'):>15} {pp('broad'):>15} {pp('narrow'):>16} "
                     f"{lv['complete_ids']['p50_ms']:>10.1f} ms {lv['rss_mb']:>8.0f} {lv.get('insert_per_s', ''):>9}")
    scans = [lv for lv in r["levels"] if "exact_scan" in lv]
    if scans:
        lines.append("reference, exact numpy scan with facet masks (vector math only, not the store):")
        for lv in scans:
            q = lv["exact_scan"]
            lines.append(f"{lv['figures']:>10,} " + " ".join(
                f"{q[n]['p50_ms']:.1f}/{q[n]['p95_ms']:.1f}".rjust(w) for n, w in (("none", 15), ("broad", 15),
                                                                                   ("narrow", 16))))
    if "complete_ids_with_status_index" in r:
        lines.append(f"complete_ids at the largest size with an index on patents(status, patent_id): "
                     f"p50 {r['complete_ids_with_status_index']['p50_ms']} ms")
    sel = r["levels"][0]["queries"]
    lines.append(f"selectivity: broad {sel['broad']['selectivity']:.0%}, narrow {sel['narrow']['selectivity']:.0%}")
    for s in r["skipped"]:
        lines.append(f"skipped {s['figures']:,} figures: {s['reason']}")
    if len(r["levels"]) >= 2:
        a, b = r["levels"][0], r["levels"][-1]
        growth = b["queries"]["narrow"]["p95_ms"] / max(0.01, a["queries"]["narrow"]["p95_ms"])
        lines.append(f"growth {a['figures']:,} -> {b['figures']:,} figures: filtered (narrow) p95 x{growth:.1f}")
    for name in ("visual", "text"):
        e = r["encoding"].get(name, {})
        if "error" in e:
            lines.append(f"encode {name}: unavailable ({e['error']})")
        elif e:
            lines.append(f"encode {name} ({e['encoder']}): build {e['load_s']} s, first call {e['first_call_ms']} ms "
                         f"(includes loading weights when the encoder loads lazily), then p50 {e['p50_ms']} ms; "
                         f"RSS {e['rss_added_mb']:+.0f} MB")
    if "goal" in r:
        g = r["goal"]
        lines.append(f"goal: filtered p95 at {g['figures']:,} figures = {g['filtered_p95_ms']} ms "
                     f"(target < {g['target_ms']} ms): {'met' if g['met'] else 'NOT met'}")
    lines.append(f"RSS start {r['rss_start_mb']:.0f} MB, end {r['rss_end_mb']:.0f} MB; run {r['seconds'] / 60:.1f} min")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.query_latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=Path("data/index"), help="the real index (read only)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=100, help="queries per size and filter")
    ap.add_argument("--budget-min", type=float, default=20.0, help="skip sizes projected to overrun this")
    ap.add_argument("--workdir", type=Path, default=None, help="where the temporary index goes (default: $TMPDIR)")
    ap.add_argument("--out", type=Path, default=Path("query_latency.json"), help="JSON report")
    args = ap.parse_args()
    report = run(args.index, args.sizes, args.queries, args.budget_min * 60, args.workdir)
    print(format_report(report))
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
