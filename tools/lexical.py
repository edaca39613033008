"""Lexical boolean search (VisPat style) and semantic passage search: patents, then their figures.

Lexical queries use SQLite FTS5 over the fields title, abstract, claims, description and figures
(FIG descriptions plus each sheet's linked text). Syntax::

    windmill AND turbine                 both words anywhere
    description:nacelle NOT claims:blade field restriction, boolean NOT
    title:"wind turbine"                 a phrase in one field
    text:windmill                        text: means any field
    hoist*                               prefix
"""

from __future__ import annotations

import re

from core.defaults import DEFAULT_K
from core.errors import StoreError, ToolError
from core.filters import Filters
from core.types import Breakdown, Hit, ModalityScore
from runtime.services import Services
from store.index import LEXICAL_FIELDS, EncoderId, VectorHit
from tools.filtering import apply_filters
from tools.fusion import normalise, ranks
from tools.relevance import curves_for
from tools.search import check_k, check_text, make_hit, matched_terms, query_terms
from tools.words import coverage, idf

FIELD_ALIASES = {"figure": "figures", "fig": "figures", "figs": "figures", "claim": "claims", "desc": "description"}
TOKEN = re.compile(r'"[^"]*"|\(|\)|[^\s()"]+:"[^"]*"|[^\s()]+')


def to_fts(query: str) -> str:
    """Translate a VisPat-style boolean query to FTS5 syntax, or raise ToolError saying what is wrong."""
    q = check_text(query)
    if q.count('"') % 2:
        raise ToolError(f"unbalanced quotes in {query!r}: close every \" you open")
    if q.count("(") != q.count(")"):
        raise ToolError(f"unbalanced parentheses in {query!r}")
    out: list[str] = []
    for tok in TOKEN.findall(q):
        upper = tok.upper()
        if upper in ("AND", "OR", "NOT"):
            out.append(upper)
            continue
        if tok in ("(", ")") or tok.startswith('"'):
            out.append(tok)
            continue
        field, sep, term = tok.partition(":")
        if sep and not term:
            raise ToolError(f"{tok!r} names a field but no term; write e.g. title:turbine")
        if sep:
            name = FIELD_ALIASES.get(field.lower(), field.lower())
            if name == "text":
                out.append(_term(term))
                continue
            if name not in LEXICAL_FIELDS:
                raise ToolError(f"unknown field {field!r}; fields: {', '.join(LEXICAL_FIELDS)} (or text: for all)")
            out.append(f"{name}:{_term(term)}")
        elif re.search(r"\w", tok):  # a token without a word ("+", "-") says nothing
            out.append(_term(tok))
    ops = [t for t in out if t in ("AND", "OR", "NOT")]
    if not out or len(ops) == len(out) or out[0] in ("AND", "OR", "NOT") or out[-1] in ("AND", "OR", "NOT"):
        raise ToolError(f"{query!r} has an operator without a term on both sides" if ops else
                        f"{query!r} has no word to search for")
    fts = " ".join(_explicit_and(out))
    if "( )" in fts:
        raise ToolError(f"{query!r} has brackets with nothing inside")
    return fts


def _term(t: str) -> str:
    """One term as an FTS5 string: its words as a phrase, the way the index split them ("a/b" → "a b", "tank,"
    → "tank"), a prefix star kept."""
    if t.startswith('"'):
        return t
    star = t.endswith("*")
    words = re.findall(r"\w+", t.rstrip("*"))
    if not words:
        raise ToolError(f"{t!r} is not a search term")
    return f'"{" ".join(words)}"' + ("*" if star else "")


def _explicit_and(parts: list[str]) -> list[str]:
    """FTS5 reads two terms side by side as AND, but not a term beside a bracket ('"tank" ( "valve" )' is a syntax
    error): say AND there."""
    out: list[str] = []
    for p in parts:
        if out and out[-1] not in ("AND", "OR", "NOT", "(") and p not in ("AND", "OR", "NOT", ")") and \
                (out[-1] == ")" or p == "("):
            out.append("AND")
        out.append(p)
    return out


def _positive_terms(query: str) -> list[str]:
    """Terms the user wants found (not after NOT), for matched-term reporting."""
    terms, negate = [], False
    for tok in TOKEN.findall(query):
        if tok.upper() == "NOT":
            negate = True
            continue
        if tok.upper() in ("AND", "OR") or tok in ("(", ")"):
            continue
        if not negate:
            terms.extend(query_terms(tok.partition(":")[2] if ":" in tok else tok))
        negate = False
    return terms


