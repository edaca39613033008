"""Topic narrowing: keep the hits about a domain phrase ("autonomous driving", "battery charging").

A hit is about the topic when one of its CPC classes starts with a prefix that matches the topic (see
`tools.cpc_topics.cpc_for_topic`), or when its linked text (the stored text vector of the figure) is close
to the phrase in the text encoder's space. Kept hits say why in ``breakdown.filters["topic"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.types import Hit
from runtime.services import Services
from store.index import EncoderId

TOPIC_STRONG_SIM = 0.45  # a hit outside the matched CPC classes stays when its linked text is this close
TOPIC_MIN_SIM = 0.25  # semantic-only narrowing keeps hits at least this close...
TOPIC_REL_SIM = 0.6  # ...and at least this fraction of the best hit's similarity


def topic_similarity(services: Services, hits: Sequence[Hit], topic: str) -> dict[str, float]:
    """Cosine between a phrase and each hit's stored linked-text vector (the text encoder's space)."""
    text = services.text
    services.store.check_encoder("text", EncoderId(text.name, text.dim))
    q = np.asarray(text.embed_texts([topic])[0], dtype=np.float32)
    vecs = services.store.vectors("text", [h.figure_id for h in hits])
    return {fid: float(np.asarray(v, dtype=np.float32) @ q) for fid, v in vecs.items()}


def narrow_hits(services: Services, hits: Sequence[Hit], topic: str, cpc: Sequence[str]) -> tuple[list[Hit], dict]:
    """Hits about a topic: in the CPC classes (when any), or with linked text close to the topic phrase.

    Returns the kept hits (copies, ranked 1..n, each saying why it was kept) and the numbers behind the
    rule: ``best_similarity``, the ``threshold`` applied, and the ``similarity`` of every hit.
    """
    sims = topic_similarity(services, hits, topic)
    kept: list[Hit] = []
    best = max(sims.values(), default=0.0)
    threshold = max(TOPIC_MIN_SIM, TOPIC_REL_SIM * best)
    for h in hits:
        sim = sims.get(h.figure_id, 0.0)
        match = next((p for p in cpc if any(c.upper().startswith(p) for c in h.cpc)), None)
        if cpc:
            ok = match is not None or sim >= TOPIC_STRONG_SIM
        else:
            ok = sim >= threshold
        if ok:
            h2 = h.model_copy(deep=True)
            why = f"CPC {match}" if match else f"text similarity {sim:.3f}"
            h2.breakdown.filters = {**h2.breakdown.filters, "topic": f"{topic} ({why})"}
            kept.append(h2)
    for i, h in enumerate(kept):
        h.rank = i + 1
    info = {"best_similarity": round(best, 3), "threshold": round(TOPIC_STRONG_SIM if cpc else threshold, 3),
            "similarity": {k: round(v, 3) for k, v in sims.items()}}
    return kept, info
