"""Words that find the figure: hybrid retrieval per figure, word matching and dense passages.

Two kinds of evidence, each a modality of the breakdown, calibrated (`core.calibration`) and fused like any other:

- ``words``: which of the query's content words the figure's own fields contain (`core.figure_text.FIELDS`,
  stored per figure in an FTS5 table). Candidates come from FTS5's bm25 (Porter stems: "tanks" finds "tank");
  the score is the share of the query's words found, each word weighed by its inverse document frequency and
  by the field it was found in (`FIELD_WEIGHTS`: a word in the figure's FIG description says most, one in the name
  of a part drawn inside it a little less, one in the patent's title least). 1.0 means every word was found in
  the figure's own FIG description. A part's name counts for less the more parts the figure shows that the
  query does not name (`part_factor`): a design whose own description is "a wheel" comes before a vehicle's
  schematic that lists wheels among nine parts, while a list of those nine parts finds the schematic. A query
  that lists parts ("b-pillar, camera, glass") also counts how closely each is a part's whole name
  (`part_match`). Hyphenated words match their parts both ways ("hot dip" finds "hot-dip plating").
- ``text``: dense similarity between the query and the figure's best passage (`core.figure_text`): its FIG
  description, each reference sign's label drawn in it (weighed by `part_factor` too), the title (weighed by
  `TITLE_FACTOR`; when it is the best, blended with the figure's own best passage by `OWN_SHARE`, so that the
  figures of one patent are not tied by the title they share) and the whole linked-text vector; nothing is cut
  at the encoder's 256-word-piece limit.

Every candidate either kind finds is scored in both, so every breakdown is complete, and each keeps what matched:
the words and where ("'hydrogen tanks' in component 107"), and the best passage.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field

from core.figure_text import (
    FIELD_WORD,
    FIELDS,
    component_passage_id,
    description_passage_id,
    field_stems,
    passage_kind,
    title_passage_id,
)
from core.filters import Filters
from core.patnum import patent_of_figure
from core.textnorm import QUERY_STOPWORDS, stem
from runtime.services import Services

POOL = 100  # candidates per kind of evidence
WORDS_SHARE = 0.5  # of the words' weight, the share of per-figure word matching (the rest: dense passages)
PASSAGE_POOL = 300  # nearest passages read to find the dense candidates
# How much a word found in each field counts, and bm25's column weights (the same order as FIELDS).
# Chosen on the tune half of bench/data/text_queries.json and the components protocol of `patfig eval` together
# (bench/README.md): a part named among a figure's many counts for a little less than its own FIG description
# (0.7 gave the hand-written queries more and the protocol less; 1.0 the reverse).
FIELD_WEIGHTS = {"description": 1.0, "components": 0.85, "sentences": 0.6, "title": 0.5}
BM25_WEIGHTS = (2.0, 3.0, 1.0, 0.5)
TITLE_FACTOR = 0.85  # a title passage stands for every figure of its patent: it counts for less
KIND_FACTOR = {"title": TITLE_FACTOR, "component": 0.9}  # what a passage of each kind counts for in a figure's dense
# score (the same measurement)
# The next three were chosen on the tune half of the hand-written queries and the components protocol together
# (bench/README.md, "Words that find the figure"):
PART_DECAY = 0.3  # how fast a part's name counts for less as the figure shows more parts the query does not name
LIST_WEIGHT = 0.5  # for a query that lists parts ("b-pillar, camera, glass"), the share of `part_match`
OWN_SHARE = 0.3  # when the title is a figure's best passage, the share of the figure's own best passage
_ITEM_SPLIT = re.compile(r"[,;]")


@dataclass
class WordEvidence:
    """What matched in one figure: words and where, and its best passage."""

    places: dict[str, str] = field(default_factory=dict)  # query word → where it was found
    passage: str = ""  # the best passage's text
    passage_kind: str = ""  # "description", "component", "title" or "linked text"


@dataclass
class WordScores:
    """Raw scores per modality ({"words": {id: coverage}, "text": {id: cosine}}) and the evidence per figure."""

    lists: dict[str, dict[str, float]]
    evidence: dict[str, WordEvidence]
    terms: list[str]


def word_weights(lists: dict[str, dict[str, float]], weight: float = 1.0) -> dict[str, float]:
    """How a search's words' `weight` is shared by its kinds of evidence: `WORDS_SHARE` to word matching (which
    `score_words` always scores, 0 where no word is found), the rest (or all, for lists without it) to dense
    passages."""
    share = WORDS_SHARE if "words" in lists else 0.0
    return {"text": weight * (1 - share)} | ({"words": weight * share} if share else {})


def _parts(term: str) -> list[str]:
    """A query term as the figure's words are matched: a hyphenated one by its parts ("b-pillar" → "pillar")."""
    if "-" not in term:
        return [term]
    return [p for p in term.split("-") if len(p) > 1] or [term]


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 query that matches any of the words, each quoted so that no word is read as syntax."""
    return " OR ".join(f'"{t}"' for t in terms)


def _components(field_text: str) -> list[tuple[str, str]]:
    """(numeral, label) of each line of a components field."""
    out = []
    for line in field_text.splitlines():
        num, _, label = line.partition(" ")
        out.append((num, label))
    return out


def part_factor(query_stems: set[str], components: Sequence[tuple[str, str]]) -> float:
    """What a part's name counts for in a figure: 1 when the query names every part the figure shows, less the
    more parts it shows per part named (`PART_DECAY`): "wheels" is not what a vehicle's schematic with nine named
    parts is about, but a list of its nine parts is."""
    labels = {num: field_stems(label) for num, label in components}
    if not labels:
        return 1.0
    named = sum(1 for words in labels.values() if words & query_stems)
    return 1.0 / (1.0 + PART_DECAY * math.log(len(labels) / max(named, 1)))


def query_items(text: str) -> list[list[str]]:
    """The parts a query lists, each as its content words ("b-pillar, camera" → [["pillar"], ["camera"]]); one item
    for a query that lists nothing."""
    out = []
    for chunk in _ITEM_SPLIT.split(text.lower()):
        words = [p for w in FIELD_WORD.findall(chunk) if w not in QUERY_STOPWORDS for p in _parts(w) if len(p) > 1]
        if words:
            out.append(list(dict.fromkeys(words)))
    return out


def part_match(items: Sequence[Sequence[str]], idf: dict[str, float], fields: dict[str, str]) -> float:
    """How well a list of parts is drawn as named parts: per item, its best part name's overlap with it (the
    idf-weighted share of the words of both that they hold in common: "vehicle" is all of the part "vehicle", half
    of "vehicle seat"), averaged over the items weighed by their words' idf."""
    labels = [field_stems(label) for _, label in _components(fields.get("components", ""))]
    got = total = 0.0
    for item in items:
        have = {stem(t): idf.get(t, 1.0) for t in item}
        mass = sum(have.values())
        best = 0.0
        for lab in labels:
            common = sum(v for k, v in have.items() if k in lab)
            if common:
                extra = len(lab - set(have))
                best = max(best, common / (mass + extra * (mass / len(have))))
        got += mass * best
        total += mass
    return got / total if total else 0.0


