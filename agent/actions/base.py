"""What every action shares: the turn's inputs, the session, pushing a new set, and recomputing a set.

`ActionBase` holds the services, the session and the inputs of one turn (image, crop, text weight, k);
the action groups (searching, refining, result sets, understanding) build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.actions.registry import search_function
from agent.events import Outcome, TurnEvent
from agent.render import counts, date_text, listing, set_header
from agent.session import Recipe, Session
from core.defaults import DEFAULT_K
from core.errors import ToolError
from core.filters import Facets, Filters
from core.patnum import compact_patent_id
from core.types import Hit, ResultSet
from runtime.services import Services
from tools.cluster import Titler
from tools.filtering import facet_values
from tools.lexical import search_lexical
from tools.narrow import narrow_hits
from tools.ordering import order_hits
from tools.refsigns import find_component
from tools.search import CropBox, QueryImage, more_like, search_image, search_text


@dataclass(frozen=True)
class _FacetsCache:
    """The index's facet values and the set of patents they were computed for (kept in `Services.extras`)."""

    key: int
    facets: Facets


class ActionBase:
    """The state the actions of one turn share: services, session, and the turn's image, crop, weight and k."""

    def __init__(
        self,
        services: Services,
        session: Session,
        *,
        image: QueryImage | None = None,
        crop: CropBox | None = None,
        text_weight: float | None = None,
        k: int | None = None,
        titler: Titler | None = None,
    ) -> None:
        self.services = services
        self.session = session
        self.turn_image = image
        self.turn_crop: CropBox | None = (crop[0], crop[1], crop[2], crop[3]) if crop else None
        self.turn_text_weight = text_weight
        self.k = k or DEFAULT_K
        self.titler = titler
        if image is not None:
            session.image, session.crop = image, self.turn_crop

    def _push(self, hits: list[Hit], origin: str, parent: int | None, recipe: Recipe, lead: str = "") -> Outcome:
        rs = self.session.push(hits, origin, parent, recipe)
        summary = (lead + " " if lead else "") + set_header(rs) + "."
        return Outcome(summary=summary, data=listing(rs.hits), artifact=set_artifact(rs),
                       events=[TurnEvent("result_set", rs)])

    def facet_values(self) -> Facets:
        """The index's facet values (tools.filtering.facet_values), cached until the set of patents changes."""
        key = hash(frozenset(self.services.store.complete_ids()))
        cached = self.services.extras.get("facets_cache")
        if not isinstance(cached, _FacetsCache) or cached.key != key:
            cached = _FacetsCache(key, facet_values(self.services))
            self.services.extras["facets_cache"] = cached
        return cached.facets

    def resolve_patent_id(self, text: str) -> str:
        """An indexed patent id from what a person typed: "US 12,448,135 B2" → "US12448135"."""
        known = set(self.facet_values()["patent_ids"])
        pid = compact_patent_id(text)
        if pid is not None and pid in known:
            return pid
        in_set = sorted({h.patent_id for h in self.session.current.hits}) if self.session.current else []
        hint = f"patents in the current set: {', '.join(in_set)}" if in_set else \
            f"patents in the index: {', '.join(sorted(known)[:30])}"
        raise ToolError(f"no patent {text!r} in the index; {hint}")

    def _run_recipe(self, recipe: Recipe, k: int | None = None) -> list[Hit]:
        """Recompute a set from its recipe: the base search with its filters, then drops and narrowings."""
        k = k or recipe.k or self.k
        f = recipe.filters if not recipe.filters.is_empty() else None
        if recipe.mode == "text":
            hits = search_text(self.services, recipe.text, k=k, filters=f)
        elif recipe.mode in ("image", "image+text"):
            if recipe.image is None:
                raise ToolError("the query image of this set is no longer available: attach it again")
            hits = search_image(self.services, recipe.image, crop=recipe.crop, text=recipe.text or None,
                                text_weight=recipe.text_weight if recipe.text else 0.0, k=k, filters=f)
        elif recipe.mode == "more_like":
            hits = more_like(self.services, recipe.figure_id, k=k, text_weight=recipe.text_weight, filters=f)
        elif recipe.mode == "lexical":
            hits = search_lexical(self.services, recipe.text, k=k, filters=f)
        elif recipe.mode == "component":
            hits = find_component(self.services, recipe.text, k=k, filters=f)
        elif recipe.mode == "tool":
            hits = search_function(recipe.tool)(self.services, **recipe.args, k=k, filters=f)
        else:
            raise ToolError("this set was hand-picked (a group or a selection), so it cannot be recomputed")
        hits = [h for h in hits if h.figure_id not in set(recipe.dropped)]
        for topic, cpc in recipe.topics:
            hits, _ = narrow_hits(self.services, hits, topic, cpc)
        return order_hits(hits, recipe.order_by, recipe.descending) if recipe.order_by else hits


def describe_filters(f: Filters) -> str:
    """The filters in plain words, for a set's origin and a reply: "kind flowchart, office EP and no graph"."""
    parts = [_filter_words(name, value) for name, value in f.describe().items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


_FILTER_WORDS = {  # field → how its values read; "{}" is the values joined with "or"
    "kinds": "kind {}", "views": "{} view", "cpc": "CPC {}", "offices": "office {}", "kind_codes": "kind code {}",
    "date_from": "published on or after {}", "date_to": "published on or before {}", "include_ids": "only {}",
    "exclude_ids": "not {}", "exclude_kinds": "no {}", "exclude_views": "no {} view", "exclude_cpc": "not in CPC {}",
    "exclude_offices": "not from {}", "exclude_kind_codes": "no kind code {}",
}


def _filter_words(name: str, value: object) -> str:
    if name == "has_components":
        return "with reference signs read on the drawing" if value else "without reference signs read on it"
    if name in ("date_from", "date_to"):
        return _FILTER_WORDS[name].format(date_text(int(str(value))))
    values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    joined = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
    return _FILTER_WORDS.get(name, name.replace("_", " ") + " {}").format(joined)


def set_facets(hits: Sequence[Hit]) -> str:
    """The kinds, views and offices of some hits, with counts."""
    return (f"kinds {counts([h.kind for h in hits])}; views {counts([h.view for h in hits])}; "
            f"offices {counts([h.office for h in hits])}")


def set_artifact(rs: ResultSet) -> dict:
    """The artifact for the UI that carries a whole result set."""
    return {"result_set": rs.model_dump(mode="json")}