def search_lexical(services: Services, query: str, *, k: int = DEFAULT_K, filters: Filters | None = None) -> list[Hit]:
    """Boolean, field-restricted search: matching patents by bm25, each with its figures in sheet order."""
    check_k(k)
    fts = to_fts(query)
    try:
        rows = services.store.lexical(fts, k=200)
    except StoreError as e:
        raise ToolError(f"could not parse {query!r} as a boolean query ({e}); "
                        'use AND, OR, NOT, field:term and "phrases"') from None
    scores = {pid: score for pid, score, _ in rows}
    snippets = {pid: snip for pid, _, snip in rows}
    norm, rank = normalise(scores), ranks(scores)
    terms = _positive_terms(query)
    # Each figure of a matching patent is scored by the words it holds itself (tools.words.coverage), on the
    # calibrated scale of word matching; the patents' bm25 orders figures that hold the same share of words.
    sheets = [s for pid, _, _ in rows for s in services.store.sheets(pid)]
    ids = [s.figure_id for s in sheets]
    fields, stems = services.store.figure_fields(ids), services.store.figure_stems(ids)
    weights = idf(services, terms)
    curve = curves_for(services, ("words",))["words"]
    found = {i: coverage(terms, weights, fields.get(i, {}), stems=stems.get(i)) for i in ids}
    order = sorted(sheets, key=lambda s: (-found[s.figure_id][0], rank[s.patent_id], s.sheet_no, s.figure_id))
    hits: list[Hit] = []
    for fig_rank, sheet in enumerate(order, 1):
        pid = sheet.patent_id
        share, places = found[sheet.figure_id]
        relevance = round(curve(share), 4)
        bd = Breakdown(
            modalities={"lexical": ModalityScore(raw=round(share, 4), norm=round(norm[pid], 4), calibrated=relevance,
                                                 rank=fig_rank, path="figure_words")},
            fused=relevance,
            method="single",
            weights={"lexical": 1.0},
            matched_terms=matched_terms(terms, " ".join(snippets[pid].values()) + " " + sheet.linked_text()),
            matched_in=places,
            query={"mode": "lexical", "text": query, "fts": fts, "patent_bm25": round(scores[pid], 4)},
        )
        hit = make_hit(services, sheet.figure_id, len(hits) + 1, relevance, bd, sheet)
        if hit is not None:
            hit.passages = [f"{f}: {s}" for f, s in snippets[pid].items()]
            hits.append(hit)
    if filters is not None and not filters.is_empty():
        hits = apply_filters(services, hits, filters)
    return hits[:k]


def search_passages(
    services: Services, text: str, *, k: int = 10, filters: Filters | None = None
) -> list[Hit]:
    """Semantic search over patent text passages: one hit per patent (its best-matching figure), with passages."""
    text = check_text(text)
    check_k(k)
    services.store.check_encoder("text", EncoderId(services.text.name, services.text.dim))
    qv = services.text.embed_texts([text])[0]
    found = services.store.query_passages(qv, k=min(200, k * 10), filters=filters)
    by_patent: dict[str, list[VectorHit]] = {}
    for vh in found:
        by_patent.setdefault(str(vh.meta["patent_id"]), []).append(vh)
    best = {pid: max(v.similarity for v in vhs) for pid, vhs in by_patent.items()}
    norm, rank = normalise(best), ranks(best)
    terms = query_terms(text)
    hits: list[Hit] = []
    for pid in sorted(best, key=lambda p: rank[p]):
        sheet_filters = (filters or Filters()).model_copy(update={"include_ids": [pid]})
        sheet_hits = services.store.query_text(qv, 1, sheet_filters)
        if not sheet_hits:
            continue
        bd = Breakdown(
            modalities={"passage": ModalityScore(raw=round(best[pid], 4), norm=round(norm[pid], 4), rank=rank[pid],
                                                 path="passage_text")},
            fused=round(best[pid], 4),
            method="single",
            weights={"passage": 1.0},
            matched_terms=matched_terms(terms, " ".join(v.document or "" for v in by_patent[pid])),
            filters=filters.describe() if filters else {},
            query={"mode": "passages", "text": text},
        )
        hit = make_hit(services, sheet_hits[0].id, len(hits) + 1, round(best[pid], 4), bd)
        if hit is None:
            continue
        top = sorted(by_patent[pid], key=lambda v: -v.similarity)[:3]
        hit.passages = [f"{v.meta.get('field')} ({v.similarity:.3f}): {v.document}" for v in top]
        hits.append(hit)
        if len(hits) >= k:
            break
    return hits