def coverage(terms: Sequence[str], idf: dict[str, float], fields: dict[str, str],
             items: Sequence[Sequence[str]] = (), parts: float | None = None, *,
             stems: Mapping[str, Container[str]] | None = None) -> tuple[float, dict[str, str]]:
    """The idf- and field-weighted share of the terms a figure's fields contain (a part's name weighed by
    `part_factor`, or `parts` when the caller has it), and where each term was found. A query that lists parts
    (`items`, two or more) also counts how well each is drawn as a named part (`part_match`, its share
    `LIST_WEIGHT`). `stems`: each field's word stems as the store keeps them (`core.figure_text.field_stems`), else
    computed."""
    if not terms:
        return 0.0, {}
    if stems is None:
        stems = {f: field_stems(fields.get(f, "")) for f in FIELDS}
    comps = _components(fields.get("components", ""))
    weights = dict(FIELD_WEIGHTS)
    weights["components"] *= part_factor({stem(t) for t in terms}, comps) if parts is None else parts
    got = 0.0
    places: dict[str, str] = {}
    for t in terms:
        s = stem(t)
        best, where = 0.0, ""
        for f in FIELDS:
            if (s in stems[f] or t in stems[f]) and weights[f] > best:
                best, where = weights[f], f
        if where == "components":
            for num, label in comps:
                if s in field_stems(label) or t == num:
                    where = f"component {num} '{label}'"
                    break
        got += idf[t] * best
        if where:
            places[t] = where
    total = sum(idf[t] for t in terms)
    share = got / total if total else 0.0
    if LIST_WEIGHT and len(items) > 1:
        share = (1 - LIST_WEIGHT) * share + LIST_WEIGHT * part_match(items, idf, fields)
    return share, places


def idf(services: Services, terms: Sequence[str]) -> dict[str, float]:
    """Each term's inverse document frequency over the index's figures."""
    df, n = services.store.figure_document_frequency(terms)
    return {t: math.log(1.0 + (n + 1) / (df[t] + 0.5)) for t in terms}


def _passage_figures(services: Services, passage_ids: Sequence[str]) -> dict[str, list[str]]:
    """passage id → the figures it stands for."""
    store = services.store
    out: dict[str, list[str]] = {}
    comps: list[tuple[str, str]] = []
    titles: list[str] = []
    for pid in passage_ids:
        kind = passage_kind(pid)
        head, _, tail = pid.rpartition("#")
        if kind == "description":
            out[pid] = [head]
        elif kind == "title":
            titles.append(head)
        else:
            comps.append((head, tail[1:]))
    by_patent = store.figures_of_patents(titles)
    for p in titles:
        out[title_passage_id(p)] = by_patent.get(p, [])
    for (p, num), figs in store.figures_with_components(comps).items():
        out[component_passage_id(p, num)] = figs
    return out


