"""Fit the score calibration of an index from its own evaluation protocols, and read it back for search.

For each modality, (query, candidate) pairs are drawn the way `tools.evaluate` defines relevance:

- ``visual``: re-identification. A sheet's stored visual vector queries the index; the other sheets of the
  same patent are relevant.
- ``words`` and ``text`` (the two kinds of evidence of a search by words, `tools.words`): probes that look
  like a searcher's queries, with the relevance a searcher means (`word_probes`). Each distinct OCR-linked
  component label of the index ("hydrogen tank", "gripping unit") is relevant to every figure that shows a
  component of that name, and each design's title ("Shoe") to every view of every design of that name. Every
  candidate the word search scores is one pair.
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

from collections.abc import Callable, Sequence

import numpy as np

from core.calibration import Calibration, Curve, feature
from core.textnorm import stems
from runtime.services import Services
from store.index import VectorHit
from tools.evaluate import component_labels, reid_queries
from tools.search import query_terms
from tools.whiten import fit_index_whitening
from tools.words import score_words

POOL = 100  # candidates per query, as `tools.search` asks for
MAX_QUERIES = 300
FEATURES = ("raw", "logdist")
MIN_CLASS = 5  # a curve needs at least this many relevant and irrelevant pairs

Query = tuple[list[float], str, set[str]]  # query vector, the query's own id (excluded), relevant ids


def fit_logistic(xs: Sequence[float], relevant: Sequence[bool], l2: float = 1e-3) -> tuple[float, float, float]:
    """(slope, bias, mean log-likelihood) of p = sigmoid(slope * x + bias), by Newton's method."""
    x = np.column_stack([np.asarray(xs, dtype=np.float64), np.ones(len(xs))])
    y = np.asarray(relevant, dtype=np.float64)
    w = np.zeros(2)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + l2 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    p = np.clip(1.0 / (1.0 + np.exp(-(x @ w))), 1e-12, 1 - 1e-12)
    loglik = float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(w[0]), float(w[1]), loglik


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
    """Queries that look like a searcher's, with the figures a searcher means by them: each distinct component
    label ("hydrogen tank") → every figure that shows a component of that name (up to stems), and each design's
    title ("Shoe") → every view of every design of that name. At most `MAX_QUERIES`, spread evenly."""
    showing: dict[frozenset[str], set[str]] = {}
    names: dict[frozenset[str], str] = {}
    for sheet in services.store.sheets():
        for label in component_labels(sheet):
            key = frozenset(stems(query_terms(label)))
            if key:
                showing.setdefault(key, set()).add(sheet.figure_id)
                names.setdefault(key, label)
    designs: dict[frozenset[str], set[str]] = {}
    for patent in services.store.patents():
        if patent.doc_type == "design" and patent.title:
            key = frozenset(stems(query_terms(patent.title)))
            if key:
                designs.setdefault(key, set()).update(s.figure_id for s in services.store.sheets(patent.patent_id))
                names.setdefault(key, patent.title.lower())
    labels = _spread(sorted((names[k], rel) for k, rel in showing.items()), MAX_QUERIES)
    titles = sorted((names[k], rel) for k, rel in designs.items())
    return labels + titles


Pairs = tuple[list[float], list[bool]]  # raw scores, and whether each candidate is relevant


def _word_pairs(services: Services, probes: Sequence[tuple[str, set[str]]]) -> dict[str, Pairs]:
    """(raw, relevant) pairs per word-side modality ("words", "text"), from every candidate of every probe."""
    out: dict[str, Pairs] = {"words": ([], []), "text": ([], [])}
    vectors = services.text.embed_texts([q for q, _ in probes]) if probes else []
    for (query, relevant), vector in zip(probes, vectors, strict=True):
        scored = score_words(services, query, query_terms(query), vector)
        for modality, scores in scored.lists.items():
            raws, labels = out[modality]
            for fid, raw in scores.items():
                raws.append(raw)
                labels.append(fid in relevant)
    return out


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
        pairs = _word_pairs(services, probes)
        for modality, (raws, labels) in pairs.items():
            curve = _curve(encoders["text"].name, raws, labels)
            what = f"component names and design titles -> the figures that show them ({len(probes)} queries"
            if curve is None:
                notes[modality] = f"too few relevant pairs for {what})"
                continue
            curves[modality] = curve
            notes[modality] = (f"{what}, {curve.pairs} pairs, {curve.positives} relevant); "
                               f"p = 0.5 at raw {curve.raw_for(0.5):.3f}")
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
