"""Retrieval quality on an index, per search mode and protocol, reported like Table 1 of the seed paper.

Protocols (the relevant items of a query are known from the documents themselves, no labelling):

- ``reid`` — re-identification (DeepPatent): every sheet of a patent with 2+ sheets is a query; the
  relevant items are the other sheets of the same patent; the query itself is excluded from its ranking.
- ``family`` — patent families: patents sharing a priority number are one family; every sheet of a
  family member is a query; relevant are the sheets of the other members. The query's own patent is
  filtered out of the ranking (its sheets are neither relevant nor competitors).
- ``design`` — design re-identification (DeepPatent's protocol on US design patents): every unit (sheet
  or figure) of a design patent (``doc_type`` "design") with 2+ units is a query; the relevant items are
  the other views of the same design; the query itself is excluded. The gallery is every unit of the
  evaluated set, utility drawings included (as DeepPatent ranks against its whole gallery); ``--design``
  narrows the gallery to design patents only.
- ``components`` — components → figures: for every sheet with 2+ distinct component labels, the text
  "label1, label2, ..." is a query; relevant are that sheet and every other sheet showing all those
  components. Text mode ranks by the text encoder over the sheets' linked text; visual mode needs a
  cross-modal (CLIP) encoder and is n/a otherwise.

Modes: ``visual`` (stored visual vectors), ``text`` (stored linked-text vectors), and ``fused_odds``,
``fused_avg``, ``fused_max``, ``fused_rrf``, ``fused_minmax``: both lists (top 50 + 1 each) pooled, every
pooled candidate scored in both modalities (as `tools.search` does), and fused by `tools.fusion.fuse` with
the text weight of "more like this", which queries the same way (`DEFAULT_MORE_LIKE_TEXT_WEIGHT`: visual
0.3, text 0.7). ``fused_odds`` (the product's default), ``fused_avg`` and ``fused_max`` combine calibrated
scores (the index's curves, `tools.relevance`); ``fused_minmax`` is the min-max normalised average patfig
used before.

Relevance is keyed on ``patent_id`` (and ``doc_type``), never on the form of a figure id, so the protocols
hold whether the indexed unit is a sheet or a figure of a sheet.

Subset (`Subset`: patent ids, offices, document types; combinable, all must hold): only the subset's units
query, and only the subset's units are in the gallery (the rankings are filtered to its patents).

Metrics over the top 50: AP@50 = sum of P@i at each relevant rank i / min(|relevant|, 50), its mean mAP@50;
P@1; R@10 = share of the relevant items in the top 10; MRR@10 = 1 / rank of the first relevant item in
the top 10 (0 if none).

Run: ``patfig eval --index data/index [--modes visual,text] [--protocols reid,design]
[--patents US1,US2] [--office US,EP] [--design | --utility] [--json]``
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field, field_validator

from core.calibration import Curve
from core.defaults import DEFAULT_MORE_LIKE_TEXT_WEIGHT
from core.errors import ModelUnavailable, StoreError, ToolError
from core.filters import Filters
from core.textnorm import normalise_label
from core.types import Sheet
from runtime.services import Services
from store.index import EncoderId, VectorHit
from tools import views
from tools.fusion import DEFAULT_METHOD, fuse
from tools.relevance import curves_for
from tools.search import query_terms
from tools.words import score_words, word_weights

MODES = ("visual", "visual_views", "text", "fused_odds", "fused_avg", "fused_max", "fused_rrf", "fused_minmax")
PROTOCOLS = ("reid", "family", "components", "design")
DOC_TYPES = ("utility", "design", "plant", "reissue")  # as the USPTO reader sets Patent.doc_type
K = 50


def fusion_weights(text_weight: float = DEFAULT_MORE_LIKE_TEXT_WEIGHT) -> dict[str, float]:
    """The fused modes' weights: by default those of "more like this" (a figure's drawing and linked text query
    the others), which these protocols measure."""
    if not 0.0 <= text_weight <= 1.0:
        raise ToolError(f"text weight {text_weight} is outside 0..1")
    return {"visual": 1.0 - text_weight, "text": text_weight}
TITLES = {
    "reid": "re-identification (DeepPatent): relevant = other sheets of the same patent",
    "family": "patent families: relevant = sheets of the other members of the query's family",
    "components": "components -> figures: query 'label1, label2, ...', relevant = sheets showing them all",
    "design": "design re-identification (DeepPatent): design views query, relevant = other views of the same design",
}


class Subset(BaseModel):
    """The patents evaluated: only their units query, and only their units are in the gallery.

    Every non-empty field must hold (patent ids AND offices AND document types); all empty means the
    whole index.
    """

    patents: list[str] = Field(default_factory=list, description="patent ids, e.g. USD907292")
    offices: list[str] = Field(default_factory=list, description="'US', 'EP', 'WO'")
    doc_types: list[str] = Field(default_factory=list, description=f"of {list(DOC_TYPES)}")

    @field_validator("patents", "offices")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [x.strip().upper().replace(" ", "") for x in v if x.strip()]

    @field_validator("doc_types")
    @classmethod
    def _doc_types(cls, v: list[str]) -> list[str]:
        v = [x.strip().lower() for x in v if x.strip()]
        bad = [x for x in v if x not in DOC_TYPES]
        if bad:
            raise ValueError(f"unknown document type {bad[0]!r}; document types: {', '.join(DOC_TYPES)}")
        return v

    def is_empty(self) -> bool:
        return not (self.patents or self.offices or self.doc_types)

    def describe(self) -> str:
        ids = ",".join(self.patents[:6]) + (f",... ({len(self.patents)} patents)" if len(self.patents) > 6 else "")
        parts = [f"{name} {v}" for name, v in
                 (("patents", ids), ("offices", ",".join(self.offices)),
                  ("document types", ",".join(self.doc_types))) if v]
        return "; ".join(parts) or "whole index"

    def holds(self, patent_id: str, office: str, doc_type: str) -> bool:
        return ((not self.patents or patent_id in self.patents) and (not self.offices or office in self.offices)
                and (not self.doc_types or doc_type in self.doc_types))


class Metrics(BaseModel):
    """Mean metrics of one mode under one protocol."""

    map50: float
    p1: float
    r10: float
    mrr10: float
    queries: int


class ProtocolResult(BaseModel):
    """All modes under one protocol."""

    protocol: str
    title: str
    queries: int
    mean_relevant: float = 0.0  # relevant items per query
    chance_p1: float = 0.0  # P@1 of a random ranking
    results: dict[str, Metrics] = Field(default_factory=dict)
    na: dict[str, str] = Field(default_factory=dict)  # mode → why it could not be measured
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0


class TableRow(BaseModel):
    """One protocol × mode cell row of the report's single table (metrics None when n/a)."""

    protocol: str
    mode: str
    queries: int
    map50: float | None = None
    p1: float | None = None
    r10: float | None = None
    mrr10: float | None = None
    na: str = ""  # why the mode could not be measured


