"""Views of one design together: each unit also scores as the best-matching view of its patent.

A design patent shows one article in several views (front, side, top, perspective); a global descriptor
finds the view that looks like the query, not the others, which look different. Patent-level aggregation
adds, as a modality of its own (``views``), each candidate's *patent's* best visual similarity to the query
(over the units of that patent among the candidates, the candidate itself included). Fused with the
candidate's own visual score on the calibrated scale (`tools.fusion`, the visual curve for both), a strongly
matched front view brings the perspective, top and side views of its design up behind it, while among one
patent's units their own similarity still orders them. The patents of the first `TOP_PATENTS` candidates
have all their units scored, so views outside the first candidates come in too.

Measured on `patfig eval`'s design and re-identification protocols as mode ``visual_views`` against
``visual`` (README), with the weight `BETA` of the patent's best view. The first candidate never moves (its
patent's best view is itself, and no candidate scores above it), so the first hit is the visual one; the
best *other* view or the mean of a patent's best views, which could move it, cost P@1 on both halves of the
sample, and a larger `BETA` only groups each patent's units more (bench/design_aggregation.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.index import FigureStore

BETA = 0.5  # the share of the drawing's weight given to the patent's best view
TOP_PATENTS = 5  # the patents of this many first candidates bring all their units in
MODALITY, PATH = "views", "best_view_of_patent"


def patents(store: FigureStore, ids: Sequence[str]) -> dict[str, str]:
    """Each of these figures' patent id, from the index's metadata (a figure not in the index has none)."""
    return {i: str(m.get("patent_id", "")) for i, m in store.metadata(list(ids)).items()}


def patent_best(scores: Mapping[str, float], patent_of: Mapping[str, str]) -> dict[str, float]:
    """For each unit, the best score among the units of its patent (itself included)."""
    best: dict[str, float] = {}
    for i, s in scores.items():
        pid = patent_of.get(i, i)
        best[pid] = max(best.get(pid, s), s)
    return {i: best[patent_of.get(i, i)] for i in scores}


def top_patents(ranked: list[str], patent_of: Mapping[str, str], n: int = TOP_PATENTS) -> list[str]:
    """The patents of the first candidates, best first, at most n."""
    return list(dict.fromkeys(patent_of[i] for i in ranked if i in patent_of))[:n]
