"""Retrieval quality on an index, per search mode and protocol, reported like Table 1 of the seed paper.

Protocols (the relevant items of a query are known from the documents themselves, no labelling):

- ``reid`` — re-identification (DeepPatent): every sheet of a patent with 2+ sheets is a query; the
  relevant items are the other sheets of the same patent; the query itself is excluded from its ranking.
- ``family`` — patent families: patents sharing a priority number are one family; every sheet of a
  family member is a query; relevant are the sheets of the other members. The query's own patent is
  filtered out of the ranking (its sheets are neither relevant nor competitors).
- ``components`` — components → figures: for every sheet with 2+ distinct component labels, the text
  "label1, label2, ..." is a query; relevant are that sheet and every other sheet showing all those
  components. Text mode ranks by the text encoder over the sheets' linked text; visual mode needs a
  cross-modal (CLIP) encoder and is n/a otherwise.

Modes: ``visual`` (stored visual vectors), ``text`` (stored linked-text vectors), and ``fused_avg``,
``fused_max``, ``fused_rrf``, ``fused_minmax``: both lists (top 50 + 1 each) pooled, every pooled candidate
scored in both modalities (as `tools.search` does), and fused by `tools.fusion.fuse` with the default text
weight (visual 0.5, text 0.5). ``fused_avg`` and ``fused_max`` combine calibrated scores (the index's
curves, `tools.relevance`); ``fused_minmax`` is the min-max normalised average patfig used before.

Metrics over the top 50: AP@50 = sum of P@i at each relevant rank i / min(|relevant|, 50), its mean mAP@50;
P@1; R@10 = share of the relevant items in the top 10; MRR@10 = 1 / rank of the first relevant item in
the top 10 (0 if none).

Run: ``patfig eval --index data/index [--modes visual,text] [--protocols reid] [--json]``
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from core.calibration import Curve
from core.defaults import DEFAULT_TEXT_WEIGHT
from core.errors import ModelUnavailable, StoreError, ToolError
from core.filters import Filters
from core.textnorm import normalise_label
from core.types import Sheet
from runtime.services import Services
from store.index import EncoderId, VectorHit
from tools.fusion import fuse
from tools.relevance import curves_for

MODES = ("visual", "text", "fused_avg", "fused_max", "fused_rrf", "fused_minmax")
PROTOCOLS = ("reid", "family", "components")
K = 50
FUSION_WEIGHTS = {"visual": 1.0 - DEFAULT_TEXT_WEIGHT, "text": DEFAULT_TEXT_WEIGHT}  # as a default fused search
TITLES = {
    "reid": "re-identification (DeepPatent): relevant = other sheets of the same patent",
    "family": "patent families: relevant = sheets of the other members of the query's family",
    "components": "components -> figures: query 'label1, label2, ...', relevant = sheets showing them all",
}


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


class EvalReport(BaseModel):
    """The evaluation of one index."""

    index: str
    patents: int
    sheets: int
    encoders: dict[str, str]
    modes: list[str]
    protocols: list[ProtocolResult]
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
) -> dict[str, list[str]]:
    """Top-K figure ids per mode for one query, with `exclude` (the query itself) removed."""
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
            out[mode] = [f.id for f in fuse(full, FUSION_WEIGHTS, mode.removeprefix("fused_"), curves=curves)][:K]
    return out


# ---------------------------------------------------------------- protocols


def _sheet_protocol(
    services: Services,
    name: str,
    queries: Sequence[tuple[Sheet, set[str], Filters | None]],
    modes: Sequence[str],
    sheets: Sequence[Sheet],
) -> ProtocolResult:
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
    for sheet, relevant, filters in queries:
        fid = sheet.figure_id
        vectors = {m: v for m, v in (("visual", vis.get(fid)), ("text", txt.get(fid))) if v is not None}
        rankings = _rankings(fns, vectors, modes, exclude=fid, filters=filters, curves=curves)
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


def family_queries(services: Services, sheets: Sequence[Sheet]) -> list[tuple[Sheet, set[str], Filters]]:
    """Every sheet of a family member, relevant = the other members' sheets, own patent filtered out."""
    by_patent: dict[str, list[str]] = {}
    for s in sheets:
        by_patent.setdefault(s.patent_id, []).append(s.figure_id)
    out = []
    for fam in families(services):
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


def _components_protocol(services: Services, sheets: list[Sheet], modes: Sequence[str]) -> ProtocolResult:
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
    todo = [m for m in modes if m not in res.na]
    acc = {m: _Accumulator() for m in todo}
    fns = {"visual": store.query_visual, "text": store.query_text}
    curves = curves_for(services, ("text",)) | ({"visual": curves_for(services, ("clip_text",))["clip_text"]}
                                                 if cross else {})
    for i, (_sheet, _text, relevant) in enumerate(queries):
        rankings = _rankings(fns, {m: v[i] for m, v in vectors.items()}, todo, curves=curves)
        for m in todo:
            acc[m].add(rankings[m], relevant)
    res.results = {m: a.metrics() for m, a in acc.items() if a.rows}
    res.mean_relevant = round(sum(len(q[2]) for q in queries) / len(queries), 2)
    res.chance_p1 = round(sum(len(q[2]) / len(sheets) for q in queries) / len(queries), 4)
    res.notes.append("the text side sees each sheet's component labels in its linked text, so text mode is an "
                     "upper bound; visual mode is the honest cross-modal test")
    return res


def evaluate(
    services: Services,
    modes: Sequence[str] = MODES,
    protocols: Sequence[str] = PROTOCOLS,
) -> EvalReport:
    """Evaluate the index under each protocol in each mode (see the module docstring for the definitions)."""
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ToolError(f"unknown mode {bad[0] if bad else '(none)'!r}; modes: {', '.join(MODES)}")
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise ToolError(f"unknown protocol {bad[0] if bad else '(none)'!r}; protocols: {', '.join(PROTOCOLS)}")
    t0 = time.perf_counter()
    store = services.store
    sheets = store.sheets()
    if not sheets:
        raise ToolError(f"the index at {store.root} holds no sheets: ingest some patents first")
    out = []
    for name in protocols:
        t = time.perf_counter()
        if name == "reid":
            res = _sheet_protocol(services, name, reid_queries(sheets), modes, sheets)
            if not res.queries:
                res.notes.append("no patent has 2 or more sheets")
        elif name == "family":
            res = _sheet_protocol(services, name, family_queries(services, sheets), modes, sheets)
            fams = families(services)
            if fams:
                res.notes.append("families: " + "; ".join(" + ".join(f) for f in fams))
            else:
                res.notes.append("no families found (no two patents share a priority number)")
        else:
            res = _components_protocol(services, sheets, modes)
        res.seconds = round(time.perf_counter() - t, 2)
        out.append(res)
    return EvalReport(
        index=str(store.root),
        patents=len({s.patent_id for s in sheets}),
        sheets=len(sheets),
        encoders={k: f"{v.name} (dim {v.dim})" for k, v in store.encoders().items()},
        modes=list(modes),
        protocols=out,
        seconds=round(time.perf_counter() - t0, 2),
    )


def format_table(report: EvalReport) -> str:
    """The report as plain-text tables, one per protocol: rows = modes; mAP@50, P@1, R@10, MRR@10."""
    enc = "; ".join(f"{k} {v}" for k, v in report.encoders.items())
    lines = [f"patfig eval - {report.index}: {report.patents} patents, {report.sheets} sheets; {enc}"]
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
    return "\n".join(lines)

