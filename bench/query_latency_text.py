"""Text-query latency against index size: `tools.search.search_text` end to end.

Run as ``python -m bench.query_latency --text``.

What is measured, at the real index's size and at growing padded sizes (default 10k and 100k figures), for a
few realistic queries (`QUERIES`), unfiltered, with a broad filter (the commonest figure kind) and with a
narrow one (a CPC subclass, ~10% of figures):

- ``search``: wall p50/p95, and process CPU p50/p95 (the number to trust on a shared machine), of
  `search_text` (k=10) with the query's vector fixed (encoded once, beforehand): everything a text query does
  after encoding (per-figure word matching, the dense figure passages, the linked-text vectors, scoring,
  calibration, fusion and the hits' sheets);
- ``end to end``: the same call with the real text encoder (warmed up) encoding the query each time;
- ``encode``: the text encoder alone, p50;
- where the time goes: the time spent inside each store call `tools.words.score_words` and `tools.search` make
  (one extra pass with the store's methods wrapped), p50 per call summed per query;
- ``after a write``: the first query after the index changed (the per-version caches — document frequencies,
  complete ids, facets — recomputed), p50.

Padding: synthetic patents are copies of the real ones, cycled (patent after patent, with their sheets), under
new ids, so word frequencies, components per figure, passages per figure and facets stay those of the real
sample. Each copy gets its rows in ``patents``, ``sheets``, ``components`` and ``figure_lexical`` (written by
`store.figure_lexical.write`, the ingest's own code), and rows in the three in-memory tables a text query reads:
the linked-text vectors and the figure passages (the real vectors plus a little Gaussian noise, renormalised,
so a copy is near its original but not identical) and the visual table (the real row's vector: it carries the
facets the filters read). The vectors go into the in-memory tables directly, not through Chroma: at these sizes
the store's route is the exact in-memory scan (`store.vectors.EXACT_MAX_FLOATS`), so Chroma is read only for the
documents of hits, which synthetic ids do not have (the lookup still runs). Inserting 100k figures' vectors
into Chroma's HNSW (three collections, ~3 vectors per figure) would take most of an hour on this machine;
`bench/results/query_latency.md` measures that path for the visual collection.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.figure_text import figure_passages
from core.filters import Filters, sheet_metadata
from core.types import Patent, Sheet
from store import figure_lexical
from store.documents import _component_rows
from store.index import FIGURE_PASSAGES, TEXT, VISUAL, FigureStore

QUERIES = ("hydrogen tank", "gripping unit of a hoist", "shoe", "flowchart of charging an electric vehicle")
K = 10
NOISE = 0.3  # norm of the Gaussian noise added to a copied text or passage vector (cosine to it ≈ 0.96)
STAGES = ("figure_lexical", "figure_document_frequency", "figure_fields", "figure_stems", "query_text",
          "query_figure_passages", "figure_passage_similarities", "figure_passage_texts", "figures_with_components",
          "figures_of_patents", "figure_numerals", "metadata", "sheets_by_id", "patents_by_id")


def _pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, max(0, int(round(0.95 * len(s))) - 1))]
    return {"p50_ms": round(statistics.median(s), 1), "p95_ms": round(p95, 1), "max_ms": round(s[-1], 1), "n": len(s)}


class FixedText:
    """The text encoder with each query's vector computed once: `search_text` minus the encoding."""

    def __init__(self, encoder: Any, vectors: dict[str, list[float]]) -> None:
        self._enc, self._vectors = encoder, vectors
        self.name, self.dim = encoder.name, encoder.dim

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        return [self._vectors[t] if t in self._vectors else self._enc.embed_texts([t])[0] for t in texts]


# ---------------------------------------------------------------- the padded index


@dataclasses.dataclass
class Source:
    """The real index's documents and vectors, read once, that the padding copies."""

    patents: list[tuple[Patent, list[Sheet]]]
    text: dict[str, np.ndarray]  # figure id → linked-text vector
    passages: dict[str, np.ndarray]  # passage id → vector


