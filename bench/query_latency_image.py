"""Image-query latency against index size: `tools.search.search_image` end to end, query encoding included.

Run as ``python -m bench.query_latency --image``.

What is measured, at the real index's size and at padded sizes (default 100k figures), for query pictures made
from the real index's units (`query_pictures`: sheet crops of 30-70% of the drawing's width and height as
bench/region_verify.py cuts them, every other one at half resolution, and whole units), unfiltered and with a
broad filter (the commonest figure kind, as `bench.query_latency.choose_filters`), warm (the models loaded, the
in-memory tables and the word index built, one unmeasured query first):

- wall p50/p95 and process CPU p50/p95 (every thread: the number to trust on a shared machine) of
  ``search_image(services, picture, k=10)``: what a user waits for, from the picture to the hits;
- where the time goes, ms per query (mean) inside each step, timed by wrapping the functions `search_image`
  calls: ``encode`` (the visual encoder's four turns), ``turn choice`` (the rest of `_image_vector`: one
  nearest-figure probe per turn), ``visual scan`` (`_score_all`), ``views`` (`_with_views`), ``query
  features`` (ORB of the picture), ``word candidates`` (`tools.regions.candidates`), ``word candidates
  scored`` (`_with_candidates`), ``verification`` (`tools.verify.verify`: reading the candidates' stored
  features and matching them), ``hits``;
- after a write: the word indexes' build (`tools.regions.word_index`, from ``local_features.sqlite``: what the
  first image query pays after units were removed) and the first query after the index changed; the first
  query after a patent's units were added (10 units' words: they join the built index beside it); and after a
  patent was ingested again (10 units' words written again: beside it too, their old words masked).

Padding: `bench.query_latency_text.pad` (copies of the real patents under new ids: patents, sheets, components,
per-figure words, the in-memory tables) with each copy's visual vector the original's plus a little noise,
renormalised (near its original, not identical: copies become candidates and must be told apart by the
scores), and (`LocalCopier`) each copied unit's stored local features and visual words, its original's bytes
under the new id in ``local_features.sqlite``, so the word index holds every unit and verification reads a
copy's features as it reads a real unit's. Each sheet image of the padded index (a real unit's, or a copy's
under its own name) is a link to the real index's: the pixels are laid over a copy as over a real unit, each
copy's sheet read on its own as a distinct sheet would be. The padded index lives under --workdir (a temporary
folder, ~18 KB a unit on disk, its sheet images links), removed at the end.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import tools.regions
import tools.search
import tools.verify
from bench.query_latency_text import Copy, _pct, copy_real, pad, read_source, timed_attributes
from core.filters import Filters
from core.types import Sheet
from models import keypoints
from models import lines as unit_lines
from store.index import VISUAL, FigureStore
from store.local_features import DETAILS, LocalFeatureStore

K = 10
SEED = 7
STEPS: dict[Any, dict[str, str]] = {  # module → its functions `search_image` calls, and their labels
    tools.search: {"_image_vector": "encode + turn choice", "_score_all": "visual scan", "_with_views": "views",
                   "_with_candidates": "word candidates scored", "_hits": "hits"},
    tools.verify: {"describe_picture": "query features", "describe_details": "query SIFT features",
                   "verify": "verification", "overlaid": "lines laid over", "exact": "pixels laid over"},
    tools.regions: {"candidates": "word candidates"},
}


# ---------------------------------------------------------------- local features of the padded index


@dataclasses.dataclass
class LocalSource:
    """The real index's stored local features and visual words (by figure id) and its vocabulary."""

    vocabulary: tuple[str, bytes]
    features: dict[str, bytes]
    words: dict[str, bytes]
    lines: dict[str, bytes]  # each unit's lines (`models.lines`), kept or read from its sheet image
    details: dict[str, bytes]  # each unit's SIFT features (verification's), kept or described from its sheet image
    detail_vocabulary: tuple[str, bytes] | None = None  # the vocabulary of SIFT's words, and each unit's words
    detail_words: dict[str, bytes] = dataclasses.field(default_factory=dict)