class EvalReport(BaseModel):
    """The evaluation of one index (or of a subset of it)."""

    index: str
    patents: int  # in the evaluated set (the gallery)
    sheets: int  # units (sheets or figures) in the evaluated set
    encoders: dict[str, str]
    visual_encoder: str = ""  # the encoder that built the index's visual vectors
    subset: Subset = Field(default_factory=Subset)
    modes: list[str]
    weights: dict[str, float] = Field(default_factory=dict)  # of the fused modes
    protocols: list[ProtocolResult]
    table: list[TableRow] = Field(default_factory=list)  # every protocol × every mode, in one table
    seconds: float


# ---------------------------------------------------------------- metrics


def average_precision(ranking: Sequence[str], relevant: set[str], k: int = K) -> float:
    """AP@k: the mean of P@i over the relevant ranks i <= k, divided by min(|relevant|, k)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, item in enumerate(ranking[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / i
    return total / min(len(relevant), k)


def precision_at(ranking: Sequence[str], relevant: set[str], k: int = 1) -> float:
    return sum(1 for x in ranking[:k] if x in relevant) / k


def recall_at(ranking: Sequence[str], relevant: set[str], k: int = 10) -> float:
    return sum(1 for x in ranking[:k] if x in relevant) / len(relevant) if relevant else 0.0


def mrr_at(ranking: Sequence[str], relevant: set[str], k: int = 10) -> float:
    for i, item in enumerate(ranking[:k], start=1):
        if item in relevant:
            return 1.0 / i
    return 0.0


class _Accumulator:
    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, float]] = []

    def add(self, ranking: Sequence[str], relevant: set[str]) -> None:
        self.rows.append((average_precision(ranking, relevant), precision_at(ranking, relevant, 1),
                          recall_at(ranking, relevant, 10), mrr_at(ranking, relevant, 10)))

    def metrics(self) -> Metrics:
        n = len(self.rows) or 1
        cols = [sum(r[i] for r in self.rows) / n for i in range(4)]
        return Metrics(map50=round(cols[0], 4), p1=round(cols[1], 4), r10=round(cols[2], 4),
                       mrr10=round(cols[3], 4), queries=len(self.rows))


# ---------------------------------------------------------------- rankings


def _ranked(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda i: (-scores[i], i))[:K]


def _rankings(
    query_fns: dict[str, Callable[..., list[VectorHit]]],
    vectors: dict[str, list[float]],
    modes: Sequence[str],
    *,
    exclude: str | None = None,
    filters: Filters | None = None,
    curves: dict[str, Curve] | None = None,
    weights: dict[str, float] | None = None,
) -> dict[str, list[str]]:
    """Top-K figure ids per mode for one query, with `exclude` (the query itself) removed; the fused modes
    weigh the modalities by `weights` (default `fusion_weights()`)."""
    weights = weights or fusion_weights()
    extra = 1 if exclude else 0
    lists = {m: {h.id: h.similarity for h in query_fns[m](v, K + extra, filters) if h.id != exclude}
             for m, v in vectors.items()}
    out = {m: _ranked(lists[m]) for m in modes if m in lists}
    fused_modes = [m for m in modes if m.startswith("fused_")]
    if fused_modes and len(lists) == 2:
        pool = sorted({i for scores in lists.values() for i in scores})
        full = {m: {h.id: h.similarity for h in query_fns[m](v, len(pool), None, ids=pool)}
                for m, v in vectors.items()} if pool else lists
        for mode in fused_modes:
            out[mode] = [f.id for f in fuse(full, weights, mode.removeprefix("fused_"), curves=curves)][:K]
    return out


# ---------------------------------------------------------------- protocols


def _sheet_protocol(
    services: Services,
    name: str,
    queries: Sequence[tuple[Sheet, set[str], Filters | None]],
    modes: Sequence[str],
    sheets: Sequence[Sheet],
    gallery: Filters | None = None,
    weights: dict[str, float] | None = None,
) -> ProtocolResult:
    """Each query sheet ranks the gallery (`sheets`, restricted by `gallery` when a subset is evaluated) by
    its stored vectors; a query's own filters (its patent left out) narrow that further."""
    store = services.store
    res = ProtocolResult(protocol=name, title=TITLES[name], queries=len(queries))
    if not queries:
        return res
    n_sheets = len(sheets)
    per_patent = Counter(s.patent_id for s in sheets)
    ids = [q[0].figure_id for q in queries]
    vis = store.vectors("visual", ids)
    txt = store.vectors("text", ids)
    acc = {m: _Accumulator() for m in modes}
    fns = {"visual": store.query_visual, "text": store.query_text}
    curves = curves_for(services, ("visual", "text_sheet"))
    curves["text"] = curves.pop("text_sheet")  # a figure's linked text queries the others', as in "more like this"
    patent_of = {s.figure_id: s.patent_id for s in sheets}
    units_of: dict[str, list[str]] = {}
    for s in sheets:
        units_of.setdefault(s.patent_id, []).append(s.figure_id)
    for sheet, relevant, filters in queries:
        fid = sheet.figure_id
        vectors = {m: v for m, v in (("visual", vis.get(fid)), ("text", txt.get(fid))) if v is not None}
        narrowed = _narrowed(gallery, filters)
        rankings = _rankings(fns, vectors, modes, exclude=fid, filters=narrowed, curves=curves, weights=weights)
        if "visual_views" in modes and "visual" in vectors:
            rankings["visual_views"] = views_ranking(store.query_visual, vectors["visual"], fid, narrowed,
                                                     curves["visual"], patent_of, units_of)
        for m in modes:
            if m in rankings:
                acc[m].add(rankings[m], relevant)
    res.results = {m: a.metrics() for m, a in acc.items() if a.rows}
    res.mean_relevant = round(sum(len(q[1]) for q in queries) / len(queries), 2)
    # A random ranking's P@1: relevant / candidates (all other sheets; minus the own patent's when filtered out).
    candidates = [n_sheets - (per_patent[s.patent_id] if f else 1) for s, _, f in queries]
    res.chance_p1 = round(sum(len(r) / max(1, c) for (_, r, _), c in zip(queries, candidates, strict=True))
                          / len(queries), 4)
    return res