def read_source(src: FigureStore) -> Source:
    patents = [(p, src.sheets(p.patent_id)) for p in src.patents()]
    patents = [(p, s) for p, s in patents if s]
    ids = [s.figure_id for _, sheets in patents for s in sheets]
    text = {i: np.asarray(v, dtype=np.float32) for i, v in src.vectors("text", ids).items()}
    res = src._col(FIGURE_PASSAGES).get(include=["embeddings"])
    emb = res["embeddings"] if res["embeddings"] is not None else []
    passages = {i: np.asarray(v, dtype=np.float32) for i, v in zip(res["ids"], emb, strict=False)}
    return Source(patents, text, passages)


def copy_real(src: FigureStore, dst: FigureStore, source: Source) -> int:
    """The real patents into `dst` through `add_patent` (their figure passages included), with the index's
    calibration and whitening (the visual table and queries whitened as the real index's are). Returns the
    figures."""
    enc = src.encoders()
    dst.bind_encoders(enc["visual"], enc["text"])
    if (cal := src.calibration()) is not None:
        dst.set_calibration(cal)
    if (white := src.whitening()) is not None:
        dst.set_whitening(white)
    n = 0
    for p, sheets in source.patents:
        ids = [s.figure_id for s in sheets]
        vis = src.vectors("visual", ids)
        fps = [fp for fp in figure_passages(p, sheets) if fp.id in source.passages]
        dst.add_patent(p, sheets, [vis[i] for i in ids], [source.text[i].tolist() for i in ids], [], [],
                       figure_passages=fps, figure_passage_vectors=[source.passages[fp.id].tolist() for fp in fps])
        n += len(sheets)
    return n


def _renamed(p: Patent, sheets: list[Sheet], new: str) -> tuple[Patent, list[Sheet]]:
    old = p.patent_id
    sheets2 = [s.model_copy(update={"figure_id": new + s.figure_id[len(old):], "patent_id": new,
                                    "image_path": s.image_path.replace(old, new, 1)}) for s in sheets]
    return p.model_copy(update={"patent_id": new}), sheets2


