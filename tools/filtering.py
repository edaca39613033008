"""Facet values, validated filters, and filtering of an existing result set."""

from __future__ import annotations

from pydantic import ValidationError

from core.cpc import is_known_prefix
from core.errors import ToolError
from core.filters import Facets, Filters
from core.types import Hit
from runtime.services import Services


def facet_values(services: Services) -> Facets:
    """The filter values that occur in the index: kinds, views, offices, kind codes, CPC prefixes, dates.

    CPC prefixes that name no class or subclass of the scheme (an index built before ingest checked them
    may hold "B00R" read from a garbled PDF) are left out.
    """
    facets = services.store.facets()
    facets["cpc"] = [p for p in facets["cpc"] if is_known_prefix(p)]
    facets["cpc_counts"] = {p: n for p, n in facets["cpc_counts"].items() if is_known_prefix(p)}
    return facets


def make_filters(services: Services | None = None, **values: object) -> Filters:
    """Validated filters. Values the index does not hold are refused with the list of valid ones."""
    clean = {k: v for k, v in values.items() if v not in (None, "", [])}
    for key in ("kinds", "views", "cpc", "offices", "kind_codes", "include_ids", "exclude_ids", "exclude_kinds",
                "exclude_views", "exclude_cpc", "exclude_offices", "exclude_kind_codes"):
        if isinstance(clean.get(key), str):
            clean[key] = [x for x in str(clean[key]).replace(";", ",").split(",") if x.strip()]
    try:
        filters = Filters.model_validate(clean)
    except ValidationError as e:
        msgs = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise ToolError(msgs) from None
    if services is not None:
        _check_against_index(services, filters)
    return filters


def _check_against_index(services: Services, f: Filters) -> None:
    facets = facet_values(services)
    checks = (
        ("office", f.offices + f.exclude_offices, facets["offices"]),
        ("kind code", f.kind_codes + f.exclude_kind_codes, facets["kind_codes"]),
    )
    for label, asked, valid in checks:
        bad = [x for x in asked if x not in valid]
        if bad:
            raise ToolError(f"no {label} {bad[0]!r} in the index; valid values: {', '.join(map(str, valid))}")
    missing_cpc = [p for p in f.cpc + f.exclude_cpc if p not in facets["cpc"]]
    if missing_cpc:
        classes = [c for c in facets["cpc"] if len(c) >= 3]
        raise ToolError(
            f"no patent in the index has CPC {missing_cpc[0]!r}; CPC classes present: {', '.join(classes)}"
        )
    known = set(facets["patent_ids"])
    unknown = [x for x in f.include_ids + f.exclude_ids if x not in known]
    if unknown:
        raise ToolError(f"unknown patent id {unknown[0]!r}; patents in the index: {', '.join(sorted(known))}")


def apply_filters(services: Services, hits: list[Hit], filters: Filters) -> list[Hit]:
    """Keep the hits that pass the filters, re-ranked 1..n, with the filters recorded in each breakdown."""
    meta = services.store.metadata([h.figure_id for h in hits])
    kept = []
    for h in hits:
        m = meta.get(h.figure_id)
        if m is not None and filters.match(m):
            h2 = h.model_copy(deep=True)
            h2.breakdown.filters = {**h2.breakdown.filters, **filters.describe()}
            kept.append(h2)
    for i, h in enumerate(kept):
        h.rank = i + 1
    return kept