def views_ranking(query_fn: Callable[..., list[VectorHit]], vector: list[float], exclude: str,
                  filters: Filters | None, curve: Curve, patent_of: dict[str, str],
                  units_of: dict[str, list[str]], beta: float = views.BETA) -> list[str]:
    """Mode ``visual_views``: the visual similarity fused (odds) with that of the best view of the candidate's
    patent (`tools.views`), the patents of the first candidates bringing all their units in."""
    scores = {h.id: h.similarity for h in query_fn(vector, K + 1, filters) if h.id != exclude}
    more = [u for p in views.top_patents(_ranked(scores), patent_of) for u in units_of.get(p, [])
            if u not in scores and u != exclude]
    if more:
        scores |= {h.id: h.similarity for h in query_fn(vector, len(more), filters, ids=more)}
    lists = {"visual": scores, views.MODALITY: views.patent_best(scores, patent_of)}
    weights = {"visual": 1.0 - beta, views.MODALITY: beta}
    return [f.id for f in fuse(lists, weights, "odds", curves={"visual": curve, views.MODALITY: curve})][:K]


def _narrowed(gallery: Filters | None, own: Filters | None) -> Filters | None:
    """The gallery's filter (the subset's patents) with a query's own exclusions added."""
    if gallery is None or own is None:
        return own or gallery
    return gallery.model_copy(update={"exclude_ids": own.exclude_ids})