def read_local(src: FigureStore) -> LocalSource:
    fs = LocalFeatureStore(src.root)
    try:
        vocab = fs.vocabulary()
        if vocab is None:
            raise SystemExit(f"{src.root} has no vocabulary of visual words: give it one (tools.regions.build)")
        features, after = {}, ""
        while rows := fs.features(keypoints.NAME, after):
            features |= {f: blob for f, _, blob in rows}
            after = rows[-1][0]
        kept = fs.get_lines(list(features))
        details = fs.get(list(features), keypoints.SIFT_NAME, DETAILS)
        sheets = src.sheets_by_id([f for f in features if f not in kept or f not in details])
        pictures = {f: a for f, s in sheets.items() if (a := tools.verify.unit_array(src, s)) is not None}
        drawn = {f: unit_lines.pack(a) for f, a in pictures.items() if f not in kept}
        described = {f: keypoints.pack(keypoints.describe_sift(a)) for f, a in pictures.items() if f not in details}
        dvocab = fs.vocabulary(DETAILS)
        return LocalSource(vocab, features, dict(fs.all_words(vocab[0])), kept | drawn, details | described,
                           dvocab, dict(fs.all_words(dvocab[0], DETAILS)) if dvocab else {})
    finally:
        fs.close()


class LocalCopier:
    """Writes units' local features, words and lines into an index's ``local_features.sqlite``: the real units' as they
    are (`copy_real`), and each padded copy's its original's (`__call__`, given to `pad` as `also`)."""

    def __init__(self, root: Path, source: LocalSource, images: Path) -> None:
        self.fs, self.source = LocalFeatureStore(root), source
        self.root, self.images = root, images  # the padded index's folder; the real index's
        self.fs.set_vocabulary(*source.vocabulary)
        if source.detail_vocabulary:
            self.fs.set_vocabulary(*source.detail_vocabulary, DETAILS)

    def copy_real(self, sheets: list[Sheet]) -> None:
        self._put([(s.figure_id, s.patent_id, s.figure_id) for s in sheets])
        self._link([(s.image_path, s.image_path) for s in sheets])

    def __call__(self, batch: list[Copy]) -> None:
        self._put([(s.figure_id, p.patent_id, old.patent_id + s.figure_id[len(p.patent_id):])
                   for p, sheets, old in batch for s in sheets])
        self._link([(s.image_path, s.image_path.replace(p.patent_id, old.patent_id, 1))
                    for p, sheets, old in batch for s in sheets])

    def _link(self, paths: list[tuple[str, str]]) -> None:
        """(a sheet's image path in the padded index, the real one's): a link from the first to the second."""
        for new, real in dict(paths).items():
            if not (link := self.root / new).is_symlink() and (target := self.images / real).is_file():
                link.symlink_to(target)

    def _put(self, units: list[tuple[str, str, str]]) -> None:
        """(new figure id, its patent id, the real figure id whose rows it gets)."""
        feats, words = self.source.features, self.source.words
        self.fs.put([(f, p, feats[o]) for f, p, o in units if o in feats], keypoints.NAME)
        self.fs.put_words([(f, p, words[o]) for f, p, o in units if o in words], self.source.vocabulary[0])
        self.fs.put_lines([(f, p, self.source.lines[o]) for f, p, o in units if o in self.source.lines])
        self.fs.put([(f, p, self.source.details[o]) for f, p, o in units if o in self.source.details],
                    keypoints.SIFT_NAME, DETAILS)
        if self.source.detail_vocabulary:
            words = self.source.detail_words
            self.fs.put_words([(f, p, words[o]) for f, p, o in units if o in words],
                              self.source.detail_vocabulary[0], DETAILS)


# ---------------------------------------------------------------- queries