def _noisy(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = rng.standard_normal(v.shape).astype(np.float32)
    out = v / np.linalg.norm(v) + n * (NOISE / np.linalg.norm(n))
    return out / np.linalg.norm(out)


Copy = tuple[Patent, list[Sheet], Patent]  # a synthetic patent, its sheets, and the real patent it copies


def pad(dst: FigureStore, source: Source, start: int, target: int, serial: list[int], rng: np.random.Generator,
        *, visual_noise: bool = False, also: Callable[[list[Copy]], None] | None = None) -> int:
    """Add copies of the real patents (cycled) until the index holds `target` figures; returns the count.
    `serial` holds the next synthetic patent's number (kept across calls). The visual rows are the originals'
    exactly, or with `visual_noise` near them (as the text rows are: an image query then finds copies as
    candidates that differ from their originals); `also` is given each batch of copies, for what else a bench
    gives them (bench/query_latency_image.py: local features and visual words)."""
    tables = {name: dst._table(name) for name in (VISUAL, TEXT, FIGURE_PASSAGES)}
    if any(t is None for t in tables.values()):
        raise SystemExit("the in-memory tables are off (PATFIG in_memory): nothing to pad")
    count = start
    while count < target:
        batch: list[Copy] = []
        while count < target and len(batch) < 500:
            p, sheets = source.patents[serial[0] % len(source.patents)]
            new_p, new_sheets = _renamed(p, sheets, f"SYN{serial[0]:07d}")
            serial[0] += 1
            batch.append((new_p, new_sheets, p))
            count += len(new_sheets)
        with dst.db:
            dst.db.executemany("INSERT INTO patents VALUES(?, 'complete', 'synthetic', '', ?, ?)",
                               [(np_.patent_id, np_.model_dump_json(), time.time()) for np_, _, _ in batch])
            for np_, sheets, _ in batch:
                dst.db.executemany("INSERT INTO sheets VALUES(?, ?, ?, ?)",
                                   [(s.figure_id, np_.patent_id, s.sheet_no, s.model_dump_json()) for s in sheets])
                dst.db.executemany("INSERT INTO components VALUES(?, ?, ?, ?, ?)", _component_rows(sheets))
                figure_lexical.write(dst.db, np_, sheets)
        vis, txt = tables[VISUAL], tables[TEXT]
        for np_, sheets, old in batch:
            ids = [s.figure_id for s in sheets]
            metas = [sheet_metadata(np_, s) for s in sheets]
            olds = [old.patent_id + s.figure_id[len(np_.patent_id):] for s in sheets]
            assert vis is not None and txt is not None
            vis.add(ids, np.stack([_noisy(r, rng) for r in vis.rows(olds)]) if visual_noise else vis.rows(olds), metas)
            txt.add(ids, np.stack([_noisy(source.text[o], rng) for o in olds]), metas)
            fps = [fp for fp in figure_passages(np_, sheets)
                   if old.patent_id + fp.id[len(np_.patent_id):] in source.passages]
            if fps:
                vec = np.stack([_noisy(source.passages[old.patent_id + fp.id[len(np_.patent_id):]], rng) for fp in fps])
                tables[FIGURE_PASSAGES].add(  # type: ignore[union-attr]
                    [fp.id for fp in fps], vec, [{"patent_id": np_.patent_id, "passage_kind": fp.kind} for fp in fps])
        if also is not None:
            also(batch)
    with dst._lock:  # the tables hold the new rows already: the store must not reload them from Chroma
        dst._cache.clear()
        dst._version = dst.version()
    return count


# ---------------------------------------------------------------- measuring


def _forget(encoder: Any) -> None:
    """Empty the encoder's cache of recent queries (models.text keeps one), so each call really encodes."""
    cache = getattr(encoder, "_queries", None)
    if cache is not None:
        cache.clear()


def text_filters(metas: list[dict]) -> dict[str, Filters | None]:
    """No filter, a broad one (the commonest figure kind, as `bench.query_latency.choose_filters`) and a narrow
    one: the CPC subclass whose share of figures is nearest 10% (a date range on top left none on the sample)."""
    from collections import Counter

    from bench.query_latency import choose_filters

    out = choose_filters(metas)
    subclasses = Counter(k[4:] for m in metas for k in m if k.startswith("cpc_") and len(k) == 8)
    if subclasses:
        best = min(subclasses, key=lambda c: (abs(subclasses[c] / len(metas) - 0.1), c))
        out["narrow"] = Filters(cpc=[best])
    return out


def timed_attributes(obj: Any, names: Sequence[str], spent: dict[str, list[float]],
                     labels: Mapping[str, str] | None = None) -> Callable[[], None]:
    """Wrap these callables of an object (a store, a module, an encoder) so each call's wall time lands in
    `spent` under its name (or its label); returns the undo, which puts the originals back."""
    saved = {name: vars(obj).get(name) for name in names}
    for name in names:
        orig = getattr(obj, name)
        label = (labels or {}).get(name, name)

        def wrapper(*a: Any, _orig: Any = orig, _label: str = label, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return _orig(*a, **kw)
            finally:
                spent.setdefault(_label, []).append((time.perf_counter() - t) * 1000)

        setattr(obj, name, wrapper)

    def undo() -> None:
        for name, orig in saved.items():
            if orig is None:
                delattr(obj, name)  # an instance's wrapper over its class's method
            else:
                setattr(obj, name, orig)

    return undo


def _timed_store(store: FigureStore, spent: dict[str, list[float]]) -> Callable[[], None]:
    """Wrap the store's read methods so each call's wall time lands in `spent`; returns the undo."""
    return timed_attributes(store, STAGES, spent)


def measure(services: Any, encoder: Any, filters: dict[str, Filters | None], reps: int) -> dict:
    """Every query × filter at the store's current size (see the module docstring)."""
    from tools.search import search_text

    vectors = {q: encoder.embed_texts([q])[0] for q in QUERIES}
    fixed = dataclasses.replace(services, _text=FixedText(encoder, vectors))
    real = dataclasses.replace(services, _text=encoder)
    store = services.store
    out: dict = {"figures": len(store._table(VISUAL) or []), "passages": len(store._table(FIGURE_PASSAGES) or []),
                 "figure_lexical_rows": figure_lexical.size(store.db), "queries": {}}
    for q in QUERIES:
        per: dict = {}
        for fname, f in filters.items():
            search_text(fixed, q, k=K, filters=f)  # warm
            wall, cpu, e2e = [], [], []
            hits = 0
            for _ in range(reps):
                w, c = time.perf_counter(), time.process_time()
                hits = len(search_text(fixed, q, k=K, filters=f))
                wall.append((time.perf_counter() - w) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            for _ in range(max(5, reps // 2)):
                _forget(encoder)
                w = time.perf_counter()
                search_text(real, q, k=K, filters=f)
                e2e.append((time.perf_counter() - w) * 1000)
            spent: dict[str, list[float]] = {}
            undo = _timed_store(store, spent)
            try:
                for _ in range(3):
                    search_text(fixed, q, k=K, filters=f)
            finally:
                undo()
            cold = []
            for _ in range(3):
                store._cache.clear()
                w = time.perf_counter()
                search_text(fixed, q, k=K, filters=f)
                cold.append((time.perf_counter() - w) * 1000)
            per[fname] = {"search": _pct(wall) | {"cpu_p50_ms": _pct(cpu)["p50_ms"], "cpu_p95_ms": _pct(cpu)["p95_ms"]},
                          "end_to_end": _pct(e2e), "after_write_p50_ms": round(statistics.median(cold), 1),
                          "hits": hits,
                          "stages_ms": {k: round(sum(v) / 3, 1)
                                        for k, v in sorted(spent.items(), key=lambda x: -sum(x[1]))}}
        enc = []
        for _ in range(10):
            _forget(encoder)
            t = time.perf_counter()
            encoder.embed_texts([q])
            enc.append((time.perf_counter() - t) * 1000)
        out["queries"][q] = {"encode_p50_ms": round(statistics.median(enc), 1), "filters": per}
    return out


def run(index: Path, sizes: list[int], reps: int, workdir: Path | None) -> dict:
    from bench.query_latency import machine, rss_mb, selectivity
    from core.settings import load_settings
    from patfig.wiring import build_services

    t0 = time.perf_counter()
    services = build_services(load_settings(index_dir=index))
    src = services.store
    if not src.has_figure_passages():
        raise SystemExit(f"{index} has no figure passages: re-ingest it with this code first")
    encoder = services.text
    encoder.embed_texts(["warm up"])
    real_metas = list(src.all_metadata().values())
    filters = text_filters(real_metas)
    report: dict = {"index": str(index), "k": K, "reps": reps, "machine": machine(), "queries": list(QUERIES),
                    "filters": {k: (f.describe() if f else {}) for k, f in filters.items()},
                    "selectivity": {k: selectivity(real_metas, f) for k, f in filters.items()}, "levels": []}
    lv = measure(services, encoder, filters, reps)
    lv |= {"label": "sample index", "rss_mb": round(rss_mb())}
    report["levels"].append(lv)
    print(f"  sample index: {_summary(lv)}", flush=True)
    source = read_source(src)
    with tempfile.TemporaryDirectory(prefix="patfig-latency-text-", dir=workdir) as tmp:
        dst = FigureStore.open(Path(tmp), create=True)
        count = copy_real(src, dst, source)
        padded = dataclasses.replace(services, store=dst)
        serial, rng = [0], np.random.default_rng(0)
        for target in sorted(sizes):
            t = time.perf_counter()
            count = pad(dst, source, count, target, serial, rng)
            took = time.perf_counter() - t
            lv = measure(padded, encoder, filters, reps)
            lv |= {"label": f"{target:,} figures", "pad_s": round(took, 1), "rss_mb": round(rss_mb()),
                   "sqlite_mb": round((Path(tmp) / "patfig.sqlite").stat().st_size / 1e6, 1)}
            report["levels"].append(lv)
            print(f"  {lv['figures']:,} figures (padded in {took:.0f} s): {_summary(lv)}", flush=True)
        dst.close()
    services.close()
    report["seconds"] = round(time.perf_counter() - t0, 1)
    worst = max((f["search"]["p95_ms"], f["end_to_end"]["p95_ms"]) for lv in report["levels"][-1:]
                for q in lv["queries"].values() for f in q["filters"].values())
    report["goal"] = {"figures": report["levels"][-1]["figures"], "worst_p95_ms": max(worst), "target_ms": 150,
                      "met": max(worst) < 150}
    return report


def _summary(lv: dict) -> str:
    return "; ".join(f"{q!r} " + "/".join(f"{f['search']['p95_ms']:.0f}" for f in v["filters"].values())
                     for q, v in lv["queries"].items()) + " ms p95 (none/broad/narrow)"


def format_report(r: dict) -> str:
    names = list(r["filters"])
    lines = [f"Text-query latency: `tools.search.search_text` (k={r['k']}) on {r['index']} padded with copies of "
             f"its patents; {r['reps']} calls per query and filter (end to end: half as many). {r['machine']}.",
             "Filters: " + "; ".join(f"{k} {v or '-'} ({r['selectivity'][k]:.0%} pass)"
                                     for k, v in r["filters"].items()),
             "", "Wall p50 / p95 ms; *search* = after encoding (the query vector fixed), *e2e* = with the warm "
             "MiniLM encoding the query each call, *after write* = p50 of the first query after the index changed "
             "(per-version caches cold):", "",
             "| figures | query | encode p50 | " + " | ".join(f"{n}: search | {n}: e2e" for n in names)
             + " | search CPU p50 / p95 (" + "/".join(names) + ") | after write (none) |",
             "|---|---|---|" + "---|---|" * len(names) + "---|---|"]
    for lv in r["levels"]:
        for q, v in lv["queries"].items():
            cells = []
            for n in names:
                f = v["filters"][n]
                cells += [f"{f['search']['p50_ms']:.0f} / {f['search']['p95_ms']:.0f}",
                          f"{f['end_to_end']['p50_ms']:.0f} / {f['end_to_end']['p95_ms']:.0f}"]
            cpu = ", ".join(f"{v['filters'][n]['search']['cpu_p50_ms']:.0f} / "
                            f"{v['filters'][n]['search'].get('cpu_p95_ms', float('nan')):.0f}" for n in names)
            lines.append(f"| {lv['figures']:,} | {q} | {v['encode_p50_ms']:.0f} | " + " | ".join(cells)
                         + f" | {cpu} | {v['filters'][names[0]]['after_write_p50_ms']:.0f} |")
    lines += ["", "Where the time goes (unfiltered): ms per query inside each store call, mean of 3 calls:", ""]
    for lv in r["levels"]:
        for q, v in lv["queries"].items():
            st = v["filters"][names[0]]["stages_ms"]
            lines.append(f"- {lv['figures']:,}, {q!r}: search p50 {v['filters'][names[0]]['search']['p50_ms']:.0f}"
                         " ms; " + ", ".join(f"{k} {ms}" for k, ms in st.items() if ms >= 0.5))
    lines.append("")
    for lv in r["levels"]:
        extra = f", padded in {lv['pad_s']} s, SQLite {lv['sqlite_mb']} MB" if "pad_s" in lv else ""
        lines.append(f"- {lv['label']}: {lv['figures']:,} figures, {lv['passages']:,} figure passages, "
                     f"{lv['figure_lexical_rows']:,} figure_lexical rows; RSS {lv['rss_mb']} MB{extra}")
    g = r["goal"]
    lines.append(f"- goal at {g['figures']:,} figures: worst p95 {g['worst_p95_ms']} ms (target < {g['target_ms']} ms):"
                 f" {'met' if g['met'] else 'NOT met'}; run {r['seconds'] / 60:.1f} min")
    return "\n".join(lines)


def main(index: Path, sizes: list[int], reps: int, workdir: Path | None, out: Path) -> None:
    report = run(index, sizes, reps, workdir)
    text = format_report(report)
    print(text)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.md')}")