def design_queries(sheets: Sequence[Sheet], doc_type: dict[str, str]) -> list[tuple[Sheet, set[str], None]]:
    """Every unit of a design patent with 2+ units, relevant = the other units (views) of the same design.

    `doc_type` maps patent id → document type; relevance is keyed on the patent id alone, never on how a
    figure id is spelt, so sheets and figures as units both work.
    """
    return reid_queries([s for s in sheets if doc_type.get(s.patent_id) == "design"])


def reid_queries(sheets: Sequence[Sheet]) -> list[tuple[Sheet, set[str], None]]:
    """Every sheet of a patent with 2+ sheets, with the other sheets of its patent as relevant."""
    by_patent: dict[str, list[str]] = {}
    for s in sheets:
        by_patent.setdefault(s.patent_id, []).append(s.figure_id)
    return [(s, set(by_patent[s.patent_id]) - {s.figure_id}, None) for s in sheets if len(by_patent[s.patent_id]) > 1]


def families(services: Services) -> list[list[str]]:
    """Groups of 2+ patent ids that share a priority number (transitively), sorted."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[str, str] = {}
    for p in services.store.patents():
        root(p.patent_id)
        for number in p.priority_numbers:
            key = re.sub(r"[^A-Z0-9]", "", number.upper())
            if not key:
                continue
            if key in owner:
                parent[root(p.patent_id)] = root(owner[key])
            else:
                owner[key] = p.patent_id
    groups: dict[str, list[str]] = {}
    for pid in parent:
        groups.setdefault(root(pid), []).append(pid)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def family_queries(
    services: Services, sheets: Sequence[Sheet], fams: Sequence[Sequence[str]] | None = None
) -> list[tuple[Sheet, set[str], Filters]]:
    """Every sheet of a family member, relevant = the other members' sheets (of `sheets`), own patent filtered
    out. `fams` defaults to every family of the index."""
    by_patent: dict[str, list[str]] = {}
    for s in sheets:
        by_patent.setdefault(s.patent_id, []).append(s.figure_id)
    out = []
    for fam in families(services) if fams is None else fams:
        for pid in fam:
            relevant = {f for other in fam if other != pid for f in by_patent.get(other, [])}
            if not relevant:
                continue
            for s in sheets:
                if s.patent_id == pid:
                    out.append((s, relevant, Filters(exclude_ids=[pid])))
    return out


def component_labels(sheet: Sheet) -> list[str]:
    """The sheet's distinct normalised component labels, in reading order."""
    return list(dict.fromkeys(lab for c in sheet.components if (lab := normalise_label(c.label))))


