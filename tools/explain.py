"""Why a hit is where it is, why one hit is above another, and what a group of patents shares.

Explanations are built only from each hit's `Breakdown` (per-modality raw/normalised score and rank,
fused score, method, weights, matched terms and components, filters) and from the indexed documents
(title, FIG descriptions, components). Nothing is invented: every number in the text is in `facts`.

Contributions per modality follow `tools.fusion`: for ``avg`` and ``max`` a modality contributes
weight / sum(weights) × normalised score (avg adds them up, max takes the largest); for ``rrf`` it
contributes weight / (60 + rank). A modality missing from a hit's breakdown contributes 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TypedDict

from pydantic import BaseModel, Field
from sklearn.feature_extraction.text import TfidfVectorizer

from core.errors import ToolError
from core.textnorm import CLAIM_BOILERPLATE, CONTENT_STOPWORDS, content_words, normalise_label
from core.types import Breakdown, Hit, Patent, Sheet
from runtime.services import Services
from tools.fusion import RRF_K
from tools.search import patent_of

MAX_LISTED = 8
METHOD_WORDS = {
    "avg": "weighted average of normalised scores (avg)",
    "max": "maximum of weighted normalised scores (max)",
    "rrf": "reciprocal-rank fusion (rrf: sum of weight / (60 + rank))",
    "single": "a single modality",
}


class Explanation(BaseModel):
    """A text for the user and the facts it was built from (every number in the text is here)."""

    text: str
    facts: dict[str, object]  # for one hit: the keys of `HitFacts`; for a pair: higher, lower and their differences


class Comparison(BaseModel):
    """What a group of patents has in common and what sets each apart."""

    patent_ids: list[str]
    titles: dict[str, str]
    component_source: dict[str, str]  # per patent: "figures" (OCR-linked on the compared sheets) or "text"
    shared_components: list[str]  # normalised labels present in every patent
    partly_shared_components: dict[str, list[str]] = Field(default_factory=dict)  # label → patents (2+, not all)
    distinct_components: dict[str, list[str]]  # per patent: labels no other patent has
    cpc_shared: list[str]  # CPC subclasses of every patent
    cpc_distinct: dict[str, list[str]]
    kinds: dict[str, dict[str, int]]  # per patent: figure kind → number of sheets
    key_terms_shared: list[str]
    key_terms_distinct: dict[str, list[str]]
    text: str


class Contribution(TypedDict):
    """One modality's part in a hit's score (see the module docstring)."""

    present: bool  # whether the hit is in this modality's candidate list
    raw: float | None
    norm: float
    rank: int | None
    path: str
    weight: float
    share: float  # the weight's share of all weights
    contribution: float


class ComponentFact(TypedDict):
    """A reference sign as an explanation quotes it."""

    numeral: str
    label: str


class HitFacts(TypedDict):
    """Everything an explanation of one hit says, with its numbers."""

    rank: int
    figure_id: str
    patent_id: str
    title: str
    sheet_no: int
    figs: list[str]
    kind: str
    view: str
    score: float
    fused: float
    method: str
    weights: dict[str, float]
    modalities: dict[str, Contribution]
    recomputed: float  # the score as the contributions give it
    top_modality: str | None
    matched_terms: list[str]
    matched_components: list[ComponentFact]
    filters: dict[str, object]
    query: dict[str, object]
    fig_descriptions: dict[str, str]  # FIG → its description ("sheet" → the sheet's when no FIG has one)
    components: list[ComponentFact]
    passages: list[str]


# ---------------------------------------------------------------- helpers


def find_hit(hits: Sequence[Hit], rank: int) -> Hit:
    """The hit with this rank, or a ToolError naming the ranks that exist."""
    if not hits:
        raise ToolError("there are no current results: run a search first")
    for h in hits:
        if h.rank == rank:
            return h
    ranks = sorted(h.rank for h in hits)
    raise ToolError(f"no #{rank} in the current results ({ranks[0]}..{ranks[-1]})")


def contributions(bd: Breakdown) -> dict[str, Contribution]:
    """Per modality: raw, norm, rank, path, weight, share of the weights, and contribution to the score."""
    weights = {m: w for m, w in bd.weights.items() if w > 0} or {m: 1.0 for m in bd.modalities}
    names = list(dict.fromkeys([*weights, *bd.modalities]))
    total = sum(weights.get(m, 0.0) for m in names) or 1.0
    out: dict[str, Contribution] = {}
    for m in names:
        ms = bd.modalities.get(m)
        w = weights.get(m, 0.0)
        share = w / total
        if bd.method == "rrf":
            contrib = w / (RRF_K + ms.rank) if ms else 0.0
        elif bd.method == "single" and ms is not None and len(bd.modalities) == 1:
            contrib = bd.fused  # one modality: the score is that modality's (raw or normalised) score
        else:
            contrib = share * ms.norm if ms else 0.0
        out[m] = {
            "present": ms is not None,
            "raw": ms.raw if ms else None,
            "norm": ms.norm if ms else 0.0,
            "rank": ms.rank if ms else None,
            "path": ms.path if ms else "",
            "weight": w,
            "share": round(share, 6),
            "contribution": round(contrib, 6),
        }
    return out


def _recomputed(method: str, contrib: dict[str, Contribution]) -> float:
    values = [c["contribution"] for c in contrib.values()]
    if not values:
        return 0.0
    return max(values) if method == "max" else sum(values)


def _figs(figs: Sequence[str]) -> str:
    return "FIG. " + ", ".join(figs) if figs else "no FIG number"


def _head(hit: Hit) -> str:
    what = ", ".join(x for x in (hit.kind, f"{hit.view} view" if hit.view != "unknown" else "") if x)
    title = f' "{hit.title}"' if hit.title else ""
    return f"#{hit.rank}: {hit.patent_id}{title}, sheet {hit.sheet_no}, {_figs(hit.figs)} ({what})"


def _modality_line(name: str, c: Contribution, method: str) -> str:
    raw = c["raw"]
    if not c["present"] or raw is None:
        return f"- {name}: not in this modality's candidate list, counts as 0"
    path = f" via {c['path']}" if c["path"] and c["path"] != name else ""
    if method == "rrf":
        return (f"- {name}{path}: similarity {c['raw']:.3f}, rank {c['rank']} → weight {c['weight']:.3f} / "
                f"({RRF_K} + {c['rank']}) = {c['contribution']:.3f}")
    if method == "single":
        basis = ("its raw score" if abs(raw - c["contribution"]) < 0.0006
                 else "its normalised score" if abs(c["norm"] - c["contribution"]) < 0.0006 else "")
        return (f"- {name}{path}: score {c['raw']:.3f} → normalised {c['norm']:.3f} (rank {c['rank']} in the "
                f"{name} list)" + (f"; the hit's score is {basis}" if basis else ""))
    return (f"- {name}{path}: similarity {c['raw']:.3f} → normalised {c['norm']:.3f} (rank {c['rank']} in the "
            f"{name} list) × weight share {c['share']:.3f} = {c['contribution']:.3f}")


def _documents(services: Services, hit: Hit) -> tuple[Sheet | None, Patent | None, dict[str, str]]:
    sheet = services.store.sheet(hit.figure_id)
    patent = patent_of(services, hit.patent_id)
    descs: dict[str, str] = {}
    for fig in hit.figs:
        f = patent.figure(fig) if patent else None
        if f is not None and f.text:
            descs[fig] = f.text
    if not descs and hit.description:
        descs["sheet"] = hit.description
    return sheet, patent, descs


def _hit_facts(services: Services, hit: Hit) -> HitFacts:
    bd = hit.breakdown
    contrib = contributions(bd)
    sheet, _patent, descs = _documents(services, hit)
    top = max(contrib, key=lambda m: contrib[m]["contribution"]) if contrib else None
    return {
        "rank": hit.rank,
        "figure_id": hit.figure_id,
        "patent_id": hit.patent_id,
        "title": hit.title,
        "sheet_no": hit.sheet_no,
        "figs": list(hit.figs),
        "kind": hit.kind,
        "view": hit.view,
        "score": hit.score,
        "fused": bd.fused,
        "method": bd.method,
        "weights": dict(bd.weights),
        "modalities": contrib,
        "recomputed": round(_recomputed(bd.method, contrib), 6),
        "top_modality": top,
        "matched_terms": list(bd.matched_terms),
        "matched_components": [{"numeral": c.numeral, "label": c.label} for c in bd.matched_components],
        "filters": dict(bd.filters),
        "query": dict(bd.query),
        "fig_descriptions": descs,
        "components": [{"numeral": c.numeral, "label": c.label} for c in (sheet.components if sheet else [])],
        "passages": list(hit.passages[:2]),
    }


def _query_words(query: dict[str, object]) -> str:
    parts = []
    if query.get("text"):
        parts.append(f"'{query['text']}'")
    if query.get("image"):
        parts.append(f"image {query['image']}" + (f" cropped to {query['crop']}" if query.get("crop") else ""))
    if query.get("figure_id"):
        parts.append(f"figure {query['figure_id']}")
    weight = query.get("text_weight")
    if isinstance(weight, int | float) and (query.get("image") or query.get("figure_id")):
        parts.append(f"text weight {float(weight):.3f}")
    mode = query.get("mode", "")
    return (f"({mode}) " if mode else "") + ", ".join(parts)


def _components_text(comps: list[ComponentFact]) -> str:
    shown = ", ".join(f"{c['numeral']} {c['label']}".strip() for c in comps[:MAX_LISTED])
    more = f" (+{len(comps) - MAX_LISTED} more)" if len(comps) > MAX_LISTED else ""
    return shown + more


def _filters_text(filters: dict[str, object]) -> str:
    return "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in filters.items())


# ---------------------------------------------------------------- explain one hit


def explain_hit(services: Services, hits: list[Hit], rank: int) -> Explanation:
    """Why the hit #rank scored what it did: every modality's numbers, matched words and components, filters.

    Built only from the hit's breakdown and the patent's documents (title, FIG descriptions, the sheet's
    OCR-linked components). Raises ToolError when no hit has that rank.
    """
    hit = find_hit(hits, rank)
    f = _hit_facts(services, hit)
    lines = [_head(hit) + "."]
    if f["query"]:
        lines.append(f"Query {_query_words(f['query'])}.")
    weights = ", ".join(f"{m} {w:.3f}" for m, w in f["weights"].items())
    lines.append(f"Score {f['fused']:.3f}, by {METHOD_WORDS.get(f['method'], f['method'])}"
                 + (f"; weights {weights}." if weights else "."))
    for m, c in f["modalities"].items():
        lines.append(_modality_line(m, c, f["method"]))
    mods = f["modalities"]
    if len(mods) > 1 and f["top_modality"]:
        top = f["top_modality"]
        verb = "gave the score" if f["method"] == "max" else "contributed most"
        lines.append(f"{top} {verb} ({mods[top]['contribution']:.3f} of {f['fused']:.3f}).")
    if abs(f["recomputed"] - f["fused"]) > 0.0015:
        lines.append(f"(These contributions give {f['recomputed']:.3f}; the recorded score is {f['fused']:.3f}.)")
    if f["matched_terms"]:
        lines.append("Query words found in the sheet's linked text: " + ", ".join(f["matched_terms"]) + ".")
    elif f["query"].get("text"):
        lines.append("None of the query words occurs in the sheet's linked text.")
    if f["matched_components"]:
        lines.append("Components on this sheet that match the query: "
                     + _components_text(f["matched_components"]) + ".")
    if f["filters"]:
        lines.append("Filters applied: " + _filters_text(f["filters"]) + ".")
    for fig, text in list(f["fig_descriptions"].items())[:3]:
        label = "Sheet description" if fig == "sheet" else f"FIG. {fig}"
        lines.append(f'{label}: "{_clip(text)}"')
    if f["components"]:
        lines.append("Components read on the sheet: " + _components_text(f["components"]) + ".")
    if f["passages"]:
        lines.append(f'Matched passage: "{_clip(f["passages"][0])}"')
    return Explanation(text="\n".join(lines), facts=dict(f))


def _clip(text: str, n: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


# ---------------------------------------------------------------- explain a pair


def explain_pair(services: Services, hits: list[Hit], rank_a: int, rank_b: int) -> Explanation:
    """Why one hit ranks above another: which modality made the difference, with the numbers.

    The per-modality contributions (see the module docstring) of both hits are compared; the modality
    with the largest difference in favour of the higher-ranked hit made the difference. Also compared:
    matched query words, matched components, components both sheets show. Raises ToolError for a rank
    not in the set or the same rank twice.
    """
    if rank_a == rank_b:
        raise ToolError(f"#{rank_a} twice: name two different results, e.g. #1 and #3")
    a, b = find_hit(hits, rank_a), find_hit(hits, rank_b)
    hi, lo = (a, b) if a.rank < b.rank else (b, a)
    fh, fl = _hit_facts(services, hi), _hit_facts(services, lo)
    method = fh["method"]
    names = list(dict.fromkeys([*fh["modalities"], *fl["modalities"]]))
    diffs = {m: round(_contrib(fh, m) - _contrib(fl, m), 6) for m in names}
    decisive = max(diffs, key=lambda m: diffs[m]) if diffs else None
    lines = []
    if a.rank > b.rank:
        lines.append(f"#{a.rank} is not above #{b.rank}: #{b.rank} ranks higher. Here is why.")
    lines += [_head(hi) + f": score {fh['fused']:.3f}.", _head(lo) + f": score {fl['fused']:.3f}."]
    gap = fh["fused"] - fl["fused"]
    lines.append(f"Difference {gap:.3f}, both by {METHOD_WORDS.get(method, method)}."
                 if fl["method"] == method else
                 f"Difference {gap:.3f}; #{hi.rank} was fused by {method}, #{lo.rank} by {fl['method']}.")
    lines += _difference_lines(hi, lo, fh, fl, diffs, decisive)
    lines += _overlap_lines(hi, lo, fh, fl)
    th, tl = set(fh["matched_terms"]), set(fl["matched_terms"])
    facts: dict[str, object] = {
        "higher": fh,
        "lower": fl,
        "asked": [rank_a, rank_b],
        "score_difference": round(gap, 6),
        "modality_differences": diffs,
        "decisive_modality": decisive if decisive is not None and diffs[decisive] > 0 else None,
        "terms_only_higher": sorted(th - tl),
        "terms_only_lower": sorted(tl - th),
        "components_both_sheets": sorted(_labels(fh["components"]) & _labels(fl["components"])),
    }
    return Explanation(text="\n".join(lines), facts=facts)


def _contrib(f: HitFacts, m: str | None) -> float:
    c = f["modalities"].get(m) if m is not None else None
    return c["contribution"] if c else 0.0


def _norm(f: HitFacts, m: str) -> float:
    c = f["modalities"].get(m)
    return c["norm"] if c else 0.0


def _rank(f: HitFacts, m: str) -> int | None:
    c = f["modalities"].get(m)
    return c["rank"] if c else None


def _labels(comps: list[ComponentFact]) -> set[str]:
    return {normalise_label(c["label"]) for c in comps} - {""}


def _difference_lines(hi: Hit, lo: Hit, fh: HitFacts, fl: HitFacts, diffs: dict[str, float],
                      decisive: str | None) -> list[str]:
    """Per modality: which of the two hits it favoured, by how much, and the numbers behind that."""
    method = fh["method"]
    lines = []
    if method == "max" and decisive is not None:
        th, tl = fh["top_modality"], fl["top_modality"]
        lines.append(f"With max fusion each score is its best modality: #{hi.rank} takes {th} "
                     f"({_contrib(fh, th):.3f}), #{lo.rank} takes {tl} ({_contrib(fl, tl):.3f}).")
    for m, d in diffs.items():
        side = f"#{hi.rank}" if d > 0 else f"#{lo.rank}"
        detail = (f"rank {_rank(fh, m)} vs {_rank(fl, m)}"
                  if method == "rrf" else f"normalised {_norm(fh, m):.3f} vs {_norm(fl, m):.3f}")
        if m == decisive and d > 0:
            lines.append(f"{m} made the difference: {_contrib(fh, m):.3f} vs {_contrib(fl, m):.3f} "
                         f"(+{d:.3f}; {detail}).")
        elif abs(d) < 0.0005:
            lines.append(f"{m} was even: {_contrib(fh, m):.3f} vs {_contrib(fl, m):.3f} ({detail}).")
        else:
            lines.append(f"{m} favoured {side}: {_contrib(fh, m):.3f} vs {_contrib(fl, m):.3f} "
                         f"({d:+.3f}; {detail}).")
    if decisive is None or diffs[decisive] <= 0:
        lines.append(f"No modality favours #{hi.rank}; its higher rank comes from how the set was ordered.")
    return lines


def _overlap_lines(hi: Hit, lo: Hit, fh: HitFacts, fl: HitFacts) -> list[str]:
    """What the two hits share and where they differ: query words, matched components, components shown."""
    lines = []
    th, tl = set(fh["matched_terms"]), set(fl["matched_terms"])
    if th | tl:
        parts = []
        if th - tl:
            parts.append(f"only #{hi.rank} matches {', '.join(sorted(th - tl))}")
        if tl - th:
            parts.append(f"only #{lo.rank} matches {', '.join(sorted(tl - th))}")
        if th & tl:
            parts.append(f"both match {', '.join(sorted(th & tl))}")
        lines.append("Query words: " + "; ".join(parts) + ".")
    ch = {normalise_label(c["label"]) for c in fh["matched_components"]}
    cl = {normalise_label(c["label"]) for c in fl["matched_components"]}
    if ch != cl:
        lines.append(f"Matched components: #{hi.rank} {', '.join(sorted(ch)) or 'none'}; "
                     f"#{lo.rank} {', '.join(sorted(cl)) or 'none'}.")
    both = _labels(fh["components"]) & _labels(fl["components"])
    if both:
        lines.append(f"Components both sheets show: {', '.join(sorted(both)[:MAX_LISTED])}.")
    if hi.patent_id == lo.patent_id:
        lines.append(f"Both are sheets of {hi.patent_id}.")
    return lines


# ---------------------------------------------------------------- compare patents


def _key_terms(patents: list[Patent], n: int = 10) -> tuple[list[str], dict[str, list[str]]]:
    """Top tf-idf terms of titles, abstracts and claims: those in every patent, and those in only one."""
    docs = [" ".join(content_words(" ".join([p.title, p.title, p.abstract, *p.claims]))) for p in patents]
    if not any(docs):
        return [], {p.patent_id: [] for p in patents}
    stop = list(CONTENT_STOPWORDS | CLAIM_BOILERPLATE)
    vec = TfidfVectorizer(stop_words=stop, sublinear_tf=True, token_pattern=r"[a-z][a-z\-]+")
    matrix = vec.fit_transform(docs).toarray()
    terms = vec.get_feature_names_out()
    present = matrix > 0
    in_all = present.all(axis=0)
    counts = present.sum(axis=0)
    shared_idx = sorted((i for i in range(len(terms)) if in_all[i]), key=lambda i: (-matrix[:, i].sum(), terms[i]))
    shared = _dedupe([str(terms[i]) for i in shared_idx], n)
    distinct: dict[str, list[str]] = {}
    for row, p in enumerate(patents):
        idx = sorted((i for i in range(len(terms)) if present[row, i] and counts[i] == 1),
                     key=lambda i: (-matrix[row, i], terms[i]))
        distinct[p.patent_id] = _dedupe([str(terms[i]) for i in idx], n)
    return shared, distinct


def _dedupe(terms: list[str], n: int) -> list[str]:
    """Keep the first n terms, skipping a word already inside a kept phrase (and a phrase of kept words)."""
    out: list[str] = []
    for t in terms:
        words = t.split()
        if any(t in o.split() or set(words) <= set(o.split()) for o in out):
            continue
        out = [o for o in out if not set(o.split()) < set(words)] + [t]
        if len(out) == n:
            break
    return out


def compare(services: Services, hits: list[Hit] | None = None, patent_ids: list[str] | None = None) -> Comparison:
    """What the patents of some hits (or the given patent ids) share and what distinguishes each.

    Components are compared by normalised label: with hits, the OCR-linked components of those hits'
    sheets (a patent whose sheets have none falls back to the reference signs named in its text); with
    patent ids, all reference signs of each patent. Also compared: CPC subclasses, figure kinds, and
    tf-idf key terms of titles, abstracts and claims. Needs at least two different patents.
    """
    patents = _compared_patents(services, hits, patent_ids)
    ids = [p.patent_id for p in patents]
    comps, source, kinds = _patent_components(services, patents, hits)
    everyone = set.intersection(*comps.values())
    holders: dict[str, list[str]] = {}
    for pid, labels in comps.items():
        for lab in labels:
            holders.setdefault(lab, []).append(pid)
    subclasses = {p.patent_id: {c.replace(" ", "").upper()[:4] for c in p.cpc if len(c.strip()) >= 4}
                  for p in patents}
    terms_shared, terms_distinct = _key_terms(patents)
    comparison = Comparison(
        patent_ids=ids,
        titles={p.patent_id: p.title for p in patents},
        component_source=source,
        shared_components=sorted(everyone),
        partly_shared_components={lab: pids for lab, pids in sorted(holders.items()) if 1 < len(pids) < len(ids)},
        distinct_components={pid: sorted(lab for lab in labels if len(holders[lab]) == 1)
                             for pid, labels in comps.items()},
        cpc_shared=sorted(set.intersection(*subclasses.values())),
        cpc_distinct={pid: sorted(s - set().union(*(v for q, v in subclasses.items() if q != pid)))
                      for pid, s in subclasses.items()},
        kinds=kinds,
        key_terms_shared=terms_shared,
        key_terms_distinct=terms_distinct,
        text="",
    )
    comparison.text = _comparison_text(comparison)
    return comparison


def _compared_patents(services: Services, hits: list[Hit] | None, patent_ids: list[str] | None) -> list[Patent]:
    """The distinct patents of the hits (or the patent ids), in order; a ToolError unless 2+ are indexed."""
    if hits:
        ids = list(dict.fromkeys(h.patent_id for h in hits))
    elif patent_ids:
        ids = list(dict.fromkeys(p.strip().upper().replace(" ", "") for p in patent_ids if p.strip()))
    else:
        raise ToolError("compare needs results (e.g. #1 #3 #4) or patent ids (e.g. US12448135, EP1577413)")
    if len(ids) < 2:
        raise ToolError(f"these results all come from {ids[0] if ids else 'no patent'}; "
                        "compare needs figures of at least two different patents")
    patents = []
    for pid in ids:
        p = patent_of(services, pid)
        if p is None:
            known = sorted(services.store.facets()["patent_ids"])
            raise ToolError(f"unknown patent id {pid!r}; patents in the index: {', '.join(known[:30])}"
                            + (" ..." if len(known) > 30 else ""))
        patents.append(p)
    return patents


def _patent_components(
    services: Services, patents: list[Patent], hits: list[Hit] | None
) -> tuple[dict[str, set[str]], dict[str, str], dict[str, dict[str, int]]]:
    """Per patent: its normalised component labels, where they come from ("figures" or "text"), its kinds."""
    comps: dict[str, set[str]] = {}
    source: dict[str, str] = {}
    kinds: dict[str, dict[str, int]] = {}
    for p in patents:
        if hits:
            sheets = [s for h in hits if h.patent_id == p.patent_id
                      for s in [services.store.sheet(h.figure_id)] if s is not None]
        else:
            sheets = services.store.sheets(p.patent_id)
        kinds[p.patent_id] = dict(Counter(s.kind for s in sheets).most_common())
        labels = {normalise_label(c.label) for s in sheets for c in s.components} - {""}
        if hits and labels:
            source[p.patent_id] = "figures"
        else:
            labels = {normalise_label(lab) for r in p.refsigns.values() for lab in r.labels[:1]} - {""}
            source[p.patent_id] = "text"
        comps[p.patent_id] = labels
    return comps, source, kinds


def _comparison_text(c: Comparison) -> str:
    """The comparison for the user, quoting only its fields."""
    ids = c.patent_ids
    lines = [", ".join(f'{pid} "{c.titles[pid]}"' for pid in ids) + "."]
    lines.append(f"Components in all of them: {_listing(c.shared_components)}." if c.shared_components
                 else "No component label occurs in all of them.")
    for lab, pids in list(c.partly_shared_components.items())[:MAX_LISTED]:
        lines.append(f"- {lab}: in {', '.join(pids)}")
    for pid in ids:
        src = "on the compared figures" if c.component_source[pid] == "figures" else "named in the text"
        lines.append(f"Only {pid} ({src}): {_listing(c.distinct_components[pid]) or 'nothing'}.")
    lines.append(f"CPC subclasses in common: {', '.join(c.cpc_shared) or 'none'}"
                 + "".join(f"; only {pid}: {', '.join(v)}" for pid, v in c.cpc_distinct.items() if v) + ".")
    lines.append("Figure kinds: " + "; ".join(
        f"{pid} " + ", ".join(f"{n} {k}" for k, n in c.kinds[pid].items()) for pid in ids) + ".")
    lines.append(f"Key terms in common (titles, abstracts, claims): {', '.join(c.key_terms_shared) or 'none'}.")
    for pid in ids:
        if c.key_terms_distinct.get(pid):
            lines.append(f"Key terms only in {pid}: {', '.join(c.key_terms_distinct[pid][:6])}.")
    return "\n".join(lines)


def _listing(items: list[str]) -> str:
    more = f" (+{len(items) - MAX_LISTED * 2} more)" if len(items) > MAX_LISTED * 2 else ""
    return ", ".join(items[: MAX_LISTED * 2]) + more
