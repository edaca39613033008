"""Late fusion of per-modality score lists, keeping every number that went into each fused score.

Scores from different modalities live on different scales (cosine of CLIP vs. cosine of MiniLM vs.
bm25), so each modality's scores are min-max normalised over the candidate pool before they are
combined. Methods, as in Pustu-Iren et al. (2021) plus reciprocal-rank fusion:

- ``avg``: weighted mean of the normalised scores (weights renormalised over modalities present);
- ``max``: the largest weighted normalised score;
- ``rrf``: sum over modalities of weight / (60 + rank).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.types import ModalityScore

METHODS = ("avg", "max", "rrf")
RRF_K = 60


@dataclass
class Fused:
    """One candidate after fusion."""

    id: str
    score: float
    modalities: dict[str, ModalityScore]


def normalise(scores: dict[str, float]) -> dict[str, float]:
    """Min-max normalise to [0, 1]; a list of equal scores maps to 1.0."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo < 1e-12:
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / (hi - lo) for k, v in scores.items()}


def ranks(scores: dict[str, float]) -> dict[str, int]:
    """1-based ranks, best first; ties broken by id for determinism."""
    order = sorted(scores, key=lambda i: (-scores[i], i))
    return {i: r + 1 for r, i in enumerate(order)}


def fuse(
    lists: dict[str, dict[str, float]],
    weights: dict[str, float],
    method: str = "avg",
    paths: dict[str, str] | None = None,
) -> list[Fused]:
    """Fuse modality → {id: raw score} lists into one ranking, best first.

    A candidate missing from a modality gets normalised score 0 there (and no rank) — callers that can
    score every candidate in every modality should do so first, as `tools.search` does.
    """
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; use one of {', '.join(METHODS)}")
    active = {m: w for m, w in weights.items() if m in lists and lists[m] and w > 0}
    if not active:
        return []
    total_w = sum(active.values())
    norm = {m: normalise(lists[m]) for m in active}
    rank = {m: ranks(lists[m]) for m in active}
    ids = sorted({i for m in active for i in lists[m]})
    out = []
    for i in ids:
        mods = {
            m: ModalityScore(
                raw=round(lists[m][i], 6),
                norm=round(norm[m][i], 6),
                rank=rank[m][i],
                path=(paths or {}).get(m, m),
            )
            for m in active
            if i in lists[m]
        }
        if method == "avg":
            score = sum(active[m] / total_w * norm[m].get(i, 0.0) for m in active)
        elif method == "max":
            score = max(active[m] / total_w * norm[m].get(i, 0.0) for m in active)
        else:
            score = sum(active[m] / (RRF_K + rank[m][i]) for m in active if i in rank[m])
        out.append(Fused(i, round(score, 6), mods))
    out.sort(key=lambda f: (-f.score, f.id))
    return out