def component_queries(sheets: Sequence[Sheet]) -> list[tuple[Sheet, str, set[str]]]:
    """(sheet, query text, relevant ids) for every sheet with 2+ distinct component labels."""
    labels = {s.figure_id: set(component_labels(s)) for s in sheets}
    out = []
    for s in sheets:
        mine = component_labels(s)
        if len(mine) < 2:
            continue
        relevant = {f for f, have in labels.items() if set(mine) <= have}
        out.append((s, ", ".join(mine), relevant))
    return out


def _components_protocol(
    services: Services, sheets: list[Sheet], modes: Sequence[str], gallery: Filters | None = None,
    weights: dict[str, float] | None = None,
) -> ProtocolResult:
    store = services.store
    queries = component_queries(sheets)
    res = ProtocolResult(protocol="components", title=TITLES["components"], queries=len(queries))
    if not queries:
        res.notes.append("no sheet has 2 or more OCR-linked component labels")
        return res
    recorded = store.encoders().get("visual")
    cross, why_not = False, "the index has no visual encoder recorded"
    if recorded is not None and recorded.name.startswith("linedraw:"):
        why_not = f"needs a cross-modal (CLIP) visual encoder; this index uses {recorded.name}"
    elif recorded is not None:
        try:
            cross = bool(getattr(services.visual, "cross_modal", False))
            why_not = f"the visual encoder {services.visual.name} has no text side"
        except (ImportError, ModelUnavailable) as e:
            why_not = f"the index's visual encoder {recorded.name} cannot be loaded here: {e}"
    try:
        store.check_encoder("text", EncoderId(services.text.name, services.text.dim))
        if cross:
            store.check_encoder("visual", EncoderId(services.visual.name, services.visual.dim))
    except StoreError as e:
        raise ToolError(str(e)) from None
    texts = [q[1] for q in queries]
    vectors = {"text": services.text.embed_texts(texts)}
    if cross:
        vectors["visual"] = services.visual.embed_texts(texts)
    else:
        res.na = {m: why_not for m in modes if m != "text"}
    if "visual_views" in modes:
        res.na.setdefault("visual_views", "views are lifted for drawing queries, not for words")
    todo = [m for m in modes if m not in res.na]
    acc = {m: _Accumulator() for m in todo}
    fns = {"visual": store.query_visual, "text": store.query_text}
    curves = curves_for(services, ("text",)) | ({"visual": curves_for(services, ("clip_text",))["clip_text"]}
                                                 if cross else {})
    word_curves = curves_for(services, ("words", "text"))
    for i, (_sheet, text, relevant) in enumerate(queries):
        rankings = _rankings(fns, {m: v[i] for m, v in vectors.items()}, todo, filters=gallery, curves=curves,
                             weights=weights)
        if "text" in todo:  # words are searched as search_text does: per-figure words and passages, fused
            rankings["text"] = word_ranking(services, text, vectors["text"][i], gallery, word_curves)
        for m in todo:
            acc[m].add(rankings[m], relevant)
    res.results = {m: a.metrics() for m, a in acc.items() if a.rows}
    res.mean_relevant = round(sum(len(q[2]) for q in queries) / len(queries), 2)
    res.chance_p1 = round(sum(len(q[2]) / len(sheets) for q in queries) / len(queries), 4)
    res.notes.append("the text side sees each sheet's component labels in its linked text, so text mode is an "
                     "upper bound; visual mode is the honest cross-modal test")
    return res


