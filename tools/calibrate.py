"""Fit the score calibration of an index from its own evaluation protocols, and read it back for search.

For each modality, (query, candidate) pairs are drawn the way `tools.evaluate` defines relevance:

- ``visual``: re-identification. A sheet's stored visual vector queries the index; the other sheets of the
  same patent are relevant.
- ``words`` and ``text`` (the two kinds of evidence of a search by words, `tools.words`): probes that look
  like a searcher's queries, with the relevance a searcher means (`word_probes`): each component label
  ("hydrogen tank") → the figures that show that part; each FIG description with its "FIG. n is" removed →
  the figures of its patent; each design's title ("Shoe") → every view of every design of that name. The
  pairs are the first page a searcher would look at (the top `SHOWN` of each probe), and one logistic
  regression on both raw scores together is split into the two curves so that the "odds" fusion gives
  back its probability (`fit_word_curves`).
- ``text_sheet``: re-identification over the stored linked-text vectors: one figure's linked text against
  the others', as "more like this figure" compares them. These similarities run higher than a few words'
  against a figure's text, so they get their own curve.
- ``clip_text``: the same component names through CLIP's text side, when the visual encoder is CLIP.

Every candidate in a query's top `POOL` is one pair (its raw similarity, relevant or not), and a
one-feature logistic regression maps raw to the probability of relevance (`core.calibration.Curve`); of
the raw cosine and -log(1 - cosine), the feature with the higher likelihood is kept.
Up to `MAX_QUERIES` queries per modality are used, spread evenly over the index, so fitting stays a few
seconds at any corpus size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from core.calibration import Calibration, Curve, feature
from core.textnorm import stems
from runtime.services import Services
from store.index import VectorHit
from tools.evaluate import component_labels, reid_queries
from tools.search import query_terms
from tools.whiten import fit_index_whitening
from tools.words import WORDS_SHARE, score_words

POOL = 100  # candidates per query, as `tools.search` asks for
MAX_QUERIES = 300
FEATURES = ("raw", "logdist")
MIN_CLASS = 5  # a curve needs at least this many relevant and irrelevant pairs
SHOWN = 20  # a probe's candidates that count as pairs for words: those a searcher looks at, the first page

Query = tuple[list[float], str, set[str]]  # query vector, the query's own id (excluded), relevant ids


def fit_logistic(xs: Sequence[float], relevant: Sequence[bool], l2: float = 1e-3) -> tuple[float, float, float]:
    """(slope, bias, mean log-likelihood) of p = sigmoid(slope * x + bias) (`fit_logistic_n` on one column)."""
    (slope, bias), loglik = fit_logistic_n(np.asarray(xs, dtype=np.float64)[:, None], relevant, l2)
    return slope, bias, loglik


def _spread(items: list, n: int) -> list:
    """At most n items, evenly spaced over the list (deterministic)."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def _pairs(query_fn: Callable[..., list[VectorHit]], queries: Sequence[Query]) -> tuple[list[float], list[bool]]:
    raws: list[float] = []
    labels: list[bool] = []
    for vector, own, relevant in queries:
        for h in query_fn(vector, POOL + 1, None):
            if h.id != own:
                raws.append(h.similarity)
                labels.append(h.id in relevant)
    return raws, labels


def _curve(encoder: str, raws: list[float], labels: list[bool]) -> Curve | None:
    positives = sum(labels)
    if positives < MIN_CLASS or len(labels) - positives < MIN_CLASS:
        return None
    fits = {name: fit_logistic([feature(name, r) for r in raws], labels) for name in FEATURES}
    name = max(fits, key=lambda n: fits[n][2])  # the feature whose curve explains the pairs best
    slope, bias, _ = fits[name]
    if slope <= 0:  # relevance does not rise with similarity here: a curve would mislead
        return None
    return Curve(slope=round(slope, 4), bias=round(bias, 4), feature=name, encoder=encoder, source="fitted",
                 pairs=len(labels), positives=positives)


def _reid(services: Services, kind: str) -> list[Query]:
    queries = _spread(reid_queries(services.store.sheets()), MAX_QUERIES)
    vecs = services.store.vectors(kind, [s.figure_id for s, _, _ in queries])
    return [(vecs[s.figure_id], s.figure_id, rel) for s, rel, _ in queries if s.figure_id in vecs]


