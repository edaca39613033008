"""Reference-sign lookup, both ways: a sign within a patent → where it is drawn and described; a
component name across the corpus → the figures whose OCR-linked components match it."""

from __future__ import annotations

import re
from typing import cast

import numpy as np
from pydantic import BaseModel, Field

from core.defaults import DEFAULT_K
from core.errors import ToolError
from core.filters import Filters
from core.types import Box, Breakdown, Component, Hit, ModalityScore, RefSign
from runtime.services import Services
from tools.fusion import normalise, ranks
from tools.relevance import curves_for
from tools.search import check_k, check_text, make_hit, patent_of, prefetch

NAME_THRESHOLD = 0.55  # cosine between a component name and a label, below which they are not the same part


class SheetMention(BaseModel):
    """A sheet on which OCR found the sign."""

    figure_id: str
    sheet_no: int
    figs: list[str]
    boxes: list[Box]


class RefSignLookup(BaseModel):
    """Everything the index knows about one reference sign of one patent."""

    patent_id: str
    numeral: str
    labels: list[str]
    sentences: list[str]
    sheets: list[SheetMention] = Field(default_factory=list)
    described_figs: list[str] = Field(default_factory=list)  # FIGs whose text mentions the sign

    def summary(self) -> str:
        where = ", ".join(f"sheet {s.sheet_no} (FIG {','.join(s.figs) or '?'})" for s in self.sheets)
        return (f"{self.patent_id} sign {self.numeral}: {self.labels[0] if self.labels else '(no label)'}; "
                f"drawn on {where or 'no sheet found by OCR'}")


def _find_sign(refsigns: dict[str, RefSign], query: str) -> RefSign | None:
    q = query.strip().lower()
    if q in refsigns:
        return refsigns[q]
    for num, sign in refsigns.items():
        if num.lower() == q:
            return sign
    # by name: exact label first, then containment
    for sign in refsigns.values():
        if any(lbl.lower() == q for lbl in sign.labels):
            return sign
    for sign in refsigns.values():
        if any(q in lbl.lower() for lbl in sign.labels):
            return sign
    return None


def lookup_refsign(services: Services, patent_id: str, sign: str) -> RefSignLookup:
    """A numeral ("104") or component name ("motor") within a patent → its labels, sentences and sheets."""
    pid = patent_id.strip().upper().replace(" ", "")
    patent = patent_of(services, pid)
    if patent is None:
        known = ", ".join(sorted(services.store.complete_ids())[:30])
        raise ToolError(f"no patent {patent_id!r} in the index; indexed patents include: {known}")
    if not sign or not sign.strip():
        raise ToolError("say which sign: a numeral like '104' or a component name like 'motor'")
    found = _find_sign(patent.refsigns, sign)
    if found is None:
        examples = ", ".join(f"{s.numeral} {s.label}" for s in list(patent.refsigns.values())[:12])
        hint = f"; its signs include: {examples}" if examples else "; this document has no reference signs"
        raise ToolError(f"{patent.patent_id} has no reference sign {sign!r}{hint}")
    mentions = []
    for sheet in services.store.sheets(pid):
        boxes = [b for c in sheet.components if c.numeral == found.numeral for b in c.boxes]
        if boxes:
            mentions.append(SheetMention(figure_id=sheet.figure_id, sheet_no=sheet.sheet_no, figs=sheet.figs,
                                         boxes=boxes))
    pattern = re.compile(rf"\b{re.escape(found.numeral)}\b")
    described = [f.fig for f in patent.figures if pattern.search(f.text)]
    return RefSignLookup(patent_id=pid, numeral=found.numeral, labels=found.labels, sentences=found.sentences[:8],
                         sheets=mentions, described_figs=described)


def _label_vectors(services: Services, labels: list[str]) -> dict[str, np.ndarray]:
    cache = cast("dict[str, np.ndarray]", services.extras.setdefault("label_vectors", {}))
    missing = [lbl for lbl in labels if lbl not in cache]
    if missing:
        for lbl, vec in zip(missing, services.text.embed_texts(missing), strict=True):
            cache[lbl] = np.asarray(vec, dtype=np.float32)
    return cache


def find_component(services: Services, name: str, *, k: int = DEFAULT_K, filters: Filters | None = None) -> list[Hit]:
    """Figures across the corpus whose OCR-linked components match a component name ("nacelle", "gripping unit")."""
    name = check_text(name)
    check_k(k)
    labels = services.store.component_labels()
    if not labels:
        return []
    vecs = _label_vectors(services, labels)
    q = np.asarray(services.text.embed_texts([name])[0], dtype=np.float32)
    sim = {lbl: float(vecs[lbl] @ q) for lbl in labels}
    lowered = name.lower()
    for lbl in labels:
        if lowered in lbl.lower():
            sim[lbl] = max(sim[lbl], 1.0)
    by_sheet = services.store.components_labelled([lbl for lbl in labels if sim[lbl] >= NAME_THRESHOLD])
    if filters is not None and not filters.is_empty():
        meta = services.store.metadata(sorted(by_sheet))
        by_sheet = {fid: c for fid, c in by_sheet.items() if fid in meta and filters.match(meta[fid])}
    scores: dict[str, float] = {}
    matched: dict[str, list[Component]] = {}
    for fid, comps in by_sheet.items():
        scores[fid] = max(sim[c.label] for c in comps) + 0.01 * min(len(comps), 5)  # more parts break ties
        matched[fid] = sorted(comps, key=lambda c: -sim[c.label])
    norm, rank = normalise(scores), ranks(scores)
    curve = curves_for(services, ("text",))["text"]  # a part's name is one of the figure's text passages
    hits: list[Hit] = []
    top = sorted(scores, key=lambda i: rank[i])[:k]
    sheets = prefetch(services, top)
    for fid in top:
        best = round(min(1.0, max(sim[c.label] for c in matched[fid])), 4)
        relevance = round(curve(best), 4)
        bd = Breakdown(
            modalities={"component": ModalityScore(raw=best, norm=round(norm[fid], 4), calibrated=relevance,
                                                   rank=rank[fid], path="component_label")},
            fused=relevance,
            method="single",
            weights={"component": 1.0},
            matched_components=matched[fid],
            matched_terms=[name],
            filters=filters.describe() if filters else {},
            query={"mode": "component", "text": name},
        )
        hit = make_hit(services, fid, len(hits) + 1, relevance, bd, sheets.get(fid))
        if hit is not None:
            hits.append(hit)
    return hits
