"""Query latency against index size, memory, and query-encoding time.

What is measured:

- p50/p95 latency (wall, and CPU p50) of `FigureStore.query_visual` (k=100, the candidate pool
  `tools.search` asks for) with no filter, a broad filter (the commonest figure kind) and a narrow one
  (one CPC subclass and a publication date range), at the real index's size and then at growing sizes
  (default 10k, 100k, 1M figures), by each route: ``auto`` (the store's choice), ``exact`` (the in-memory
  scan of the rows the filter passes), ``hnsw`` (Chroma's HNSW, over-fetching when filtered and applying
  the filter in memory) and ``chroma`` (Chroma's own `where` pre-filter, the path before the in-memory
  table), with the recall@k of the approximate routes against the exact one;
- the time to load the in-memory table and its size, the per-query cost of the cached facets and their
  cost after a write, and the time to insert the padding (seconds per 10k figures);
- resident memory (RSS) of this process after each size (Chroma's HNSW included: the store is embedded),
  and what loading each encoder adds;
- encoding time of a query image (a stored sheet) and a query text, separately (first call, then p50).

The padded indexes live in a temporary folder, never in the real index: the real sheets (vectors, facets,
patent rows) are copied in first, then synthetic figures are added: random unit vectors of the visual
encoder's dimension, 10 per synthetic patent, each with the facets of a real sheet (cycled), so filters
select the same share as on the real data. Synthetic rows are written in batches through the store's
collection handle and patent table, because `FigureStore.add_patent` (one patent at a time, three
collections, one SQLite transaction each) would take hours at a million figures.

A size is skipped when the projected insert time would overrun the time budget (default 20 minutes);
the report then gives the largest size reached and how latency grew up to it.

Opening an index made before the components table adds it (a write): point --index at a copy to keep one
untouched. Run:

    python -m bench.query_latency --index data/index [--sizes 10000 100000 1000000] [--out FILE.json]

Writes FILE.json and FILE.md (the tables).

With ``--text``, text queries instead: `tools.search.search_text` end to end on the index padded with copies
of its patents (per-figure word rows, figure passages, components), see bench/query_latency_text.py:

    python -m bench.query_latency --text --index COPY --sizes 10000 100000 --queries 20 --out FILE.json

With ``--image``, image queries: `tools.search.search_image` end to end (the picture's encoding included) on the
index padded with copies of its patents, their local features and visual words, see bench/query_latency_image.py:

    python -m bench.query_latency --image --index COPY --sizes 100000 --queries 20 --reps 2 --out FILE.json
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

import store.vectors as index_module  # the vector search: its thresholds and loaders
from core.filters import Filters
from core.types import Patent
from store.index import VISUAL, FigureStore
from store.matrix import VectorTable

K = 100  # tools.search.POOL
BATCH = 5000
SHEETS_PER_PATENT = 10
TEXT_QUERY = "gripping unit of an overhead hoist moving on a rail"


def machine() -> str:
    """CPU model, cores and memory of this machine (from /proc: Linux), for the report."""
    info = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
            for f in ("/proc/cpuinfo", "/proc/meminfo") for line in Path(f).read_text().splitlines() if ":" in line}
    ram = int(info.get("MemTotal", "0 kB").split()[0]) / 1e6
    return f"{info.get('model name', '?')}, {os.cpu_count()} cores, {ram:.0f} GB RAM"


def rss_mb() -> float:
    """Resident memory of this process in MB (from /proc: Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1e3
    return 0.0


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


def choose_filters(metas: list[dict]) -> dict[str, Filters | None]:
    """A broad filter (the commonest figure kind) and a narrow one (one CPC subclass + a date range)."""
    kinds = Counter(m.get("kind") for m in metas)
    subclasses = Counter(k[4:] for m in metas for k in m if k.startswith("cpc_") and len(k) == 8)
    dates = sorted(int(m.get("pub_date") or 0) for m in metas if m.get("pub_date"))
    broad = Filters(kinds=[str(kinds.most_common(1)[0][0])])
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


ROUTES = {  # EXACT_MAX_FLOATS forcing each route of `FigureStore._search_table`; None keeps the default
    "auto": None,
    "exact": 10**15,  # always the exact in-memory scan of the rows the filter passes
    "hnsw": 0,  # always Chroma's HNSW (unfiltered, or over-fetch then the in-memory mask)
}


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and process CPU time of one call, in ms (CPU time counts every thread, Chroma's included)."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000


def route_stats(store: FigureStore, route: str, queries: list[list[float]], f: Filters | None,
                budget_s: float) -> dict:
    """Latency of one route and filter: wall p50/p95, CPU p50, and the ids found per query."""
    found: list[list[str]] = []
    if route == "chroma":
        def call(v: list[float]) -> None:
            found.append([h.id for h in store._query_chroma(VISUAL, v, K, f)])
    else:
        def call(v: list[float]) -> None:
            found.append([h.id for h in store.query_visual(v, K, f)])
    saved = index_module.EXACT_MAX_FLOATS
    if ROUTES.get(route) is not None:
        index_module.EXACT_MAX_FLOATS = ROUTES[route]
    try:
        for v in queries[: 1 if route == "chroma" else 3]:  # warm-up (Chroma's filtered calls take seconds at 1M)
            call(v)
        found.clear()
        wall, cpu = [], []
        start = time.perf_counter()
        for v in queries:
            w, c = timed(lambda v=v: call(v))
            wall.append(w)
            cpu.append(c)
            if len(wall) >= 10 and time.perf_counter() - start > budget_s:
                break
    finally:
        index_module.EXACT_MAX_FLOATS = saved
    return {**percentiles(wall), "cpu_p50_ms": round(statistics.median(cpu), 2), "_found": found}


def measure_level(store: FigureStore, queries: list[list[float]], filters: dict[str, Filters | None],
                  metas: list[dict], routes: tuple[str, ...] = ("exact", "hnsw", "chroma", "auto")) -> dict:
    """At the store's current size: the in-memory table's load time and size, latency of each route and
    filter, the recall of the HNSW route against the exact one, and the per-query cache costs. The store's
    own route goes last, so Chroma's indexing work right after the inserts does not land on it alone."""
    out: dict = {"figures": store._col(VISUAL).count(), "queries": {}, "routes": {}}
    rss = rss_mb()
    w, c = timed(lambda: store._table(VISUAL))
    table = store._table(VISUAL)
    out["table"] = {"load_s": round(w / 1000, 2), "load_cpu_s": round(c / 1000, 2), "rows": len(table or []),
                    "array_mb": round((table.nbytes() if table else 0) / 1e6, 1),
                    "rss_added_mb": round(rss_mb() - rss, 1)}
    snapshot = store.root / "memory" / f"{VISUAL}.npz"
    if table is not None and snapshot.is_file():  # what a new process pays instead of the load from Chroma
        out["table"]["snapshot_mb"] = round(snapshot.stat().st_size / 1e6, 1)
        out["table"]["snapshot_load_s"] = round(timed(lambda: type(table).load(snapshot))[0] / 1000, 2)
    for route in routes:
        per: dict = {}
        for name, f in filters.items():
            per[name] = route_stats(store, route, queries, f, budget_s=20.0 if route == "chroma" else 30.0)
            per[name]["selectivity"] = selectivity(metas, f)
        out["routes"][route] = per
    exact = out["routes"].get("exact", {})
    for route in ("hnsw", "chroma"):
        for name, stats in out["routes"].get(route, {}).items():
            if name in exact:
                pairs = list(zip(stats["_found"], exact[name]["_found"], strict=False))
                stats["recall_vs_exact"] = round(statistics.mean(
                    len(set(a) & set(b)) / max(1, len(b)) for a, b in pairs), 4) if pairs else None
    for per in out["routes"].values():
        for stats in per.values():
            del stats["_found"]
    out["queries"] = out["routes"]["auto"]
    out["version_check"] = time_calls(lambda _: store.complete_ids() and store.facets(), list(range(50)))
    store._cache.clear()
    out["facets_after_write_ms"] = round(timed(store.facets)[0], 1)
    out["rss_mb"] = round(rss_mb(), 1)
    return out


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


def pad(store: FigureStore, start: int, target: int, dim: int, metas: list[dict], rng: np.random.Generator) -> None:
    """Add synthetic figures numbered start..target-1 in batches (random unit vectors, real facets). The
    patent rows' triggers move the index's version, so the next query reloads the in-memory table."""
    col = store._col(VISUAL)
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
        with store.db:
            store.db.executemany(
                "INSERT OR IGNORE INTO patents VALUES(?, 'complete', 'synthetic', '', ?, ?)",
                [(pid, doc, time.time()) for pid in patents],
            )


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
            t, c = time.perf_counter(), time.process_time()
            pad(dst, count, target, dim, metas, rng)
            took, took_cpu = time.perf_counter() - t, time.process_time() - c
            rate = (target - count) / took
            level = {"insert_s": round(took, 1), "insert_cpu_s": round(took_cpu, 1), "insert_per_s": round(rate),
                     "insert_s_per_10k": round(took / (target - count) * 10_000, 1)}
            count = target
            level |= measure_level(dst, queries, filters, metas)
            level["label"] = f"{target:,} figures"
            level["disk_mb"] = round(sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / 1e6, 1)
            report["levels"].append(level)
            print(f"  {level['label']}: inserted in {took:.0f} s; filtered p95 "
                  f"{level['queries']['narrow']['p95_ms']} ms", flush=True)
        dst.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["encoding"] = encoding(services)
    report["rss_end_mb"] = round(rss_mb(), 1)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    report["goals"] = []
    for lv in report["levels"]:
        target = 100 if lv["figures"] <= 100_000 else 300 if lv["figures"] <= 1_000_000 else None
        if target and lv["figures"] >= 100_000:
            worst = max(q["p95_ms"] for q in lv["queries"].values())
            report["goals"].append({"figures": lv["figures"], "worst_p95_ms": worst, "target_ms": target,
                                    "met": worst < target})
    report["machine"] = machine()
    services.close()
    return report


def _pp(q: dict) -> str:
    return f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}"


def format_report(r: dict) -> str:
    """The report as markdown: one table of the chosen route, one per route, then the rest."""
    sel = r["levels"][0]["queries"]
    lines = [f"Query latency: {r['index']}, visual {r['visual_encoder']['name']} (dim {r['visual_encoder']['dim']}), "
             f"k={r['k']}, up to {r['queries_per_level']} queries per size and filter, query encoding excluded.",
             "Filters: " + "; ".join(f"{k} {v or '-'} ({sel[k]['selectivity']:.0%} pass)"
                                     for k, v in r["filters"].items()),
             f"Machine: {r.get('machine', '?')}", "",
             "The store's route (`FigureStore.query_visual`), wall p50 / p95 ms, CPU p50 ms:", "",
             "| figures | unfiltered | broad | narrow | CPU p50 (u/b/n) | RSS MB | table MB | table load s "
             "(from Chroma / snapshot) | insert s per 10k |", "|---|---|---|---|---|---|---|---|---|"]
    for lv in r["levels"]:
        q, t = lv["queries"], lv["table"]
        cpu = "/".join(f"{q[n]['cpu_p50_ms']:.0f}" for n in ("none", "broad", "narrow"))
        lines.append(f"| {lv['figures']:,} | {_pp(q['none'])} | {_pp(q['broad'])} | {_pp(q['narrow'])} | {cpu} "
                     f"| {lv['rss_mb']:.0f} | {t['array_mb']:.0f} | {t['load_s']} / {t.get('snapshot_load_s', '-')} "
                     f"| {lv.get('insert_s_per_10k', '')} |")
    lines += ["", "Every route at every size, wall p50 / p95 ms (recall@k against the exact route):", "",
              "| figures | route | unfiltered | broad | narrow |", "|---|---|---|---|---|"]
    for lv in r["levels"]:
        for route, per in lv["routes"].items():
            cells = [_pp(per[n]) + (f" (r {per[n]['recall_vs_exact']:.2f})" if "recall_vs_exact" in per[n] else "")
                     for n in ("none", "broad", "narrow")]
            lines.append(f"| {lv['figures']:,} | {route} | " + " | ".join(cells) + " |")
    lines.append("")
    for lv in r["levels"]:
        lines.append(f"- {lv['figures']:,} figures: facets() per query {lv['version_check']['p50_ms']} ms p50 "
                     f"(version check + cached copy), after a write {lv['facets_after_write_ms']} ms")
    for s in r["skipped"]:
        lines.append(f"- skipped {s['figures']:,} figures: {s['reason']}")
    for name in ("visual", "text"):
        e = r["encoding"].get(name, {})
        if "error" in e:
            lines.append(f"- encode {name}: unavailable ({e['error']})")
        elif e:
            lines.append(f"- encode {name} ({e['encoder']}): build {e['load_s']} s, "
                         f"first call {e['first_call_ms']} ms, then p50 {e['p50_ms']} ms; "
                         f"RSS {e['rss_added_mb']:+.0f} MB")
    for g in r.get("goals", []):
        lines.append(f"- goal at {g['figures']:,} figures: worst p95 {g['worst_p95_ms']} ms "
                     f"(target < {g['target_ms']} ms): {'met' if g['met'] else 'NOT met'}")
    lines.append(f"- RSS start {r['rss_start_mb']:.0f} MB, end {r['rss_end_mb']:.0f} MB; "
                 f"run {r['seconds'] / 60:.1f} min")
    return "\n".join(lines)


def table_only(index: Path, sizes: list[int], n_queries: int, workdir: Path | None) -> dict:
    """The exact in-memory route alone at sizes whose Chroma insert is out of reach: a `VectorTable` of
    random unit vectors with the real sheets' facets (cycled, as `pad` does), no Chroma. Reports build
    time, array size, RSS, snapshot save/load time and latency (mask + exact scan) per filter."""
    src = FigureStore.open(index)
    metas = list(src.all_metadata().values())
    qvec = src.vectors("visual", sorted(str(m["figure_id"]) for m in metas))
    src.close()
    rnd = random.Random(0)
    queries = [qvec[rnd.choice(sorted(qvec))] for _ in range(n_queries)]
    filters = choose_filters(metas)
    dim = len(queries[0])
    out: dict = {"dim": dim, "machine": machine(), "filters": {k: (f.describe() if f else {})
                                                                  for k, f in filters.items()}, "levels": []}
    rng = np.random.default_rng(0)
    for n in sorted(sizes):
        rss = rss_mb()
        t = time.perf_counter()
        table = VectorTable(dim)
        for lo in range(0, n, 50_000):
            hi = min(n, lo + 50_000)
            vec = rng.standard_normal((hi - lo, dim)).astype(np.float32)
            rows = [dict(metas[i % len(metas)], patent_id=f"SYN{i // SHEETS_PER_PATENT:07d}") for i in range(lo, hi)]
            table.add([f"SYN{i // SHEETS_PER_PATENT:07d}-S{i % SHEETS_PER_PATENT + 1}" for i in range(lo, hi)],
                      vec, rows)
        level = {"figures": n, "build_s": round(time.perf_counter() - t, 1), "array_mb": round(table.nbytes() / 1e6, 1),
                 "rss_added_mb": round(rss_mb() - rss, 1)} | _table_level(table, queries, filters, metas, workdir)
        out["levels"].append(level)
        print(f"  table only, {n:,} figures: " + ", ".join(
            f"{k} {_pp(q)} ms" for k, q in level["queries"].items()), flush=True)
    return out


def _table_level(table: VectorTable, queries: list[list[float]], filters: dict[str, Filters | None],
                 metas: list[dict], workdir: Path | None) -> dict:
    """Snapshot save/load time and size, and mask + exact scan latency per filter, of one table."""
    level: dict = {"queries": {}}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "t.npz"
        level["snapshot_save_s"] = round(timed(lambda: table.save(path, {}))[0] / 1000, 2)
        level["snapshot_mb"] = round(path.stat().st_size / 1e6, 1)
        level["snapshot_load_s"] = round(timed(lambda: VectorTable.load(path))[0] / 1000, 2)
    for name, f in filters.items():
        where = f.where() if f is not None else None
        wall, cpu = [], []
        for v in queries:
            w, c = timed(lambda v=v, where=where: table.search(v, K, table.mask(where)))
            wall.append(w)
            cpu.append(c)
        level["queries"][name] = {**percentiles(wall[3:]), "cpu_p50_ms": round(statistics.median(cpu[3:]), 2),
                                  "selectivity": selectivity(metas, f)}
    return level


def format_table_only(r: dict) -> str:
    lines = [f"Exact in-memory route alone (no Chroma), dim {r['dim']}, k={K}; {r['machine']}. "
             "Wall p50 / p95 ms of mask + exact scan:", "",
             "| figures | unfiltered | broad | narrow | CPU p50 (u/b/n) | table MB | RSS added MB | build s "
             "| snapshot MB, save / load s |", "|---|---|---|---|---|---|---|---|---|"]
    for lv in r["levels"]:
        q = lv["queries"]
        cpu = "/".join(f"{q[n]['cpu_p50_ms']:.0f}" for n in ("none", "broad", "narrow"))
        lines.append(f"| {lv['figures']:,} | {_pp(q['none'])} | {_pp(q['broad'])} | {_pp(q['narrow'])} | {cpu} "
                     f"| {lv['array_mb']:.0f} | {lv['rss_added_mb']:.0f} | {lv['build_s']} "
                     f"| {lv['snapshot_mb']:.0f}, {lv['snapshot_save_s']} / {lv['snapshot_load_s']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.query_latency", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=Path("data/index"), help="the real index (read only)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=100, help="queries per size and filter")
    ap.add_argument("--budget-min", type=float, default=20.0, help="skip sizes projected to overrun this")
    ap.add_argument("--workdir", type=Path, default=None, help="where the temporary index goes (default: $TMPDIR)")
    ap.add_argument("--out", type=Path, default=Path("query_latency.json"), help="JSON report")
    ap.add_argument("--table-only", action="store_true",
                    help="measure only the exact in-memory route at --sizes, without inserting into Chroma")
    ap.add_argument("--image", action="store_true", help=(
        "measure image queries (tools.search.search_image, encoding included) instead, on the index padded with "
        "copies of its patents and their local features (bench/query_latency_image.py); --queries is then the "
        "number of query pictures, each searched --reps times per filter"))
    ap.add_argument("--reps", type=int, default=2, help="with --image: calls per query picture and filter")
    ap.add_argument("--text", action="store_true", help=(
        "measure text queries (tools.search.search_text) end to end instead (bench/query_latency_text.py); "
        "--queries is then the calls per query and filter"))
    args = ap.parse_args()
    if args.image:
        from bench import query_latency_image

        query_latency_image.main(args.index, args.sizes, args.queries, args.reps, args.workdir, args.out)
        return
    if args.text:
        from bench import query_latency_text

        query_latency_text.main(args.index, args.sizes, args.queries, args.workdir, args.out)
        return
    if args.table_only:
        report = table_only(args.index, args.sizes, args.queries, args.workdir)
        text = format_table_only(report)
        print(text)
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
        args.out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
        return
    report = run(args.index, args.sizes, args.queries, args.budget_min * 60, args.workdir)
    print(format_report(report))
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(format_report(report) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