def _labels(services: Services, embed: Callable[[list[str]], list[list[float]]]) -> list[Query]:
    showing: dict[str, set[str]] = {}
    for sheet in services.store.sheets():
        for label in component_labels(sheet):
            showing.setdefault(label, set()).add(sheet.figure_id)
    labels = _spread(sorted(showing), MAX_QUERIES)
    if not labels:
        return []
    return [(v, "", showing[label]) for v, label in zip(embed(labels), labels, strict=True)]


def word_probes(services: Services) -> list[tuple[str, set[str]]]:
    """Queries that look like a searcher's, with the figures a searcher means by them.

    Each distinct component label ("hydrogen tank") is relevant to every figure that shows it: a part drawn in
    the figure whose name holds all the label's words ("auxiliary hydrogen tanks" shows a hydrogen tank), or a
    FIG description that names it. Each design's title ("Shoe") is relevant to every view of every design whose
    title holds its words. At most `MAX_QUERIES` label probes, spread evenly over the index.
    """
    store = services.store
    sheets = store.sheets()
    label_sets = {s.figure_id: [frozenset(stems(query_terms(lab))) for lab in component_labels(s)] for s in sheets}
    desc_sets = {s.figure_id: stems(query_terms(s.description)) for s in sheets}
    names: dict[frozenset[str], str] = {}
    for s in sheets:
        for lab in component_labels(s):
            if (key := frozenset(stems(query_terms(lab)))):
                names.setdefault(key, lab)
    probes = []
    for key, label in _spread(sorted(names.items(), key=lambda kv: kv[1]), MAX_QUERIES):
        relevant = {fid for fid, sets in label_sets.items() if any(key <= have for have in sets)}
        relevant |= {fid for fid, have in desc_sets.items() if key <= have}
        probes.append((label, relevant))
    design = {p.patent_id for p in store.patents() if p.doc_type == "design"}
    described = [s for s in sheets if s.description and s.figs and s.patent_id not in design]
    by_patent: dict[str, set[str]] = {}
    for s in sheets:
        by_patent.setdefault(s.patent_id, set()).add(s.figure_id)
    for s in _spread(described, MAX_QUERIES):  # "FIG. 3 is a side view of the hoist" → "side view of the hoist"
        text = FIG_REF.sub(" ", s.description).strip(" .,;:")
        if query_terms(text):
            probes.append((text, by_patent[s.patent_id]))
    designs = [(p, frozenset(stems(query_terms(p.title)))) for p in store.patents()
               if p.doc_type == "design" and p.title]
    views = store.figures_of_patents([p.patent_id for p, _ in designs])
    seen: set[frozenset[str]] = set()
    for patent, key in designs:
        if key and key not in seen:
            seen.add(key)
            relevant = {fid for other, have in designs if key <= have for fid in views.get(other.patent_id, [])}
            probes.append((patent.title.lower(), relevant))
    return probes


FIG_REF = re.compile(r"\bFIG(?:URE)?S?\.?\s*\d+[A-Z]?(?:\s*(?:-|to|and|,)\s*\d+[A-Z]?)*"
                     r"\s*(?:is|are|shows?|illustrates?)?", re.IGNORECASE)
Pairs = tuple[list[tuple[float, float]], list[bool]]  # (words, text) raw scores, and whether each is relevant


def _word_pairs(services: Services, probes: Sequence[tuple[str, set[str]]]) -> Pairs:
    """((words raw, text raw), relevant) for the candidates a searcher looks at: the top `SHOWN` of each probe,
    ranked as `tools.search` ranks before calibration (the weighted mean of the two raw scores)."""
    feats: list[tuple[float, float]] = []
    labels: list[bool] = []
    vectors = services.text.embed_texts([q for q, _ in probes]) if probes else []
    for (query, relevant), vector in zip(probes, vectors, strict=True):
        lists = score_words(services, query, query_terms(query), vector).lists
        words = lists.get("words", {})
        pairs = [((words.get(fid, 0.0), dense), fid in relevant) for fid, dense in lists["text"].items()]
        pairs.sort(key=lambda p: -(WORDS_SHARE * p[0][0] + (1 - WORDS_SHARE) * p[0][1]))
        for feat, rel in pairs[:SHOWN]:
            feats.append(feat)
            labels.append(rel)
    return feats, labels


