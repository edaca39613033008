"""Example requests drawn from what the index holds, for a newcomer's first click."""

from __future__ import annotations

from collections.abc import Iterable

from core.types import Sheet
from runtime.services import Services

GENERIC_LABEL_WORDS = frozenset(
    "detail view portion part section side end surface upper lower outer inner front rear top bottom mixture "
    "embodiment region area layer member element unit device apparatus system first second".split()
)
FALLBACK_REQUESTS = ("a perspective view of a gripping unit", "flowchart of a control method")
MAX_SHEETS = 5000  # sheets looked at; enough for a representative count on a large index


def example_requests(services: Services, n: int = 2) -> list[str]:
    """Example requests from the index: the most often drawn named components of `n` different patents.

    Component labels made only of generic words (such as "detail" or "upper side") are left out. An index
    without linked components gives generic examples.

    Args:
        services: The open index.
        n: How many examples at most.

    Returns:
        Requests like "show me drawings of the nacelle", or `FALLBACK_REQUESTS`.
    """
    counts, owners = _label_counts(services.store.sheets()[:MAX_SHEETS])
    picked: list[str] = []
    for label in sorted(counts, key=lambda k: (-counts[k], k)):
        if all(owners[label] != owners[p] for p in picked):
            picked.append(label)
        if len(picked) == n:
            break
    return [f"show me drawings of the {t}" for t in picked] or list(FALLBACK_REQUESTS)


def _label_counts(sheets: Iterable[Sheet]) -> tuple[dict[str, int], dict[str, str]]:
    """How many sheets show each specific component label, and the first patent that labels it."""
    counts: dict[str, int] = {}
    owners: dict[str, str] = {}
    for sheet in sheets:
        for label in {c.label.strip().lower() for c in sheet.components if c.label}:
            words = set(label.split())
            if 4 <= len(label) <= 40 and not words <= GENERIC_LABEL_WORDS:
                counts[label] = counts.get(label, 0) + 1
                owners.setdefault(label, sheet.patent_id)
    return counts, owners