def word_ranking(services: Services, text: str, vector: list[float], filters: Filters | None,
                 curves: dict[str, Curve]) -> list[str]:
    """The top-K figure ids of a search by words, ranked as `tools.search.search_text` ranks them."""
    scored = score_words(services, text, query_terms(text), vector, filters)
    return [f.id for f in fuse(scored.lists, word_weights(scored.lists), DEFAULT_METHOD, curves=curves)][:K]


def _doc_info(services: Services, sheets: Sequence[Sheet]) -> dict[str, tuple[str, str]]:
    """patent id → (office, document type), from the stored facet metadata of its units (the patent record
    where a unit has none)."""
    info: dict[str, tuple[str, str]] = {}
    for m in services.store.all_metadata().values():
        pid = str(m.get("patent_id", ""))
        if pid and pid not in info:
            info[pid] = (str(m.get("office", "")), str(m.get("doc_type", "") or "utility"))
    missing = sorted({s.patent_id for s in sheets} - set(info))
    for pid, p in services.store.patents_by_id(missing).items():
        info[pid] = (p.office, p.doc_type)
    return info


def select_sheets(services: Services, sheets: Sequence[Sheet], subset: Subset) -> list[Sheet]:
    """The units of the subset's patents (all of them for an empty subset); unknown patent ids are refused."""
    if subset.is_empty():
        return list(sheets)
    indexed = {s.patent_id for s in sheets}
    unknown = [p for p in subset.patents if p not in indexed]
    if unknown:
        raise ToolError(f"patent {unknown[0]!r} is not in the index at {services.store.root}; "
                        f"indexed are e.g. {', '.join(sorted(indexed)[:5])}")
    info = _doc_info(services, sheets)
    chosen = [s for s in sheets if subset.holds(s.patent_id, *info.get(s.patent_id, ("", "utility")))]
    if not chosen:
        have = sorted({f"{o} {d}" for o, d in info.values()})
        raise ToolError(f"no indexed sheet is in the subset ({subset.describe()}); the index holds "
                        f"{', '.join(have)} patents")
    return chosen


def evaluate(
    services: Services,
    modes: Sequence[str] = MODES,
    protocols: Sequence[str] = PROTOCOLS,
    subset: Subset | None = None,
    text_weight: float = DEFAULT_MORE_LIKE_TEXT_WEIGHT,
) -> EvalReport:
    """Evaluate the index (or `subset` of it) under each protocol in each mode (see the module docstring); the
    fused modes weigh the linked text `text_weight` against the drawing."""
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ToolError(f"unknown mode {bad[0] if bad else '(none)'!r}; modes: {', '.join(MODES)}")
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise ToolError(f"unknown protocol {bad[0] if bad else '(none)'!r}; protocols: {', '.join(PROTOCOLS)}")
    subset = subset or Subset()
    weights = fusion_weights(text_weight)
    t0 = time.perf_counter()
    store = services.store
    every = store.sheets()
    if not every:
        raise ToolError(f"the index at {store.root} holds no sheets: ingest some patents first")
    sheets = select_sheets(services, every, subset)
    chosen = sorted({s.patent_id for s in sheets})
    gallery = None if subset.is_empty() else Filters(include_ids=chosen)
    out = []
    for name in protocols:
        t = time.perf_counter()
        if name == "reid":
            res = _sheet_protocol(services, name, reid_queries(sheets), modes, sheets, gallery, weights)
            if not res.queries:
                res.notes.append("no patent has 2 or more sheets")
        elif name == "design":
            info = _doc_info(services, sheets)
            doc_type = {pid: d for pid, (_, d) in info.items()}
            queries = design_queries(sheets, doc_type)
            res = _sheet_protocol(services, name, queries, modes, sheets, gallery, weights)
            designs = {s.patent_id for s in sheets if doc_type.get(s.patent_id) == "design"}
            asking = {q.patent_id for q, _, _ in queries}
            if not res.queries:
                res.notes.append("no design patent with 2 or more views in the evaluated set")
            else:
                others = len(sheets) - sum(1 for s in sheets if s.patent_id in designs)
                single = f", {len(designs - asking)} with one view in the gallery only" if designs - asking else ""
                res.notes.append(f"{len(asking)} design patents query{single}; gallery: all {len(sheets)} units of "
                                 f"the evaluated set ({others} of them not designs)")
        elif name == "family":
            mine = set(chosen)
            fams = [kept for f in families(services) if len(kept := [p for p in f if p in mine]) > 1]
            res = _sheet_protocol(services, name, family_queries(services, sheets, fams), modes, sheets, gallery,
                                  weights)
            if fams:
                res.notes.append("families: " + "; ".join(" + ".join(f) for f in fams))
            else:
                res.notes.append("no families found (no two patents share a priority number)")
        else:
            res = _components_protocol(services, sheets, modes, gallery, weights)
        res.seconds = round(time.perf_counter() - t, 2)
        out.append(res)
    encoders = store.encoders()
    visual = encoders.get("visual")
    return EvalReport(
        index=str(store.root),
        patents=len(chosen),
        sheets=len(sheets),
        encoders={k: f"{v.name} (dim {v.dim})" for k, v in encoders.items()},
        visual_encoder=visual.name if visual else "",
        subset=subset,
        modes=list(modes),
        weights=weights,
        protocols=out,
        table=_table_rows(out, modes),
        seconds=round(time.perf_counter() - t0, 2),
    )


