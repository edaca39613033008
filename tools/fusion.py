"""Late fusion of per-modality score lists, keeping every number that went into each fused score.

Scores from different modalities live on different scales (cosine of CLIP vs. cosine of MiniLM vs.
bm25). Each modality's raw score is first mapped to a calibrated relevance, the probability that the
figure is relevant (`core.calibration`: one curve per modality, fitted on the index and the same for
every query), and the calibrated scores are combined. Methods, as in Pustu-Iren et al. (2021) plus
reciprocal-rank fusion:

- ``odds`` (default): the weighted mean of the calibrated scores' log-odds, mapped back to a relevance:
  sigmoid(sum of w_m / W * logit(p_m)), each p_m clipped to [0.01, 0.99] so that no single modality is
  ever certain (a query may hold a modality's evidence against a candidate at a lower floor: `fuse`'s
  `floors`). Independent evidence adds in log-odds (naive Bayes); the clip and the weights keep one
  modality's near-certain look-alikes from outweighing the other. Chosen on `patfig eval`'s protocols
  (README: re-identification, design re-identification and families, with the "more like this" text
  weight 0.7), where it beat ``avg`` on each;
- ``avg``: the weighted mean of the calibrated scores (weights renormalised over modalities present),
  itself a relevance on the same scale; the default before ``odds``;
- ``max``: the largest calibrated score among the weighted modalities;
- ``rrf``: sum over modalities of weight / (60 + rank);
- ``minmax``: the weighted mean of scores min-max normalised over the candidate pool, as patfig did before
  calibration. Its scores always run from 1 for the best candidate to 0 for the worst, whatever the query,
  so they rank but do not say how good a match is; `patfig eval` keeps it for comparison.

A candidate missing from a modality's list counts as calibrated relevance 0 there.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.calibration import UNCALIBRATED, Curve, logit, sigmoid
from core.types import ModalityScore

METHODS = ("odds", "avg", "max", "rrf", "minmax")
DEFAULT_METHOD = "odds"
RRF_K = 60
ODDS_CLIP = 0.01  # "odds" fusion: each calibrated score is held within [this, 1 - this] before its logit


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


def clipped_logit(p: float, floor: float = ODDS_CLIP) -> float:
    """The log-odds an ``odds`` fusion adds up: of `p` held within [floor, 1 - ODDS_CLIP]."""
    return logit(min(1.0 - ODDS_CLIP, max(floor, p)))


def ranks(scores: dict[str, float]) -> dict[str, int]:
    """1-based ranks, best first; ties broken by id for determinism."""
    order = sorted(scores, key=lambda i: (-scores[i], i))
    return {i: r + 1 for r, i in enumerate(order)}


def fuse(
    lists: dict[str, dict[str, float]],
    weights: dict[str, float],
    method: str = DEFAULT_METHOD,
    paths: dict[str, str] | None = None,
    curves: dict[str, Curve] | None = None,
    floors: dict[str, float] | None = None,
) -> list[Fused]:
    """Fuse modality → {id: raw score} lists into one ranking, best first.

    `curves` maps each modality to its calibration curve (a modality without one keeps its raw score
    clipped to [0, 1]). `floors` holds a modality's calibrated score above a floor other than ODDS_CLIP in
    ``odds`` fusion (the query's record keeps it, for `tools.explain`). Callers that can score every candidate
    in every modality should do so first, as `tools.search` does, so that every breakdown is complete.
    """
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; use one of {', '.join(METHODS)}")
    active = {m: w for m, w in weights.items() if m in lists and lists[m] and w > 0}
    if not active:
        return []
    total_w = sum(active.values())
    floor = floors or {}
    norm = {m: normalise(lists[m]) for m in active}
    cal = {m: {i: (curves or {}).get(m, UNCALIBRATED)(v) for i, v in lists[m].items()} for m in active}
    rank = {m: ranks(lists[m]) for m in active}
    out = []
    for i in sorted({i for m in active for i in lists[m]}):
        mods = {
            m: ModalityScore(raw=round(lists[m][i], 6), norm=round(norm[m][i], 6), calibrated=round(cal[m][i], 6),
                             rank=rank[m][i], path=(paths or {}).get(m, m))
            for m in active
            if i in lists[m]
        }
        if method == "odds" and len(active) == 1:  # one kind of evidence: its relevance, unclipped
            score = next(cal[m].get(i, 0.0) for m in active)
        elif method == "odds":
            score = sigmoid(sum(active[m] / total_w * clipped_logit(cal[m].get(i, 0.0), floor.get(m, ODDS_CLIP))
                                for m in active))
        elif method == "avg":
            score = sum(active[m] / total_w * cal[m].get(i, 0.0) for m in active)
        elif method == "max":
            score = max(cal[m].get(i, 0.0) for m in active)
        elif method == "minmax":
            score = sum(active[m] / total_w * norm[m].get(i, 0.0) for m in active)
        else:
            score = sum(active[m] / (RRF_K + rank[m][i]) for m in active if i in rank[m])
        out.append(Fused(i, round(score, 6), mods))
    out.sort(key=lambda f: (-f.score, f.id))
    return out