def query_pictures(services: Any, n: int) -> list[tuple[str, Image.Image]]:
    """n query pictures from the index's units, seeded: 60% sheet crops (every other at half resolution), the
    rest whole units (a figure or an unsplit sheet)."""
    from bench.region_verify import picture, region

    rng = random.Random(SEED)
    units = services.store.sheets()
    rng.shuffle(units)
    out: list[tuple[str, Image.Image]] = []
    crops = round(0.6 * n)
    for u in units:
        if len(out) >= crops:
            break
        cut = region(picture(services, u.model_copy(update={"box": None})), rng)
        if cut is None:
            continue
        if len(out) % 2:
            out.append(("sheet crop half-res", cut.resize((max(1, cut.width // 2), max(1, cut.height // 2)),
                                                          Image.Resampling.BOX)))
        else:
            out.append(("sheet crop", cut))
    for u in units[::-1][: n - len(out)]:
        out.append(("whole unit", picture(services, u)))
    return [(kind, img.convert("RGB")) for kind, img in out]


# ---------------------------------------------------------------- measuring


def _wrap_steps(services: Any, spent: dict[str, list[float]]) -> Callable[[], None]:
    """Time every step of `search_image` (see `STEPS`) and the encoder's turns; returns the undo."""
    encode = "embed_turns" if hasattr(services.visual, "embed_turns") else "embed_images"  # lbp: turn invariant
    undos = [timed_attributes(services.visual, [encode], spent, {encode: "encode"})]
    undos += [timed_attributes(mod, list(names), spent, names) for mod, names in STEPS.items()]

    def undo() -> None:
        for u in undos:
            u()

    return undo


def measure(services: Any, pictures: list[tuple[str, Image.Image]], filters: dict[str, Filters | None],
            reps: int) -> dict:
    """Every picture × filter, `reps` times each, at the store's current size (see the module docstring)."""
    from tools.search import search_image

    store = services.store
    fs = tools.verify.feature_store(services)
    out: dict = {"figures": len(store._table(VISUAL) or []), "local_features": fs.stats()["units"],
                 "filters": {}}
    # after a write: the word indexes (ORB's, SIFT's) rebuilt from local_features.sqlite, then a first query with
    # cold caches
    keys = ("word_index", f"word_index:{DETAILS}")
    for key in keys:
        services.extras.pop(key, None)
    t = time.perf_counter()
    index = tools.regions.word_index(services)
    details = tools.regions.word_index(services, DETAILS)
    out["word_index"] = {"build_s": round(time.perf_counter() - t, 2), "units": len(index.ids) if index else 0,
                         "mb": round(index.nbytes() / 1e6, 1) if index else 0.0,
                         "sift_units": len(details.ids) if details else 0,
                         "sift_mb": round(details.nbytes() / 1e6, 1) if details else 0.0}
    store._cache.clear()
    for key in keys:  # a write that removed units: the whole indexes rebuilt
        services.extras.pop(key, None)
    t = time.perf_counter()
    search_image(services, pictures[0][1], k=K)
    out["first_query_after_write_ms"] = round((time.perf_counter() - t) * 1000)
    for fname, f in filters.items():
        search_image(services, pictures[-1][1], k=K, filters=f)  # warm, unmeasured
        wall, cpu, verified, synthetic = [], [], [], []
        by_kind: dict[str, list[float]] = {}
        spent: dict[str, list[float]] = {}
        undo = _wrap_steps(services, spent)
        try:
            for _ in range(reps):
                for kind, img in pictures:
                    w, c = time.perf_counter(), time.process_time()
                    hits = search_image(services, img, k=K, filters=f)
                    wall.append((time.perf_counter() - w) * 1000)
                    cpu.append((time.process_time() - c) * 1000)
                    by_kind.setdefault(kind, []).append(wall[-1])
                    verified.append(_verified_count(hits))
                    synthetic.append(sum(h.patent_id.startswith("SYN") for h in hits))
        finally:
            undo()
        calls = len(wall)
        cpu_pct = _pct(cpu)
        out["filters"][fname] = {
            "wall": _pct(wall), "cpu": {"p50_ms": cpu_pct["p50_ms"], "p95_ms": cpu_pct["p95_ms"]},
            "wall_p50_by_kind_ms": {k: round(statistics.median(v)) for k, v in by_kind.items()},
            "steps_ms": {k: round(sum(v) / calls, 1) for k, v in sorted(spent.items(), key=lambda x: -sum(x[1]))},
            "verified_per_query": [min(verified), max(verified)],
            "synthetic_hits_mean": round(statistics.mean(synthetic), 1),
        }
    if index is not None:  # a patent added beside the built index (an ingest beside the server): 10 units' words
        added = fs.words_after(index.vocabulary.name, 0, limit=10)
        fs.put_words([(f"ADDED-{i}", "ADDED", blob) for i, (_, blob) in enumerate(added)], index.vocabulary.name)
        t = time.perf_counter()
        search_image(services, pictures[0][1], k=K)
        out["first_query_after_a_patent_added_ms"] = round((time.perf_counter() - t) * 1000)
        # a patent ingested again: 10 units' words written again (their old words stop counting, beside the index)
        fs.put_words([(fid, "AGAIN", blob) for fid, blob in fs.words_after(index.vocabulary.name, 10, limit=10)],
                     index.vocabulary.name)
        t = time.perf_counter()
        search_image(services, pictures[0][1], k=K)
        out["first_query_after_a_patent_again_ms"] = round((time.perf_counter() - t) * 1000)
    return out


def _verified_count(hits: list) -> int:
    """How many candidates the query verified (from its note, `tools.search._verified`; 0 when none)."""
    note = str(hits[0].breakdown.query.get("verified", "")) if hits else ""
    first = note.split(" ", 1)[0]
    return int(first) if first.isdigit() else 0


def run(index: Path, sizes: list[int], n_queries: int, reps: int, workdir: Path | None) -> dict:
    from bench.query_latency import choose_filters, machine, rss_mb, selectivity
    from core.settings import load_settings
    from patfig.wiring import build_services

    t0 = time.perf_counter()
    services = build_services(load_settings(index_dir=index))
    src = services.store
    real_metas = list(src.all_metadata().values())
    filters = {k: v for k, v in choose_filters(real_metas).items() if k in ("none", "broad")}
    pictures = query_pictures(services, n_queries)
    report: dict = {"index": str(index), "k": K, "reps": reps, "machine": machine(),
                    "visual_encoder": services.visual.name,
                    "pictures": {k: sum(1 for kind, _ in pictures if kind == k) for k, _ in pictures},
                    "picture_sizes": [list(img.size) for _, img in pictures],
                    "filters": {k: (f.describe() if f else {}) for k, f in filters.items()},
                    "selectivity": {k: selectivity(real_metas, f) for k, f in filters.items()}, "levels": []}
    lv = measure(services, pictures, filters, reps) | {"label": "sample index", "rss_mb": round(rss_mb())}
    report["levels"].append(lv)
    print(f"  sample index: {_summary(lv)}", flush=True)
    source, local = read_source(src), read_local(src)
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)  # a folder for the padded copy, made if it is not there
    with tempfile.TemporaryDirectory(prefix="patfig-latency-image-", dir=workdir) as tmp:
        dst = FigureStore.open(Path(tmp), create=True)
        count = copy_real(src, dst, source)
        copier = LocalCopier(Path(tmp), local, src.root.resolve())
        copier.copy_real([s for _, sheets in source.patents for s in sheets])
        padded = dataclasses.replace(services, store=dst, extras={})
        serial, rng = [0], np.random.default_rng(0)
        for target in sorted(sizes):
            if target <= count:
                continue
            t = time.perf_counter()
            count = pad(dst, source, count, target, serial, rng, visual_noise=True, also=copier)
            took = time.perf_counter() - t
            lv = measure(padded, pictures, filters, reps)
            lv |= {"label": f"{target:,} figures", "pad_s": round(took, 1), "rss_mb": round(rss_mb()),
                   "local_features_mb": round((Path(tmp) / "local_features.sqlite").stat().st_size / 1e6)}
            report["levels"].append(lv)
            print(f"  {lv['figures']:,} figures (padded in {took:.0f} s): {_summary(lv)}", flush=True)
        copier.fs.close()
        tools.verify.feature_store(padded).close()
        dst.close()
    services.close()
    report["seconds"] = round(time.perf_counter() - t0, 1)
    last = report["levels"][-1]
    worst = max(f["wall"]["p95_ms"] for f in last["filters"].values())
    report["goal"] = {"figures": last["figures"], "worst_wall_p95_ms": worst, "target_ms": 1200, "met": worst <= 1200}
    return report


def _summary(lv: dict) -> str:
    return ", ".join(f"{n} wall p50/p95 {f['wall']['p50_ms']:.0f}/{f['wall']['p95_ms']:.0f} ms, CPU p50/p95 "
                     f"{f['cpu']['p50_ms']:.0f}/{f['cpu']['p95_ms']:.0f} ms" for n, f in lv["filters"].items())


def format_report(r: dict) -> str:
    names = list(r["filters"])
    lines = [f"Image-query latency: `tools.search.search_image` (k={r['k']}, encoding included) on {r['index']} "
             f"padded with copies of its patents (visual vectors with a little noise, local features and visual "
             f"words copied, each copy's sheet image its own link to its original's); "
             f"{sum(r['pictures'].values())} query pictures ("
             + ", ".join(f"{n} {k}" for k, n in r["pictures"].items()) + f") x {r['reps']}, per filter, warm. "
             f"Visual encoder {r['visual_encoder']}. {r['machine']}.",
             "Filters: " + "; ".join(f"{k} {v or '-'} ({r['selectivity'][k]:.0%} pass)"
                                     for k, v in r["filters"].items()),
             "", "| figures | " + " | ".join(f"{n}: wall p50 / p95 ms | {n}: CPU p50 / p95 ms" for n in names)
             + " | word indexes build s (units, MB ORB + SIFT) | first query after a write ms "
             "| after a patent added ms | after a patent ingested again ms |",
             "|---|" + "---|---|" * len(names) + "---|---|---|---|"]
    for lv in r["levels"]:
        cells = []
        for n in names:
            f = lv["filters"][n]
            cells += [f"{f['wall']['p50_ms']:.0f} / {f['wall']['p95_ms']:.0f}",
                      f"{f['cpu']['p50_ms']:.0f} / {f['cpu']['p95_ms']:.0f}"]
        wi = lv["word_index"]
        lines.append(f"| {lv['figures']:,} | " + " | ".join(cells)
                     + f" | {wi['build_s']} ({wi['units']:,}, {wi['mb']} + {wi.get('sift_mb', 0)}) | "
                     f"{lv['first_query_after_write_ms']} | "
                     f"{lv.get('first_query_after_a_patent_added_ms', '')} | "
                     f"{lv.get('first_query_after_a_patent_again_ms', '')} |")
    lines += ["", "Where the time goes: ms per query (mean) inside each step (`encode + turn choice` holds `encode`; "
              "`verification` reads the candidates' stored features and matches them):", ""]
    for lv in r["levels"]:
        for n in names:
            f = lv["filters"][n]
            lines.append(f"- {lv['figures']:,}, {n}: " + ", ".join(f"{k} {ms}" for k, ms in f["steps_ms"].items())
                         + "; wall p50 by picture: "
                         + ", ".join(f"{k} {ms}" for k, ms in f["wall_p50_by_kind_ms"].items())
                         + f"; {f['verified_per_query'][0]}-{f['verified_per_query'][1]} candidates verified per "
                         f"query, {f['synthetic_hits_mean']} of the {r['k']} hits synthetic copies (mean)")
    lines.append("")
    for lv in r["levels"]:
        extra = (f", padded in {lv['pad_s']} s, local_features.sqlite {lv['local_features_mb']} MB"
                 if "pad_s" in lv else "")
        lines.append(f"- {lv['label']}: {lv['figures']:,} figures, {lv['local_features']:,} units with local "
                     f"features; RSS {lv['rss_mb']} MB{extra}")
    g = r["goal"]
    lines.append(f"- goal at {g['figures']:,} figures: worst wall p95 {g['worst_wall_p95_ms']} ms (target <= "
                 f"{g['target_ms']} ms): {'met' if g['met'] else 'NOT met'}; run {r['seconds'] / 60:.1f} min")
    return "\n".join(lines)


def main(index: Path, sizes: list[int], n_queries: int, reps: int, workdir: Path | None, out: Path) -> None:
    report = run(index, sizes, n_queries, reps, workdir)
    text = format_report(report)
    print(text)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.md')}")
