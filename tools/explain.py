"""Why a hit is where it is, why one hit is above another, and what a group of patents shares.

Explanations are built only from each hit's `Breakdown` (per-modality raw score, rank, normalised and,
when the search computed it, calibrated score; fused score, method, weights, matched terms and components,
filters) and from the indexed documents (title, FIG descriptions, components). Nothing is invented: every
number in the text is in `facts`. The sentences themselves are written by `tools.explain_words`;
the facts' types are in `tools.explain_facts`.

Contributions per modality follow `tools.fusion`: for ``avg`` and ``max`` a modality contributes
weight / sum(weights) × its calibrated score, or its normalised score when the search computed no
calibrated one (avg adds them up, max takes the largest); for ``rrf`` it contributes weight / (60 + rank).
A modality missing from a hit's breakdown contributes 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer

from core.calibration import sigmoid
from core.errors import ToolError
from core.textnorm import CLAIM_BOILERPLATE, CONTENT_STOPWORDS, content_words, normalise_label
from core.types import Breakdown, Hit, ModalityScore, Patent, Sheet
from runtime.services import Services
from tools.explain_facts import Comparison, ComponentFact, Contribution, Explanation, HitFacts
from tools.explain_words import comparison_text, hit_text, pair_text
from tools.fusion import ODDS_CLIP, RRF_K, clipped_logit
from tools.search import patent_of, query_terms

# ---------------------------------------------------------------- helpers


LINKED_MODES = ("text", "image", "image+text")  # searches whose matched terms are the query's words in linked text


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
    floors = bd.query.get("floors")  # a modality held at another floor than the clip, for this query
    floor = {str(m): float(f) for m, f in floors.items()} if isinstance(floors, dict) else {}
    out: dict[str, Contribution] = {}
    for m in names:
        ms = bd.modalities.get(m)
        w = weights.get(m, 0.0)
        share = w / total
        cal = ms.calibrated if ms else None
        if bd.method == "rrf":
            contrib = w / (RRF_K + ms.rank) if ms else 0.0
        elif bd.method == "single" and ms is not None and len(bd.modalities) == 1:
            contrib = bd.fused  # one modality: the score is that modality's (calibrated or raw) score
        elif bd.method == "odds":  # its share of the log-odds sum (tools.fusion); absent counts as relevance 0
            contrib = share * clipped_logit(cal if cal is not None else 0.0, floor.get(m, ODDS_CLIP))
        elif bd.method == "avg" and cal is not None:
            contrib = share * cal  # calibrated fusion: the weighted mean of the calibrated scores (tools.fusion)
        elif bd.method == "max" and cal is not None:
            contrib = cal
        else:
            contrib = share * _fused_value(ms) if ms else 0.0
        out[m] = {
            "present": ms is not None,
            "raw": ms.raw if ms else None,
            "norm": ms.norm if ms else 0.0,
            "calibrated": getattr(ms, "calibrated", None) if ms else None,
            "rank": ms.rank if ms else None,
            "path": ms.path if ms else "",
            "weight": w,
            "share": round(share, 6),
            "contribution": round(contrib, 6),
        }
    return out


def _fused_value(ms: ModalityScore) -> float:
    """The per-modality score that avg/max fusion combines: the calibrated one when the search computed it."""
    calibrated = getattr(ms, "calibrated", None)
    return float(calibrated) if calibrated is not None else ms.norm


def _recomputed(method: str, contrib: dict[str, Contribution]) -> float:
    """The fused score as the contributions give it, the way `tools.fusion.fuse` combined them."""
    values = [c["contribution"] for c in contrib.values()]
    if not values:
        return 0.0
    if method == "odds":  # the contributions are log-odds shares (tools.fusion)
        return sigmoid(sum(values))
    return max(values) if method == "max" else sum(values)


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


def _hit_facts(services: Services, hit: Hit, set_size: int) -> HitFacts:
    bd = hit.breakdown
    contrib = contributions(bd)
    sheet, _patent, descs = _documents(services, hit)
    top = max(contrib, key=lambda m: contrib[m]["contribution"]) if contrib else None
    return {
        "rank": hit.rank,
        "set_size": set_size,
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
        "matched_in": dict(bd.matched_in),
        "passage": bd.passage,
        "passage_kind": bd.passage_kind,
        "filters": dict(bd.filters),
        "query": dict(bd.query),
        "query_terms": query_terms(str(bd.query.get("text") or "")) if bd.query.get("mode") in LINKED_MODES else [],
        "fig_descriptions": descs,
        "components": [{"numeral": c.numeral, "label": c.label} for c in (sheet.components if sheet else [])],
        "passages": list(hit.passages[:2]),
    }


# ---------------------------------------------------------------- explain one hit


def explain_hit(services: Services, hits: list[Hit], rank: int) -> Explanation:
    """Why the hit #rank scored what it did: every modality's numbers, matched words and components, filters.

    Built only from the hit's breakdown and the patent's documents (title, FIG descriptions, the sheet's
    OCR-linked components). Raises ToolError when no hit has that rank.
    """
    hit = find_hit(hits, rank)
    f = _hit_facts(services, hit, len(hits))
    return Explanation(text=hit_text(f), facts=dict(f))


# ---------------------------------------------------------------- explain a pair


def explain_pair(services: Services, hits: list[Hit], rank_a: int, rank_b: int) -> Explanation:
    """Why one hit ranks above another: which modality made the difference, with the numbers.

    The per-modality contributions (see the module docstring) of both hits are compared; the modality
    with the largest difference in favour of the higher-ranked hit made the difference (with ``max``
    fusion, the modality that gave the higher hit its score). Also compared:
    matched query words, matched components, components both sheets show. Raises ToolError for a rank
    not in the set or the same rank twice.
    """
    if rank_a == rank_b:
        raise ToolError(f"#{rank_a} twice: name two different results, e.g. #1 and #3")
    a, b = find_hit(hits, rank_a), find_hit(hits, rank_b)
    hi, lo = (a, b) if a.rank < b.rank else (b, a)
    fh, fl = _hit_facts(services, hi, len(hits)), _hit_facts(services, lo, len(hits))
    names = list(dict.fromkeys([*fh["modalities"], *fl["modalities"]]))
    diffs = {m: round(_contrib(fh, m) - _contrib(fl, m), 6) for m in names}
    decisive = max(diffs, key=lambda m: diffs[m]) if diffs else None
    if fh["method"] == "max" and fh["top_modality"] in diffs:
        decisive = fh["top_modality"]  # with max, only the best weighted score of each hit counts
    gap = fh["fused"] - fl["fused"]
    decisive = decisive if decisive is not None and diffs[decisive] > 0 else None
    th, tl = set(fh["matched_terms"]), set(fl["matched_terms"])
    facts: dict[str, object] = {
        "higher": fh,
        "lower": fl,
        "asked": [rank_a, rank_b],
        "score_difference": round(gap, 6),
        "modality_differences": diffs,
        "decisive_modality": decisive,
        "terms_only_higher": sorted(th - tl),
        "terms_only_lower": sorted(tl - th),
        "components_both_sheets": sorted(_labels(fh["components"]) & _labels(fl["components"])),
    }
    return Explanation(text=pair_text(fh, fl, (rank_a, rank_b), diffs, decisive), facts=facts)


def _contrib(f: HitFacts, m: str | None) -> float:
    c = f["modalities"].get(m) if m is not None else None
    return c["contribution"] if c else 0.0


def _labels(comps: list[ComponentFact]) -> set[str]:
    return {normalise_label(c["label"]) for c in comps} - {""}


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
    comparison.text = comparison_text(comparison)
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