def _dense(services: Services, vector: list[float], figure_ids: Sequence[str],
           evidence: dict[str, WordEvidence], parts: dict[str, float]) -> dict[str, float]:
    """Each figure's best passage cosine (linked-text vector included), noting the passage in its evidence; a
    part's passage weighed by the figure's `parts` factor (`part_factor`)."""
    store = services.store
    numerals = store.figure_numerals(figure_ids)
    wanted: dict[str, list[str]] = {}
    for fid in figure_ids:
        pid = patent_of_figure(fid)
        ids = [description_passage_id(fid), title_passage_id(pid)]
        ids += [component_passage_id(pid, n) for n in dict.fromkeys(numerals.get(fid, []))]
        wanted[fid] = ids
    sims = store.figure_passage_similarities(vector, sorted({i for ids in wanted.values() for i in ids}))
    linked = {h.id: h.similarity
              for h in store.query_text(vector, len(figure_ids), None, ids=list(figure_ids), documents=False,
                                                           meta=False)}
    out: dict[str, float] = {}
    for fid, ids in wanted.items():
        factor = parts.get(fid, 1.0)
        scored = {"": linked[fid]} if fid in linked else {}  # "": the linked-text vector
        for i in ids:
            if i in sims:
                kind = passage_kind(i)
                scored[i] = sims[i] * KIND_FACTOR.get(kind, 1.0) * (factor if kind == "component" else 1.0)
        if not scored:
            continue
        best_id = max(scored, key=scored.__getitem__)
        best = scored[best_id]
        own = [v for i, v in scored.items() if not i or passage_kind(i) != "title"]
        if best_id and passage_kind(best_id) == "title" and own:
            # the title stands for every figure of the patent: the figure's own best passage says which of them
            best = (1 - OWN_SHARE) * best + OWN_SHARE * max(max(own), 0.0)
        out[fid] = best
        ev = evidence.setdefault(fid, WordEvidence())
        ev.passage_kind = passage_kind(best_id) if best_id else "linked text"
        ev.passage = best_id
    return out


def score_words(services: Services, text: str, terms: Sequence[str], vector: list[float],
                filters: Filters | None = None, exclude: Sequence[str] = (), also: Sequence[str] = ()) -> WordScores:
    """Word and dense scores of the best candidates of either kind, and of the figures in `also` (found by
    another modality), for the query `text` (its content `terms`, its text-encoder `vector`)."""
    store = services.store
    terms = list(dict.fromkeys(p for t in terms for p in _parts(t)))
    candidates: dict[str, None] = dict.fromkeys(also)
    if terms:
        for fid, _, _ in store.figure_lexical(fts_query(terms), POOL, BM25_WEIGHTS):
            candidates[fid] = None
    for h in store.query_text(vector, POOL, filters, documents=False, meta=False):
        candidates[h.id] = None
    passages = [h.id for h in store.query_figure_passages(vector, PASSAGE_POOL)]
    if passages:
        figs = _passage_figures(services, passages)
        seen = 0
        for p in passages:
            for fid in figs.get(p, []):
                if fid not in candidates:
                    candidates[fid] = None
                    seen += 1
            if seen >= POOL:
                break
    ids = [i for i in candidates if i not in set(exclude)]
    if filters is not None and not filters.is_empty():
        meta = store.metadata(ids)
        ids = [i for i in ids if i in meta and filters.match(meta[i])]
    evidence: dict[str, WordEvidence] = {}
    fields, stems = store.figure_fields(ids), store.figure_stems(ids)
    query_stems = {stem(t) for t in terms}
    parts = {fid: part_factor(query_stems, _components(fields.get(fid, {}).get("components", ""))) for fid in ids}
    lists: dict[str, dict[str, float]] = {"text": _dense(services, vector, ids, evidence, parts)}
    # A query of no content words ("the of and") has no word in any figure: evidence against each, as the fitted
    # curves expect (the dense curve alone is the relevance when the words are neutral, not absent)
    words: dict[str, float] = dict.fromkeys(ids, 0.0)
    if terms:
        weights = idf(services, terms)
        items = query_items(text)
        weights |= idf(services, [t for item in items for t in item if t not in weights])
        for fid in ids:
            cov, places = coverage(terms, weights, fields.get(fid, {}), items, parts[fid], stems=stems.get(fid))
            words[fid] = cov
            if places:
                evidence.setdefault(fid, WordEvidence()).places = places
    lists["words"] = words
    _resolve_passages(services, evidence)
    return WordScores(lists=lists, evidence=evidence, terms=terms)


def _resolve_passages(services: Services, evidence: dict[str, WordEvidence]) -> None:
    """Replace each evidence's best passage id by the passage's text (one read for all)."""
    ids = sorted({ev.passage for ev in evidence.values() if ev.passage})
    if not ids:
        return
    texts = services.store.figure_passage_texts(ids)
    for ev in evidence.values():
        if ev.passage:
            ev.passage = texts.get(ev.passage, "")