def fit_word_curves(encoder: str, feats: Sequence[tuple[float, float]], labels: Sequence[bool],
                    share: float) -> dict[str, Curve] | None:
    """The curves of "words" and "text", fitted together: p(relevant | words, text) = sigmoid(a_w * words +
    a_t * text + c) by logistic regression on both, split into one curve per modality such that the "odds"
    fusion with weights `share` (words) and 1 - `share` (text) gives back that p: a curve's slope is its
    coefficient over its weight, and both share the bias c. Each curve alone is then the relevance the
    figure would have if the other evidence were neutral; None when the pairs are too few or relevance does
    not rise with both."""
    positives = sum(labels)
    if positives < MIN_CLASS or len(labels) - positives < MIN_CLASS:
        return None
    x = np.asarray(feats, dtype=np.float64)
    (a_w, a_t, c), _ = fit_logistic_n(x, labels, l2=1.0)
    if a_w <= 0 or a_t <= 0:
        return None
    common = {"encoder": encoder, "source": "fitted", "pairs": len(labels), "positives": positives}
    return {"words": Curve(slope=round(a_w / share, 4), bias=round(c, 4), **common),
            "text": Curve(slope=round(a_t / (1 - share), 4), bias=round(c, 4), **common)}


def fit_logistic_n(x: np.ndarray, relevant: Sequence[bool], l2: float = 1e-3) -> tuple[list[float], float]:
    """(coefficients of each column then the bias, mean log-likelihood) of p = sigmoid(x @ a + c), by Newton."""
    x1 = np.column_stack([x, np.ones(len(x))])
    y = np.asarray(relevant, dtype=np.float64)
    w = np.zeros(x1.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x1 @ w)))
        grad = x1.T @ (p - y) + l2 * w
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    p = np.clip(1.0 / (1.0 + np.exp(-(x1 @ w))), 1e-12, 1 - 1e-12)
    return [float(v) for v in w], float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_calibration(services: Services) -> tuple[Calibration, dict[str, str]]:
    """Curves fitted on this index, and per modality a note on what they were fitted on (or why not)."""
    store = services.store
    encoders = store.encoders()
    curves: dict[str, Curve] = {}
    notes: dict[str, str] = {}
    plans: list[tuple[str, str, Callable[..., list[VectorHit]], Callable[[], list[Query]], str]] = []
    if "visual" in encoders:
        plans.append(("visual", encoders["visual"].name, store.query_visual, lambda: _reid(services, "visual"),
                      "re-identification"))
    if "text" in encoders:
        probes = word_probes(services)
        feats, labels = _word_pairs(services, probes)
        fitted = fit_word_curves(encoders["text"].name, feats, labels, WORDS_SHARE)
        what = (f"part names, FIG descriptions and design titles -> the figures they mean ({len(probes)} queries, "
                f"{len(labels)} pairs on their first pages, {sum(labels)} relevant)")
        if fitted is None:
            notes["words"] = notes["text"] = f"too few relevant pairs, or no rise, for {what}"
        else:
            curves |= fitted
            notes["words"] = notes["text"] = f"{what}; fitted together, word share {WORDS_SHARE}"
        plans.append(("text_sheet", encoders["text"].name, store.query_text, lambda: _reid(services, "text"),
                      "re-identification of linked text"))
    if "visual" in encoders and getattr(services.visual, "cross_modal", False):
        plans.append(("clip_text", encoders["visual"].name, store.query_visual,
                      lambda: _labels(services, services.visual.embed_texts), "component names -> figures"))
    for modality, encoder, query_fn, make_queries, protocol in plans:
        queries = make_queries()
        curve = _curve(encoder, *_pairs(query_fn, queries))
        if curve is None:
            notes[modality] = f"too few relevant pairs for {protocol} ({len(queries)} queries)"
            continue
        curves[modality] = curve
        notes[modality] = (f"{protocol}: {len(queries)} queries, {curve.pairs} pairs, {curve.positives} "
                           f"relevant; p = 0.5 at raw {curve.raw_for(0.5):.3f}")
    return Calibration(curves=curves), notes


def calibrate_index(services: Services) -> dict[str, str]:
    """Refit the visual whitening (`tools.whiten`), then fit the curves on this index (on whitened scores) and
    store both with it. Returns the notes of `fit_calibration`, and the whitening's under "visual_whitening"."""
    whitening = fit_index_whitening(services)
    calibration, notes = fit_calibration(services)
    services.store.set_calibration(calibration.model_dump())
    return {**notes, "visual_whitening": whitening}