def _table_rows(protocols: Sequence[ProtocolResult], modes: Sequence[str]) -> list[TableRow]:
    rows = []
    for p in protocols:
        for m in modes:
            r = p.results.get(m)
            if r is not None:
                rows.append(TableRow(protocol=p.protocol, mode=m, queries=r.queries, map50=r.map50, p1=r.p1,
                                     r10=r.r10, mrr10=r.mrr10))
            else:
                rows.append(TableRow(protocol=p.protocol, mode=m, queries=p.queries,
                                     na=p.na.get(m, "" if p.queries else "no queries")))
    return rows


def format_table(report: EvalReport) -> str:
    """The report as plain text: one table per protocol (rows = modes; mAP@50, P@1, R@10, MRR@10), then one
    table of every protocol × every mode (mAP@50 / P@1)."""
    enc = "; ".join(f"{k} {v}" for k, v in report.encoders.items())
    lines = [f"patfig eval - {report.index}: {report.patents} patents, {report.sheets} sheets; {enc}",
             f"visual encoder that built the index: {report.visual_encoder or 'none recorded'}",
             f"evaluated set: {report.subset.describe()} (its units alone query and form the gallery)"]
    if report.weights:
        lines.append("fused modes weigh " + ", ".join(f"{m} {w:g}" for m, w in report.weights.items()))
    for i, p in enumerate(report.protocols, start=1):
        lines.append("")
        lines.append(f"({i}) {p.protocol}: {p.title}")
        lines.append(f"    {p.queries} queries, {p.mean_relevant:g} relevant per query, chance P@1 "
                     f"{p.chance_p1:.3f}, {p.seconds:.1f} s")
        if p.queries:
            lines.append(f"    {'mode':<12} {'mAP@50':>7} {'P@1':>7} {'R@10':>7} {'MRR@10':>7}")
            for m in report.modes:
                r = p.results.get(m)
                if r is not None:
                    lines.append(f"    {m:<12} {r.map50:>7.3f} {r.p1:>7.3f} {r.r10:>7.3f} {r.mrr10:>7.3f}")
                else:
                    lines.append(f"    {m:<12} {'n/a':>7}  {p.na.get(m, '')}")
        for note in p.notes:
            lines.append(f"    note: {note}")
    lines += ["", f"all protocols: mAP@50 / P@1 per mode (visual = {report.visual_encoder or 'none'})"]
    width = 13
    lines.append(f"    {'protocol':<11} {'queries':>7}  " + " ".join(f"{m:>{width}}" for m in report.modes))
    for p in report.protocols:
        cells = []
        for m in report.modes:
            r = p.results.get(m)
            cells.append(f"{f'{r.map50:.3f} / {r.p1:.3f}' if r else 'n/a':>{width}}")
        lines.append(f"    {p.protocol:<11} {p.queries:>7}  " + " ".join(cells))
    return "\n".join(lines)
