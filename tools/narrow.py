"""Topic narrowing: the figures about a domain phrase ("autonomous driving", "battery charging").

A figure is about the topic when one of its CPC classes starts with a prefix that matches the topic (see
`tools.cpc_topics.cpc_for_topic`), or when its linked text (the stored text vector of the figure) is close
to the phrase in the text encoder's space. `topic_members` finds every such figure in the index, so a
search can be re-run restricted to them; `narrow_hits` applies the same rule to a list of hits (when the
user asks to cut down the current results), and says in ``breakdown.filters["topic"]`` why each was kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.filters import CPC_FLAG, Filters
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


def _similar(services: Services, q: list[float], threshold: float) -> dict[str, float]:
    """Every figure whose linked text is at least `threshold` close to the query vector."""
    n = 500
    while True:
        found = services.store.query_text(q, n)
        close = {h.id: h.similarity for h in found if h.similarity >= threshold}
        if len(found) < n or len(close) < len(found):
            return close
        n *= 4


def topic_members(services: Services, topic: str, cpc: Sequence[str]) -> tuple[set[str], dict]:
    """The figures of the whole index about a topic, by the rule of `narrow_hits`, and the numbers behind it."""
    text = services.text
    services.store.check_encoder("text", EncoderId(text.name, text.dim))
    q = text.embed_texts([topic])[0]
    if cpc:
        members = set(services.store.ids(Filters(cpc=list(cpc))))
        close = _similar(services, q, TOPIC_STRONG_SIM)
        threshold = TOPIC_STRONG_SIM
    else:
        best = max((h.similarity for h in services.store.query_text(q, 1)), default=0.0)
        threshold = max(TOPIC_MIN_SIM, TOPIC_REL_SIM * best)
        members, close = set(), _similar(services, q, threshold)
    in_cpc = len(members)
    members |= set(close)
    return members, {"in_cpc": in_cpc, "by_text": len(members) - in_cpc, "threshold": round(threshold, 3)}


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


def mark_topic(services: Services, hits: Sequence[Hit], topic: str, cpc: Sequence[str]) -> list[Hit]:
    """Copies of hits found among a topic's members, each saying in its breakdown why it is about the topic."""
    sims = topic_similarity(services, hits, topic) if hits else {}
    meta = services.store.metadata([h.figure_id for h in hits])
    out = []
    for h in hits:
        flags = meta.get(h.figure_id, {})
        match = next((p for p in cpc if flags.get(f"{CPC_FLAG}{p}") is True), None)
        h2 = h.model_copy(deep=True)
        why = f"CPC {match}" if match else f"text similarity {sims.get(h.figure_id, 0.0):.3f}"
        h2.breakdown.filters = {**h2.breakdown.filters, "topic": f"{topic} ({why})"}
        out.append(h2)
    return out
