"""Ordering a list of hits by publication date, score or patent, ranks renumbered 1..n.

A sort is stable on the hits' current ranks, so ties (figures of one patent, equal scores) keep the order
the search gave them. Hits whose publication date is unknown go last in either date order: they are not
older or newer than anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import ToolError
from core.types import Hit

ORDER_KEYS = ("date", "score", "patent")
DEFAULT_DESCENDING = {"date": False, "score": True, "patent": False}  # oldest first, best first, by id


def order_hits(hits: Sequence[Hit], by: str, descending: bool | None = None) -> list[Hit]:
    """The hits sorted by `by` (one of ORDER_KEYS), copied and ranked 1..n in the new order."""
    if by not in ORDER_KEYS:
        raise ToolError(f"results can be ordered by {', '.join(ORDER_KEYS)}, not by {by!r}")
    desc = DEFAULT_DESCENDING[by] if descending is None else descending
    ranked = sorted(hits, key=lambda h: h.rank)
    if by == "date":
        known = sorted((h for h in ranked if h.pub_date), key=lambda h: h.pub_date or 0, reverse=desc)
        ordered = known + [h for h in ranked if not h.pub_date]
    elif by == "score":
        ordered = sorted(ranked, key=lambda h: h.score, reverse=desc)
    else:
        ordered = sorted(ranked, key=lambda h: h.patent_id, reverse=desc)
    return [h.model_copy(update={"rank": i + 1}) for i, h in enumerate(ordered)]


def order_words(by: str, descending: bool | None = None) -> str:
    """How an order reads in a reply: "publication date, newest first"."""
    desc = DEFAULT_DESCENDING.get(by, False) if descending is None else descending
    if by == "date":
        return "publication date, " + ("newest first" if desc else "oldest first")
    if by == "score":
        return "score, " + ("best first" if desc else "weakest first")
    return "patent number, " + ("last to first" if desc else "first to last")
